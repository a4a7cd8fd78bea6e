import Foundation
import Logging
import MCP
import MnemoCore
import MnemoModels
import MnemoTools

/// Mnemo's tools for Model Context Protocol clients: memory_search, memory_add, memory_delete, ask,
/// and the registry's calculator and sql_query (read-only, over `--db`), each with a JSON Schema for
/// its arguments. `call` never throws: a bad
/// argument or a failing tool comes back as an error result (`isError`), which MCP clients show
/// to the model, rather than as a protocol error.
public struct MCPToolbox: Sendable {
    public let memory: MemoryHub
    public let generation: GenerationQueue
    /// The database `sql_query` reads ($MNEMO_SQL_DB or `--db`); without one it is not offered.
    public let defaultDatabase: String?

    public init(memory: MemoryHub, generation: GenerationQueue, defaultDatabase: String?) {
        self.memory = memory
        self.generation = generation
        self.defaultDatabase = defaultDatabase
    }

    static let modeSchema: Value = ["type": "string", "enum": ["dense", "bm25", "hybrid"], "default": "hybrid",
                                    "description": "dense: sentence vectors; bm25: keywords; hybrid: both, fused by reciprocal rank."]
    static let stringMap: Value = ["type": "object", "additionalProperties": ["type": "string"]]

    public var tools: [Tool] {
        [
            Tool(name: "memory_search",
                 description: "Search the memory (documents the user indexed or added) and return the best matching passages with their source and score.",
                 inputSchema: ["type": "object", "additionalProperties": false, "required": ["query"], "properties": [
                     "query": ["type": "string", "minLength": 1, "description": "What to look for, in natural language."],
                     "k": ["type": "integer", "minimum": 1, "maximum": 100, "default": 5, "description": "How many passages."],
                     "mode": Self.modeSchema,
                     "namespace": ["type": "string", "description": "Only this namespace."],
                     "where": .object(["type": "object", "additionalProperties": ["type": "string"],
                                       "description": "Only passages whose metadata has these key/value pairs."]),
                 ]],
                 annotations: .init(readOnlyHint: true)),
            Tool(name: "memory_add",
                 description: "Add a text to the memory. It is chunked and embedded like an indexed file; the same source replaces its earlier text.",
                 inputSchema: ["type": "object", "additionalProperties": false, "required": ["text"], "properties": [
                     "text": ["type": "string", "minLength": 1, "description": "The text to remember."],
                     "source": ["type": "string", "description": "Its name (default: memory: and a hash of the text)."],
                     "namespace": ["type": "string", "default": "default"],
                     "metadata": Self.stringMap,
                 ]],
                 annotations: .init(destructiveHint: false, idempotentHint: true)),
            Tool(name: "memory_delete",
                 description: "Delete from the memory: every passage of a source, or one passage by its chunk id.",
                 inputSchema: ["type": "object", "additionalProperties": false, "properties": [
                     "source": ["type": "string", "description": "Delete every passage of this source."],
                     "namespace": ["type": "string", "description": "With source: only in this namespace."],
                     "chunk_id": ["type": "integer", "description": "Delete this one passage."],
                 ], "oneOf": [["required": ["source"]], ["required": ["chunk_id"]]]],
                 annotations: .init(destructiveHint: true, idempotentHint: true)),
            Tool(name: "ask",
                 description: "Answer a question from the memory: search it, then have Mnemo's local model answer from the passages found, citing them as [1], [2].",
                 inputSchema: ["type": "object", "additionalProperties": false, "required": ["question"], "properties": [
                     "question": ["type": "string", "minLength": 1],
                     "k": ["type": "integer", "minimum": 1, "maximum": 20, "default": .int(AskOptions().k), "description": "Passages to give the model."],
                     "mode": Self.modeSchema,
                     "namespace": ["type": "string"],
                     "max_tokens": ["type": "integer", "minimum": 1, "maximum": 2048, "default": 256],
                 ]],
                 annotations: .init(readOnlyHint: true)),
        ] + registry.map { spec in
            Tool(name: spec.name, description: spec.fullDescription, inputSchema: Self.value(spec.parameters),
                 annotations: .init(readOnlyHint: true, openWorldHint: false))
        }
    }

    /// The tools of MnemoTools' registry this server offers: the calculator, and `sql_query` over the
    /// server's database when it has one that opens (a call then names what is wrong with it).
    private var registry: [ToolSpec] {
        (try? ToolSpec.all(database: defaultDatabase.map { try ReadOnlyDatabase(path: $0) })) ?? [.calculator()]
    }

    /// A registry JSON value as MCP's.
    static func value(_ json: JSONValue) -> Value {
        (try? JSONDecoder().decode(Value.self, from: Data(json.description.utf8))) ?? .null
    }

    struct ToolFailure: Error { let message: String }

    /// Runs a registry tool on a call's arguments, checked against its schema.
    private func output(_ spec: ToolSpec, _ args: Arguments) throws -> (String, Value?) {
        let json = try JSONValue.parse(String(decoding: try JSONEncoder().encode(args.values), as: UTF8.self))
        let result = try spec.call(json)
        return (result.text, result.structured.map(Self.value))
    }

    /// Runs a tool; errors become `isError` results with a message for the model.
    public func call(_ name: String, arguments: [String: Value]?) async -> CallTool.Result {
        let args = Arguments(values: arguments ?? [:])
        do {
            let (text, structured) = try await run(name, args)
            return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], structuredContent: structured, isError: false)
        } catch let failure as ToolFailure {
            return CallTool.Result(content: [.text(text: failure.message, annotations: nil, _meta: nil)], isError: true)
        } catch {
            let api = APIError.from(error)
            return CallTool.Result(content: [.text(text: api.message, annotations: nil, _meta: nil)], isError: true)
        }
    }

    private func run(_ name: String, _ args: Arguments) async throws -> (String, Value?) {
        switch name {
        case "memory_search":
            let hits = try await memory.search(MemorySearch(
                query: try args.string("query"), k: try args.int("k") ?? 5, mode: try parseMode(try args.optionalString("mode"), param: "mode"),
                namespace: try args.optionalString("namespace"), conditions: try args.stringMap("where").sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
            generation.metrics.add(.memorySearches)
            let text = hits.isEmpty ? "No passages found." : hits.map { hit in
                "[\(hit.rank)] \(hit.source) (chunk \(hit.chunkID), score \(String(format: "%.4f", hit.score)))\n\(hit.text)"
            }.joined(separator: "\n\n")
            return (text, try Value(["results": hits]))
        case "memory_add":
            let added = try await memory.add(text: try args.string("text"), source: try args.optionalString("source"),
                                              namespace: try args.optionalString("namespace") ?? "default", metadata: try args.stringMap("metadata"))
            if added.changed { generation.metrics.add(.memoryChunksAdded, Double(added.chunkIDs.count)) }
            let text = added.changed
                ? "Added \(added.source) (namespace \(added.namespace)) as \(added.chunkIDs.count) chunk(s): \(added.chunkIDs.map(String.init).joined(separator: ", "))."
                : "\(added.source) already holds this text; nothing changed."
            return (text, try Value(added))
        case "memory_delete":
            if let id = try args.int("chunk_id") {
                let receipt = try await memory.delete(chunkID: Int64(id))
                guard receipt.removed > 0 else { throw ToolFailure(message: "No chunk with id \(id).") }
                generation.metrics.add(.memoryChunksDeleted)
                return ("Deleted chunk \(id).", ["deleted": 1, "seq": .int(Int(receipt.seq))])
            }
            guard let source = try args.optionalString("source") else {
                throw ToolFailure(message: "Give 'source' (a document) or 'chunk_id' (one passage).")
            }
            let receipt = try await memory.delete(source: source, namespace: try args.optionalString("namespace"))
            guard receipt.removed > 0 else { throw ToolFailure(message: "No document with source '\(source)'.") }
            generation.metrics.add(.memoryChunksDeleted, Double(receipt.removed))
            return ("Deleted \(receipt.removed) chunk(s) of \(source).", ["deleted": .int(receipt.removed), "seq": .int(Int(receipt.seq))])
        case "ask":
            let options = GenerationQueue.askOptions(k: try args.int("k"), mode: try parseMode(try args.optionalString("mode"), param: "mode"),
                                                     namespace: try args.optionalString("namespace"), maxTokens: try args.int("max_tokens"),
                                                     database: defaultDatabase)
            let result = try await generation.ask(try args.string("question"), options: options, memory: memory)
            return (renderAnswer(result), try Value(result))
        case "calculator":
            return try output(.calculator(), args)
        case "sql_query":
            guard let path = defaultDatabase else {
                throw ToolFailure(message: "No database: start `mnemo mcp --db FILE` (or set MNEMO_SQL_DB).")
            }
            return try output(try .sqlQuery(try ReadOnlyDatabase(path: path)), args)
        default:
            throw ToolFailure(message: "Unknown tool '\(name)'. Tools: \(tools.map(\.name).joined(separator: ", ")).")
        }
    }

    /// Typed access to a call's arguments, with messages that name the argument at fault.
    struct Arguments {
        let values: [String: Value]

        func optionalString(_ key: String) throws -> String? {
            guard let v = values[key], v != .null else { return nil }
            guard let s = v.stringValue else { throw ToolFailure(message: "'\(key)' must be a string.") }
            return s
        }

        func string(_ key: String) throws -> String {
            guard let s = try optionalString(key) else { throw ToolFailure(message: "Missing required argument '\(key)'.") }
            return s
        }

        func int(_ key: String) throws -> Int? {
            guard let v = values[key], v != .null else { return nil }
            if let i = v.intValue { return i }
            if let d = v.doubleValue, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
            throw ToolFailure(message: "'\(key)' must be an integer.")
        }

        func bool(_ key: String) throws -> Bool? {
            guard let v = values[key], v != .null else { return nil }
            guard let b = v.boolValue else { throw ToolFailure(message: "'\(key)' must be true or false.") }
            return b
        }

        func stringMap(_ key: String) throws -> [String: String] {
            guard let v = values[key], v != .null else { return [:] }
            guard let object = v.objectValue else { throw ToolFailure(message: "'\(key)' must be an object of strings.") }
            return try object.mapValues { value in
                guard let s = value.stringValue else { throw ToolFailure(message: "'\(key)' values must be strings.") }
                return s
            }
        }
    }
}

extension GenerationQueue {
    /// An answer from memory for the server's edges (MCP `ask`, HTTP `/v1/memory/ask`): a place in the
    /// queue, the notes `mnemo ask` would read, then MnemoCore's one answer path on the model's thread.
    public func ask(_ question: String, options: AskOptions, memory: MemoryHub,
                    isCancelled: @escaping @Sendable () -> Bool = { false },
                    onToken: @escaping @Sendable (String) -> Void = { _ in }) async throws -> AskResult {
        guard (1...20).contains(options.k) else { throw APIError.invalid("k", "'k' must be between 1 and 20.") }
        guard (1...2048).contains(options.generation.maxTokens) else {
            throw APIError.invalid("max_tokens", "'max_tokens' must be between 1 and 2048.")
        }
        let ticket = try reserve()
        let notes = try await memory.askNotes(question, options: options, countTokens: tokenCounter)
        metrics.add(.memorySearches)
        return try await answer(ticket, question: question, notes: notes, options: options, isCancelled: isCancelled, onToken: onToken)
    }

    /// `AskOptions` for a server request: `mnemo ask`'s defaults (context mode, tools, echo retry) with a
    /// request's k, mode, namespace and token limit; `database` for the sql tool.
    public static func askOptions(k: Int?, mode: QueryMode?, namespace: String?, maxTokens: Int?, database: String?) -> AskOptions {
        var options = AskOptions()
        options.context = AskOptions.textContext
        options.k = k ?? options.k
        options.mode = mode ?? options.mode
        options.namespace = namespace
        options.generation.maxTokens = maxTokens ?? options.generation.maxTokens
        options.tools = AskOptions.defaultTools(database: database)
        options.sqlDatabase = database
        return options
    }
}

/// An answer as the server's edges write it out: the answer, then its numbered sources.
func renderAnswer(_ result: AskResult) -> String {
    var text = result.answer.trimmingCharacters(in: .whitespacesAndNewlines)
    if !result.sources.isEmpty {
        text += "\n\nSources:\n" + result.sources.map { "[\($0.number)] \($0.source) (chunk \($0.chunkID))" }.joined(separator: "\n")
    }
    return text
}

/// `mnemo mcp`: the toolbox served over standard input and output until the client closes it.
public enum MCPStdioServer {
    public static func run(toolbox: MCPToolbox, version: String) async throws {
        let server = Server(
            name: "mnemo", version: version,
            instructions: "Mnemo is the user's local memory: search it, add to it, ask questions answered from it; calculator does exact arithmetic and sql_query reads the SQLite database the server was given.",
            capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: toolbox.tools) }
        await server.withMethodHandler(CallTool.self) { params in await toolbox.call(params.name, arguments: params.arguments) }
        let transport = AnsweringTransport()
        try await server.start(transport: transport)
        await server.waitUntilCompleted()
        // End of input: the SDK runs each request in a task of its own and would be stopped under them
        // (responses lost, writes cut off, the process torn down under the encoder's threads). Stop only
        // once every request read has been answered; a tool's write completes before its answer.
        await transport.waitUntilAnswered()
        await server.stop()
    }
}

/// Standard input and output that keep count: the ids of the requests read and of the responses
/// written, so that the server can wait at the end of input until every request has its answer.
actor AnsweringTransport: Transport {
    private let stdio: StdioTransport
    nonisolated let logger: Logger
    private let stream: AsyncThrowingStream<Data, Swift.Error>
    private let continuation: AsyncThrowingStream<Data, Swift.Error>.Continuation
    private var pump: Task<Void, Never>?
    private var unanswered = Set<String>()
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(stdio: StdioTransport = StdioTransport()) {
        self.stdio = stdio
        logger = stdio.logger
        (stream, continuation) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {
        try await stdio.connect()
        let inner = await stdio.receive()
        pump = Task {
            do {
                for try await message in inner {
                    // JSON-RPC's own errors for lines the SDK would answer with a made-up id or the
                    // wrong code (-32700 for valid JSON, -32603 for bad params).
                    if let rejection = Self.rejection(of: message) {
                        try? await self.stdio.send(rejection)
                        continue
                    }
                    self.noteRequests(in: message)
                    continuation.yield(message)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }

    func disconnect() async {
        pump?.cancel()
        await stdio.disconnect()
    }

    func send(_ data: Data) async throws {
        defer { noteResponses(in: data) }
        try await stdio.send(data)
    }

    nonisolated func receive() -> AsyncThrowingStream<Data, Swift.Error> { stream }

    /// Returns once every request read so far has been answered, or after `limit` (a handler that
    /// never answers must not keep the process alive for ever).
    func waitUntilAnswered(limit: Duration = .seconds(600)) async {
        if unanswered.isEmpty { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: limit)
            await self?.releaseWaiters()
        }
        await withCheckedContinuation { waiters.append($0) }
        timer.cancel()
    }

    private func releaseWaiters() {
        for w in waiters { w.resume() }
        waiters = []
    }

    private func noteRequests(in message: Data) {
        for object in Self.objects(message) where object["method"] != nil {
            if let id = Self.key(object["id"]) { unanswered.insert(id) }
        }
    }

    private func noteResponses(in message: Data) {
        for object in Self.objects(message) where object["method"] == nil {
            if let id = Self.key(object["id"]) { unanswered.remove(id) }
        }
        if unanswered.isEmpty { releaseWaiters() }
    }

    /// The error response for a line that is not a well-formed JSON-RPC 2.0 message, or nil to pass it
    /// on: -32700 (id null) for text that is not JSON, -32600 for JSON that is not a request, a
    /// notification or a response, -32602 for a known method whose params have the wrong shape.
    static func rejection(of data: Data) -> Data? {
        guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return errorResponse(id: nil, code: -32700, message: "Parse error: the message is not valid JSON.")
        }
        if let batch = json as? [Any] {
            return batch.isEmpty ? errorResponse(id: nil, code: -32600, message: "Invalid Request: an empty batch.") : nil
        }
        guard let object = json as? [String: Any] else {
            return errorResponse(id: nil, code: -32600, message: "Invalid Request: a message must be a JSON object.")
        }
        let id = object["id"]
        let usableID: Any? = (id is String || id is NSNumber) ? id : nil
        guard object["jsonrpc"] as? String == "2.0" else {
            return errorResponse(id: usableID, code: -32600, message: "Invalid Request: 'jsonrpc' must be \"2.0\".")
        }
        if id != nil, !(id is NSNull), usableID == nil {
            return errorResponse(id: nil, code: -32600, message: "Invalid Request: 'id' must be a string or a number.")
        }
        guard let method = object["method"] else {
            if object["result"] != nil || object["error"] != nil { return nil }  // a response from the client
            return errorResponse(id: usableID, code: -32600, message: "Invalid Request: no 'method'.")
        }
        guard let name = method as? String else {
            return errorResponse(id: usableID, code: -32600, message: "Invalid Request: 'method' must be a string.")
        }
        if let params = object["params"], !(params is [String: Any]) {
            return errorResponse(id: usableID, code: -32602, message: "Invalid params: 'params' must be an object.")
        }
        if name == "tools/call" {
            let params = object["params"] as? [String: Any]
            guard params?["name"] is String else {
                return errorResponse(id: usableID, code: -32602, message: "Invalid params: tools/call needs a string 'name'.")
            }
            if let arguments = params?["arguments"], !(arguments is [String: Any]) {
                return errorResponse(id: usableID, code: -32602, message: "Invalid params: 'arguments' must be an object.")
            }
        }
        return nil
    }

    static func errorResponse(id: Any?, code: Int, message: String) -> Data {
        let body: [String: Any] = ["jsonrpc": "2.0", "id": id ?? NSNull(), "error": ["code": code, "message": message]]
        return (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()  // send adds the newline
    }

    /// The JSON-RPC messages in one line: an object, or a batch of them.
    static func objects(_ data: Data) -> [[String: Any]] {
        guard let json = try? JSONSerialization.jsonObject(with: data) else { return [] }
        if let object = json as? [String: Any] { return [object] }
        return (json as? [Any])?.compactMap { $0 as? [String: Any] } ?? []
    }

    /// An id as one key for strings and numbers alike ("s:…" or "n:…"); nil for null or no id.
    static func key(_ id: Any?) -> String? {
        switch id {
        case let s as String: "s:" + s
        case let n as NSNumber: "n:" + n.stringValue
        default: nil
        }
    }
}
