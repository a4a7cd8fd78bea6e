import Foundation

/// One value of a query result.
public enum SQLValue: Sendable, Equatable, Encodable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

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
    func literal(maxLength: Int) -> String {
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
    var byteCount: Int {
        switch self {
        case .text(let v): v.utf8.count + 8
        case .blob(let v): v.count + 8
        default: 8
        }
    }
}

/// The rows a query returned, with why they stop short when they do.
public struct QueryResult: Sendable, Equatable, Encodable {
    public let columns: [String]
    public let rows: [[SQLValue]]
    /// Whether more rows existed than were kept (the row cap or the result-size cap).
    public let truncated: Bool
    /// Why the rows stop short, when `truncated`.
    public let truncation: String?
    public let elapsedMs: Double

    enum CodingKeys: String, CodingKey {
        case columns, rows, truncated, truncation
        case elapsedMs = "elapsed_ms"
    }

    /// A plain text table for people and for the LLM: a header line, one line per row (values shortened to
    /// `maxWidth` characters), then a count.
    public func table(maxWidth: Int = 60) -> String {
        func cell(_ v: SQLValue) -> String {
            let text = v.description.replacingOccurrences(of: "\n", with: " ")
            return text.count > maxWidth ? String(text.prefix(maxWidth - 1)) + "…" : text
        }
        let cells = rows.map { $0.map(cell) }
        var widths = columns.map(\.count)
        for row in cells { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ values: [String]) -> String {
            values.enumerated().map { i, v in
                i == values.count - 1 ? v : v + String(repeating: " ", count: max(0, widths[i] - v.count))
            }.joined(separator: " | ")
        }
        var out = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")]
        out += cells.map(line)
        var footer = "(\(rows.count) row\(rows.count == 1 ? "" : "s")"
        if truncated, let truncation { footer += "; truncated: \(truncation)" }
        out.append(footer + ")")
        return out.joined(separator: "\n")
    }
}
