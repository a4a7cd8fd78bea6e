import Foundation
import MnemoErrors
import MnemoIngest
import MnemoModels
import MnemoStore

/// How a query is matched against the store.
public enum QueryMode: String, Sendable, CaseIterable, Codable {
    /// Inner product of sentence vectors (FAISS).
    case dense
    /// BM25 over the chunk text (SQLite FTS5).
    case bm25
    /// Reciprocal rank fusion of dense and BM25 (k = 60).
    case hybrid
}

/// One query result.
public struct QueryHit: Sendable, Codable {
    public var rank: Int
    public var score: Float
    public var chunk: StoredChunk
}

/// Ingest settings for `MemoryService.index`.
public struct IndexOptions: Sendable {
    public var namespace = "default"
    public var metadata: [String: String] = [:]
    public var chunking = ChunkingOptions()
    public var textField = "text"
    public init() {}
}

/// What an ingest did, for the summary line and `--json`.
public struct IndexReport: Sendable, Codable {
    public struct Skipped: Sendable, Codable {
        public var path: String
        public var reason: String
    }
    public var files = 0
    public var added = 0
    public var replaced = 0
    public var unchanged = 0
    public var chunks = 0
    public var embedded = 0
    public var reusedEmbeddings = 0
    /// Sentences stored with the chunks, and how many of them needed the encoder (the rest were reused).
    public var sentences = 0
    public var sentencesEmbedded = 0
    /// Chunks of an older store (schema 1) whose sentence vectors this run filled in.
    public var chunksMigrated = 0
    public var skipped: [Skipped] = []
    public var warnings: [String] = []
    public var seconds = 0.0
    /// A shared store's change-log position after the last write (0 for the embedded store): pass it as
    /// `min_seq` to read these writes on another node.
    public var seq: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case files, added, replaced, unchanged, chunks, embedded, skipped, warnings, seconds, seq
        case sentences
        case reusedEmbeddings = "reused_embeddings", sentencesEmbedded = "sentences_embedded", chunksMigrated = "chunks_migrated"
    }
}

/// A document ready for `MemoryStore.upsert`, and what embedding it cost.
public struct PreparedDocument: Sendable {
    public var document: NewDocument
    /// Chunks embedded, and chunks whose stored vector was reused.
    public var embedded: Int
    public var reused: Int
    public var sentences: Int
    public var sentencesEmbedded: Int
}

/// Progress of an ingest, reported after each file.
public struct IndexProgress: Sendable {
    public var filesDone: Int
    public var filesTotal: Int
    public var chunks: Int
    public var elapsed: TimeInterval
}

/// The memory: the sentence encoder and the store, with ingest and query on top.
/// Text comes in, becomes chunks and vectors, and lands in the record; a query reads the store directory.
public final class MemoryService {
    public let encoder: any TextEmbedder
    /// Where writes go: the embedded store itself, or a shared record (PostgreSQL) that this node's
    /// replica follows.
    public let record: any MemoryRecord
    /// What searches read: the embedded store, or a read connection on the replica.
    public let store: MemoryStore

    public init(storeDirectory: String, encoder: any TextEmbedder, access: MemoryStore.Access, lockTimeout: TimeInterval = 60) throws {
        self.encoder = encoder
        store = try MemoryStore(directory: storeDirectory, encoder: encoder.name, dimension: encoder.dimension, access: access,
                                lockTimeout: lockTimeout)
        record = store
    }

    /// A service over a shared record: writes go to it, searches read its replica directory.
    public init(record: any MemoryRecord, encoder: any TextEmbedder) throws {
        guard record.manifest.encoder == encoder.name, record.manifest.dimension == encoder.dimension else {
            throw StoreError(.incompatible, "\(record.address): store was made with encoder \(record.manifest.encoder) (\(record.manifest.dimension) dimensions); this command uses \(encoder.name) (\(encoder.dimension))")
        }
        self.encoder = encoder
        self.record = record
        if let embedded = record as? MemoryStore {
            store = embedded
        } else {
            store = try MemoryStore(directory: record.directory, encoder: encoder.name, dimension: encoder.dimension, access: .read)
        }
    }

    /// Waits (up to `timeout` seconds) until searches here see change `seq` of a shared store: a read of
    /// one's own write made through another node. Nil or 0 returns at once.
    public func waitUntilApplied(_ seq: Int64?, timeout: TimeInterval = 5) throws {
        guard let seq, seq > 0 else { return }
        try record.waitUntilApplied(seq, timeout: timeout)
    }

    /// Word pieces in `text`, without `[CLS]`/`[SEP]`: the unit chunk sizes are given in.
    public func tokenCount(_ text: String) -> Int { encoder.tokenCount(text) }

    // MARK: - Ingest

    /// Indexes files and directories. A file that cannot be read is skipped with its reason and the
    /// rest goes on; each document is committed on its own, so an interruption loses at most the
    /// file in progress.
    public func index(paths: [String], options: IndexOptions, progress: ((IndexProgress) -> Void)? = nil) throws -> IndexReport {
        let start = Date()
        var report = IndexReport()
        report.chunksMigrated = try fillInSentences()
        let (files, skipped) = DocumentReader.collect(paths: paths)
        report.skipped = skipped.map { .init(path: $0.path, reason: $0.reason) }
        var lastFlush = Date()
        for (i, path) in files.enumerated() {
            report.files += 1
            do {
                try indexFile(path, options: options, report: &report)
            } catch let skip as SkipReason {
                report.skipped.append(.init(path: skip.path, reason: skip.reason))
            } catch let error as ModelError where error.module == "MnemoModels" {
                // The encoder could not take this file's text; a store error stops the run instead.
                report.skipped.append(.init(path: path, reason: error.message))
            }
            if Date().timeIntervalSince(lastFlush) > 10 {
                try record.flush()
                lastFlush = Date()
            }
            progress?(IndexProgress(filesDone: i + 1, filesTotal: files.count, chunks: report.chunks, elapsed: Date().timeIntervalSince(start)))
        }
        try record.flush()
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    private func indexFile(_ path: String, options: IndexOptions, report: inout IndexReport) throws {
        let source = URL(fileURLWithPath: path).standardizedFileURL.path
        let (document, warnings) = try DocumentReader.read(path: path, textField: options.textField)
        report.warnings += warnings.map { "\(path): \($0)" }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw SkipReason(path: path, reason: "unreadable")
        }
        let hash = SHA256.hex(bytes)
        let record = self.record
        // Under the source's lock, so a second node ingesting the same file waits, then finds it unchanged.
        try record.withSourceLock(source: source, namespace: options.namespace) {
            let existing = try record.document(source: source, namespace: options.namespace)
            if existing?.contentHash == hash {
                report.unchanged += 1
                return
            }
            if let original = try record.duplicate(ofContentHash: hash, namespace: options.namespace, except: source) {
                throw SkipReason(path: path, reason: "same content as \(original) (deduplicated)")
            }
            var docMetadata = options.metadata
            docMetadata["format"] = document.format.rawValue
            let prepared = try Self.prepare(document, source: source, namespace: options.namespace, contentHash: hash, bytes: bytes.count,
                                            metadata: docMetadata, chunking: options.chunking, encoder: encoder,
                                            knownChunk: { try record.embedding(forContentHash: $0) },
                                            knownSentence: { try record.sentenceEmbedding(forContentHash: $0) })
            guard !prepared.document.chunks.isEmpty else { throw SkipReason(path: path, reason: "no text to index") }
            report.embedded += prepared.embedded
            report.reusedEmbeddings += prepared.reused
            report.sentences += prepared.sentences
            report.sentencesEmbedded += prepared.sentencesEmbedded
            let receipt = try record.write(prepared.document)
            report.seq = max(report.seq, receipt.seq)
            if existing == nil { report.added += 1 } else { report.replaced += 1 }
            report.chunks += prepared.document.chunks.count
        }
    }

    /// A document made ready for the store: its chunks, each distinct chunk and sentence embedded once
    /// (`knownChunk` / `knownSentence` return a stored vector for a content hash, to reuse), its metadata
    /// on every chunk. It touches no store, so the server prepares outside its writer; `index` and the
    /// server's add both come through here.
    public static func prepare(_ document: ExtractedDocument, source: String, namespace: String, contentHash: String, bytes: Int,
                               metadata: [String: String], chunking: ChunkingOptions, encoder: any TextEmbedder,
                               knownChunk: (String) throws -> [Float]? = { _ in nil },
                               knownSentence: (String) throws -> [Float]? = { _ in nil }) throws -> PreparedDocument {
        let chunks = Chunker.chunk(document, options: chunking, countTokens: encoder.tokenCount)
        let hashes = chunks.map { SHA256.hex($0.text) }
        var vectors: [String: [Float]] = [:]
        var toEmbed: [(hash: String, text: String)] = []
        var queued = Set<String>()  // a set, not a scan of toEmbed: files can have thousands of chunks
        var reused = 0
        for (chunk, h) in zip(chunks, hashes) where vectors[h] == nil && !queued.contains(h) {
            if let stored = try knownChunk(h) {
                vectors[h] = stored
                reused += 1
            } else {
                toEmbed.append((h, chunk.text))
                queued.insert(h)
            }
        }
        for (item, v) in zip(toEmbed, try encoder.embed(toEmbed.map(\.text))) { vectors[item.hash] = v }
        // A one-sentence chunk's sentence vector is its chunk vector.
        let sentences = try embedSentences(of: chunks.map(\.text), encoder: encoder) { h in try vectors[h] ?? knownSentence(h) }
        let newChunks = zip(zip(chunks, hashes), sentences.rows).compactMap { pair, rows -> NewChunk? in
            let (chunk, h) = pair
            guard let v = vectors[h] else { return nil }
            return NewChunk(text: chunk.text, byteRange: chunk.byteRange, metadata: metadata.merging(chunk.metadata) { doc, _ in doc },
                            contentHash: h, embedding: v, sentences: rows)
        }
        return PreparedDocument(
            document: NewDocument(source: source, namespace: namespace, format: document.format.rawValue, contentHash: contentHash,
                                  bytes: bytes, metadata: metadata, chunks: newChunks),
            embedded: toEmbed.count, reused: reused, sentences: sentences.rows.reduce(0) { $0 + $1.count },
            sentencesEmbedded: sentences.embedded)
    }

    // MARK: - Sentences

    /// Every sentence of each text (`SentenceSplitter`) with its vector: a vector `known` returns for the
    /// sentence's content hash is reused, each other distinct sentence is embedded once.
    public static func embedSentences(of texts: [String], encoder: any TextEmbedder, known: (String) throws -> [Float]?) throws
        -> (rows: [[NewSentence]], embedded: Int) {
        let split = texts.map { text -> [(range: Range<Int>, text: String, hash: String)] in
            let bytes = Array(text.utf8)
            return SentenceSplitter.byteRanges(text).map { r in
                let sentence = String(decoding: bytes[r], as: UTF8.self)
                return (r, sentence, SHA256.hex(sentence))
            }
        }
        var vectors: [String: [Float]] = [:]
        var toEmbed: [(hash: String, text: String)] = []
        var queued = Set<String>()
        for s in split.joined() where vectors[s.hash] == nil && !queued.contains(s.hash) {
            if let v = try known(s.hash) { vectors[s.hash] = v } else { toEmbed.append((s.hash, s.text)); queued.insert(s.hash) }
        }
        for (item, v) in zip(toEmbed, try encoder.embed(toEmbed.map(\.text))) { vectors[item.hash] = v }
        let rows = split.map { sentences in
            sentences.compactMap { s in vectors[s.hash].map { NewSentence(byteRange: s.range, contentHash: s.hash, embedding: $0) } }
        }
        return (rows, toEmbed.count)
    }

    /// Fills in the sentence vectors of chunks stored before the store had them (schema 1), so that an
    /// older store gains the `sentences` context mode without re-indexing; returns the chunks done.
    @discardableResult
    public func fillInSentences(progress: ((Int) -> Void)? = nil) throws -> Int {
        guard store.isWritable, store.hasSentenceTable else { return 0 }
        var done = 0
        while true {
            let batch = try store.chunksWithoutSentences(limit: 256)
            if batch.isEmpty { return done }
            let rows = try Self.embedSentences(of: batch.map(\.text), encoder: encoder) { try store.sentenceEmbedding(forContentHash: $0) }.rows
            try store.addSentences(zip(batch, rows).map { ($0.id, $1) })
            done += batch.count
            progress?(done)
        }
    }

    /// The sentences of each hit's chunk with their vectors, in order: stored ones, or (a chunk stored
    /// without them, in a store this process cannot write) split and embedded now.
    public func sentences(of hits: [QueryHit]) throws -> [[StoredSentence]] {
        let stored = try store.sentences(ofChunks: hits.map(\.chunk.id))
        let missing = hits.filter { stored[$0.chunk.id] == nil }
        var computed: [Int64: [StoredSentence]] = [:]
        if !missing.isEmpty {
            let rows = try Self.embedSentences(of: missing.map(\.chunk.text), encoder: encoder) { try store.sentenceEmbedding(forContentHash: $0) }.rows
            for (hit, sentences) in zip(missing, rows) {
                let bytes = Array(hit.chunk.text.utf8)
                computed[hit.chunk.id] = sentences.enumerated().map { i, s in
                    StoredSentence(ordinal: i, text: String(decoding: bytes[s.byteRange], as: UTF8.self), embedding: s.embedding)
                }
            }
            if store.isWritable, store.hasSentenceTable { try store.addSentences(zip(missing, rows).map { ($0.chunk.id, $1) }) }
        }
        return hits.map { stored[$0.chunk.id] ?? computed[$0.chunk.id] ?? [] }
    }

    // MARK: - Query

    /// The stored sentence vectors of `hits` (SQLite's copy, the source of truth), in order: what a
    /// projector turns into soft tokens.
    public func storedVectors(of hits: [QueryHit]) throws -> [[Float]] {
        try hits.map { hit in
            guard let v = try store.embedding(ofChunk: hit.chunk.id) else { throw StoreError(.notFound, "chunk \(hit.chunk.id) has no stored vector") }
            return v
        }
    }

    public func query(_ text: String, k: Int = 5, mode: QueryMode = .hybrid, filter: SearchFilter = SearchFilter()) throws -> [QueryHit] {
        guard k > 0 else { return [] }
        let ranked: [(chunk: StoredChunk, score: Float)]
        switch mode {
        case .dense:
            ranked = try store.searchDense(try encoder.embed([text])[0], k: k, filter: filter)
        case .bm25:
            ranked = try store.searchBM25(text, k: k, filter: filter)
        case .hybrid:
            let depth = max(50, 4 * k)
            let dense = try store.searchDense(try encoder.embed([text])[0], k: depth, filter: filter)
            let sparse = try store.searchBM25(text, k: depth, filter: filter)
            ranked = Self.reciprocalRankFusion([dense.map(\.chunk), sparse.map(\.chunk)], k: k)
        }
        return ranked.enumerated().map { QueryHit(rank: $0.offset + 1, score: $0.element.score, chunk: $0.element.chunk) }
    }

    /// RRF (Cormack et al., 2009): score = Σ 1 / (60 + rank) over the lists a chunk appears in.
    static func reciprocalRankFusion(_ lists: [[StoredChunk]], k: Int) -> [(chunk: StoredChunk, score: Float)] {
        var scores: [Int64: Float] = [:]
        var chunks: [Int64: StoredChunk] = [:]
        for list in lists {
            for (rank, chunk) in list.enumerated() {
                scores[chunk.id, default: 0] += 1 / Float(60 + rank + 1)
                chunks[chunk.id] = chunk
            }
        }
        return scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(k).compactMap { id, score in chunks[id].map { ($0, score) } }
    }
}
