import Foundation
import MnemoSQLite

/// The rows a query returned, with why they stop short when they do.
public struct QueryResult: Sendable, Equatable, Encodable {
    public let columns: [String]
    public let rows: [[SQLiteValue]]
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
        func cell(_ v: SQLiteValue) -> String {
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
