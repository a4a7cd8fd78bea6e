import CSQLite
import Foundation

/// A value bound to or read from SQLite.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    public var int: Int64? { if case .integer(let v) = self { v } else { nil } }
    public var double: Double? {
        switch self {
        case .real(let v): v
        case .integer(let v): Double(v)
        default: nil
        }
    }
    public var string: String? { if case .text(let v) = self { v } else { nil } }
    public var data: Data? { if case .blob(let v) = self { v } else { nil } }
}

/// An SQLite failure: the result code and SQLite's own message, plus what Mnemo was doing.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    /// SQLite's own words, without Mnemo's context.
    public let sqliteMessage: String

    public init(code: Int32, message: String, sqliteMessage: String? = nil) {
        self.code = code
        self.message = message
        self.sqliteMessage = sqliteMessage ?? message
    }
    public var description: String { Self.meaning(code).map { "\($0) (SQLite error \(code): \(message))" } ?? "SQLite error \(code): \(message)" }

    /// What a user can do about the result codes that are about the machine, not Mnemo.
    static func meaning(_ code: Int32) -> String? {
        switch code & 0xff {
        case SQLITE_FULL: "The disk holding the store is full: free some space and run the command again; what was committed before is kept"
        case SQLITE_READONLY: "The store cannot be written as this user (its files or directory are read-only)"
        case SQLITE_CANTOPEN: "The store's database cannot be opened (no such directory, or no permission for this user)"
        case SQLITE_PERM, SQLITE_AUTH: "Permission denied for the store's database"
        case SQLITE_IOERR: "The disk failed to read or write the store's database"
        default: nil
        }
    }
}

/// One SQLite connection, used by one owner at a time (it is not shared across threads). The one SQLite
/// layer of Mnemo: under the memory store and under the read-only database tool.
public final class SQLiteDatabase {
    /// For the read-only tool's authorizer, limits and progress handler.
    package let handle: OpaquePointer
    public let path: String

    public struct OpenOptions: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let readOnly = OpenOptions(rawValue: SQLITE_OPEN_READONLY)
        public static let readWrite = OpenOptions(rawValue: SQLITE_OPEN_READWRITE)
        public static let create = OpenOptions(rawValue: SQLITE_OPEN_CREATE)
        public static let uri = OpenOptions(rawValue: SQLITE_OPEN_URI)
    }

    public init(path: String, options: OpenOptions = [.readWrite, .create], busyTimeoutMs: Int32 = 10_000) throws {
        self.path = path
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, options.rawValue | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(path): \(message)", sqliteMessage: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        // Readers and the writer in other processes wait for each other instead of failing.
        sqlite3_busy_timeout(db, busyTimeoutMs)
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ rc: Int32, _ context: String) -> SQLiteError {
        let words = String(cString: sqlite3_errmsg(handle))
        return SQLiteError(code: rc, message: "\(context): \(words)", sqliteMessage: words)
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text)
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        try SQLiteStatement(database: self, sql: sql)
    }

    /// Runs a statement and returns every row.
    @discardableResult
    public func query(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        let statement = try prepare(sql)
        try statement.bind(bindings)
        var rows: [[SQLiteValue]] = []
        while let row = try statement.step() { rows.append(row) }
        return rows
    }

    public func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws {
        try query(sql, bindings)
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// A prepared statement; rows come back as arrays of values in column order.
public final class SQLiteStatement {
    let database: SQLiteDatabase
    let handle: OpaquePointer

    init(database: SQLiteDatabase, sql: String) throws {
        self.database = database
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(database.handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw database.error(rc, "prepare") }
        handle = stmt
    }

    deinit { sqlite3_finalize(handle) }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public func bind(_ values: [SQLiteValue]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, index)
            case .integer(let v): rc = sqlite3_bind_int64(handle, index, v)
            case .real(let v): rc = sqlite3_bind_double(handle, index, v)
            case .text(let v):
                // By byte count, not to the first NUL: text keeps every byte it has.
                rc = v.withCString { sqlite3_bind_text(handle, index, $0, Int32(v.utf8.count), Self.transient) }
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), Self.transient) }
            }
            guard rc == SQLITE_OK else { throw database.error(rc, "bind parameter \(index)") }
        }
    }

    /// The next row, or nil when done.
    public func step() throws -> [SQLiteValue]? {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_DONE { return nil }
        guard rc == SQLITE_ROW else { throw database.error(rc, "step") }
        return (0..<sqlite3_column_count(handle)).map { column($0) }
    }

    func column(_ i: Int32) -> SQLiteValue { Self.value(of: handle, column: i) }

    /// Column `i` of the current row of `statement`: the one decoder of SQLite values (text by its byte
    /// count, so a NUL inside it is kept).
    package static func value(of statement: OpaquePointer, column i: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, i))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, i) else { return .text("") }
            let count = Int(sqlite3_column_bytes(statement, i))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, i))
            guard count > 0, let bytes = sqlite3_column_blob(statement, i) else { return .blob(Data()) }
            return .blob(Data(bytes: bytes, count: count))
        default: return .null
        }
    }

    /// Runs the statement to completion with `values` bound (for inserts in a loop).
    public func run(_ values: [SQLiteValue]) throws {
        try bind(values)
        while try step() != nil {}
    }
}
