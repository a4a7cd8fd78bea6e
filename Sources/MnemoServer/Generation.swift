import Foundation
import MnemoCore
import MnemoModels

/// How a generation ended, and what it cost.
public struct GenerationOutcome: Sendable, Equatable {
    public enum FinishReason: String, Sendable {
        /// The model ended its turn, or a stop sequence was met.
        case stop
        /// The token limit or the context was reached.
        case length
        /// The client went away.
        case cancelled
    }

    public var text: String
    public var promptTokens: Int
    public var completionTokens: Int
    public var finishReason: FinishReason

    public init(text: String, promptTokens: Int, completionTokens: Int, finishReason: FinishReason) {
        self.text = text
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.finishReason = finishReason
    }
}

/// A chat model the server can run: the real one (`LanguageModel`) and, in tests, a scripted double.
/// Calls come one at a time, from the generation queue's thread.
public protocol TextGenerator: Sendable {
    /// Prompt token ids for a conversation, in the model's chat format, ready for the reply.
    func prompt(for messages: [ChatMessage]) throws -> [Int32]
    /// Generates after `prompt`, handing each piece of text to `onPiece` (which may stop it).
    func generate(prompt: [Int32], parameters: GenerationParameters,
                  onPiece: (String) -> GenerationControl) throws -> GenerationOutcome
    /// Tokens `text` takes in a prompt: the unit of the sentence modes' budget. Safe from any thread.
    func countTokens(_ text: String) -> Int
    /// Answers a question from notes already found, as `mnemo ask` does (MnemoCore's `AskService`).
    func answer(_ question: String, notes: AskNotes, options: AskOptions, isCancelled: @escaping @Sendable () -> Bool,
                onToken: (String) -> Void) throws -> AskResult
}

extension TextGenerator {
    /// Words, for generators without a tokenizer (the tests' scripted double).
    public func countTokens(_ text: String) -> Int { MemoryHub.words(text) }
}

/// The GGUF decoder as a `TextGenerator`.
public struct LanguageModelGenerator: TextGenerator {
    public let model: LanguageModel
    /// One answer service for the server's life: it keeps the KV cache of the fixed prompt start.
    private let asking: AskServiceSlot

    /// `AskService` is not thread-safe; the generation queue calls one request at a time.
    private final class AskServiceSlot: @unchecked Sendable {
        let service: AskService
        init(_ service: AskService) { self.service = service }
    }

    public init(_ model: LanguageModel) {
        self.model = model
        asking = AskServiceSlot(AskService(memory: nil, model: model))
    }

    public func answer(_ question: String, notes: AskNotes, options: AskOptions, isCancelled: @escaping @Sendable () -> Bool,
                       onToken: (String) -> Void) throws -> AskResult {
        try asking.service.answer(question, notes: notes, options: options, isCancelled: isCancelled, onToken: onToken)
    }

    public func prompt(for messages: [ChatMessage]) throws -> [Int32] {
        model.encode(try model.chatPrompt(messages))
    }

    public func countTokens(_ text: String) -> Int { model.tokenCount(text) }

    public func generate(prompt: [Int32], parameters: GenerationParameters,
                         onPiece: (String) -> GenerationControl) throws -> GenerationOutcome {
        let result = try model.generate(prompt.map { .token($0) }, parameters: parameters) { _, piece in onPiece(piece) }
        let reason: GenerationOutcome.FinishReason = switch result.finishReason {
        case .stop: .stop
        case .length: .length
        case .cancelled: .cancelled
        }
        return GenerationOutcome(text: result.text, promptTokens: result.promptTokens,
                                 completionTokens: result.tokens.count, finishReason: reason)
    }
}

/// One loaded model serving many requests: generation is single-stream, so requests take turns on
/// one thread, first come first served. The queue is bounded: a request that finds `capacity`
/// others waiting is refused at once (503) rather than left to time out. The model is loaded on
/// first use, so a server that only searches never pays for it.
public final class GenerationQueue: Sendable {
    /// The id clients name the model by (`GET /v1/models`).
    public let modelID: String
    /// Requests that may wait while one generates.
    public let capacity: Int
    let metrics: ServerMetrics
    private let loader: @Sendable () throws -> any TextGenerator
    let queue = DispatchQueue(label: "mnemo.generation")
    private let state = Locked(State())
    /// Held while the model loads, so that two first requests load it once.
    private let loading = NSLock()

    private struct State {
        /// Reserved: generating, waiting, or holding a ticket not yet used.
        var pending = 0
        var generator: (any TextGenerator)?
    }

    public init(modelID: String, capacity: Int = 8, metrics: ServerMetrics, loader: @escaping @Sendable () throws -> any TextGenerator) {
        self.modelID = modelID
        self.capacity = max(0, capacity)
        self.metrics = metrics
        self.loader = loader
    }

    public var isLoaded: Bool { state.withLock { $0.generator != nil } }
    public var pending: Int { state.withLock { $0.pending } }

    /// A place in the queue, taken before a response starts so a full queue can still answer 503.
    /// Dropped unused (the client went away before its stream began), it gives the place back.
    public final class Ticket: Sendable {
        private let owner: GenerationQueue
        private let released = Locked(false)

        init(owner: GenerationQueue) { self.owner = owner }

        func release() {
            let first = released.withLock { done -> Bool in
                defer { done = true }
                return !done
            }
            if first { owner.leave() }
        }

        deinit { release() }
    }

    /// Counts tokens as the model does (loading it if no request has yet).
    public func countTokens(_ text: String) throws -> Int { try loadedGenerator().countTokens(text) }

    /// `countTokens` as a closure for `MemoryHub.notes` (0 if the model cannot load: generation reports that).
    public var tokenCounter: @Sendable (String) -> Int { { [self] in (try? self.countTokens($0)) ?? 0 } }

    /// Takes a place, or throws 503 when `capacity` requests are already waiting behind the running one.
    public func reserve() throws -> Ticket {
        let ok = state.withLock { s -> Bool in
            guard s.pending <= capacity else { return false }
            s.pending += 1
            return true
        }
        guard ok else {
            metrics.add(.generationsRejected)
            throw APIError.busy("The model is busy: \(capacity) request(s) are already waiting. Try again shortly.")
        }
        metrics.adjust(.generationQueue, by: 1)
        return Ticket(owner: self)
    }

    private func leave() {
        state.withLock { $0.pending -= 1 }
        metrics.adjust(.generationQueue, by: -1)
    }

    /// Loads the model now (on the generation thread) unless it is loaded.
    func loadedGenerator() throws -> any TextGenerator {
        if let generator = state.withLock({ $0.generator }) { return generator }
        loading.lock()
        defer { loading.unlock() }
        if let generator = state.withLock({ $0.generator }) { return generator }
        let generator = try loader()
        state.withLock { $0.generator = generator }
        metrics.set(.modelLoaded, 1)
        return generator
    }

    /// Generates a reply to `messages` when its turn comes. `isCancelled` is checked before the turn
    /// starts and between tokens (a client that went away frees the model at once); `onPiece` gets
    /// each piece of text as it is made, on the generation thread.
    public func generate(
        _ ticket: Ticket, messages: [ChatMessage], parameters: GenerationParameters,
        isCancelled: @escaping @Sendable () -> Bool = { false },
        onPiece: @escaping @Sendable (String) -> GenerationControl = { _ in .continue }
    ) async throws -> GenerationOutcome {
        defer { ticket.release() }
        let metrics = self.metrics
        let outcome = try await offload(queue) { [self] in
            if isCancelled() { return GenerationOutcome(text: "", promptTokens: 0, completionTokens: 0, finishReason: .cancelled) }
            let generator = try loadedGenerator()
            let prompt = try generator.prompt(for: messages)
            var outcome = try generator.generate(prompt: prompt, parameters: parameters) { piece in
                if isCancelled() { return .stop }
                return onPiece(piece)
            }
            if isCancelled() { outcome.finishReason = .cancelled }
            return outcome
        }
        record(prompt: outcome.promptTokens, generated: outcome.completionTokens, cancelled: outcome.finishReason == .cancelled)
        return outcome
    }

    /// One generation's counters in `/metrics`.
    func record(prompt: Int, generated: Int, cancelled: Bool) {
        metrics.add(.generations)
        metrics.add(.promptTokens, Double(prompt))
        metrics.add(.generatedTokens, Double(generated))
        if cancelled { metrics.add(.generationsCancelled) }
    }
}

extension GenerationQueue {
    /// Answers `question` from `notes` when its turn comes, through MnemoCore's one answer path;
    /// `onToken` gets the answer as it is streamed, on the generation thread.
    public func answer(_ ticket: Ticket, question: String, notes: AskNotes, options: AskOptions,
                       isCancelled: @escaping @Sendable () -> Bool = { false },
                       onToken: @escaping @Sendable (String) -> Void = { _ in }) async throws -> AskResult {
        defer { ticket.release() }
        let result = try await offload(queue) { [self] in
            try loadedGenerator().answer(question, notes: notes, options: options, isCancelled: isCancelled, onToken: onToken)
        }
        record(prompt: result.promptTokens, generated: result.generatedTokens, cancelled: result.finishReason == "cancelled")
        return result
    }
}

/// Cuts generated text at the first of some stop sequences, holding back only what could still
/// become one, so streamed text never shows part of a stop sequence.
struct StopMatcher {
    let stops: [String]
    private var held = ""
    private(set) var stopped = false

    init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Text that is safe to emit after `piece`; sets `stopped` when a stop sequence appeared.
    mutating func feed(_ piece: String) -> String {
        guard !stopped else { return "" }
        guard !stops.isEmpty else { return piece }
        held += piece
        if let hit = stops.compactMap({ held.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            stopped = true
            let out = String(held[..<hit.lowerBound])
            held = ""
            return out
        }
        // Keep the longest tail that is a prefix of some stop sequence.
        var keep = 0
        for stop in stops {
            for n in stride(from: min(stop.count - 1, held.count), through: 1, by: -1) where held.hasSuffix(stop.prefix(n)) {
                keep = max(keep, n)
                break
            }
        }
        let cut = held.index(held.endIndex, offsetBy: -keep)
        let out = String(held[..<cut])
        held = String(held[cut...])
        return out
    }

    /// What is still held back once generation has ended without a stop.
    mutating func finish() -> String {
        defer { held = "" }
        return stopped ? "" : held
    }
}
