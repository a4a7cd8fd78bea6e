import Foundation

/// What `generate` does after a token: go on, or stop here.
public enum GenerationControl: Sendable { case `continue`, stop }

public struct GenerationParameters: Sendable {
    public var maxTokens: Int
    public var sampling: SamplingParameters
    /// Positions the sequence may hold (prompt + answer); nil: up to 4096, within the model's context.
    public var contextCapacity: Int?
    /// Speculative decoding with a draft model of the same vocabulary (nil: off).
    public var speculative: SpeculativeParameters?
    /// Record every generated token's log-probability and this many most likely alternatives per step
    /// (nil: off). Taken from the model's raw distribution, before any sampling filter. Not with rollback
    /// or a draft model.
    public var logprobs: Int?

    public init(maxTokens: Int = 256, sampling: SamplingParameters = .init(), contextCapacity: Int? = nil,
                speculative: SpeculativeParameters? = nil, logprobs: Int? = nil) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.contextCapacity = contextCapacity
        self.speculative = speculative
        self.logprobs = logprobs
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
    /// Tokens the decode phase produced: one per forward pass after the prompt's, less the passes
    /// rollback threw away; with a draft model, every token after the first (several per target pass).
    public var decodeSteps: Int
    /// Rollback's counts (nil when rollback was off).
    public var rollback: RollbackReport?
    /// Speculative decoding's counts (nil without a draft model).
    public var speculative: SpeculativeReport?
    /// The mean temperature of the sampled steps (reported with an adaptive temperature).
    public var meanTemperature: Double?
    /// Each generated token's log-probability and its step's alternatives (with `parameters.logprobs`).
    public var logprobs: [TokenLogprob]?

    public init(text: String, tokens: [Int32], promptTokens: Int, finishReason: FinishReason, seed: UInt64 = 0,
                prefillSeconds: Double = 0, decodeSeconds: Double = 0, decodeSteps: Int = 0, logprobs: [TokenLogprob]? = nil) {
        self.text = text
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.finishReason = finishReason
        self.seed = seed
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
        self.decodeSteps = decodeSteps
        self.logprobs = logprobs
    }

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

    /// Positions `text` takes inside a prompt (no BOS): the unit of every token budget.
    public func tokenCount(_ text: String) -> Int { tokenizer.encode(text, addBOS: false).count }

    /// The chat prompt for `messages`, formatted by the model's template.
    public func chatPrompt(_ messages: [ChatMessage], tools: [String] = []) throws -> String {
        guard let chatTemplate else { throw ModelError(.unsupported, "\(path): the model has no ChatML chat template") }
        return chatTemplate.render(messages, tools: tools, addGenerationPrompt: true)
    }

    /// Generates after `prompt`, calling `onToken` with each token and the text it completes (which
    /// may be empty while a UTF-8 character is incomplete; a last call with a nil token flushes what
    /// was held back). `state` lets a caller keep the KV cache (chat); without it a fresh one is made.
    /// Afterwards the state holds a prefix of its former contents + prompt + generated tokens.
    ///
    /// With `parameters.sampling.rollback` tokens reach `onToken` only once judged (a few tokens
    /// late); with `parameters.speculative` a draft model proposes tokens the target checks in one
    /// pass (token prompts only, and a fresh or empty state: the draft needs the same context), or
    /// prompt lookup copies them from the prompt (any prompt, any state).
    @discardableResult
    public func generate(
        _ prompt: [DecoderInput], parameters: GenerationParameters = .init(), state given: DecoderState? = nil,
        onToken: (Int32?, String) -> GenerationControl = { _, _ in .continue }
    ) throws -> GenerationResult {
        try parameters.sampling.validate()
        guard parameters.maxTokens >= 0 else { throw ModelError(.badInput, "max tokens must be ≥ 0") }
        guard !prompt.isEmpty else { throw ModelError(.badInput, "the prompt is empty") }
        if let n = parameters.logprobs {
            guard (0...TokenLogprob.maxAlternatives).contains(n) else {
                throw ModelError(.badInput, "logprobs alternatives must be in 0...\(TokenLogprob.maxAlternatives) (got \(n))")
            }
            guard parameters.sampling.rollback == nil, parameters.speculative?.draft == nil else {
                throw ModelError(.unsupported, "logprobs cannot be combined with rollback or a draft model")
            }
        }
        let state = given ?? model.makeState(capacity: parameters.contextCapacity)
        guard state.count + prompt.count < state.capacity else {
            throw ModelError(.badInput, "the prompt has \(prompt.count) tokens; the context holds \(state.capacity - state.count) more")
        }
        var promptIDs: [Int32] = []
        var draftState: DecoderState?
        if let speculative = parameters.speculative {
            try speculative.settings.validate()
            guard parameters.sampling.rollback == nil else {
                throw ModelError(.unsupported, "rollback cannot be combined with speculative decoding")
            }
        }
        if let speculative = parameters.speculative, case .promptLookup(let n) = speculative.source {
            guard n >= 1 else { throw ModelError(.badInput, "prompt lookup needs n-grams of at least 1 token (got \(n))") }
            // Input vectors match nothing.
            promptIDs = prompt.map { if case .token(let id) = $0 { id } else { -1 } }
        }
        if let speculative = parameters.speculative, let draft = speculative.draft {
            guard state.count == 0 else {
                throw ModelError(.unsupported, "speculative decoding needs a fresh decoder state (the draft model must see the same context)")
            }
            for input in prompt {
                guard case .token(let id) = input else {
                    throw ModelError(.unsupported, "speculative decoding needs a prompt of token ids (input vectors belong to one model)")
                }
                promptIDs.append(id)
            }
            try checkDraftCompatibility(draft)
            let head = draft.model.makeState(capacity: state.capacity)
            if let kept = speculative.settings.draftVocabulary, kept < draft.model.config.vocabSize {
                // Where the special tokens sit at the end of the vocabulary (Qwen), every row from the first
                // end-of-generation id on is kept too; where they come first (SmolLM2), `kept` holds them.
                let vocab = draft.model.config.vocabSize
                let firstEnd = Int(draft.endTokens.min() ?? Int32(vocab))
                head.outputRows = (kept, firstEnd >= kept ? min(firstEnd, vocab) : vocab)
            }
            draftState = head
        }
        var sampler = Sampler(parameters.sampling)
        var decoder = tokenizer.streamingDecoder(renderSpecial: false)
        var result = GenerationResult(text: "", tokens: [], promptTokens: prompt.count, finishReason: .length,
                                      seed: sampler.seed, prefillSeconds: 0, decodeSeconds: 0, decodeSteps: 0)
        func emit(_ token: Int32) -> GenerationControl {
            let piece = decoder.append(token)
            result.text += piece
            return onToken(token, piece)
        }
        let clock = ContinuousClock()
        let t0 = clock.now
        let logits = try model.forward(prompt, state: state)
        if let draft = parameters.speculative?.draft, let draftState {
            _ = try draft.model.forward(promptIDs.map { .token($0) }, state: draftState)
        }
        result.prefillSeconds = (clock.now - t0).seconds
        let t1 = clock.now
        let target = DecoderPredictor(model: model, state: state)
        if let speculative = parameters.speculative {
            let outcome: SpeculativeDecoding.Outcome
            if let draft = speculative.draft, let draftState {
                outcome = try SpeculativeDecoding.run(
                    target: target, draft: DecoderPredictor(model: draft.model, state: draftState), firstLogits: logits,
                    sampler: &sampler, settings: speculative.settings, maxTokens: parameters.maxTokens, endTokens: endTokens, emit: emit)
            } else {
                guard case .promptLookup(let n) = speculative.source else { throw ModelError(.badInput, "no draft source") }
                var lookup = PromptLookupDrafter(prompt: promptIDs, maxNgram: n)
                outcome = try SpeculativeDecoding.run(
                    target: target, drafter: &lookup, firstLogits: logits, sampler: &sampler, settings: speculative.settings,
                    maxTokens: parameters.maxTokens, endTokens: endTokens, logprobs: parameters.logprobs, emit: emit)
                if parameters.logprobs != nil { result.logprobs = outcome.logprobs }
            }
            result.tokens = outcome.tokens
            result.finishReason = outcome.finish
            result.speculative = outcome.report
            result.decodeSteps = max(0, outcome.tokens.count - 1) + (outcome.finish == .stop ? 1 : 0)
        } else {
            let outcome = try TokenLoop.run(target, firstLogits: logits, sampler: &sampler, maxTokens: parameters.maxTokens,
                                            endTokens: endTokens, rollback: parameters.sampling.rollback,
                                            logprobs: parameters.logprobs, emit: emit)
            result.tokens = outcome.tokens
            result.logprobs = outcome.logprobs
            result.finishReason = outcome.finish
            result.decodeSteps = outcome.producedSteps
            result.rollback = outcome.rollback
            if parameters.sampling.adaptiveTemperature != nil, outcome.temperatureCount > 0 {
                result.meanTemperature = outcome.temperatureSum / Double(outcome.temperatureCount)
            }
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
