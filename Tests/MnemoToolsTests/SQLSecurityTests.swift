import Foundation
import MnemoTools
import Testing

/// Hostile SQL against the sample database: each statement is refused or bounded (in time and rows), and the
/// database file is byte-identical afterwards, with no journal or WAL file beside it.
@Suite struct SQLSecurityTests {
    enum Outcome {
        /// Refused before running: a write, a second statement, ATTACH, a PRAGMA, a denied function.
        case refused
        /// Stopped at a limit: time, value size, SQL length, pattern length, expression depth.
        case limited
        /// Ran, with at most the row cap.
        case bounded
        /// Refused or stopped by SQLite itself (an unknown function, say); never runs a write.
        case refusedOrFailed
    }

    static let deepExpression = "SELECT " + String(repeating: "(", count: 2_000) + "1" + String(repeating: ")", count: 2_000)
    static let hugeLike = "SELECT count(*) FROM customers WHERE name LIKE '" + String(repeating: "%a", count: 5_000) + "'"
    static let slowLike = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000) "
        + "SELECT count(*) FROM c WHERE hex(zeroblob(100000)) LIKE '" + String(repeating: "%0", count: 120) + "%1'"
    static let compoundBomb = "SELECT " + Array(repeating: "1", count: 1_000).joined(separator: " UNION ALL SELECT ")
    static let manyColumns = "SELECT " + Array(repeating: "name", count: 2_000).joined(separator: ", ") + " FROM customers"
    static let recursiveCount = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

    static let cases: [(String, Outcome)] = [
        // Writes and schema changes.
        ("DELETE FROM orders", .refused),
        ("INSERT INTO categories (id, name) VALUES (99, 'Evil')", .refused),
        ("UPDATE products SET price_cents = 0", .refused),
        ("REPLACE INTO categories VALUES (1, 'Evil')", .refused),
        ("DROP TABLE orders", .refused),
        ("CREATE TABLE evil (x)", .refused),
        ("CREATE TEMP TABLE evil AS SELECT * FROM orders", .refused),
        ("ALTER TABLE orders ADD COLUMN evil TEXT", .refused),
        ("CREATE VIRTUAL TABLE evil USING fts5(x)", .refused),
        ("WITH x AS (SELECT 1) DELETE FROM orders", .refused),
        ("WITH x AS (SELECT 99, 'Evil') INSERT INTO categories SELECT * FROM x", .refused),
        ("WITH x AS (SELECT 1) UPDATE sqlite_master SET sql = 'evil'", .refusedOrFailed),
        ("UPDATE sqlite_master SET sql = 'evil' WHERE name = 'orders'", .refused),
        ("INSERT INTO sqlite_master VALUES ('table', 'evil', 'evil', 0, 'CREATE TABLE evil(x)')", .refused),
        ("REINDEX", .refused),
        ("ANALYZE", .refused),
        ("VACUUM", .refused),
        ("VACUUM INTO '/tmp/mnemo-evil-copy.sqlite'", .refused),
        // More than one statement, also hidden behind comments and NUL bytes.
        ("SELECT 1; DELETE FROM orders", .refused),
        ("SELECT 1; SELECT 2", .refused),
        ("SELECT 1 /* ; */ ; -- comment\n DROP TABLE orders", .refused),
        ("SELECT 1\u{0}; DROP TABLE orders", .refused),
        // Transactions, ATTACH, DETACH.
        ("BEGIN IMMEDIATE", .refused),
        ("COMMIT", .refused),
        ("SAVEPOINT evil", .refused),
        ("ATTACH DATABASE '/tmp/mnemo-evil.sqlite' AS evil", .refused),
        ("ATTACH DATABASE ':memory:' AS evil", .refused),
        ("DETACH DATABASE main", .refused),
        ("SELECT * FROM (SELECT 1) WHERE 1 = 1; ATTACH ':memory:' AS evil", .refused),
        // PRAGMAs that change anything, or read beyond the schema.
        ("PRAGMA writable_schema = 1", .refused),
        ("PRAGMA writable_schema = ON", .refused),
        ("PRAGMA journal_mode = DELETE", .refused),
        ("PRAGMA journal_mode = WAL", .refused),
        ("PRAGMA user_version = 7", .refused),
        ("PRAGMA query_only = 0", .refused),
        ("PRAGMA main.synchronous = OFF", .refused),
        ("SELECT * FROM pragma_table_info('orders')", .refused),
        // Extensions, files, tokenizer pointers.
        ("SELECT load_extension('/tmp/evil.so')", .refused),
        ("SELECT load_extension('/tmp/evil.so', 'sqlite3_evil_init')", .refused),
        ("SELECT fts3_tokenizer('simple')", .refused),
        ("SELECT readfile('/etc/passwd')", .refusedOrFailed),
        ("SELECT writefile('/tmp/mnemo-evil.txt', 'x')", .refusedOrFailed),
        ("SELECT edit('x')", .refusedOrFailed),
        // Statements that are not SELECTs at all.
        ("EXPLAIN DELETE FROM orders", .refused),
        ("ＳＥＬＥＣＴ 1", .refused),
        // Runaway work: recursive CTEs, cross joins, sorts, pathological LIKE.
        (recursiveCount, .limited),
        ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c", .bounded),
        ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c ORDER BY x DESC", .limited),
        ("SELECT count(*) FROM order_items a, order_items b, order_items c, order_items d", .limited),
        ("SELECT a.order_id FROM order_items a, order_items b, order_items c ORDER BY random()", .limited),
        ("SELECT * FROM order_items a, order_items b", .bounded),
        (slowLike, .limited),
        (hugeLike, .limited),
        // One function call that would run long where the time limit cannot reach it (quadratic in its inputs).
        ("SELECT printf('%.*c', 2000000000, 'x')", .refused),
        ("SELECT format('%!.2000000000c', 'x')", .refused),
        ("SELECT length(trim(a, b)) FROM (SELECT replace(hex(zeroblob(95000)), '0', 'a') AS a,"
            + " replace(hex(zeroblob(8000)), '0', 'b') || 'a' AS b)", .bounded),
        ("SELECT instr(a, b) FROM (SELECT replace(hex(zeroblob(99000)), '0', 'a') AS a,"
            + " replace(hex(zeroblob(49000)), '0', 'a') || 'b' AS b)", .bounded),
        ("SELECT length(replace(a, b, 'x')) FROM (SELECT replace(hex(zeroblob(99000)), '0', 'a') AS a,"
            + " replace(hex(zeroblob(49000)), '0', 'a') || 'b' AS b)", .bounded),
        ("SELECT instr(a, b) FROM (SELECT replace(hex(zeroblob(499000)), '0', 'a') AS a,"
            + " replace(hex(zeroblob(250000)), '0', 'a') || 'b' AS b)", .limited),
        // Giant values and texts.
        ("SELECT randomblob(1000000000)", .limited),
        ("SELECT zeroblob(2000000000)", .limited),
        ("SELECT replace(hex(zeroblob(400000)), '0', 'xxxxxxxxxx')", .limited),
        ("SELECT group_concat(hex(randomblob(1000))) FROM order_items a, order_items b", .limited),
        ("WITH RECURSIVE c(x) AS (SELECT 'x' UNION ALL SELECT x || x FROM c) SELECT length(x) FROM c", .limited),
        // Gigantic SQL.
        ("SELECT '" + String(repeating: "x", count: 200_000) + "'", .limited),
        (deepExpression, .refusedOrFailed),
        (compoundBomb, .refusedOrFailed),
        (manyColumns, .refusedOrFailed),
    ]

    @Test func hostileStatementsAreRefusedOrBoundedAndTheFileIsUnchanged() throws {
        let url = URL(fileURLWithPath: shopDatabase)
        let directory = url.deletingLastPathComponent()
        let before = try Data(contentsOf: url)
        let sha = sha256(url.path)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        let filesBefore = try Set(FileManager.default.contentsOfDirectory(atPath: directory.path))

        #expect(Self.cases.count >= 30)
        var limits = ReadOnlyDatabase.Limits()
        limits.timeout = .milliseconds(500)
        limits.maxRows = 1_000
        let db = try ReadOnlyDatabase(path: url.path, limits: limits)
        for (sql, expected) in Self.cases {
            let label = sql.count > 100 ? String(sql.prefix(100)) + "… (\(sql.utf8.count) bytes)" : sql
            let start = ContinuousClock.now
            var outcome: Outcome
            var detail = ""
            do {
                let result = try db.query(sql)
                outcome = .bounded
                detail = "\(result.rows.count) rows"
                #expect(result.rows.count <= limits.maxRows, "\(label)")
            } catch let error as ToolError {
                detail = error.message
                switch error.code {
                case .denied: outcome = .refused
                case .limit: outcome = .limited
                default: outcome = .refusedOrFailed
                }
            }
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(3), "\(label) took \(elapsed)")
            let accepted = expected == .refusedOrFailed ? outcome != .bounded : outcome == expected
            #expect(accepted, "\(label): expected \(expected), got \(outcome): \(detail)")
        }
        print("SQL security: \(Self.cases.count) hostile statements, each refused or bounded")
        // The connection still works after all that.
        #expect(try db.query("SELECT count(*) FROM orders").rows == [[.integer(400)]])

        #expect(try Data(contentsOf: url) == before, "shop.sqlite changed")
        #expect(sha256(url.path) == sha && sha != nil)
        let after = try FileManager.default.attributesOfItem(atPath: url.path)
        #expect(after[.modificationDate] as? Date == attributes[.modificationDate] as? Date)
        let filesAfter = try Set(FileManager.default.contentsOfDirectory(atPath: directory.path))
        #expect(filesAfter.filter { $0.hasPrefix("shop.sqlite") } == filesBefore.filter { $0.hasPrefix("shop.sqlite") })
        for path in ["/tmp/mnemo-evil-copy.sqlite", "/tmp/mnemo-evil.sqlite", "/tmp/mnemo-evil.txt"] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) was created")
        }
    }

    /// The file's SHA-256 from coreutils (nil if it cannot run).
    func sha256(_ path: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let out = Pipe()
        process.standardOutput = out
        guard (try? process.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init)
    }
}
