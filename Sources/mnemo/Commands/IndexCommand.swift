import ArgumentParser
import Foundation
import MnemoCore
import MnemoIngest
import MnemoStore

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Add files and directories to the memory store.",
        discussion: """
        Formats: .txt .md .html .jsonl .pdf (directories are walked recursively, hidden files skipped).
        Text is split into sentence-aligned chunks, each embedded once; a file indexed again replaces
        its chunks, an unchanged file is skipped, identical content is stored once.

        Examples:
          mnemo index notes/ --store ~/memory
          mnemo index journal.jsonl --namespace journal --meta owner=me --json
          mnemo index paper.pdf --chunk-tokens 200 --overlap 2
          PGPASSWORD=... mnemo index notes/ --store postgresql://mnemo@db.example:5432/memory --json
        """
    )

    @Argument(help: "Files or directories to index.")
    var paths: [String]

    @Option(help: "Namespace the documents go into.")
    var namespace = "default"

    @Option(name: .customLong("meta"), help: "Metadata KEY=VALUE for every chunk (repeatable).")
    var meta: [String] = []

    @Option(help: "Target chunk size in word-piece tokens.")
    var chunkTokens = 128

    @Option(help: "Sentences repeated from the end of one chunk at the start of the next.")
    var overlap = 1

    @Option(help: "For .jsonl: the field holding the text (other fields become metadata).")
    var textField = "text"

    @Option(help: "Index kind when the store is created: \(IndexKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: IndexKind = .flat

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var encoderOptions: EncoderOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard chunkTokens >= 8, chunkTokens <= 254 else { throw ValidationError("--chunk-tokens must be between 8 and 254 (the encoder reads 256 tokens)") }
        guard overlap >= 0 else { throw ValidationError("--overlap must be 0 or more") }
        _ = try parsePairs(meta, option: "--meta")
    }

    func run() throws {
        let service = try storeOptions.memory(encoder: encoderOptions.load(), access: .write(createWith: kind))
        var options = IndexOptions()
        options.namespace = namespace
        options.metadata = Dictionary(try parsePairs(meta, option: "--meta"), uniquingKeysWith: { $1 })
        options.chunking = ChunkingOptions(targetTokens: chunkTokens, overlapSentences: overlap, maxTokens: 254)
        options.textField = textField

        var bar: ProgressBar?
        let report = try service.index(paths: paths, options: options) { p in
            if bar == nil { bar = ProgressBar(total: p.filesTotal, label: "files") }
            bar?.extra = String(format: "%d chunks  %.1f chunks/s", p.chunks, Double(p.chunks) / max(p.elapsed, 1e-3))
            bar?.update(p.filesDone)
        }
        bar?.finish()
        // Nothing found to index at all (every path missing or unsupported) is a failed command.
        let failed = report.files == 0 && !report.skipped.isEmpty
        if output.json {
            try Terminal.printJSON(report)
            if failed { throw ExitCode.failure }
            return
        }
        print(String(format: "indexed %d file(s): %d added, %d replaced, %d unchanged; %d chunks (%d embedded, %d reused), %d sentences (%d embedded) in %.1f s → %@",
                     report.files, report.added, report.replaced, report.unchanged, report.chunks, report.embedded,
                     report.reusedEmbeddings, report.sentences, report.sentencesEmbedded, report.seconds, storeOptions.displayName))
        if report.seq > 0 { print("change \(report.seq) of the shared store (read it elsewhere with --min-seq \(report.seq))") }
        if report.chunksMigrated > 0 { print("filled in the sentence vectors of \(report.chunksMigrated) chunk(s) stored before the store had them") }
        for w in report.warnings { Terminal.printError("warning: \(w)") }
        if !report.skipped.isEmpty {
            print("skipped \(report.skipped.count):")
            for s in report.skipped { print("  \(s.path): \(s.reason)") }
        }
        if failed { throw ExitCode.failure }
    }
}

extension IndexKind: ExpressibleByArgument {}
extension QueryMode: ExpressibleByArgument {}
