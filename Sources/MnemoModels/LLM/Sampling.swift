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

/// The token candidates a sampling stage sees: ids and their logits. Stages narrow the set
/// (top-k, top-p) or reshape the logits (temperature); the last one picks a token.
public struct TokenCandidates: Sendable {
    public var ids: [Int32]
    public var logits: [Float]
    /// True once sorted by logit, most likely first.
    public private(set) var isSorted = false

    public init(logits: [Float]) {
        self.logits = logits
        ids = (0..<Int32(logits.count)).map { $0 }
    }

    public init(ids: [Int32], logits: [Float]) {
        self.ids = ids
        self.logits = logits
    }

    public var count: Int { ids.count }

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
    }

    /// Keeps the first `n` (after sorting).
    public mutating func truncate(_ n: Int) {
        guard n < ids.count else { return }
        ids.removeLast(ids.count - n)
        logits.removeLast(logits.count - n)
    }

    /// Probabilities of the candidates at the current logits (softmax over the set).
    public func probabilities() -> [Double] {
        guard let m = logits.max() else { return [] }
        let e = logits.map { exp(Double($0 - m)) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}

/// Sampling settings for `generate`. Temperature 0 is greedy decoding (the most likely token).
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Float
    /// Keep the `topK` most likely tokens (0: all).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP` (1: all).
    public var topP: Float
    /// nil: a random seed, reported in the generation's result so that it can be replayed.
    public var seed: UInt64?

    public init(temperature: Float = 0.7, topK: Int = 40, topP: Float = 0.9, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingParameters(temperature: 0, topK: 1, topP: 1)

    public var isGreedy: Bool { temperature <= 0 || topK == 1 }

    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else { throw ModelError(.badInput, "temperature must be ≥ 0 (got \(temperature))") }
        guard topK >= 0 else { throw ModelError(.badInput, "top-k must be ≥ 0 (got \(topK))") }
        guard topP > 0, topP <= 1 else { throw ModelError(.badInput, "top-p must be in (0, 1] (got \(topP))") }
    }
}

/// Picks tokens from logits: top-k, then top-p (on the distribution at temperature 1, as llama.cpp
/// orders them), then temperature, then a draw from the seeded generator; or the arg-max when greedy.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    public let seed: UInt64
    private var random: SeededRandom

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        seed = parameters.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
        random = SeededRandom(seed: seed)
    }

    public mutating func sample(_ logits: [Float]) -> Int32 {
        if parameters.isGreedy { return Self.argmax(logits) }
        var c = TokenCandidates(logits: logits)
        c.sort(keeping: parameters.topK > 0 ? parameters.topK : nil)
        if parameters.topP < 1 {
            let p = c.probabilities()
            var cumulative = 0.0, keep = p.count
            for (i, pi) in p.enumerated() {
                cumulative += pi
                if cumulative >= Double(parameters.topP) { keep = i + 1; break }
            }
            c.truncate(keep)
        }
        let t = parameters.temperature
        c.logits = c.logits.map { $0 / t }
        let p = c.probabilities()
        var u = random.nextUnit()
        for (i, pi) in p.enumerated() {
            u -= pi
            if u < 0 { return c.ids[i] }
        }
        return c.ids[c.count - 1]
    }

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
