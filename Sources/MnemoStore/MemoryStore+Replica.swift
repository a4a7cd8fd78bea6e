import Foundation
import MnemoSQLite

/// A document as a shared record holds it, ids included: a replica stores it under the same ids, so every
/// node returns the same chunk ids.
public struct ReplicaDocument: Sendable {
    public var id: Int64
    public var namespace: String
    public var source: String
    public var format: String
    public var contentHash: String
    public var bytes: Int
    /// JSON, as stored.
    public var metadata: String
    public var indexedAt: String
    public var chunks: [ReplicaChunk]

    public init(id: Int64, namespace: String, source: String, format: String, contentHash: String, bytes: Int,
                metadata: String, indexedAt: String, chunks: [ReplicaChunk]) {
        (self.id, self.namespace, self.source, self.format, self.contentHash) = (id, namespace, source, format, contentHash)
        (self.bytes, self.metadata, self.indexedAt, self.chunks) = (bytes, metadata, indexedAt, chunks)
    }
}

public struct ReplicaChunk: Sendable {
    public var id: Int64
    public var ordinal: Int
    public var text: String
    public var startByte: Int
    public var endByte: Int
    public var metadata: String
    public var contentHash: String
    /// float32 little-endian, exactly the bytes the embedded store keeps.
    public var embedding: Data
    public var sentences: [ReplicaSentence]

    public init(id: Int64, ordinal: Int, text: String, startByte: Int, endByte: Int, metadata: String, contentHash: String,
                embedding: Data, sentences: [ReplicaSentence]) {
        (self.id, self.ordinal, self.text, self.startByte, self.endByte) = (id, ordinal, text, startByte, endByte)
        (self.metadata, self.contentHash, self.embedding, self.sentences) = (metadata, contentHash, embedding, sentences)
    }
}

public struct ReplicaSentence: Sendable {
    public var ordinal: Int
    public var startByte: Int
    public var endByte: Int
    public var contentHash: String
    public var embedding: Data

    public init(ordinal: Int, startByte: Int, endByte: Int, contentHash: String, embedding: Data) {
        (self.ordinal, self.startByte, self.endByte, self.contentHash, self.embedding) = (ordinal, startByte, endByte, contentHash, embedding)
    }
}

/// One source's state after a batch of log entries: its document as the record holds it, or nil (gone).
public struct ReplicaChange: Sendable {
    public var namespace: String
    public var source: String
    public var document: ReplicaDocument?

    public init(namespace: String, source: String, document: ReplicaDocument?) {
        (self.namespace, self.source, self.document) = (namespace, source, document)
    }
}

/// A replica is an ordinary store directory whose `store_state` also says which shared record it follows
/// (`replica_of`, the record's random id) and the last change it applied (`replica_seq`; -1 while a
/// snapshot is being copied in). Both are written in the same SQLite transaction as the changes, so a
/// replica killed at any moment resumes from exactly what it holds.
extension MemoryStore {
    /// The shared record this directory follows and the last change applied; nil for an embedded store.
    public func replicaPosition() throws -> (origin: Int64, seq: Int64)? {
        let rows = try db.query("SELECT key, value FROM store_state WHERE key IN ('replica_of', 'replica_seq')")
        var values: [String: Int64] = [:]
        for row in rows { if let key = row[0].string, let value = row[1].int { values[key] = value } }
        guard let origin = values["replica_of"], let seq = values["replica_seq"] else { return nil }
        return (origin, seq)
    }

    /// Empties this directory to receive a snapshot of record `origin` (the position reads -1 until
    /// `applyReplicated` sets it). A directory holding an embedded store's documents is refused: a
    /// replica is disposable, a user's store is not.
    public func startSnapshot(origin: Int64) throws {
        try requireWriter()
        if try replicaPosition() == nil, try chunkCount() > 0 {
            throw StoreError(.incompatible, "\(directory): holds an embedded store's documents, not a replica; give --replica an empty directory or an earlier replica")
        }
        let old = try db.query("SELECT id FROM chunks").compactMap { $0[0].int }
        try db.transaction {
            try db.run("DELETE FROM documents")
            try setPosition(origin: origin, seq: -1)
        }
        try removeFromIndex(old)
    }

    /// Applies changes in one SQLite transaction and records `seq` (nil: leave the position as it is, for
    /// the batches of a snapshot before its last). A source whose document already matches (same
    /// document id and chunk ids) is left alone, so applying a batch twice changes nothing.
    public func applyReplicated(_ changes: [ReplicaChange], origin: Int64, through seq: Int64?) throws {
        try requireWriter()
        for change in changes {
            for chunk in change.document?.chunks ?? [] {
                guard chunk.embedding.count == manifest.dimension * 4, chunk.sentences.allSatisfy({ $0.embedding.count == manifest.dimension * 4 }) else {
                    throw StoreError(.corrupt, "\(directory): the shared record's chunk \(chunk.id) has a \(chunk.embedding.count)-byte vector, expected \(manifest.dimension * 4)")
                }
            }
        }
        let (removed, added) = try db.transaction { () -> ([Int64], [(id: Int64, vector: Data)]) in
            var removed: [Int64] = []
            var added: [(id: Int64, vector: Data)] = []
            let insertDocument = try db.prepare("""
                INSERT INTO documents (id, namespace, source, format, content_hash, bytes, metadata, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertChunk = try db.prepare("""
                INSERT INTO chunks (id, document_id, namespace, ordinal, text, start_byte, end_byte, metadata, content_hash, embedding)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertSentence = try db.prepare(Self.insertSentence)
            for change in changes {
                let existing = try document(source: change.source, namespace: change.namespace)
                let oldIDs = try existing.map { try chunkIDs(ofDocument: $0.id) } ?? []
                if let doc = change.document, existing?.id == doc.id, oldIDs == doc.chunks.map(\.id) { continue }
                if let existing { try db.run("DELETE FROM documents WHERE id = ?", [.integer(existing.id)]) }
                let newIDs = Set(change.document?.chunks.map(\.id) ?? [])
                // A chunk's id names one text and one vector for ever: only ids that come or go touch the index.
                removed += oldIDs.filter { !newIDs.contains($0) }
                guard let doc = change.document else { continue }
                try insertDocument.run([.integer(doc.id), .text(doc.namespace), .text(doc.source), .text(doc.format),
                                        .text(doc.contentHash), .integer(Int64(doc.bytes)), .text(doc.metadata), .text(doc.indexedAt)])
                let old = Set(oldIDs)
                for chunk in doc.chunks {
                    try insertChunk.run([.integer(chunk.id), .integer(doc.id), .text(doc.namespace), .integer(Int64(chunk.ordinal)),
                                         .text(chunk.text), .integer(Int64(chunk.startByte)), .integer(Int64(chunk.endByte)),
                                         .text(chunk.metadata), .text(chunk.contentHash), .blob(chunk.embedding)])
                    for s in chunk.sentences {
                        try insertSentence.run([.integer(chunk.id), .integer(Int64(s.ordinal)), .integer(Int64(s.startByte)),
                                                .integer(Int64(s.endByte)), .text(s.contentHash), .blob(s.embedding)])
                    }
                    if !old.contains(chunk.id) { added.append((chunk.id, chunk.embedding)) }
                }
            }
            if let seq { try setPosition(origin: origin, seq: seq) }
            return (removed, added)
        }
        try removeFromIndex(removed)
        if !added.isEmpty {
            var vectors: [Float] = []
            vectors.reserveCapacity(added.count * manifest.dimension)
            for item in added { vectors += try decodeEmbedding(item.vector, chunk: item.id) }
            try index.add(vectors, ids: added.map(\.id))
            indexMaxID = max(indexMaxID, added.map(\.id).max() ?? 0)
        }
        indexChanges = try changeCounter
        dirty = true
    }

    private func setPosition(origin: Int64, seq: Int64) throws {
        try db.run("INSERT OR REPLACE INTO store_state (key, value) VALUES ('replica_of', ?), ('replica_seq', ?)",
                   [.integer(origin), .integer(seq)])
    }

    /// Every document's (namespace, source, id, content hash, chunk ids): what nodes compare to agree.
    public func documentIdentities() throws -> [(namespace: String, source: String, id: Int64, contentHash: String, chunkIDs: [Int64])] {
        var chunks: [Int64: [Int64]] = [:]
        for row in try db.query("SELECT document_id, id FROM chunks ORDER BY document_id, ordinal") {
            if let d = row[0].int, let c = row[1].int { chunks[d, default: []].append(c) }
        }
        return try db.query("SELECT namespace, source, id, content_hash FROM documents ORDER BY namespace, source").map { row in
            let id = row[2].int ?? 0
            return (row[0].string ?? "", row[1].string ?? "", id, row[3].string ?? "", chunks[id] ?? [])
        }
    }
}
