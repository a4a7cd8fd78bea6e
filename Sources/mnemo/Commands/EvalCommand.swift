import ArgumentParser
import Foundation
import MnemoCore
import MnemoIngest
import MnemoModels

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate retrieval and question answering on a SQuAD file, or the LLM with and without tools.",
        subcommands: [Retrieval.self, QA.self, Tools.self, Chat.self]
    )

    struct Retrieval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "hit@1, hit@5 and MRR@10 of the answer's paragraph, per query mode.",
            discussion: """
            Builds a temporary store with each paragraph as one document, then asks every answerable question.

            Example:
              mnemo eval retrieval --squad ../shared/data/squad/squad2-dev-slice.json --json
            """
        )

        @Option(help: "A SQuAD 2.0 JSON file.")
        var squad: String

        @Option(help: "Modes to evaluate (repeatable; default: all).")
        var mode: [QueryMode] = QueryMode.allCases

        @Option(help: "Target chunk size in tokens.")
        var chunkTokens = 128

        @Option(help: "Write the chunks and questions as JSONL here (for the reference script).")
        var dump: String?

        @OptionGroup var encoderOptions: EncoderOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let data = try SquadDataset(path: squad)
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-eval-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: work) }
            let results = try RetrievalEvaluation.run(
                squad: data, encoder: encoderOptions.load(), modes: mode,
                chunking: ChunkingOptions(targetTokens: chunkTokens, overlapSentences: 1, maxTokens: 254),
                workDirectory: work, dumpDirectory: dump)
            if output.json {
                try Terminal.printJSON(["paragraphs": AnyCodable(data.paragraphs.count), "results": AnyCodable(results)])
                return
            }
            print("\(data.paragraphs.count) paragraphs, \(results.first?.questions ?? 0) answerable questions")
            print("| mode | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|")
            for r in results { print(String(format: "| %@ | %.3f | %.3f | %.3f |", r.mode.rawValue, r.hitAt1, r.hitAt5, r.mrrAt10)) }
        }
    }
}

extension EvalCommand {
    struct QA: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qa",
            abstract: "Exact match and F1 of answers with memories as text, soft tokens, both, or none.",
            discussion: """
            Builds a temporary store with each paragraph as one document (chunks of --chunk-tokens), retrieves
            the top k chunks for each answerable question (dense), and answers greedily. Scores use SQuAD's
            normalisation. Context tokens: prompt positions the memories take. Soft modes need the model's
            projector (--projector, else the installed one for the model).

            Examples:
              mnemo eval qa --squad ../shared/data/squad/squad2-dev-slice.json --model smollm2
              mnemo eval qa --squad ../shared/data/squad/squad2-dev-slice.json --model smollm2 \\
                  --context none --context soft -k 1 --limit 50 --json
            """
        )

        @Option(help: "A SQuAD 2.0 JSON file.")
        var squad: String

        @Option(help: "Context modes (repeatable; default: none, text, soft, soft+text).")
        var context: [MemoryContext] = MemoryContext.allCases

        @Option(name: .short, help: "Memories per question (repeatable; default: 1 and 3).")
        var k: [Int] = [1, 3]

        @Option(help: "Only the first N answerable questions (0: all).")
        var limit = 0

        @Option(help: "Target chunk size in tokens.")
        var chunkTokens = 128

        @Option(help: "Most tokens per answer.")
        var maxTokens = 24

        @Option(help: "Projector file (default: the installed one for the model).")
        var projector: String?

        @Option(help: "Write every question's prediction as JSON lines here.")
        var answers: String?

        @OptionGroup var lm: LanguageModelOptions
        @Option(name: .customLong("encoder"), help: "Encoder: an installed model's name or a directory path.")
        var encoderName: String = ModelLocator.defaultEncoder
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard k.allSatisfy({ $0 > 0 && $0 <= 20 }) else { throw ValidationError("-k must be within 1…20") }
            guard limit >= 0, maxTokens > 0 else { throw ValidationError("--limit must be ≥ 0 and --max-tokens > 0") }
        }

        func run() throws {
            let data = try SquadDataset(path: squad)
            let llm = try lm.load()
            let encoder = try SentenceEncoder(directory: ModelLocator.resolve(encoderName))
            let projection = context.contains(where: \.needsProjector) ? try loadProjector(projector, llm: llm, encoder: encoder) : nil
            var questions = data.questions.filter { !$0.isImpossible }
            if limit > 0 { questions = Array(questions.prefix(limit)) }
            var configurations: [QAEvaluation.Configuration] = []
            for c in context {
                for k in (c == .none ? [0] : k) { configurations.append(.init(context: c, k: k)) }
            }
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-eval-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: work) }
            let (memory, _) = try data.buildStore(encoder: encoder, chunking: ChunkingOptions(targetTokens: chunkTokens, overlapSentences: 1, maxTokens: 254),
                                                  workDirectory: work)
            let bar = ProgressBar(total: questions.count, label: "questions")
            let (results, predictions) = try QAEvaluation.run(questions: questions, memory: memory, llm: llm, projector: projection,
                                                              configurations: configurations, maxTokens: maxTokens) { bar.update($0) }
            bar.finish()
            if let answers {
                var lines = Data()
                for p in predictions { lines.append(try JSONEncoder().encode(p)); lines.append(0x0A) }
                try lines.write(to: URL(fileURLWithPath: answers))
            }
            let model = URL(fileURLWithPath: llm.path).lastPathComponent
            if output.json {
                try Terminal.printJSON(["model": AnyCodable(model), "projector": AnyCodable(projection?.manifest.model ?? ""),
                                        "questions": AnyCodable(questions.count), "results": AnyCodable(results)])
                return
            }
            print("\(model), \(questions.count) answerable questions")
            print("| context | k | EM | F1 | context tokens | prefill ms |\n|---|---|---|---|---|---|")
            for r in results {
                print(String(format: "| %@ | %d | %.3f | %.3f | %.1f | %.0f |", r.context.rawValue, r.k, r.exactMatch, r.f1, r.contextTokens, r.prefillSeconds * 1000))
            }
        }
    }
}

extension MemoryContext: ExpressibleByArgument {}

/// Type-erased Encodable, for small mixed JSON objects.
struct AnyCodable: Encodable {
    let encodeValue: (Encoder) throws -> Void
    init<T: Encodable>(_ value: T) { encodeValue = value.encode }
    func encode(to encoder: Encoder) throws { try encodeValue(encoder) }
}
