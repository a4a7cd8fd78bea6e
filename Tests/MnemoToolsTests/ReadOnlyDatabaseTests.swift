import Foundation
import MnemoSQLite
import MnemoTools
import Testing

let shopDatabase = repositoryRoot.appendingPathComponent("Examples/shop.sqlite").path

func openShop(_ configure: (inout ReadOnlyDatabase.Limits) -> Void = { _ in }) throws -> ReadOnlyDatabase {
    var limits = ReadOnlyDatabase.Limits()
    configure(&limits)
    return try ReadOnlyDatabase(path: shopDatabase, limits: limits)
}

func toolError(_ body: () throws -> Void) -> ToolError? {
    do {
        try body()
        return nil
    } catch {
        return error as? ToolError
    }
}

@Suite struct ReadOnlyDatabaseTests {
    /// One SQLite layer: the store's connection and the read-only tool decode the same stored values the
    /// same way (the store's decoder used to cut text at a NUL).
    @Test func theStoreAndTheToolReadValuesAlike() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-values-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values: [SQLiteValue] = [.text("before\u{0}after ünïcode"), .integer(-7), .real(2.5), .blob(Data([0, 255])), .text("")]
        do {
            let writer = try SQLiteDatabase(path: path)
            try writer.execute("CREATE TABLE t (a, b, c, d, e)")
            try writer.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", values)
        }
        let viaStoreLayer = try SQLiteDatabase(path: path, options: [.readOnly]).query("SELECT * FROM t")
        let viaTool = try ReadOnlyDatabase(path: path).query("SELECT * FROM t").rows
        #expect(viaStoreLayer == [values])
        #expect(viaTool == [values])
    }

    @Test func queryReturnsColumnsAndTypedValues() throws {
        let db = try openShop()
        let r = try db.query("SELECT 42 AS i, 2.5 AS r, 'text' AS t, NULL AS n, x'00ff' AS b, 1e999 AS inf")
        #expect(r.columns == ["i", "r", "t", "n", "b", "inf"])
        #expect(r.rows == [[.integer(42), .real(2.5), .text("text"), .null, .blob(Data([0, 255])), .real(.infinity)]])
        #expect(!r.truncated && r.truncation == nil)
        let json = String(decoding: try JSONEncoder().encode(r.rows), as: UTF8.self)
        #expect(json == #"[[42,2.5,"text",null,"x'00ff'","Inf"]]"#)
        let count = try db.query("SELECT count(*) FROM customers")
        #expect(count.rows == [[.integer(120)]])
        #expect(try db.query("SELECT name FROM categories ORDER BY id").rows.map(\.[0]).first == .text("Kitchen"))
    }

    /// A WAL-mode database (header bytes 18 and 19 = 2) is read without a `-wal` or `-shm` file
    /// appearing beside it and without a byte of it changing, even under a name a URI would misread.
    @Test func aWALDatabaseIsReadWithoutFilesAppearingBesideIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: shopDatabase))
        bytes[18] = 2
        bytes[19] = 2
        let path = dir.appendingPathComponent("shop 100%?#.sqlite").path
        try bytes.write(to: URL(fileURLWithPath: path))
        do {
            let db = try ReadOnlyDatabase(path: path)
            #expect(try db.query("SELECT count(*) FROM customers").rows == [[.integer(120)]])
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal") && !FileManager.default.fileExists(atPath: path + "-shm"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    @Test func rowCapTruncates() throws {
        let db = try openShop { $0.maxRows = 5 }
        let r = try db.query("SELECT id FROM orders ORDER BY id")
        #expect(r.rows.count == 5 && r.truncated)
        #expect(r.truncation == "only the first 5 rows are kept (the row cap)")
        let exact = try db.query("SELECT id FROM categories LIMIT 5")
        #expect(exact.rows.count == 5 && !exact.truncated)
        let override = try db.query("SELECT id FROM orders", maxRows: 2)
        #expect(override.rows.count == 2 && override.truncated)
        #expect(r.table().hasSuffix("(5 rows; truncated: only the first 5 rows are kept (the row cap))"))
    }

    @Test func resultSizeCapTruncates() throws {
        let db = try openShop { $0.maxResultBytes = 100_000 }
        let r = try db.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT zeroblob(10000) FROM c")
        #expect(r.truncated && r.rows.count == 9)
        #expect(r.truncation?.contains("result size cap of 100000 bytes") == true)
    }

    @Test func timeLimitStopsAQuery() throws {
        let db = try openShop { $0.timeout = .milliseconds(200) }
        let start = ContinuousClock.now
        let error = toolError { _ = try db.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c") }
        #expect(error?.code == .limit)
        #expect(error?.message == "the query ran longer than the time limit of 200 ms and was stopped")
        #expect(ContinuousClock.now - start < .seconds(2))
        // The connection is usable afterwards, with a fresh deadline.
        #expect(try db.query("SELECT 1").rows == [[.integer(1)]])
        #expect(try db.query("SELECT count(*) FROM order_items", timeout: .seconds(5)).rows == [[.integer(1155)]])
    }

    @Test func oneStatementWithBlanksAndCommentsAround() throws {
        let db = try openShop()
        #expect(try db.query("  -- leading comment\n /* block */ SELECT 1 ; ;  -- trailing\n/* end */").rows == [[.integer(1)]])
        #expect(try db.query("WITH t AS (SELECT 2 AS x) SELECT x FROM t").rows == [[.integer(2)]])
        #expect(try db.query("VALUES (1, 'a'), (2, 'b')").rows.count == 2)
        #expect(try db.query("PRAGMA table_info(orders)").rows.count == 6)
        #expect(toolError { _ = try db.query("  -- nothing\n") }?.code == .syntax)
        #expect(toolError { _ = try db.query("") }?.code == .syntax)
        #expect(toolError { _ = try db.query("SELECT * FROM nowhere") }?.message == "SQLite error: no such table: nowhere")
        #expect(toolError { _ = try db.query("SELECT FROM") }?.code == .sql)
    }

    @Test func openErrorsNameTheFile() throws {
        #expect(toolError { _ = try ReadOnlyDatabase(path: "/nonexistent/shop.sqlite") }?.message == "no database file at /nonexistent/shop.sqlite")
        #expect(toolError { _ = try ReadOnlyDatabase(path: NSTemporaryDirectory()) }?.code == .notFound)
        let notADatabase = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-not-a-db-\(UUID().uuidString).txt")
        try Data(String(repeating: "this is not a database\n", count: 100).utf8).write(to: notADatabase)
        defer { try? FileManager.default.removeItem(at: notADatabase) }
        let db = try ReadOnlyDatabase(path: notADatabase.path)
        let error = toolError { _ = try db.query("SELECT 1 FROM sqlite_schema") }
        #expect(error?.message == "\(notADatabase.path): file is not a database")
    }

    @Test func schemaDescribesTablesForAPrompt() throws {
        let schema = try openShop().schema()
        #expect(schema.database == "shop.sqlite")
        #expect(schema.tables.map(\.name) == ["categories", "customers", "departments", "employees", "order_items", "orders",
                                             "products", "order_totals"])
        let orders = try #require(schema.tables.first { $0.name == "orders" })
        #expect(orders.kind == "table" && orders.rowCount == 400 && orders.sampleRows.count == 3)
        #expect(orders.columns.map(\.name) == ["id", "customer_id", "employee_id", "ordered_on", "status", "shipping_cents"])
        #expect(orders.columns[0].primaryKey && !orders.columns[1].primaryKey && orders.columns[1].notNull)
        #expect(orders.columns[1].type == "INTEGER")
        #expect(Set(orders.foreignKeys.map(\.table)) == ["customers", "employees"])
        let view = try #require(schema.tables.last)
        #expect(view.kind == "view" && view.rowCount == nil && view.sampleRows.count == 3)

        let text = schema.promptText()
        #expect(text.hasPrefix("SQLite database shop.sqlite (read-only; SQLite SQL dialect). 8 table(s) and view(s):"))
        #expect(text.contains("orders (400 rows): id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,"))
        #expect(text.contains("order_items (1155 rows): order_id INTEGER, product_id INTEGER, quantity INTEGER NOT NULL,"
            + " unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, product_id)"))
        #expect(text.contains("  foreign keys: category_id → categories.id"))
        #expect(text.contains("  sample rows: (1, 'Kitchen') (2, 'Garden') (3, 'Books')"))
        #expect(text.contains("order_totals (view): order_id INTEGER, customer_id INTEGER, ordered_on TEXT, status TEXT, total_cents"))

        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(schema)) as? [String: Any]
        let tables = try #require(json?["tables"] as? [[String: Any]])
        #expect(tables.count == 8)
        #expect((tables[0]["columns"] as? [[String: Any]])?.first?["primary_key"] as? Bool == true)
        #expect(tables[0]["row_count"] as? Int == 6)
    }
}

@Suite struct LinearFunctionTests {
    /// The linear trim/ltrim/rtrim behave as SQLite's own.
    @Test func trimFamilyMatchesSQLite() throws {
        let db = try openShop()
        let r = try db.query("""
            SELECT trim('xxhixyx', 'xy'), ltrim('xxhixyx', 'xy'), rtrim('xxhixyx', 'xy'), trim('  hi  '), trim(NULL, 'x'),
                   trim('abc', NULL), trim('ééaéé', 'é'), trim('abc', ''), trim('', 'a'), rtrim(12300, '0')
            """)
        #expect(r.rows == [[.text("hi"), .text("hixyx"), .text("xxhi"), .text("hi"), .null, .null, .text("a"), .text("abc"),
                            .text(""), .text("123")]])
        let start = ContinuousClock.now
        let long = try db.query("SELECT length(trim(a, b)) FROM (SELECT replace(hex(zeroblob(95000)), '0', 'a') AS a,"
            + " replace(hex(zeroblob(8000)), '0', 'b') || 'a' AS b)")
        #expect(long.rows == [[.integer(0)]])
        #expect(ContinuousClock.now - start < .seconds(1))
    }
}
