import CPostgres
import Foundation
import MnemoErrors
import MnemoStore

/// A parameter of a statement: sent as text, except bytes (bytea, sent binary).
enum PGParam {
    case text(String)
    case int(Int64)
    case bytes(Data)
    case null
}

/// One row of a result, copied out of libpq, in PostgreSQL's binary format (every query here asks for it):
/// integers big-endian, text as its UTF-8 bytes, bytea as is.
struct PGRow {
    let values: [Data?]

    func isNull(_ column: Int) -> Bool { values[column] == nil }
    func bytes(_ column: Int) -> Data { values[column] ?? Data() }
    func text(_ column: Int) -> String { String(decoding: bytes(column), as: UTF8.self) }

    /// int2, int4 or int8, by the value's length.
    func int(_ column: Int) -> Int64 {
        let data = bytes(column)
        guard !data.isEmpty else { return 0 }
        var v: Int64 = 0
        for byte in data { v = (v << 8) | Int64(byte) }
        let n = data.count
        return n < 8 ? (v << (64 - 8 * n)) >> (64 - 8 * n) : v  // sign-extend the shorter widths
    }

    func bool(_ column: Int) -> Bool { bytes(column).first == 1 }
}

/// One libpq connection (Debian's libpq5), used by one thread at a time. Errors name the database by its
/// URL without a password.
final class PostgresConnection {
    private var conn: OpaquePointer?
    let url: String
    /// The URL as errors show it.
    let displayURL: String

    /// `connectTimeout`: seconds before an unreachable server is reported.
    init(url: String, connectTimeout: Int = 5, applicationName: String = "mnemo") throws {
        self.url = url
        displayURL = PostgresAddress.redacted(url)
        let keys = ["dbname", "connect_timeout", "application_name"]
        let values = [url, String(connectTimeout), applicationName]
        conn = withCStrings(keys) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let conn { PQfinish(conn) }
            self.conn = nil
            throw Self.connectError(displayURL, message)
        }
        // Notices (e.g. "relation already exists, skipping") are not for the user.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { if let conn { PQfinish(conn) } }

    /// A message that says what is wrong with the connection, in words a user can act on.
    static func connectError(_ displayURL: String, _ libpq: String) -> StoreError {
        let detail = libpq.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: "; ")
        if detail.contains("password authentication failed") || detail.contains("no password supplied")
            || detail.contains("authentication failed") {
            return StoreError(.denied, "\(displayURL): PostgreSQL refused the credentials (\(detail)); give the password in PGPASSWORD, ~/.pgpass or PGPASSFILE")
        }
        if detail.contains("does not exist") {
            return StoreError(.notFound, "\(displayURL): \(detail)")
        }
        return StoreError(.unavailable, "\(displayURL): cannot reach PostgreSQL (\(detail))")
    }

    var isOK: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Runs one statement with `params` ($1, $2, …) and returns its rows (binary format).
    @discardableResult
    func query(_ sql: String, _ params: [PGParam] = []) throws -> [PGRow] {
        guard let conn else { throw StoreError(.unavailable, "\(displayURL): connection closed") }
        let result = try Self.withParams(params) { types, values, lengths, formats in
            PQexecParams(conn, sql, Int32(params.count), types, values, lengths, formats, 1)
        }
        guard let result else { throw failure(sql) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            defer { PQclear(result) }
            throw failure(sql, result: result)
        }
        defer { PQclear(result) }
        let columns = PQnfields(result)
        return (0..<PQntuples(result)).map { row in
            PGRow(values: (0..<columns).map { column -> Data? in
                guard PQgetisnull(result, row, column) == 0 else { return nil }
                let n = Int(PQgetlength(result, row, column))
                guard n > 0, let p = PQgetvalue(result, row, column) else { return Data() }
                return Data(bytes: p, count: n)
            })
        }
    }

    /// Runs statements without parameters (DDL, BEGIN/COMMIT).
    func execute(_ sql: String) throws {
        guard let conn else { throw StoreError(.unavailable, "\(displayURL): connection closed") }
        guard let result = PQexec(conn, sql) else { throw failure(sql) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw failure(sql, result: result) }
    }

    /// Runs `body` in a transaction (rolled back if it throws).
    func transaction<T>(_ mode: String = "", _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(mode)")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if isOK { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// The SQLSTATE of the last failure, e.g. "40001".
    private(set) var lastSQLState: String?

    private func failure(_ sql: String, result: OpaquePointer? = nil) -> StoreError {
        let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
        lastSQLState = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        guard isOK else { return StoreError(.unavailable, "\(displayURL): lost the connection to PostgreSQL (\(message))") }
        let statement = sql.split(separator: "\n").first.map { String($0.prefix(80)) } ?? ""
        return StoreError(.sql, "\(displayURL): PostgreSQL error \(lastSQLState ?? "?") in \"\(statement)\": \(message)")
    }

    // MARK: - LISTEN / NOTIFY

    /// Waits up to `timeout` seconds for notifications on channels this connection LISTENs to; returns their
    /// payloads (empty on timeout).
    func notifications(timeout: TimeInterval) throws -> [String] {
        guard let conn else { throw StoreError(.unavailable, "\(displayURL): connection closed") }
        var payloads = drainNotifications()
        guard payloads.isEmpty else { return payloads }
        var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let ready = poll(&fds, 1, Int32(timeout * 1000))
        if ready > 0 {
            guard PQconsumeInput(conn) == 1 else {
                throw StoreError(.unavailable, "\(displayURL): lost the connection to PostgreSQL (\(String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)))")
            }
            payloads = drainNotifications()
        }
        return payloads
    }

    private func drainNotifications() -> [String] {
        var out: [String] = []
        while let note = PQnotifies(conn) {
            out.append(String(cString: note.pointee.extra))
            PQfreemem(note)
        }
        return out
    }

    // MARK: - C plumbing

    private static func withParams<T>(_ params: [PGParam],
                                      _ body: (UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> T) throws -> T {
        var buffers: [Data?] = []
        var types: [Oid] = []
        var formats: [Int32] = []
        for p in params {
            switch p {
            case .text(let s): buffers.append(Data(s.utf8) + [0]); types.append(25); formats.append(0)
            case .int(let i): buffers.append(Data(String(i).utf8) + [0]); types.append(20); formats.append(0)
            case .bytes(let d): buffers.append(d); types.append(17); formats.append(1)
            case .null: buffers.append(nil); types.append(0); formats.append(0)
            }
        }
        let lengths = buffers.map { Int32($0?.count ?? 0) }
        // Copy each buffer to stable memory for the call.
        let pointers: [UnsafeMutablePointer<CChar>?] = buffers.map { data in
            guard let data else { return nil }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, data.count))
            data.withUnsafeBytes { raw in if let base = raw.baseAddress { p.update(from: base.assumingMemoryBound(to: CChar.self), count: data.count) } }
            return p
        }
        defer { for p in pointers { p?.deallocate() } }
        let constPointers = pointers.map { UnsafePointer($0) }
        return try constPointers.withUnsafeBufferPointer { values in
            try body(types, values.baseAddress, lengths, formats)
        }
    }
}

private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
