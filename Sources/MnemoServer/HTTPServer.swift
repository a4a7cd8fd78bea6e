import Foundation
import Hummingbird
import HummingbirdCore
import MnemoCore
import MnemoModels
import MnemoPostgres
import MnemoTools

/// What `mnemo serve` listens on and lets in.
public struct ServerSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The bearer token clients must send; required whenever `host` is not a loopback address.
    public var token: String?
    /// Largest request body accepted (413 beyond it).
    public var maxBodyBytes = 4 << 20
    /// Largest `max_tokens` a chat request may ask for.
    public var maxCompletionTokens = 4096
    /// Inputs one embeddings request may carry.
    public var maxEmbeddingInputs = 2048
    /// Read timeouts and the cap on open connections.
    public var connections = ConnectionLimits()

    public init() {}

    /// Refuses settings that would expose the memory without a token.
    public func validate() throws {
        if let token, token.isEmpty || token.contains(where: \.isWhitespace) {
            throw ServerSettingsError("the token is empty or contains whitespace")
        }
        guard token != nil || Self.isLoopback(host) else {
            throw ServerSettingsError("refusing to listen on \(host) without a token: anyone who can reach it could read and change the memory. Give --token-file FILE (or set MNEMO_TOKEN; `mnemo serve --new-token FILE` makes one), or listen on 127.0.0.1")
        }
        if let token, !Self.isLoopback(host), token.count < Self.minimumTokenLength {
            throw ServerSettingsError("refusing to listen on \(host) with a \(token.count)-character token: beyond loopback it must have \(Self.minimumTokenLength) or more, or it can be guessed. `mnemo serve --new-token FILE` writes a random one")
        }
        guard (0...65535).contains(port) else { throw ServerSettingsError("port \(port) is outside 0-65535") }
        guard maxBodyBytes > 0 else { throw ServerSettingsError("the body limit must be positive") }
        try connections.validate()
    }

    /// Shortest token accepted beyond loopback.
    public static let minimumTokenLength = 32

    /// A random token: 32 bytes from the system's generator, base64url without padding (43 characters).
    public static func newToken() throws -> String {
        guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else { throw ServerSettingsError("cannot read /dev/urandom") }
        defer { try? random.close() }
        let bytes = random.readData(ofLength: 32)
        guard bytes.count == 32 else { throw ServerSettingsError("/dev/urandom gave \(bytes.count) of 32 bytes") }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `host` names this machine's loopback interface only.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

public struct ServerSettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Everything the routes share: the memory, the model queue and the counters.
public struct ServerServices: Sendable {
    public let memory: MemoryHub
    public let generation: GenerationQueue
    public let metrics: ServerMetrics

    public init(memory: MemoryHub, generation: GenerationQueue, metrics: ServerMetrics) {
        self.memory = memory
        self.generation = generation
        self.metrics = metrics
    }

    /// Names the embedding model answers to.
    var embeddingModelIDs: Set<String> { [memory.encoder.name, "minilm"] }
}

/// The OpenAI-compatible HTTP API over the memory and the chat model.
public enum HTTPServer {
    public typealias Context = BasicRequestContext

    /// The router with every route and middleware.
    public static func buildRouter(services: ServerServices, settings: ServerSettings) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: MetricsAndErrorsMiddleware(metrics: services.metrics))
        router.add(middleware: AuthMiddleware(token: settings.token))
        router.add(middleware: BodyLimitMiddleware(limit: settings.maxBodyBytes))
        Routes(services: services, settings: settings).register(on: router)
        return router
    }

    /// The application `mnemo serve` runs; `onListening` gets the bound port (useful with port 0).
    public static func buildApplication(services: ServerServices, settings: ServerSettings,
                                        onListening: @escaping @Sendable (Int) -> Void = { _ in }) throws -> some ApplicationProtocol {
        try settings.validate()
        let router = buildRouter(services: services, settings: settings)
        let limits = settings.connections
        let idle = limits.idleTimeout.components
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionDeadlines(limits: limits)],
                                                idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "mnemo",
                                 availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? settings.port) })
    }
}

// MARK: - Middleware

/// Counts every request (by matched route, never the raw path) and turns every error into the
/// OpenAI-shaped JSON body with its status.
struct MetricsAndErrorsMiddleware: RouterMiddleware {
    typealias Context = HTTPServer.Context
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let api = APIError.from(error)
            if api.status.code >= 500 { context.logger.error("\(request.method) \(request.uri.path): \(api.detail ?? api.message)") }
            response = api.response
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        // Hummingbird names the route that matched nothing "NotFound"; before routing (401, 413) there is none.
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
        metrics.recordRequest(method: request.method.rawValue, route: route,
                              status: response.status.code, seconds: seconds)
        return response
    }
}

/// `Authorization: Bearer TOKEN` on every route but `/health` and the page's files, when the server has a token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = HTTPServer.Context
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The page's own files hold no data; the API calls it makes carry the token.
        guard let token, request.uri.path != "/health", !(request.method == .get && WebPage.paths.contains(request.uri.path)) else {
            return try await next(request, context)
        }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), Self.constantTimeEqual(Array(header.utf8.dropFirst(prefix.utf8.count)), Array(token.utf8)) else {
            throw APIError.unauthorized
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so timing does not reveal the token.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// 413 at once when Content-Length announces a body over the limit (bodies without a length are
/// cut off while they are read).
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = HTTPServer.Context
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError.tooLarge(limit: limit)
        }
        return try await next(request, context)
    }
}

// MARK: - Routes

struct Routes: Sendable {
    let services: ServerServices
    let settings: ServerSettings

    var memory: MemoryHub { services.memory }
    var generation: GenerationQueue { services.generation }
    var metrics: ServerMetrics { services.metrics }

    func register(on router: Router<HTTPServer.Context>) {
        router.get("/health") { _, _ in
            let store = memory.sharedHealth
            return try json(HealthResponse(status: store?.stale == true ? "stale" : "ok", model: generation.modelID,
                                           modelLoaded: generation.isLoaded, queue: generation.pending, store: store))
        }
        router.get("/metrics") { _, _ in
            let text = metrics.render()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/models") { _, _ in
            try json(ModelList(data: [.init(id: generation.modelID), .init(id: memory.encoder.name)]))
        }
        router.post("/v1/embeddings") { request, context in try await embeddings(request, context) }
        router.post("/v1/chat/completions") { request, context in try await chat(request, context) }

        router.post("/v1/memory/documents") { request, context in
            let body = try await decode(AddDocumentRequest.self, request, context)
            let added = try await memory.add(text: body.text, source: body.source, namespace: body.namespace ?? "default",
                                             metadata: body.metadata ?? [:])
            if added.changed { metrics.add(.memoryChunksAdded, Double(added.chunkIDs.count)) }
            return try json(added, status: added.changed ? .created : .ok)
        }
        router.delete("/v1/memory/documents") { request, _ in
            guard let source = request.uri.queryParameters.get("source"), !source.isEmpty else {
                throw APIError.missing("source")
            }
            let namespace = request.uri.queryParameters.get("namespace")
            let receipt = try await memory.delete(source: source, namespace: namespace)
            guard receipt.removed > 0 else { throw APIError.notFound("No document with source '\(source)'\(namespace.map { " in namespace '\($0)'" } ?? "").") }
            metrics.add(.memoryChunksDeleted, Double(receipt.removed))
            return try json(DeleteResponse(deleted: receipt.removed, source: source, chunkID: nil, seq: receipt.seq))
        }
        router.delete("/v1/memory/chunks/:id") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                throw APIError.invalid("id", "The chunk id must be an integer.")
            }
            let receipt = try await memory.delete(chunkID: id)
            guard receipt.removed > 0 else { throw APIError.notFound("No chunk with id \(id).") }
            metrics.add(.memoryChunksDeleted)
            return try json(DeleteResponse(deleted: 1, source: nil, chunkID: id, seq: receipt.seq))
        }
        router.post("/v1/memory/search") { request, context in
            let body = try await decode(SearchRequest.self, request, context)
            let mode = try parseMode(body.mode, param: "mode")
            let hits = try await memory.search(MemorySearch(query: body.query, k: body.k ?? 5, mode: mode, namespace: body.namespace,
                                                            conditions: (body.where ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                                            minSeq: body.minSeq))
            metrics.add(.memorySearches)
            return try json(SearchResponse(query: body.query, mode: mode.rawValue, data: hits))
        }
        router.get("/v1/memory/stats") { _, _ in try json(try await memory.stats()) }
        // `mnemo ask` over HTTP: the same notes, prompt, rules and answer as the CLI and MCP.
        router.post("/v1/memory/ask") { request, context in
            let body = try await decode(AskRequest.self, request, context)
            let options = GenerationQueue.askOptions(k: body.k, mode: try parseMode(body.mode, param: "mode"), namespace: body.namespace,
                                                     maxTokens: body.maxTokens, database: nil)
            try await memory.waitUntilApplied(body.minSeq)
            if body.stream == true { return streamAsk(body.question, options: options) }
            return try json(try await generation.ask(body.question, options: options, memory: memory))
        }
        router.get("/v1/memory/documents") { request, _ in
            let q = request.uri.queryParameters
            let offset = try intParameter(q.get("offset"), "offset") ?? 0
            let limit = try intParameter(q.get("limit"), "limit") ?? 50
            let page = try await memory.documents(namespace: textParameter(q.get("namespace")), offset: offset, limit: limit)
            return try json(DocumentList(total: page.total, offset: offset, data: page.documents))
        }
        router.get("/v1/memory/documents/chunks") { request, _ in
            let q = request.uri.queryParameters
            guard let source = q.get("source"), !source.isEmpty else { throw APIError.missing("source") }
            let namespace = textParameter(q.get("namespace")) ?? "default"
            let chunks = try await memory.chunks(source: source, namespace: namespace)
            guard !chunks.isEmpty else { throw APIError.notFound("No document with source '\(source)' in namespace '\(namespace)'.") }
            return try json(DocumentChunks(source: source, namespace: namespace, data: chunks))
        }
        // A file as `mnemo index` reads it: the body is the file's bytes, `name` its file name (the format
        // comes from its extension); `metadata` a JSON object of strings.
        router.post("/v1/memory/files") { request, _ in
            let q = request.uri.queryParameters
            guard let name = q.get("name"), !name.isEmpty else { throw APIError.missing("name") }
            var metadata: [String: String] = [:]
            if let raw = q.get("metadata"), !raw.isEmpty {
                guard let parsed = try? JSONDecoder().decode([String: String].self, from: Data(raw.utf8)) else {
                    throw APIError.invalid("metadata", "'metadata' must be a JSON object of strings.")
                }
                metadata = parsed
            }
            let data = try await bodyData(request)
            guard !data.isEmpty else { throw APIError.invalid("file", "The body (the file's bytes) is empty.") }
            let added = try await memory.add(file: data, name: name, namespace: textParameter(q.get("namespace")) ?? "default", metadata: metadata)
            if added.changed { metrics.add(.memoryChunksAdded, Double(added.chunkIDs.count)) }
            return try json(added, status: added.changed ? .created : .ok)
        }
        WebPage.register(on: router)

        // The tool registry (MnemoTools), as MCP and the router show it: the OpenAI function format, and
        // a call with the tool's JSON arguments as the body.
        router.get("/v1/tools") { _, _ in
            rawJSON(.object(["object": .string("list"), "data": .array(Self.tools.map(\.signature))]))
        }
        router.post("/v1/tools/:name") { request, context in
            let name = context.parameters.get("name") ?? ""
            guard let tool = Self.tools.first(where: { $0.name == name }) else {
                throw APIError.notFound("No tool '\(name)'; tools: \(Self.tools.map(\.name).joined(separator: ", ")).")
            }
            let body = try await bodyData(request)
            guard !body.isEmpty else { throw APIError.malformedJSON("the body is empty; send the tool's arguments as a JSON object") }
            let arguments: JSONValue
            do {
                arguments = try JSONValue.parse(String(decoding: body, as: UTF8.self))
            } catch {
                throw APIError.malformedJSON("it does not parse (\(error))")
            }
            let output = try tool.call(arguments)
            return rawJSON(.object(["tool": .string(name), "text": .string(output.text), "result": output.structured ?? .null]))
        }
    }

    /// The registry's tools the HTTP server offers: the calculator (it has no database to give `sql_query`).
    static var tools: [ToolSpec] { [.calculator()] }

    /// A JSON value as the response body, in its own exact text (numbers as written).
    func rawJSON(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let data = Data(value.description.utf8)
        return Response(status: status, headers: [.contentType: "application/json", .contentLength: String(data.count)],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct HealthResponse: Encodable {
        let status: String
        let model: String
        let modelLoaded: Bool
        let queue: Int
        /// A shared store: this node's replica position, the primary's, and whether the primary is away.
        let store: SharedStoreHealth?
        enum CodingKeys: String, CodingKey { case status, model, queue, store, modelLoaded = "model_loaded" }
    }

    struct DeleteResponse: Encodable {
        let deleted: Int
        let source: String?
        let chunkID: Int64?
        let seq: Int64
        enum CodingKeys: String, CodingKey { case deleted, source, seq, chunkID = "chunk_id" }
    }

    // MARK: Bodies

    /// The request body, read up to the limit (413 beyond it), decoded (400 when it is not JSON of
    /// the expected shape).
    func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: HTTPServer.Context) async throws -> T {
        try Self.decodeBody(T.self, try await bodyData(request))
    }

    /// The request body, refused past `maxBodyBytes`.
    func bodyData(_ request: Request) async throws -> Data {
        var data = Data()
        do {
            for try await buffer in request.body {
                guard data.count + buffer.readableBytes <= settings.maxBodyBytes else { throw APIError.tooLarge(limit: settings.maxBodyBytes) }
                data.append(contentsOf: buffer.readableBytesView)
            }
        } catch let error as APIError {
            throw error
        } catch {
            // The client's doing: a malformed chunked body, or a connection closed mid-body.
            throw APIError(.badRequest, "The request body could not be read: its framing is malformed or the connection closed before it ended.",
                           code: "malformed_body")
        }
        return data
    }

    /// A whole request body decoded as `T`, or the APIError (400) that names what is wrong with it.
    static func decodeBody<T: Decodable>(_: T.Type, _ data: Data) throws -> T {
        guard !data.isEmpty else { throw APIError.malformedJSON("the body is empty") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw APIError.malformedJSON("it does not parse (\((error as NSError).userInfo[NSDebugDescriptionErrorKey] ?? "syntax error"))")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            // Foundation reports a number that does not fit its field ("k": 1.5) without the field's name:
            // find the top-level field whose removal changes the error, and name it.
            if case .dataCorrupted(let c) = error, c.codingPath.isEmpty, let object = parsed as? [String: Any],
               let key = Self.culprit(T.self, in: object) {
                throw APIError(.badRequest, "Invalid value for '\(key)': \(Self.shown(object[key])) does not fit its type (an integer field given a fraction, or a number out of range).",
                               param: key, code: "invalid_type")
            }
            throw APIError.decoding(error)
        }
    }

    /// The top-level key of `object` without which decoding `T` no longer fails on a value.
    static func culprit<T: Decodable>(_: T.Type, in object: [String: Any]) -> String? {
        for key in object.keys.sorted() {
            var rest = object
            rest.removeValue(forKey: key)
            guard let data = try? JSONSerialization.data(withJSONObject: rest) else { continue }
            do {
                _ = try JSONDecoder().decode(T.self, from: data)
                return key
            } catch DecodingError.dataCorrupted(let c) where c.codingPath.isEmpty {
                continue
            } catch {
                return key  // now another error (a missing field): this key held the bad value
            }
        }
        return nil
    }

    static func shown(_ value: Any?) -> String {
        guard let value else { return "null" }
        let text = "\(value)"
        return text.count > 40 ? String(text.prefix(40)) + "…" : text
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json", .contentLength: String(data.count)],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Embeddings

    func embeddings(_ request: Request, _ context: HTTPServer.Context) async throws -> Response {
        let body = try await decode(EmbeddingRequest.self, request, context)
        guard services.embeddingModelIDs.contains(body.model) else {
            throw APIError(.notFound, "The model '\(body.model)' does not exist; embeddings use '\(memory.encoder.name)'.",
                           param: "model", code: "model_not_found")
        }
        let texts = body.input.texts
        guard !texts.isEmpty else { throw APIError.invalid("input", "'input' must not be empty.") }
        guard texts.count <= settings.maxEmbeddingInputs else {
            throw APIError.invalid("input", "'input' has \(texts.count) items; the limit is \(settings.maxEmbeddingInputs).")
        }
        if let i = texts.firstIndex(where: { $0.isEmpty }) { throw APIError.invalid("input[\(i)]", "'input[\(i)]' is empty.") }
        if let dimensions = body.dimensions, dimensions != memory.encoder.dimension {
            throw APIError.invalid("dimensions", "This model makes \(memory.encoder.dimension)-dimensional vectors only.")
        }
        let format = body.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalid("encoding_format", "'encoding_format' must be 'float' or 'base64'.")
        }
        let (vectors, tokens) = try await memory.embed(texts)
        metrics.add(.embeddedInputs, Double(texts.count))
        let items = vectors.enumerated().map { i, v in
            EmbeddingResponse.Item(index: i, embedding: format == "base64"
                ? .base64(v.withUnsafeBufferPointer { Data(buffer: $0) }.base64EncodedString()) : .float(v))
        }
        return try json(EmbeddingResponse(data: items, model: memory.encoder.name, usage: .init(promptTokens: tokens, totalTokens: tokens)))
    }

    // MARK: Chat

    /// A validated chat request, ready for the queue.
    struct ChatJob: Sendable {
        var messages: [ChatMessage]
        var parameters: GenerationParameters
        var stops: [String]
        var sources: [MemoryHit]?
        var stream: Bool
        var includeUsage: Bool
    }

    func chatJob(_ body: ChatCompletionRequest) async throws -> ChatJob {
        let accepted: Set<String> = [generation.modelID, "mnemo"]
        guard accepted.contains(body.model) else {
            throw APIError(.notFound, "The model '\(body.model)' does not exist; this server's chat model is '\(generation.modelID)'.",
                           param: "model", code: "model_not_found")
        }
        guard !body.messages.isEmpty else { throw APIError.invalid("messages", "'messages' must not be empty.") }
        var messages: [ChatMessage] = []
        for (i, m) in body.messages.enumerated() {
            let role: ChatMessage.Role
            switch m.role {
            case "developer": role = .system
            default:
                guard let r = ChatMessage.Role(rawValue: m.role) else {
                    throw APIError.invalid("messages[\(i)].role", "'messages[\(i)].role' must be system, developer, user, assistant or tool (got '\(m.role)').")
                }
                role = r
            }
            messages.append(ChatMessage(role, m.content?.text ?? ""))
        }
        if let n = body.n, n != 1 { throw APIError.invalid("n", "Only n = 1 is supported.") }
        let maxTokens = body.maxCompletionTokens ?? body.maxTokens ?? 256
        guard (1...settings.maxCompletionTokens).contains(maxTokens) else {
            throw APIError.invalid(body.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens",
                                   "The token limit must be between 1 and \(settings.maxCompletionTokens).")
        }
        // OpenAI's ranges where it has them; the rest is checked where the CLI's flags are (SamplingChoices).
        if let t = body.temperature, !(0...2).contains(t) { throw APIError.invalid("temperature", "'temperature' must be between 0 and 2.") }
        if let p = body.topP, !(p > 0 && p <= 1) { throw APIError.invalid("top_p", "'top_p' must be in (0, 1].") }
        if let k = body.topK, k < 0 { throw APIError.invalid("top_k", "'top_k' must be ≥ 0.") }
        if let f = body.frequencyPenalty, !(-2...2).contains(f) {
            throw APIError.invalid("frequency_penalty", "'frequency_penalty' must be between -2 and 2.")
        }
        if let f = body.presencePenalty, !(-2...2).contains(f) {
            throw APIError.invalid("presence_penalty", "'presence_penalty' must be between -2 and 2.")
        }
        var choices = SamplingChoices()
        choices.temperature = body.temperature
        choices.topP = body.topP
        choices.topK = body.topK
        choices.minP = body.minP
        choices.topT = body.topT
        choices.repetitionPenalty = body.repetitionPenalty
        choices.frequencyPenalty = body.frequencyPenalty
        choices.presencePenalty = body.presencePenalty
        choices.seed = body.seed
        let sampling: SamplingParameters
        do { sampling = try choices.resolved(defaultTemperature: SamplingParameters().temperature) } catch let e as ModelError {
            throw APIError(.unprocessableContent, e.message, code: "invalid_value")
        }
        let stops = body.stop?.values ?? []
        guard stops.count <= 4 else { throw APIError.invalid("stop", "At most 4 stop sequences.") }

        var sources: [MemoryHit]?
        if let options = body.mnemo {
            let mode = try parseMode(options.mode, param: "mnemo.mode")
            // The question is the last user message (or mnemo.query); the turns before it are history.
            let lastUser = messages.lastIndex(where: { $0.role == .user })
            let query = options.query ?? lastUser.map { messages[$0].content } ?? ""
            guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw APIError.invalid("mnemo.query", "Memory retrieval needs a user message or 'mnemo.query'.")
            }
            let question = lastUser.map { messages[$0].content } ?? query
            var history = messages
            if let lastUser { history.remove(at: lastUser) }
            var ask = GenerationQueue.askOptions(k: options.k, mode: mode, namespace: options.namespace, maxTokens: nil, database: nil)
            guard (1...20).contains(ask.k) else { throw APIError.invalid("mnemo.k", "'mnemo.k' must be between 1 and 20.") }
            ask.metadata = options.where ?? [:]
            ask.query = query
            // The notes `mnemo ask` would read; each source is its hit with the text the prompt holds.
            let notes = try await memory.askNotes(question, options: ask, countTokens: generation.tokenCounter)
            metrics.add(.memorySearches)
            messages = MemoryPrompt.answerMessages(question, memories: notes.memories, history: history).messages
            sources = notes.hitsAsRead
        }
        return ChatJob(messages: messages, parameters: GenerationParameters(maxTokens: maxTokens, sampling: sampling),
                       stops: stops, sources: sources, stream: body.stream ?? false,
                       includeUsage: body.streamOptions?.includeUsage ?? false)
    }

    func chat(_ request: Request, _ context: HTTPServer.Context) async throws -> Response {
        let body = try await decode(ChatCompletionRequest.self, request, context)
        let job = try await chatJob(body)
        let ticket = try generation.reserve()
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        if job.stream { return streamChat(job, ticket: ticket, id: String(id), created: created) }

        let matcher = Locked(StopMatcher(job.stops))
        let text = Locked("")
        let outcome = try await generation.generate(ticket, messages: job.messages, parameters: job.parameters, onPiece: { piece in
            matcher.withLock { m in
                let emit = m.feed(piece)
                text.withLock { $0 += emit }
                return m.stopped ? .stop : .continue
            }
        })
        let answer = text.current + matcher.withLock { $0.finish() }
        let stopped = matcher.withLock { $0.stopped }
        let completion = ChatCompletion(
            id: String(id), created: created, model: generation.modelID,
            choices: [.init(message: .init(content: answer), finishReason: Self.finishReason(outcome, stopped: stopped))],
            usage: Usage(promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens),
            mnemo: job.sources.map { MnemoChatInfo(sources: $0) })
        return try json(completion)
    }

    static func finishReason(_ outcome: GenerationOutcome, stopped: Bool) -> String {
        if stopped { return "stop" }
        switch outcome.finishReason {
        case .stop, .cancelled: return "stop"
        case .length: return "length"
        }
    }

    /// Server-sent events: `data: {chunk}` per piece of text, then `data: [DONE]`. The response
    /// starts before the model's turn comes (its first event carries the role and the memory
    /// sources); a failed write means the client went away, and generation stops at the next token.
    func streamChat(_ job: ChatJob, ticket: GenerationQueue.Ticket, id: String, created: Int) -> Response {
        let generation = self.generation
        let model = generation.modelID
        @Sendable func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil, usage: Usage? = nil,
                             sources: [MemoryHit]? = nil, choices: Bool = true) -> ChatCompletionChunk {
            ChatCompletionChunk(id: id, created: created, model: model,
                                choices: choices ? [.init(delta: delta, finishReason: finish)] : [],
                                usage: usage, mnemo: sources.map { MnemoChatInfo(sources: $0) })
        }
        let first = Self.sse(chunk(.init(role: "assistant", content: ""), sources: job.sources))
        return eventStream(first: first, last: ByteBuffer(string: "data: [DONE]\n\n")) { send, cancelled in
            let matcher = Locked(StopMatcher(job.stops))
            do {
                let outcome = try await generation.generate(ticket, messages: job.messages, parameters: job.parameters,
                                                            isCancelled: { cancelled.current }) { piece in
                    matcher.withLock { m in
                        let emit = m.feed(piece)
                        if !emit.isEmpty { send(Self.sse(chunk(.init(content: emit)))) }
                        return m.stopped ? .stop : .continue
                    }
                }
                let (tail, stopped) = matcher.withLock { ($0.finish(), $0.stopped) }
                if !tail.isEmpty { send(Self.sse(chunk(.init(content: tail)))) }
                send(Self.sse(chunk(.init(), finish: Self.finishReason(outcome, stopped: stopped))))
                if job.includeUsage {
                    send(Self.sse(chunk(.init(), usage: Usage(promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens),
                                        choices: false)))
                }
            } catch {
                send(Self.sseError(error))
            }
        }
    }

    /// A query parameter's text, or nil when absent or empty.
    func textParameter(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    /// An integer query parameter, or nil when absent.
    func intParameter(_ value: String?, _ name: String) throws -> Int? {
        guard let value = textParameter(value) else { return nil }
        guard let n = Int(value) else { throw APIError.invalid(name, "'\(name)' must be an integer.") }
        return n
    }

    /// `/v1/memory/ask` with `"stream": true`: `data: {"token": …}` per piece of the answer as it is
    /// generated, then `data: {"result": …}` (the whole AskResult, with its sources), or `data: {"error": …}`.
    func streamAsk(_ question: String, options: AskOptions) -> Response {
        let generation = self.generation
        let memory = self.memory
        return eventStream { send, cancelled in
            do {
                let result = try await generation.ask(question, options: options, memory: memory,
                                                      isCancelled: { cancelled.current }) { piece in
                    if !piece.isEmpty { send(Self.sse(["token": piece])) }
                }
                send(Self.sse(["result": result]))
            } catch {
                send(Self.sseError(error))
            }
        }
    }

    /// A server-sent-events response: `first`, then what `produce` sends (it runs as a child task, beside the
    /// writer), then `last`. A client that goes away sets `cancelled`, which `produce` passes to the model as
    /// its cancel check, so generation stops at the next token and the model is free for the next request.
    func eventStream(first: ByteBuffer? = nil, last: ByteBuffer? = nil,
                     produce: @escaping @Sendable (_ send: @escaping @Sendable (ByteBuffer) -> Void, _ cancelled: Locked<Bool>) async -> Void)
        -> Response {
        let metrics = self.metrics
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: .init { writer in
            metrics.adjust(.activeStreams, by: 1)
            defer { metrics.adjust(.activeStreams, by: -1) }
            let cancelled = Locked(false)
            let (events, continuation) = AsyncStream<ByteBuffer>.makeStream()
            continuation.onTermination = { reason in
                if case .cancelled = reason { cancelled.withLock { $0 = true } }
            }
            // The producer is a child task (structured: it shares this task's executor and is awaited here).
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    await produce({ continuation.yield($0) }, cancelled)
                    continuation.finish()
                }
                do {
                    if let first { try await writer.write(first) }
                    for await event in events { try await writer.write(event) }
                    if let last { try await writer.write(last) }
                    try await writer.finish(nil)
                } catch {
                    // The client went away: stop generating at the next token and give the model back.
                    cancelled.withLock { $0 = true }
                    throw error
                }
            }
        })
    }

    /// An error as one event: the OpenAI-shaped error object.
    static func sseError(_ error: any Error) -> ByteBuffer {
        ByteBuffer(string: "data: " + String(decoding: APIError.from(error).jsonBody, as: UTF8.self) + "\n\n")
    }

    static func sse<T: Encodable>(_ value: T) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}
