import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels
import MnemoServer

/// Options `serve` and `mcp` share: the store, the encoder, the chat model and its queue.
struct ServerModelOptions: ParsableArguments {
    @Option(help: "Chat model, loaded on the first chat request: an installed model's name (smollm2, qwen-0.5b, qwen-1.5b) or a GGUF path.")
    var model: String = ModelLocator.defaultChatModel

    @Option(name: .customLong("encoder"), help: "Sentence encoder: an installed model's name or a directory path.")
    var encoder: String = ModelLocator.defaultEncoder

    @OptionGroup var threadOptions: ThreadOptions

    @Option(help: "Chat requests that may wait while one generates; more get 503.")
    var queue = 8

    @Option(help: "Concurrent memory searches (store reader connections).")
    var readers = 4

    func validate() throws {
        guard (0...1000).contains(queue) else { throw ValidationError("--queue must be between 0 and 1000") }
        guard (1...64).contains(readers) else { throw ValidationError("--readers must be between 1 and 64") }
    }

    /// The encoder, the store (its write lock taken only while writing) and the model queue.
    func services(store: StoreOptions) throws -> ServerServices {
        threadOptions.configure()
        let sentenceEncoder = try SentenceEncoder(directory: ModelLocator.resolve(encoder))
        var limits = MemoryHub.Limits()
        limits.readers = readers
        let memory: MemoryHub
        if store.isShared {
            // The replica follows the database from now on; a lost connection is logged and retried.
            // A node restarted while the database is away serves its replica, stale, and catches up later.
            let shared = try store.shared(encoder: sentenceEncoder.name, dimension: sentenceEncoder.dimension, startStale: true)
            if shared.health.stale {
                Terminal.printError("mnemo: \(shared.address) cannot be reached; serving the replica in \(shared.directory) (stale) until it can: \(shared.health.lastError ?? "")")
            }
            shared.startFollowing { Terminal.printError("mnemo: shared store: \($0)") }
            memory = try MemoryHub(shared: shared, encoder: sentenceEncoder, limits: limits)
        } else {
            memory = try MemoryHub(directory: store.location, encoder: sentenceEncoder, limits: limits)
        }
        let metrics = ServerMetrics()
        // The chat model is found and loaded on first use: memory-only clients never need it installed.
        let modelName = model
        let generation = GenerationQueue(modelID: modelName, capacity: queue, metrics: metrics) {
            LanguageModelGenerator(try LanguageModel(path: ModelLocator.resolve(modelName)))
        }
        return ServerServices(memory: memory, generation: generation, metrics: metrics)
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the memory and the chat model over HTTP (OpenAI-compatible API).",
        discussion: """
        Endpoints: POST /v1/embeddings, POST /v1/chat/completions (streaming with "stream": true; memory \
        retrieval with "mnemo": {"k": 3, "mode": "hybrid", "namespace": "..."}), GET /v1/models, \
        POST /v1/memory/documents, POST /v1/memory/search, DELETE /v1/memory/documents?source=S, \
        DELETE /v1/memory/chunks/ID, GET /v1/memory/stats, GET /health, GET /metrics (Prometheus).

        A bearer token (--token-file, or $MNEMO_TOKEN) of 32 or more characters is required to listen beyond \
        loopback (`--new-token FILE` writes a random one, mode 0600, and exits); with one, every \
        route but /health needs "Authorization: Bearer TOKEN". The server takes the store's write lock only \
        while it writes (released a second after the last write), so `mnemo index` can run beside it.         With --store postgresql://…, several servers share one memory: each keeps a replica that follows         the database (docs/SHARED-STORE.md).

        Examples:
          mnemo serve --store ~/memory
          mnemo serve --store postgresql://mnemo@db.example:5432/memory --replica /var/lib/mnemo/replica
          mnemo serve --port 9000 --model smollm2
          mnemo serve --new-token ~/.config/mnemo/token
          mnemo serve --host 0.0.0.0 --token-file ~/.config/mnemo/token
          mnemo serve --header-timeout 5 --body-timeout 20 --max-connections 256
          curl -s localhost:8080/v1/memory/search -d '{"query": "boiler service", "k": 3}'
        """
    )

    @Option(help: "Address to listen on (a token is required beyond loopback).")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port, printed on start).")
    var port = 8080

    @Option(help: "File holding the bearer token clients must send (default: $MNEMO_TOKEN).")
    var tokenFile: String?

    @Option(help: ArgumentHelp("Write a new random token to FILE (mode 0600; never over an existing file) and exit.", valueName: "FILE"))
    var newToken: String?

    @Option(help: "Largest request body in bytes (413 beyond it; the connection is then closed).")
    var maxBody = 4 << 20

    @Option(help: ArgumentHelp("Seconds a new connection has to send its first request's headers.", valueName: "s"))
    var headerTimeout = 10.0

    @Option(help: ArgumentHelp("Seconds a request's body may take after its headers.", valueName: "s"))
    var bodyTimeout = 30.0

    @Option(help: ArgumentHelp("Seconds a kept-alive connection may wait between requests.", valueName: "s"))
    var idleTimeout = 60.0

    @Option(help: "Connections open at once (more wait to be accepted).")
    var maxConnections = 512

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var models: ServerModelOptions

    func settings() throws -> ServerSettings {
        var settings = ServerSettings()
        settings.host = host
        settings.port = port
        settings.maxBodyBytes = maxBody
        settings.connections.headerTimeout = .milliseconds(Int64((headerTimeout * 1000).rounded()))
        settings.connections.bodyTimeout = .milliseconds(Int64((bodyTimeout * 1000).rounded()))
        settings.connections.idleTimeout = .milliseconds(Int64((idleTimeout * 1000).rounded()))
        settings.connections.maxConnections = maxConnections
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw ValidationError("--token-file \(tokenFile): cannot read the file")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("--token-file \(tokenFile): the file is empty") }
            settings.token = token
        } else if let env = ProcessInfo.processInfo.environment["MNEMO_TOKEN"], !env.isEmpty {
            settings.token = env.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        do { try settings.validate() } catch let e as ServerSettingsError { throw ValidationError(e.description) }
        return settings
    }

    func validate() throws {
        guard maxBody > 0 else { throw ValidationError("--max-body must be positive") }
        for (flag, seconds) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout)] {
            guard seconds.isFinite, seconds > 0, seconds <= 86_400 else { throw ValidationError("\(flag) must be a number of seconds in (0, 86400] (got \(seconds))") }
        }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        if newToken == nil { _ = try settings() }
    }

    func run() async throws {
        if let newToken {
            try Self.writeToken(to: newToken)
            print("wrote a new token to \(newToken) (mode 0600); serve with: mnemo serve --host 0.0.0.0 --token-file \(newToken)")
            return
        }
        let settings = try settings()
        let services = try models.services(store: storeOptions)
        var note = "model \(models.model) loads on the first chat request"
        do { _ = try ModelLocator.resolve(models.model) } catch {
            note = "chat requests will fail until the model is installed: \(error)"
        }
        let app = try HTTPServer.buildApplication(services: services, settings: settings) { [host, note] port in
            Terminal.printError("mnemo serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
                + " (store \(storeOptions.displayName); \(note))")
        }
        try await app.runService()
        await services.memory.close()
    }

    /// Creates `path` with a random token, readable by its owner only; an existing file is never replaced
    /// (clients may hold the token it has).
    static func writeToken(to path: String) throws {
        let token = try ServerSettings.newToken()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "the file exists (delete it first to replace its token)" : String(cString: strerror(errno))
            throw ValidationError("--new-token \(path): \(reason)")
        }
        defer { close(fd) }
        let line = Array((token + "\n").utf8)
        guard write(fd, line, line.count) == line.count else { throw ValidationError("--new-token \(path): \(String(cString: strerror(errno)))") }
    }
}
