import MnemoSQLite

/// Append-only schema migrations, tracked in `PRAGMA user_version`: migration i (0-based) brings the
/// schema from version i to i+1. Never edit a released migration; add a new one.
struct Migrator {
    let migrations: [String]

    /// Applies the missing migrations in one transaction. The version is read inside the write
    /// transaction, so two processes opening a new store cannot both apply the same migration.
    func migrate(_ db: SQLiteDatabase) throws {
        try db.transaction {
            let current = try version(db)
            for version in current..<migrations.count {
                try db.execute(migrations[version])
            }
            if current < migrations.count { try db.execute("PRAGMA user_version = \(migrations.count)") }
        }
    }

    /// Readers never change the schema: they need at least `minimum`; returns the version found, so
    /// that a reader of an older store can go without what later migrations added.
    func requireReadable(_ db: SQLiteDatabase, minimum: Int) throws -> Int {
        let current = try version(db)
        guard current >= minimum else {
            throw StoreError(.incompatible, "\(db.path): schema version \(current), this mnemo reads \(minimum) or later; open it once for writing (e.g. `mnemo index`) to migrate")
        }
        return current
    }

    /// The schema version; a database newer than this program is an error.
    func version(_ db: SQLiteDatabase) throws -> Int {
        let current = Int(try db.query("PRAGMA user_version").first?.first?.int ?? 0)
        guard current <= migrations.count else {
            throw StoreError(.incompatible, "\(db.path): schema version \(current) is newer than this mnemo supports (\(migrations.count)); upgrade mnemo")
        }
        return current
    }
}
