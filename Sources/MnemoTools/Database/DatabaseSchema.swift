import Foundation
import MnemoSQLite

/// What an LLM needs to know to write a query: tables and views, their columns, foreign keys, row counts and a
/// few sample rows. Read through the same guarded path as any query.
public struct DatabaseSchema: Sendable, Equatable, Encodable {
    public struct Column: Sendable, Equatable, Encodable {
        public let name: String
        public let type: String
        public let primaryKey: Bool
        public let notNull: Bool

        enum CodingKeys: String, CodingKey {
            case name, type
            case primaryKey = "primary_key", notNull = "not_null"
        }
    }

    public struct ForeignKey: Sendable, Equatable, Encodable {
        public let column: String
        public let table: String
        public let toColumn: String?

        enum CodingKeys: String, CodingKey {
            case column, table
            case toColumn = "to_column"
        }
    }

    public struct Table: Sendable, Equatable, Encodable {
        public let name: String
        /// "table" or "view".
        public let kind: String
        public let columns: [Column]
        public let foreignKeys: [ForeignKey]
        /// Nil for views, and when counting ran past the time limit.
        public let rowCount: Int?
        public let sampleRows: [[SQLiteValue]]

        enum CodingKeys: String, CodingKey {
            case name, kind, columns
            case foreignKeys = "foreign_keys", rowCount = "row_count", sampleRows = "sample_rows"
        }
    }

    /// The database file's name.
    public let database: String
    public let tables: [Table]

    /// Compact text for an LLM prompt: one line per table with its columns, then its foreign keys and
    /// sample rows (text values shortened to `maxValueLength` characters).
    public func promptText(maxValueLength: Int = 40) -> String {
        var lines = ["SQLite database \(database) (read-only; SQLite SQL dialect). \(tables.count) table(s) and view(s):"]
        for table in tables {
            let keys = table.columns.filter(\.primaryKey).map(\.name)
            var columns = table.columns.map { c in
                [c.name, c.type.isEmpty ? nil : c.type, c.primaryKey && keys.count == 1 ? "PRIMARY KEY" : nil,
                 c.notNull && !c.primaryKey ? "NOT NULL" : nil].compactMap { $0 }.joined(separator: " ")
            }.joined(separator: ", ")
            if keys.count > 1 { columns += ", PRIMARY KEY (\(keys.joined(separator: ", ")))" }
            let size = table.kind == "view" ? "view" : table.rowCount.map { "\($0) row\($0 == 1 ? "" : "s")" } ?? "rows not counted"
            lines.append("\(table.name) (\(size)): \(columns)")
            if !table.foreignKeys.isEmpty {
                lines.append("  foreign keys: " + table.foreignKeys.map {
                    "\($0.column) → \($0.table)" + ($0.toColumn.map { ".\($0)" } ?? "")
                }.joined(separator: ", "))
            }
            if !table.sampleRows.isEmpty {
                let rows = table.sampleRows.map { "(" + $0.map { $0.literal(maxLength: maxValueLength) }.joined(separator: ", ") + ")" }
                lines.append("  sample rows: " + rows.joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension ReadOnlyDatabase {
    /// The schema of every table and view (SQLite's internal tables left out), with `sampleRows` rows each.
    public func schema(sampleRows: Int = 3) throws -> DatabaseSchema {
        let objects = try query("""
            SELECT name, type FROM sqlite_schema
            WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name
            """, maxRows: 10_000)
        var tables: [DatabaseSchema.Table] = []
        for row in objects.rows {
            guard case .text(let name) = row[0], case .text(let kind) = row[1] else { continue }
            let quoted = Self.quoteIdentifier(name)
            let info = try query("PRAGMA table_info(\(quoted))", maxRows: 10_000)
            let columns = info.rows.compactMap { r -> DatabaseSchema.Column? in
                guard r.count >= 6, case .text(let column) = r[1] else { return nil }
                let type: String = if case .text(let t) = r[2] { t } else { "" }
                return DatabaseSchema.Column(name: column, type: type, primaryKey: r[5] != .integer(0), notNull: r[3] == .integer(1))
            }
            let keys = kind == "table" ? try query("PRAGMA foreign_key_list(\(quoted))", maxRows: 1_000).rows : []
            let foreignKeys = keys.compactMap { r -> DatabaseSchema.ForeignKey? in
                guard r.count >= 5, case .text(let target) = r[2], case .text(let from) = r[3] else { return nil }
                let to: String? = if case .text(let t) = r[4] { t } else { nil }
                return DatabaseSchema.ForeignKey(column: from, table: target, toColumn: to)
            }
            var count: Int?
            if kind == "table", let counted = try? query("SELECT count(*) FROM \(quoted)", maxRows: 1),
               case .integer(let n)? = counted.rows.first?.first {
                count = Int(n)
            }
            let samples = sampleRows > 0 ? (try? query("SELECT * FROM \(quoted) LIMIT \(sampleRows)", maxRows: sampleRows))?.rows ?? [] : []
            tables.append(DatabaseSchema.Table(name: name, kind: kind, columns: columns, foreignKeys: foreignKeys,
                                               rowCount: count, sampleRows: samples))
        }
        return DatabaseSchema(database: URL(fileURLWithPath: path).lastPathComponent, tables: tables)
    }

    /// `"name"` with inner quotes doubled.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
