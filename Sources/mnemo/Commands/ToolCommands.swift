import ArgumentParser
import Foundation
import MnemoTools

struct CalcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calc",
        abstract: "Exact arithmetic: integers of any size, fractions, decimals, percentages and functions.",
        discussion: """
        Numbers are exact: integers of any size, decimals (0.1 + 0.2 is exactly 0.3) and fractions (1/3 stays 1/3, \
        printed with a 30-digit decimal after "≈"). A result is a float, printed after "≈" and marked \
        "exact": false, only where exactness is impossible: pi, e, and sqrt, exp, ln, log, sin, cos, tan of most \
        arguments (sqrt(16/9), log(1000) and 8^(1/3) stay exact).

        Operators, loosest first: + - ; * / % (remainder, with the sign of the dividend) ; unary minus (so \
        -2^2 = -4) ; ^ (right-associative: 2^3^2 = 2^9) ; postfix % (percent). × ÷ − and ** work too.

        Percent: % right after a number is a percent sign unless a number, a name or "(" follows it: 50% = 1/2, \
        200 * 15% = 30, 7 % 3 = 1 (remainder), 7 % (-3) = 1. a + b% and a - b% add or take away b percent of a: \
        200 + 15% = 230 (write 200 + (15%) for 200.15).

        Functions: sqrt exp ln log(x[, base]) sin cos tan (radians) abs round(x[, places]) floor ceil min max; \
        constants pi and e. round takes halves away from zero.

        Limits: 10,000 characters; nesting 100 deep; 10,000 digits in any number, intermediate results included \
        (a power is checked before it is computed, so 2^10^10 is refused at once); 2 seconds.

        Examples:
          mnemo calc "2^200"
          mnemo calc "0.1 + 0.2"
          mnemo calc "1/3 + 1/6" --json
          mnemo calc "250000 * 3.5%"
          mnemo calc "sqrt(2) * pi"
          mnemo calc -- "-2^2"
        """
    )

    @Argument(parsing: .allUnrecognized, help: "The expression (quote it; words are joined with spaces).")
    var expression: [String] = []

    @Option(help: "Significant digits of an inexact decimal rendering (1-1000).")
    var digits = 30

    @OptionGroup var output: OutputOptions

    struct Output: Encodable {
        let expression: String
        let exact: Bool
        let result: String
        let value: String
        let decimal: String
        let decimalExact: Bool
        let numerator: String?
        let denominator: String?

        enum CodingKeys: String, CodingKey {
            case expression, exact, result, value, decimal, numerator, denominator
            case decimalExact = "decimal_exact"
        }
    }

    /// The words of the expression; a `--` before them (to pass a leading minus through the shell) is dropped.
    var text: String {
        (expression.first == "--" ? Array(expression.dropFirst()) : expression).joined(separator: " ")
    }

    func validate() throws {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("give an expression, e.g. mnemo calc \"2^64 / 3\"")
        }
        guard (1...1000).contains(digits) else { throw ValidationError("--digits must be between 1 and 1000") }
    }

    func run() throws {
        let result = try Calculator().evaluate(text)
        if output.json {
            try Terminal.printJSON(Output(
                expression: text, exact: result.isExact, result: result.text(significantDigits: digits),
                value: result.valueText, decimal: result.decimal(significantDigits: digits),
                decimalExact: result.decimalIsExact,
                numerator: result.rational.map { String($0.numerator) }, denominator: result.rational.map { String($0.denominator) }))
        } else {
            print(result.text(significantDigits: digits))
        }
    }
}

struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run one read-only SQL query over an SQLite database, or show its schema.",
        discussion: """
        The database is opened read-only and never written. One statement runs: SELECT, WITH … SELECT, VALUES \
        or PRAGMA table_info/index_list/foreign_key_list. SQLite's authorizer refuses ATTACH, DETACH, writes, \
        schema changes, transactions, other PRAGMAs, load_extension, file functions and printf/format. A query \
        stops at its time limit; rows stop at --max-rows (then "truncated" is true). Values are limited to \
        200,000 bytes, SQL to 100,000 bytes, LIKE/GLOB patterns to 500 bytes.

        --schema prints what an LLM is given: tables and views, columns (type, primary key, NOT NULL), foreign \
        keys, row counts and 3 sample rows each.

        Examples:
          mnemo sql --db Examples/shop.sqlite --schema
          mnemo sql --db Examples/shop.sqlite "SELECT count(*) FROM orders"
          mnemo sql --db shop.sqlite "SELECT * FROM products" --max-rows 5 --json
          MNEMO_SQL_DB=shop.sqlite mnemo sql "SELECT sum(total_cents) FROM order_totals"
        """
    )

    @Option(help: "The SQLite database file (default: $MNEMO_SQL_DB).")
    var db: String?

    @Argument(help: "The query (\"-\" reads it from standard input).")
    var query: String?

    @Flag(help: "Print the schema (tables, columns, row counts, sample rows) instead of running a query.")
    var schema = false

    @Option(help: "Keep at most this many rows.")
    var maxRows = 1_000

    @Option(name: .customLong("timeout-ms"), help: "Stop the query after this many milliseconds.")
    var timeoutMs = 2_000

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (query == nil) != !schema else { throw ValidationError("give either a query or --schema") }
        guard (1...1_000_000).contains(maxRows) else { throw ValidationError("--max-rows must be between 1 and 1000000") }
        guard (1...600_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be between 1 and 600000") }
        _ = try databasePath()
    }

    func databasePath() throws -> String {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["MNEMO_SQL_DB"], !env.isEmpty { return env }
        throw ValidationError("give --db PATH (or set $MNEMO_SQL_DB)")
    }

    func run() throws {
        var limits = ReadOnlyDatabase.Limits()
        limits.maxRows = maxRows
        limits.timeout = .milliseconds(timeoutMs)
        let database = try ReadOnlyDatabase(path: try databasePath(), limits: limits)
        if schema {
            let description = try database.schema()
            if output.json {
                try Terminal.printJSON(description)
            } else {
                print(description.promptText())
            }
            return
        }
        var sql = query ?? ""
        if sql == "-" {
            sql = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        let result = try database.query(sql)
        if output.json {
            try Terminal.printJSON(result)
        } else {
            print(result.table())
        }
    }
}
