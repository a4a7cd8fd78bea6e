import Foundation
import Testing

/// `mnemo calc` and `mnemo sql`, run as a user would.
@Suite struct ToolsCLITests {
    static let shop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/shop.sqlite").path

    @Test func calcPrintsExactResults() throws {
        #expect(try mnemo(["calc", "2^100"]).stdout == "1267650600228229401496703205376\n")
        #expect(try mnemo(["calc", "0.1 + 0.2"]).stdout == "0.3\n")
        #expect(try mnemo(["calc", "1/3"]).stdout == "1/3 ≈ 0.333333333333333333333333333333\n")
        #expect(try mnemo(["calc", "sqrt(2)"]).stdout == "≈ 1.4142135623730951\n")
        #expect(try mnemo(["calc", "200", "*", "15%"]).stdout == "30\n")
        #expect(try mnemo(["calc", "-2^2"]).stdout == "-4\n")
        #expect(try mnemo(["calc", "--", "-2^2"]).stdout == "-4\n")
        #expect(try mnemo(["calc", "1/7", "--digits", "5"]).stdout == "1/7 ≈ 0.14286\n")
    }

    @Test func calcJSON() throws {
        let r = try mnemo(["calc", "1/3 + 1/6 + 1/12", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["expression"] as? String == "1/3 + 1/6 + 1/12")
        #expect(json["exact"] as? Bool == true)
        #expect(json["value"] as? String == "7/12")
        #expect(json["numerator"] as? String == "7" && json["denominator"] as? String == "12")
        #expect(json["decimal"] as? String == "0.583333333333333333333333333333")
        #expect(json["decimal_exact"] as? Bool == false)
        #expect(json["result"] as? String == "7/12 ≈ 0.583333333333333333333333333333")
        let float = try #require(try mnemo(["calc", "pi", "--json"]).json)
        #expect(float["exact"] as? Bool == false && float["value"] as? String == "3.141592653589793")
        #expect(float["numerator"] == nil)
    }

    @Test func calcErrorsExitNonZero() throws {
        let zero = try mnemo(["calc", "1/0"])
        #expect(zero.status != 0 && zero.stderr.contains("division by zero at column 2"), "\(zero.stderr)")
        let syntax = try mnemo(["calc", "2 +* 3"])
        #expect(syntax.status != 0 && syntax.stderr.contains("unexpected '*' at column 4"), "\(syntax.stderr)")
        let limit = try mnemo(["calc", "2^10^10"])
        #expect(limit.status != 0 && limit.stderr.contains("more than the limit of 10000 digits"), "\(limit.stderr)")
        let empty = try mnemo(["calc"])
        #expect(empty.status != 0 && empty.stderr.contains("give an expression"))
        #expect(try mnemo(["calc", "1/0", "--json"]).status != 0)
    }

    @Test func sqlRunsAQuery() throws {
        let r = try mnemo(["sql", "--db", Self.shop, "SELECT name, price_cents FROM products ORDER BY id LIMIT 2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            name              | price_cents
            ------------------+------------
            Cast-iron skillet | 8100
            Chef's knife      | 1999
            (2 rows)

            """)
    }

    @Test func sqlJSONAndRowCap() throws {
        let r = try mnemo(["sql", "--db", Self.shop, "SELECT id FROM orders ORDER BY id", "--max-rows", "3", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["columns"] as? [String] == ["id"])
        #expect(json["rows"] as? [[Int]] == [[1], [2], [3]])
        #expect(json["truncated"] as? Bool == true)
        #expect((json["truncation"] as? String)?.contains("row cap") == true)
        let env = try mnemo(["sql", "SELECT count(*) AS n FROM customers", "--json"], environment: ["MNEMO_SQL_DB": Self.shop])
        #expect(env.json?["rows"] as? [[Int]] == [[120]])
    }

    @Test func sqlSchema() throws {
        let text = try mnemo(["sql", "--db", Self.shop, "--schema"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("SQLite database shop.sqlite (read-only; SQLite SQL dialect). 8 table(s) and view(s):"))
        #expect(text.stdout.contains("customers (120 rows): id INTEGER PRIMARY KEY, name TEXT NOT NULL,"))
        let json = try #require(try mnemo(["sql", "--db", Self.shop, "--schema", "--json"]).json)
        let tables = try #require(json["tables"] as? [[String: Any]])
        #expect(tables.count == 8 && tables.first?["name"] as? String == "categories")
    }

    @Test func sqlRefusalsAndErrorsExitNonZero() throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: Self.shop))
        let write = try mnemo(["sql", "--db", Self.shop, "DELETE FROM orders"])
        #expect(write.status != 0 && write.stderr.contains("refused"), "\(write.stderr)")
        let two = try mnemo(["sql", "--db", Self.shop, "SELECT 1; DROP TABLE orders"])
        #expect(two.status != 0 && two.stderr.contains("only one statement"), "\(two.stderr)")
        let pragma = try mnemo(["sql", "--db", Self.shop, "PRAGMA writable_schema = 1"])
        #expect(pragma.status != 0 && pragma.stderr.contains("PRAGMA writable_schema"), "\(pragma.stderr)")
        let slow = try mnemo(["sql", "--db", Self.shop, "--timeout-ms", "200",
                              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"])
        #expect(slow.status != 0 && slow.stderr.contains("time limit of 200 ms"), "\(slow.stderr)")
        let missing = try mnemo(["sql", "--db", "/nonexistent/x.sqlite", "SELECT 1"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/x.sqlite"))
        let noDB = try mnemo(["sql", "SELECT 1"], environment: ["MNEMO_SQL_DB": ""])
        #expect(noDB.status != 0 && noDB.stderr.contains("--db"))
        let both = try mnemo(["sql", "--db", Self.shop, "SELECT 1", "--schema"])
        #expect(both.status != 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: Self.shop)) == before)
    }

    @Test func toolsHelpHasExamples() throws {
        for command in ["calc", "sql"] {
            let r = try mnemo([command, "--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Examples:"), "\(command) --help lacks examples")
        }
    }
}
