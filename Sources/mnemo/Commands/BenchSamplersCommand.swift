import ArgumentParser
import Foundation
import MnemoModels
import MnemoTensor

extension BenchCommand {
    /// Samplers and speculative decoding, measured (Tests/Scripts/bench-samplers.sh writes the tables
    /// into Examples/SAMPLERS.md). Figures only: benchmarks assert nothing.
    struct Samplers: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "samplers",
            abstract: "Diversity and a coherence proxy per sampler and temperature; speculative decoding's speed-up and acceptance.",
            discussion: """
            For each sampler configuration and temperature, --model writes --samples answers (seeds 1…N)
            of --tokens tokens to each built-in chat prompt. Diversity: distinct-n, the unique n-grams
            over all n-grams of the samples of one prompt, averaged over the prompts (higher: more varied).
            Coherence proxy: the perplexity --judge (a larger model) gives the answers, exp of the mean
            token negative log-likelihood (lower: more expected; very low also means repetitive).
            Speculative decoding: --target alone and with --draft, in alternating order per prompt, greedy
            and sampled; decode tokens per second, acceptance and tokens per target pass.

            Example: mnemo bench samplers --threads 2 --samples 3 --tokens 40
            """
        )

        @Option(help: "The model that samples.")
        var model = "qwen-0.5b"

        @Option(help: "The model whose perplexity scores the samples (the coherence proxy).")
        var judge = "qwen-1.5b"

        @Option(help: "Speculative decoding's target model.")
        var target = "qwen-1.5b"

        @Option(help: "Speculative decoding's draft model.")
        var draft = "qwen-0.5b"

        @Option(help: "Samples (seeds 1…N) per prompt, configuration and temperature.")
        var samples = 3

        @Option(help: "Tokens per sample.")
        var tokens = 40

        @Option(help: "Built-in prompts to use (1-4).")
        var prompts = 4

        @Option(help: "Temperatures, comma-separated.")
        var temperatures = "0.7,1.0,1.5"

        @Option(help: "Tokens per speculative run.")
        var specTokens = 64

        @Option(help: "Parts to run: samplers, speculative, or both.")
        var parts = "samplers,speculative"

        @OptionGroup var threadOptions: ThreadOptions

        static let prompts = [
            "Write a short story about a lighthouse keeper who finds a message in a bottle.",
            "Explain in a few sentences why the sky is blue.",
            "Give me three ideas for a weekend trip in the mountains.",
            "Write a Python function that returns the n-th Fibonacci number, with a docstring.",
        ]

        struct Config: Sendable {
            let name: String
            let make: @Sendable (Float) -> SamplingParameters
        }

        static let configs: [Config] = [
            Config(name: "temperature only") { SamplingParameters(temperature: $0, topK: 0, topP: 1) },
            Config(name: "top-p 0.9") { SamplingParameters(temperature: $0, topK: 0, topP: 0.9) },
            Config(name: "min-p 0.1") { SamplingParameters(temperature: $0, topK: 0, topP: 1, minP: 0.1) },
            Config(name: "topT 0.1") { SamplingParameters(temperature: $0, topK: 0, topP: 1, topT: 0.1) },
            Config(name: "adaptive [0.5T, 1.5T] + min-p 0.1") {
                SamplingParameters(temperature: $0, topK: 0, topP: 1, minP: 0.1,
                                   adaptiveTemperature: AdaptiveTemperatureRange(low: 0.5 * $0, high: 1.5 * $0))
            },
            Config(name: "temperature only + rollback") {
                SamplingParameters(temperature: $0, topK: 0, topP: 1, rollback: RollbackParameters())
            },
            Config(name: "min-p 0.1 + repeat 1.1") {
                SamplingParameters(temperature: $0, topK: 0, topP: 1, minP: 0.1, repetitionPenalty: 1.1)
            },
        ]

        func validate() throws {
            guard samples >= 1, tokens >= 2, (1...Self.prompts.count).contains(prompts), specTokens >= 2 else {
                throw ValidationError("--samples ≥ 1, --tokens ≥ 2, --prompts 1-\(Self.prompts.count), --spec-tokens ≥ 2")
            }
        }

        func run() throws {
            threadOptions.configure()
            let temps = temperatures.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            let wanted = Set(parts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            print("# mnemo bench samplers: threads=\(Parallel.threads), \(prompts) prompts × \(samples) samples × \(tokens) tokens; "
                  + "sampler \(model), judge \(judge); speculative \(draft) → \(target), \(specTokens) tokens")
            if wanted.contains("samplers") { try samplerTable(temps) }
            if wanted.contains("speculative") { try speculativeTable() }
        }

        // MARK: - Samplers

        func chatIDs(_ llm: LanguageModel, _ prompt: String) throws -> [Int32] {
            llm.encode(try llm.chatPrompt([ChatMessage(.user, prompt)]))
        }

        func samplerTable(_ temps: [Float]) throws {
            let llm = try LanguageModel(path: ModelLocator.resolve(model))
            let judgeLM = try LanguageModel(path: ModelLocator.resolve(judge))
            let sameVocabulary = (try? judgeLM.checkDraftCompatibility(llm)) != nil
            let promptTexts = Array(Self.prompts.prefix(prompts))
            let promptIDs = try promptTexts.map { try chatIDs(llm, $0) }
            let judgePromptIDs = try promptTexts.map { try chatIDs(judgeLM, $0) }
            let judgeStates = judgePromptIDs.map { judgeLM.model.makeState(capacity: $0.count + tokens + 8) }
            var judgeFirst: [[Float]] = []
            for (ids, state) in zip(judgePromptIDs, judgeStates) {
                judgeFirst.append(try judgeLM.model.forward(ids.map { .token($0) }, state: state))
            }

            /// Negative log-likelihood (sum, count) the judge gives `output` after prompt p.
            func nll(_ output: [Int32], text: String, prompt p: Int) throws -> (Double, Int) {
                let ids = sameVocabulary ? output : judgeLM.tokenizer.encode(text, addBOS: false, parseSpecial: false)
                guard !ids.isEmpty else { return (0, 0) }
                let state = judgeStates[p]
                state.truncate(to: judgePromptIDs[p].count)
                let scorer = DecoderPredictor(model: judgeLM.model, state: state)
                return (try scorer.negativeLogLikelihood(of: ids, firstLogits: judgeFirst[p]), ids.count)
            }

            struct Row { var name: String; var t: String; var d1, d2, ppl, length, rollbacks, meanT: Double }
            var rows: [Row] = []
            func measure(_ name: String, _ t: String, _ parameters: (UInt64) -> SamplingParameters, seeds: [UInt64]) throws {
                var d1 = 0.0, d2 = 0.0, nllSum = 0.0, nllCount = 0, lengths = 0, rollbacks = 0, tSum = 0.0, tCount = 0
                for (p, ids) in promptIDs.enumerated() {
                    var outputs: [[Int32]] = []
                    for seed in seeds {
                        let r = try llm.generate(ids.map { .token($0) }, parameters: GenerationParameters(maxTokens: tokens, sampling: parameters(seed)))
                        outputs.append(r.tokens)
                        lengths += r.tokens.count
                        rollbacks += r.rollback?.rollbacks ?? 0
                        if let mt = r.meanTemperature { tSum += mt; tCount += 1 }
                        let (s, n) = try nll(r.tokens, text: r.text, prompt: p)
                        nllSum += s
                        nllCount += n
                    }
                    // Greedy gives every seed the same answer: count it once per sample like the others.
                    if seeds.count == 1 { outputs = Array(repeating: outputs[0], count: samples) }
                    d1 += Self.distinct(outputs, n: 1)
                    d2 += Self.distinct(outputs, n: 2)
                }
                let np = Double(promptIDs.count), ns = Double(promptIDs.count * seeds.count)
                rows.append(Row(name: name, t: t, d1: d1 / np, d2: d2 / np, ppl: exp(nllSum / Double(max(1, nllCount))),
                                length: Double(lengths) / ns, rollbacks: Double(rollbacks) / ns, meanT: tCount > 0 ? tSum / Double(tCount) : .nan))
                let last = rows[rows.count - 1]
                FileHandle.standardError.write(Data(String(format: "  %@ T=%@: distinct-2 %.3f, perplexity %.2f\n", name, t, last.d2, last.ppl).utf8))
            }

            let seeds = (1...UInt64(samples)).map { $0 }
            try measure("greedy (reference)", "0", { _ in .greedy }, seeds: [1])
            for t in temps {
                for c in Self.configs {
                    try measure(c.name, String(format: "%.1f", t), { seed in var p = c.make(t); p.seed = seed; return p }, seeds: seeds)
                }
            }
            print()
            print("| sampler | T | distinct-1 | distinct-2 | judge perplexity | mean length | rollbacks / sample | mean T |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows {
                print(String(format: "| %@ | %@ | %.3f | %.3f | %.2f | %.1f | %@ | %@ |", r.name, r.t, r.d1, r.d2, r.ppl, r.length,
                             r.name.contains("rollback") ? String(format: "%.2f", r.rollbacks) : "",
                             r.meanT.isNaN ? "" : String(format: "%.2f", r.meanT)))
            }
        }

        /// Unique n-grams over all n-grams of the samples (each sample's n-grams, pooled).
        static func distinct(_ outputs: [[Int32]], n: Int) -> Double {
            var all = 0
            var unique = Set<[Int32]>()
            for o in outputs where o.count >= n {
                for i in 0...(o.count - n) {
                    unique.insert(Array(o[i..<i + n]))
                    all += 1
                }
            }
            return all > 0 ? Double(unique.count) / Double(all) : 0
        }

        // MARK: - Speculative decoding

        func speculativeTable() throws {
            let targetLM = try LanguageModel(path: ModelLocator.resolve(target))
            let draftLM = try LanguageModel(path: ModelLocator.resolve(draft))
            try targetLM.checkDraftCompatibility(draftLM)
            let promptIDs = try Self.prompts.prefix(prompts).map { try chatIDs(targetLM, $0).map { DecoderInput.token($0) } }
            // Warm both models' pages.
            _ = try targetLM.generate(promptIDs[0], parameters: GenerationParameters(maxTokens: 4, sampling: .greedy))
            _ = try draftLM.generate(promptIDs[0], parameters: GenerationParameters(maxTokens: 4, sampling: .greedy))

            struct Mode { let name: String; let sampling: SamplingParameters; let settings: SpeculativeSettings? }
            let sampled = SamplingParameters(temperature: 0.7, topK: 0, topP: 1, seed: 1, minP: 0.1)
            let modes = [
                Mode(name: "greedy, target alone", sampling: .greedy, settings: nil),
                Mode(name: "greedy, draft by cost model", sampling: .greedy, settings: SpeculativeSettings(draftTokens: 4, adaptive: true)),
                Mode(name: "greedy, cost model, draft head 32k tokens", sampling: .greedy,
                     settings: SpeculativeSettings(draftTokens: 4, adaptive: true, draftVocabulary: 32_768)),
                Mode(name: "greedy, draft 2 fixed, draft head 32k tokens", sampling: .greedy,
                     settings: SpeculativeSettings(draftTokens: 2, adaptive: false, draftVocabulary: 32_768)),
                Mode(name: "greedy, draft 4 ±1 by acceptance", sampling: .greedy, settings: SpeculativeSettings(draftTokens: 4, adaptive: true, costModel: false)),
                Mode(name: "greedy, draft 2 fixed", sampling: .greedy, settings: SpeculativeSettings(draftTokens: 2, adaptive: false)),
                Mode(name: "greedy, draft 4 fixed", sampling: .greedy, settings: SpeculativeSettings(draftTokens: 4, adaptive: false)),
                Mode(name: "T 0.7 min-p 0.1, target alone", sampling: sampled, settings: nil),
                Mode(name: "T 0.7 min-p 0.1, draft by cost model", sampling: sampled, settings: SpeculativeSettings(draftTokens: 4, adaptive: true)),
            ]
            var seconds = [Double](repeating: 0, count: modes.count), produced = [Int](repeating: 0, count: modes.count)
            var reports = [SpeculativeReport](repeating: SpeculativeReport(), count: modes.count)
            var greedyOutputs = [[[Int32]]](repeating: [], count: modes.count)
            for (p, ids) in promptIDs.enumerated() {
                // Alternate the order per prompt so that drift in machine load falls on every mode alike.
                let order = p % 2 == 0 ? Array(modes.indices) : Array(modes.indices.reversed())
                for m in order {
                    var parameters = GenerationParameters(maxTokens: specTokens, sampling: modes[m].sampling)
                    if let s = modes[m].settings { parameters.speculative = SpeculativeParameters(draft: draftLM, settings: s) }
                    let r = try targetLM.generate(ids, parameters: parameters)
                    seconds[m] += r.decodeSeconds
                    produced[m] += r.decodeSteps
                    greedyOutputs[m].append(r.tokens)
                    if let s = r.speculative {
                        reports[m].drafted += s.drafted
                        reports[m].accepted += s.accepted
                        reports[m].rounds += s.rounds
                        reports[m].draftPasses += s.draftPasses
                    }
                }
            }
            // What a round costs: one target pass over k tokens (all logits) against one token of each model.
            func passSeconds(_ lm: LanguageModel, _ k: Int, head: (kept: Int, tail: Int)? = nil) throws -> Double {
                let ids = promptIDs[0]
                let state = lm.model.makeState(capacity: ids.count + 16)
                state.outputRows = head
                _ = try lm.model.forward(ids, state: state)
                var times: [Double] = []
                for _ in 0..<5 {
                    state.truncate(to: ids.count)
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = try lm.model.forward(Array(repeating: DecoderInput.token(42), count: k), state: state, logits: k > 1 ? .all : .last)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                }
                return times.sorted()[2]
            }
            let one = try passSeconds(targetLM, 1)
            print()
            print("| pass (median of 5) | ms | × one target token |")
            print("|---|---:|---:|")
            let draftOne = try passSeconds(draftLM, 1)
            print(String(format: "| draft (%@), 1 token | %.1f | %.2f× |", draft, draftOne * 1000, draftOne / one))
            let tail = Int(draftLM.endTokens.min() ?? Int32(draftLM.model.config.vocabSize))
            let draftHead = try passSeconds(draftLM, 1, head: (32_768, tail))
            print(String(format: "| draft (%@), 1 token, head of 32,768 tokens | %.1f | %.2f× |", draft, draftHead * 1000, draftHead / one))
            for k in [1, 2, 3, 5, 9] {
                let t = k == 1 ? one : try passSeconds(targetLM, k)
                print(String(format: "| target (%@), %d token%@ | %.1f | %.2f× |", target, k, k == 1 ? "" : "s", t * 1000, t / one))
            }
            print()
            print("| decoding | decode tok/s | speed-up | acceptance | tokens / target pass | output = target alone |")
            print("|---|---:|---:|---:|---:|---|")
            for (m, mode) in modes.enumerated() {
                let rate = Double(produced[m]) / max(seconds[m], 1e-9)
                let baseline = modes.firstIndex { $0.settings == nil && $0.sampling.isGreedy == mode.sampling.isGreedy } ?? 0
                let baseRate = Double(produced[baseline]) / max(seconds[baseline], 1e-9)
                let r = reports[m]
                let same = mode.settings == nil ? "" : mode.sampling.isGreedy
                    ? "\(zip(greedyOutputs[m], greedyOutputs[baseline]).filter { $0 == $1 }.count)/\(promptIDs.count) prompts"
                    : "(sampled: same distribution, not same tokens)"
                print(String(format: "| %@ | %.2f | %.2f× | %@ | %@ | %@ |", mode.name, rate, rate / baseRate,
                             mode.settings == nil ? "" : String(format: "%.2f", r.acceptanceRate),
                             mode.settings == nil ? "1" : String(format: "%.2f", Double(produced[m]) / Double(max(1, r.rounds))), same))
            }
        }
    }
}
