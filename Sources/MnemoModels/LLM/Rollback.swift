import Foundation

/// Rollback: undo a sampled token that the model's confidence collapses after, and sample again.
///
/// Signal. Let c_i be the top probability of the model's distribution at step i (p_max of
/// softmax(logits) over the whole vocabulary at temperature 1, before any filter), and L_i the running
/// level, an exponential moving average L_i = L_{i−1} + `levelRate` · (c_i − L_{i−1}) (L_0 = c_0).
/// Token t_j (chosen at step j) *collapses* when
///   - it was not the model's first choice (t_j ≠ arg-max of step j's logits: a greedy pick is never blamed),
///   - at least `warmup` steps have been seen (j + 1 ≥ warmup), and
///   - mean(c_{j+1} … c_{j+W}) < `ratio` · L_j, with W = `window`: over the W steps that follow it,
///     the model is on average less than half (default) as sure as it had been.
///
/// Action. The KV cache is truncated back to before t_j, t_j is banned at step j (bans accumulate over
/// retries of that step and are forgotten when an earlier step is redone), the sampler is restored to
/// its state before step j (penalty window and random stream), and step j is sampled again.
///
/// Bounds. At most `maxRetriesPerPosition` rollbacks to one step and `maxRollbacks` per generation;
/// a collapse past either bound is kept (counted as `refused`). Tokens are passed to the caller only
/// once judged, so the output lags `window` tokens behind the model while rollback is on.
public struct RollbackParameters: Sendable, Equatable, Codable {
    /// W: steps after a token over which its effect is judged.
    public var window: Int
    /// Collapse when the window's mean top probability is below `ratio` × the running level.
    public var ratio: Double
    /// Weight of a new step in the running level (exponential moving average).
    public var levelRate: Double
    /// Steps to observe before judging any token.
    public var warmup: Int
    public var maxRetriesPerPosition: Int
    public var maxRollbacks: Int

    public init(window: Int = 4, ratio: Double = 0.5, levelRate: Double = 0.2, warmup: Int = 4,
                maxRetriesPerPosition: Int = 2, maxRollbacks: Int = 8) {
        self.window = window
        self.ratio = ratio
        self.levelRate = levelRate
        self.warmup = warmup
        self.maxRetriesPerPosition = maxRetriesPerPosition
        self.maxRollbacks = maxRollbacks
    }

    public func validate() throws {
        guard window >= 1 else { throw ModelError(.badInput, "rollback window must be ≥ 1 (got \(window))") }
        guard ratio > 0, ratio <= 1 else { throw ModelError(.badInput, "rollback ratio must be in (0, 1] (got \(ratio))") }
        guard levelRate > 0, levelRate <= 1 else { throw ModelError(.badInput, "rollback level rate must be in (0, 1] (got \(levelRate))") }
        guard warmup >= 0, maxRetriesPerPosition >= 0, maxRollbacks >= 0 else {
            throw ModelError(.badInput, "rollback warm-up and limits must be ≥ 0")
        }
    }
}

/// What rollback did during one generation.
public struct RollbackReport: Sendable, Codable, Equatable {
    /// Rollbacks made.
    public var rollbacks = 0
    /// The index (in the generated tokens) of the step each rollback returned to.
    public var positions: [Int] = []
    /// Forward passes thrown away by rollbacks.
    public var wastedSteps = 0
    /// Collapses detected but kept because a bound was reached.
    public var refused = 0

    public init() {}
}

/// The token loop after the prompt: sample, stop at an end token, feed the token back, with rollback
/// when its parameters are given.
enum TokenLoop {
    struct Outcome {
        var tokens: [Int32] = []
        var finish: GenerationResult.FinishReason = .length
        /// Forward passes whose tokens were kept (the decode phase's useful work).
        var producedSteps = 0
        var rollback: RollbackReport?
        /// Sum and count of the temperatures the kept steps used (adaptive temperature reports the mean).
        var temperatureSum = 0.0
        var temperatureCount = 0
        var logprobs: [TokenLogprob]?
    }

    static func run<P: TokenPredictor>(
        _ predictor: P, firstLogits: [Float], sampler: inout Sampler, maxTokens: Int, endTokens: Set<Int32>,
        rollback: RollbackParameters?, logprobs: Int? = nil, emit: (Int32) -> GenerationControl
    ) throws -> Outcome {
        if let rollback {
            return try runWithRollback(predictor, firstLogits: firstLogits, sampler: &sampler, maxTokens: maxTokens,
                                       endTokens: endTokens, parameters: rollback, emit: emit)
        }
        var out = Outcome()
        var logits = firstLogits
        if logprobs != nil { out.logprobs = [] }
        while out.tokens.count < maxTokens {
            let token = sampler.sample(logits)
            if let t = sampler.lastContext.temperature { out.temperatureSum += Double(t); out.temperatureCount += 1 }
            if endTokens.contains(token) { out.finish = .stop; break }
            if let n = logprobs { out.logprobs?.append(TokenLogprob(token, logits: logits, alternatives: n)) }
            out.tokens.append(token)
            if emit(token) == .stop { out.finish = .cancelled; break }
            guard out.tokens.count < maxTokens, predictor.count < predictor.capacity else { break }
            logits = try predictor.feed([token], logits: .last)
            out.producedSteps += 1
        }
        return out
    }

    /// p_max of softmax(logits): 1 / Σ exp(z − z_max).
    static func topProbability(_ logits: [Float]) -> Double {
        guard let m = logits.max(), m > -.infinity else { return 0 }
        var sum = 0.0
        for z in logits { sum += exp(Double(z - m)) }
        return 1 / sum
    }

    private struct Step {
        var logits: [Float]
        var sampler: Sampler
        var top: Double
        var level: Double
        var bans: Set<Int32> = []
        var retries = 0
        var wasFirstChoice = true
        var temperature: Float?
    }

    private static func runWithRollback<P: TokenPredictor>(
        _ predictor: P, firstLogits: [Float], sampler: inout Sampler, maxTokens: Int, endTokens: Set<Int32>,
        parameters r: RollbackParameters, emit: (Int32) -> GenerationControl
    ) throws -> Outcome {
        var out = Outcome()
        var report = RollbackReport()
        let base = predictor.count
        var steps: [Step] = []  // steps[i]: how tokens[i] was chosen
        var confirmed = 0  // tokens passed to the caller
        var logits = firstLogits
        var nextTop: Double?
        var passes = 0
        var cancelled = false

        while out.tokens.count < maxTokens {
            let i = out.tokens.count
            if steps.count == i {
                let top = nextTop ?? topProbability(logits)
                let level = i == 0 ? top : steps[i - 1].level + r.levelRate * (top - steps[i - 1].level)
                steps.append(Step(logits: logits, sampler: sampler, top: top, level: level))
            } else {
                // Retrying step i after a rollback.
                sampler = steps[i].sampler
                logits = steps[i].logits
            }
            nextTop = nil
            let token = sampler.sample(logits, banning: steps[i].bans)
            steps[i].wasFirstChoice = token == Sampler.argmax(logits)
            steps[i].temperature = sampler.lastContext.temperature
            if endTokens.contains(token) { out.finish = .stop; break }
            out.tokens.append(token)
            guard out.tokens.count < maxTokens, predictor.count < predictor.capacity else { break }
            logits = try predictor.feed([token], logits: .last)
            passes += 1
            let top = topProbability(logits)
            nextTop = top

            // Judge token j, whose W following distributions are now known (the last is `logits`).
            let j = out.tokens.count - r.window
            guard j >= confirmed else { continue }
            let following = steps[(j + 1)...].map(\.top) + [top]
            let mean = following.reduce(0, +) / Double(following.count)
            let collapsed = !steps[j].wasFirstChoice && j + 1 >= r.warmup && mean < r.ratio * steps[j].level
            if collapsed {
                if steps[j].retries < r.maxRetriesPerPosition && report.rollbacks < r.maxRollbacks {
                    steps[j].bans.insert(out.tokens[j])
                    steps[j].retries += 1
                    report.rollbacks += 1
                    report.positions.append(j)
                    report.wastedSteps += out.tokens.count - j
                    out.tokens.removeLast(out.tokens.count - j)
                    steps.removeLast(steps.count - j - 1)
                    predictor.truncate(to: base + j)
                    nextTop = nil
                    continue
                }
                report.refused += 1
            }
            confirmed = j + 1
            steps[j].logits = []  // judged: its logits are no longer needed
            if emit(out.tokens[j]) == .stop {
                out.finish = .cancelled
                out.tokens.removeLast(out.tokens.count - confirmed)
                cancelled = true
                break
            }
        }
        if !cancelled {
            // The last tokens cannot be judged (no window after them): pass them on as they are.
            while confirmed < out.tokens.count {
                confirmed += 1
                if emit(out.tokens[confirmed - 1]) == .stop {
                    out.finish = .cancelled
                    out.tokens.removeLast(out.tokens.count - confirmed)
                    break
                }
            }
        }
        // The state holds a prefix of prompt + tokens, as without rollback.
        predictor.truncate(to: min(predictor.count, base + out.tokens.count))
        out.producedSteps = passes - report.wastedSteps
        for s in steps.prefix(out.tokens.count) {
            if let t = s.temperature { out.temperatureSum += Double(t); out.temperatureCount += 1 }
        }
        out.rollback = report
        return out
    }
}
