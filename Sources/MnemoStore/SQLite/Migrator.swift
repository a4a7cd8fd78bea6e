/// Append-only schema migrations, tracked in `PRAGMA user_version`: migration i (0-based) brings the
/// schema from version i to i+1. Never edit a released migration; add a new one.
struct Migrator {
    let migrations: [String]

    /// Applies the missing migrations in one transaction. A database newer than this program is an error.
    func migrate(_ db: SQLiteDatabase) throws {
        let current = Int(try db.query("PRAGMA user_version").first?.first?.int ?? 0)
        guard current <= migrations.count else {
            throw StoreError(.incompatible, "\(db.path): schema version \(current) is newer than this mnemo supports (\(migrations.count)); upgrade mnemo")
        }
        guard current < migrations.count else { return }
        try db.transaction {
            for version in current..<migrations.count {
                try db.execute(migrations[version])
            }
            try db.execute("PRAGMA user_version = \(migrations.count)")
        }
    }
}
