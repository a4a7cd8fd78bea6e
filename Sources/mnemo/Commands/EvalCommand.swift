import ArgumentParser
import Foundation
import MnemoCore
import MnemoEvaluation
import MnemoIngest
import MnemoModels
import MnemoPostgres

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
            With --store postgresql://…, the paragraphs go into that shared store instead (an empty database, or
            one that already holds them) and the searches read this node's replica of it.

            Examples:
              mnemo eval retrieval --squad ../shared/data/squad/squad2-dev-slice.json --json
              mnemo eval retrieval --squad ../shared/data/squad/squad2-dev-slice.json --store postgresql://mnemo@127.0.0.1:5432/eval
            """
        )

        @Option(help: "A SQuAD 2.0 JSON file.")
        var squad: String

        @Option(help: "Modes to evaluate (repeatable; default: all).")
        var mode: [QueryMode] = QueryMode.allCases

        @Option(help: "Target chunk size in tokens.")
        var chunkTokens = 128

        @Option(help: "Sentence modes: most model tokens the chosen sentences take.")
        var sentenceBudget = SentenceSelection().budget

        @Option(help: "Sentence modes: weight of the question's words found in a sentence, beside its vector's cosine.")
        var termWeight = SentenceSelection().termWeight

        @Option(help: "Write the chunks and questions as JSONL here (for the reference script).")
        var dump: String?

        @Option(help: ArgumentHelp("A shared store to index the paragraphs into and search, instead of a temporary directory.", valueName: "postgresql-url"))
        var store: String?

        @Option(help: ArgumentHelp("With --store: the replica directory (default: a temporary one).", valueName: "dir"))
        var replica: String?

        func validate() throws {
            if let store, !PostgresAddress.isURL(store) {
                throw ValidationError("--store takes a postgresql:// URL here (a directory store is made in a temporary directory anyway)")
            }
        }

        @OptionGroup var encoderOptions: EncoderOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let data = try SquadDataset(path: squad)
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-eval-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: work) }
            let encoder = try encoderOptions.load()
            let shared = try store.map { url in
                try SharedStore(url: url, replicaDirectory: replica ?? (work as NSString).appendingPathComponent("replica"),
                                encoder: encoder.name, dimension: encoder.dimension)
            }
            let results = try RetrievalEvaluation.run(
                squad: data, encoder: encoder, modes: mode,
                chunking: ChunkingOptions(targetTokens: chunkTokens, overlapSentences: 1, maxTokens: 254),
                workDirectory: work, record: shared, dumpDirectory: dump)
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
            Builds a temporary store with each paragraph as one document (chunks of --chunk-tokens), and answers
            each question exactly as `mnemo ask` does (hybrid retrieval by default, greedy, the same prompt and
            answer clean-up; no tools unless --tools). Scores use SQuAD's normalisation. Answerable questions:
            EM, F1 and false abstention; unanswerable ones (--unanswerable N): abstention, the share answered
            "Not in your notes.". Context tokens: prompt positions the memories take. Soft modes need the
            model's projector (--projector, else the installed one for the model).

            Examples:
              mnemo eval qa --squad ../shared/data/squad/squad2-dev-slice.json --context text -k 3 --limit 100
              mnemo eval qa --squad ../shared/data/squad/squad2-dev-slice.json --model smollm2 \\
                  --context none --context soft -k 1 --limit 50 --unanswerable 50 --json
              mnemo eval qa --squad ../shared/data/squad/squad2-dev-slice.json --offset 100 --limit 100  # a tuning split
            """
        )

        @Option(help: "A SQuAD 2.0 JSON file.")
        var squad: String

        @Option(help: "Context modes (repeatable; default: all of none, text, soft, soft+text, sentences, soft-sentences, soft+sentences).")
        var context: [MemoryContext] = MemoryContext.allCases

        @Option(name: .short, help: "Memories per question (repeatable; default: 1 and 3).")
        var k: [Int] = [1, 3]

        @Option(help: "Only the first N answerable questions (0: all).")
        var limit = 0

        @Option(help: "Skip the first N answerable (and unanswerable) questions: tune on one split, report on another.")
        var offset = 0

        @Option(help: "Also the first N unanswerable questions, for abstention (0: none).")
        var unanswerable = 0

        @Option(help: "Retrieval: dense, bm25 or hybrid.")
        var mode: QueryMode = .hybrid

        @Option(help: ArgumentHelp("Tools offered as in `mnemo ask` (calc), comma-separated; default none.", valueName: "list"))
        var tools: String?

        @Option(help: "Target chunk size in tokens.")
        var chunkTokens = 128

        @Option(help: "Sentence modes: most model tokens the chosen sentences take.")
        var sentenceBudget = SentenceSelection().budget

        @Option(help: "Sentence modes: weight of the question's words found in a sentence, beside its vector's cosine.")
        var termWeight = SentenceSelection().termWeight

        @Option(help: "Most tokens per answer.")
        var maxTokens = 32

        @Option(help: "Projector file (default: the installed one for the model).")
        var projector: String?

        @Option(help: "Write every question's prediction as JSON lines here.")
        var answers: String?

        @Option(help: ArgumentHelp("With --answers: also write the decoder's output at these layers (comma-separated) at the end of the question and of the check turn, to train an answerability probe.", valueName: "layers"))
        var states: String?

        @Flag(help: "Verify each answer against the notes and withdraw unsupported ones, as `mnemo ask --verify` does.")
        var verify = false

        @Flag(help: "Keep answers that only repeat the question's words, as `mnemo ask --keep-echo` does (the same-run baseline).")
        var keepEcho = false

        @Flag(help: "Whole-chunk contexts: keep answers found in none of the sentences closest to the question, as `mnemo ask --keep-unsupported` does (the same-run baseline).")
        var keepUnsupported = false

        @OptionGroup var lm: LanguageModelOptions
        @Option(name: .customLong("encoder"), help: "Encoder: an installed model's name or a directory path.")
        var encoderName: String = ModelLocator.defaultEncoder
        @OptionGroup var output: OutputOptions

        /// `--states` as layer numbers (nil: not given, or an entry is not a number).
        var stateLayers: [Int]? {
            guard let states else { return nil }
            let layers = states.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            return layers.contains(nil) ? nil : layers.compactMap { $0 }
        }

        func validate() throws {
            guard k.allSatisfy({ $0 > 0 && $0 <= 20 }) else { throw ValidationError("-k must be within 1…20") }
            guard sentenceBudget > 0 else { throw ValidationError("--sentence-budget must be > 0") }
            guard limit >= 0, offset >= 0, unanswerable >= 0, maxTokens > 0 else {
                throw ValidationError("--limit, --offset and --unanswerable must be ≥ 0 and --max-tokens > 0")
            }
            if let states {
                guard answers != nil else { throw ValidationError("--states needs --answers (the file they are written to)") }
                guard let layers = stateLayers, layers.allSatisfy({ $0 >= 0 }) else {
                    throw ValidationError("--states: comma-separated layer numbers, e.g. 12,18,23 (got '\(states)')")
                }
            }
            if let tools, tools.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) != "calc" }) {
                throw ValidationError("--tools: eval qa offers only calc (the dev slice has no database)")
            }
        }

        func run() throws {
            let data = try SquadDataset(path: squad)
            let llm = try lm.load()
            let encoder = try SentenceEncoder(directory: ModelLocator.resolve(encoderName))
            let projection = context.contains(where: \.needsProjector) ? try loadProjector(projector, llm: llm, encoder: encoder) : nil
            var questions = Array(data.questions.filter { !$0.isImpossible }.dropFirst(offset))
            if limit > 0 { questions = Array(questions.prefix(limit)) }
            questions += data.questions.filter(\.isImpossible).dropFirst(offset).prefix(unanswerable)
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
                                                              configurations: configurations, mode: mode, tools: tools.map { _ in ["calc"] } ?? [],
                                                              maxTokens: maxTokens,
                                                              sentences: SentenceSelection(budget: sentenceBudget, termWeight: termWeight),
                                                              verify: verify, avoidEcho: !keepEcho,
                                                              requireSupport: !keepUnsupported,
                                                              captureLayers: stateLayers ?? []) { bar.update($0) }
            bar.finish()
            if let answers {
                var lines = Data()
                for p in predictions { lines.append(try JSONEncoder().encode(p)); lines.append(0x0A) }
                try lines.write(to: URL(fileURLWithPath: answers))
            }
            let model = URL(fileURLWithPath: llm.path).lastPathComponent
            if output.json {
                try Terminal.printJSON(["model": AnyCodable(model), "projector": AnyCodable(projection?.manifest.model ?? ""),
                                        "questions": AnyCodable(questions.count), "mode": AnyCodable(mode.rawValue), "results": AnyCodable(results)])
                return
            }
            let answerable = questions.filter { !$0.isImpossible }.count
            print("\(model), \(answerable) answerable and \(questions.count - answerable) unanswerable questions, \(mode.rawValue) retrieval")
            print("| context | k | EM | F1 | abstention | false abstention | context tokens | s per answer |\n|---|---|---|---|---|---|---|---|")
            for r in results {
                print(String(format: "| %@ | %d | %.3f | %.3f | %@ | %.3f | %.1f | %.2f |", r.context.rawValue, r.k, r.exactMatch, r.f1,
                             r.unanswerableQuestions > 0 ? String(format: "%.3f", r.abstention) : "–", r.falseAbstention, r.contextTokens, r.seconds))
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
