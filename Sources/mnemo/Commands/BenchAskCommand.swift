import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels
import MnemoTensor

extension BenchCommand {
    /// How long `mnemo ask` takes, per context mode: to the first answer token and to the whole answer.
    struct Ask: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ask",
            abstract: "Seconds to the first token and to the whole answer of `mnemo ask`, per context mode.",
            discussion: """
            Answers every question of --questions (the first tab-separated column; a header line starting \
            with "question" is skipped) once per context mode, in one process, as `mnemo ask` does with its \
            defaults (hybrid retrieval, greedy, tools offered only to computations). One warm-up question \
            first computes the fixed prompt prefix (instructions, worked example), whose KV the service then \
            reuses, as a long-running `mnemo serve` or `mnemo chat` would. Reports the median and the mean; \
            run `make run` first so that the store holds Examples/corpus.

            Examples:
              mnemo bench ask --store Index --threads 2
              mnemo bench ask --context text --context sentences --json
            """
        )

        @Option(help: "Questions: a TSV file whose first column is the question.")
        var questions = "Examples/queries-answers.tsv"

        @Option(help: "Context modes (repeatable; default: none, text, sentences, soft, soft-sentences).")
        var context: [MemoryContext] = [.none, .text, .sentences, .soft, .softSentences]

        @Option(name: .short, help: "Chunks retrieved.")
        var k = AskOptions().k

        @Option(help: "Prompt-lookup drafting: off, on, or both (each mode twice in one run: the same-run comparison).")
        var promptLookup = "off"

        @Option(help: "Projector for the soft modes (default: the installed one for the model).")
        var projector: String?

        @OptionGroup var toolOptions: ToolOptions
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var lm: LanguageModelOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .customLong("encoder"), help: "Sentence encoder for retrieval: an installed model's name or a directory.")
        var encoder: String = ModelLocator.defaultEncoder

        struct Row: Codable {
            var context: MemoryContext
            var questions: Int
            var firstTokenMedian: Double
            var firstTokenMean: Double
            var answerMedian: Double
            var answerMean: Double
            var contextTokens: Double
            var promptLookup: Bool
            /// Decode time (the forward passes after the prompt's) per answer, and tokens generated.
            var decodeMedian: Double
            var generatedTokens: Double
            /// Answers identical to the run without prompt lookup (nil for that run itself).
            var sameAnswers: Int?

            enum CodingKeys: String, CodingKey {
                case context, questions
                case firstTokenMedian = "first_token_median_s", firstTokenMean = "first_token_mean_s"
                case answerMedian = "answer_median_s", answerMean = "answer_mean_s", contextTokens = "context_tokens"
                case promptLookup = "prompt_lookup", decodeMedian = "decode_median_s", generatedTokens = "generated_tokens"
                case sameAnswers = "same_answers"
            }
        }

        func run() throws {
            let lines = TextInput.lines(try TextInput.read(questions)).filter { !$0.lowercased().hasPrefix("question\t") }
            let asked = lines.compactMap { $0.split(separator: "\t").first.map { String($0).trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
            guard !asked.isEmpty else { throw ValidationError("\(questions): no questions in it") }
            let encoderModel = try EncoderOptions.load(encoder, threads: lm.threads)
            let memory = try MemoryService(storeDirectory: storeOptions.directory, encoder: encoderModel, access: .read)
            let llm = try lm.load()
            let projection = context.contains(where: \.needsProjector) ? try loadProjector(projector, llm: llm, encoder: encoderModel) : nil
            let service = AskService(memory: memory, model: llm, projector: projection)
            var base = AskOptions()
            base.k = k
            base.tools = try toolOptions.names()
            base.sqlDatabase = base.tools.contains("sql") ? toolOptions.databasePath : nil

            let clock = ContinuousClock()
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            var rows: [Row] = []
            let bar = output.json ? nil : ProgressBar(total: asked.count * context.count * (promptLookup == "both" ? 2 : 1), label: "answers")
            let lookups: [Bool]
            switch promptLookup {
            case "off": lookups = [false]
            case "on": lookups = [true]
            case "both": lookups = [false, true]
            default: throw ValidationError("--prompt-lookup takes off, on or both (got '\(promptLookup)')")
            }
            var plainAnswers: [MemoryContext: [String]] = [:]
            for mode in context { for lookup in lookups {
                var options = base
                options.context = mode
                options.promptLookup = lookup
                _ = try service.ask(asked[0], options: options)  // warm-up: the fixed prefix's KV
                var first: [Double] = [], whole: [Double] = [], decode: [Double] = [], answers: [String] = [], tokens = 0, generated = 0
                for q in asked {
                    let start = clock.now
                    var firstToken: Duration?
                    let r = try service.ask(q, options: options) { piece in
                        if firstToken == nil, !piece.trimmingCharacters(in: .whitespaces).isEmpty { firstToken = clock.now - start }
                    }
                    let total = clock.now - start
                    first.append(seconds(firstToken ?? total))
                    whole.append(seconds(total))
                    tokens += r.contextTokens
                    generated += r.generatedTokens
                    decode.append(r.decodeSeconds)
                    answers.append(r.answer)
                    bar?.update(rows.count * asked.count + whole.count)
                }
                if !lookup { plainAnswers[mode] = answers }
                let same = lookup ? plainAnswers[mode].map { zip($0, answers).filter { $0 == $1 }.count } : nil
                rows.append(Row(context: mode, questions: asked.count, firstTokenMedian: Self.median(first), firstTokenMean: first.reduce(0, +) / Double(first.count),
                                answerMedian: Self.median(whole), answerMean: whole.reduce(0, +) / Double(whole.count), contextTokens: Double(tokens) / Double(asked.count),
                                promptLookup: lookup, decodeMedian: Self.median(decode), generatedTokens: Double(generated) / Double(asked.count),
                                sameAnswers: same))
            } }
            bar?.finish()
            let model = URL(fileURLWithPath: llm.path).lastPathComponent
            if output.json {
                try Terminal.printJSON(["model": AnyCodable(model), "threads": AnyCodable(lm.threads ?? 0), "cpu": AnyCodable(Hardware.cpuModel),
                                        "results": AnyCodable(rows)])
                return
            }
            print("\(model), \(asked.count) questions, k = \(k), \(Hardware.cpuModel)")
            print("| context | prompt lookup | context tokens | first token median s | mean s | whole answer median s | mean s | decode median s | tokens generated | same answers |\n|---|---|---|---|---|---|---|---|---|---|")
            for r in rows {
                print(String(format: "| %@ | %@ | %.0f | %.2f | %.2f | %.2f | %.2f | %.3f | %.1f | %@ |", r.context.rawValue, r.promptLookup ? "on" : "off", r.contextTokens,
                             r.firstTokenMedian, r.firstTokenMean, r.answerMedian, r.answerMean, r.decodeMedian, r.generatedTokens,
                             r.sameAnswers.map { "\($0)/\(r.questions)" } ?? "–"))
            }
        }

        static func median(_ xs: [Double]) -> Double {
            let s = xs.sorted()
            return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
    }
}
