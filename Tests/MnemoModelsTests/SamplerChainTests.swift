import Foundation
import Testing
@testable import MnemoModels

/// Logits whose softmax is `p` (ln p; exact up to float rounding).
private func logits(_ p: [Double]) -> [Float] { p.map { Float(log($0)) } }

/// Runs `stages` on `logits` and returns the candidates left.
private func run(_ stages: [any SamplerStage], _ logits: [Float], accepting history: [Int32] = []) -> TokenCandidates {
    var chain = SamplerChain(stages)
    for t in history { chain.accept(t) }
    var c = TokenCandidates(logits: logits)
    var context = SamplingContext()
    chain.apply(to: &c, context: &context)
    return c
}

/// Each stage on hand-made distributions: the exact candidate set it must leave.
@Suite struct SamplerStageTests {
    @Test func penaltiesFollowTheirFormulas() {
        // Token 0 seen twice, token 1 once: θ = 2, α_freq = 0.1, α_presence = 0.2.
        let stage = PenaltyStage(repetition: 2, frequency: 0.1, presence: 0.2, window: 64)
        let c = run([stage], [2, -1, 0.5, 3], accepting: [0, 1, 0])
        #expect(c.ids == [0, 1, 2, 3])
        #expect(abs(c.logits[0] - (2 / 2 - 2 * 0.1 - 0.2)) < 1e-6)  // positive: divided by θ
        #expect(abs(c.logits[1] - (-1 * 2 - 0.1 - 0.2)) < 1e-6)  // negative: multiplied by θ
        #expect(c.logits[2] == 0.5 && c.logits[3] == 3)  // unseen: unchanged
        // A window of 2 forgets the first 0: tokens 1 and 0 once each.
        let w = run([PenaltyStage(repetition: 1, frequency: 1, presence: 0, window: 2)], [0, 0, 0], accepting: [0, 1, 0, 1])
        #expect(w.logits == [-1, -1, 0])
        // Penalties move greedy choices: token 3 repeated loses to token 0.
        var s = Sampler(SamplingParameters(temperature: 0, topK: 1, topP: 1, repetitionPenalty: 4))
        #expect(s.sample([2, -1, 0.5, 3]) == 3)
        #expect(s.sample([2, -1, 0.5, 3]) == 0)
    }

    @Test func topKKeepsTheKMostLikelySorted() {
        let c = run([TopKStage(3)], [1, 5, 3, 4, 2])
        #expect(c.ids == [1, 3, 2] && c.isSorted)
        #expect(run([TopKStage(0)], [1, 5, 3]).ids == [0, 1, 2])  // 0: off
    }

    @Test func topPKeepsTheSmallestPrefixReachingP() {
        let l = logits([0.1, 0.4, 0.2, 0.3])
        #expect(run([TopPStage(0.65)], l).ids == [1, 3])  // 0.4 + 0.3 ≥ 0.65
        #expect(run([TopPStage(0.75)], l).ids == [1, 3, 2])  // 0.9 ≥ 0.75
        #expect(run([TopPStage(0.3)], l).ids == [1])  // the top alone reaches it
        #expect(run([TopPStage(1)], l).ids == [0, 1, 2, 3])  // 1: off
        // A large vocabulary (the negligible-tail shortcut) gives the same set as sorting all of it.
        var big = [Float](repeating: -40, count: 5000)
        for (i, v) in [(17, Float(3)), (4000, 2.5), (9, 2), (2500, 1)] { big[i] = v }
        let kept = run([TopPStage(0.95)], big)
        var full = TokenCandidates(logits: big)
        full.sort()
        let p = full.probabilities()
        var cum = 0.0, n = 0
        while cum < 0.95 { cum += p[n]; n += 1 }
        #expect(kept.ids == Array(full.ids.prefix(n)))
        #expect(kept.ids == [17, 4000, 9, 2500])
    }

    @Test func minPKeepsTokensAboveAFractionOfTheTop() {
        // p / p_max = [1, 0.6, 0.2, 0.12, 0.08]; min-p 0.15 keeps the first three, in their order.
        let l = logits([0.06, 0.5, 0.04, 0.3, 0.1])
        #expect(run([MinPStage(0.15)], l).ids == [1, 3, 4])
        #expect(run([MinPStage(0.15)], l).isSorted == false)
        #expect(run([MinPStage(0.1)], l).ids == [0, 1, 3, 4])  // 0.12 ≥ 0.1
        #expect(run([MinPStage(1)], l).ids == [1])  // only the top
    }

    /// topT(τ) after temperature T keeps exactly what min-p(τ^T) keeps before it.
    @Test func topTIsMinPWithThresholdToThePowerT() {
        // p / p_max = [1, 0.6, 0.2, 0.08, 0.04].
        let l = logits([0.5, 0.3, 0.1, 0.04, 0.02])
        // T = 2, τ = 0.25: ratios after T are √(p/p_max) = [1, 0.77, 0.45, 0.28, 0.2] → four kept;
        // min-p 0.25 at T = 1 keeps two; min-p 0.25² = 0.0625 keeps the same four.
        let hot = run([TemperatureStage(2), TopTStage(0.25)], l)
        #expect(hot.ids == [0, 1, 2, 3])
        #expect(run([MinPStage(0.25)], l).ids == [0, 1])
        #expect(run([MinPStage(0.0625)], l).ids == hot.ids)
        // T = 0.5: τ^T = 0.5 → two kept; T = 1: identical to min-p τ.
        #expect(run([TemperatureStage(0.5), TopTStage(0.25)], l).ids == [0, 1])
        #expect(run([TemperatureStage(1), TopTStage(0.25)], l).ids == run([MinPStage(0.25)], l).ids)
    }

    @Test func temperatureDividesTheLogits() {
        var context = SamplingContext()
        var c = TokenCandidates(logits: [2, -1, 4])
        TemperatureStage(0.5).apply(to: &c, context: &context)
        #expect(c.logits == [4, -2, 8] && context.temperature == 0.5)
    }

    @Test func adaptiveTemperatureFollowsTheNormalisedEntropy() throws {
        let range = AdaptiveTemperatureRange(low: 0.5, high: 1.5)
        func applied(_ l: [Float]) -> SamplingContext {
            var context = SamplingContext()
            var c = TokenCandidates(logits: l)
            AdaptiveTemperatureStage(range).apply(to: &c, context: &context)
            return context
        }
        // Uniform: h = 1 → T = high.
        #expect(abs((applied([0, 0, 0, 0]).temperature ?? 0) - 1.5) < 1e-5)
        // One candidate: h = 0 → T = low.
        #expect(applied([3]).temperature == 0.5)
        // p = [0.9, 0.1]: H = 0.325083 nats, h = H / ln 2 = 0.468996 → T = 0.968996.
        let two = applied(logits([0.9, 0.1]))
        #expect(abs((two.normalisedEntropy ?? 0) - 0.468996) < 1e-5)
        #expect(abs((two.temperature ?? 0) - 0.968996) < 1e-5)
        // The exponent bends the curve: h² with exponent 2.
        #expect(abs(AdaptiveTemperatureStage.temperature(normalisedEntropy: 0.5, range: .init(low: 0.5, high: 1.5, exponent: 2)) - 0.75) < 1e-6)
        #expect(throws: ModelError.self) { try AdaptiveTemperatureRange(low: 1.5, high: 0.5).validate() }
        #expect(throws: ModelError.self) { try AdaptiveTemperatureRange(parsing: "0.5") }
        #expect(try AdaptiveTemperatureRange(parsing: "0.4:1.2") == AdaptiveTemperatureRange(low: 0.4, high: 1.2))
    }

    @Test func selectionStagesPickAToken() {
        #expect(run([GreedySelection()], [0.1, 2.5, -1, 2.5]).selected == 1)  // the first of equals
        var chain = SamplerChain([TopKStage(2), RandomSelection(seed: 1)])
        for _ in 0..<200 { #expect([1, 3].contains(chain.sample([0.1, 2.5, -1, 2.4]))) }
    }

    /// A chain is itself a stage: nested chains run in order and see accepted tokens.
    @Test func chainsNestAndSeeAcceptedTokens() {
        var outer = SamplerChain([SamplerChain([PenaltyStage(repetition: 1, frequency: 10, presence: 0, window: 8)]), GreedySelection()])
        #expect(outer.isSelection)
        #expect(outer.sample([1, 3, 2]) == 1)
        #expect(outer.sample([1, 3, 2]) == 2)  // token 1 penalised by the nested stage
        #expect(outer.sample([1, 3, 2]) == 0)
    }

    @Test func samplerBuildsTheDocumentedOrder() {
        let p = SamplingParameters(temperature: 0.8, topK: 40, topP: 0.9, seed: 1, minP: 0.05, topT: 0.1, repetitionPenalty: 1.1,
                                   adaptiveTemperature: .init())
        let names = Sampler(p).chain.stages.map { String(describing: type(of: $0)) }
        #expect(names == ["PenaltyStage", "TopKStage", "TopPStage", "MinPStage", "AdaptiveTemperatureStage", "TopTStage", "RandomSelection"])
        let greedy = Sampler(.greedy).chain.stages.map { String(describing: type(of: $0)) }
        #expect(greedy == ["GreedySelection"])
        // Defaults leave the first version's chain: top-k → top-p → temperature → draw.
        let plain = Sampler(SamplingParameters(seed: 1)).chain.stages.map { String(describing: type(of: $0)) }
        #expect(plain == ["TopKStage", "TopPStage", "TemperatureStage", "RandomSelection"])
    }

    @Test func bannedTokensAreNeverChosen() {
        var greedy = Sampler(.greedy)
        #expect(greedy.sample([0.1, 2.5, -1, 2.4], banning: [1]) == 3)
        var s = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 5))
        for _ in 0..<500 { #expect(s.sample([0, 0, 0], banning: [0, 2]) == 1) }
    }

    @Test func distributionIsWhatTheDrawUses() {
        var s = Sampler(SamplingParameters(temperature: 0.5, topK: 2, topP: 1, seed: 1))
        let d = s.distribution(logits([0.5, 0.3, 0.2]))
        #expect(d.ids == [0, 1])
        // (0.5 / 0.3)^(1/0.5) = 2.778: p = 2.778 / 3.778.
        #expect(abs(d.probabilities()[0] - (25.0 / 9) / (25.0 / 9 + 1)) < 1e-6)
    }

    @Test func newParametersAreValidatedAndOptionalWhenDecoded() throws {
        #expect(throws: ModelError.self) { try SamplingParameters(minP: 1.5).validate() }
        #expect(throws: ModelError.self) { try SamplingParameters(topT: -0.1).validate() }
        #expect(throws: ModelError.self) { try SamplingParameters(repetitionPenalty: 0).validate() }
        #expect(throws: ModelError.self) { try SamplingParameters(penaltyWindow: -1).validate() }
        #expect(throws: ModelError.self) { try SamplingParameters(rollback: RollbackParameters(window: 0)).validate() }
        let old = try JSONDecoder().decode(SamplingParameters.self, from: Data(#"{"temperature":0.5,"topK":10,"topP":0.8}"#.utf8))
        #expect(old == SamplingParameters(temperature: 0.5, topK: 10, topP: 0.8))
        let full = SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 9, minP: 0.1, topT: 0.2, repetitionPenalty: 1.2,
                                      adaptiveTemperature: .init(low: 0.3, high: 1.1), rollback: .init(window: 3))
        #expect(try JSONDecoder().decode(SamplingParameters.self, from: JSONEncoder().encode(full)) == full)
    }
}

// MARK: - Test doubles over fixed distributions

/// A sequence "model" whose next-token logits depend only on the last token fed (a Markov chain):
/// `table[t]` after token t. Holds its tokens, so truncation is exact.
final class MarkovPredictor: TokenPredictor {
    let table: [[Float]]
    private(set) var fed: [Int32] = []
    var feeds = 0
    init(_ table: [[Float]]) { self.table = table }
    var vocabularySize: Int { table.count }
    var count: Int { fed.count }
    var capacity: Int { 10_000 }
    func feed(_ tokens: [Int32], logits: LogitsRequest) throws -> [Float] {
        feeds += 1
        fed += tokens
        let rows = tokens.map { table[Int($0)] }
        return logits == .all ? rows.flatMap { $0 } : rows[rows.count - 1]
    }
    func truncate(to n: Int) { fed.removeLast(fed.count - min(fed.count, n)) }
}

/// Peaked on a cycling "good" token (0…3) with `bad` tokens close behind; once any bad token has been
/// fed, every distribution after it is uniform: a constructed collapse of confidence.
final class PoisonPredictor: TokenPredictor {
    let bad: Set<Int32>
    let badOffset: Float
    private(set) var fed: [Int32] = []
    init(bad: Set<Int32>, badOffset: Float) {
        self.bad = bad
        self.badOffset = badOffset
    }
    var vocabularySize: Int { 16 }
    var count: Int { fed.count }
    var capacity: Int { 10_000 }
    func row(afterCount n: Int, poisoned: Bool) -> [Float] {
        if poisoned { return [Float](repeating: 0, count: 16) }
        var r = [Float](repeating: -20, count: 16)
        r[n % 4] = 5
        for b in bad { r[Int(b)] = 5 + badOffset }
        return r
    }
    func feed(_ tokens: [Int32], logits: LogitsRequest) throws -> [Float] {
        var rows: [[Float]] = []
        for t in tokens {
            fed.append(t)
            rows.append(row(afterCount: fed.count, poisoned: fed.contains { bad.contains($0) }))
        }
        return logits == .all ? rows.flatMap { $0 } : rows[rows.count - 1]
    }
    func truncate(to n: Int) { fed.removeLast(fed.count - min(fed.count, n)) }
}

@Suite struct SpeculativeDecodingTests {
    static let target: [[Float]] = [
        [0.2, 1.5, 0.1, -0.5], [1.2, -0.3, 0.9, 0.4], [0.0, 0.0, 1.1, 0.6], [1.4, 0.2, -1.0, 0.8],
    ]
    static let draft: [[Float]] = [
        [0.9, 1.0, -0.4, 0.3], [0.2, 0.1, 1.3, 0.0], [0.5, 0.3, 0.2, 1.0], [1.0, 1.0, 0.1, -0.2],
    ]

    func speculative(_ p: SamplingParameters, maxTokens: Int, settings: SpeculativeSettings,
                     target: MarkovPredictor, draft: MarkovPredictor) throws -> SpeculativeDecoding.Outcome {
        target.truncate(to: 0)
        draft.truncate(to: 0)
        let first = try target.feed([0], logits: .last)
        _ = try draft.feed([0], logits: .last)
        var sampler = Sampler(p)
        return try SpeculativeDecoding.run(target: target, draft: draft, firstLogits: first, sampler: &sampler, settings: settings,
                                           maxTokens: maxTokens, endTokens: [], emit: { _ in .continue })
    }

    /// Prompt lookup proposes what followed the latest earlier occurrence of the longest matching suffix
    /// (3, 2, then 1 tokens); nothing after a vector slot (-1), nothing without a match.
    @Test func promptLookupCopiesWhatFollowedTheSuffix() {
        #expect(PromptLookupDrafter.lookup([5, 6, 7, 8, 9, 1, 5, 6, 7], maxNgram: 3, count: 4) == [8, 9, 1, 5])
        #expect(PromptLookupDrafter.lookup([5, 6, 7, 2, 6, 3, 9, 6], maxNgram: 3, count: 2) == [3, 9])  // the latest "6"
        #expect(PromptLookupDrafter.lookup([1, 2, 3, 4], maxNgram: 3, count: 4).isEmpty)
        #expect(PromptLookupDrafter.lookup([4, 7, -1, 8, 4, 7], maxNgram: 2, count: 3).isEmpty)
        #expect(PromptLookupDrafter.lookup([4, 7, 3, -1, 4, 7], maxNgram: 2, count: 3) == [3])
    }

    /// A prompt that repeats the target's own greedy cycle: lookup drafts from it, and greedy output is the
    /// target's plain greedy output; sampled lookup keeps the sampling distribution (chi-square).
    @Test func promptLookupKeepsGreedyOutputAndTheSampledDistribution() throws {
        let target = MarkovPredictor(Self.target)
        let first = try target.feed([0], logits: .last)
        var plainSampler = Sampler(.greedy)
        let plain = try TokenLoop.run(target, firstLogits: first, sampler: &plainSampler, maxTokens: 20, endTokens: [],
                                      rollback: nil, emit: { _ in .continue })
        func lookup(_ p: SamplingParameters, prompt: [Int32], maxTokens: Int) throws -> SpeculativeDecoding.Outcome {
            target.truncate(to: 0)
            let first = try target.feed([0], logits: .last)
            var sampler = Sampler(p)
            var drafter = PromptLookupDrafter(prompt: prompt, maxNgram: 3)
            return try SpeculativeDecoding.run(target: target, drafter: &drafter, firstLogits: first, sampler: &sampler,
                                               settings: .init(draftTokens: 4, costModel: false), maxTokens: maxTokens, endTokens: [], logprobs: 2,
                                               emit: { _ in .continue })
        }
        for prompt in [[0] + plain.tokens, [0, 3, 2, 1, 0, 2], [0]] {
            let out = try lookup(.greedy, prompt: prompt, maxTokens: 20)
            #expect(out.tokens == plain.tokens)
            #expect(out.logprobs.map(\.token) == out.tokens)
        }
        let copied = try lookup(.greedy, prompt: [0] + plain.tokens, maxTokens: 20)
        #expect(copied.report.accepted > 10 && copied.report.rounds < 10 && copied.report.draftPasses == 0)

        let params = SamplingParameters(temperature: 0.8, topK: 0, topP: 1, minP: 0.3)
        var probe = Sampler(params)
        let next = Self.target.map { row -> [Double] in
            let d = probe.distribution(row)
            var p = [Double](repeating: 0, count: 4)
            for (id, v) in zip(d.ids, d.probabilities()) { p[Int(id)] = v }
            return p
        }
        var expected: [[Int32]: Double] = [:]
        for a in 0..<4 { for b in 0..<4 { for c in 0..<4 {
            let p = next[0][a] * next[a][b] * next[b][c]
            if p > 0 { expected[[a, b, c].map { Int32($0) }] = p }
        } } }
        let n = 20_000
        var counts: [[Int32]: Int] = [:]
        var report = SpeculativeReport()
        for seed in 0..<UInt64(n) {
            var p = params
            p.seed = seed
            let out = try lookup(p, prompt: [0, 1, 0, 2, 3, 0, 1, 2, 0], maxTokens: 3)
            counts[out.tokens, default: 0] += 1
            report.drafted += out.report.drafted
            report.accepted += out.report.accepted
        }
        #expect(counts.keys.allSatisfy { expected[$0] != nil })
        var chi2 = 0.0
        for (seq, p) in expected {
            let e = p * Double(n)
            let o = Double(counts[seq] ?? 0)
            chi2 += (o - e) * (o - e) / e
        }
        let df = Double(expected.count - 1)
        #expect(chi2 < df + 3.1 * (2 * df).squareRoot() + 3, "chi² = \(chi2) over \(expected.count) cells")
        #expect(report.accepted > 0 && report.accepted < report.drafted)
    }

    /// The cost model drafts when measured times say it pays and not when they say it loses: a plain
    /// step first, then one round drafting a single token, then the best length for the measured costs.
    @Test func draftCostModelDraftsOnlyWhenItPays() {
        let settings = SpeculativeSettings(draftTokens: 4, maxDraftTokens: 12)
        // A cheap draft the target agrees with: verification of n positions costs 10 ms + 1 ms a position.
        var cheap = DraftCostModel(settings: settings)
        #expect(cheap.nextLength() == 0)
        cheap.record(drafted: 0, accepted: 0, draftTime: 0, verifyTime: 0.010)
        #expect(cheap.nextLength() == 1)
        cheap.record(drafted: 1, accepted: 1, draftTime: 0.001, verifyTime: 0.011)
        for _ in 0..<20 {
            cheap.record(drafted: 4, accepted: 4, draftTime: 4 * 0.001, verifyTime: 0.014)
        }
        #expect(cheap.nextLength() >= 8)
        // A draft as slow as the target that is wrong half the time: plain decoding, with rare probes.
        var slow = DraftCostModel(settings: settings)
        slow.record(drafted: 0, accepted: 0, draftTime: 0, verifyTime: 0.010)
        for _ in 0..<10 { slow.record(drafted: 4, accepted: 1, draftTime: 4 * 0.010, verifyTime: 0.016) }
        var lengths: [Int] = []
        for _ in 0..<40 {
            let length = slow.nextLength()
            lengths.append(length)
            slow.record(drafted: length, accepted: 0, draftTime: Double(length) * 0.010, verifyTime: 0.010 + Double(length) * 0.0015)
        }
        let drafting = lengths.filter { $0 > 0 }.count
        #expect(lengths.first == 0 && drafting >= 1 && drafting <= 4, "\(lengths)")
        #expect(DraftCostModel.expectedTokens(length: 3, alpha: 0.5) == 1.875)
    }

    @Test func greedySpeculativeEqualsTargetGreedy() throws {
        let target = MarkovPredictor(Self.target), draft = MarkovPredictor(Self.draft)
        let first = try target.feed([0], logits: .last)
        var plainSampler = Sampler(.greedy)
        let plain = try TokenLoop.run(target, firstLogits: first, sampler: &plainSampler, maxTokens: 20, endTokens: [],
                                      rollback: nil, emit: { _ in .continue })
        for settings in [SpeculativeSettings(draftTokens: 1, adaptive: false), SpeculativeSettings(draftTokens: 3, costModel: false),
                         SpeculativeSettings(draftTokens: 8, adaptive: false), SpeculativeSettings(draftTokens: 3)] {
            let spec = try speculative(.greedy, maxTokens: 20, settings: settings, target: target, draft: draft)
            #expect(spec.tokens == plain.tokens)
            // The draft disagrees sometimes (the cost model's lengths follow measured times, so not asked of it).
            if !settings.costModel || !settings.adaptive {
                #expect(spec.report.drafted > 0 && spec.report.accepted < spec.report.drafted)
            }
            #expect(target.fed == [0] + spec.tokens.dropLast())  // the last token stays pending
        }
        // A draft identical to the target is always right.
        let same = try speculative(.greedy, maxTokens: 20, settings: .init(draftTokens: 4), target: target, draft: MarkovPredictor(Self.target))
        #expect(same.tokens == plain.tokens && same.report.accepted == same.report.drafted)
    }

    /// Sampled speculative decoding draws 4-token sequences with the target's sampling distribution
    /// (temperature 0.8 and min-p 0.3 applied): a chi-square test over every sequence, 20 000 draws.
    @Test func sampledSpeculativeKeepsTheTargetDistribution() throws {
        let params = SamplingParameters(temperature: 0.8, topK: 0, topP: 1, minP: 0.3)
        var probe = Sampler(params)
        let next = Self.target.map { row -> [Double] in
            let d = probe.distribution(row)
            var p = [Double](repeating: 0, count: 4)
            for (id, v) in zip(d.ids, d.probabilities()) { p[Int(id)] = v }
            return p
        }
        #expect(next.contains { $0.contains(0) })  // min-p cuts something: the draft proposes tokens the target never takes
        var expected: [[Int32]: Double] = [:]
        for a in 0..<4 { for b in 0..<4 { for c in 0..<4 { for d in 0..<4 {
            let p = next[0][a] * next[a][b] * next[b][c] * next[c][d]
            if p > 0 { expected[[a, b, c, d].map { Int32($0) }] = p }
        } } } }
        let target = MarkovPredictor(Self.target), draft = MarkovPredictor(Self.draft)
        let n = 20_000
        var counts: [[Int32]: Int] = [:]
        var report = SpeculativeReport()
        for seed in 0..<UInt64(n) {
            var p = params
            p.seed = seed
            let out = try speculative(p, maxTokens: 4, settings: .init(draftTokens: 3, adaptive: false), target: target, draft: draft)
            counts[out.tokens, default: 0] += 1
            report.drafted += out.report.drafted
            report.accepted += out.report.accepted
        }
        #expect(counts.keys.allSatisfy { expected[$0] != nil })  // nothing outside the target's support
        var chi2 = 0.0
        for (seq, p) in expected {
            let e = p * Double(n)
            let o = Double(counts[seq] ?? 0)
            chi2 += (o - e) * (o - e) / e
        }
        // Degrees of freedom: cells − 1; the 0.001 critical value is below df + 3.1·√(2 df) + 3 for these sizes.
        let df = Double(expected.count - 1)
        #expect(chi2 < df + 3.1 * (2 * df).squareRoot() + 3, "chi² = \(chi2) over \(expected.count) cells")
        #expect(report.accepted > 0 && report.accepted < report.drafted)  // both branches ran
    }
}

@Suite struct RollbackTests {
    func generate(_ predictor: PoisonPredictor, _ rollback: RollbackParameters, seed: UInt64, maxTokens: Int = 40)
        throws -> (TokenLoop.Outcome, [Int32]) {
        let first = try predictor.feed([0], logits: .last)
        var sampler = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: seed, rollback: rollback))
        var streamed: [Int32] = []
        let out = try TokenLoop.run(predictor, firstLogits: first, sampler: &sampler, maxTokens: maxTokens, endTokens: [],
                                    rollback: rollback) { token in
            streamed.append(token)
            return .continue
        }
        return (out, streamed)
    }

    /// A poison token (p ≈ 0.18 a step) makes every later distribution uniform: each draw of it is
    /// rolled back, banned at that position and replaced by the model's first choice.
    @Test func aCollapseIsRolledBackAndTheTokenBanned() throws {
        let predictor = PoisonPredictor(bad: [15], badOffset: -1.5)
        let r = RollbackParameters(window: 4, warmup: 0, maxRetriesPerPosition: 2, maxRollbacks: 50)
        var total = 0
        for seed in 1...5 as ClosedRange<UInt64> {
            predictor.truncate(to: 0)
            let (out, streamed) = try generate(predictor, r, seed: seed)
            let report = try #require(out.rollback)
            total += report.rollbacks
            #expect(out.tokens.count == 40)
            #expect(streamed == out.tokens)  // the caller saw only the final tokens, in order
            // Every token that could be judged (all but the last W) is clean.
            #expect(!out.tokens.dropLast(r.window).contains(15))
            for j in report.positions { #expect(out.tokens[j] != 15) }
            #expect(report.wastedSteps >= report.rollbacks)
            #expect(Array(predictor.fed.dropFirst()) == Array(out.tokens.prefix(predictor.fed.count - 1)))  // cache = prompt + tokens prefix
        }
        #expect(total >= 5)  // 5 × 40 draws at p ≈ 0.18: rollbacks happen
    }

    /// Every non-first choice collapses: rollbacks stop at the per-generation bound, retries of one
    /// step at the per-position bound, and the rest is kept (refused).
    @Test func rollbacksAreBounded() throws {
        let predictor = PoisonPredictor(bad: [4, 5, 6], badOffset: -0.5)
        for (perPosition, total) in [(2, 3), (1, 5)] {
            predictor.truncate(to: 0)
            let r = RollbackParameters(window: 3, warmup: 0, maxRetriesPerPosition: perPosition, maxRollbacks: total)
            let (out, streamed) = try generate(predictor, r, seed: 11, maxTokens: 60)
            let report = try #require(out.rollback)
            #expect(report.rollbacks <= total)
            #expect(report.rollbacks + report.refused >= 1)
            for j in Set(report.positions) { #expect(report.positions.filter { $0 == j }.count <= perPosition) }
            #expect(out.tokens.count == 60 && streamed == out.tokens)
        }
        // Without rollback the same generations keep their bad tokens.
        predictor.truncate(to: 0)
        let first = try predictor.feed([0], logits: .last)
        var sampler = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 11))
        let plain = try TokenLoop.run(predictor, firstLogits: first, sampler: &sampler, maxTokens: 60, endTokens: [], rollback: nil) { _ in .continue }
        #expect(plain.tokens.contains { [4, 5, 6].contains($0) } && plain.rollback == nil)
    }

    @Test func topProbabilityIsTheSoftmaxMaximum() {
        #expect(abs(TokenLoop.topProbability([0, 0, 0, 0]) - 0.25) < 1e-12)
        #expect(abs(TokenLoop.topProbability(logits([0.7, 0.2, 0.1])) - 0.7) < 1e-6)
    }
}

/// The real SmolLM2 (installed by `make setup`) through `LanguageModel.generate`.
@Suite(.tags(.realModel), .needsModels) struct SamplerChainModelTests {
    /// SmolLM2 drafting for itself: greedy speculative output is plain greedy output.
    @Test func realModelGreedySpeculativeEqualsPlainGreedy() throws {
        let llm = try smolLM.get()
        for text in ["The capital of France is", "def fibonacci(n):"] {
            let ids = llm.encode(text).map { DecoderInput.token($0) }
            let plain = try llm.generate(ids, parameters: .init(maxTokens: 32, sampling: .greedy))
            var streamed = ""
            let spec = try llm.generate(ids, parameters: .init(maxTokens: 32, sampling: .greedy,
                                                               speculative: .init(draft: llm, settings: .init(draftTokens: 3)))) { _, piece in
                streamed += piece
                return .continue
            }
            #expect(spec.tokens == plain.tokens, "\(text): \(spec.text) vs \(plain.text)")
            #expect(streamed == spec.text)
            let report = try #require(spec.speculative)
            #expect(report.acceptanceRate > 0.9 && report.rounds < plain.tokens.count)
        }
    }

    /// A draft whose head scores only part of the vocabulary: its logits are the full head's on the kept rows
    /// and -infinity elsewhere, and greedy speculative output is still plain greedy output.
    @Test func realModelCheaperDraftHeadKeepsGreedyOutput() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("def fibonacci(n):").map { DecoderInput.token($0) }
        let full = try llm.model.forward(ids, state: llm.model.makeState(capacity: 64))
        let cut = llm.model.makeState(capacity: 64)
        cut.outputRows = (4096, llm.model.config.vocabSize - 100)
        let head = try llm.model.forward(ids, state: cut)
        #expect(Array(head[..<4096]) == Array(full[..<4096]))
        #expect(Array(head[(llm.model.config.vocabSize - 100)...]) == Array(full[(llm.model.config.vocabSize - 100)...]))
        #expect(head[4096..<(llm.model.config.vocabSize - 100)].allSatisfy { $0 == -.infinity })
        for text in ["The capital of France is", "def fibonacci(n):"] {
            let prompt = llm.encode(text).map { DecoderInput.token($0) }
            let plain = try llm.generate(prompt, parameters: .init(maxTokens: 32, sampling: .greedy))
            let spec = try llm.generate(prompt, parameters: .init(maxTokens: 32, sampling: .greedy, speculative: .init(
                draft: llm, settings: .init(draftTokens: 3, adaptive: false, draftVocabulary: 2048))))
            #expect(spec.tokens == plain.tokens, "\(text): \(spec.text) vs \(plain.text)")
            #expect((spec.speculative?.drafted ?? 0) > 0)
        }
    }

    /// With the real model, prompt lookup over a prompt that quotes text gives the plain greedy tokens,
    /// accepts drafts, and reports logprobs for every token.
    @Test func realModelPromptLookupEqualsPlainGreedy() throws {
        let llm = try smolLM.get()
        let text = "Notes: The spare key is under the blue flowerpot by the shed. The boiler was serviced by Dunmore Heating on 3 March.\nRepeat the notes: The spare key"
        let ids = llm.encode(text).map { DecoderInput.token($0) }
        let plain = try llm.generate(ids, parameters: .init(maxTokens: 32, sampling: .greedy, logprobs: 0))
        var streamed = ""
        let fast = try llm.generate(ids, parameters: .init(maxTokens: 32, sampling: .greedy, speculative: .promptLookup(), logprobs: 0)) { _, piece in
            streamed += piece
            return .continue
        }
        #expect(fast.tokens == plain.tokens, "\(fast.text) vs \(plain.text)")
        #expect(streamed == fast.text)
        #expect(fast.logprobs?.map(\.token) == plain.logprobs?.map(\.token))
        let report = try #require(fast.speculative)
        #expect(report.accepted > 0 && report.rounds < plain.tokens.count && report.draftPasses == 0)
    }

    @Test func realModelRollbackAndAdaptiveTemperatureRun() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("Once upon a time").map { DecoderInput.token($0) }
        let p = SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 3, minP: 0.02,
                                   adaptiveTemperature: .init(low: 0.6, high: 1.6), rollback: RollbackParameters())
        var streamed = ""
        let a = try llm.generate(ids, parameters: .init(maxTokens: 24, sampling: p)) { _, piece in
            streamed += piece
            return .continue
        }
        let b = try llm.generate(ids, parameters: .init(maxTokens: 24, sampling: p))
        #expect(a.tokens == b.tokens && streamed == a.text)  // reproducible with rollback on
        #expect(a.rollback != nil && (a.meanTemperature ?? 0) >= 0.6 && (a.meanTemperature ?? 9) <= 1.6)
    }

    @Test func speculativeRefusesWhatItCannotDo() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("Hello").map { DecoderInput.token($0) }
        let spec = SpeculativeParameters(draft: llm)
        // Rollback with a draft, soft tokens, a used state.
        #expect(throws: ModelError.self) {
            try llm.generate(ids, parameters: .init(maxTokens: 4, sampling: .init(rollback: .init()), speculative: spec))
        }
        #expect(throws: ModelError.self) {
            try llm.generate([.vector(llm.model.embedding(of: 1))], parameters: .init(maxTokens: 4, speculative: spec))
        }
        let state = llm.model.makeState(capacity: 64)
        _ = try llm.model.forward(ids, state: state)
        #expect(throws: ModelError.self) { try llm.generate(ids, parameters: .init(maxTokens: 4, speculative: spec), state: state) }
    }

    /// Qwen2.5-0.5B cannot draft for SmolLM2: the vocabularies differ, and the error says how.
    @Test func realModelDraftWithAnotherVocabularyIsRefused() throws {
        let llm = try smolLM.get()
        let qwen = try LanguageModel(path: ModelLocator.resolve("qwen-0.5b"))
        do {
            try llm.checkDraftCompatibility(qwen)
            Issue.record("no error")
        } catch let e as ModelError {
            #expect(e.message.contains("151") && e.message.contains("49152"))
        }
    }
}
