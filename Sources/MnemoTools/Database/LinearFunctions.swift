import CSQLite
import Foundation

/// Replacements for built-in SQL functions whose time inside one call grows with the product of their
/// arguments' lengths. SQLite's progress handler runs between virtual-machine steps, so such a call cannot be
/// stopped by the time limit: SQLite 3.40's `trim(x, y)` compares every character of `x` with every character
/// of `y` (190,000 × 16,000 characters took 22 s). These versions take time linear in both lengths.
enum LinearFunctions {
    /// Which ends to trim, passed to the callback as its user-data pointer.
    static let modes: [(name: String, mode: Int)] = [("trim", 3), ("ltrim", 1), ("rtrim", 2)]

    static func install(on db: OpaquePointer) {
        for (name, mode) in modes {
            sqlite3_create_function_v2(db, name, 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, UnsafeMutableRawPointer(bitPattern: mode),
                                       { context, count, arguments in LinearFunctions.trim(context, count, arguments) },
                                       nil, nil, nil)
        }
    }

    /// `trim(x, characters)`: x without any of `characters` at the chosen ends; NULL if either is NULL.
    static func trim(_ context: OpaquePointer?, _ count: Int32, _ arguments: UnsafeMutablePointer<OpaquePointer?>?) {
        guard count == 2, let arguments, let x = arguments[0], let y = arguments[1] else { return }
        if sqlite3_value_type(x) == SQLITE_NULL || sqlite3_value_type(y) == SQLITE_NULL {
            sqlite3_result_null(context)
            return
        }
        let mode = Int(bitPattern: sqlite3_user_data(context))
        let set = Set(text(y).unicodeScalars)
        let scalars = Array(text(x).unicodeScalars)
        var start = 0, end = scalars.count
        if mode & 1 != 0 { while start < end && set.contains(scalars[start]) { start += 1 } }
        if mode & 2 != 0 { while end > start && set.contains(scalars[end - 1]) { end -= 1 } }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        let result = String(view)
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        sqlite3_result_text64(context, result, UInt64(result.utf8.count), transient, UInt8(SQLITE_UTF8))
    }

    static func text(_ value: OpaquePointer) -> String {
        guard let bytes = sqlite3_value_text(value) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_value_bytes(value))), as: UTF8.self)
    }
}
