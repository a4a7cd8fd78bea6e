import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels
import MnemoPostgres
import MnemoStore
import MnemoTensor

/// `--threads`, one flag for every command that computes (`Runtime.configure` applies it).
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for matrix work (default: $MNEMO_THREADS, else all cores).")
    var threads: Int?

    func configure() { Runtime.configure(threads: threads) }
}

/// Which sentence encoder to load, and how many threads it may use.
struct EncoderOptions: ParsableArguments {
    @Option(name: .customLong("encoder"), help: "Encoder: an installed model's name or a directory path.")
    var encoder: String = ModelLocator.defaultEncoder

    @OptionGroup var threadOptions: ThreadOptions
    var threads: Int? { threadOptions.threads }

    func load() throws -> SentenceEncoder {
        threadOptions.configure()
        return try SentenceEncoder(directory: ModelLocator.resolve(encoder))
    }
}

/// Which decoder LLM to load, and how many threads it may use.
struct LanguageModelOptions: ParsableArguments {
    @Option(help: "Model: an installed model's name (smollm2, qwen-0.5b, qwen-1.5b) or a GGUF path.")
    var model: String = ModelLocator.defaultChatModel

    @OptionGroup var threadOptions: ThreadOptions
    var threads: Int? { threadOptions.threads }

    func load() throws -> LanguageModel {
        threadOptions.configure()
        return try LanguageModel(path: ModelLocator.resolve(model))
    }
}

/// Sampling flags shared by the commands that generate (`generate`, `ask`, `chat`); the HTTP server
/// maps the same names from its JSON (`SamplingChoices`).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Most tokens to generate (per round for ask and chat).")
    var maxTokens: Int = 256

    @Option(help: "Sampling temperature; 0 is greedy, always the most likely token (default: 0.7 for generate, 0 for ask and chat).")
    var temperature: Float?

    @Option(help: "Keep the K most likely tokens (0: all; default 40).")
    var topK: Int?

    @Option(help: "Keep the most likely tokens up to this total probability (1: all; default 0.9).")
    var topP: Float?

    @Option(help: "Random seed, for a reproducible sampled answer (default: random, reported by --json).")
    var seed: UInt64?

    @Option(help: "Min-p: keep tokens with p ≥ MIN_P · p_max at temperature 1 (0: off; 0.05-0.1 are usual).")
    var minP: Float?

    @Option(help: "topT: keep tokens with p ≥ TOP_T · p_max after the temperature (= min-p TOP_T^T; 0: off).")
    var topT: Float?

    @Option(help: ArgumentHelp("Per-token temperature from the entropy, between LOW and HIGH (e.g. 0.5:1.5); replaces --temperature.",
                               valueName: "LOW:HIGH"))
    var adaptiveTemperature: String?

    @Flag(help: "Roll back a sampled token when the model's confidence collapses after it, ban it there and resample.")
    var rollback = false

    @Option(help: "Repetition penalty θ for tokens among the last --penalty-window generated (1: off; 1.1 is usual).")
    var repeatPenalty: Float?

    @Option(help: "Subtracted from a token's logit per occurrence in the window (0: off).")
    var frequencyPenalty: Float?

    @Option(help: "Subtracted from the logit of a token present in the window (0: off).")
    var presencePenalty: Float?

    @Option(help: "Generated tokens the penalties look back over (default 64).")
    var penaltyWindow: Int?

    var choices: SamplingChoices {
        var c = SamplingChoices()
        c.temperature = temperature
        c.topK = topK
        c.topP = topP
        c.seed = seed
        c.minP = minP
        c.topT = topT
        c.repetitionPenalty = repeatPenalty
        c.frequencyPenalty = frequencyPenalty
        c.presencePenalty = presencePenalty
        c.penaltyWindow = penaltyWindow
        c.adaptiveTemperature = adaptiveTemperature.flatMap { try? AdaptiveTemperatureRange(parsing: $0) }
        c.rollback = rollback
        return c
    }

    /// The generation settings, with `defaultTemperature` where `--temperature` is not given (checked in
    /// `validate`, so this does not fail).
    func parameters(defaultTemperature: Float) -> GenerationParameters {
        GenerationParameters(maxTokens: maxTokens, sampling: (try? choices.resolved(defaultTemperature: defaultTemperature)) ?? .greedy)
    }

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        do {
            if let adaptiveTemperature { _ = try AdaptiveTemperatureRange(parsing: adaptiveTemperature) }
            _ = try choices.resolved(defaultTemperature: 0)
        } catch let e as ModelError { throw ValidationError(e.message) }
    }
}

/// `--tools calc,sql` / `--no-tools` and the database for `sql`.
struct ToolOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Tools the model may call, comma-separated: calc, sql (default: calc, and sql when a database is given).",
                               valueName: "list"))
    var tools: String?

    @Flag(help: "Offer no tools.")
    var noTools = false

    @Option(help: "SQLite database for the sql tool (default: $MNEMO_SQL_DB).")
    var db: String?

    var databasePath: String? {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["MNEMO_SQL_DB"], !env.isEmpty { return env }
        return nil
    }

    /// The tool names, checked.
    func names() throws -> [String] {
        if noTools { return [] }
        guard let tools else { return AskOptions.defaultTools(database: databasePath) }
        var out: [String] = []
        for raw in tools.split(separator: ",", omittingEmptySubsequences: false) {
            let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard ["calc", "sql"].contains(name) else {
                throw ValidationError("unknown tool '\(name)' in --tools (tools: calc, sql; or --no-tools)")
            }
            if !out.contains(name) { out.append(name) }
        }
        return out
    }

    func validate() throws {
        if noTools && tools != nil { throw ValidationError("give --tools or --no-tools, not both") }
        if try names().contains("sql") && databasePath == nil {
            throw ValidationError("the sql tool needs a database: --db PATH (or $MNEMO_SQL_DB)")
        }
        if let db, !FileManager.default.fileExists(atPath: db) { throw ValidationError("--db: no file at \(db)") }
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
    @Option(help: ArgumentHelp("Store: a directory, or a shared store's postgresql://USER@HOST:PORT/DATABASE (default: $MNEMO_STORE, else ~/.local/share/mnemo/store).",
                               discussion: "A shared store's password comes from PGPASSWORD, ~/.pgpass or PGPASSFILE, never from the URL."))
    var store: String?

    @Option(help: ArgumentHelp("A shared store's local replica directory (default: one under ~/.local/share/mnemo/replicas for the URL).", valueName: "dir"))
    var replica: String?

    @Option(name: .customLong("read-url"), help: ArgumentHelp("A shared store's streaming standby, read for the change log while it keeps up.", valueName: "url"))
    var readURL: String?

    private static var dataDirectory: String {
        let env = ProcessInfo.processInfo.environment
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        return (data as NSString).appendingPathComponent("mnemo")
    }

    /// The store as given: a directory or a URL.
    var location: String {
        if let store { return store }
        if let env = ProcessInfo.processInfo.environment["MNEMO_STORE"], !env.isEmpty { return env }
        return (Self.dataDirectory as NSString).appendingPathComponent("store")
    }

    var isShared: Bool { PostgresAddress.isURL(location) }

    /// The directory searches read: the store itself, or the shared store's replica.
    var directory: String {
        guard isShared else { return location }
        return replica ?? PostgresAddress.defaultReplica(for: location, dataDirectory: Self.dataDirectory)
    }

    /// The store as messages name it (a URL without its password).
    var displayName: String { isShared ? PostgresAddress.redacted(location) : location }

    /// The shared store, its replica brought up to date; `encoder` nil adopts the database's (for commands
    /// without an encoder), and a database without a store is then an error.
    /// `startStale` (servers): a primary that cannot be reached is no error when this node already has a replica.
    func shared(encoder: String? = nil, dimension: Int? = nil, startStale: Bool = false) throws -> SharedStore {
        try SharedStore(url: location, readURL: readURL, replicaDirectory: directory, encoder: encoder, dimension: dimension,
                        startStale: startStale)
    }

    /// The memory service over this store: a shared store's writes go to PostgreSQL.
    func memory(encoder: SentenceEncoder, access: MemoryStore.Access) throws -> MemoryService {
        guard isShared else { return try MemoryService(storeDirectory: location, encoder: encoder, access: access) }
        return try MemoryService(record: try shared(encoder: encoder.name, dimension: encoder.dimension), encoder: encoder)
    }

    /// The store's record for writing without an encoder (delete, rebuild).
    func recordForWriting() throws -> any MemoryRecord {
        guard isShared else { return try openStoreForWriting(location) }
        return try shared()
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
