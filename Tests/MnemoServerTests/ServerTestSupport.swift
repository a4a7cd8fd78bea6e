import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import MnemoCore
import MnemoModels
@testable import MnemoServer
import ServiceLifecycle

/// A chat model double: says `pieces`, one per "token", `delay` apart, and records the
/// conversations it was given.
final class ScriptedGenerator: TextGenerator, @unchecked Sendable {
    let pieces: [String]
    let delay: Duration
    /// When set, each generation waits for a signal before its first piece.
    let gate: DispatchSemaphore?
    private let lock = NSLock()
    private var seen: [[ChatMessage]] = []
    private var sampled: [GenerationParameters] = []

    /// The generation settings of each request, in order.
    var parameters: [GenerationParameters] {
        lock.lock()
        defer { lock.unlock() }
        return sampled
    }

    init(_ pieces: [String], delay: Duration = .zero, gate: DispatchSemaphore? = nil) {
        self.pieces = pieces
        self.delay = delay
        self.gate = gate
    }

    var conversations: [[ChatMessage]] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }

    func prompt(for messages: [ChatMessage]) throws -> [Int32] {
        lock.lock()
        seen.append(messages)
        lock.unlock()
        return Array(repeating: 1, count: 3 + messages.reduce(0) { $0 + $1.content.count / 4 })
    }

    /// Answers go through MnemoCore's AskService, which needs a real model: the ask tests load one.
    func answer(_ question: String, notes: AskNotes, options: AskOptions, isCancelled: @escaping @Sendable () -> Bool,
                onToken: (String) -> Void) throws -> AskResult {
        throw APIError(.serviceUnavailable, "the scripted test model does not answer questions; ask tests use a real model", code: "model_unavailable")
    }

    func generate(prompt: [Int32], parameters: GenerationParameters, onPiece: (String) -> GenerationControl) throws -> GenerationOutcome {
        lock.lock()
        sampled.append(parameters)
        lock.unlock()
        gate?.wait()
        var text = ""
        var count = 0
        for piece in pieces.prefix(parameters.maxTokens) {
            if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) * 1e-18) }
            count += 1
            text += piece
            if onPiece(piece) == .stop {
                return GenerationOutcome(text: text, promptTokens: prompt.count, completionTokens: count, finishReason: .cancelled)
            }
        }
        return GenerationOutcome(text: text, promptTokens: prompt.count, completionTokens: count,
                                 finishReason: count < pieces.count ? .length : .stop)
    }
}

/// The installed encoder, loaded once for every test (the real model: `make setup` installs it).
let sharedEncoder: SentenceEncoder? = try? SentenceEncoder(directory: ModelLocator.resolve(ModelLocator.defaultEncoder))

struct TestServer {
    let services: ServerServices
    let generator: ScriptedGenerator
    let settings: ServerSettings
    let directory: URL

    init(pieces: [String] = ["Hello", ",", " world", "."], delay: Duration = .zero, queue: Int = 8, gate: DispatchSemaphore? = nil,
         model: LanguageModel? = nil, configure: (inout ServerSettings) -> Void = { _ in }) throws {
        guard let encoder = sharedEncoder else { throw ServerSettingsError("the encoder is not installed (run make setup)") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-server-\(UUID().uuidString)")
        let metrics = ServerMetrics()
        var limits = MemoryHub.Limits()
        limits.flushDelay = 0.05
        limits.lockTimeout = 0.2
        let memory = try MemoryHub(directory: directory.path, encoder: encoder, limits: limits)
        let generator = ScriptedGenerator(pieces, delay: delay, gate: gate)
        self.generator = generator
        // With `model` the queue runs the real decoder (the ask tests); otherwise the scripted double.
        let chosen: any TextGenerator = model.map { LanguageModelGenerator($0) } ?? generator
        let queueForModel = GenerationQueue(modelID: model == nil ? "scripted" : "mnemo", capacity: queue, metrics: metrics) { chosen }
        services = ServerServices(memory: memory, generation: queueForModel, metrics: metrics)
        var settings = ServerSettings()
        configure(&settings)
        self.settings = settings
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs the server on a free loopback port for the length of `body`, which gets a client for it.
    /// A real socket server and a small HTTP/1.1 client: no test-only HTTP stack to build.
    func live<T>(_ body: (LiveClient) async throws -> T) async throws -> T {
        var settings = self.settings
        settings.host = "127.0.0.1"
        settings.port = 0
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try HTTPServer.buildApplication(services: services, settings: settings) { portContinuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "mnemo-test-server")))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask(executorPreference: DispatchTaskExecutor.shared) { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw ServerSettingsError("the test server did not start") }
            do {
                let value = try await body(LiveClient(port: port))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }
}

/// Runs the live test servers' tasks (the server's child tasks inherit the preference) on Dispatch threads
/// instead of Swift's cooperative pool: that pool has one thread per core, and other suites' synchronous
/// tests (waiting for a `mnemo` process) hold its threads for seconds at a time.
final class DispatchTaskExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = DispatchTaskExecutor()
    private let queue = DispatchQueue(label: "mnemo.test-server", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A response as the tests read it.
struct TestResponse: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
    }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The `error` object of an OpenAI-shaped error body.
    var apiError: [String: Any]? { json["error"] as? [String: Any] }
}

/// An HTTP/1.1 client for the live test server: one connection per request (`Connection: close`), the
/// whole response read, chunked bodies (streams) decoded.
struct LiveClient: Sendable {
    let port: Int

    @discardableResult
    func execute<T>(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
                              _ check: (TestResponse) async throws -> T) async throws -> T {
        try await check(try await execute(uri: uri, method: method, headers: headers, body: body))
    }

    /// Sends `request` as it is (malformed framing, half a body) and reads the whole response.
    func raw(_ request: String) async throws -> TestResponse {
        let port = self.port
        let bytes = Array(request.utf8)
        let raw = try await onDispatch {
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            try socket.send(bytes)
            return try socket.receiveAll()
        }
        return try Self.parse(raw)
    }

    @discardableResult
    func execute(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil) async throws -> TestResponse {
        let payload = body.map { Array($0.readableBytesView) } ?? []
        var head = "\(method.rawValue) \(uri) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for field in headers { head += "\(field.name.rawName): \(field.value)\r\n" }
        if !payload.isEmpty || method == .post || method == .put { head += "Content-Length: \(payload.count)\r\n" }
        head += "\r\n"
        let request = Array(head.utf8) + payload
        let port = self.port
        let raw = try await onDispatch {
            let socket = try RawSocket(port: port)
            defer { socket.close() }
            try socket.send(request)
            return try socket.receiveAll()
        }
        return try Self.parse(raw)
    }

    static func parse(_ raw: [UInt8]) throws -> TestResponse {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = raw.firstRange(of: separator) else { throw ServerSettingsError("no end of the response head") }
        let lines = String(decoding: raw[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let code = Int(statusParts[1]) else {
            throw ServerSettingsError("bad status line: \(lines.first ?? "")")
        }
        var headers = HTTPFields()
        var chunked = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPFields.Element.Name(String(line[..<colon])) else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.append(HTTPFields.Element(name: name, value: value))  // HTTPField: HTTPTypes is not a dependency here
            if name == .transferEncoding && value.lowercased().contains("chunked") { chunked = true }
        }
        var body = Array(raw[end.upperBound...])
        if chunked { body = try dechunk(body) }
        return TestResponse(status: HTTPResponse.Status(code: code), headers: headers, body: Data(body))
    }

    /// Decodes `Transfer-Encoding: chunked`.
    static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        let crlf: [UInt8] = [13, 10]
        while i < bytes.count {
            guard let lineEnd = bytes[i...].firstRange(of: crlf) else { throw ServerSettingsError("a chunk size line is not ended") }
            let sizeText = String(decoding: bytes[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw ServerSettingsError("bad chunk size '\(sizeText)'")
            }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard start + size <= bytes.count else { throw ServerSettingsError("a chunk is cut short") }
            out += bytes[start..<start + size]
            i = start + size + 2
        }
        return out
    }
}

func jsonBody(_ object: Any) -> ByteBuffer {
    ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: object)) ?? Data())
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]

/// The `data:` payloads of a server-sent event stream.
func sseEvents(_ text: String) -> [String] {
    text.components(separatedBy: "\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
}

extension Tag {
    /// Reads the installed models (`make setup` puts them in $MNEMO_MODELS).
    @Tag static var realModel: Self
}

extension Trait where Self == ConditionTrait {
    /// For suites tagged `realModel`: `make check` (MNEMO_CHECK=1) leaves them out, as the toolchain's
    /// `swift test` cannot skip by tag; `make test` runs every one.
    static var needsModels: Self {
        .enabled(if: ProcessInfo.processInfo.environment["MNEMO_CHECK"] != "1", "make check runs only tests that need no model file")
    }
}
