import Foundation

/// A small, fast, seedable random number generator (xoshiro256**, seeded through SplitMix64), so
/// that a seed reproduces a sampled generation exactly.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// The token candidates a sampling stage sees: ids and their logits. Stages narrow the set (top-k,
/// top-p, min-p, topT), reshape the logits (penalties, temperature), or pick a token (`selected`).
///
/// The set starts as the whole vocabulary in id order (`isWholeVocabulary`: a stage may index by id);
/// `isSorted` says it is ordered by logit, most likely first, so chained filters stay cheap (llama.cpp's
/// `sorted` flag). Every change goes through a method that keeps both flags true to the contents.
public struct TokenCandidates: Sendable {
    public private(set) var ids: [Int32]
    public private(set) var logits: [Float]
    /// True once sorted by logit (descending; ties keep the lower index first).
    public private(set) var isSorted = false
    /// True while `ids[i] == i` for every candidate: the untouched vocabulary.
    public private(set) var isWholeVocabulary: Bool
    /// The index (into `ids`) of the token a selection stage chose; any change to the set clears it.
    public var selected: Int?

    public init(logits: [Float]) {
        self.logits = logits
        ids = (0..<Int32(logits.count)).map { $0 }
        isWholeVocabulary = true
    }

    public init(ids: [Int32], logits: [Float]) {
        precondition(ids.count == logits.count, "TokenCandidates: \(ids.count) ids for \(logits.count) logits")
        self.ids = ids
        self.logits = logits
        isWholeVocabulary = ids.enumerated().allSatisfy { $0.offset == Int($0.element) }
    }

    public var count: Int { ids.count }

    /// The largest logit (-∞ when empty).
    public var maxLogit: Float {
        if isSorted { return logits.first ?? -.infinity }
        return logits.max() ?? -.infinity
    }

    /// The index of the most likely candidate (the first of equals).
    public var argmax: Int? {
        guard !ids.isEmpty else { return nil }
        if isSorted { return 0 }
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }

    /// The position of token `id` in the set, if it is there.
    public func index(of id: Int32) -> Int? {
        if isWholeVocabulary { return id >= 0 && Int(id) < ids.count ? Int(id) : nil }
        return ids.firstIndex(of: id)
    }

    /// Sorts by logit (descending); with `limit`, keeps only the `limit` best (a partial sort).
    public mutating func sort(keeping limit: Int? = nil) {
        let keep = min(limit ?? ids.count, ids.count)
        var order: [Int]
        if keep < ids.count / 8 {
            // A bounded sorted insert: much cheaper than sorting a 150k vocabulary for a few tokens.
            order = []
            order.reserveCapacity(keep + 1)
            for i in 0..<ids.count {
                let v = logits[i]
                if order.count == keep, let last = order.last, v <= logits[last] { continue }
                var lo = 0, hi = order.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if logits[order[mid]] >= v { lo = mid + 1 } else { hi = mid }
                }
                order.insert(i, at: lo)
                if order.count > keep { order.removeLast() }
            }
        } else {
            order = Array(0..<ids.count)
            order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            order.removeLast(order.count - keep)
        }
        ids = order.map { ids[$0] }
        logits = order.map { logits[$0] }
        isSorted = true
        isWholeVocabulary = ids.enumerated().allSatisfy { $0.offset == Int($0.element) }
        selected = nil
    }

    /// Keeps the first `n` (after sorting).
    public mutating func truncate(_ n: Int) {
        guard n < ids.count else { return }
        ids.removeLast(ids.count - max(0, n))
        logits.removeLast(logits.count - max(0, n))
        isWholeVocabulary = isWholeVocabulary || ids.isEmpty
        selected = nil
    }

    /// Keeps the candidates whose logit passes `predicate`, in their order.
    public mutating func keep(where predicate: (Float) -> Bool) {
        filter { _, z in predicate(z) }
    }

    /// Removes the tokens in `banned` (rollback: tokens refused at this position), keeping the order.
    public mutating func remove(_ banned: Set<Int32>) {
        guard !banned.isEmpty else { return }
        filter { id, _ in !banned.contains(id) }
    }

    private mutating func filter(_ keep: (Int32, Float) -> Bool) {
        var w = 0
        for r in 0..<ids.count where keep(ids[r], logits[r]) {
            ids[w] = ids[r]
            logits[w] = logits[r]
            w += 1
        }
        if w < ids.count {
            ids.removeLast(ids.count - w)
            logits.removeLast(logits.count - w)
            // Dropping a tail keeps the identity; dropping from the middle breaks it.
            if isWholeVocabulary, let last = ids.last { isWholeVocabulary = Int(last) == ids.count - 1 }
        }
        selected = nil
    }

    /// Divides every logit by `divisor` (> 0), which keeps the order.
    public mutating func divideLogits(by divisor: Float) {
        guard divisor != 1 else { return }
        for i in logits.indices { logits[i] /= divisor }
        selected = nil
    }

    /// Lets `body` change the logit of each token in `values` that is a candidate (the order may change).
    public mutating func adjustLogits<V>(_ values: [Int32: V], _ body: (inout Float, V) -> Void) {
        guard !values.isEmpty else { return }
        if isWholeVocabulary {
            for (id, v) in values where id >= 0 && Int(id) < logits.count { body(&logits[Int(id)], v) }
        } else {
            for i in ids.indices { if let v = values[ids[i]] { body(&logits[i], v) } }
        }
        isSorted = false
        selected = nil
    }

    /// Probabilities of the candidates at the current logits (softmax over the set).
    public func probabilities() -> [Double] {
        let m = maxLogit
        guard m > -.infinity else { return [Double](repeating: 0, count: count) }
        let e = logits.map { exp(Double($0 - m)) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Shannon entropy of `probabilities()`, in nats.
    public func entropy() -> Double {
        var h = 0.0
        for p in probabilities() where p > 0 { h -= p * log(p) }
        return h
    }
}

/// What a stage may note about the step it took part in (for reports; stages read none of it).
public struct SamplingContext: Sendable, Equatable {
    /// The temperature the distribution was divided by (nil: none, i.e. 1, or greedy).
    public var temperature: Float?
    /// The normalised entropy an adaptive temperature stage measured, in [0, 1].
    public var normalisedEntropy: Double?
    public init() {}
}

/// One stage of a sampler chain (llama.cpp's sampler, mlx-swift's processor): it filters or reshapes
/// the candidates, or picks one (`selected`), and sees each token the chain finally chose.
public protocol SamplerStage: Sendable {
    mutating func apply(to candidates: inout TokenCandidates, context: inout SamplingContext)
    mutating func accept(_ token: Int32)
    /// True for a stage that picks the token (greedy or a draw) rather than shaping the distribution.
    var isSelection: Bool { get }
}

extension SamplerStage {
    public mutating func accept(_ token: Int32) {}
    public var isSelection: Bool { false }
}

/// Stages run in order; a chain is itself a stage, so chains nest. `sample` runs the whole chain on
/// logits and returns the chosen token (the candidate the last selection stage marked, else the most
/// likely one left), then lets every stage see it.
public struct SamplerChain: SamplerStage {
    public var stages: [any SamplerStage]

    public init(_ stages: [any SamplerStage]) { self.stages = stages }

    public var isSelection: Bool { stages.contains { $0.isSelection } }

    public mutating func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        for i in stages.indices { stages[i].apply(to: &candidates, context: &context) }
    }

    public mutating func accept(_ token: Int32) {
        for i in stages.indices { stages[i].accept(token) }
    }

    /// Runs the shaping stages only (not the selection), without accepting anything: the distribution
    /// the chain would draw from. Its probabilities are `probabilities()` of the result.
    public mutating func distribution(_ logits: [Float], banning banned: Set<Int32> = [], context: inout SamplingContext) -> TokenCandidates {
        var c = TokenCandidates(logits: logits)
        c.remove(banned)
        for i in stages.indices where !stages[i].isSelection { stages[i].apply(to: &c, context: &context) }
        return c
    }

    /// Runs the chain, accepts the chosen token and returns it.
    public mutating func sample(_ logits: [Float], banning banned: Set<Int32> = []) -> Int32 {
        var context = SamplingContext()
        return sample(logits, banning: banned, context: &context)
    }

    public mutating func sample(_ logits: [Float], banning banned: Set<Int32> = [], context: inout SamplingContext) -> Int32 {
        var c = TokenCandidates(logits: logits)
        c.remove(banned)
        apply(to: &c, context: &context)
        let token: Int32
        if let i = c.selected ?? c.argmax { token = c.ids[i] } else { token = Sampler.argmax(logits) }
        accept(token)
        return token
    }
}

/// Bounds of the per-token adaptive temperature: T = low + (high − low) · (H / ln N)^exponent, where
/// H is the entropy of the candidates when the temperature stage runs and N their number
/// (see `AdaptiveTemperatureStage`).
public struct AdaptiveTemperatureRange: Sendable, Equatable, Codable {
    public var low: Float
    public var high: Float
    public var exponent: Float

    public init(low: Float = 0.5, high: Float = 1.5, exponent: Float = 1) {
        self.low = low
        self.high = high
        self.exponent = exponent
    }

    /// "LOW:HIGH" (e.g. "0.5:1.5"), or "LOW:HIGH:EXPONENT".
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard (2...3).contains(parts.count), let low = parts[0], let high = parts[1] else {
            throw ModelError(.badInput, "adaptive temperature must be LOW:HIGH, e.g. 0.5:1.5 (got '\(text)')")
        }
        var exponent: Float = 1
        if parts.count == 3 {
            guard let e = parts[2] else { throw ModelError(.badInput, "adaptive temperature exponent is not a number (got '\(text)')") }
            exponent = e
        }
        self.init(low: low, high: high, exponent: exponent)
    }

    public func validate() throws {
        guard low.isFinite, high.isFinite, low > 0, high >= low else {
            throw ModelError(.badInput, "adaptive temperature needs 0 < LOW ≤ HIGH (got \(low):\(high))")
        }
        guard exponent.isFinite, exponent > 0 else { throw ModelError(.badInput, "adaptive temperature exponent must be > 0 (got \(exponent))") }
    }
}

/// Sampling settings for `generate`: the stages of the chain `Sampler` builds, in the order they run
/// (penalties → top-k → top-p → min-p → temperature or adaptive temperature → topT → draw). Temperature
/// 0 (or top-k 1) is greedy decoding: the most likely token after the penalties. Every stage is off
/// at its neutral value; see `SamplerStages.swift` for each one's formula.
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Float
    /// Keep the `topK` most likely tokens (0: all).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP` (1: all).
    public var topP: Float
    /// nil: a random seed, reported in the generation's result so that it can be replayed.
    public var seed: UInt64?
    /// Keep tokens with p ≥ minP · p_max at temperature 1 (0: off).
    public var minP: Float
    /// Keep tokens with p_T ≥ topT · p_T,max on the distribution after the temperature (0: off);
    /// equal to min-p with minP = topT^T (see `TopTStage`).
    public var topT: Float
    /// CTRL repetition penalty θ for tokens in the window: z > 0 ? z/θ : z·θ (1: off).
    public var repetitionPenalty: Float
    /// Subtracted from a token's logit once per occurrence in the window (0: off).
    public var frequencyPenalty: Float
    /// Subtracted from the logit of any token present in the window (0: off).
    public var presencePenalty: Float
    /// How many of the last generated tokens the penalties look at.
    public var penaltyWindow: Int
    /// A per-token temperature from the distribution's entropy, in place of `temperature` (nil: off).
    public var adaptiveTemperature: AdaptiveTemperatureRange?
    /// Roll back a token whose sampling is followed by a collapse of confidence (nil: off).
    public var rollback: RollbackParameters?

    public init(temperature: Float = 0.7, topK: Int = 40, topP: Float = 0.9, seed: UInt64? = nil,
                minP: Float = 0, topT: Float = 0,
                repetitionPenalty: Float = 1, frequencyPenalty: Float = 0, presencePenalty: Float = 0, penaltyWindow: Int = 64,
                adaptiveTemperature: AdaptiveTemperatureRange? = nil, rollback: RollbackParameters? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.minP = minP
        self.topT = topT
        self.repetitionPenalty = repetitionPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.penaltyWindow = penaltyWindow
        self.adaptiveTemperature = adaptiveTemperature
        self.rollback = rollback
    }

    public static let greedy = SamplingParameters(temperature: 0, topK: 1, topP: 1)

    /// Greedy: the arg-max after the penalties (no temperature, no draw).
    public var isGreedy: Bool { topK == 1 || (temperature <= 0 && adaptiveTemperature == nil) }

    var hasPenalties: Bool { repetitionPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0 }

    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else { throw ModelError(.badInput, "temperature must be ≥ 0 (got \(temperature))") }
        guard topK >= 0 else { throw ModelError(.badInput, "top-k must be ≥ 0 (got \(topK))") }
        guard topP > 0, topP <= 1 else { throw ModelError(.badInput, "top-p must be in (0, 1] (got \(topP))") }
        guard minP >= 0, minP <= 1 else { throw ModelError(.badInput, "min-p must be in [0, 1] (got \(minP))") }
        guard topT >= 0, topT <= 1 else { throw ModelError(.badInput, "top-t must be in [0, 1] (got \(topT))") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw ModelError(.badInput, "repeat penalty must be > 0 (got \(repetitionPenalty); 1 is off)")
        }
        guard frequencyPenalty.isFinite, presencePenalty.isFinite else { throw ModelError(.badInput, "penalties must be finite numbers") }
        guard penaltyWindow >= 0 else { throw ModelError(.badInput, "penalty window must be ≥ 0 (got \(penaltyWindow))") }
        try adaptiveTemperature?.validate()
        try rollback?.validate()
    }

    private enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, seed, minP, topT, repetitionPenalty, frequencyPenalty, presencePenalty, penaltyWindow
        case adaptiveTemperature, rollback
    }

    /// Fields added after the first version are optional in the encoded form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            temperature: try c.decode(Float.self, forKey: .temperature), topK: try c.decode(Int.self, forKey: .topK),
            topP: try c.decode(Float.self, forKey: .topP), seed: try c.decodeIfPresent(UInt64.self, forKey: .seed),
            minP: try c.decodeIfPresent(Float.self, forKey: .minP) ?? 0, topT: try c.decodeIfPresent(Float.self, forKey: .topT) ?? 0,
            repetitionPenalty: try c.decodeIfPresent(Float.self, forKey: .repetitionPenalty) ?? 1,
            frequencyPenalty: try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty) ?? 0,
            presencePenalty: try c.decodeIfPresent(Float.self, forKey: .presencePenalty) ?? 0,
            penaltyWindow: try c.decodeIfPresent(Int.self, forKey: .penaltyWindow) ?? 64,
            adaptiveTemperature: try c.decodeIfPresent(AdaptiveTemperatureRange.self, forKey: .adaptiveTemperature),
            rollback: try c.decodeIfPresent(RollbackParameters.self, forKey: .rollback))
    }
}

/// The sampler chain `SamplingParameters` describe, with its seed:
/// penalties → top-k → top-p → min-p → temperature (fixed or adaptive) → topT → draw; greedy is
/// penalties → arg-max (the filters all keep the most likely token and a temperature keeps the order,
/// so they cannot change an arg-max).
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    public let seed: UInt64
    public private(set) var chain: SamplerChain
    /// What the stages noted during the last `sample` (e.g. the adaptive temperature used).
    public private(set) var lastContext = SamplingContext()
    /// Greedy without penalties: the arg-max of the raw logits, without building candidates.
    private let plainArgmax: Bool

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        seed = parameters.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
        chain = Self.chain(for: parameters, seed: seed)
        plainArgmax = parameters.isGreedy && !parameters.hasPenalties
    }

    /// The stages for `p`, in order.
    public static func chain(for p: SamplingParameters, seed: UInt64) -> SamplerChain {
        var stages: [any SamplerStage] = []
        if p.hasPenalties {
            stages.append(PenaltyStage(repetition: p.repetitionPenalty, frequency: p.frequencyPenalty,
                                       presence: p.presencePenalty, window: p.penaltyWindow))
        }
        if p.isGreedy {
            stages.append(GreedySelection())
            return SamplerChain(stages)
        }
        if p.topK > 0 { stages.append(TopKStage(p.topK)) }
        if p.topP < 1 { stages.append(TopPStage(p.topP)) }
        if p.minP > 0 { stages.append(MinPStage(p.minP)) }
        if let range = p.adaptiveTemperature {
            stages.append(AdaptiveTemperatureStage(range))
        } else {
            stages.append(TemperatureStage(p.temperature))
        }
        if p.topT > 0 { stages.append(TopTStage(p.topT)) }
        stages.append(RandomSelection(seed: seed))
        return SamplerChain(stages)
    }

    /// Picks the next token from `logits` (never one in `banned`, unless every token is banned) and
    /// lets the stages see it.
    public mutating func sample(_ logits: [Float], banning banned: Set<Int32> = []) -> Int32 {
        if plainArgmax && banned.isEmpty {
            lastContext = SamplingContext()
            return Self.argmax(logits)
        }
        var context = SamplingContext()
        let token = chain.sample(logits, banning: banned, context: &context)
        lastContext = context
        return token
    }

    /// The distribution the chain would draw from at `logits` (every stage but the selection), without
    /// accepting a token: candidates whose `probabilities()` are the sampling probabilities.
    public mutating func distribution(_ logits: [Float], banning banned: Set<Int32> = []) -> TokenCandidates {
        var context = SamplingContext()
        let c = chain.distribution(logits, banning: banned, context: &context)
        lastContext = context
        return c
    }

    /// Tells the stages that `token` was chosen (when it was chosen outside `sample`).
    public mutating func accept(_ token: Int32) { chain.accept(token) }

    /// The index of the largest logit (the first of equals).
    public static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return Int32(best)
    }
}

/// A generated token's log-probability under the model's raw distribution (temperature 1, no filter),
/// and the step's most likely tokens: what OpenAI's `logprobs` / `top_logprobs` report, and what
/// `mnemo ask` reads its confidence from.
public struct TokenLogprob: Sendable, Codable, Equatable {
    public static let maxAlternatives = 20
    public var token: Int32
    public var logprob: Float
    /// The step's most likely tokens, best first, with their log-probabilities.
    public var top: [Alternative]

    public struct Alternative: Sendable, Codable, Equatable {
        public var token: Int32
        public var logprob: Float
        public init(token: Int32, logprob: Float) {
            self.token = token
            self.logprob = logprob
        }
    }

    public init(token: Int32, logprob: Float, top: [Alternative]) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }

    /// `token`'s entry from a step's logits, with the `alternatives` most likely tokens.
    init(_ token: Int32, logits: [Float], alternatives: Int) {
        let m = logits.max() ?? 0
        var sum = 0.0
        for z in logits { sum += exp(Double(z - m)) }
        let logZ = m + Float(log(sum))
        var best: [(Int32, Float)] = []
        if alternatives > 0 {
            for (i, z) in logits.enumerated() where best.count < alternatives || z > best[best.count - 1].1 {
                let at = best.firstIndex { $0.1 < z } ?? best.count
                best.insert((Int32(i), z), at: at)
                if best.count > alternatives { best.removeLast() }
            }
        }
        self.init(token: token, logprob: logits.indices.contains(Int(token)) ? logits[Int(token)] - logZ : -.infinity,
                  top: best.map { Alternative(token: $0.0, logprob: $0.1 - logZ) })
    }

    /// The log-probability of `id` at this step if it is among the alternatives (or is the token).
    public func logprob(of id: Int32) -> Float? {
        id == token ? logprob : top.first { $0.token == id }?.logprob
    }
}

/// Sampling as a user asks for it, every knob optional: one set of names behind `mnemo generate`,
/// `ask` and `chat`'s flags and the HTTP server's OpenAI fields, resolved and checked in one place.
public struct SamplingChoices: Sendable, Equatable {
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var seed: UInt64?
    public var minP: Float?
    public var topT: Float?
    public var repetitionPenalty: Float?
    public var frequencyPenalty: Float?
    public var presencePenalty: Float?
    public var penaltyWindow: Int?
    public var adaptiveTemperature: AdaptiveTemperatureRange?
    public var rollback = false

    public init() {}

    /// The parameters, with `defaultTemperature` where no temperature was given (0.7 for free
    /// generation, 0, greedy, for answers from the notes), checked.
    public func resolved(defaultTemperature: Float) throws -> SamplingParameters {
        let d = SamplingParameters()
        let p = SamplingParameters(
            temperature: temperature ?? defaultTemperature, topK: topK ?? d.topK, topP: topP ?? d.topP, seed: seed,
            minP: minP ?? d.minP, topT: topT ?? d.topT, repetitionPenalty: repetitionPenalty ?? d.repetitionPenalty,
            frequencyPenalty: frequencyPenalty ?? d.frequencyPenalty, presencePenalty: presencePenalty ?? d.presencePenalty,
            penaltyWindow: penaltyWindow ?? d.penaltyWindow, adaptiveTemperature: adaptiveTemperature,
            rollback: rollback ? RollbackParameters() : nil)
        try p.validate()
        return p
    }
}
