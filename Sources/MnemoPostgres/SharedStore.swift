import Foundation
import MnemoStore
import Synchronization

/// How this node stands with the shared record, for `/health` and `mnemo stats`.
public struct SharedStoreHealth: Sendable, Codable, Equatable {
    /// The database, without its password.
    public var store: String
    public var replica: String
    /// The last change this node's replica holds, and the newest the primary had when last asked.
    public var appliedSeq: Int64
    public var headSeq: Int64
    public var primaryReachable: Bool
    /// True when the primary has been away since `staleSince`: searches still answer, from the replica.
    public var stale: Bool
    public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case store, replica, stale
        case appliedSeq = "applied_seq", headSeq = "head_seq", primaryReachable = "primary_reachable", lastError = "last_error"
    }
}

/// A shared record in PostgreSQL (the storage seam's second implementation, beside the embedded
/// `MemoryStore`): the database holds every document, chunk and vector and an ordered change log; this
/// node's replica, an ordinary store directory, follows the log, and searches read the replica only.
///
/// - Writes: one transaction per document opens by bumping `mnemo_log_head` (which serialises writers and
///   makes sequence numbers gap-free in commit order), replaces the document and appends to the log; the
///   NOTIFY it sends wakes every node at commit. A node killed mid-write leaves nothing: PostgreSQL rolls
///   the transaction back.
/// - Replicas: `catchUp` reads the log after the replica's position and each logged source's state in one
///   REPEATABLE READ snapshot (from a streaming standby when `readURL` is given and it has caught up,
///   else the primary), and applies them in one SQLite transaction with the new position. A new or
///   foreign replica is first filled from a consistent snapshot.
/// - Only one process keeps a replica directory (its write lock). Another process on the same directory
///   (a `mnemo query` beside `mnemo serve`) writes to PostgreSQL as usual and reads the replica the first
///   keeps up to date.
public final class SharedStore: MemoryRecord, @unchecked Sendable {
    public let url: String
    public let readURL: String?
    public let address: String
    public let directory: String
    public let manifest: StoreManifest
    public var isShared: Bool { true }
    /// The record's random id (`mnemo_manifest.store_id`).
    public let storeID: Int64

    private let writers: ConnectionPool
    /// The replica's writer, when this process keeps the directory; touched under `replicaLock`.
    private let replica: MemoryStore?
    private let replicaLock = NSLock()
    private var logPrimary: PostgresConnection?
    private var logStandby: PostgresConnection?
    /// The follower's view, shared between threads.
    private struct State {
        var applied: Int64 = 0
        var head: Int64 = 0
        var primaryReachable = true
        var lastError: String?
    }
    private let state = Mutex(State())
    private var follower: Thread?
    private let stopFollowing = Mutex(false)
    /// Without the replica's lock: a read connection on the directory another process keeps, for its position
    /// (opened on first use, under `replicaLock`).
    private var positionReader: MemoryStore?

    /// Connects, migrates the database if needed (once, under an advisory lock), checks or writes its
    /// manifest, opens the replica (`replicaDirectory`) and brings it up to date.
    /// `encoder` nil adopts the database's manifest (commands that embed nothing); a database without one is
    /// then an error. With `startStale`, a primary that cannot be reached is not an error when the directory
    /// already holds a replica: the store starts from it, stale, and checks the database once it answers
    /// (a server that restarts during an outage keeps serving searches).
    public init(url: String, readURL: String? = nil, replicaDirectory: String, encoder: String?, dimension: Int?,
                connectTimeout: Int = 5, startStale: Bool = false) throws {
        try PostgresAddress.validate(url)
        if let readURL { try PostgresAddress.validate(readURL) }
        self.url = url
        self.readURL = readURL
        address = PostgresAddress.redacted(url)
        directory = replicaDirectory
        writers = ConnectionPool(url: url, connectTimeout: connectTimeout)
        var staleStart: (seq: Int64, error: String)?
        do {
            (storeID, manifest) = try writers.borrow { c in
                try Self.migrate(c)
                return try Self.checkManifest(c, address: PostgresAddress.redacted(url), encoder: encoder, dimension: dimension)
            }
        } catch let error as StoreError where error.code == .unavailable && startStale {
            guard let kept = try? Self.keptReplica(in: replicaDirectory), encoder == nil || (kept.manifest.encoder == encoder && kept.manifest.dimension == dimension) else {
                throw error
            }
            (storeID, manifest) = (kept.origin, kept.manifest)
            staleStart = (kept.seq, error.message)
        }
        do {
            replica = try MemoryStore(directory: replicaDirectory, encoder: manifest.encoder, dimension: manifest.dimension,
                                      access: .write(createWith: manifest.index), lockTimeout: 0.2)
        } catch let error as StoreError where error.code == .locked {
            replica = nil  // another mnemo process keeps this directory and follows the log
        }
        if replica == nil, !FileManager.default.fileExists(atPath: (replicaDirectory as NSString).appendingPathComponent("manifest.json")) {
            throw StoreError(.locked, "\(replicaDirectory): another mnemo process is creating this replica; try again in a moment")
        }
        if let staleStart {
            verified = false
            state.withLock { $0.primaryReachable = false; $0.lastError = staleStart.error; $0.applied = staleStart.seq }
        } else {
            _ = try catchUp()
        }
    }

    /// A replica directory's record id, position and manifest (for a stale start).
    private static func keptReplica(in directory: String) throws -> (origin: Int64, seq: Int64, manifest: StoreManifest)? {
        let manifest = try MemoryStore.manifest(in: directory)
        let store = try MemoryStore(directory: directory, encoder: manifest.encoder, dimension: manifest.dimension, access: .read)
        guard let position = try store.replicaPosition(), position.seq >= 0 else { return nil }
        return (position.origin, position.seq, manifest)
    }

    /// False after a stale start, until the database has been migrated and its manifest checked against the
    /// replica's record id. Guarded by `verifyLock`.
    private var verified = true
    private let verifyLock = NSLock()

    /// Before the first write or catch-up after a stale start: the database must be the record the replica follows.
    private func ensureVerified() throws {
        try verifyLock.withLock {
            guard !verified else { return }
            let (id, _) = try writers.borrow { c in
                try Self.migrate(c)
                return try Self.checkManifest(c, address: address, encoder: manifest.encoder, dimension: manifest.dimension)
            }
            guard id == storeID else {
                throw StoreError(.incompatible, "\(address): this database holds another Mnemo store than the one \(directory) replicates; give --replica another directory")
            }
            verified = true
        }
    }

    deinit {
        stopFollowing.withLock { $0 = true }
        replicaLock.withLock { try? replica?.flush() }
    }

    // MARK: - Migrations and the manifest

    static func migrate(_ c: PostgresConnection) throws {
        try c.query("SELECT pg_advisory_lock($1)", [.int(PostgresSchema.migrationLock)])
        defer { _ = try? c.query("SELECT pg_advisory_unlock($1)", [.int(PostgresSchema.migrationLock)]) }
        try c.execute("CREATE TABLE IF NOT EXISTS mnemo_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        let applied = try c.query("SELECT coalesce(max(version), 0)::int8 FROM mnemo_migrations").first?.int(0) ?? 0
        guard applied <= Int64(PostgresSchema.migrations.count) else {
            throw StoreError(.incompatible, "\(c.displayURL): the database's Mnemo schema (\(applied)) is newer than this mnemo's (\(PostgresSchema.migrations.count)); upgrade mnemo")
        }
        for (i, sql) in PostgresSchema.migrations.enumerated() where Int64(i + 1) > applied {
            try c.transaction {
                try c.execute(sql)
                try c.query("INSERT INTO mnemo_migrations (version) VALUES ($1)", [.int(Int64(i + 1))])
            }
        }
    }

    static func checkManifest(_ c: PostgresConnection, address: String, encoder: String?, dimension: Int?) throws -> (Int64, StoreManifest) {
        if let encoder, let dimension {
            // The first node writes the manifest; ON CONFLICT makes a second node at the same moment read the first's.
            try c.query("""
                INSERT INTO mnemo_manifest (encoder, dimension, store_id) VALUES ($1, $2, (random() * 9e18)::int8) ON CONFLICT (singleton) DO NOTHING
                """, [.text(encoder), .int(Int64(dimension))])
        }
        guard let row = try c.query("SELECT encoder, dimension::int8, store_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM mnemo_manifest").first else {
            throw StoreError(.notFound, "\(address): no Mnemo store in this database yet (create one with `mnemo index PATH --store \(address)`)")
        }
        let encoder = encoder ?? row.text(0), dimension = dimension ?? Int(row.int(1))
        guard row.text(0) == encoder, row.int(1) == Int64(dimension) else {
            throw StoreError(.incompatible, "\(address): store was made with encoder \(row.text(0)) (\(row.int(1)) dimensions); this command uses \(encoder) (\(dimension)). Use a matching --encoder, or another database")
        }
        var manifest = StoreManifest(encoder: encoder, dimension: dimension, index: .flat)
        manifest.createdAt = row.text(3)
        return (row.int(2), manifest)
    }

    // MARK: - Reading the record (lookups before a write)

    public func document(source: String, namespace: String) throws -> (id: Int64, contentHash: String)? {
        try writers.borrow { c in
            try c.query("SELECT id, content_hash FROM mnemo_documents WHERE namespace = $1 AND source = $2", [.text(namespace), .text(source)])
                .first.map { ($0.int(0), $0.text(1)) }
        }
    }

    public func chunkIDs(ofDocument id: Int64) throws -> [Int64] {
        try writers.borrow { c in
            try c.query("SELECT id FROM mnemo_chunks WHERE document_id = $1 ORDER BY ordinal", [.int(id)]).map { $0.int(0) }
        }
    }

    public func duplicate(ofContentHash hash: String, namespace: String, except source: String) throws -> String? {
        try writers.borrow { c in
            try c.query("SELECT source FROM mnemo_documents WHERE namespace = $1 AND content_hash = $2 AND source <> $3 LIMIT 1",
                        [.text(namespace), .text(hash), .text(source)]).first?.text(0)
        }
    }

    public func embedding(forContentHash hash: String) throws -> [Float]? {
        try writers.borrow { c in
            try c.query("SELECT embedding FROM mnemo_chunks WHERE content_hash = $1 LIMIT 1", [.text(hash)]).first.map { try vector($0.bytes(0)) }
        }
    }

    public func sentenceEmbedding(forContentHash hash: String) throws -> [Float]? {
        let stored = try writers.borrow { c in
            try c.query("SELECT embedding FROM mnemo_sentences WHERE content_hash = $1 LIMIT 1", [.text(hash)]).first.map { try vector($0.bytes(0)) }
        }
        return try stored ?? embedding(forContentHash: hash)
    }

    private func vector(_ data: Data) throws -> [Float] {
        guard data.count == manifest.dimension * 4 else {
            throw StoreError(.corrupt, "\(address): a stored vector has \(data.count) bytes, expected \(manifest.dimension * 4)")
        }
        return data.withUnsafeBytes { raw in (0..<manifest.dimension).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    // MARK: - Writing

    private static let indexedAt = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

    public func write(_ document: NewDocument) throws -> WriteReceipt {
        try document.validate(dimension: manifest.dimension)
        try ensureVerified()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json(_ m: [String: String]) throws -> String { String(decoding: try encoder.encode(m), as: UTF8.self) }
        let receipt = try writers.borrow { c in
            try c.transaction { () -> WriteReceipt in
                let seq = try Self.nextSeq(c)
                try c.query("DELETE FROM mnemo_documents WHERE namespace = $1 AND source = $2", [.text(document.namespace), .text(document.source)])
                guard let documentID = try c.query("""
                    INSERT INTO mnemo_documents (namespace, source, format, content_hash, bytes, metadata, indexed_at)
                    VALUES ($1, $2, $3, $4, $5, $6, \(Self.indexedAt)) RETURNING id
                    """, [.text(document.namespace), .text(document.source), .text(document.format), .text(document.contentHash),
                          .int(Int64(document.bytes)), .text(try json(document.metadata))]).first?.int(0) else {
                    throw StoreError(.sql, "\(address): INSERT INTO mnemo_documents returned no id")
                }
                var ids: [Int64] = []
                for (ordinal, chunk) in document.chunks.enumerated() {
                    let id = try c.query("""
                        INSERT INTO mnemo_chunks (document_id, namespace, ordinal, text, start_byte, end_byte, metadata, content_hash, embedding)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
                        """, [.int(documentID), .text(document.namespace), .int(Int64(ordinal)), .text(chunk.text),
                              .int(Int64(chunk.byteRange.lowerBound)), .int(Int64(chunk.byteRange.upperBound)),
                              .text(try json(chunk.metadata)), .text(chunk.contentHash), .bytes(Self.bytes(chunk.embedding))]).first?.int(0) ?? 0
                    ids.append(id)
                    for (i, s) in chunk.sentences.enumerated() {
                        try c.query("""
                            INSERT INTO mnemo_sentences (chunk_id, ordinal, start_byte, end_byte, content_hash, embedding) VALUES ($1, $2, $3, $4, $5, $6)
                            """, [.int(id), .int(Int64(i)), .int(Int64(s.byteRange.lowerBound)), .int(Int64(s.byteRange.upperBound)),
                                  .text(s.contentHash), .bytes(Self.bytes(s.embedding))])
                    }
                }
                try Self.log(c, seq: seq, sources: [(document.namespace, document.source)])
                return WriteReceipt(chunkIDs: ids, seq: seq)
            }
        }
        caughtUpAfterWrite(receipt.seq)
        return receipt
    }

    public func remove(source: String, namespace: String?) throws -> WriteReceipt {
        try ensureVerified()
        let receipt = try writers.borrow { c in
            try c.transaction { () -> WriteReceipt in
                let scope = namespace == nil ? "" : " AND d.namespace = $2"
                let params: [PGParam] = [.text(source)] + (namespace.map { [.text($0)] } ?? [])
                let docs = try c.query("""
                    SELECT d.namespace, (SELECT count(*) FROM mnemo_chunks ch WHERE ch.document_id = d.id) FROM mnemo_documents d
                    WHERE d.source = $1\(scope) FOR UPDATE
                    """, params)
                guard !docs.isEmpty else { return WriteReceipt() }
                let seq = try Self.nextSeq(c)
                try c.query("DELETE FROM mnemo_documents d WHERE d.source = $1\(scope)", params)
                try Self.log(c, seq: seq, sources: docs.map { ($0.text(0), source) })
                return WriteReceipt(removed: Int(docs.reduce(0) { $0 + $1.int(1) }), seq: seq)
            }
        }
        caughtUpAfterWrite(receipt.seq)
        return receipt
    }

    public func remove(chunkID: Int64) throws -> WriteReceipt {
        try ensureVerified()
        let receipt = try writers.borrow { c in
            try c.transaction { () -> WriteReceipt in
                guard let row = try c.query("""
                    SELECT d.namespace, d.source FROM mnemo_chunks ch JOIN mnemo_documents d ON d.id = ch.document_id WHERE ch.id = $1 FOR UPDATE
                    """, [.int(chunkID)]).first else { return WriteReceipt() }
                let seq = try Self.nextSeq(c)
                try c.query("DELETE FROM mnemo_chunks WHERE id = $1", [.int(chunkID)])
                try Self.log(c, seq: seq, sources: [(row.text(0), row.text(1))])
                return WriteReceipt(removed: 1, seq: seq)
            }
        }
        caughtUpAfterWrite(receipt.seq)
        return receipt
    }

    /// The writing transaction's sequence number; the row lock it takes is held to COMMIT, so the next writer
    /// waits and numbers follow commit order without gaps (a rolled-back transaction's number is reused).
    private static func nextSeq(_ c: PostgresConnection) throws -> Int64 {
        guard let seq = try c.query("UPDATE mnemo_log_head SET seq = seq + 1 RETURNING seq").first?.int(0) else {
            throw StoreError(.corrupt, "\(c.displayURL): mnemo_log_head is empty")
        }
        return seq
    }

    private static func log(_ c: PostgresConnection, seq: Int64, sources: [(namespace: String, source: String)]) throws {
        var logged = Set<[String]>()
        for (namespace, source) in sources where logged.insert([namespace, source]).inserted {
            try c.query("INSERT INTO mnemo_log (seq, namespace, source) VALUES ($1, $2, $3)", [.int(seq), .text(namespace), .text(source)])
        }
        // Delivered to every LISTENing node when (and only if) the transaction commits.
        try c.query("SELECT pg_notify('mnemo_log', $1)", [.text(String(seq))])
    }

    private static func bytes(_ vector: [Float]) -> Data { vector.withUnsafeBufferPointer { Data(buffer: $0) } }

    /// A session advisory lock on a connection of its own, held while `body` embeds and writes.
    public func withSourceLock<T>(source: String, namespace: String, _ body: () throws -> T) throws -> T {
        let key = "\(namespace)\u{1f}\(source)"
        return try writers.borrow { c in
            try c.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [.text(key)])
            defer { _ = try? c.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [.text(key)]) }
            return try writers.reserving(c) { try body() }
        }
    }

    /// After a write, this node's replica takes it at once (a read here right after sees it); if that fails
    /// the follower applies it later.
    private func caughtUpAfterWrite(_ seq: Int64) {
        guard seq > 0, replica != nil else { return }
        _ = try? catchUp(to: seq)
    }

    public func flush() throws {
        try replicaLock.withLock { try replica?.flush() }
    }

    /// Rebuilds this node's FAISS index of the replica (`mnemo rebuild`); `kind` changes its index kind.
    public func rebuildReplica(kind: IndexKind?) throws {
        guard let replica else {
            throw StoreError(.locked, "\(directory): another mnemo process keeps this replica; rebuild it there, or stop that process first")
        }
        try replicaLock.withLock { try replica.rebuild(kind: kind) }
    }

    // MARK: - Following the log

    public var appliedSeq: Int64 { state.withLock { $0.applied } }

    public var health: SharedStoreHealth {
        state.withLock { s in
            SharedStoreHealth(store: address, replica: directory, appliedSeq: s.applied, headSeq: max(s.head, s.applied),
                              primaryReachable: s.primaryReachable, stale: !s.primaryReachable, lastError: s.lastError)
        }
    }

    /// Applies the log to the replica up to the newest change (or at least `target`); returns the position
    /// reached. Without the replica's lock (another process keeps it), reads that process's position.
    @discardableResult
    public func catchUp(to target: Int64? = nil) throws -> Int64 {
        guard let replica else {
            let position = try replicaLock.withLock { try positionOfKeptReplica() }
            state.withLock { $0.applied = position }
            return position
        }
        return try replicaLock.withLock {
            do {
                try ensureVerified()
                let reached = try applyLog(to: replica, target: target)
                state.withLock { $0.primaryReachable = true; $0.lastError = nil }
                return reached
            } catch let error as StoreError where error.code == .unavailable {
                state.withLock { $0.primaryReachable = false; $0.lastError = error.message }
                throw error
            }
        }
    }

    /// The position the replica directory another process keeps has reached (0 before its first change).
    /// Under `replicaLock`.
    private func positionOfKeptReplica() throws -> Int64 {
        let reader = try positionReader ?? MemoryStore(directory: directory, encoder: manifest.encoder, dimension: manifest.dimension, access: .read)
        positionReader = reader
        guard let position = try reader.replicaPosition() else {
            if try reader.chunkCount() > 0 {
                throw StoreError(.incompatible, "\(directory): holds an embedded store's documents, not a replica; give --replica an empty directory or an earlier replica")
            }
            return 0
        }
        guard position.origin == storeID else {
            throw StoreError(.incompatible, "\(directory): a replica of another shared store, kept by another mnemo process; give --replica another directory")
        }
        return max(0, position.seq)
    }

    /// Under `replicaLock`.
    private func applyLog(to replica: MemoryStore, target: Int64?) throws -> Int64 {
        let head = try headSeq(target: target)
        let position = try replica.replicaPosition()
        if position == nil || position?.origin != storeID || (position?.seq ?? 0) < 0 || (position?.seq ?? 0) > head {
            try snapshot(into: replica)
        }
        var applied = max(0, try replica.replicaPosition()?.seq ?? 0)
        while applied < head {
            let source = try logSource(reaching: head)
            let next = try source.transaction("ISOLATION LEVEL REPEATABLE READ READ ONLY") { try readBatch(source, after: applied) }
            guard !next.seqs.isEmpty else { break }
            try replica.applyReplicated(next.changes, origin: storeID, through: next.seqs.last!)
            applied = next.seqs.last!
            state.withLock { $0.applied = applied }
        }
        state.withLock { $0.applied = applied; $0.head = max($0.head, head) }
        return applied
    }

    /// The primary's newest change (at least `target`): the position catch-up aims at.
    private func headSeq(target: Int64?) throws -> Int64 {
        let primary = try logConnection(primary: true)
        do {
            let head = try primary.query("SELECT seq FROM mnemo_log_head").first?.int(0) ?? 0
            state.withLock { $0.head = head }
            return max(head, target ?? 0)
        } catch {
            logPrimary = nil
            throw error
        }
    }

    /// The standby when one is configured and has replayed `head`, else the primary (the standby lags).
    private func logSource(reaching head: Int64) throws -> PostgresConnection {
        if readURL != nil, let standby = try? logConnection(primary: false) {
            // A streaming standby replays within milliseconds; give it a moment before reading the primary.
            for attempt in 0..<5 {
                if let seq = try? standby.query("SELECT seq FROM mnemo_log_head").first?.int(0), seq >= head { return standby }
                if !standby.isOK { logStandby = nil; break }
                if attempt < 4 { usleep(20_000) }
            }
        }
        return try logConnection(primary: true)
    }

    private func logConnection(primary: Bool) throws -> PostgresConnection {
        if primary {
            if let c = logPrimary, c.isOK { return c }
            logPrimary = try PostgresConnection(url: url, connectTimeout: 3, applicationName: "mnemo-replica")
            return logPrimary!
        }
        if let c = logStandby, c.isOK { return c }
        logStandby = try PostgresConnection(url: readURL ?? url, connectTimeout: 3, applicationName: "mnemo-replica")
        return logStandby!
    }

    private static let documentColumns = "d.id, d.namespace, d.source, d.format, d.content_hash, d.bytes, d.metadata, d.indexed_at"

    /// Up to 200 changes after `applied` and the state of every source they touched, in one snapshot.
    private func readBatch(_ c: PostgresConnection, after applied: Int64) throws -> (seqs: [Int64], changes: [ReplicaChange]) {
        let seqs = try c.query("SELECT DISTINCT seq FROM mnemo_log WHERE seq > $1 ORDER BY seq LIMIT 200", [.int(applied)]).map { $0.int(0) }
        guard let last = seqs.last else { return ([], []) }
        for (i, seq) in seqs.enumerated() where seq != applied + 1 + Int64(i) {
            throw StoreError(.corrupt, "\(address): the change log has a gap after change \(applied + Int64(i)) (next is \(seq)); the replica in \(directory) stays at \(applied + Int64(i))")
        }
        let sources = try c.query("SELECT DISTINCT namespace, source FROM mnemo_log WHERE seq > $1 AND seq <= $2", [.int(applied), .int(last)])
        let documents = try readDocuments(c, where: """
            (d.namespace, d.source) IN (SELECT namespace, source FROM mnemo_log WHERE seq > $1 AND seq <= $2)
            """, [.int(applied), .int(last)])
        let byKey = Dictionary(documents.map { ("\($0.namespace)\u{1f}\($0.source)", $0) }) { a, _ in a }
        return (seqs, sources.map { row in
            ReplicaChange(namespace: row.text(0), source: row.text(1), document: byKey["\(row.text(0))\u{1f}\(row.text(1))"])
        })
    }

    /// Documents matching `condition` (on `d`), with their chunks and sentences, in id order.
    private func readDocuments(_ c: PostgresConnection, where condition: String, _ params: [PGParam]) throws -> [ReplicaDocument] {
        let docRows = try c.query("SELECT \(Self.documentColumns) FROM mnemo_documents d WHERE \(condition) ORDER BY d.id", params)
        guard !docRows.isEmpty else { return [] }
        var sentences: [Int64: [ReplicaSentence]] = [:]
        for row in try c.query("""
            SELECT s.chunk_id, s.ordinal, s.start_byte, s.end_byte, s.content_hash, s.embedding FROM mnemo_sentences s
            JOIN mnemo_chunks ch ON ch.id = s.chunk_id JOIN mnemo_documents d ON d.id = ch.document_id WHERE \(condition) ORDER BY s.chunk_id, s.ordinal
            """, params) {
            sentences[row.int(0), default: []].append(ReplicaSentence(ordinal: Int(row.int(1)), startByte: Int(row.int(2)), endByte: Int(row.int(3)),
                                                                      contentHash: row.text(4), embedding: row.bytes(5)))
        }
        var chunks: [Int64: [ReplicaChunk]] = [:]
        for row in try c.query("""
            SELECT ch.id, ch.document_id, ch.ordinal, ch.text, ch.start_byte, ch.end_byte, ch.metadata, ch.content_hash, ch.embedding
            FROM mnemo_chunks ch JOIN mnemo_documents d ON d.id = ch.document_id WHERE \(condition) ORDER BY ch.document_id, ch.ordinal
            """, params) {
            let id = row.int(0)
            chunks[row.int(1), default: []].append(ReplicaChunk(
                id: id, ordinal: Int(row.int(2)), text: row.text(3), startByte: Int(row.int(4)), endByte: Int(row.int(5)),
                metadata: row.text(6), contentHash: row.text(7), embedding: row.bytes(8), sentences: sentences[id] ?? []))
        }
        return docRows.map { row in
            ReplicaDocument(id: row.int(0), namespace: row.text(1), source: row.text(2), format: row.text(3), contentHash: row.text(4),
                            bytes: Int(row.int(5)), metadata: row.text(6), indexedAt: row.text(7), chunks: chunks[row.int(0)] ?? [])
        }
    }

    /// Fills an empty (or foreign) replica from one consistent snapshot, 200 documents at a time.
    private func snapshot(into replica: MemoryStore) throws {
        try replica.startSnapshot(origin: storeID)
        let c = try logSource(reaching: 0)
        try c.transaction("ISOLATION LEVEL REPEATABLE READ READ ONLY") {
            let head = try c.query("SELECT seq FROM mnemo_log_head").first?.int(0) ?? 0
            var after: Int64 = 0
            while true {
                let page = try readDocuments(c, where: "d.id IN (SELECT id FROM mnemo_documents WHERE id > $1 ORDER BY id LIMIT 200)", [.int(after)])
                guard let last = page.last else { break }
                try replica.applyReplicated(page.map { ReplicaChange(namespace: $0.namespace, source: $0.source, document: $0) },
                                            origin: storeID, through: nil)
                after = last.id
            }
            try replica.applyReplicated([], origin: storeID, through: head)
        }
        try replica.flush()
    }

    /// Starts a thread that LISTENs on the primary and applies each change as it commits (and every
    /// `interval` seconds anyway, in case a notification was missed while reconnecting), saving the replica's
    /// FAISS file every few seconds. Errors go to `report` and the thread retries.
    public func startFollowing(interval: TimeInterval = 2, report: @escaping @Sendable (String) -> Void = { _ in }) {
        guard follower == nil else { return }
        let thread = Thread { [weak self] in
            var listener: PostgresConnection?
            var lastFlush = Date()
            var lastReport = ""
            while let self, !self.stopFollowing.withLock({ $0 }) {
                do {
                    if listener == nil || !(listener?.isOK ?? false) {
                        let c = try PostgresConnection(url: self.url, connectTimeout: 3, applicationName: "mnemo-follower")
                        try c.execute("LISTEN mnemo_log")
                        listener = c
                        try self.catchUp()  // what committed while nobody listened
                    }
                    let notes = try listener!.notifications(timeout: interval)
                    try self.catchUp(to: notes.compactMap { Int64($0) }.max())
                    if Date().timeIntervalSince(lastFlush) > 5 { try self.flush(); lastFlush = Date() }
                    lastReport = ""
                } catch {
                    listener = nil
                    self.state.withLock { $0.primaryReachable = false; $0.lastError = "\(error)" }
                    let message = "\(error)"
                    if message != lastReport { report(message); lastReport = message }
                    Thread.sleep(forTimeInterval: min(interval, 1))
                }
            }
        }
        thread.name = "mnemo-follower"
        follower = thread
        thread.start()
    }

    public func waitUntilApplied(_ seq: Int64, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if appliedSeq >= seq { return }
            let reached = (try? catchUp(to: seq)) ?? appliedSeq
            if reached >= seq { return }
            guard Date() < deadline else {
                throw StoreError(.behind, "\(directory): this node's replica of \(address) is at change \(reached); the read asked for min_seq \(seq) and waited \(timeout) s")
            }
            usleep(20_000)
        }
    }

    /// Stops the follower thread (it ends within `interval`) and saves the replica.
    public func close() {
        stopFollowing.withLock { $0 = true }
        try? flush()
    }
}

/// Connections to the primary for writes, one borrowed per call (a session advisory lock keeps its own
/// for the length of the ingest); a broken connection is dropped, not returned.
final class ConnectionPool: @unchecked Sendable {
    private let url: String
    private let connectTimeout: Int
    private var idle: [PostgresConnection] = []
    private let lock = NSLock()
    /// The connection a `withSourceLock` body runs under, per thread, so that its writes reuse it.
    private let reserved = ThreadLocalConnection()

    init(url: String, connectTimeout: Int) {
        self.url = url
        self.connectTimeout = connectTimeout
    }

    func borrow<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        if let held = reserved.value { return try body(held) }
        let c = try lock.withLock { idle.popLast() } ?? PostgresConnection(url: url, connectTimeout: connectTimeout)
        do {
            let value = try body(c)
            if c.isOK { lock.withLock { if idle.count < 8 { idle.append(c) } } }
            return value
        } catch {
            if c.isOK { lock.withLock { if idle.count < 8 { idle.append(c) } } }
            throw error
        }
    }

    /// Runs `body` with `c` as this thread's connection for nested borrows.
    func reserving<T>(_ c: PostgresConnection, _ body: () throws -> T) throws -> T {
        let previous = reserved.value
        reserved.value = c
        defer { reserved.value = previous }
        return try body()
    }
}

private final class ThreadLocalConnection: @unchecked Sendable {
    private let key = "mnemo.postgres.reserved.\(UUID().uuidString)"
    var value: PostgresConnection? {
        get { Thread.current.threadDictionary[key] as? PostgresConnection }
        set { Thread.current.threadDictionary[key] = newValue }
    }
}
