import Foundation
import Testing
@testable import MnemoModels

/// The real SmolLM2-135M (installed by `make setup`), loaded once.
let smolLM: Result<LanguageModel, Error> = Result {
    try LanguageModel(path: ModelLocator.resolve("smollm2"))
}

private func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
}

@Suite(.tags(.realModel), .needsModels) struct DecoderTests {
    @Test func configIsReadFromTheFile() throws {
        let c = try smolLM.get().model.config
        #expect(c.architecture == "llama")
        #expect(c.layers == 30 && c.dim == 576 && c.ffnDim == 1536)
        #expect(c.heads == 9 && c.kvHeads == 3 && c.headDim == 64)
        #expect(c.ropeBase == 100_000 && c.ropeStyle == .adjacentPairs)
        #expect(c.vocabSize == 49152)
    }

    /// A soft token is an input vector in place of an embedding row: feeding a prompt's own
    /// embedding rows as vectors must give exactly the logits of feeding its ids.
    @Test func embeddingRowsAsVectorsGiveTheSameLogitsAsIds() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("The quick brown fox jumps over the lazy dog.")
        let byIds = try llm.model.forward(ids.map { .token($0) }, state: llm.model.makeState(capacity: 64), logits: .all)
        let byVectors = try llm.model.forward(ids.map { .vector(llm.model.embedding(of: $0)) }, state: llm.model.makeState(capacity: 64), logits: .all)
        #expect(byIds.count == ids.count * llm.model.config.vocabSize)
        #expect(byIds == byVectors)
        // Mixed: vectors at some positions, ids at the others.
        let mixed: [DecoderInput] = ids.enumerated().map { i, id in i % 2 == 0 ? .vector(llm.model.embedding(of: id)) : .token(id) }
        let byMixed = try llm.model.forward(mixed, state: llm.model.makeState(capacity: 64), logits: .all)
        #expect(byIds == byMixed)
    }

    /// Batched prefill and one token at a time compute the same thing.
    @Test func batchedPrefillMatchesTokenByToken() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("Paris is the capital and most populous city of France.")
        let batched = try llm.model.forward(ids.map { .token($0) }, state: llm.model.makeState(capacity: 64), logits: .all)
        let state = llm.model.makeState(capacity: 64)
        var stepwise: [Float] = []
        for id in ids { stepwise += try llm.model.forward([.token(id)], state: state) }
        #expect(maxAbsDifference(batched, stepwise) < 1e-3)
        #expect(state.count == ids.count)
    }

    /// Truncating the cache forgets the tail exactly (rollback, speculative decoding).
    @Test func truncatedCacheRecomputesTheSameLogits() throws {
        let llm = try smolLM.get()
        let head = llm.encode("Once upon a time, in a small village,")
        let tail = llm.encode(" there lived an old baker")
        let state = llm.model.makeState(capacity: 64)
        _ = try llm.model.forward(head.map { .token($0) }, state: state)
        let first = try llm.model.forward(tail.map { .token($0) }, state: state, logits: .all)
        _ = try llm.model.forward(llm.encode(" something else entirely").map { .token($0) }, state: state)
        state.truncate(to: head.count)
        #expect(state.count == head.count)
        let again = try llm.model.forward(tail.map { .token($0) }, state: state, logits: .all)
        #expect(first == again)
    }

    @Test func badInputsAreRefusedWithClearErrors() throws {
        let llm = try smolLM.get()
        let state = llm.model.makeState(capacity: 8)
        #expect(throws: ModelError.self) { try llm.model.forward([], state: state) }
        #expect(throws: ModelError.self) { try llm.model.forward([.token(-1)], state: state) }
        #expect(throws: ModelError.self) { try llm.model.forward([.token(49152)], state: state) }
        #expect(throws: ModelError.self) { try llm.model.forward([.vector([1, 2, 3])], state: state) }
        #expect(throws: ModelError.self) { try llm.model.forward([.vector([Float](repeating: .nan, count: 576))], state: state) }
        #expect(throws: ModelError.self) { try llm.model.forward(Array(repeating: .token(1), count: 9), state: state) }
        #expect(state.count == 0)
        do {
            _ = try llm.model.forward([.vector([1, 2, 3])], state: state)
        } catch let e as ModelError {
            #expect(e.message.contains("3 values") && e.message.contains("576"))
        }
    }

    @Test func greedyGenerationIsDeterministicAndStopsAtTheEndOfTurn() throws {
        let llm = try smolLM.get()
        let prompt = try llm.chatPrompt([ChatMessage(.user, "What is 2 plus 2?")])
        let ids = llm.encode(prompt).map { DecoderInput.token($0) }
        var streamed = ""
        let a = try llm.generate(ids, parameters: .init(maxTokens: 64, sampling: .greedy)) { _, piece in
            streamed += piece
            return .continue
        }
        let b = try llm.generate(ids, parameters: .init(maxTokens: 64, sampling: .greedy))
        #expect(a.tokens == b.tokens)
        #expect(streamed == a.text)
        #expect(a.text.contains("4"))
        #expect(a.finishReason == .stop)
        #expect(a.promptTokens == ids.count)
    }

    /// Log-probabilities from the raw distribution: under greedy decoding each token is its step's most
    /// likely, the alternatives come best first, and a probability distribution's entries are ≤ 0 and
    /// sum (over the 20 shown) to at most 1.
    @Test func logprobsDescribeEachGeneratedToken() throws {
        let llm = try smolLM.get()
        let ids = llm.encode(try llm.chatPrompt([ChatMessage(.user, "Name three colours.")])).map { DecoderInput.token($0) }
        let r = try llm.generate(ids, parameters: .init(maxTokens: 12, sampling: .greedy, logprobs: 20))
        let entries = try #require(r.logprobs)
        #expect(entries.count == r.tokens.count && !entries.isEmpty)
        for (entry, token) in zip(entries, r.tokens) {
            #expect(entry.token == token)
            #expect(entry.top.count == 20)
            #expect(entry.top.first?.token == token && entry.top.first?.logprob == entry.logprob)
            #expect(zip(entry.top, entry.top.dropFirst()).allSatisfy { $0.logprob >= $1.logprob })
            #expect(entry.logprob <= 0 && entry.top.map { exp(Double($0.logprob)) }.reduce(0, +) <= 1.000_01)
        }
        // Off by default; refused with rollback, whose kept tokens are not one step each.
        #expect(try llm.generate(ids, parameters: .init(maxTokens: 2, sampling: .greedy)).logprobs == nil)
        var rolling = SamplingParameters.greedy
        rolling.rollback = RollbackParameters()
        #expect(throws: ModelError.self) { try llm.generate(ids, parameters: .init(maxTokens: 2, sampling: rolling, logprobs: 0)) }
        #expect(throws: ModelError.self) { try llm.generate(ids, parameters: .init(maxTokens: 2, sampling: .greedy, logprobs: 21)) }
    }

    @Test func seededSamplingIsReproducible() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("Once upon a time").map { DecoderInput.token($0) }
        let p = GenerationParameters(maxTokens: 24, sampling: .init(temperature: 1.0, topK: 40, topP: 0.95, seed: 7))
        let a = try llm.generate(ids, parameters: p)
        let b = try llm.generate(ids, parameters: p)
        #expect(a.tokens == b.tokens && a.seed == 7)
        var other = p
        other.sampling.seed = 8
        let c = try llm.generate(ids, parameters: other)
        #expect(c.tokens != a.tokens)
    }

    @Test func generationCanBeStoppedByTheCaller() throws {
        let llm = try smolLM.get()
        let ids = llm.encode("Count: one, two, three,").map { DecoderInput.token($0) }
        var seen = 0
        let r = try llm.generate(ids, parameters: .init(maxTokens: 50, sampling: .greedy)) { token, _ in
            if token != nil { seen += 1 }
            return seen == 5 ? .stop : .continue
        }
        #expect(r.finishReason == .cancelled && r.tokens.count == 5)
    }
}

@Suite struct SamplerTests {
    @Test func topKKeepsTheKBestInOrder() {
        var c = TokenCandidates(logits: (0..<1000).map { Float(($0 * 7919) % 1000) })
        c.sort(keeping: 5)
        #expect(c.count == 5)
        #expect(c.logits == [999, 998, 997, 996, 995])
        var full = TokenCandidates(logits: [1, 3, 2, 3])
        full.sort()
        #expect(full.ids == [1, 3, 2, 0])  // ties keep the lower id first
    }

    @Test func greedyIsTheArgmax() {
        var s = Sampler(.greedy)
        #expect(s.sample([0.1, 2.5, -1, 2.4]) == 1)
    }

    @Test func samplingFollowsTheDistribution() {
        // Two tokens with probabilities 0.75 / 0.25 at temperature 1: frequencies within 3 sigma.
        var s = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, seed: 1))
        let logits: [Float] = [log(3), 0]
        var zeros = 0
        let n = 20000
        for _ in 0..<n where s.sample(logits) == 0 { zeros += 1 }
        let sigma = (0.75 * 0.25 / Double(n)).squareRoot()
        #expect(abs(Double(zeros) / Double(n) - 0.75) < 3 * sigma)
    }

    @Test func topPKeepsTheSmallestSetReachingP() {
        // p = [0.5, 0.3, 0.2]: top-p 0.7 keeps the first two; token 2 must never appear.
        var s = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 0.7, seed: 3))
        let logits: [Float] = [log(0.5), log(0.3), log(0.2)]
        for _ in 0..<2000 { #expect(s.sample(logits) != 2) }
    }

    @Test func invalidParametersAreRefused() {
        #expect(throws: ModelError.self) { try SamplingParameters(temperature: -1).validate() }
        #expect(throws: ModelError.self) { try SamplingParameters(topP: 0).validate() }
        #expect(throws: ModelError.self) { try SamplingParameters(topK: -2).validate() }
    }
}
