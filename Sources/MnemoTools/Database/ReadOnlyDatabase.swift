import CSQLite
import Foundation
import MnemoSQLite

/// Read-only SQL over a user's SQLite database, safe to hand statements an LLM wrote.
///
/// Guarantees, each enforced by SQLite itself rather than by reading the SQL:
/// - the file is opened `SQLITE_OPEN_READONLY` (no URI from the caller, no extension loading), so it is never
///   written; without a `-wal` file beside it, immutable, so not even `-wal`/`-shm` files are created;
/// - one statement only: text after the first statement must be blanks, comments or semicolons, and the
///   statement must start with SELECT, WITH, VALUES or PRAGMA and be `sqlite3_stmt_readonly`;
/// - an authorizer allows reading, functions (but not `load_extension` and file functions), recursive CTEs and
///   the schema-describing pragmas (`table_info` and friends); it refuses ATTACH, DETACH, every write, schema
///   change, transaction control and every other PRAGMA;
/// - a progress handler stops a statement at its time limit; rows stop at a row cap and a total-size cap;
///   `sqlite3_limit` bounds value length, SQL length, LIKE patterns, expression depth, compound SELECTs and
///   attached databases (0);
/// - no single function call can run for long, since the time limit is only checked between SQLite's steps:
///   printf/format are refused, trim/ltrim/rtrim with a character set are replaced by linear versions, and the
///   value-length limit bounds instr() and replace().
///
/// One connection, used by one owner at a time.
public final class ReadOnlyDatabase {
    public struct Limits: Sendable {
        /// Rows kept; more set `truncated`.
        public var maxRows = 1_000
        /// Wall-clock time for one statement.
        public var timeout: Duration = .seconds(2)
        /// Bytes of text and blobs kept across the result; more set `truncated`.
        public var maxResultBytes = 8 << 20
        /// The longest string or blob any expression may produce or read (SQLITE_LIMIT_LENGTH). It also bounds
        /// instr() and replace(), whose time grows with the product of their arguments' lengths inside one call,
        /// where the time limit cannot stop them: about 0.5 s at 200,000 bytes, 10 s at 1,000,000.
        public var maxValueBytes = 200_000
        /// The longest statement, in bytes.
        public var maxSQLLength = 100_000
        /// The longest LIKE or GLOB pattern, in bytes.
        public var maxPatternLength = 500
        /// Nesting of expressions inside one another.
        public var maxExpressionDepth = 100

        public init() {}
    }

    public let path: String
    public let limits: Limits
    /// The connection, from Mnemo's one SQLite layer; this type adds the guards.
    let database: SQLiteDatabase
    var handle: OpaquePointer { database.handle }
    let guardian = SQLGuard()

    static let allowedKeywords: Set<String> = ["SELECT", "WITH", "VALUES", "PRAGMA"]

    /// `file:` URI for `path`, read-only and immutable; every byte but unreserved ones and `/` percent-encoded.
    static func immutableURI(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var out = "file:"
        for byte in absolute.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~/".contains(c) { out.append(c) } else { out += String(format: "%%%02X", byte) }
        }
        return out + "?mode=ro&immutable=1"
    }

    public init(path: String, limits: Limits = Limits()) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ToolError(.notFound, "no database file at \(path)")
        }
        guard !isDirectory.boolValue else { throw ToolError(.notFound, "\(path) is a directory, not a database file") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ToolError(.notFound, "\(path) is not readable")
        }
        // A WAL-mode database opened read-only still gets `-wal` and `-shm` files created beside it.
        // With no `-wal` file there, every committed page is in the main file: open it immutable (our
        // own URI, the path percent-encoded), which creates nothing. With one, SQLite must read it.
        let hasWAL = FileManager.default.fileExists(atPath: path + "-wal")
        do {
            database = try SQLiteDatabase(path: hasWAL ? path : Self.immutableURI(path), options: hasWAL ? [.readOnly] : [.readOnly, .uri],
                                          busyTimeoutMs: Int32(clamping: Self.milliseconds(limits.timeout)))
        } catch let error as SQLiteError {
            throw ToolError(.notFound, "cannot open \(path): \(error.sqliteMessage)")
        }
        self.path = path
        self.limits = limits
        let db = database.handle
        sqlite3_enable_load_extension(db, 0)
        sqlite3_limit(db, SQLITE_LIMIT_LENGTH, Int32(clamping: limits.maxValueBytes))
        sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, Int32(clamping: limits.maxSQLLength))
        sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, Int32(clamping: limits.maxPatternLength))
        sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, Int32(clamping: limits.maxExpressionDepth))
        sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 50)
        sqlite3_limit(db, SQLITE_LIMIT_COLUMN, 500)
        sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, 32)
        sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, 100)
        sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0)
        sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 1)
        sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0)
        guardian.install(on: db)
        LinearFunctions.install(on: db)
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    /// Runs one read-only statement and returns at most `maxRows` rows (default: the limits').
    public func query(_ sql: String, maxRows: Int? = nil, timeout: Duration? = nil) throws -> QueryResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        let timeLimit = timeout ?? limits.timeout
        guardian.timedOut = false
        guardian.deadline = start &+ UInt64(max(0, Self.milliseconds(timeLimit))) * 1_000_000
        defer { guardian.deadline = .max }

        let rowCap = max(0, maxRows ?? limits.maxRows)
        let count = sqlite3_column_count(statement)
        let columns = (0..<count).map { sqlite3_column_name(statement, $0).map { String(cString: $0) } ?? "?" }
        var rows: [[SQLiteValue]] = []
        var bytes = 0
        var truncation: String?
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                if guardian.timedOut || rc & 0xFF == SQLITE_INTERRUPT {
                    throw ToolError(.limit, "the query ran longer than the time limit of \(Self.milliseconds(timeLimit)) ms"
                        + " and was stopped")
                }
                let message = String(cString: sqlite3_errmsg(handle))
                if rc & 0xFF == SQLITE_TOOBIG {
                    throw ToolError(.limit, "SQLite: \(message) (a value may hold at most \(limits.maxValueBytes) bytes)")
                }
                if message.contains("pattern too complex") {
                    throw ToolError(.limit, "SQLite: \(message) (LIKE and GLOB patterns may be at most \(limits.maxPatternLength) bytes)")
                }
                throw ToolError(.sql, "SQLite error: \(message)")
            }
            if rows.count >= rowCap {
                truncation = "only the first \(rowCap) row\(rowCap == 1 ? "" : "s") are kept (the row cap)"
                break
            }
            let row = (0..<count).map { SQLiteStatement.value(of: statement, column: $0) }
            bytes += row.reduce(0) { $0 + $1.byteCount }
            if bytes > limits.maxResultBytes {
                truncation = "the rows after the first \(rows.count) exceed the result size cap of \(limits.maxResultBytes) bytes"
                break
            }
            rows.append(row)
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return QueryResult(columns: columns, rows: rows, truncated: truncation != nil, truncation: truncation, elapsedMs: elapsed)
    }

    /// Compiles exactly one allowed statement, or throws naming what was refused.
    func prepare(_ sql: String) throws -> OpaquePointer {
        let bytes = Array(sql.utf8)
        guard bytes.count <= limits.maxSQLLength else {
            throw ToolError(.limit, "the SQL is \(bytes.count) bytes long; the limit is \(limits.maxSQLLength) bytes")
        }
        guard !bytes.contains(0) else { throw ToolError(.denied, "the SQL contains a NUL byte") }
        let begin = SQLText.skipBlank(bytes, from: 0)
        guard begin < bytes.count else { throw ToolError(.syntax, "no SQL statement (only blanks or comments)") }
        let keyword = SQLText.keyword(bytes, at: begin)
        guard Self.allowedKeywords.contains(keyword) else {
            let shown = keyword.isEmpty ? String(decoding: bytes[begin..<min(bytes.count, begin + 20)], as: UTF8.self) : keyword
            throw ToolError(.denied, "refused: only read-only SELECT statements run here (SELECT, WITH … SELECT, VALUES,"
                + " PRAGMA table_info), not \(shown)")
        }
        guardian.denial = nil
        var statement: OpaquePointer?
        var tailOffset = bytes.count
        let rc = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return SQLITE_MISUSE }
            return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { text in
                let start = text + begin
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(handle, start, Int32(buffer.count - begin), &statement, &tail)
                if let tail { tailOffset = tail - text }
                return rc
            }
        }
        if rc != SQLITE_OK {
            sqlite3_finalize(statement)
            if let denial = guardian.denial {
                throw ToolError(.denied, "refused: \(denial)")
            }
            let message = String(cString: sqlite3_errmsg(handle))
            if rc & 0xFF == SQLITE_NOTADB { throw ToolError(.notFound, "\(path): \(message)") }
            if rc & 0xFF == SQLITE_TOOBIG {
                throw ToolError(.limit, "SQLite: \(message) (SQL may be at most \(limits.maxSQLLength) bytes, values"
                    + " \(limits.maxValueBytes) bytes)")
            }
            throw ToolError(.sql, "SQLite error: \(message)")
        }
        guard let statement else { throw ToolError(.syntax, "no SQL statement") }
        let rest = SQLText.skipBlank(bytes, from: tailOffset)
        if rest < bytes.count {
            sqlite3_finalize(statement)
            let excerpt = String(decoding: bytes[rest..<min(bytes.count, rest + 40)], as: UTF8.self)
            throw ToolError(.denied, "refused: only one statement is allowed, and more SQL follows at byte \(rest): \(excerpt)")
        }
        guard sqlite3_stmt_readonly(statement) != 0 else {
            sqlite3_finalize(statement)
            throw ToolError(.denied, "refused: the statement would write to the database")
        }
        return statement
    }
}
