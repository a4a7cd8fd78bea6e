import ArgumentParser
import Foundation
import MnemoModels
import MnemoTensor

/// Benchmarks print figures; they assert nothing. The scripts in Tests/Scripts run them beside the
/// peer implementations in the same run and report ratios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput (used by Tests/Scripts/bench-*.sh).",
        subcommands: [Encoder.self]
    )

    struct Encoder: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sentences per second of the sentence encoder over a file of sentences.",
            discussion: "Example: mnemo bench encoder --file sentences.txt --threads 2 --batch 32"
        )

        @Option(help: "A UTF-8 file with one sentence per line.")
        var file: String

        @Option(help: "Texts per forward pass.")
        var batch = 32

        @Option(help: "Timed passes over the whole file (the best is reported).")
        var repeats = 3

        @OptionGroup var encoderOptions: EncoderOptions

        func run() throws {
            let sentences = TextInput.lines(try TextInput.read(file))
            let encoder = try encoderOptions.load()
            _ = try encoder.embed(Array(sentences.prefix(batch)), batchSize: batch)  // warm-up
            var best = Double.infinity
            for _ in 0..<max(1, repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try encoder.embed(sentences, batchSize: batch)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            print("sentences: \(sentences.count)  threads: \(BLAS.threads)  batch: \(batch)  blas-core: \(BLAS.coreName)")
            print(String(format: "sentences/s: %.1f", Double(sentences.count) / best))
        }
    }
}
