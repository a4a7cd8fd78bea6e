import Foundation

/// How vectors are searched. Chosen when a store is created; `mnemo rebuild --kind` changes it.
public enum IndexKind: String, Codable, Sendable, CaseIterable {
    /// Exact inner-product search over every vector.
    case flat
    /// FAISS HNSW graph (M = 32): approximate, fast; deletions are tombstones until a rebuild.
    case hnsw
    /// FAISS IVF with product quantization (48 × 8-bit codes): compact and approximate; candidates
    /// are re-ranked exactly with the vectors in SQLite. Stays exact (flat) until enough vectors exist
    /// to train it.
    case ivfPQ = "ivf-pq"
}

/// `manifest.json`: what a store was made with, so it is never read with an incompatible encoder.
public struct StoreManifest: Codable, Sendable, Equatable {
    public var format: Int
    public var encoder: String
    public var dimension: Int
    public var metric: String
    public var index: IndexKind
    public var createdAt: String

    public static let currentFormat = 1

    enum CodingKeys: String, CodingKey {
        case format, encoder, dimension, metric, index
        case createdAt = "created_at"
    }

    public init(encoder: String, dimension: Int, index: IndexKind) {
        format = Self.currentFormat
        self.encoder = encoder
        self.dimension = dimension
        metric = "inner_product"
        self.index = index
        createdAt = ISO8601DateFormatter().string(from: Date())
    }

    static func read(_ path: String) throws -> StoreManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.notFound, "\(path): cannot read the store manifest")
        }
        do { return try JSONDecoder().decode(StoreManifest.self, from: data) } catch {
            throw StoreError(.corrupt, "\(path): not a valid store manifest (\(error))")
        }
    }

    func write(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: path)
    }
}
