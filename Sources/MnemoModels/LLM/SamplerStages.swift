import Foundation

// The stages of a sampler chain, in the order `Sampler` chains them. Notation: z_i is token i's logit
// as the stage receives it, p_i = softmax(z)_i over the candidates left, p_max the largest, T the
// temperature. Every stage keeps at least the most likely candidate, so none can empty the set.

/// Repetition, frequency and presence penalties over the last `window` chosen tokens.
///
/// For a token seen c > 0 times in the window:
///   z ← z / θ if z > 0, else z · θ      (repetition penalty θ, CTRL: Keskar et al. 2019)
///   z ← z − c · α_freq − α_presence     (OpenAI's frequency and presence penalties)
/// Defaults: θ = 1, α_freq = α_presence = 0 (off), window 64. Only generated tokens count (the
/// prompt does not), and the penalties run first, on the whole vocabulary, so they also move greedy
/// choices.
public struct PenaltyStage: SamplerStage {
    public let repetition: Float
    public let frequency: Float
    public let presence: Float
    public let window: Int
    private var recent: [Int32] = []

    public init(repetition: Float = 1, frequency: Float = 0, presence: Float = 0, window: Int = 64) {
        self.repetition = repetition
        self.frequency = frequency
        self.presence = presence
        self.window = window
    }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        guard !recent.isEmpty else { return }
        var counts: [Int32: Int] = [:]
        for t in recent { counts[t, default: 0] += 1 }
        let (theta, freq, pres) = (repetition, frequency, presence)
        candidates.adjustLogits(counts) { z, c in
            if theta != 1 { z = z > 0 ? z / theta : z * theta }
            z -= Float(c) * freq + pres
        }
    }

    public mutating func accept(_ token: Int32) {
        guard window > 0 else { return }
        recent.append(token)
        if recent.count > window { recent.removeFirst(recent.count - window) }
    }
}

/// Top-k: keep the k candidates with the largest logits (sorted, most likely first). k = 0 is off.
/// Default in `SamplingParameters`: 40.
public struct TopKStage: SamplerStage {
    public let k: Int
    public init(_ k: Int) { self.k = k }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        guard k > 0 else { return }
        if candidates.isSorted { candidates.truncate(k) } else { candidates.sort(keeping: k) }
    }
}

/// Top-p (nucleus, Holtzman et al. 2020): keep the smallest prefix of the sorted candidates whose
/// probability sum reaches p, i.e. the first m with Σ_{i≤m} p_i ≥ p. Runs before the temperature,
/// so the nucleus is the model's own (T = 1). Default 0.9; 1 is off.
///
/// On an unsorted whole vocabulary it first drops tokens with z < z_max − (ln N + 25), whose total
/// probability is below e⁻²⁵ ≈ 1.4·10⁻¹¹ of p_max, so that sorting 150k logits is not needed.
public struct TopPStage: SamplerStage {
    public let p: Float
    public init(_ p: Float) { self.p = p }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        guard p < 1, candidates.count > 1 else { return }
        if !candidates.isSorted {
            if candidates.count > 1024 {
                let cut = candidates.maxLogit - (Float(log(Double(candidates.count))) + 25)
                candidates.keep { $0 >= cut }
            }
            candidates.sort()
        }
        let probabilities = candidates.probabilities()
        var cumulative = 0.0, keep = probabilities.count
        for (i, pi) in probabilities.enumerated() {
            cumulative += pi
            if cumulative >= Double(p) { keep = i + 1; break }
        }
        candidates.truncate(keep)
    }
}

/// Min-p (Nguyen et al. 2024): keep tokens with p_i ≥ minP · p_max, on the distribution as this
/// stage receives it (before the temperature in `Sampler`'s chain, so at T = 1). In logits:
/// z_i ≥ z_max + ln(minP). The cut scales with the model's confidence: a sure model keeps few
/// tokens, an unsure one many. Default 0 (off); 0.05–0.1 are the usual values.
public struct MinPStage: SamplerStage {
    public let minP: Float
    public init(_ minP: Float) { self.minP = minP }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        RatioCut.apply(minP, to: &candidates)
    }
}

/// topT: normalise by the top probability *after the temperature* and drop what falls below the
/// threshold τ: keep p_i^(T) / p_max^(T) ≥ τ, where p^(T) = softmax(z / T).
///
/// Relation to min-p, exactly: p_i^(T) / p_max^(T) = (p_i / p_max)^(1/T), so the condition is
/// p_i / p_max ≥ τ^T, i.e. z_i ≥ z_max + T · ln τ. topT(τ) at temperature T keeps the same set as
/// min-p(τ^T) before the temperature: identical at T = 1, stricter below 1 (T = 0.7, τ = 0.1 is
/// min-p 0.2), looser above (T = 1.5, τ = 0.1 is min-p 0.032), so it lets in more of the tail exactly
/// when the temperature has already flattened it. The threshold is on probability (a ratio), not on
/// log-probability; with an adaptive temperature T is that step's temperature. Default 0 (off).
public struct TopTStage: SamplerStage {
    public let threshold: Float
    public init(_ threshold: Float) { self.threshold = threshold }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        RatioCut.apply(threshold, to: &candidates)
    }
}

/// The cut min-p and topT share: keep z_i ≥ z_max + ln(ratio) (order kept).
enum RatioCut {
    static func apply(_ ratio: Float, to candidates: inout TokenCandidates) {
        guard ratio > 0, candidates.count > 1 else { return }
        let cut = candidates.maxLogit + log(ratio)
        candidates.keep { $0 >= cut }
    }
}

/// Fixed temperature: z ← z / T. T < 1 sharpens, T > 1 flattens. Default 0.7 in `SamplingParameters`
/// (T = 0 never reaches this stage: it means greedy).
public struct TemperatureStage: SamplerStage {
    public let temperature: Float
    public init(_ temperature: Float) { self.temperature = temperature }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        guard temperature > 0 else { return }
        candidates.divideLogits(by: temperature)
        context.temperature = temperature
    }
}

/// Per-token temperature from the model's own uncertainty (entropy-based dynamic temperature, as
/// llama.cpp's "dynatemp"):
///   H = −Σ p_i ln p_i over the N candidates this stage receives (after top-k/top-p/min-p),
///   h = H / ln N ∈ [0, 1] (0 when N = 1),
///   T = low + (high − low) · h^exponent,   z ← z / T.
/// A confident step (low entropy: mid-word, syntax) is sampled near `low`, an open one (many
/// plausible continuations) near `high`. Defaults: low 0.5, high 1.5, exponent 1. The step's T is
/// noted in the context (`SamplingContext.temperature`).
public struct AdaptiveTemperatureStage: SamplerStage {
    public let range: AdaptiveTemperatureRange
    public init(_ range: AdaptiveTemperatureRange) { self.range = range }

    public static func temperature(normalisedEntropy h: Double, range: AdaptiveTemperatureRange) -> Float {
        range.low + (range.high - range.low) * Float(pow(min(1, max(0, h)), Double(range.exponent)))
    }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        let n = candidates.count
        let h = n > 1 ? candidates.entropy() / log(Double(n)) : 0
        let t = Self.temperature(normalisedEntropy: h, range: range)
        candidates.divideLogits(by: t)
        context.temperature = t
        context.normalisedEntropy = h
    }
}

/// Greedy selection: the candidate with the largest logit (the first of equals).
public struct GreedySelection: SamplerStage {
    public init() {}
    public var isSelection: Bool { true }

    public func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        candidates.selected = candidates.argmax
    }
}

/// Seeded random selection: draws index i with probability p_i = softmax(z)_i (inverse CDF over the
/// candidates in their current order, one uniform from `SeededRandom` per draw).
public struct RandomSelection: SamplerStage {
    private var random: SeededRandom
    public init(seed: UInt64) { random = SeededRandom(seed: seed) }
    public var isSelection: Bool { true }

    public mutating func apply(to candidates: inout TokenCandidates, context: inout SamplingContext) {
        candidates.selected = Self.draw(candidates.probabilities(), &random)
    }

    /// The inverse-CDF draw: the first i with Σ_{j≤i} p_j > u (the last positive one on rounding).
    public static func draw(_ probabilities: [Double], _ random: inout SeededRandom) -> Int? {
        guard !probabilities.isEmpty else { return nil }
        var u = random.nextUnit()
        var lastPositive = 0
        for (i, pi) in probabilities.enumerated() where pi > 0 {
            lastPositive = i
            u -= pi
            if u < 0 { return i }
        }
        return lastPositive
    }
}
