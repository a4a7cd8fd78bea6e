import ArgumentParser
import Foundation
import MnemoCore
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

/// Which store to use.
struct StoreOptions: ParsableArguments {
    @Option(help: "Store directory (default: $MNEMO_STORE, else ~/.local/share/mnemo/store).")
    var store: String?

    var directory: String {
        if let store { return store }
        let env = ProcessInfo.processInfo.environment
        if let dir = env["MNEMO_STORE"], !dir.isEmpty { return dir }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (data as NSString).appendingPathComponent("mnemo/store")
    }
}

/// `--where k=v` and `--meta k=v` pairs.
func parsePairs(_ pairs: [String], option: String) throws -> [(key: String, value: String)] {
    try pairs.map { pair in
        guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
            throw ValidationError("\(option) expects KEY=VALUE, got \(pair.debugDescription)")
        }
        return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
    }
}

/// The projector for `llm`: the given file, else the installed one; checked against the pair in use.
func loadProjector(_ path: String?, llm: LanguageModel, encoder: SentenceEncoder) throws -> Projector {
    let file = path ?? ModelLocator.projectorPath(forModel: llm.path)
    guard FileManager.default.fileExists(atPath: file) else {
        throw ModelError(.fileNotFound, "no projector for \(URL(fileURLWithPath: llm.path).lastPathComponent) at \(file); give --projector FILE, run `make setup`, or train one with `mnemo train-projector`")
    }
    return try Projector(path: file, expect: (try ModelIdentity.encoderSHA256(encoder), try ModelIdentity.sha256(ofFile: llm.path)))
}
