import Foundation

/// How many tokens the draft proposes per round, and whether that adapts.
///
/// Adaptive (the default): after a round where every drafted token was kept the length grows by one
/// (up to `maxDraftTokens`); after a rejection it shrinks by one (down to 1), so a draft that agrees
/// with the target drafts long and one that does not costs little.
///
/// With `costModel` (the default when adaptive) the length comes from measurement instead: each round's
/// draft and verification times and the acceptance so far (`DraftCostModel`) give the length that
/// commits the most tokens per second, and none at all (a plain decoding step) when drafting would
/// lose, so speculative decoding is never slower than plain decoding by more than its probes.
public struct SpeculativeSettings: Sendable, Equatable {
    /// Draft length of every round when not adaptive, and of the first under the ±1 rule (the cost model measures with 1).
    public var draftTokens: Int
    public var adaptive: Bool
    public var maxDraftTokens: Int
    /// Whether an adaptive length follows the measured costs (else: +1 after a round fully kept, −1 after a rejection).
    public var costModel: Bool
    /// A draft model's cheaper head: it scores only the first `draftVocabulary` tokens (a byte-level BPE
    /// vocabulary numbers the common ones first) and the special tokens, so it never proposes another; the
    /// target checks every token over its whole vocabulary, so output is unchanged. Nil: the whole vocabulary.
    public var draftVocabulary: Int?

    public init(draftTokens: Int = 4, adaptive: Bool = true, maxDraftTokens: Int = 12, costModel: Bool = true, draftVocabulary: Int? = nil) {
        self.draftTokens = draftTokens
        self.adaptive = adaptive
        self.maxDraftTokens = max(maxDraftTokens, draftTokens)
        self.costModel = costModel
        self.draftVocabulary = draftVocabulary
    }

    public func validate() throws {
        guard draftTokens >= 1 else { throw ModelError(.badInput, "draft tokens must be ≥ 1 (got \(draftTokens))") }
        if let n = draftVocabulary { guard n >= 256 else { throw ModelError(.badInput, "a draft vocabulary needs at least 256 tokens (got \(n))") } }
        guard maxDraftTokens <= 64 else { throw ModelError(.badInput, "at most 64 draft tokens a round (got \(maxDraftTokens))") }
    }
}

/// Speculative decoding: where drafts come from, and how many a round.
public struct SpeculativeParameters: Sendable {
    public enum Source: Sendable {
        /// A smaller model of the same vocabulary drafts (token prompts, a fresh state).
        case model(LanguageModel)
        /// Drafts are copied from the prompt and the text so far: after the last `maxNgram` (down to 1)
        /// tokens, the tokens that followed their latest earlier occurrence. No draft model, no draft
        /// passes; suits answers quoted from notes or chat history (Saxena's prompt lookup decoding).
        case promptLookup(maxNgram: Int)
    }

    public var source: Source
    public var settings: SpeculativeSettings

    public init(draft: LanguageModel, settings: SpeculativeSettings = .init()) {
        source = .model(draft)
        self.settings = settings
    }

    public static func promptLookup(maxNgram: Int = 3, settings: SpeculativeSettings = .init()) -> SpeculativeParameters {
        SpeculativeParameters(source: .promptLookup(maxNgram: maxNgram), settings: settings)
    }

    init(source: Source, settings: SpeculativeSettings) {
        self.source = source
        self.settings = settings
    }

    /// The draft model, when one drafts.
    public var draft: LanguageModel? { if case .model(let m) = source { m } else { nil } }
}

/// Where a round's draft tokens come from.
protocol Drafter {
    /// Up to `count` tokens to follow the prompt and `generated`, each with the distribution it was drawn
    /// from; nil distributions for a fixed proposal (prompt lookup), which the acceptance rule treats as
    /// a distribution with all its mass on the proposed token.
    mutating func propose(generated: [Int32], count: Int, sampler: Sampler,
                          choose: (TokenCandidates) -> Int32?) throws -> (tokens: [Int32], proposals: [TokenCandidates]?)
    /// `generated` tokens are now committed (the last one still pending in the target).
    mutating func committed(_ generated: Int)
    /// Generation ended with `generated` tokens.
    mutating func finish(_ generated: Int)
    var passes: Int { get }
}

/// A draft model over its own KV cache, kept a prefix of the target's.
struct ModelDrafter<D: TokenPredictor>: Drafter {
    let draft: D
    let base: Int
    let endTokens: Set<Int32>
    var passes = 0

    mutating func propose(generated: [Int32], count: Int, sampler: Sampler,
                          choose: (TokenCandidates) -> Int32?) throws -> (tokens: [Int32], proposals: [TokenCandidates]?) {
        let count = min(count, draft.capacity - base - generated.count + 1)
        guard count > 0 else { return ([], []) }
        var drafted: [Int32] = []
        var proposals: [TokenCandidates] = []
        var ds = sampler
        var q = try draft.feed(Array(generated[(draft.count - base)...]), logits: .last)
        passes += 1
        for i in 0..<count {
            let dist = ds.distribution(q)
            guard let d = choose(dist) else { break }
            ds.accept(d)
            drafted.append(d)
            proposals.append(dist)
            if endTokens.contains(d) || i == count - 1 { break }
            q = try draft.feed([d], logits: .last)
            passes += 1
        }
        return (drafted, proposals)
    }

    mutating func committed(_ generated: Int) { draft.truncate(to: min(draft.count, base + generated - 1)) }
    mutating func finish(_ generated: Int) { draft.truncate(to: min(draft.count, base + generated)) }
}

/// Drafts copied from earlier text: the tokens after the latest earlier occurrence of the last n tokens.
struct PromptLookupDrafter: Drafter {
    /// The prompt's token ids (-1 where an input vector sits: it matches nothing).
    let prompt: [Int32]
    let maxNgram: Int
    var passes: Int { 0 }

    func propose(generated: [Int32], count: Int, sampler: Sampler,
                 choose: (TokenCandidates) -> Int32?) throws -> (tokens: [Int32], proposals: [TokenCandidates]?) {
        (Self.lookup(prompt + generated, maxNgram: maxNgram, count: count), nil)
    }

    static func lookup(_ history: [Int32], maxNgram: Int, count: Int) -> [Int32] {
        guard count > 0, history.count >= 2 else { return [] }
        let end = history.count
        for n in stride(from: min(maxNgram, end - 1), through: 1, by: -1) {
            let suffix = history[(end - n)...]
            guard !suffix.contains(-1) else { continue }
            // Latest earlier occurrence first: the nearest context is the likeliest to continue alike.
            var start = end - n - 1
            while start >= 0 {
                if history[start..<(start + n)].elementsEqual(suffix) {
                    let from = start + n
                    var out: [Int32] = []
                    for t in history[from..<min(end, from + count)] {
                        if t < 0 { break }
                        out.append(t)
                    }
                    if !out.isEmpty { return out }
                }
                start -= 1
            }
        }
        return []
    }

    func committed(_ generated: Int) {}
    func finish(_ generated: Int) {}
}

/// Chooses each round's draft length from what rounds have cost so far (Leviathan et al.'s analysis
/// with measured times): with a per-token acceptance α, a draft of γ commits on average
/// (1 − α^(γ+1)) / (1 − α) tokens for γ draft steps plus one target pass over γ + 1 positions; the γ
/// (0 … max) with the most tokens per second wins, where γ = 0 is a plain step. Times are measured,
/// never assumed: a plain step's (the first round is one), the draft's per token, and the target's
/// extra cost per verified position, from rounds of different sizes.
struct DraftCostModel {
    /// Decayed sums (recent rounds count most; the text and the cache length move the costs).
    private var plainSeconds = 0.0, plainCount = 0.0
    private var draftSeconds = 0.0, draftTokens = 0.0
    private var extraSeconds = 0.0, extraPositions = 0.0
    private var kept = 0.0, rejected = 0.0
    /// Rounds since drafting was last tried, and how many plain rounds pass before it is tried again.
    private var plainRun = 0, probeAfter = 16
    let maxLength: Int
    private let decay = 0.9

    init(settings: SpeculativeSettings) {
        maxLength = settings.maxDraftTokens
    }

    /// A round's measurements: `drafted` tokens proposed in `draftTime`, a target pass over
    /// `drafted + 1` positions in `verifyTime`, `accepted` of the drafts kept.
    mutating func record(drafted: Int, accepted: Int, draftTime: Double, verifyTime: Double) {
        if drafted == 0 {
            plainSeconds = decay * plainSeconds + verifyTime; plainCount = decay * plainCount + 1
            plainRun += 1
            return
        }
        draftSeconds = decay * draftSeconds + draftTime; draftTokens = decay * draftTokens + Double(drafted)
        if plainCount > 0 {
            extraSeconds = decay * extraSeconds + max(0, verifyTime - plainStep)
            extraPositions = decay * extraPositions + Double(drafted)
        }
        kept = decay * kept + Double(accepted)
        rejected = decay * rejected + (accepted < drafted ? 1 : 0)
        plainRun = 0
    }

    var plainStep: Double { plainSeconds / max(plainCount, 1e-9) }

    /// Expected tokens committed by a round drafting `length` at acceptance `alpha`.
    static func expectedTokens(length: Int, alpha: Double) -> Double {
        alpha >= 1 ? Double(length + 1) : (1 - pow(alpha, Double(length + 1))) / (1 - alpha)
    }

    /// The next round's draft length (0: a plain step).
    mutating func nextLength() -> Int {
        guard plainCount > 0 else { return 0 }  // measure a plain step first
        // Then one drafting round of a single token: the cheapest measurement of the draft's and the wider
        // check's costs (a longer first round cost a 2-core host 5–8% of a 64-token generation when drafting lost).
        guard draftTokens > 0, extraPositions > 0 else { return 1 }
        // Acceptance with a weak prior of one kept and one rejected, so a short history does not read as certainty.
        let alpha = min(0.999, (kept + 1) / (kept + rejected + 2))
        let perDraft = draftSeconds / draftTokens, perPosition = extraSeconds / extraPositions
        let plainRate = 1 / max(plainStep, 1e-9)
        var best = 0, bestRate = plainRate, bestDraftingRate = 0.0
        for length in 1...max(1, maxLength) {
            let cost = plainStep + Double(length) * (perDraft + perPosition)
            let rate = Self.expectedTokens(length: length, alpha: alpha) / max(cost, 1e-9)
            bestDraftingRate = max(bestDraftingRate, rate)
            if rate > bestRate * 1.02 { best = length; bestRate = rate }  // 2%: ties go to plain decoding
        }
        if best == 0 && plainRun >= probeAfter {
            // Drafting loses; try one short round now and then, since the text may turn more predictable.
            // A probe costs the draft's catch-up on the tokens it missed: far from break-even, probe rarely.
            probeAfter = min(probeAfter * (bestDraftingRate < 0.8 * plainRate ? 4 : 2), 512)
            return 1
        }
        if best > 0 { probeAfter = 16 }
        return best
    }
}

/// What speculative decoding did during one generation.
public struct SpeculativeReport: Sendable, Codable, Equatable {
    /// Tokens the draft proposed.
    public var drafted = 0
    /// Drafted tokens the target kept.
    public var accepted = 0
    /// Rounds: one batched target pass each (pending token + drafts).
    public var rounds = 0
    /// Forward passes of the draft model.
    public var draftPasses = 0
    /// accepted / drafted.
    public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }
    /// Tokens per target pass (what the draft buys: 1 without it).
    public var tokensPerRound = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey { case drafted, accepted, rounds, draftPasses, acceptanceRate, tokensPerRound }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(drafted, forKey: .drafted)
        try c.encode(accepted, forKey: .accepted)
        try c.encode(rounds, forKey: .rounds)
        try c.encode(draftPasses, forKey: .draftPasses)
        try c.encode(acceptanceRate, forKey: .acceptanceRate)
        try c.encode(tokensPerRound, forKey: .tokensPerRound)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        drafted = try c.decode(Int.self, forKey: .drafted)
        accepted = try c.decode(Int.self, forKey: .accepted)
        rounds = try c.decode(Int.self, forKey: .rounds)
        draftPasses = try c.decode(Int.self, forKey: .draftPasses)
        tokensPerRound = try c.decode(Double.self, forKey: .tokensPerRound)
    }
}

/// Speculative decoding (Leviathan et al. 2023; Chen et al. 2023) over two `TokenPredictor`s with the
/// same vocabulary.
///
/// Each round: the draft model proposes d_1 … d_γ one pass each (from its own sampling distribution
/// q, or its arg-max when greedy); the target runs *one* batched pass over [pending, d_1 … d_γ] and
/// so has its distribution p_i before each drafted token and p_{γ+1} after the last. Then, in order:
/// - greedy: d_i is kept while it equals arg-max p_i; the first disagreement is replaced by the
///   target's arg-max. The output is the target's own greedy output (up to the rounding difference
///   between a batched and a one-token pass).
/// - sampled: d_i is kept with probability min(1, p_i(d_i) / q_i(d_i)); the first rejected one is
///   replaced by a draw from norm(max(0, p_i − q_i)). This keeps every token distributed exactly as
///   the target's sampling distribution p (after all of the chain's stages) would give it.
/// If all γ are kept, one more token is drawn from p_{γ+1}. Both KV caches are then truncated to the
/// kept prefix (the new token stays pending: it is the first input of the next round's target pass,
/// and the draft catches up on what it lacks at the start of its next round).
public enum SpeculativeDecoding {
    struct Outcome {
        var tokens: [Int32] = []
        var finish: GenerationResult.FinishReason = .length
        var report = SpeculativeReport()
        var logprobs: [TokenLogprob] = []
    }

    /// Decodes after a prompt both predictors already hold (the same tokens, so the same count);
    /// `firstLogits` is the target's distribution after it.
    static func run<T: TokenPredictor, D: TokenPredictor>(
        target: T, draft: D, firstLogits: [Float], sampler: inout Sampler, settings: SpeculativeSettings,
        maxTokens: Int, endTokens: Set<Int32>, logprobs: Int? = nil, emit: (Int32) -> GenerationControl
    ) throws -> Outcome {
        guard target.vocabularySize == draft.vocabularySize else {
            throw ModelError(.badInput, "the draft model's logits have \(draft.vocabularySize) entries; the target's \(target.vocabularySize)")
        }
        guard target.count == draft.count else {
            throw ModelError(.badInput, "speculative decoding: the draft holds \(draft.count) positions, the target \(target.count)")
        }
        var drafter = ModelDrafter(draft: draft, base: target.count, endTokens: endTokens)
        return try run(target: target, drafter: &drafter, firstLogits: firstLogits, sampler: &sampler, settings: settings,
                       maxTokens: maxTokens, endTokens: endTokens, logprobs: logprobs, emit: emit)
    }

    /// Decodes after a prompt the target holds, drafting from `drafter`.
    static func run<T: TokenPredictor, Source: Drafter>(
        target: T, drafter: inout Source, firstLogits: [Float], sampler: inout Sampler, settings: SpeculativeSettings,
        maxTokens: Int, endTokens: Set<Int32>, logprobs: Int? = nil, emit: (Int32) -> GenerationControl
    ) throws -> Outcome {
        try settings.validate()
        let greedy = sampler.parameters.isGreedy
        var random = SeededRandom(seed: sampler.seed ^ 0x5350_4543_554C_4154)  // "SPECULAT"
        let vocabulary = target.vocabularySize
        let base = target.count
        var out = Outcome()
        var gamma = settings.draftTokens
        let useCosts = settings.adaptive && settings.costModel
        var costs = DraftCostModel(settings: settings)
        let clock = ContinuousClock()
        if useCosts { gamma = costs.nextLength() }

        /// The token a distribution gives: its arg-max, or a draw.
        func choose(_ p: TokenCandidates) -> Int32? {
            guard let i = greedy ? p.argmax : RandomSelection.draw(p.probabilities(), &random) else { return nil }
            return p.ids[i]
        }
        /// Commits `token`, drawn from `logits`; false when generation ends here.
        func commit(_ token: Int32, from logits: @autoclosure () -> [Float]) -> Bool {
            if endTokens.contains(token) { out.finish = .stop; return false }
            if let logprobs { out.logprobs.append(TokenLogprob(token, logits: logits(), alternatives: logprobs)) }
            out.tokens.append(token)
            sampler.accept(token)
            if emit(token) == .stop { out.finish = .cancelled; return false }
            return out.tokens.count < maxTokens
        }

        guard maxTokens > 0 else { return out }
        var first = sampler
        guard let t0 = choose(first.distribution(firstLogits)), commit(t0, from: firstLogits) else {
            target.truncate(to: min(target.count, base + out.tokens.count))
            return out
        }
        // Invariant between rounds: the target holds prompt + tokens but the last (pending); the draft
        // holds a prefix of that.
        rounds: while true {
            let pending = out.tokens[out.tokens.count - 1]
            guard target.count < target.capacity else { break }
            let room = target.capacity - target.count - 1
            let g = max(0, min(gamma, maxTokens - out.tokens.count - 1, room))

            // Draft up to g tokens (none past an end token).
            let draftStart = clock.now
            var (drafted, proposals) = try drafter.propose(generated: out.tokens, count: g, sampler: sampler, choose: choose)
            let draftTime = (clock.now - draftStart).seconds
            if let end = drafted.firstIndex(where: endTokens.contains), end + 1 < drafted.count {
                drafted.removeSubrange((end + 1)...)
                proposals?.removeSubrange((end + 1)...)
            }
            out.report.drafted += drafted.count

            // Verify them in one target pass.
            let verifyStart = clock.now
            let rows = try target.feed([pending] + drafted, logits: .all)
            let verifyTime = (clock.now - verifyStart).seconds
            out.report.rounds += 1
            func row(_ i: Int) -> [Float] { Array(rows[i * vocabulary..<(i + 1) * vocabulary]) }
            var ts = sampler
            var kept = 0
            var next: Int32?
            for (i, d) in drafted.enumerated() {
                let p = ts.distribution(row(i))
                if greedy {
                    guard let t = choose(p) else { break }
                    if t != d { next = t; break }
                } else if let proposals {
                    let pd = probability(of: d, in: p), qd = probability(of: d, in: proposals[i])
                    if !(qd > 0 && random.nextUnit() < min(1, pd / qd)) {
                        next = residualDraw(p, proposals[i], &random) ?? choose(p)
                        break
                    }
                } else {
                    // A fixed proposal: q is all on d, so d is kept with probability p(d) and a rejection
                    // draws from p without d.
                    if !(random.nextUnit() < probability(of: d, in: p)) {
                        next = drawExcluding(d, p, &random) ?? choose(p)
                        break
                    }
                }
                kept += 1
                ts.accept(d)
                if endTokens.contains(d) { break }
            }
            out.report.accepted += kept
            let endKept = kept > 0 && endTokens.contains(drafted[kept - 1])
            if next == nil && !endKept && kept == drafted.count { next = choose(ts.distribution(row(drafted.count))) }

            // Commit the kept drafts and the target's token; align both caches.
            var going = true
            for (i, t) in (drafted[0..<kept] + (next.map { [$0] } ?? [])).enumerated() where going { going = commit(t, from: row(i)) }
            target.truncate(to: base + out.tokens.count - 1)
            drafter.committed(out.tokens.count)
            if useCosts {
                costs.record(drafted: drafted.count, accepted: kept, draftTime: draftTime, verifyTime: verifyTime)
                gamma = costs.nextLength()
            } else if settings.adaptive && !drafted.isEmpty {
                gamma = kept == drafted.count ? min(gamma + 1, settings.maxDraftTokens) : max(1, gamma - 1)
            }
            if !going { break rounds }
        }
        target.truncate(to: min(target.count, base + out.tokens.count))
        drafter.finish(out.tokens.count)
        out.report.draftPasses = drafter.passes
        out.report.tokensPerRound = out.report.rounds > 0 ? Double(out.tokens.count - 1) / Double(out.report.rounds) : 0
        return out
    }

    static func probability(of id: Int32, in c: TokenCandidates) -> Double {
        guard let i = c.index(of: id) else { return 0 }
        return c.probabilities()[i]
    }

    /// A draw from p with `id` left out, renormalised; nil when nothing else has mass.
    static func drawExcluding(_ id: Int32, _ p: TokenCandidates, _ random: inout SeededRandom) -> Int32? {
        var rest = p.probabilities()
        if let i = p.index(of: id) { rest[i] = 0 }
        let total = rest.reduce(0, +)
        guard total > 0 else { return nil }
        for i in rest.indices { rest[i] /= total }
        return RandomSelection.draw(rest, &random).map { p.ids[$0] }
    }

    /// A draw from norm(max(0, p − q)); nil when that is zero everywhere.
    static func residualDraw(_ p: TokenCandidates, _ q: TokenCandidates, _ random: inout SeededRandom) -> Int32? {
        let pp = p.probabilities(), qp = q.probabilities()
        var qOf: [Int32: Double] = [:]
        qOf.reserveCapacity(q.count)
        for (id, v) in zip(q.ids, qp) where v > 0 { qOf[id] = v }
        var residual = pp.enumerated().map { max(0, $0.element - (qOf[p.ids[$0.offset]] ?? 0)) }
        let total = residual.reduce(0, +)
        guard total > 0 else { return nil }
        for i in residual.indices { residual[i] /= total }
        return RandomSelection.draw(residual, &random).map { p.ids[$0] }
    }
}

extension LanguageModel {
    /// Throws unless `draft` can draft for this model: the same token list (every id the same text)
    /// and logits of the same width.
    public func checkDraftCompatibility(_ draft: LanguageModel) throws {
        let a = tokenizer.tokens, b = draft.tokenizer.tokens
        guard a.count == b.count else {
            throw ModelError(.badInput, "\(draft.path) cannot draft for \(path): its vocabulary has \(b.count) tokens, the target's \(a.count)")
        }
        if let i = a.indices.first(where: { a[$0] != b[$0] }) {
            throw ModelError(.badInput, "\(draft.path) cannot draft for \(path): token \(i) is '\(b[i])' in the draft and '\(a[i])' in the target")
        }
        guard model.config.vocabSize == draft.model.config.vocabSize else {
            throw ModelError(.badInput, "\(draft.path) cannot draft for \(path): its logits have \(draft.model.config.vocabSize) entries, the target's \(model.config.vocabSize)")
        }
    }
}
