import Foundation
import MnemoModels
import MnemoStore

/// How a chat's history reaches the prompt.
public enum HistoryStrategy: String, Sendable, CaseIterable, Codable {
    /// Mnemo: the last turns raw, the older turns most relevant to the new message recalled as text,
    /// and the other older turns as soft tokens, one per sentence.
    case sentence
    /// As `sentence`, with one soft token per turn (the vector of the whole exchange).
    case turn
    /// As `sentence`, without soft tokens: recent turns raw and relevant older turns as text.
    case recall
    /// Baseline: raw history, newest turn first, as much as the budget holds.
    case truncated
    /// Baseline: the last `recentTurns` turns raw, nothing older.
    case recent

    /// Whether older turns become soft tokens (which needs a projector).
    public var usesSoftTokens: Bool { self == .sentence || self == .turn }
    /// Whether relevant older turns and documents are recalled as text.
    public var recalls: Bool { self == .sentence || self == .turn || self == .recall }
}

/// Settings of the prompt a chat turn is answered from.
public struct ChatContextOptions: Sendable {
    public var strategy = HistoryStrategy.recall
    /// Most positions the prompt may take (system prompt, history, documents and the new message).
    public var budget = 1024
    /// Most turns kept raw (the newest).
    public var recentTurns = 3
    /// Most older turns recalled as text.
    public var recallTurns = 3
    /// An older turn is recalled when one of its sentences has at least this cosine similarity with the
    /// new message (all-MiniLM-L6-v2: unrelated sentences score below ~0.2).
    public var recallThreshold: Float = 0.3
    public init() {}
}

/// An older turn scored against the new message.
public struct RecalledTurn: Sendable, Codable, Equatable {
    public var turn: Int
    public var score: Float
}

/// The prompt for one chat turn and what went into it.
public struct ChatPlan: Sendable {
    /// System message, raw turns, and the new user message (with soft-token slots and recalled text).
    public var messages: [ChatMessage]
    /// The soft tokens for the slots, in order (already projected).
    public var softs: [[Float]]
    public var rawTurns: [Int] = []
    public var recalled: [RecalledTurn] = []
    /// Turns given as soft tokens, and how many tokens they take.
    public var softTurns: [Int] = []
    public var softTokens = 0
    /// Older turns left out entirely (no room).
    public var omittedTurns: [Int] = []
    public var sources: [AskSource] = []
    /// Prompt positions, measured on the rendered prompt.
    public var tokens = 0
    /// Of those, the system prompt's and the message's (the rest is history and notes).
    public var fixedTokens = 0
}

/// Chooses what of a chat's history and documents goes into the next prompt, under the token budget.
///
/// Priority, as room allows: the system prompt and the new message; the last turn raw; older turns
/// relevant to the message as text; documents; more recent turns raw; then the remaining older turns as
/// soft tokens, newest first (placed in order). Costs are estimated per piece, then the rendered prompt
/// is measured and pieces are dropped in reverse priority until it fits.
public struct ChatContextPlanner {
    public var options: ChatContextOptions
    /// Turns one sentence vector (or turn vector) into a soft token; nil: no soft tokens.
    public var projector: Projector?
    /// Tokens of a piece of text.
    public var count: (String) -> Int
    /// Positions of the full prompt for these messages, as it will be generated from (tools included).
    public var measure: ([ChatMessage]) throws -> Int

    public init(options: ChatContextOptions, projector: Projector?, count: @escaping (String) -> Int,
                measure: @escaping ([ChatMessage]) throws -> Int) {
        self.options = options
        self.projector = projector
        self.count = count
        self.measure = measure
    }

    struct Selection {
        var raw: [Int] = []  // indices into history
        var recalled: [(index: Int, score: Float)] = []
        var documents: [AskSource] = []
        var soft: [Int] = []
    }

    public func plan(system: String, history: [ChatTurn], message: String, messageVector: [Float],
                     documents: [AskSource]) throws -> ChatPlan {
        let strategy = options.strategy
        var selection = Selection()
        let fixed = try measure(render(system: system, history: history, message: message, selection: selection).messages)
        var room = options.budget - fixed
        guard room >= 0 else {
            throw ModelError(.badInput, "the message alone takes \(fixed) tokens, over the budget of \(options.budget); shorten it or raise --budget")
        }
        let n = history.count
        func rawCost(_ t: ChatTurn) -> Int { count(t.user) + count(t.assistant) + 10 }

        switch strategy {
        case .truncated, .recent:
            let limit = strategy == .recent ? options.recentTurns : n
            for i in stride(from: n - 1, through: max(0, n - limit), by: -1) {
                let cost = rawCost(history[i])
                guard cost <= room else { break }
                room -= cost
                selection.raw.insert(i, at: 0)
            }
        case .sentence, .turn, .recall:
            let recentStart = max(0, n - options.recentTurns)
            if n > 0, options.recentTurns > 0, rawCost(history[n - 1]) <= room {
                room -= rawCost(history[n - 1])
                selection.raw = [n - 1]
            }
            // Older turns by their best sentence's similarity to the message.
            var scored: [(index: Int, score: Float)] = []
            for i in 0..<recentStart {
                let score = Self.relevance(of: history[i], to: messageVector)
                if score >= options.recallThreshold { scored.append((i, score)) }
            }
            scored.sort { a, b in a.score != b.score ? a.score > b.score : a.index > b.index }
            for candidate in scored.prefix(options.recallTurns) {
                let cost = rawCost(history[candidate.index])
                guard cost <= room else { continue }
                room -= cost
                selection.recalled.append(candidate)
            }
            var header = 8
            for doc in documents {
                let cost = count(Self.noteLine(doc)) + 1 + header
                guard cost <= room else { continue }
                room -= cost
                header = 0
                selection.documents.append(doc)
            }
            for i in stride(from: n - 2, through: recentStart, by: -1) where i >= 0 {
                let cost = rawCost(history[i])
                guard cost <= room else { break }
                room -= cost
                selection.raw.insert(i, at: 0)
            }
            if strategy.usesSoftTokens, projector != nil {
                let taken = Set(selection.raw + selection.recalled.map(\.index))
                room -= 4  // "Background: " and the line break
                for i in stride(from: recentStart - 1, through: 0, by: -1) where !taken.contains(i) {
                    let cost = strategy == .turn ? 1 : max(1, history[i].sentences.count)
                    guard cost <= room else { break }
                    room -= cost
                    selection.soft.insert(i, at: 0)
                }
            }
        }

        // Measure the real prompt; drop what was estimated too cheaply, lowest priority first.
        var plan = try render(system: system, history: history, message: message, selection: selection)
        plan.tokens = try measure(plan.messages)
        plan.fixedTokens = fixed
        while plan.tokens > options.budget {
            if !selection.soft.isEmpty { selection.soft.removeFirst() }
            else if !selection.documents.isEmpty { selection.documents.removeLast() }
            else if !selection.recalled.isEmpty { selection.recalled.removeLast() }
            else if !selection.raw.isEmpty { selection.raw.removeFirst() }
            else { break }
            plan = try render(system: system, history: history, message: message, selection: selection)
            plan.tokens = try measure(plan.messages)
            plan.fixedTokens = fixed
        }
        return plan
    }

    /// A turn's relevance: the best cosine similarity of its sentences (and of the whole exchange) with the
    /// message. Vectors are unit length, so the dot product is the cosine.
    static func relevance(of turn: ChatTurn, to query: [Float]) -> Float {
        var best = dot(turn.embedding, query)
        for s in turn.sentences { best = max(best, dot(s.embedding, query)) }
        return best
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return -1 }
        var s: Float = 0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    static func noteLine(_ s: AskSource) -> String { "[\(s.number)] " + oneLine(s.text) }

    static func oneLine(_ text: String) -> String {
        MemoryPrompt.clean(text).split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// The messages for a selection: raw turns as chat messages; soft tokens, recalled turns and documents
    /// as background in the new user message, as `mnemo ask` does.
    func render(system: String, history: [ChatTurn], message: String, selection: Selection) throws -> ChatPlan {
        // Recalled turns go back into the conversation as the messages they were, in order, before the
        // recent ones: small models read a fact from a past message far better than from a quoted note.
        let recalled = selection.recalled.sorted { $0.index < $1.index }
        var messages = [ChatMessage(.system, system)]
        for i in recalled.map(\.index) + selection.raw {
            messages.append(ChatMessage(.user, MemoryPrompt.clean(history[i].user)))
            messages.append(ChatMessage(.assistant, MemoryPrompt.clean(history[i].assistant)))
        }
        var softs: [[Float]] = []
        var parts: [String] = []
        if !selection.soft.isEmpty, let projector {
            let vectors = options.strategy == .turn
                ? selection.soft.map { history[$0].embedding }
                : selection.soft.flatMap { history[$0].sentences.map(\.embedding) }
            softs = try projector.project(vectors)
            parts.append("Background: " + String(repeating: MemoryPrompt.slot, count: softs.count))
        }
        if !selection.documents.isEmpty {
            parts.append("Notes from the user's documents:\n" + selection.documents.map(Self.noteLine).joined(separator: "\n"))
        }
        parts.append(MemoryPrompt.clean(message))
        messages.append(ChatMessage(.user, parts.joined(separator: "\n\n")))
        var plan = ChatPlan(messages: messages, softs: softs)
        plan.rawTurns = selection.raw.map { history[$0].number }
        plan.recalled = recalled.map { RecalledTurn(turn: history[$0.index].number, score: $0.score) }
        plan.softTurns = selection.soft.map { history[$0].number }
        plan.softTokens = softs.count
        let used = Set(selection.raw + selection.recalled.map(\.index) + selection.soft)
        plan.omittedTurns = history.indices.filter { !used.contains($0) }.map { history[$0].number }
        plan.sources = selection.documents
        return plan
    }
}
