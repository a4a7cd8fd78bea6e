import Foundation
import MnemoModels
import MnemoStore
import MnemoTools

/// Settings for `AskService.ask`.
public struct AskOptions: Sendable {
    public var context: MemoryContext = .text
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

extension AskSource {
    /// Hits as the numbered notes a prompt shows, from 1.
    static func numbered(_ hits: [QueryHit]) -> [AskSource] {
        hits.enumerated().map { i, hit in
            AskSource(number: i + 1, chunkID: hit.chunk.id, source: hit.chunk.source, score: hit.score, text: hit.chunk.text)
        }
    }
}

/// An answer and how it was made.
public struct AskResult: Sendable, Codable {
    public var answer: String
    public var context: MemoryContext
    public var sources: [AskSource]
    /// Prompt positions the memories take (their text's tokens, one per soft token).
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
    /// Turns stored vectors into soft tokens; needed by the soft context modes only.
    public let projector: Projector?

    public init(memory: MemoryService?, model: LanguageModel, projector: Projector? = nil) {
        self.memory = memory
        self.model = model
        self.projector = projector
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
        var vectors: [[Float]] = []
        var retrievalSeconds = 0.0
        if options.context != .none {
            guard let memory else { throw StoreError(.badInput, "context mode '\(options.context.rawValue)' needs a memory store") }
            let t0 = Date()
            let hits = try memory.query(question, k: options.k, mode: options.mode, filter: SearchFilter(namespace: options.namespace))
            retrievalSeconds = Date().timeIntervalSince(t0)
            sources = AskSource.numbered(hits)
            if options.context.needsProjector {
                guard let projector else { throw ModelError(.badInput, "context mode '\(options.context.rawValue)' needs a projector") }
                vectors = try projector.project(memory.storedVectors(of: hits))
            }
        }
        // The same user message as `mnemo eval qa` and projector training: soft tokens are used as trained.
        let memories = options.context.memories(texts: sources.map(\.text), vectors: vectors)
        let (content, softs) = MemoryPrompt.questionMessage(question, memories: memories)
        let prompt = MemoryPrompt(llm: model)
        let r = try router.respond(to: [ChatMessage(.user, content)], options: routerOptions,
                                   render: { try prompt.inputs($0, softs: softs) }, onText: onToken)
        let bare = try prompt.inputs(MemoryPrompt.questionMessage(question, memories: []).content, softs: []).count
        let contextTokens = try prompt.inputs(content, softs: softs).count - bare
        return AskResult(answer: r.answer, context: options.context, sources: sources, contextTokens: contextTokens,
                         promptTokens: r.promptTokens, generatedTokens: r.generatedTokens, toolCalls: r.calls, rounds: r.rounds,
                         answerSource: r.answerSource.rawValue, finishReason: r.finishReason.rawValue, retrievalSeconds: retrievalSeconds,
                         prefillSeconds: r.prefillSeconds, decodeSeconds: r.decodeSeconds)
    }
}
