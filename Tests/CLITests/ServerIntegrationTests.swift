import Foundation
import Testing

/// `mnemo serve` and `mnemo mcp` driven by the official OpenAI and MCP Python clients (installed in
/// .venv-clients by Tests/Scripts/clients-venv.sh, which `make setup` runs), with the real encoder and
/// the small SmolLM2 chat model.
@Suite(.serialized, .tags(.realModel), .needsModels) struct ServerIntegrationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func serveRefusesNonLoopbackWithoutToken() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try mnemo(["serve", "--host", "0.0.0.0", "--port", "0", "--store", dir.appendingPathComponent("store").path],
                               environment: ["MNEMO_TOKEN": ""])
        #expect(result.status != 0)
        #expect(result.stderr.contains("refusing to listen on 0.0.0.0 without a token"), "\(result.stderr)")
        let empty = dir.appendingPathComponent("empty-token")
        try "\n".write(to: empty, atomically: true, encoding: .utf8)
        let emptyToken = try mnemo(["serve", "--host", "0.0.0.0", "--token-file", empty.path, "--store", dir.path])
        #expect(emptyToken.status != 0)
        #expect(emptyToken.stderr.contains("the file is empty"), "\(emptyToken.stderr)")
        // A short token is refused beyond loopback, with the way to make a good one.
        let short = dir.appendingPathComponent("short-token")
        try "x\n".write(to: short, atomically: true, encoding: .utf8)
        let shortToken = try mnemo(["serve", "--host", "0.0.0.0", "--token-file", short.path, "--store", dir.path])
        #expect(shortToken.status != 0)
        #expect(shortToken.stderr.contains("1-character token") && shortToken.stderr.contains("--new-token"), "\(shortToken.stderr)")
    }

    @Test func newTokenWritesARandomTokenOnlyTheOwnerReads() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("token").path
        let made = try mnemo(["serve", "--new-token", file])
        #expect(made.status == 0 && made.stdout.contains("--token-file \(file)"), "\(made.stderr)")
        let token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count == 43)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Never over an existing token: clients may hold it.
        let again = try mnemo(["serve", "--new-token", file])
        #expect(again.status != 0 && again.stderr.contains("the file exists"), "\(again.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == token)
        // Each call makes another.
        let other = dir.appendingPathComponent("other").path
        _ = try mnemo(["serve", "--new-token", other])
        #expect(try String(contentsOfFile: other, encoding: .utf8) != String(contentsOfFile: file, encoding: .utf8))
    }

    @Test func openAIClientAgainstServeRealModel() throws {
        let start = Date()
        defer { print(String(format: "openAIClientAgainstServeRealModel: %.1f s", Date().timeIntervalSince(start))) }
        let python = try Self.clientsPython()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("store")
        let note = dir.appendingPathComponent("boiler.md")
        try "The boiler was serviced by Dunmore Heating on 12 March 2024. The next boiler service is due in March 2025.\n"
            .write(to: note, atomically: true, encoding: .utf8)
        let indexed = try mnemo(["index", note.path, "--store", store.path])
        try #require(indexed.status == 0, "\(indexed.stderr)")
        let tokenFile = dir.appendingPathComponent("token")
        try "test-token-123\n".write(to: tokenFile, atomically: true, encoding: .utf8)

        let server = try BackgroundMnemo(["serve", "--port", "0", "--store", store.path, "--model", "smollm2",
                                          "--token-file", tokenFile.path], logs: dir)
        defer { server.killIfRunning() }
        let port = try Self.waitForPort(server)
        let check = try Self.run(python, [Self.root.appendingPathComponent("Tests/Scripts/openai_client_check.py").path,
                                          "http://127.0.0.1:\(port)/v1", "smollm2", "test-token-123"])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr)\nserver: \(server.stderr.suffix(2000))")
        #expect(check.stdout.contains("openai client check: all"), "\(check.stdout)")

        // SIGINT shuts it down cleanly (the FAISS file saved).
        kill(server.pid, SIGINT)
        server.wait()
        #expect(server.exitedCleanly, "\(server.summary)")
    }

    @Test func mcpClientAgainstMcpRealModel() throws {
        let start = Date()
        defer { print(String(format: "mcpClientAgainstMcpRealModel: %.1f s", Date().timeIntervalSince(start))) }
        let python = try Self.clientsPython()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let check = try Self.run(python, [Self.root.appendingPathComponent("Tests/Scripts/mcp_client_check.py").path,
                                          mnemoBinary.path, dir.appendingPathComponent("store").path, "smollm2"])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr)")
        #expect(check.stdout.contains("mcp client check: all"), "\(check.stdout)")
    }

    /// Memory-only use of `mnemo mcp` needs no chat model: it is loaded on the first `ask`.
    @Test func mcpWithoutTheChatModelServesMemoryTools() throws {
        let python = try Self.clientsPython()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no-such-model.gguf").path
        let check = try Self.run(python, [Self.root.appendingPathComponent("Tests/Scripts/mcp_client_check.py").path,
                                          mnemoBinary.path, dir.appendingPathComponent("store").path, missing, "--no-model"])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr)")
        #expect(check.stdout.contains("mcp client check: all"), "\(check.stdout)")
    }

    /// `mnemo index` on the store a running server uses: the server holds the write lock only while it
    /// writes, so the index run gets it and the server then finds the new text.
    @Test func indexBesideARunningServer() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = dir.appendingPathComponent("store")
        let first = dir.appendingPathComponent("first.md"), second = dir.appendingPathComponent("second.md")
        try "The boiler was serviced on 12 March 2024.\n".write(to: first, atomically: true, encoding: .utf8)
        try "The bicycle pump is kept in the garage, on the left shelf.\n".write(to: second, atomically: true, encoding: .utf8)
        try #require(try mnemo(["index", first.path, "--store", store.path]).status == 0)
        let server = try BackgroundMnemo(["serve", "--port", "0", "--store", store.path], logs: dir)
        defer { server.killIfRunning() }
        let port = try Self.waitForPort(server)
        let add = try Self.run("/usr/bin/curl", ["-sS", "-X", "POST", "http://127.0.0.1:\(port)/v1/memory/documents",
                                                 "-H", "Content-Type: application/json",
                                                 "-d", #"{"text": "The spare key is under the blue flowerpot.", "source": "notes/key.md"}"#])
        #expect(add.stdout.contains("notes/key.md"), "\(add.stdout) \(add.stderr)")
        let indexed = try mnemo(["index", second.path, "--store", store.path])
        #expect(indexed.status == 0, "\(indexed.stderr)")
        let search = try Self.run("/usr/bin/curl", ["-sS", "-X", "POST", "http://127.0.0.1:\(port)/v1/memory/search",
                                                    "-H", "Content-Type: application/json",
                                                    "-d", #"{"query": "where is the bicycle pump", "k": 1, "mode": "bm25"}"#])
        #expect(search.stdout.contains("second.md"), "\(search.stdout) \(search.stderr)")
        kill(server.pid, SIGINT)
        server.wait()
        #expect(server.exitedCleanly, "\(server.summary)")
    }

    // MARK: - Helpers

    /// The clients' Python, creating the virtual environment first if setup has not (idempotent).
    static func clientsPython() throws -> String {
        let python = root.appendingPathComponent(".venv-clients/bin/python").path
        let setup = try run("/bin/bash", [root.appendingPathComponent("Tests/Scripts/clients-venv.sh").path])
        try #require(setup.status == 0, "clients-venv.sh failed: \(setup.stderr)")
        return python
    }

    /// The port `mnemo serve --port 0` printed once it listens.
    static func waitForPort(_ server: BackgroundMnemo, timeout: TimeInterval = 60) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let range = server.stderr.range(of: #"listening on http://[0-9.]+:(\d+)"#, options: .regularExpression),
               let port = Int(server.stderr[range].split(separator: ":").last ?? "") {
                return port
            }
            try #require(server.isRunning, "the server exited: \(server.summary)")
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw CLITestFailure("the server did not start listening within \(Int(timeout)) s: \(server.summary)")
    }

    /// Runs a program to its end, with both outputs (Python unbuffered, so its output is whole).
    static func run(_ executable: String, _ arguments: [String]) throws -> CLIResult {
        try runToEnd(executable, arguments, environment: ["PYTHONUNBUFFERED": "1"])
    }
}
