import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import MCP
import MnemoCore
import MnemoModels
import MnemoStore
import MnemoTools
import Testing
@testable import MnemoServer

/// The HTTP API on a live loopback server (a free port per test), with the real sentence encoder and a
/// scripted chat model.
@Suite(.tags(.realModel), .needsModels) struct HTTPServerTests {
    @Test func settingsRefuseNonLoopbackWithoutToken() throws {
        var settings = ServerSettings()
        settings.host = "0.0.0.0"
        #expect(throws: ServerSettingsError.self) { try settings.validate() }
        settings.host = "192.168.1.5"
        #expect(throws: ServerSettingsError.self) { try settings.validate() }
        // Beyond loopback a token must be long enough not to be guessed; on loopback any token will do.
        settings.token = "s3cret"
        #expect(throws: ServerSettingsError.self) { try settings.validate() }
        settings.token = String(repeating: "k", count: ServerSettings.minimumTokenLength)
        try settings.validate()
        settings.host = "127.0.0.1"
        settings.token = "s3cret"
        try settings.validate()
        settings.token = ""
        #expect(throws: ServerSettingsError.self) { try settings.validate() }
        let a = try ServerSettings.newToken(), b = try ServerSettings.newToken()
        #expect(a.count == 43 && a != b)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            #expect(ServerSettings.isLoopback(host), "\(host)")
        }
        for host in ["0.0.0.0", "10.0.0.1", "::", "example.com", "127.0.0.1.evil.com", "1270.0.0.1"] {
            #expect(!ServerSettings.isLoopback(host), "\(host)")
        }
    }

    /// Our own errors keep their words (a missing chat model is the service's 503, naming the model);
    /// anything else becomes a 500 whose details reach the log only.
    @Test func errorsMapToStatusesWithoutInternals() {
        let missing = APIError.from(ModelError(.fileNotFound, "model 'qwen-9b' not found"))
        #expect(missing.status == .serviceUnavailable && missing.message.contains("qwen-9b"))
        // Raised in MnemoModels (as a model file's reader raises it), its words are the server's own.
        let corrupt = APIError.from(ModelError(.corrupt, "x.gguf: tensor 'blk.0' has a NaN scale", fileID: "MnemoModels/GGUFFile.swift"))
        #expect(corrupt.status == .internalServerError && corrupt.message.contains("blk.0") && corrupt.code == "model_error")
        let tool = APIError.from(ToolError(.math, "division by zero", fileID: "MnemoTools/Calculator.swift"))
        #expect(tool.status == .unprocessableContent && tool.code == "tool_math")
        let locked = APIError.from(StoreError(.locked, "the store is being written by another mnemo"))
        #expect(locked.status == .serviceUnavailable && locked.code == "store_locked")
        // A store's internal failure (SQLite's words) is not shown.
        let io = APIError.from(StoreError(.io, "SQLite error 10: disk I/O error", fileID: "MnemoStore/MemoryStore.swift"))
        #expect(io.status == .internalServerError && !io.message.contains("SQLite"))
        struct Foreign: Error, CustomStringConvertible { var description: String { "Expression tree is too large" } }
        let foreign = APIError.from(Foreign())
        #expect(foreign.status == .internalServerError && !foreign.message.contains("Expression"))
        #expect(foreign.detail?.contains("Expression") == true)
    }

    @Test func unknownRouteIsOpenAIShaped404RealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/nothing", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/json")
                let error = try #require(response.apiError)
                #expect(error["type"] as? String == "invalid_request_error")
                #expect(error["code"] as? String == "unknown_route")
                #expect(error.keys.sorted() == ["code", "message", "param", "type"])
            }
        }
    }

    @Test func malformedJSONIs400RealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/embeddings", method: .post, headers: jsonHeaders,
                                     body: ByteBuffer(string: "{\"input\": \"hi\", ")) { response in
                #expect(response.status == .badRequest)
                #expect(response.apiError?["code"] as? String == "invalid_json")
            }
            // Well-formed JSON of the wrong shape names the parameter.
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": 42])) { response in
                #expect(response.status == .badRequest)
                #expect(response.apiError?["param"] as? String == "query")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["model": "scripted"])) { response in
                #expect(response.status == .badRequest)
                #expect(response.apiError?["param"] as? String == "messages")
                #expect(response.apiError?["code"] as? String == "missing_required_parameter")
            }
            // Parsed but out of range: 422.
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "x", "k": 0])) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.apiError?["param"] as? String == "k")
            }
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "x", "mode": "fuzzy"])) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.apiError?["param"] as? String == "mode")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["model": "gpt-4", "messages": [["role": "user", "content": "hi"]]])) { response in
                #expect(response.status == .notFound)
                #expect(response.apiError?["code"] as? String == "model_not_found")
            }
        }
    }

    /// The client's mistakes are 4xx naming the field or the limit, never 500 with SQLite's or the HTTP
    /// parser's words, and the metrics count no server error for them.
    @Test func clientErrorsAre4xxNamingTheFieldRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "x", "k": 1.5])) { response in
                #expect(response.status == .badRequest)
                #expect(response.apiError?["param"] as? String == "k", "\(response.text)")
            }
            // 5,000 metadata conditions once reached SQLite ("Expression tree is too large"): now a named limit.
            let conditions = Dictionary(uniqueKeysWithValues: (0..<5000).map { ("key\($0)", "v") })
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "x", "where": conditions])) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.apiError?["param"] as? String == "where")
                #expect((response.apiError?["message"] as? String)?.contains("the limit is 32") == true, "\(response.text)")
            }
            // A chunked body whose chunk size is not hexadecimal.
            let malformed = try await client.raw(
                "POST /v1/memory/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n{\"query\": \"x\"}\r\n0\r\n\r\n")
            #expect(malformed.status.code == 400, "\(malformed.status) \(malformed.text)")
            #expect(!malformed.text.contains("http_parser") && !malformed.text.contains("SQLite"), "\(malformed.text)")
            try await client.execute(uri: "/metrics", method: .get) { response in
                let serverErrors = response.text.split(separator: "\n").filter { $0.contains("status=\"5") }
                #expect(serverErrors.isEmpty, "\(serverErrors)")
            }
        }
    }

    @Test func bodyOverLimitIs413RealModel() async throws {
        let server = try TestServer { $0.maxBodyBytes = 1024 }
        defer { server.cleanUp() }
        try await server.live { client in
            let big = String(repeating: "a", count: 4096)
            try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["text": big])) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.apiError?["code"] as? String == "request_too_large")
            }
            // An upload (the web page's) obeys the same limit.
            try await client.execute(uri: "/v1/memory/files?name=big.txt", method: .post, body: ByteBuffer(string: big)) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }

    /// 200 connections that send half a request head, one that drips its body and one that sends far
    /// more than the body limit: /health is answered while they wait, and the server closes every one
    /// (the client's reads fail after 60 s without the deadlines, where they would hang). The header
    /// deadline is 20 s so that a loaded CI host, opening 200 sockets beside other tests, still asks
    /// /health before it passes (at 5 s it once had closed them all first).
    @Test func slowAndOversizedRequestsAreClosedRealModel() async throws {
        let server = try TestServer {
            $0.connections.headerTimeout = .seconds(20)
            $0.connections.bodyTimeout = .seconds(5)
            $0.maxBodyBytes = 1024
        }
        defer { server.cleanUp() }
        try await server.live { client in
            let port = client.port
            let opened = ContinuousClock.now
            let half = try await onDispatch {
                try (0..<200).map { _ in
                    let socket = try RawSocket(port: port, receiveTimeout: 60)
                    try socket.send("POST /v1/memory/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
                    return socket
                }
            }
            defer { half.forEach { $0.close() } }
            let drip = try await onDispatch {
                let socket = try RawSocket(port: port, receiveTimeout: 20)
                try socket.send("POST /v1/memory/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 100\r\n\r\n{\"query\": ")
                return socket
            }
            defer { drip.close() }

            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
            // Only meaningful while the header deadline has not yet passed for them: on a host loaded by
            // the whole suite the 200 sockets and /health once took longer than 20 s.
            if ContinuousClock.now - opened < .seconds(15) {
                #expect(half.contains { $0.isOpenWithNothingToRead }, "/health was answered while the half-sent requests still waited")
            } else {
                print("[slow host] /health came \(ContinuousClock.now - opened) after the half-sent requests: their deadline may have passed")
            }

            // Far over the limit: the 413 comes back and the connection ends although the client never
            // finishes its body.
            let oversized = try await onDispatch {
                let socket = try RawSocket(port: port, receiveTimeout: 20)
                defer { socket.close() }
                try socket.send("POST /v1/memory/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 10000000\r\n\r\n" + String(repeating: "a", count: 65536))
                return try socket.receiveAll()
            }
            #expect(try LiveClient.parse(oversized).status == .contentTooLarge)

            let ends = try await onDispatch { try (half + [drip]).map { try $0.receiveAll().count } }
            #expect(ends.count == 201)
            let after = try await client.execute(uri: "/health", method: .get)
            #expect(after.status == .ok)
        }
    }

    @Test func tokenRequiredWhenSetRealModel() async throws {
        let server = try TestServer { $0.token = "t0ken" }
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.apiError?["code"] as? String == "invalid_api_key")
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer t0ken"]) { response in
                #expect(response.status == .ok)
                let ids = (response.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
                #expect(ids == ["scripted", "all-MiniLM-L6-v2"])
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json["status"] as? String == "ok")
            }
        }
    }

    @Test func embeddingsShapeRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/embeddings", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["model": "all-MiniLM-L6-v2", "input": ["The cat sits on the mat.", "A dog runs."]])) { response in
                #expect(response.status == .ok)
                let json = response.json
                #expect(json["object"] as? String == "list")
                #expect(json["model"] as? String == "all-MiniLM-L6-v2")
                let data = try #require(json["data"] as? [[String: Any]])
                #expect(data.count == 2)
                #expect(data.map { $0["index"] as? Int } == [0, 1])
                let vector = try #require(data[0]["embedding"] as? [Double])
                #expect(vector.count == 384)
                #expect(abs(vector.reduce(0) { $0 + $1 * $1 } - 1) < 1e-3)
                #expect(((json["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? 0) > 0)
            }
            // base64: little-endian float32, what the openai client asks for by default.
            try await client.execute(uri: "/v1/embeddings", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["model": "all-MiniLM-L6-v2", "input": "hello", "encoding_format": "base64"])) { response in
                #expect(response.status == .ok)
                let data = try #require(response.json["data"] as? [[String: Any]])
                let encoded = try #require(data[0]["embedding"] as? String)
                #expect(Data(base64Encoded: encoded)?.count == 384 * 4)
            }
            try await client.execute(uri: "/v1/embeddings", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["model": "all-MiniLM-L6-v2", "input": [1, 2, 3]])) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.apiError?["param"] as? String == "input")
            }
        }
    }

    @Test func memoryRoundTripRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            let added = try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders, body: jsonBody([
                "text": "The boiler was serviced by Dunmore Heating on 12 March 2024. The next service is due in March 2025.",
                "source": "notes/boiler.md", "namespace": "house", "metadata": ["room": "kitchen"],
            ])) { response in
                #expect(response.status == .created)
                return response.json
            }
            let ids = try #require(added["chunk_ids"] as? [Int])
            #expect(!ids.isEmpty)
            _ = try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders, body: jsonBody([
                "text": "Red lentil soup simmers for twenty minutes.", "source": "recipes/soup.md", "namespace": "house",
            ]))
            // Adding the same text again changes nothing.
            try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders, body: jsonBody([
                "text": "Red lentil soup simmers for twenty minutes.", "source": "recipes/soup.md", "namespace": "house",
            ])) { response in
                #expect(response.status == .ok)
                #expect(response.json["changed"] as? Bool == false)
            }
            for mode in ["dense", "bm25", "hybrid"] {
                try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders, body: jsonBody([
                    "query": "when was the boiler serviced", "k": 1, "mode": mode, "namespace": "house",
                ])) { response in
                    #expect(response.status == .ok)
                    let hits = try #require(response.json["data"] as? [[String: Any]])
                    #expect(hits.first?["source"] as? String == "notes/boiler.md", "\(mode)")
                    #expect((hits.first?["metadata"] as? [String: String])?["room"] == "kitchen")
                }
            }
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders, body: jsonBody([
                "query": "boiler", "where": ["room": "garage"],
            ])) { response in
                #expect((response.json["data"] as? [Any])?.isEmpty == true)
            }
            try await client.execute(uri: "/v1/memory/documents?source=notes%2Fboiler.md&namespace=house", method: .delete) { response in
                #expect(response.status == .ok)
                #expect(response.json["deleted"] as? Int == ids.count)
            }
            try await client.execute(uri: "/v1/memory/documents?source=notes%2Fboiler.md", method: .delete) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders, body: jsonBody([
                "query": "when was the boiler serviced", "k": 5,
            ])) { response in
                let sources = (response.json["data"] as? [[String: Any]])?.compactMap { $0["source"] as? String }
                #expect(sources == ["recipes/soup.md"])
            }
            let soupID = try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                                  body: jsonBody(["query": "lentil soup", "mode": "bm25"])) { response in
                ((response.json["data"] as? [[String: Any]])?.first?["chunk_id"] as? Int) ?? -1
            }
            try await client.execute(uri: "/v1/memory/chunks/\(soupID)", method: .delete) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/memory/chunks/\(soupID)", method: .delete) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/memory/chunks/abc", method: .delete) { response in
                #expect(response.status == .unprocessableContent)
            }
        }
    }

    /// The endpoints the web page reads: documents by page, a document's chunks, file uploads, the page itself.
    @Test func documentsChunksUploadsAndThePageRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            for i in 0..<5 {
                _ = try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders, body: jsonBody([
                    "text": "Note number \(i) about the garden.", "source": "notes/\(i).md", "namespace": i < 3 ? "garden" : "house",
                ]))
            }
            try await client.execute(uri: "/v1/memory/documents?namespace=garden&limit=2&offset=0", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json["total"] as? Int == 3)
                let docs = try #require(response.json["data"] as? [[String: Any]])
                #expect(docs.count == 2)
                #expect(docs.allSatisfy { $0["namespace"] as? String == "garden" && $0["chunks"] as? Int == 1 && $0["indexed_at"] is String })
            }
            try await client.execute(uri: "/v1/memory/documents?offset=4&limit=2", method: .get) { response in
                #expect(response.json["total"] as? Int == 5)
                #expect((response.json["data"] as? [Any])?.count == 1)
            }
            try await client.execute(uri: "/v1/memory/documents?limit=0", method: .get) { response in
                #expect(response.status == .unprocessableContent)
            }
            try await client.execute(uri: "/v1/memory/documents?offset=x", method: .get) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.apiError?["param"] as? String == "offset")
            }
            // A file as `mnemo index` reads it: markdown here; an unknown type and a binary file are refused by name.
            let markdown = "# Aquarium\n\nThe aquarium heater is set to 25 degrees.\n\nThe filter is rinsed on Sundays.\n"
            try await client.execute(uri: "/v1/memory/files?name=tank.md&namespace=house&metadata=%7B%22room%22%3A%22hall%22%7D", method: .post,
                                     body: ByteBuffer(string: markdown)) { response in
                #expect(response.status == .created)
                #expect(response.json["source"] as? String == "tank.md")
            }
            try await client.execute(uri: "/v1/memory/documents/chunks?source=tank.md&namespace=house", method: .get) { response in
                #expect(response.status == .ok)
                let chunks = try #require(response.json["data"] as? [[String: Any]])
                #expect(chunks.compactMap { $0["text"] as? String }.joined(separator: " ").contains("aquarium heater"))
                #expect((chunks.first?["metadata"] as? [String: String])?["format"] == "markdown")
                #expect((chunks.first?["metadata"] as? [String: String])?["room"] == "hall")
            }
            try await client.execute(uri: "/v1/memory/documents/chunks?source=tank.md", method: .get) { response in
                #expect(response.status == .notFound)  // it is in "house", not "default"
            }
            try await client.execute(uri: "/v1/memory/files?name=run.exe", method: .post, body: ByteBuffer(string: "MZ")) { response in
                #expect(response.status == .unprocessableContent)
                #expect((response.apiError?["message"] as? String)?.contains("unsupported file type") == true)
            }
            try await client.execute(uri: "/v1/memory/files?name=blob.txt", method: .post, body: ByteBuffer(bytes: [0x41, 0, 0x42])) { response in
                #expect(response.status == .unprocessableContent)
                #expect((response.apiError?["message"] as? String)?.contains("blob.txt") == true)
            }
            try await client.execute(uri: "/v1/memory/files?name=..", method: .post, body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .unprocessableContent)
            }
            // The page: HTML, script and style under a policy that allows only them.
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                #expect(response.text.contains("<script src=\"/app.js\""))
            }
            try await client.execute(uri: "/app.js", method: .get) { response in
                #expect(response.status == .ok)
                // Store text is set as text: the script never assigns HTML.
                #expect(!response.text.contains("innerHTML"))
            }
        }
    }

    @Test func chatNonStreamingWithMemoryRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        _ = try await server.services.memory.add(text: "The spare key is under the blue flowerpot by the shed.", source: "notes/key.md")
        try await server.live { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: jsonBody([
                "model": "scripted",
                "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Where is the spare key?"]],
                "max_tokens": 16, "temperature": 0, "mnemo": ["k": 2, "mode": "hybrid"],
            ])) { response in
                #expect(response.status == .ok)
                let json = response.json
                #expect(json["object"] as? String == "chat.completion")
                #expect((json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
                let choice = try #require((json["choices"] as? [[String: Any]])?.first)
                #expect((choice["message"] as? [String: Any])?["content"] as? String == "Hello, world.")
                #expect(choice["finish_reason"] as? String == "stop")
                let usage = try #require(json["usage"] as? [String: Int])
                #expect(usage["completion_tokens"] == 4)
                #expect(usage["total_tokens"] == usage["prompt_tokens"]! + 4)
                let sources = try #require((json["mnemo"] as? [String: Any])?["sources"] as? [[String: Any]])
                #expect(sources.first?["source"] as? String == "notes/key.md")
            }
        }
        // The prompt is MnemoCore's, as `mnemo ask` builds it: the client's system text before the answer
        // instructions, the worked examples, then the numbered notes and the question.
        let conversation = try #require(server.generator.conversations.last)
        let hits = try await server.services.memory.search(MemorySearch(query: "Where is the spare key?", k: 2, mode: .hybrid))
        let expected = MemoryPrompt.answerMessages("Where is the spare key?", memories: hits.map { .text($0.text) },
                                                   history: [ChatMessage(.system, "Be brief.")]).messages
        #expect(conversation == expected)
        #expect(conversation[0].role == .system && conversation[0].content.hasPrefix("Be brief.\n\n" + MemoryPrompt.answerInstructions))
        #expect(conversation.last?.content.hasPrefix("Notes:\n[1] The spare key is under the blue flowerpot") == true)
        #expect(conversation.last?.content.hasSuffix("Question: Where is the spare key?") == true)
    }

    /// One answer path: MCP's `ask`, HTTP's `/v1/memory/ask` and `mnemo ask`'s AskService, in process on
    /// the same store and the same Qwen 0.5B, give the same answer from the same notes and the same prompt
    /// (its length in tokens), with the CLI's defaults (sentences context, echo retry, gated calculator).
    /// HTTP chat with memory renders that prompt too (`chatNonStreamingWithMemoryRealModel`).
    @Test func askThroughMCPHTTPAndTheCLIServiceIsOnePathRealModel() async throws {
        let model = try LanguageModel(path: ModelLocator.resolve(ModelLocator.defaultChatModel))
        let server = try TestServer(model: model)
        defer { server.cleanUp() }
        _ = try await server.services.memory.add(text: "The spare key is under the blue flowerpot by the shed.", source: "notes/key.md")
        _ = try await server.services.memory.add(text: "The boiler was serviced in March by Dunmore Heating. Its pressure should read 1.2 bar.",
                                                 source: "notes/boiler.md")
        let question = "Who serviced the boiler?"

        let toolbox = MCPToolbox(memory: server.services.memory, generation: server.services.generation, defaultDatabase: nil)
        let mcp = await toolbox.call("ask", arguments: ["question": .string(question)])
        #expect(mcp.isError == false, "\(mcp.content)")
        let mcpAnswer = mcp.structuredContent?.objectValue?["answer"]?.stringValue
        let mcpPrompt = mcp.structuredContent?.objectValue?["prompt_tokens"]?.intValue
        var http: [String: Any] = [:]
        try await server.live { client in
            try await client.execute(uri: "/v1/memory/ask", method: .post, headers: jsonHeaders, body: jsonBody(["question": question])) { response in
                #expect(response.status == .ok, "\(response.text)")
                http = response.json
            }
            try await client.execute(uri: "/v1/memory/ask", method: .post, headers: jsonHeaders, body: jsonBody(["question": question, "k": 99])) { response in
                #expect(response.status == .unprocessableContent, "\(response.text)")
            }
        }
        let encoder = try #require(sharedEncoder)
        let service = AskService(memory: try MemoryService(storeDirectory: server.directory.path, encoder: encoder, access: .read), model: model)
        var cliOptions = AskOptions()
        cliOptions.tools = AskOptions.defaultTools(database: nil)
        let cli = try service.ask(question, options: cliOptions)

        #expect(cli.answer.contains("Dunmore"), "\(cli.answer)")
        #expect(mcpAnswer == cli.answer && http["answer"] as? String == cli.answer, "MCP \(mcpAnswer ?? "-"), HTTP \(http["answer"] ?? "-"), CLI \(cli.answer)")
        #expect(mcpPrompt == cli.promptTokens && http["prompt_tokens"] as? Int == cli.promptTokens)
        #expect(http["context_tokens"] as? Int == cli.contextTokens && http["context"] as? String == cli.context.rawValue)
        let httpSources = (http["sources"] as? [[String: Any]] ?? []).compactMap { $0["chunk_id"] as? Int64 ?? ($0["chunk_id"] as? Int).map(Int64.init) }
        #expect(httpSources == cli.sources.map(\.chunkID) && !httpSources.isEmpty)
        #expect(renderAnswer(cli).contains("Sources:\n[1] notes/"), "\(renderAnswer(cli))")
    }

    /// The sampler chain's knobs reach the model through the OpenAI fields under `mnemo generate`'s names
    /// (min_p, top_t, the penalties), checked as the CLI checks them.
    @Test func samplingFieldsReachTheModelRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            let base: [String: Any] = ["model": "scripted", "messages": [["role": "user", "content": "Hi."]]]
            let knobs: [String: Any] = ["temperature": 0.8, "top_k": 20, "top_p": 0.95, "min_p": 0.1, "top_t": 0.5, "repetition_penalty": 1.1,
                                        "frequency_penalty": 0.5, "presence_penalty": 0.25, "seed": 7]
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders,
                                     body: jsonBody(base.merging(knobs) { $1 })) { response in
                #expect(response.status == .ok, "\(response.text)")
            }
            for (field, value, words) in [("min_p", 2.0, "min-p"), ("top_t", -1.0, "top-t"), ("repetition_penalty", 0.0, "repeat penalty"),
                                          ("frequency_penalty", 3.0, "frequency_penalty")] as [(String, Double, String)] {
                try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders,
                                         body: jsonBody(base.merging([field: value]) { $1 })) { response in
                    #expect(response.status == .unprocessableContent, "\(field): \(response.text)")
                    #expect((response.apiError?["message"] as? String ?? "").contains(words), "\(field): \(response.text)")
                }
            }
        }
        let sent = try #require(server.generator.parameters.first?.sampling)
        #expect(sent.temperature == 0.8 && sent.topK == 20 && sent.topP == 0.95 && sent.minP == 0.1 && sent.topT == 0.5)
        #expect(sent.repetitionPenalty == 1.1 && sent.frequencyPenalty == 0.5 && sent.presencePenalty == 0.25 && sent.seed == 7)
        #expect(server.generator.parameters.count == 1)
    }

    /// The server's add and `mnemo index` cut and embed a text alike (both through MemoryService.prepare):
    /// the same chunks, offsets and sentence vectors.
    @Test func addAndIndexChunkAlikeRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Examples/corpus/household-notes.md"), encoding: .utf8)
        let added = try await server.services.memory.add(text: text, source: "notes.txt")
        #expect(added.chunkIDs.count > 2)
        let file = server.directory.appendingPathComponent("notes.txt"), other = server.directory.appendingPathComponent("indexed")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let encoder = try #require(sharedEncoder)
        let indexed = try MemoryService(storeDirectory: other.path, encoder: encoder, access: .write(createWith: .flat))
        let report = try indexed.index(paths: [file.path], options: IndexOptions())
        #expect(report.chunks == added.chunkIDs.count)
        let hits = try await server.services.memory.search(MemorySearch(query: "boiler service", k: 50, mode: .bm25))
        let viaIndex = try indexed.query("boiler service", k: 50, mode: .bm25)
        #expect(hits.map(\.text) == viaIndex.map(\.chunk.text) && !hits.isEmpty)
        #expect(hits.map(\.startByte) == viaIndex.map(\.chunk.startByte))
        let reader = try MemoryService(storeDirectory: server.directory.path, encoder: encoder, access: .read)
        let served = try reader.sentences(of: try reader.query("boiler service", k: 50, mode: .bm25)).map { $0.map(\.text) }
        #expect(served == (try indexed.sentences(of: viaIndex)).map { $0.map(\.text) })
    }

    @Test func chatStreamingAndStopSequencesRealModel() async throws {
        let server = try TestServer(pieces: ["One", " two", " th", "ree", " four"])
        defer { server.cleanUp() }
        try await server.live { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: jsonBody([
                "model": "scripted", "stream": true, "stream_options": ["include_usage": true],
                "messages": [["role": "user", "content": "Count."]],
            ])) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                let events = sseEvents(response.text)
                #expect(events.last == "[DONE]")
                let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                #expect(chunks.count == events.count - 1)
                #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
                let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
                #expect((choices.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
                let text = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
                #expect(text == "One two three four")
                #expect(choices.last?["finish_reason"] as? String == "stop")
                #expect((chunks.last?["usage"] as? [String: Int])?["completion_tokens"] == 5)
            }
            // A stop sequence split over two tokens ends the answer before it, in both modes.
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: jsonBody([
                "model": "scripted", "stop": "three", "messages": [["role": "user", "content": "Count."]],
            ])) { response in
                let choice = (response.json["choices"] as? [[String: Any]])?.first
                #expect((choice?["message"] as? [String: Any])?["content"] as? String == "One two ")
                #expect(choice?["finish_reason"] as? String == "stop")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: jsonBody([
                "model": "scripted", "stream": true, "stop": ["thr"], "messages": [["role": "user", "content": "Count."]],
            ])) { response in
                let text = sseEvents(response.text).dropLast()
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }
                    .joined()
                #expect(text == "One two ")
            }
        }
    }

    @Test func concurrentRequestsAndFullQueueRealModel() async throws {
        // Queue 1: one request generating (held at a gate) and one waiting fill it, so a third gets 503;
        // meanwhile searches and adds run and all succeed. No timing: the test waits for the queue's state.
        let gate = DispatchSemaphore(value: 0)
        let server = try TestServer(pieces: ["x", "y"], queue: 1, gate: gate)
        defer { server.cleanUp() }
        try await server.live { client in
            let chat = jsonBody(["model": "scripted", "messages": [["role": "user", "content": "go"]]])
            let generation = server.services.generation
            async let first = client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: chat)
            async let second = client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: chat)
            let deadline = Date().addingTimeInterval(300)
            while generation.pending < 2, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(generation.pending == 2)
            let refused = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: chat)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.apiError?["code"] as? String == "server_busy")
            #expect(refused.headers[.retryAfter] == "1")
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<6 {
                    group.addTask {
                        try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders,
                                                 body: jsonBody(["text": "Note number \(i) about the garden shed.", "source": "n\(i)"])) { $0.status.code }
                    }
                    group.addTask {
                        try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                                 body: jsonBody(["query": "garden shed note"])) { $0.status.code }
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 201 }, "\(statuses)")
            // Open the gate: both queued chats finish.
            gate.signal()
            gate.signal()
            #expect(try await first.status == .ok)
            #expect(try await second.status == .ok)
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "garden shed note", "k": 10, "mode": "bm25"])) { response in
                #expect((response.json["data"] as? [Any])?.count == 6)
            }
        }
        #expect(server.services.generation.pending == 0)
        #expect(server.services.metrics.value(.generationsRejected) == 1)
    }

    @Test func metricsInPrometheusFormatRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        try await server.live { client in
            _ = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders,
                                         body: jsonBody(["model": "scripted", "messages": [["role": "user", "content": "hi"]]]))
            _ = try await client.execute(uri: "/nope", method: .get)
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = response.text
                #expect(text.contains("mnemo_http_requests_total{method=\"POST\",route=\"/v1/chat/completions\",status=\"200\"} 1"))
                #expect(text.contains("mnemo_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"))
                #expect(text.contains("# TYPE mnemo_http_request_duration_seconds histogram"))
                #expect(text.contains("mnemo_http_request_duration_seconds_count{route=\"/v1/chat/completions\"} 1"))
                #expect(text.contains("mnemo_generated_tokens_total 4"))
                #expect(text.contains("mnemo_model_loaded 1"))
                // Every sample line is NAME{labels} VALUE or NAME VALUE.
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    #expect(line.split(separator: " ").count == 2, "\(line)")
                }
            }
        }
    }

    @Test func clientDisconnectMidStreamFreesTheSlotRealModel() async throws {
        // 1500 tokens 20 ms apart: 30 s if nobody stopped it. Queue 0: only one chat at a time.
        let server = try TestServer(pieces: Array(repeating: " tick", count: 1500), delay: .milliseconds(20), queue: 0)
        defer { server.cleanUp() }
        try await server.live { client in
            let port = client.port
            let body = #"{"model": "scripted", "stream": true, "messages": [{"role": "user", "content": "go"}]}"#
            let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
            // Blocking socket calls run on a Dispatch thread: the test's own thread belongs to Swift's
            // small cooperative pool, which the server's tasks need too.
            let head = try await onDispatch {
                let socket = try RawSocket(port: port)
                try socket.send(request)
                let head = try socket.receive(until: "tick")
                socket.close()
                return head
            }
            #expect(head.contains("200 OK"))
            let start = Date()
            // The slot comes back within a few tokens, not after the whole answer.
            var pending = server.services.generation.pending
            // (Normally ~0.1 s; the bound leaves room for other suites' blocking tests sharing the
            // cooperative pool with this in-process server.)
            while pending > 0, Date().timeIntervalSince(start) < 20 {
                try await Task.sleep(for: .milliseconds(20))
                pending = server.services.generation.pending
            }
            #expect(pending == 0)
            print(String(format: "clientDisconnectMidStreamFreesTheSlotRealModel: slot free %.2f s after the hang-up", Date().timeIntervalSince(start)))
            #expect(server.services.metrics.value(.generationsCancelled) == 1)
            // And the next request is served, not refused.
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: jsonHeaders, body: jsonBody([
                "model": "scripted", "max_tokens": 3, "messages": [["role": "user", "content": "again"]],
            ])) { response in
                #expect(response.status == .ok)
            }
        }
    }

    /// The server takes the store's write lock only while it writes: between writes another writer (what
    /// `mnemo index` opens) gets it at once, and while that one holds it an API write fails fast with 503.
    @Test func writeLockIsHeldOnlyWhileWritingRealModel() async throws {
        let server = try TestServer()
        defer { server.cleanUp() }
        let memory = server.services.memory
        _ = try await memory.add(text: "The shed key hangs by the back door.", source: "notes/a.md")
        let deadline = Date().addingTimeInterval(30)
        while await memory.holdsWriteLock, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(await !memory.holdsWriteLock)
        var other: MemoryService? = try MemoryService(storeDirectory: server.directory.path, encoder: memory.encoder,
                                                      access: .write(createWith: .flat), lockTimeout: 0)
        #expect(other != nil)
        try await server.live { client in
            try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["text": "The bike pump is in the garage.", "source": "notes/b.md"])) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.apiError?["code"] as? String == "store_locked")
                #expect(response.headers[.retryAfter] != nil)
            }
            // Searches go on meanwhile (readers take no lock).
            try await client.execute(uri: "/v1/memory/search", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["query": "shed key", "k": 1])) { response in
                #expect(response.status == .ok)
                #expect((response.json["data"] as? [[String: Any]])?.first?["source"] as? String == "notes/a.md")
            }
            other = nil  // the other writer closes and releases the lock
            try await client.execute(uri: "/v1/memory/documents", method: .post, headers: jsonHeaders,
                                     body: jsonBody(["text": "The bike pump is in the garage.", "source": "notes/b.md"])) { response in
                #expect(response.status == .created, "\(response.text)")
            }
        }
    }

    @Test func stopMatcherHoldsBackPartialStops() {
        var m = StopMatcher(["</end>", "STOP"])
        #expect(m.feed("Hello </") == "Hello ")
        #expect(m.feed("en") == "")
        #expect(m.feed("x more") == "</enx more")
        #expect(m.feed(" ST") == " ")
        #expect(m.feed("OP and") == "")
        #expect(m.stopped)
        #expect(m.finish() == "")
        var plain = StopMatcher([])
        #expect(plain.feed("abc") == "abc")
        var tail = StopMatcher(["xyz"])
        #expect(tail.feed("abx") == "ab")
        #expect(tail.finish() == "x")
    }
}

/// Runs blocking work on a Dispatch thread.
func onDispatch<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
    }
}

/// A blocking TCP client, enough to start a stream and hang up in the middle of it.
final class RawSocket: @unchecked Sendable {
    private let fd: Int32

    /// `receiveTimeout`: seconds a read may wait before it fails (the hang guard).
    init(port: Int, receiveTimeout: Int = 300) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerSettingsError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw ServerSettingsError("connect() failed: \(String(cString: strerror(errno)))") }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }  // a signal (another suite's child exiting), not an error
            guard n > 0 else { throw ServerSettingsError("write() failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Reads until the server closes the connection (or the 300 s hang guard: a loaded CI machine can take minutes, which is no failure).
    func receiveAll() throws -> [UInt8] {
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { return received }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ServerSettingsError("read() failed after \(received.count) bytes: \(String(cString: strerror(errno)))") }
            received += buffer[0..<n]
        }
    }

    /// Reads until `marker` has been seen (or the 300 s hang guard).
    func receive(until marker: String) throws -> String {
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ServerSettingsError("read() ended before \(marker)") }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether the server still holds the connection open (nothing to read yet, no end seen).
    var isOpenWithNothingToRead: Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    func close() { _ = Glibc.close(fd) }
}
