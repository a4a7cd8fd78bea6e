import Foundation
import MnemoIngest
import MnemoModels
import MnemoStore
import MnemoTools

/// Settings of a chat.
public struct ChatOptions: Sendable {
    public var context = ChatContextOptions()
    /// Document chunks retrieved per message (0: none).
    public var documents = 3
    /// Cut each retrieved chunk to its sentences closest to the message (nil: whole chunks).
    public var documentSentences: SentenceSelection? = SentenceSelection()
    public var mode: QueryMode = .hybrid
    public var namespace: String?
    /// Tools the model may call: `calc`, `sql`.
    public var tools: [String] = []
    public var sqlDatabase: String?
    public var generation = GenerationParameters(maxTokens: 256, sampling: .greedy)
    public var maxToolRounds = 4
    /// Offer the calculator only to messages that look like computation (`ToolGate`), as `ask` does: a
    /// statement with a number in it ("My bike lock code is 4172.") is not a sum to work out.
    public var gateTools = true
    public var systemPrompt = "You are Mnemo, a helpful assistant with a long memory of this conversation and of the user's documents. Answer briefly, using the background you are given when it is relevant."
    public init() {}
}

/// One answered message.
public struct ChatReply: Sendable, Codable {
    public var turn: Int
    public var answer: String
    public var sources: [AskSource]
    public var toolCalls: [ToolCallRecord]
    /// Turns given raw, recalled as text, and as soft tokens.
    public var rawTurns: [Int]
    public var recalled: [RecalledTurn]
    public var softTurns: [Int]
    public var softTokens: Int
    public var promptTokens: Int
    /// What the whole history would cost as raw turns (the alternative to compressing it).
    public var rawHistoryTokens: Int
    public var generatedTokens: Int
    public var finishReason: String
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    enum CodingKeys: String, CodingKey {
        case turn, answer, sources, recalled
        case toolCalls = "tool_calls", rawTurns = "raw_turns", softTurns = "soft_turns", softTokens = "soft_tokens"
        case promptTokens = "prompt_tokens", rawHistoryTokens = "raw_history_tokens", generatedTokens = "generated_tokens"
        case finishReason = "finish_reason", prefillSeconds = "prefill_seconds", decodeSeconds = "decode_seconds"
    }
}

/// A conversation with memory: each message is answered from a prompt the planner fills under the
/// budget (recent turns raw, older ones recalled as text or compressed to soft tokens, documents), and
/// each exchange is stored with its sentence vectors, so a session resumes where it stopped.
public final class ChatSession {
    public let model: any ChatModel
    public let encoder: any TextEmbedder
    public let chats: ChatStore
    /// The document store; nil: the chat has no documents.
    public let memory: MemoryService?
    public let projector: Projector?
    public var options: ChatOptions
    public private(set) var name: String
    public private(set) var history: [ChatTurn]
    public private(set) var lastPlan: ChatPlan?
    private let router: ToolRouter
    /// The same tools without the calculator, for messages `ToolGate` finds no computation in (its own
    /// KV cache: the fixed prompt start differs).
    private let routerWithoutCalculator: ToolRouter?

    public init(name: String, model: any ChatModel, encoder: any TextEmbedder, chats: ChatStore, memory: MemoryService?,
                projector: Projector?, options: ChatOptions) throws {
        self.model = model
        self.encoder = encoder
        self.chats = chats
        self.memory = memory
        self.projector = projector
        self.options = options
        let database = try options.sqlDatabase.map { try ReadOnlyDatabase(path: $0) }
        let tools = try ToolSpec.named(options.tools, database: database)
        router = ToolRouter(model: model, tools: tools)
        routerWithoutCalculator = tools.contains { $0.name == "calculator" }
            ? ToolRouter(model: model, tools: tools.filter { $0.name != "calculator" }) : nil
        self.name = name
        history = try chats.turns(session: name)
    }

    /// Continues another session (created on its first message).
    public func switchTo(session: String) throws {
        history = try chats.turns(session: session)
        name = session
        lastPlan = nil
        router.resetCache()
        routerWithoutCalculator?.resetCache()
    }

    /// Forgets turn `number`: its text and vectors leave the store and the prompt.
    public func forget(turn number: Int) throws -> Bool {
        guard try chats.forget(turn: number, session: name) else { return false }
        history.removeAll { $0.number == number }
        return true
    }

    /// The prompt planner as this session uses it. The budget is for the conversation: the tools'
    /// descriptions come on top of it (`toolTokens`).
    public var planner: ChatContextPlanner {
        ChatContextPlanner(
            options: options.context, projector: options.context.strategy.usesSoftTokens ? projector : nil,
            count: model.tokenCount,
            measure: { [self] in try measure($0, withTools: false) })
    }

    /// Prompt positions of `messages`, rendered as generation sees them (with the tools, or without).
    func measure(_ messages: [ChatMessage], withTools: Bool) throws -> Int {
        let text = withTools ? try model.chatPrompt(router.withInstructions(messages), tools: router.toolSignatures)
            : try model.chatPrompt(messages)
        return try MemoryPrompt(llm: model).inputs(text, softs: Array(repeating: [], count: text.filter { $0 == MemoryPrompt.slot }.count)).count
    }

    /// What the tools' instructions and signatures add to every prompt.
    public lazy var toolTokens: Int = {
        let probe = [ChatMessage(.system, options.systemPrompt), ChatMessage(.user, "hello")]
        return ((try? measure(probe, withTools: true)) ?? 0) - ((try? measure(probe, withTools: false)) ?? 0)
    }()

    /// Answers `message`, streaming the answer through `onText`; `isCancelled` is polled between tokens
    /// (a cancelled answer is kept as far as it got). The exchange is stored before this returns.
    public func send(_ message: String, onText: (String) -> Void = { _ in },
                     isCancelled: (@Sendable () -> Bool)? = nil) throws -> ChatReply {
        let message = message.trimmingCharacters(in: .whitespacesAndNewlines)
        let plan = try self.plan(for: message)
        lastPlan = plan
        var routerOptions = ToolRouterOptions()
        routerOptions.generation = options.generation
        routerOptions.generation.contextCapacity = max(options.generation.contextCapacity ?? 0,
                                                       options.context.budget + toolTokens + options.generation.maxTokens + 64)
        routerOptions.maxRounds = options.maxToolRounds
        routerOptions.isCancelled = isCancelled
        let prompt = MemoryPrompt(llm: model)
        let gated = options.gateTools && !ToolGate.needsCalculator(message) ? routerWithoutCalculator : nil
        let result = try (gated ?? router).respond(to: plan.messages, options: routerOptions,
                                        render: { try prompt.inputs($0, softs: plan.softs) }, onText: onText)
        let answer = result.answer.trimmingCharacters(in: .whitespacesAndNewlines)
        let number = try remember(user: message, assistant: answer, sources: plan.sources.map(\.source))
        return ChatReply(turn: number, answer: answer, sources: plan.sources, toolCalls: result.calls, rawTurns: plan.rawTurns,
                         recalled: plan.recalled, softTurns: plan.softTurns, softTokens: plan.softTokens,
                         promptTokens: result.promptTokens, rawHistoryTokens: rawHistoryTokens(), generatedTokens: result.generatedTokens,
                         finishReason: result.finishReason.rawValue, prefillSeconds: result.prefillSeconds, decodeSeconds: result.decodeSeconds)
    }

    /// The prompt `message` would be answered from now: history and documents chosen under the budget.
    public func plan(for message: String) throws -> ChatPlan {
        let message = message.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !message.isEmpty else { throw StoreError(.badInput, "the message is empty") }
        let messageVector = try encoder.embed([message])[0]
        var documents: [AskSource] = []
        if let memory, options.documents > 0, options.context.strategy.recalls {
            // Chat messages are often not questions about the documents: only chunks as close to the
            // message as a recalled turn must be (cosine of the stored vectors) become notes.
            let hits = try memory.query(message, k: options.documents, mode: options.mode, filter: SearchFilter(namespace: options.namespace))
            let close = zip(hits, try memory.storedVectors(of: hits)).filter {
                ChatContextPlanner.dot($0.1, messageVector) >= options.context.recallThreshold
            }.map(\.0)
            if let selection = options.documentSentences, !close.isEmpty {
                documents = try memory.closestSentences(message, questionVector: messageVector, hits: close, selection: selection,
                                                        countTokens: model.tokenCount).sources
            } else {
                documents = AskSource.numbered(close)
            }
        }
        return try planner.plan(system: options.systemPrompt, history: history, message: message,
                                messageVector: messageVector, documents: documents)
    }

    /// Stores an exchange with its vectors (one per sentence, one for the whole turn) and returns its number.
    @discardableResult
    public func remember(user: String, assistant: String, sources: [String] = []) throws -> Int {
        func sentences(_ text: String) -> [String] {
            SentenceSplitter.split(text).map { String(text[$0]) }
        }
        let userSentences = sentences(user), answerSentences = sentences(assistant)
        let whole = "User: \(user)\nAssistant: \(assistant)"
        let vectors = try encoder.embed([whole] + userSentences + answerSentences)
        var stored: [ChatSentence] = []
        for (i, text) in (userSentences + answerSentences).enumerated() {
            stored.append(ChatSentence(turn: 0, role: i < userSentences.count ? "user" : "assistant", text: text, embedding: vectors[i + 1]))
        }
        var turn = ChatTurn(number: 0, user: user, assistant: assistant, sources: sources, embedding: vectors[0], sentences: stored)
        turn.number = try chats.append(turn, session: name)
        for i in turn.sentences.indices { turn.sentences[i].turn = turn.number }
        history.append(turn)
        return turn.number
    }

    /// Tokens the whole history would take as raw messages.
    public func rawHistoryTokens() -> Int {
        history.reduce(0) { $0 + model.tokenCount($1.user) + model.tokenCount($1.assistant) + 10 }
    }
}
