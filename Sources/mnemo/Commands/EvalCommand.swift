import ArgumentParser
import Foundation
import MnemoCore
import MnemoIngest

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate retrieval on a SQuAD file, or the LLM with and without tools.",
        subcommands: [Retrieval.self, Tools.self]
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

/// Type-erased Encodable, for small mixed JSON objects.
struct AnyCodable: Encodable {
    let encodeValue: (Encoder) throws -> Void
    init<T: Encodable>(_ value: T) { encodeValue = value.encode }
    func encode(to encoder: Encoder) throws { try encodeValue(encoder) }
}
