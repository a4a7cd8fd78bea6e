import Foundation

/// What `generate` does after a token: go on, or stop here.
public enum GenerationControl: Sendable { case `continue`, stop }

public struct GenerationParameters: Sendable {
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Positions the sequence may hold (prompt + answer); nil: up to 4096, within the model's context.
    public var contextCapacity: Int?

    public init(maxTokens: Int = 256, sampling: SamplingParameters = .init(), contextCapacity: Int? = nil) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.contextCapacity = contextCapacity
    }
}

public struct GenerationResult: Sendable, Codable {
    public enum FinishReason: String, Sendable, Codable {
        /// The model ended its turn (an end-of-generation token).
        case stop
        /// `maxTokens` or the context capacity was reached.
        case length
        /// The caller stopped it.
        case cancelled
    }

    public var text: String
    public var tokens: [Int32]
    public var promptTokens: Int
    public var finishReason: FinishReason
    public var seed: UInt64
    public var prefillSeconds: Double
    /// Time of the forward passes after the prompt's, one per generated token but the first.
    public var decodeSeconds: Double
    public var decodeSteps: Int

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodeSteps) / decodeSeconds : 0 }
}

/// A GGUF decoder with its tokenizer and chat format: the one entry point for generation.
public final class LanguageModel: Sendable {
    public let path: String
    public let model: DecoderModel
    public let tokenizer: BPETokenizer
    public let chatTemplate: ChatTemplate?
    /// Tokens that end a turn (the tokenizer's end-of-generation set).
    public var endTokens: Set<Int32> { tokenizer.endOfGenerationIDs }

    public convenience init(path: String) throws {
        try self.init(gguf: GGUFFile(path: path))
    }

    public init(gguf: GGUFFile) throws {
        path = gguf.path
        model = try DecoderModel(gguf: gguf)
        tokenizer = try BPETokenizer(gguf: gguf)
        chatTemplate = try? ChatTemplate(gguf: gguf)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw ModelError(.badConfig, "\(path): the vocabulary has \(tokenizer.vocabularySize) tokens but the embedding only \(model.config.vocabSize) rows")
        }
    }

    /// Token ids of a raw prompt: special tokens such as `<|im_start|>` are parsed; BOS as the file says.
    public func encode(_ text: String) -> [Int32] { tokenizer.encode(text, parseSpecial: true) }

    /// The chat prompt for `messages`, formatted by the model's template.
    public func chatPrompt(_ messages: [ChatMessage], tools: [String] = []) throws -> String {
        guard let chatTemplate else { throw ModelError(.unsupported, "\(path): the model has no ChatML chat template") }
        return chatTemplate.render(messages, tools: tools, addGenerationPrompt: true)
    }

    /// Generates after `prompt`, calling `onToken` with each token and the text it completes (which
    /// may be empty while a UTF-8 character is incomplete; a last call with a nil token flushes what
    /// was held back). `state` lets a caller keep the KV cache
    /// (chat); without it a fresh one is made.
    @discardableResult
    public func generate(
        _ prompt: [DecoderInput], parameters: GenerationParameters = .init(), state given: DecoderState? = nil,
        onToken: (Int32?, String) -> GenerationControl = { _, _ in .continue }
    ) throws -> GenerationResult {
        try parameters.sampling.validate()
        guard parameters.maxTokens >= 0 else { throw ModelError(.badInput, "max tokens must be ≥ 0") }
        guard !prompt.isEmpty else { throw ModelError(.badInput, "the prompt is empty") }
        let state = given ?? model.makeState(capacity: parameters.contextCapacity)
        guard state.count + prompt.count < state.capacity else {
            throw ModelError(.badInput, "the prompt has \(prompt.count) tokens; the context holds \(state.capacity - state.count) more")
        }
        var sampler = Sampler(parameters.sampling)
        var decoder = tokenizer.streamingDecoder(renderSpecial: false)
        var result = GenerationResult(text: "", tokens: [], promptTokens: prompt.count, finishReason: .length,
                                      seed: sampler.seed, prefillSeconds: 0, decodeSeconds: 0, decodeSteps: 0)
        let clock = ContinuousClock()
        let t0 = clock.now
        var logits = try model.forward(prompt, state: state)
        result.prefillSeconds = (clock.now - t0).seconds
        let t1 = clock.now
        while result.tokens.count < parameters.maxTokens {
            let token = sampler.sample(logits)
            if endTokens.contains(token) { result.finishReason = .stop; break }
            result.tokens.append(token)
            let piece = decoder.append(token)
            result.text += piece
            if onToken(token, piece) == .stop { result.finishReason = .cancelled; break }
            guard result.tokens.count < parameters.maxTokens, state.count < state.capacity else { break }
            logits = try model.forward([.token(token)], state: state)
            result.decodeSteps += 1
        }
        let tail = decoder.finish()
        if !tail.isEmpty {
            result.text += tail
            _ = onToken(nil, tail)
        }
        result.decodeSeconds = (clock.now - t1).seconds
        return result
    }
}

extension Duration {
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
