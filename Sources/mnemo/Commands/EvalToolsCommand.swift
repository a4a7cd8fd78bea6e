import ArgumentParser
import Foundation
import MnemoCore
import MnemoEvaluation
import MnemoModels
import MnemoTools

extension EvalCommand {
    struct Tools: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tools",
            abstract: "Accuracy of the LLM alone and with tools, and the validity of its tool calls.",
            discussion: """
            Asks every question twice, greedily: the LLM alone (no tools), then the LLM with the set's tool \
            (arithmetic: the calculator; SQL questions: sql_query over --db), through the tool router (up to \
            --max-rounds rounds of calls). An answer is correct when it states the expected value: numbers \
            are read with thousands separators removed and must equal the exact value, or the value rounded \
            as the question asks; strings must appear in the answer; for rows, every value must. Validity is \
            valid calls / all calls (a call is valid when it parses, names a known tool and matches its \
            schema). Without --arithmetic or --sql both default sets run.

            --limit N keeps N questions of each set, evenly spaced through the file (deterministic).

            Examples:
              mnemo eval tools --limit 10
              mnemo eval tools --arithmetic Examples/eval/arithmetic.jsonl --json > arithmetic.json
              mnemo eval tools --sql Examples/eval/shop-questions.jsonl --db Examples/shop.sqlite --model qwen-1.5b
            """
        )

        @Option(help: "Arithmetic word problems (JSONL: id, question, answer).")
        var arithmetic: String?

        @Option(help: "Questions over the database (JSONL: id, question, answer).")
        var sql: String?

        @Option(help: "The SQLite database the SQL questions are about.")
        var db: String = "Examples/shop.sqlite"

        @Option(help: "Questions per set, evenly spaced through the file (default: all).")
        var limit: Int?

        @Option(help: "Most tokens per generation round.")
        var maxTokens = 192

        @Option(help: "Rounds of tool calls before the model must answer.")
        var maxRounds = 4

        @Option(help: "Ways to ask, comma-separated: alone (no tools), tools.")
        var ways = "alone,tools"

        @Flag(help: "Let the model write its whole tool calls (default: guided calls, the router writes the JSON around the model's arguments).")
        var freeCalls = false

        @OptionGroup var lm: LanguageModelOptions
        @OptionGroup var output: OutputOptions

        static let defaultArithmetic = "Examples/eval/arithmetic.jsonl"
        static let defaultSQL = "Examples/eval/shop-questions.jsonl"

        func validate() throws {
            if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
            guard (0...16).contains(maxRounds) else { throw ValidationError("--max-rounds must be between 0 and 16") }
            guard !wayNames.isEmpty, wayNames.isSubset(of: ["alone", "tools"]) else {
                throw ValidationError("--ways takes alone, tools or both (got '\(ways)')")
            }
        }

        var wayNames: Swift.Set<String> {
            Swift.Set(ways.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }

        /// Up to `limit` items, evenly spaced (all when there are fewer).
        static func subset<T>(_ items: [T], limit: Int?) -> [T] {
            guard let limit, limit < items.count else { return items }
            return (0..<limit).map { items[$0 * items.count / limit] }
        }

        struct Report: Encodable {
            let model: String
            let threads: Int
            let maxTokens: Int
            let maxRounds: Int
            let guidedCalls: Bool
            let summaries: [ToolEvalSummary]
            let outcomes: [ToolEvalOutcome]

            enum CodingKeys: String, CodingKey {
                case model, threads, summaries, outcomes
                case maxTokens = "max_tokens", maxRounds = "max_rounds", guidedCalls = "guided_calls"
            }
        }

        func run() throws {
            var sets: [(name: String, path: String, tools: () throws -> [ToolSpec])] = []
            let both = arithmetic == nil && sql == nil
            if let path = arithmetic ?? (both ? Self.defaultArithmetic : nil) {
                sets.append(("arithmetic", path, { [.calculator()] }))
            }
            if let path = sql ?? (both ? Self.defaultSQL : nil) {
                let db = self.db
                sets.append(("sql", path, { [try .sqlQuery(ReadOnlyDatabase(path: db))] }))
            }
            let loaded = try sets.map { set in
                (set.name, Self.subset(try ToolEvalItem.load(set.path), limit: limit), try set.tools())
            }
            let llm = try lm.load()
            var options = ToolRouterOptions()
            options.maxRounds = maxRounds
            options.generation = GenerationParameters(maxTokens: maxTokens, sampling: .greedy)
            options.guidedCalls = !freeCalls
            let (askAlone, askWithTools) = (wayNames.contains("alone"), wayNames.contains("tools"))
            var summaries: [ToolEvalSummary] = []
            var outcomes: [ToolEvalOutcome] = []
            for (name, items, tools) in loaded {
                var done = 0
                let total = items.count * ((askAlone ? 1 : 0) + (askWithTools ? 1 : 0))
                let (alone, withTools) = try ToolEvaluation.run(.init(name: name, items: items, tools: tools), model: llm, options: options,
                                                                alone: askAlone, withTools: askWithTools) { o in
                    done += 1
                    let calls = o.calls.isEmpty ? "" : " calls \(o.calls.filter(\.valid).count)/\(o.calls.count) valid"
                    Terminal.printError(String(format: "%@ %d/%d %@ %@ %@%@ (%.1f s)", name, done, total, o.id,
                                               o.withTools ? "tools" : "alone", o.correct ? "✓" : "✗", calls, o.seconds))
                }
                if askAlone { summaries.append(ToolEvalSummary(set: name, withTools: false, outcomes: alone)) }
                if askWithTools { summaries.append(ToolEvalSummary(set: name, withTools: true, outcomes: withTools)) }
                outcomes += alone + withTools
            }
            if output.json {
                try Terminal.printJSON(Report(model: URL(fileURLWithPath: llm.path).lastPathComponent, threads: lm.threads ?? Runtime.defaultThreads,
                                              maxTokens: maxTokens, maxRounds: maxRounds, guidedCalls: !freeCalls, summaries: summaries, outcomes: outcomes))
                return
            }
            print("model \(URL(fileURLWithPath: llm.path).lastPathComponent), greedy, ≤ \(maxTokens) tokens a round, ≤ \(maxRounds) rounds of calls, "
                  + (freeCalls ? "free calls" : "guided calls"))
            print("| set | LLM | questions | correct | accuracy | tool calls | valid | validity | guided | tagged | tokens generated | s / question |")
            print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for s in summaries {
                let validity = s.validity.map { String(format: "%.3f", $0) } ?? "–"
                print(String(format: "| %@ | %@ | %d | %d | %.3f | %d | %d | %@ | %d | %d | %d | %.1f |", s.set, s.withTools ? "with tools" : "alone",
                             s.items, s.correct, s.accuracy, s.calls, s.validCalls, validity, s.guidedCalls, s.taggedCalls, s.generatedTokens,
                             s.meanSeconds))
            }
        }
    }
}
