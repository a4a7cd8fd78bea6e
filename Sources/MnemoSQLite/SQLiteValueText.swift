import Foundation

/// How a value reads in a query result: as text for people and prompts, as JSON for programs.
extension SQLiteValue: Encodable, CustomStringConvertible {
    /// Blobs longer than this are shown by their size only.
    static let blobShown = 64

    /// Plain text for people and prompts: `NULL`, `42`, `3.5`, the text itself, `x'0a1b'` or `<blob: N bytes>`.
    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let v): String(v)
        case .real(let v): Self.format(v)
        case .text(let v): v
        case .blob(let v) where v.count <= Self.blobShown: "x'" + v.map { String(format: "%02x", $0) }.joined() + "'"
        case .blob(let v): "<blob: \(v.count) bytes>"
        }
    }

    /// As an SQL literal (text quoted), shortened to `maxLength` characters, for sample rows in a prompt.
    package func literal(maxLength: Int) -> String {
        switch self {
        case .text(let v):
            let short = v.count > maxLength ? String(v.prefix(maxLength)) + "…" : v
            return "'" + short.replacingOccurrences(of: "'", with: "''").replacingOccurrences(of: "\n", with: " ") + "'"
        default:
            return description
        }
    }

    static func format(_ x: Double) -> String {
        guard x.isFinite else { return x > 0 ? "Inf" : x < 0 ? "-Inf" : "NaN" }
        return "\(x)"
    }

    /// JSON: null, a number, a string; a blob as the string `description` gives; ±infinity as "Inf"/"-Inf".
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let v): try container.encode(v)
        case .real(let v) where v.isFinite: try container.encode(v)
        case .real(let v): try container.encode(Self.format(v))
        case .text(let v): try container.encode(v)
        case .blob: try container.encode(description)
        }
    }

    /// Bytes this value holds, for the result-size cap.
    package var byteCount: Int {
        switch self {
        case .text(let v): v.utf8.count + 8
        case .blob(let v): v.count + 8
        default: 8
        }
    }
}
