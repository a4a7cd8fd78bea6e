import CSQLite
import Foundation

/// What the SQL module lets a statement do, decided by SQLite's authorizer while it compiles a statement,
/// plus the progress handler's deadline. One instance per connection; SQLite's callbacks reach it through
/// an unretained pointer that the connection keeps alive.
final class SQLGuard {
    /// The first thing the authorizer refused while compiling the current statement.
    var denial: String?
    /// Uptime in nanoseconds after which the progress handler stops the running statement.
    var deadline: UInt64 = .max
    var timedOut = false

    /// Read-only pragmas that only describe the schema; every other pragma is refused, with or without a value.
    static let allowedPragmas: Set<String> = [
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    ]

    /// Functions refused even though the read-only connection could not write with them: file access,
    /// extension loading and tokenizer pointers; and printf/format, whose `%c` with a huge precision loops inside
    /// one call, where the time limit cannot stop it (`printf('%.*c', 2000000000, 'x')` ran for 21 s).
    static let deniedFunctions: Set<String> = [
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile", "sqlar_compress",
        "sqlar_uncompress", "sqlite_dbpage", "shell_add_schema", "shell_escape_crnl", "shell_idquote",
        "shell_module_schema", "shell_putsnl", "printf", "format",
    ]

    /// Nil to allow, or why not.
    static func decide(_ action: Int32, _ first: String?, _ second: String?) -> String? {
        guard let refused = refusal(action, first, second) else { return nil }
        if refused.contains(" is not allowed") { return refused }
        return "\(refused) is not allowed: the database is read-only to this tool, and only single SELECT statements run"
    }

    /// Nil to allow, or what is refused.
    static func refusal(_ action: Int32, _ first: String?, _ second: String?) -> String? {
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_RECURSIVE:
            return nil
        case SQLITE_FUNCTION:
            let name = (second ?? "").lowercased()
            guard deniedFunctions.contains(name) else { return nil }
            if name == "printf" || name == "format" {
                return "\(name)() is not allowed: a %c with a huge precision loops where the time limit cannot stop it"
                    + " (format with round(), || and substr())"
            }
            return "the function \(name)()"
        case SQLITE_PRAGMA:
            let name = (first ?? "").lowercased()
            if allowedPragmas.contains(name) { return nil }
            return "PRAGMA \(name)" + (second.map { " = \($0)" } ?? "")
        case SQLITE_ATTACH: return "ATTACH"
        case SQLITE_DETACH: return "DETACH"
        case SQLITE_INSERT: return "INSERT into \(first ?? "a table")"
        case SQLITE_UPDATE where first == "sqlite_master" || first == "sqlite_schema":
            // pragma_table_info() and the other pragma functions ask for this too.
            return "UPDATE of \(first ?? "sqlite_master") (pragma_…() table functions need it; use PRAGMA table_info(name))"
        case SQLITE_UPDATE: return "UPDATE of \(first ?? "a table")"
        case SQLITE_DELETE: return "DELETE from \(first ?? "a table")"
        case SQLITE_TRANSACTION: return "transaction control (\(first ?? "BEGIN/COMMIT"))"
        case SQLITE_SAVEPOINT: return "SAVEPOINT"
        case SQLITE_ALTER_TABLE: return "ALTER TABLE"
        case SQLITE_REINDEX: return "REINDEX"
        case SQLITE_ANALYZE: return "ANALYZE"
        case SQLITE_CREATE_INDEX, SQLITE_CREATE_TABLE, SQLITE_CREATE_TEMP_INDEX, SQLITE_CREATE_TEMP_TABLE,
             SQLITE_CREATE_TEMP_TRIGGER, SQLITE_CREATE_TEMP_VIEW, SQLITE_CREATE_TRIGGER, SQLITE_CREATE_VIEW,
             SQLITE_CREATE_VTABLE:
            return "CREATE (\(first ?? "a schema object"))"
        case SQLITE_DROP_INDEX, SQLITE_DROP_TABLE, SQLITE_DROP_TEMP_INDEX, SQLITE_DROP_TEMP_TABLE,
             SQLITE_DROP_TEMP_TRIGGER, SQLITE_DROP_TEMP_VIEW, SQLITE_DROP_TRIGGER, SQLITE_DROP_VIEW, SQLITE_DROP_VTABLE:
            return "DROP (\(first ?? "a schema object"))"
        default:
            return "operation \(action)"
        }
    }

    /// Installs the authorizer and the progress handler on `db`; `self` must outlive the connection's use.
    func install(on db: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_set_authorizer(db, { context, action, first, second, _, _ in
            guard let context else { return SQLITE_DENY }
            let guardian = Unmanaged<SQLGuard>.fromOpaque(context).takeUnretainedValue()
            let reason = SQLGuard.decide(action, first.map { String(cString: $0) }, second.map { String(cString: $0) })
            guard let reason else { return SQLITE_OK }
            if guardian.denial == nil { guardian.denial = reason }
            return SQLITE_DENY
        }, context)
        // Called every 1,000 virtual-machine instructions; a non-zero return interrupts the statement.
        sqlite3_progress_handler(db, 1_000, { context in
            guard let context else { return 1 }
            let guardian = Unmanaged<SQLGuard>.fromOpaque(context).takeUnretainedValue()
            if DispatchTime.now().uptimeNanoseconds > guardian.deadline {
                guardian.timedOut = true
                return 1
            }
            return 0
        }, context)
    }
}

/// Scanning SQL text for what SQLite's parser does not report: the first keyword, and whether anything but
/// blanks, comments and semicolons follows the first statement.
enum SQLText {
    /// The offset of the first byte that is not a blank, a semicolon or inside a comment.
    static func skipBlank(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0C || b == 0x0B || b == 0x3B {
                i += 1
            } else if b == 0x2D && i + 1 < bytes.count && bytes[i + 1] == 0x2D {  // -- to the end of the line
                i += 2
                while i < bytes.count && bytes[i] != 0x0A { i += 1 }
            } else if b == 0x2F && i + 1 < bytes.count && bytes[i + 1] == 0x2A {  // /* … */, or to the end
                i += 2
                while i < bytes.count && !(bytes[i] == 0x2A && i + 1 < bytes.count && bytes[i + 1] == 0x2F) { i += 1 }
                i = min(bytes.count, i + 2)
            } else {
                break
            }
        }
        return i
    }

    /// The leading keyword, upper-cased (letters only), from `offset`.
    static func keyword(_ bytes: [UInt8], at offset: Int) -> String {
        var end = offset
        while end < bytes.count, (0x41...0x5A).contains(bytes[end] & 0xDF) { end += 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self).uppercased()
    }
}
