import Foundation
import Testing

/// Several real `mnemo` processes on one PostgreSQL database (the throwaway cluster of
/// Tests/Scripts/with-postgres.sh, which `make test` runs the tests under), with the real encoder.
@Suite(.serialized, .tags(.realModel), .needsModels) struct SharedStoreCLITests {
    static var baseURL: String? { ProcessInfo.processInfo.environment["MNEMO_TEST_POSTGRES"] }

    /// A new database on the test cluster; its URL.
    static func freshDatabase() throws -> String {
        let base = try #require(baseURL, "no PostgreSQL: run the tests under Tests/Scripts/with-postgres.sh (make test does)")
        let name = "cli_\(UUID().uuidString.prefix(8).lowercased())"
        let made = try runToEnd("/usr/bin/psql", [base, "-qc", "CREATE DATABASE \(name)"])
        try #require(made.status == 0, "\(made.stderr)")
        return base.replacingOccurrences(of: "/postgres", with: "/\(name)")
    }

    static func serve(_ url: String, replica: URL, logs: URL) throws -> (BackgroundMnemo, Int) {
        let server = try BackgroundMnemo(["serve", "--port", "0", "--store", url, "--replica", replica.path], logs: logs)
        return (server, try ServerIntegrationTests.waitForPort(server))
    }

    static func curl(_ arguments: [String]) throws -> [String: Any] {
        let r = try runToEnd("/usr/bin/curl", ["-sS"] + arguments)
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? ["raw": r.stdout + r.stderr]
    }

    static var checker: String { repositoryRoot.appendingPathComponent("Tests/Scripts/shared_store_check.py").path }

    /// Two `mnemo serve` processes on one database: a document added through one is found through the other,
    /// at once when the search asks for the add's `seq`; `mnemo query` on a third replica finds it too.
    @Test func aDocumentAddedOnOneNodeIsFoundOnAnother() throws {
        let url = try Self.freshDatabase()
        let dir = try temporaryDirectory()
        let (a, portA) = try Self.serve(url, replica: dir.appendingPathComponent("a"), logs: dir)
        defer { a.killIfRunning() }
        let (b, portB) = try Self.serve(url, replica: dir.appendingPathComponent("b"), logs: dir)
        defer { b.killIfRunning() }
        let added = try Self.curl(["-X", "POST", "http://127.0.0.1:\(portA)/v1/memory/documents", "-H", "Content-Type: application/json",
                                   "-d", #"{"text": "The spare key is under the blue flowerpot by the shed.", "source": "notes/key.md"}"#])
        let seq = try #require(added["seq"] as? Int, "\(added)")
        #expect(seq == 1)
        let found = try Self.curl(["-X", "POST", "http://127.0.0.1:\(portB)/v1/memory/search", "-H", "Content-Type: application/json",
                                   "-d", #"{"query": "where is the spare key", "k": 1, "min_seq": \#(seq)}"#])
        let hit = try #require((found["data"] as? [[String: Any]])?.first, "\(found)")
        #expect(hit["source"] as? String == "notes/key.md")
        #expect(hit["chunk_id"] as? Int == (added["chunk_ids"] as? [Int])?.first, "every node returns the database's chunk ids")
        let health = try Self.curl(["http://127.0.0.1:\(portB)/health"])
        #expect((health["store"] as? [String: Any])?["applied_seq"] as? Int == seq, "\(health)")
        let query = try mnemo(["query", "spare key flowerpot", "--store", url, "--replica", dir.appendingPathComponent("c").path,
                               "--min-seq", String(seq), "--json"])
        #expect(query.status == 0, "\(query.stderr)")
        #expect(query.stdout.contains("notes/key.md"))
        // On the embedded store min_seq means nothing and says so.
        let embedded = try mnemo(["query", "key", "--store", dir.appendingPathComponent("plain").path, "--min-seq", "3"])
        #expect(embedded.status != 0)
        for server in [a, b] { kill(server.pid, SIGINT); server.wait(); #expect(server.exitedCleanly, "\(server.summary)") }
    }

    /// Three nodes on one database: one ingests 1,000 documents over HTTP (deleting every tenth again) while
    /// the other two serve searches for 60 s; no error, no hit on an uncommitted or deleted chunk, and all
    /// three replicas end identical to the database.
    @Test func threeNodesOneIngestingTwoSearching() throws {
        let url = try Self.freshDatabase()
        let dir = try temporaryDirectory()
        let nodes = try (0..<3).map { try Self.serve(url, replica: dir.appendingPathComponent("node\($0)"), logs: dir) }
        defer { for (server, _) in nodes { server.killIfRunning() } }
        let load = try runToEnd("/usr/bin/python3", [Self.checker, "load", String(nodes[0].1), String(nodes[1].1), String(nodes[2].1),
                                                   "--documents", "1000", "--seconds", "60"])
        #expect(load.status == 0, "\(load.stdout)\n\(load.stderr)")
        let report = try #require((try? JSONSerialization.jsonObject(with: Data(load.stdout.utf8))) as? [String: Any], "\(load.stdout)\(load.stderr)")
        #expect(report["error_count"] as? Int == 0)
        #expect((report["searches"] as? Int ?? 0) > 100)
        let agree = try runToEnd("/usr/bin/python3", [Self.checker, "compare", url] + (0..<3).map { dir.appendingPathComponent("node\($0)").path }
                                 + ["--within", "5"])
        #expect(agree.status == 0, "\(agree.stdout)\n\(agree.stderr)")
    }

    /// `mnemo index` into the database, SIGKILLed at 10 random moments: no partial document is ever in the
    /// database, the log has no gap, and after a last complete run both serving nodes hold exactly the
    /// database's (chunk id, hash) set within 5 s.
    @Test func ingestKilledAtRandomLeavesNoPartialDocument() throws {
        let url = try Self.freshDatabase()
        let dir = try temporaryDirectory()
        let files = dir.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        let words = "boiler valve radiator hedge bicycle chain brake oven flour yeast invoice plumber drawer attic ladder pump basil fence alarm router".split(separator: " ")
        var rng = SeededGenerator(seed: 2026)
        for i in 0..<240 {
            // Two to five chunks' worth of text each, so a kill can fall inside a document's chunks.
            let sentences = (0..<Int.random(in: 8...30, using: &rng)).map { s in
                (0..<12).map { _ in String(words.randomElement(using: &rng)!) }.joined(separator: " ") + " (file \(i), sentence \(s))."
            }
            try sentences.joined(separator: " ").write(to: files.appendingPathComponent("f\(i).txt"), atomically: true, encoding: .utf8)
        }
        // The reference: the same files in an embedded store, complete.
        let reference = dir.appendingPathComponent("reference")
        #expect(try mnemo(["index", files.path, "--store", reference.path, "--chunk-tokens", "64"]).status == 0)
        let followers = try ["b", "c"].map { try Self.serve(url, replica: dir.appendingPathComponent($0), logs: dir) }
        defer { for (server, _) in followers { server.killIfRunning() } }
        let replicas = ["b", "c"].map { dir.appendingPathComponent($0).path }
        var killed = 0
        for round in 0..<10 {
            let ingest = try BackgroundMnemo(["index", files.path, "--store", url, "--replica", dir.appendingPathComponent("a").path,
                                              "--chunk-tokens", "64"], logs: dir)
            // Model load takes about a second; most kills land among the writes.
            Thread.sleep(forTimeInterval: Double.random(in: 0.8...3.5, using: &rng))
            if ingest.killIfRunning() { killed += 1 }
            let check = try runToEnd("/usr/bin/python3", [Self.checker, "compare", url] + replicas + ["--within", "5", "--complete", reference.path])
            #expect(check.status == 0, "round \(round): \(check.stdout)\n\(check.stderr)")
        }
        #expect(killed >= 8, "most runs must be killed mid-ingest, not after it")
        let last = try mnemo(["index", files.path, "--store", url, "--replica", dir.appendingPathComponent("a").path, "--chunk-tokens", "64", "--json"])
        #expect(last.status == 0, "\(last.stderr)")
        let done = try runToEnd("/usr/bin/python3", [Self.checker, "compare", url] + replicas + [dir.appendingPathComponent("a").path]
                                + ["--within", "5", "--complete", reference.path])
        #expect(done.status == 0, "\(done.stdout)\n\(done.stderr)")
        let documents = try runToEnd("/usr/bin/psql", [url, "-tAc", "SELECT count(*) FROM mnemo_documents"])
        #expect(documents.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "240")
        let gaps = try runToEnd("/usr/bin/psql", [url, "-tAc", "SELECT max(seq) - count(DISTINCT seq) FROM mnemo_log"])
        #expect(gaps.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the log's sequence numbers have no gap")
    }

    /// The memory browser over a shared store, in headless Chromium: every step of the embedded store's
    /// browser check (search, open, add, upload, delete, ask), and the facts name the database and the
    /// replica's position.
    @Test func theMemoryBrowserOverASharedStore() throws {
        let python = try ServerIntegrationTests.clientsPython()
        let url = try Self.freshDatabase()
        let dir = try temporaryDirectory()
        let hostile = dir.appendingPathComponent("hostile.txt")
        try """
            Hostile note: <script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1"> and \
            <iframe src="javascript:window.__pwned=1"></iframe> <b>bold</b> pwned script onerror img.

            """.write(to: hostile, atomically: true, encoding: .utf8)
        let indexed = try mnemo(["index", repositoryRoot.appendingPathComponent("Examples/corpus").path, hostile.path, "--store", url,
                                 "--replica", dir.appendingPathComponent("indexer").path])
        try #require(indexed.status == 0, "\(indexed.stderr)")
        let upload = dir.appendingPathComponent("aquarium.md")
        try "# Aquarium\n\nThe aquarium heater thermostat is set to 25 degrees; the filter is rinsed every Sunday.\n"
            .write(to: upload, atomically: true, encoding: .utf8)
        let shots = WebPageTests.shots.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        let (server, port) = try Self.serve(url, replica: dir.appendingPathComponent("node"), logs: dir)
        defer { server.killIfRunning() }
        let check = try runToEnd(python, [repositoryRoot.appendingPathComponent("Tests/Scripts/browser_check.py").path, "full",
                                          "http://127.0.0.1:\(port)", shots.path, upload.path],
                                 environment: ["PYTHONUNBUFFERED": "1", "BROWSER_EXPECT_SHARED": "1"])
        #expect(check.status == 0 && check.stdout.contains("browser check: all"),
                "\(check.stdout)\n\(check.stderr.suffix(3000))\nserver: \(server.stderr.suffix(2000))")
    }

    /// The primary stopped under a running node and started again (a cluster of the script's own).
    @Test func aNodeServesStaleReadsWhileThePrimaryIsDown() throws {
        let script = repositoryRoot.appendingPathComponent("Tests/Scripts")
        let r = try runToEnd("/bin/bash", [script.appendingPathComponent("with-postgres.sh").path,
                                           script.appendingPathComponent("shared_store_faults.sh").path, mnemoBinary.path])
        #expect(r.status == 0 && r.stdout.contains("faults: ok"), "\(r.stdout)\n\(r.stderr)")
    }

    /// A role that needs a password: PGPASSWORD (or a PGPASSFILE) gives it; a wrong one is a clear error
    /// that shows no password.
    @Test func passwordsComeFromTheEnvironmentOrAPassFile() throws {
        let url = try #require(ProcessInfo.processInfo.environment["MNEMO_TEST_POSTGRES_PASSWORD_URL"], "run under with-postgres.sh")
        let dir = try temporaryDirectory()
        let note = dir.appendingPathComponent("note.md")
        try "The gate code is 4172.\n".write(to: note, atomically: true, encoding: .utf8)
        let wrong = try mnemo(["index", note.path, "--store", url, "--replica", dir.appendingPathComponent("r").path],
                              environment: ["PGPASSWORD": "not-the-password"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("refused the credentials") && wrong.stderr.contains("mnemo_pw@127.0.0.1")
                && !wrong.stderr.contains("not-the-password"), "\(wrong.stderr)")
        let right = try mnemo(["index", note.path, "--store", url, "--replica", dir.appendingPathComponent("r").path],
                              environment: ["PGPASSWORD": "correct-horse-battery"])
        #expect(right.status == 0, "\(right.stderr)")
        let parts = try #require(URLComponents(string: url))
        let passFile = dir.appendingPathComponent("pgpass")
        try "127.0.0.1:\(parts.port ?? 0):*:mnemo_pw:correct-horse-battery\n".write(to: passFile, atomically: true, encoding: .utf8)
        chmod(passFile.path, 0o600)
        let viaFile = try mnemo(["query", "gate code", "--store", url, "--replica", dir.appendingPathComponent("r2").path, "--json"],
                                environment: ["PGPASSFILE": passFile.path])
        #expect(viaFile.status == 0 && viaFile.stdout.contains("note.md"), "\(viaFile.stderr)")
    }

    /// Bad addresses on the command line: clear errors, never the password.
    @Test func badStoreURLsAreClearErrors() throws {
        let withPassword = try mnemo(["stats", "--store", "postgresql://mnemo:hunter2@127.0.0.1:1/x"])
        #expect(withPassword.status != 0)
        #expect(withPassword.stderr.contains("PGPASSWORD") && !withPassword.stderr.contains("hunter2"), "\(withPassword.stderr)")
        let down = try mnemo(["stats", "--store", "postgresql://mnemo@127.0.0.1:1/x", "--replica", try temporaryDirectory().path])
        #expect(down.status != 0)
        #expect(down.stderr.contains("cannot reach PostgreSQL") && down.stderr.contains("127.0.0.1:1"), "\(down.stderr)")
        let empty = try mnemo(["stats", "--store", try Self.freshDatabase(), "--replica", try temporaryDirectory().path])
        #expect(empty.status != 0)
        #expect(empty.stderr.contains("no Mnemo store in this database"), "\(empty.stderr)")
    }
}
