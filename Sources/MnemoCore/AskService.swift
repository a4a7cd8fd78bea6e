import Foundation
import MnemoModels
import MnemoStore
import MnemoTools

/// How retrieved memories reach the model.
public enum ContextMode: String, Sendable, CaseIterable, Codable {
    /// No memories: the question alone.
    case none
    /// The retrieved chunks as numbered text in the user message.
    case text
    // Soft-token modes (memories as projected vectors spliced into the prompt) come here; see
    // `AskService.decoderInputs`.
}

/// Settings for `AskService.ask`.
public struct AskOptions: Sendable {
    public var context: ContextMode = .text
    /// Chunks retrieved.
    public var k = 3
    public var mode: QueryMode = .hybrid
    public var namespace: String?
    /// Tools offered to the model: `calc`, `sql` (or `calculator`, `sql_query`).
    public var tools: [String] = []
    /// The SQLite database the `sql` tool reads.
    public var sqlDatabase: String?
    /// Per generation round; greedy by default.
    public var generation = GenerationParameters(maxTokens: 256, sampling: .greedy)
    /// Rounds of tool calls before the model must answer without tools.
    public var maxToolRounds = 4
    public init() {}
}

/// One retrieved chunk given to the model, numbered as in the prompt.
public struct AskSource: Sendable, Codable, Equatable {
    public var number: Int
    public var chunkID: Int64
    public var source: String
    public var score: Float
    public var text: String

    enum CodingKeys: String, CodingKey {
        case number, source, score, text
        case chunkID = "chunk_id"
    }
}

/// An answer and how it was made.
public struct AskResult: Sendable, Codable {
    public var answer: String
    public var context: ContextMode
    public var sources: [AskSource]
    /// Prompt positions the memories take (tokens of the numbered source text).
    public var contextTokens: Int
    /// Positions of the (last round's) prompt.
    public var promptTokens: Int
    public var generatedTokens: Int
    public var toolCalls: [ToolCallRecord]
    /// LLM generations (0 when the calculator answered a bare expression directly).
    public var rounds: Int
    /// `model`, `tool_result` (the last tool result returned as the answer) or `fast_path`.
    public var answerSource: String
    public var finishReason: String
    public var retrievalSeconds: Double
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    enum CodingKeys: String, CodingKey {
        case answer, context, sources, rounds
        case answerSource = "answer_source"
        case contextTokens = "context_tokens", promptTokens = "prompt_tokens", generatedTokens = "generated_tokens"
        case toolCalls = "tool_calls", finishReason = "finish_reason", retrievalSeconds = "retrieval_seconds"
        case prefillSeconds = "prefill_seconds", decodeSeconds = "decode_seconds"
    }
}

/// Question answering over the memory: retrieve chunks, put them before the question, and let the model
/// answer, calling tools through a `ToolRouter` when some are offered.
public final class AskService {
    /// The store to retrieve from; nil is allowed when only `.none` is asked for.
    public let memory: MemoryService?
    public let model: LanguageModel

    public init(memory: MemoryService?, model: LanguageModel) {
        self.memory = memory
        self.model = model
    }

    public func ask(_ question: String, options: AskOptions, onToken: (String) -> Void = { _ in }) throws -> AskResult {
        let question = question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw StoreError(.badInput, "the question is empty") }
        guard options.k > 0 else { throw StoreError(.badInput, "k must be ≥ 1 (got \(options.k))") }
        let database = try options.sqlDatabase.map { try ReadOnlyDatabase(path: $0) }
        let tools = try ToolRouter.tools(named: options.tools, database: database)
        let router = ToolRouter(model: model, tools: tools)
        var routerOptions = ToolRouterOptions()
        routerOptions.generation = options.generation
        routerOptions.maxRounds = options.maxToolRounds

        // A bare expression goes straight to the calculator: nothing to retrieve.
        if tools.contains(where: { $0.name == "calculator" }), ToolRouter.bareExpression(question) != nil {
            let r = try router.respond(to: [ChatMessage(.user, question)], options: routerOptions, onText: onToken)
            return AskResult(answer: r.answer, context: options.context, sources: [], contextTokens: 0, promptTokens: 0,
                             generatedTokens: 0, toolCalls: r.calls, rounds: 0, answerSource: r.answerSource.rawValue, finishReason: r.finishReason.rawValue,
                             retrievalSeconds: 0, prefillSeconds: 0, decodeSeconds: 0)
        }

        var sources: [AskSource] = []
        var retrievalSeconds = 0.0
        if options.context != .none {
            guard let memory else { throw StoreError(.badInput, "context mode '\(options.context.rawValue)' needs a memory store") }
            let t0 = Date()
            let hits = try memory.query(question, k: options.k, mode: options.mode, filter: SearchFilter(namespace: options.namespace))
            retrievalSeconds = Date().timeIntervalSince(t0)
            sources = hits.enumerated().map { i, hit in
                AskSource(number: i + 1, chunkID: hit.chunk.id, source: hit.chunk.source, score: hit.score, text: hit.chunk.text)
            }
        }
        let (messages, contextText) = Self.messages(question: question, sources: sources, context: options.context)
        let r = try router.respond(to: messages, options: routerOptions, render: { try self.decoderInputs($0, options: options) },
                                   onText: onToken)
        let contextTokens = contextText.isEmpty ? 0 : model.tokenizer.encode(contextText, addBOS: false, parseSpecial: false).count
        return AskResult(answer: r.answer, context: options.context, sources: sources, contextTokens: contextTokens,
                         promptTokens: r.promptTokens, generatedTokens: r.generatedTokens, toolCalls: r.calls, rounds: r.rounds,
                         answerSource: r.answerSource.rawValue, finishReason: r.finishReason.rawValue, retrievalSeconds: retrievalSeconds,
                         prefillSeconds: r.prefillSeconds, decodeSeconds: r.decodeSeconds)
    }

    /// The conversation for a question, and the text the memories take in it.
    ///
    /// `.text`: the user message holds the numbered sources, then the question, with an instruction to
    /// answer from the sources. Kept in the user turn so that the system message (and the tools) stay
    /// the same from one question to the next.
    public static func messages(question: String, sources: [AskSource], context: ContextMode) -> (messages: [ChatMessage], contextText: String) {
        switch context {
        case .none:
            return ([ChatMessage(.user, question)], "")
        case .text:
            guard !sources.isEmpty else {
                return ([ChatMessage(.user, "No notes were found for this question.\n\nQuestion: \(question)")], "")
            }
            let notes = sources.map { s in
                "[\(s.number)] (\(URL(fileURLWithPath: s.source).lastPathComponent))\n"
                    + s.text.trimmingCharacters(in: .whitespacesAndNewlines)
            }.joined(separator: "\n\n")
            let user = "Answer the question using the notes below. If the notes do not contain the answer, say so. "
                + "Cite the notes you use like [1].\n\nNotes:\n\(notes)\n\nQuestion: \(question)"
            return ([ChatMessage(.user, user)], notes)
        }
    }

    /// The decoder inputs for a rendered prompt: its token ids. Soft-token context modes replace a
    /// placeholder in `prompt` with the memories' projected vectors (`DecoderInput.vector`) here.
    func decoderInputs(_ prompt: String, options: AskOptions) throws -> [DecoderInput] {
        switch options.context {
        case .none, .text:
            return model.encode(prompt).map { .token($0) }
        }
    }
}
