import Foundation
import MnemoSQLite

/// A chunk to store, with its embedding already computed.
public struct NewChunk: Sendable {
    public var text: String
    public var byteRange: Range<Int>
    public var metadata: [String: String]
    public var contentHash: String
    public var embedding: [Float]
    /// The chunk's sentences with their vectors (none: the chunk is stored without them).
    public var sentences: [NewSentence]

    public init(text: String, byteRange: Range<Int>, metadata: [String: String], contentHash: String, embedding: [Float],
                sentences: [NewSentence] = []) {
        self.text = text
        self.byteRange = byteRange
        self.metadata = metadata
        self.contentHash = contentHash
        self.embedding = embedding
        self.sentences = sentences
    }
}

/// One sentence of a chunk: UTF-8 byte offsets into the chunk's text, and its vector.
public struct NewSentence: Sendable {
    public var byteRange: Range<Int>
    public var contentHash: String
    public var embedding: [Float]

    public init(byteRange: Range<Int>, contentHash: String, embedding: [Float]) {
        self.byteRange = byteRange
        self.contentHash = contentHash
        self.embedding = embedding
    }
}

/// A stored sentence as `sentences(ofChunks:)` returns it.
public struct StoredSentence: Sendable, Equatable {
    public var ordinal: Int
    public var text: String
    public var embedding: [Float]

    public init(ordinal: Int, text: String, embedding: [Float]) {
        self.ordinal = ordinal
        self.text = text
        self.embedding = embedding
    }
}

/// A document to store: replaces any earlier document with the same namespace and source.
public struct NewDocument: Sendable {
    public var source: String
    public var namespace: String
    public var format: String
    public var contentHash: String
    public var bytes: Int
    public var metadata: [String: String]
    public var chunks: [NewChunk]

    public init(source: String, namespace: String, format: String, contentHash: String, bytes: Int,
                metadata: [String: String], chunks: [NewChunk]) {
        self.source = source
        self.namespace = namespace
        self.format = format
        self.contentHash = contentHash
        self.bytes = bytes
        self.metadata = metadata
        self.chunks = chunks
    }
}

extension NewDocument {
    /// Checks every vector before anything is written, in either store.
    public func validate(dimension: Int) throws {
        for chunk in chunks where chunk.embedding.count != dimension || chunk.sentences.contains(where: { $0.embedding.count != dimension }) {
            throw StoreError(.badInput, "\(source): an embedding has \(chunk.embedding.count) dimensions, the store \(dimension)")
        }
        // A NaN vector could never be found by dense search, and would poison the index's distances.
        for chunk in chunks where !chunk.embedding.allSatisfy(\.isFinite) || !chunk.sentences.allSatisfy({ $0.embedding.allSatisfy(\.isFinite) }) {
            throw StoreError(.badInput, "\(source): a vector is not finite (NaN or infinity); nothing was stored")
        }
    }
}

/// A stored chunk as queries return it.
public struct StoredChunk: Sendable, Codable, Equatable {
    public var id: Int64
    public var source: String
    public var namespace: String
    public var ordinal: Int
    public var text: String
    public var startByte: Int
    public var endByte: Int
    public var metadata: [String: String]

    enum CodingKeys: String, CodingKey {
        case id, source, namespace, ordinal, text, metadata
        case startByte = "start_byte", endByte = "end_byte"
    }
}

/// Restricts a search to a namespace and to chunks whose metadata has the given values.
public struct SearchFilter: Sendable {
    public var namespace: String?
    public var metadata: [(key: String, value: String)]

    public init(namespace: String? = nil, metadata: [(key: String, value: String)] = []) {
        self.namespace = namespace
        self.metadata = metadata
    }

    public var isEmpty: Bool { namespace == nil && metadata.isEmpty }

    /// SQL conditions over `c` (chunks) and their bindings.
    func sql() throws -> (String, [SQLiteValue]) {
        var conditions: [String] = []
        var bindings: [SQLiteValue] = []
        if let namespace {
            conditions.append("c.namespace = ?")
            bindings.append(.text(namespace))
        }
        for (key, value) in metadata {
            guard !key.isEmpty, !key.contains("\""), !key.contains("\\") else {
                throw StoreError(.badInput, "metadata key \(key.debugDescription) is not allowed (empty, or contains a quote or backslash)")
            }
            conditions.append("json_extract(c.metadata, ?) = ?")
            bindings += [.text("$.\"\(key)\""), .text(value)]
        }
        return (conditions.isEmpty ? "1" : conditions.joined(separator: " AND "), bindings)
    }
}

/// Counts and sizes for `mnemo stats`.
/// A stored document as listed: where it came from, its size and when it was indexed.
public struct StoredDocument: Sendable, Codable, Equatable {
    public var source: String
    public var namespace: String
    public var format: String
    public var bytes: Int
    /// UTC, ISO 8601.
    public var indexedAt: String
    public var metadata: [String: String]
    public var chunks: Int

    enum CodingKeys: String, CodingKey {
        case source, namespace, format, bytes, metadata, chunks
        case indexedAt = "indexed_at"
    }
}

public struct StoreStats: Sendable, Codable {
    public var directory: String
    public var encoder: String
    public var dimension: Int
    public var indexKind: String
    public var indexLayout: String
    public var documents: Int
    public var chunks: Int
    public var vectorsInIndex: Int
    public var tombstones: Int
    public var namespaces: [String: Int]
    public var databaseBytes: Int
    public var indexBytes: Int

    enum CodingKeys: String, CodingKey {
        case directory, encoder, dimension, documents, chunks, tombstones, namespaces
        case indexKind = "index_kind", indexLayout = "index_layout", vectorsInIndex = "vectors_in_index"
        case databaseBytes = "database_bytes", indexBytes = "index_bytes"
    }
}

/// The memory store: a directory with `manifest.json`, `mnemo.sqlite` (the source of truth) and a
/// FAISS file `vectors.<changes>.<layout>.faiss` derived from it.
///
/// The FAISS file's name records the value of SQLite's change counter it reflects. On open, a file
/// that lags behind SQLite (a crash between commit and save, or another process still writing) is
/// repaired from the embeddings in SQLite: missing vectors are added, vectors of deleted chunks are
/// removed (or, for HNSW, filtered at search time). Every search result is read back from SQLite, so
/// a deleted or never-committed chunk can never be returned.
///
/// One writer at a time across processes (a lock file); any number of readers (SQLite WAL).
/// Not thread-safe: a `MemoryStore` has one owner.
public final class MemoryStore {
    public enum Access: Sendable {
        case read
        /// Write, creating the store with this index kind if the directory holds none.
        case write(createWith: IndexKind)
    }

    public let directory: String
    public private(set) var manifest: StoreManifest
    /// Internal: other modules ask the store through its methods, never in SQL.
    let db: SQLiteDatabase
    private let lock: FileLock?
    // Internal, not private: MemoryStore+Replica.swift applies a shared record's changes through them.
    var index: VectorIndex
    /// The change counter the in-memory index reflects, and the largest chunk id in it.
    var indexChanges: Int64
    var indexMaxID: Int64
    private var tombstones: Set<Int64> = []
    var dirty = false
    private var loadedFile: String?
    /// The schema this store has: a reader may open a store one migration behind (no sentence table).
    private let schemaVersion: Int

    /// Whether sentence vectors can be stored and read here (schema 2 or later).
    public var hasSentenceTable: Bool { schemaVersion >= 2 }
    /// Whether this store was opened for writing.
    public var isWritable: Bool { lock != nil }

    static let databaseName = "mnemo.sqlite"
    static let manifestName = "manifest.json"

    /// `lockTimeout`: seconds a writer waits for another process's write lock before failing.
    public init(directory: String, encoder: String, dimension: Int, access: Access, lockTimeout: TimeInterval = 60) throws {
        self.directory = directory
        let fm = FileManager.default
        let manifestPath = (directory as NSString).appendingPathComponent(Self.manifestName)
        let exists = fm.fileExists(atPath: manifestPath)

        // The manifest is written last when a store is created, so a reader that finds it also finds
        // a complete schema.
        let migrator = Migrator(migrations: Schema.migrations)
        let databasePath = (directory as NSString).appendingPathComponent(Self.databaseName)
        switch access {
        case .read:
            guard exists else {
                throw StoreError(.notFound, "\(directory): no Mnemo store here (create one with `mnemo index PATH --store \(directory)`)")
            }
            lock = nil
            manifest = try Self.checkedManifest(manifestPath, directory: directory, encoder: encoder, dimension: dimension)
            db = try Self.openDatabase(databasePath)
            schemaVersion = try migrator.requireReadable(db, minimum: 1)
        case .write(let kind):
            do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw StoreError(.io, "\(directory): cannot create the store directory (\(error.localizedDescription))")
            }
            lock = try FileLock(path: (directory as NSString).appendingPathComponent("store.lock"), timeout: lockTimeout, what: "store \(directory)")
            if exists { _ = try Self.checkedManifest(manifestPath, directory: directory, encoder: encoder, dimension: dimension) }
            db = try Self.openDatabase(databasePath)
            try migrator.migrate(db)
            schemaVersion = Schema.migrations.count
            if !exists { try StoreManifest(encoder: encoder, dimension: dimension, index: kind).write(manifestPath) }
            manifest = try Self.checkedManifest(manifestPath, directory: directory, encoder: encoder, dimension: dimension)
        }

        index = try VectorIndex.create(layout: .flat, dimension: dimension, count: 0)
        indexChanges = -1
        indexMaxID = 0
        try loadIndex()
        if case .write = access, dirty { try flush() }
    }

    static func openDatabase(_ path: String) throws -> SQLiteDatabase {
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        return db
    }

    static func checkedManifest(_ path: String, directory: String, encoder: String, dimension: Int) throws -> StoreManifest {
        let manifest = try StoreManifest.read(path)
        guard manifest.format <= StoreManifest.currentFormat else {
            throw StoreError(.incompatible, "\(path): store format \(manifest.format) is newer than this mnemo (\(StoreManifest.currentFormat))")
        }
        guard manifest.encoder == encoder, manifest.dimension == dimension else {
            throw StoreError(.incompatible, "\(directory): store was made with encoder \(manifest.encoder) (\(manifest.dimension) dimensions); this command uses \(encoder) (\(dimension)). Use a matching --encoder, or another --store")
        }
        return manifest
    }

    /// The manifest of the store in `directory` (for commands that need no encoder).
    public static func manifest(in directory: String) throws -> StoreManifest {
        let path = (directory as NSString).appendingPathComponent(manifestName)
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.notFound, "\(directory): no Mnemo store here (create one with `mnemo index PATH --store \(directory)`)")
        }
        return try StoreManifest.read(path)
    }

    // MARK: - Reading

    var changeCounter: Int64 {
        get throws { try db.query("SELECT value FROM store_state WHERE key = 'changes'").first?.first?.int ?? 0 }
    }

    /// The newest FAISS file in the directory: (path, changes, layout).
    func newestIndexFile() -> (path: String, changes: Int64, layout: VectorIndex.Layout)? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (String, Int64, VectorIndex.Layout)? in
            let parts = name.split(separator: ".")
            guard parts.count == 4, parts[0] == "vectors", parts[3] == "faiss",
                  let changes = Int64(parts[1]), let layout = VectorIndex.Layout(rawValue: String(parts[2])) else { return nil }
            return ((directory as NSString).appendingPathComponent(name), changes, layout)
        }.max { $0.1 < $1.1 }
    }

    /// Loads the newest FAISS file and brings it in line with SQLite (in memory; `flush` saves).
    private func loadIndex() throws {
        let changes = try changeCounter
        if let file = newestIndexFile() {
            do {
                index = try VectorIndex.read(path: file.path, layout: file.layout, dimension: manifest.dimension)
                indexChanges = file.changes
                loadedFile = file.path
                let ids = try index.ids()
                indexMaxID = ids.max() ?? 0
                if file.changes == changes {
                    // In sync: the only entries not in SQLite are tombstones of a layout that cannot remove.
                    if try !index.layout.removesVectors && ids.count != chunkCount() { try reconcile(fullDiff: true) }
                    return
                }
            } catch let error as StoreError where error.code == .corrupt {
                // The FAISS file is derived data: rebuild it from SQLite rather than fail.
                try rebuildIndex(layout: preferredLayout(count: try chunkCount()))
                return
            }
        } else if try chunkCount() > 0 || manifest.index != .flat {
            try rebuildIndex(layout: preferredLayout(count: try chunkCount()))
            return
        }
        try reconcile(fullDiff: true)
        indexChanges = changes
        dirty = true  // the saved file's name must catch up with the counter, even if no vector changed
    }

    /// Adds vectors of chunks SQLite has and the index lacks; with `fullDiff`, also drops (or
    /// tombstones) index entries whose chunk is gone.
    private func reconcile(fullDiff: Bool) throws {
        let (ids, vectors) = try storedVectors(after: indexMaxID)
        if !ids.isEmpty {
            try index.add(vectors, ids: ids)
            indexMaxID = max(indexMaxID, ids.last ?? 0)
            dirty = true
        }
        guard fullDiff else { return }
        let live = Set(try db.query("SELECT id FROM chunks").compactMap { $0[0].int })
        let stale = try index.ids().filter { !live.contains($0) }
        if !stale.isEmpty {
            if try index.remove(stale) { dirty = true } else { tombstones.formUnion(stale) }
        }
    }

    /// Picks up changes other processes committed since this store was opened (readers call this
    /// before searching; cheap when nothing changed).
    public func refresh() throws {
        let changes = try changeCounter
        guard changes != indexChanges else { return }
        if let file = newestIndexFile(), file.path != loadedFile, file.changes > indexChanges {
            try loadIndex()
        } else {
            try reconcile(fullDiff: false)
            indexChanges = changes
        }
    }

    /// Ids and concatenated embeddings of the chunks with id > `after`, in id order.
    private func storedVectors(after: Int64) throws -> (ids: [Int64], vectors: [Float]) {
        let rows = try db.query("SELECT id, embedding FROM chunks WHERE id > ? ORDER BY id", [.integer(after)])
        var ids: [Int64] = []
        var vectors: [Float] = []
        ids.reserveCapacity(rows.count)
        vectors.reserveCapacity(rows.count * manifest.dimension)
        for row in rows {
            guard let id = row[0].int, let blob = row[1].data else { continue }
            vectors += try decodeEmbedding(blob, chunk: id)
            ids.append(id)
        }
        return (ids, vectors)
    }

    func decodeEmbedding(_ blob: Data, chunk: Int64) throws -> [Float] {
        guard blob.count == manifest.dimension * 4 else {
            throw StoreError(.corrupt, "\(directory): chunk \(chunk) has a \(blob.count)-byte embedding, expected \(manifest.dimension * 4)")
        }
        return blob.withUnsafeBytes { raw in (0..<manifest.dimension).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }

    public func chunkCount() throws -> Int { Int(try db.query("SELECT count(*) FROM chunks").first?.first?.int ?? 0) }

    private static let chunkColumns = "c.id, d.source, c.namespace, c.ordinal, c.text, c.start_byte, c.end_byte, c.metadata"

    private func decodeChunk(_ row: [SQLiteValue]) -> StoredChunk {
        let metadata = row[7].string.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        return StoredChunk(id: row[0].int ?? 0, source: row[1].string ?? "", namespace: row[2].string ?? "",
                           ordinal: Int(row[3].int ?? 0), text: row[4].string ?? "",
                           startByte: Int(row[5].int ?? 0), endByte: Int(row[6].int ?? 0), metadata: metadata)
    }

    /// Chunks by id that exist and pass the filter, keyed by id.
    public func chunks(ids: [Int64], filter: SearchFilter = SearchFilter()) throws -> [Int64: StoredChunk] {
        guard !ids.isEmpty else { return [:] }
        let (condition, bindings) = try filter.sql()
        var out: [Int64: StoredChunk] = [:]
        // Bounded batches keep under SQLite's variable limit.
        for start in stride(from: 0, to: ids.count, by: 500) {
            let batch = ids[start..<min(start + 500, ids.count)]
            let placeholders = Array(repeating: "?", count: batch.count).joined(separator: ",")
            let rows = try db.query(
                "SELECT \(Self.chunkColumns) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN (\(placeholders)) AND \(condition)",
                batch.map { .integer($0) } + bindings)
            for row in rows { let c = decodeChunk(row); out[c.id] = c }
        }
        return out
    }

    /// Nearest chunks by inner product with `query` (a unit vector from the same encoder).
    public func searchDense(_ query: [Float], k: Int, filter: SearchFilter = SearchFilter()) throws -> [(chunk: StoredChunk, score: Float)] {
        guard query.count == manifest.dimension else {
            throw StoreError(.badInput, "query vector has \(query.count) dimensions, the store \(manifest.dimension)")
        }
        try refresh()
        guard k > 0, index.count > 0 else { return [] }
        // IVF-PQ scores are approximate (48-byte codes): fetch many candidates and re-rank them
        // exactly with the vectors in SQLite. 4×k candidates gave recall@10 = 0.47 at 1M vectors.
        let rerank = index.layout == .ivfpq
        let wanted = rerank ? min(max(k * 20, 100), 2000) : k
        var fetch = wanted + tombstones.count + (filter.isEmpty ? 0 : 4 * k)
        while true {
            let hits = try index.search(query, k: fetch)
            let rows = try chunks(ids: hits.map(\.id), filter: filter)
            var results = hits.compactMap { hit in rows[hit.id].map { (chunk: $0, score: hit.score) } }
            if results.count >= wanted || fetch >= index.count {
                if rerank { results = try exactScores(results.map(\.chunk), query: query) }
                return Array(results.prefix(k))
            }
            fetch = min(index.count, fetch * 4)
        }
    }

    private func exactScores(_ chunks: [StoredChunk], query: [Float]) throws -> [(chunk: StoredChunk, score: Float)] {
        guard !chunks.isEmpty else { return [] }
        let placeholders = Array(repeating: "?", count: chunks.count).joined(separator: ",")
        var vectors: [Int64: [Float]] = [:]
        for row in try db.query("SELECT id, embedding FROM chunks WHERE id IN (\(placeholders))", chunks.map { .integer($0.id) }) {
            if let id = row[0].int, let blob = row[1].data { vectors[id] = try decodeEmbedding(blob, chunk: id) }
        }
        return chunks.compactMap { c in
            vectors[c.id].map { v in (chunk: c, score: zip(v, query).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
        }.sorted { $0.score > $1.score }
    }

    /// Best chunks by BM25 (SQLite FTS5, Porter stemming). Any user text is safe: it is reduced to
    /// quoted terms joined by OR, so FTS5 query syntax in it has no effect.
    public func searchBM25(_ text: String, k: Int, filter: SearchFilter = SearchFilter()) throws -> [(chunk: StoredChunk, score: Float)] {
        let terms = text.lowercased().split { !$0.isLetter && !$0.isNumber }.map { "\"\($0)\"" }
        guard k > 0, !terms.isEmpty else { return [] }
        let (condition, bindings) = try filter.sql()
        let rows = try db.query("""
            SELECT \(Self.chunkColumns), bm25(chunks_fts) AS rank
            FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.document_id
            WHERE chunks_fts MATCH ? AND \(condition)
            ORDER BY rank LIMIT ?
            """, [.text(terms.joined(separator: " OR "))] + bindings + [.integer(Int64(k))])
        return rows.map { (chunk: decodeChunk($0), score: Float(-($0[8].double ?? 0))) }
    }

    /// The stored document for a source, if any: (id, content hash).
    public func document(source: String, namespace: String) throws -> (id: Int64, contentHash: String)? {
        try db.query("SELECT id, content_hash FROM documents WHERE namespace = ? AND source = ?", [.text(namespace), .text(source)])
            .first.flatMap { row in row[0].int.map { ($0, row[1].string ?? "") } }
    }

    /// The chunk ids of a document, in order.
    public func chunkIDs(ofDocument id: Int64) throws -> [Int64] {
        try db.query("SELECT id FROM chunks WHERE document_id = ? ORDER BY ordinal", [.integer(id)]).compactMap { $0[0].int }
    }

    /// One page of the stored documents, newest first, with their chunk counts; `total` counts every
    /// document the namespace filter keeps (for paging).
    public func documents(namespace: String?, offset: Int, limit: Int) throws -> (total: Int, documents: [StoredDocument]) {
        let condition = namespace == nil ? "1" : "d.namespace = ?"
        let bindings: [SQLiteValue] = namespace.map { [.text($0)] } ?? []
        let total = Int(try db.query("SELECT count(*) FROM documents d WHERE \(condition)", bindings).first?.first?.int ?? 0)
        let rows = try db.query("""
            SELECT d.source, d.namespace, d.format, d.bytes, d.indexed_at, d.metadata,
                   (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)
            FROM documents d WHERE \(condition) ORDER BY d.indexed_at DESC, d.id DESC LIMIT ? OFFSET ?
            """, bindings + [.integer(Int64(max(0, limit))), .integer(Int64(max(0, offset)))])
        return (total, rows.map { row in
            StoredDocument(source: row[0].string ?? "", namespace: row[1].string ?? "", format: row[2].string ?? "",
                           bytes: Int(row[3].int ?? 0), indexedAt: row[4].string ?? "",
                           metadata: row[5].string.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:],
                           chunks: Int(row[6].int ?? 0))
        })
    }

    /// A document's chunks in order (empty when there is no such document).
    public func chunks(ofSource source: String, namespace: String) throws -> [StoredChunk] {
        try db.query("""
            SELECT \(Self.chunkColumns) FROM chunks c JOIN documents d ON d.id = c.document_id
            WHERE d.source = ? AND d.namespace = ? ORDER BY c.ordinal
            """, [.text(source), .text(namespace)]).map(decodeChunk)
    }

    /// Every chunk's id and stored vector, in id order (an exact scan to measure an approximate index by).
    public func allChunkVectors() throws -> [(id: Int64, vector: [Float])] {
        try db.query("SELECT id, embedding FROM chunks ORDER BY id").compactMap { row in
            guard let id = row[0].int, let blob = row[1].data else { return nil }
            return (id, try decodeEmbedding(blob, chunk: id))
        }
    }

    /// Every chunk's source and text, in id order.
    public func allChunkTexts() throws -> [(source: String, text: String)] {
        try db.query("SELECT d.source, c.text FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.id")
            .map { ($0[0].string ?? "", $0[1].string ?? "") }
    }

    /// Another document in the namespace with exactly this content, if any (its source).
    public func duplicate(ofContentHash hash: String, namespace: String, except source: String) throws -> String? {
        try db.query("SELECT source FROM documents WHERE namespace = ? AND content_hash = ? AND source != ? LIMIT 1",
                     [.text(namespace), .text(hash), .text(source)]).first?.first?.string
    }

    /// A stored embedding for identical chunk text, so it is never computed twice.
    public func embedding(forContentHash hash: String) throws -> [Float]? {
        guard let row = try db.query("SELECT id, embedding FROM chunks WHERE content_hash = ? LIMIT 1", [.text(hash)]).first,
              let id = row[0].int, let blob = row[1].data else { return nil }
        return try decodeEmbedding(blob, chunk: id)
    }

    /// A stored vector for identical sentence text (from a sentence or a one-sentence chunk).
    public func sentenceEmbedding(forContentHash hash: String) throws -> [Float]? {
        if hasSentenceTable,
           let row = try db.query("SELECT chunk_id, embedding FROM sentences WHERE content_hash = ? LIMIT 1", [.text(hash)]).first,
           let id = row[0].int, let blob = row[1].data {
            return try decodeEmbedding(blob, chunk: id)
        }
        return try embedding(forContentHash: hash)
    }

    /// The stored sentences of each chunk, in order; a chunk without stored sentences is absent.
    public func sentences(ofChunks ids: [Int64]) throws -> [Int64: [StoredSentence]] {
        guard hasSentenceTable, !ids.isEmpty else { return [:] }
        var out: [Int64: [StoredSentence]] = [:]
        for start in stride(from: 0, to: ids.count, by: 500) {
            let batch = ids[start..<min(start + 500, ids.count)]
            let placeholders = Array(repeating: "?", count: batch.count).joined(separator: ",")
            let rows = try db.query("""
                SELECT s.chunk_id, s.ordinal, s.start_byte, s.end_byte, s.embedding, c.text FROM sentences s
                JOIN chunks c ON c.id = s.chunk_id WHERE s.chunk_id IN (\(placeholders)) ORDER BY s.chunk_id, s.ordinal
                """, batch.map { .integer($0) })
            for row in rows {
                guard let id = row[0].int, let blob = row[4].data else { continue }
                let text = Array((row[5].string ?? "").utf8)
                let lo = Int(row[2].int ?? 0), hi = Int(row[3].int ?? 0)
                guard 0 <= lo, lo <= hi, hi <= text.count else {
                    throw StoreError(.corrupt, "\(directory): sentence \(row[1].int ?? 0) of chunk \(id) has offsets \(lo)..<\(hi) outside its \(text.count)-byte text")
                }
                out[id, default: []].append(StoredSentence(ordinal: Int(row[1].int ?? 0), text: String(decoding: text[lo..<hi], as: UTF8.self),
                                                           embedding: try decodeEmbedding(blob, chunk: id)))
            }
        }
        return out
    }

    /// Chunks stored without sentence rows (before schema 2), `limit` at a time, oldest first.
    public func chunksWithoutSentences(limit: Int) throws -> [(id: Int64, text: String)] {
        guard hasSentenceTable else { return [] }
        return try db.query("""
            SELECT id, text FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM sentences s WHERE s.chunk_id = c.id) ORDER BY id LIMIT ?
            """, [.integer(Int64(limit))]).compactMap { row in row[0].int.map { ($0, row[1].string ?? "") } }
    }

    /// Stores the sentences of chunks already stored (filling in a store made before schema 2), in one
    /// transaction; a chunk deleted meanwhile is skipped.
    public func addSentences(_ byChunk: [(chunkID: Int64, sentences: [NewSentence])]) throws {
        try requireWriter()
        for (id, sentences) in byChunk where !sentences.allSatisfy({ $0.embedding.allSatisfy(\.isFinite) }) {
            throw StoreError(.badInput, "chunk \(id): a sentence vector is not finite (NaN or infinity); nothing was stored")
        }
        try db.transaction {
            let insert = try db.prepare(Self.insertSentence)
            for (id, sentences) in byChunk {
                guard try db.query("SELECT 1 FROM chunks WHERE id = ?", [.integer(id)]).first != nil else { continue }
                try insertSentences(sentences, chunk: id, with: insert)
            }
        }
    }

    static let insertSentence = "INSERT OR REPLACE INTO sentences (chunk_id, ordinal, start_byte, end_byte, content_hash, embedding) VALUES (?, ?, ?, ?, ?, ?)"

    func insertSentences(_ sentences: [NewSentence], chunk id: Int64, with insert: SQLiteStatement) throws {
        for (ordinal, sentence) in sentences.enumerated() {
            guard sentence.embedding.count == manifest.dimension else {
                throw StoreError(.badInput, "chunk \(id): a sentence embedding has \(sentence.embedding.count) dimensions, the store \(manifest.dimension)")
            }
            try insert.run([
                .integer(id), .integer(Int64(ordinal)), .integer(Int64(sentence.byteRange.lowerBound)),
                .integer(Int64(sentence.byteRange.upperBound)), .text(sentence.contentHash),
                .blob(sentence.embedding.withUnsafeBufferPointer { Data(buffer: $0) }),
            ])
        }
    }

    /// A chunk's stored sentence vector (the source of truth, not FAISS's copy): what a soft token is made of.
    public func embedding(ofChunk id: Int64) throws -> [Float]? {
        guard let blob = try db.query("SELECT embedding FROM chunks WHERE id = ?", [.integer(id)]).first?.first?.data else { return nil }
        return try decodeEmbedding(blob, chunk: id)
    }

    public func stats() throws -> StoreStats {
        var namespaces: [String: Int] = [:]
        for row in try db.query("SELECT namespace, count(*) FROM chunks GROUP BY namespace") {
            namespaces[row[0].string ?? ""] = Int(row[1].int ?? 0)
        }
        func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        let dbPath = (directory as NSString).appendingPathComponent(Self.databaseName)
        return StoreStats(
            directory: directory, encoder: manifest.encoder, dimension: manifest.dimension,
            indexKind: manifest.index.rawValue, indexLayout: index.layout.rawValue,
            documents: Int(try db.query("SELECT count(*) FROM documents").first?.first?.int ?? 0),
            chunks: try chunkCount(), vectorsInIndex: index.count, tombstones: tombstones.count,
            namespaces: namespaces, databaseBytes: size(dbPath) + size(dbPath + "-wal"),
            indexBytes: newestIndexFile().map { size($0.path) } ?? 0)
    }

    // MARK: - Writing (the store must be opened with .write)

    func requireWriter() throws {
        guard lock != nil else { throw StoreError(.locked, "\(directory): store opened read-only") }
    }

    /// Stores a document and its chunks in one transaction, replacing an earlier version of the same
    /// source; returns the new chunk ids. The FAISS file is saved by `flush`.
    @discardableResult
    public func upsert(_ document: NewDocument) throws -> [Int64] {
        try requireWriter()
        try document.validate(dimension: manifest.dimension)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let (oldIDs, newIDs) = try db.transaction { () -> ([Int64], [Int64]) in
            var old: [Int64] = []
            if let existing = try self.document(source: document.source, namespace: document.namespace) {
                old = try db.query("SELECT id FROM chunks WHERE document_id = ?", [.integer(existing.id)]).compactMap { $0[0].int }
                try db.run("DELETE FROM documents WHERE id = ?", [.integer(existing.id)])
            }
            try db.run("INSERT INTO documents (namespace, source, format, content_hash, bytes, metadata) VALUES (?, ?, ?, ?, ?, ?)", [
                .text(document.namespace), .text(document.source), .text(document.format), .text(document.contentHash),
                .integer(Int64(document.bytes)), .text(String(decoding: try encoder.encode(document.metadata), as: UTF8.self)),
            ])
            let documentID = db.lastInsertRowID
            let insert = try db.prepare("""
                INSERT INTO chunks (document_id, namespace, ordinal, text, start_byte, end_byte, metadata, content_hash, embedding)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertSentence = try db.prepare(Self.insertSentence)
            var ids: [Int64] = []
            for (ordinal, chunk) in document.chunks.enumerated() {
                let blob = chunk.embedding.withUnsafeBufferPointer { Data(buffer: $0) }
                try insert.run([
                    .integer(documentID), .text(document.namespace), .integer(Int64(ordinal)), .text(chunk.text),
                    .integer(Int64(chunk.byteRange.lowerBound)), .integer(Int64(chunk.byteRange.upperBound)),
                    .text(String(decoding: try encoder.encode(chunk.metadata), as: UTF8.self)),
                    .text(chunk.contentHash), .blob(blob),
                ])
                ids.append(db.lastInsertRowID)
                try insertSentences(chunk.sentences, chunk: db.lastInsertRowID, with: insertSentence)
            }
            return (old, ids)
        }
        try removeFromIndex(oldIDs)
        try index.add(document.chunks.flatMap(\.embedding), ids: newIDs)
        indexMaxID = max(indexMaxID, newIDs.max() ?? 0)
        indexChanges = try changeCounter
        dirty = true
        return newIDs
    }

    /// Deletes every chunk of a source; returns how many chunks went.
    @discardableResult
    public func delete(source: String, namespace: String? = nil) throws -> Int {
        try requireWriter()
        let ids = try db.transaction { () -> [Int64] in
            let scope = namespace == nil ? "" : " AND d.namespace = ?"
            let bindings: [SQLiteValue] = [.text(source)] + (namespace.map { [.text($0)] } ?? [])
            let ids = try db.query("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.source = ?\(scope)", bindings).compactMap { $0[0].int }
            try db.run("DELETE FROM documents WHERE source = ?\(namespace == nil ? "" : " AND namespace = ?")", bindings)
            return ids
        }
        try removeFromIndex(ids)
        return ids.count
    }

    /// Deletes one chunk; false if there was none with that id.
    @discardableResult
    public func delete(chunkID: Int64) throws -> Bool {
        try requireWriter()
        try db.run("DELETE FROM chunks WHERE id = ?", [.integer(chunkID)])
        let removed = db.changes > 0
        if removed { try removeFromIndex([chunkID]) }
        return removed
    }

    func removeFromIndex(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        if try !index.remove(ids) { tombstones.formUnion(ids) }
        indexChanges = try changeCounter
        dirty = true
    }

    /// The layout the manifest asks for, given how many vectors there are.
    func preferredLayout(count: Int) -> VectorIndex.Layout {
        switch manifest.index {
        case .flat: .flat
        case .hnsw: .hnsw
        case .ivfPQ: count >= VectorIndex.Layout.minimumTrainingCount ? .ivfpq : .flat
        }
    }

    /// Saves the FAISS file if anything changed, compacting first when tombstones pile up or an
    /// ivf-pq store has grown enough to train.
    public func flush() throws {
        try requireWriter()
        let count = try chunkCount()
        if tombstones.count > max(64, count / 4) || preferredLayout(count: count) != index.layout {
            try rebuildIndex(layout: preferredLayout(count: count))
        }
        guard dirty else { return }
        let changes = try changeCounter
        guard changes == indexChanges else {
            throw StoreError(.index, "\(directory): index and database diverged during a write (changes \(indexChanges) vs \(changes))")
        }
        let path = (directory as NSString).appendingPathComponent("vectors.\(changes).\(index.layout.rawValue).faiss")
        try index.write(to: path)
        // Older files are stale now; readers that loaded them keep their copy in memory.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix("vectors.") && (directory as NSString).appendingPathComponent(name) != path {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
        loadedFile = path
        dirty = false
    }

    /// Rebuilds the FAISS index from the embeddings in SQLite (`mnemo rebuild`); `kind` changes the
    /// store's index kind.
    public func rebuild(kind: IndexKind? = nil) throws {
        try requireWriter()
        if let kind, kind != manifest.index {
            manifest.index = kind
            try manifest.write((directory as NSString).appendingPathComponent(Self.manifestName))
        }
        try rebuildIndex(layout: preferredLayout(count: try chunkCount()))
        try flush()
    }

    private func rebuildIndex(layout: VectorIndex.Layout) throws {
        let (ids, vectors) = try storedVectors(after: 0)
        let fresh = try VectorIndex.create(layout: layout, dimension: manifest.dimension, count: ids.count)
        if !fresh.isTrained {
            // Train on an evenly spaced sample: enough for k-means, bounded in time.
            let sampleCount = min(ids.count, max(VectorIndex.Layout.minimumTrainingCount, 64 * VectorIndex.Layout.lists(for: ids.count)))
            let d = manifest.dimension
            var sample: [Float] = []
            sample.reserveCapacity(sampleCount * d)
            for i in 0..<sampleCount {
                let row = i * ids.count / sampleCount
                sample += vectors[(row * d)..<((row + 1) * d)]
            }
            try fresh.train(sample)
        }
        try fresh.add(vectors, ids: ids)
        index = fresh
        indexMaxID = ids.last ?? 0
        tombstones = []
        indexChanges = try changeCounter
        dirty = true
    }
}
