import ArgumentParser
import Foundation
import MnemoModels
import MnemoTensor

/// Which sentence encoder to load, and how many threads it may use.
struct EncoderOptions: ParsableArguments {
    @Option(name: .customLong("encoder"), help: "Encoder: an installed model's name or a directory path.")
    var encoder: String = ModelLocator.defaultEncoder

    @Option(help: "Threads for matrix work (default: $MNEMO_THREADS, else all cores).")
    var threads: Int?

    func load() throws -> SentenceEncoder {
        Runtime.configure(threads: threads)
        return try SentenceEncoder(directory: ModelLocator.resolve(encoder))
    }
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON on stdout for scripts.")
    var json = false
}

enum Runtime {
    static var defaultThreads: Int {
        if let env = ProcessInfo.processInfo.environment["MNEMO_THREADS"], let n = Int(env), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    static func configure(threads: Int?) {
        BLAS.setThreads(threads ?? defaultThreads)
    }
}
