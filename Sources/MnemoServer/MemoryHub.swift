import Foundation
import MnemoCore
import MnemoIngest
import MnemoModels
import MnemoPostgres
import MnemoStore

/// What adding a text did.
public struct AddedDocument: Sendable, Codable, Equatable {
    public var source: String
    public var namespace: String
    public var chunkIDs: [Int64]
    /// False when the same source already held exactly this text (nothing was written).
    public var changed: Bool
    /// A shared store's change-log position of this write (0 for the embedded store): a read on another
    /// node that passes it as `min_seq` sees the write.
    public var seq: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case source, namespace, changed, seq
        case chunkIDs = "chunk_ids"
    }
}

/// A search request, validated.
public struct MemorySearch: Sendable {
    public var query: String
    public var k: Int
    public var mode: QueryMode
    public var namespace: String?
    public var conditions: [(key: String, value: String)]
    /// Read only once this node has applied the shared store's change `minSeq` (read-your-writes across nodes).
    public var minSeq: Int64?

    public init(query: String, k: Int = 5, mode: QueryMode = .hybrid, namespace: String? = nil, conditions: [(key: String, value: String)] = [],
                minSeq: Int64? = nil) {
        self.query = query
        self.k = k
        self.mode = mode
        self.namespace = namespace
        self.conditions = conditions
        self.minSeq = minSeq
    }
}

/// The store as the servers share it: one writer, so writes are serialised on a serial queue, and a pool of
/// readers, so searches run concurrently (each reader is its own SQLite connection and in-memory FAISS
/// copy, brought up to date from SQLite before each search). Embedding runs outside the writer, so a slow
/// embed never holds up a delete.
///
/// The writer (and with it the store's cross-process write lock) is opened by the first write and closed,
/// its FAISS file saved, once no write has come for `flushDelay`: between bursts of writes another mnemo
/// process (`mnemo index`) can take the lock. A write that finds the lock held waits up to `lockTimeout`,
/// then fails with a `StoreError(.locked)` (503 at the HTTP edge).
///
/// Over a shared store (PostgreSQL) the readers read this node's replica directory, the writer writes to
/// the database and stays open, and the record's follower keeps the replica up to date.
public final class MemoryHub: Sendable {
    public let directory: String
    /// The shared record, when the store is one (nil for the embedded store).
    public let shared: SharedStore?
    public let encoder: SentenceEncoder
    public let limits: Limits

    public struct Limits: Sendable {
        /// Concurrent searches (reader connections).
        public var readers = 4
        /// Concurrent embedding jobs (each uses every matrix thread already).
        public var embedders = 2
        /// Characters in one added text.
        public var maxTextCharacters = 1_000_000
        /// Characters in one search query (BM25 turns every word into a term).
        public var maxQueryCharacters = 10_000
        /// Results one search may ask for.
        public var maxK = 100
        /// Metadata conditions (`where` keys) in one search: each is a clause of the SQL filter.
        public var maxConditions = 32
        /// Characters in one metadata key or value of a search's conditions.
        public var maxConditionCharacters = 1_000
        /// Seconds after the last write before the FAISS file is saved and the write lock released.
        public var flushDelay = 1.0
        /// Seconds a write waits for the store's write lock held by another process.
        public var lockTimeout = 10.0
        public init() {}
    }

    /// Touched only on `writeQueue`.
    private let writer = Confined(WriterSlot())
    private let writeQueue = DispatchQueue(label: "mnemo.memory.writer")
    private let readQueue = DispatchQueue(label: "mnemo.memory.readers", attributes: .concurrent)
    private let idleReaders: Locked<[Confined<MemoryService>]>
    private let readerSlots: AsyncSemaphore
    private let embedSlots: AsyncSemaphore

    /// The open writer, if any, and when it last wrote.
    private final class WriterSlot {
        var service: MemoryService?
        var lastWrite = DispatchTime.now()
        var releaseScheduled = false
    }

    /// Opens (creating if needed) the store in `directory` for writing, and `limits.readers` readers.
    public convenience init(directory: String, encoder: SentenceEncoder, limits: Limits = Limits()) throws {
        try self.init(directory: directory, shared: nil, encoder: encoder, limits: limits)
    }

    /// Serves a shared store: `shared` follows the database's log into its replica directory.
    public convenience init(shared: SharedStore, encoder: SentenceEncoder, limits: Limits = Limits()) throws {
        try self.init(directory: shared.directory, shared: shared, encoder: encoder, limits: limits)
        let service = try MemoryService(record: shared, encoder: encoder)
        writer.value.service = service
    }

    private init(directory: String, shared: SharedStore?, encoder: SentenceEncoder, limits: Limits) throws {
        self.directory = directory
        self.shared = shared
        self.encoder = encoder
        self.limits = limits
        // Create the store if there is none; the lock is released again at once.
        if shared == nil, !FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("manifest.json")) {
            _ = try MemoryService(storeDirectory: directory, encoder: encoder, access: .write(createWith: .flat),
                                  lockTimeout: limits.lockTimeout)
        }
        let readers = try (0..<max(1, limits.readers)).map { _ in
            Confined(try MemoryService(storeDirectory: directory, encoder: encoder, access: .read))
        }
        idleReaders = Locked(readers)
        readerSlots = AsyncSemaphore(readers.count)
        embedSlots = AsyncSemaphore(limits.embedders)
    }

    // MARK: - Reads (concurrent)

    private func withReader<T: Sendable>(_ body: @escaping @Sendable (MemoryService) throws -> T) async throws -> T {
        try await readerSlots.withPermit {
            let reader = self.idleReaders.withLock { $0.popLast() }
            guard let reader else { throw APIError(.internalServerError, "no idle store reader", code: "internal_error") }
            defer { self.idleReaders.withLock { $0.append(reader) } }
            return try await offload(self.readQueue) { try body(reader.value) }
        }
    }

    /// Words: the token count of a caller without a model.
    @Sendable public static func words(_ text: String) -> Int { text.split(separator: " ").count }

    public func search(_ request: MemorySearch) async throws -> [MemoryHit] {
        let (query, filter) = try validated(request)
        let (k, mode) = (request.k, request.mode)
        try await waitUntilApplied(request.minSeq)
        return try await withReader { service in try service.query(query, k: k, mode: mode, filter: filter).map(MemoryHit.init) }
    }

    /// Waits, off the event loop, until this node's replica holds change `seq` of the shared store (a
    /// `.behind` error after 5 s); nil or 0 returns at once. On the embedded store a positive `seq` is a 422.
    public func waitUntilApplied(_ seq: Int64?) async throws {
        guard let seq, seq > 0 else { return }
        guard let shared else {
            throw APIError.invalid("min_seq", "'min_seq' applies to a shared (PostgreSQL) store; this server's store is embedded.")
        }
        guard seq > shared.appliedSeq else { return }
        try await offload(readQueue) { try shared.waitUntilApplied(seq, timeout: 5) }
    }

    /// The shared store's state for `/health` (nil for the embedded store).
    public var sharedHealth: SharedStoreHealth? { shared?.health }

    /// The notes `mnemo ask` reads for `question` with `options` (MnemoCore's `AskService.notes`, on a
    /// reader connection), counted in the answering model's tokens by `countTokens`.
    public func askNotes(_ question: String, options: AskOptions, countTokens: @escaping @Sendable (String) -> Int) async throws -> AskNotes {
        _ = try validated(MemorySearch(query: options.query ?? question, k: options.k, mode: options.mode, namespace: options.namespace,
                                       conditions: options.metadata.map { ($0.key, $0.value) }))
        return try await withReader { service in
            try AskService.notes(for: question.trimmingCharacters(in: .whitespacesAndNewlines), options: options, memory: service,
                                 projector: nil, countTokens: countTokens)
        }
    }

    /// A search request's query and filter, within the limits.
    private func validated(_ request: MemorySearch) throws -> (query: String, filter: SearchFilter) {
        let query = request.query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !query.isEmpty else { throw APIError.invalid("query", "'query' must not be empty.") }
        guard query.count <= limits.maxQueryCharacters else {
            throw APIError.invalid("query", "'query' has \(query.count) characters; the limit is \(limits.maxQueryCharacters).")
        }
        guard (1...limits.maxK).contains(request.k) else { throw APIError.invalid("k", "'k' must be between 1 and \(limits.maxK).") }
        guard request.conditions.count <= limits.maxConditions else {
            throw APIError.invalid("where", "'where' has \(request.conditions.count) keys; the limit is \(limits.maxConditions).")
        }
        if let long = request.conditions.first(where: { $0.0.count > limits.maxConditionCharacters || $0.1.count > limits.maxConditionCharacters }) {
            throw APIError.invalid("where", "'where' key '\(long.0.prefix(40))' or its value is longer than \(limits.maxConditionCharacters) characters.")
        }
        return (query, SearchFilter(namespace: request.namespace, metadata: request.conditions))
    }

    /// A page of the stored documents, newest first.
    public func documents(namespace: String?, offset: Int, limit: Int) async throws -> (total: Int, documents: [StoredDocument]) {
        guard offset >= 0 else { throw APIError.invalid("offset", "'offset' must be ≥ 0.") }
        guard (1...limits.maxK * 10).contains(limit) else { throw APIError.invalid("limit", "'limit' must be between 1 and \(limits.maxK * 10).") }
        return try await withReader { try $0.store.documents(namespace: namespace, offset: offset, limit: limit) }
    }

    /// A document's chunks in order.
    public func chunks(source: String, namespace: String) async throws -> [StoredChunk] {
        guard !source.isEmpty else { throw APIError.invalid("source", "'source' must not be empty.") }
        return try await withReader { try $0.store.chunks(ofSource: source, namespace: namespace) }
    }

    public func stats() async throws -> StoreStats {
        try await withReader { try $0.store.stats() }
    }

    /// Sentence vectors for `texts` (the embeddings endpoint), with their token counts.
    public func embed(_ texts: [String]) async throws -> (vectors: [[Float]], tokens: Int) {
        let encoder = self.encoder
        return try await embedSlots.withPermit {
            try await offload(self.readQueue) {
                let tokenized = texts.map(encoder.tokenizer.encode)
                return (try encoder.embed(tokenized: tokenized), tokenized.reduce(0) { $0 + $1.count })
            }
        }
    }

    // MARK: - Writes (serialised)

    /// Runs `body` with the writer, opening it (taking the write lock) if it is closed.
    private func write<T: Sendable>(_ body: @escaping @Sendable (MemoryService) throws -> T) async throws -> T {
        try await offload(writeQueue) { [self] in
            let slot = writer.value
            let service: MemoryService
            if let open = slot.service {
                service = open
            } else {
                service = try MemoryService(storeDirectory: directory, encoder: encoder, access: .write(createWith: .flat),
                                            lockTimeout: limits.lockTimeout)
                slot.service = service
            }
            defer {
                slot.lastWrite = .now()
                scheduleRelease()
            }
            return try body(service)
        }
    }

    /// Adds `text` as a document: chunked like an ingested file, embedded, and stored under `source`
    /// (default: `memory:` and the text's SHA-256, so adding the same text twice stores it once),
    /// replacing an earlier text of that source.
    public func add(text: String, source: String? = nil, namespace: String = "default", metadata: [String: String] = [:]) async throws -> AddedDocument {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.invalid("text", "'text' must not be empty.")
        }
        guard text.count <= limits.maxTextCharacters else {
            throw APIError.invalid("text", "'text' has \(text.count) characters; the limit is \(limits.maxTextCharacters).")
        }
        let hash = SHA256.hex(text)
        let source = source ?? "memory:\(hash.prefix(16))"
        let bytes = text.utf8.count
        let document = ExtractedDocument(source: source, format: .text,
                                         segments: [ExtractedSegment(text: text, byteRange: 0..<bytes, textOffset: 0)])
        return try await add(document, source: source, namespace: namespace, contentHash: hash, bytes: bytes, metadata: metadata, field: "text")
    }

    /// Adds an uploaded file of a format `mnemo index` reads (by the extension of `name`), read as
    /// `mnemo index` reads it, stored under `name`. A file it would skip is a 422 naming the reason.
    public func add(file data: Data, name: String, namespace: String = "default", metadata: [String: String] = [:]) async throws -> AddedDocument {
        let base = (name as NSString).lastPathComponent
        guard !base.isEmpty, base != ".", base != "..", !name.contains("\0") else { throw APIError.invalid("name", "'name' must be a file name.") }
        guard DocumentFormat(path: base) != nil else {
            throw APIError.invalid("name", "'\(base)': unsupported file type; supported: \(DocumentFormat.supportedExtensions).")
        }
        // DocumentReader reads files (a PDF through pdftotext): the upload goes to a private directory of its
        // own, then away, on the reader queue rather than on the server's event loop.
        let document = try await offload(readQueue) { () throws -> ExtractedDocument in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-upload-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent(base).path
            guard FileManager.default.createFile(atPath: path, contents: data) else {
                throw APIError(.internalServerError, "could not keep the upload", code: "internal_error")
            }
            do {
                return try DocumentReader.read(path: path).document
            } catch let skip as SkipReason {
                throw APIError(.unprocessableContent, "'\(base)' cannot be indexed: \(skip.reason).", param: "file", code: "unreadable_file")
            }
        }
        var docMetadata = metadata
        docMetadata["format"] = document.format.rawValue
        return try await add(document, source: name, namespace: namespace, contentHash: SHA256.hex(data), bytes: data.count,
                             metadata: docMetadata, field: "file")
    }

    /// Chunks and embeds `document` as `mnemo index` does (MemoryService.prepare), outside the writer, then
    /// stores it under `source`, replacing an earlier version; the same content again changes nothing.
    private func add(_ document: ExtractedDocument, source: String, namespace: String, contentHash hash: String, bytes: Int,
                     metadata: [String: String], field: String) async throws -> AddedDocument {
        guard !namespace.isEmpty else { throw APIError.invalid("namespace", "'namespace' must not be empty.") }
        guard !source.isEmpty else { throw APIError.invalid("source", "'source' must not be empty.") }
        let encoder = self.encoder
        var docMetadata = metadata
        docMetadata["format"] = docMetadata["format"] ?? "text"
        let prepared = try await embedSlots.withPermit { [docMetadata] in
            try await offload(self.readQueue) {
                try MemoryService.prepare(document, source: source, namespace: namespace, contentHash: hash, bytes: bytes,
                                          metadata: docMetadata, chunking: IndexOptions().chunking, encoder: encoder)
            }
        }
        guard !prepared.document.chunks.isEmpty else { throw APIError.invalid(field, "'\(field)' has no indexable text.") }
        let newDocument = prepared.document
        return try await write { service in
            let record = service.record
            if let existing = try record.document(source: source, namespace: namespace), existing.contentHash == hash {
                let ids = try record.chunkIDs(ofDocument: existing.id)
                return AddedDocument(source: source, namespace: namespace, chunkIDs: ids, changed: false, seq: record.appliedSeq)
            }
            let receipt = try record.write(newDocument)
            return AddedDocument(source: source, namespace: namespace, chunkIDs: receipt.chunkIDs, changed: true, seq: receipt.seq)
        }
    }

    /// Deletes every chunk of `source` (in `namespace`, or in all): how many chunks went, and the change's `seq`.
    public func delete(source: String, namespace: String? = nil) async throws -> WriteReceipt {
        guard !source.isEmpty else { throw APIError.invalid("source", "'source' must not be empty.") }
        return try await write { try $0.record.remove(source: source, namespace: namespace) }
    }

    /// Deletes one chunk (`removed` 0 if there was none with that id).
    public func delete(chunkID: Int64) async throws -> WriteReceipt {
        try await write { try $0.record.remove(chunkID: chunkID) }
    }

    /// On `writeQueue`: closes the writer (saving the FAISS file, releasing the lock) once it has been idle
    /// for `flushDelay`.
    private func scheduleRelease() {
        let slot = writer.value
        // A shared store's writer stays open: its follower keeps the replica and no other process needs its lock.
        guard shared == nil, !slot.releaseScheduled, slot.service != nil else { return }
        slot.releaseScheduled = true
        writeQueue.asyncAfter(deadline: slot.lastWrite + limits.flushDelay) { [self] in
            let slot = writer.value
            slot.releaseScheduled = false
            guard slot.service != nil else { return }
            if DispatchTime.now() < slot.lastWrite + limits.flushDelay {
                scheduleRelease()  // written since: wait again
            } else {
                releaseWriter()
            }
        }
    }

    /// On `writeQueue`: saves the FAISS file and closes the writer.
    private func releaseWriter() {
        let slot = writer.value
        guard let service = slot.service else { return }
        try? service.record.flush()
        slot.service = nil
    }

    /// Whether this hub holds the store's write lock now (a write within the last `flushDelay`).
    public var holdsWriteLock: Bool {
        get async { (try? await offload(writeQueue) { [writer] in writer.value.service != nil }) ?? false }
    }

    /// Saves the FAISS file and releases the write lock now (on shutdown).
    public func close() async {
        _ = try? await offload(writeQueue) { [self] in releaseWriter() }
        shared?.close()
    }
}
