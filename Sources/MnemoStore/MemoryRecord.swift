import Foundation

/// What a write did: the chunks it stored (a write) or how many it removed (a delete), and where it stands
/// in the record's change log (`seq`; 0 for the embedded store, which keeps no log). A read that passes `seq` as its
/// `min_seq` sees this write on any node.
public struct WriteReceipt: Sendable, Equatable {
    public var chunkIDs: [Int64]
    public var removed: Int
    public var seq: Int64

    public init(chunkIDs: [Int64] = [], removed: Int = 0, seq: Int64 = 0) {
        self.chunkIDs = chunkIDs
        self.removed = removed
        self.seq = seq
    }
}

/// The storage seam: where a store's writes become durable. Searches always read a `MemoryStore`
/// directory; the record decides what a write goes through.
///
/// - The embedded store (`MemoryStore`) is its own record: writes go to its SQLite file.
/// - A shared record (MnemoPostgres) writes to PostgreSQL, and this node's replica, a `MemoryStore`
///   directory, follows the database's change log.
///
/// Code outside MnemoStore and MnemoPostgres reaches the stored data only through this protocol and
/// `MemoryStore`'s methods, never in SQL.
public protocol MemoryRecord: AnyObject {
    /// The directory searches read: the store itself, or this node's replica of a shared record.
    var directory: String { get }
    /// What the store was made with (encoder, dimension, index kind).
    var manifest: StoreManifest { get }
    /// The store as users name it: a directory, or a URL without its password.
    var address: String { get }
    /// False for the embedded store; true where other nodes write too.
    var isShared: Bool { get }

    /// The stored document for a source, if any: (id, content hash).
    func document(source: String, namespace: String) throws -> (id: Int64, contentHash: String)?
    /// The chunk ids of a document, in order.
    func chunkIDs(ofDocument id: Int64) throws -> [Int64]
    /// Another document in the namespace with exactly this content, if any (its source).
    func duplicate(ofContentHash hash: String, namespace: String, except source: String) throws -> String?
    /// A stored vector for identical chunk text, so it is never computed twice (on any node).
    func embedding(forContentHash hash: String) throws -> [Float]?
    /// A stored vector for identical sentence text.
    func sentenceEmbedding(forContentHash hash: String) throws -> [Float]?

    /// Stores a document and its chunks atomically, replacing an earlier version of the same source.
    func write(_ document: NewDocument) throws -> WriteReceipt
    /// Deletes every chunk of a source (in `namespace`, or in every namespace).
    func remove(source: String, namespace: String?) throws -> WriteReceipt
    /// Deletes one chunk (`removed` is 0 when there was none with that id).
    func remove(chunkID: Int64) throws -> WriteReceipt
    /// Runs `body` holding `source`'s write lock (across nodes for a shared record): two nodes ingesting the
    /// same file at once embed it once, the second finding the first's document unchanged.
    func withSourceLock<T>(source: String, namespace: String, _ body: () throws -> T) throws -> T
    /// Saves derived files (the FAISS index) of the directory searches read.
    func flush() throws
    /// The change-log position this node's directory reflects (0 for the embedded store).
    var appliedSeq: Int64 { get }
    /// Waits until the directory searches read reflects change `seq`, or fails with `.behind` after `timeout`.
    func waitUntilApplied(_ seq: Int64, timeout: TimeInterval) throws
}

extension MemoryStore: MemoryRecord {
    public var address: String { directory }
    public var isShared: Bool { false }
    public var appliedSeq: Int64 { 0 }

    public func write(_ document: NewDocument) throws -> WriteReceipt {
        WriteReceipt(chunkIDs: try upsert(document))
    }

    public func remove(source: String, namespace: String?) throws -> WriteReceipt {
        WriteReceipt(removed: try delete(source: source, namespace: namespace))
    }

    public func remove(chunkID: Int64) throws -> WriteReceipt {
        WriteReceipt(removed: try delete(chunkID: chunkID) ? 1 : 0)
    }

    /// One writer holds the whole store's lock already.
    public func withSourceLock<T>(source: String, namespace: String, _ body: () throws -> T) throws -> T { try body() }

    public func waitUntilApplied(_ seq: Int64, timeout: TimeInterval) throws {
        guard seq <= 0 else {
            throw StoreError(.badInput, "\(directory): min_seq \(seq) asks for a shared store's change; this is an embedded store (its writes have no sequence numbers)")
        }
    }
}
