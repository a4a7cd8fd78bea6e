import CFaiss
import Foundation

/// A FAISS index over chunk ids (always wrapped in IDMap2, so external ids are chunk ids and can be
/// listed). Not thread-safe: one owner at a time.
final class VectorIndex {
    /// The FAISS layout in use; ivf-pq stores begin flat until there are enough vectors to train.
    enum Layout: String {
        case flat, hnsw, ivfpq

        func factory(dimension: Int, count: Int) -> String {
            switch self {
            case .flat: "IDMap2,Flat"
            case .hnsw: "IDMap2,HNSW32"
            case .ivfpq: "IDMap2,IVF\(Self.lists(for: count)),PQ\(Self.subquantizers(for: dimension))np"
            }
        }

        /// √n lists (FAISS's rule of thumb), at least 16 and at most 4096.
        static func lists(for count: Int) -> Int { min(4096, max(16, Int(Double(count).squareRoot()))) }
        /// 8 dimensions per 8-bit sub-quantizer: 384 → 48 bytes per vector. ("np": no polysemous
        /// training, which FAISS otherwise runs by default and which took 400 s for 10k vectors here.)
        static func subquantizers(for dimension: Int) -> Int {
            var m = max(1, dimension / 8)
            while dimension % m != 0 { m -= 1 }
            return m
        }
        /// Whether FAISS removes this layout's vectors correctly; the others keep tombstones. Only Flat:
        /// HNSW in FAISS 1.7.3 has no remove_ids, and IDMap2 over IVF-PQ removes the vectors but not
        /// their sequence numbers inside the IVF lists while it compacts its own id list, so every later
        /// search maps hits to the wrong chunk and the next removal fails FAISS's `j == index->ntotal`
        /// assertion, which aborts the process (found by the SIGKILL fault tests).
        var removesVectors: Bool { self == .flat }

        /// IVF-PQ needs enough points to train: FAISS asks for 39 per centroid, and each PQ
        /// sub-quantizer has 256 centroids (9,984 points).
        static let minimumTrainingCount = 10_000
    }

    let handle: OpaquePointer
    let dimension: Int
    let layout: Layout

    private init(handle: OpaquePointer, dimension: Int, layout: Layout) {
        self.handle = handle
        self.dimension = dimension
        self.layout = layout
        configureSearch()
    }

    deinit { faiss_Index_free(handle) }

    static func check(_ rc: Int32, _ what: String) throws {
        guard rc == 0 else { throw StoreError(.index, "FAISS \(what): \(String(cString: faiss_get_last_error()))") }
    }

    static func create(layout: Layout, dimension: Int, count: Int) throws -> VectorIndex {
        var index: OpaquePointer?
        try check(faiss_index_factory(&index, Int32(dimension), layout.factory(dimension: dimension, count: count), METRIC_INNER_PRODUCT),
                  "create \(layout.rawValue)")
        guard let index else { throw StoreError(.index, "FAISS returned no index") }
        return VectorIndex(handle: index, dimension: dimension, layout: layout)
    }

    static func read(path: String, layout: Layout, dimension: Int) throws -> VectorIndex {
        var index: OpaquePointer?
        let rc = faiss_read_index_fname(path, 0, &index)
        guard rc == 0, let index else {
            throw StoreError(.corrupt, "\(path): cannot read the FAISS index (\(String(cString: faiss_get_last_error())))")
        }
        guard Int(faiss_Index_d(index)) == dimension else {
            faiss_Index_free(index)
            throw StoreError(.corrupt, "\(path): FAISS index has dimension \(faiss_Index_d(index)), the store \(dimension)")
        }
        return VectorIndex(handle: index, dimension: dimension, layout: layout)
    }

    private func configureSearch() {
        switch layout {
        case .flat: break
        case .hnsw: _ = mnemo_faiss_set_hnsw_ef_search(handle, 96)
        case .ivfpq: _ = mnemo_faiss_set_nprobe(handle, 64)
        }
    }

    var count: Int { Int(faiss_Index_ntotal(handle)) }
    var isTrained: Bool { faiss_Index_is_trained(handle) != 0 }

    func train(_ vectors: [Float]) throws {
        try Self.check(faiss_Index_train(handle, Int64(vectors.count / dimension), vectors), "train")
    }

    func add(_ vectors: [Float], ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        precondition(vectors.count == ids.count * dimension)
        try Self.check(faiss_Index_add_with_ids(handle, Int64(ids.count), vectors, ids), "add")
    }

    /// Removes ids; false when this layout cannot (`Layout.removesVectors`) and the caller keeps
    /// tombstones instead.
    func remove(_ ids: [Int64]) throws -> Bool {
        guard !ids.isEmpty else { return true }
        guard layout.removesVectors else { return false }
        var selector: OpaquePointer?
        try Self.check(faiss_IDSelectorBatch_new(&selector, ids.count, ids), "id selector")
        defer { faiss_IDSelector_free(selector) }
        var removed = 0
        try Self.check(faiss_Index_remove_ids(handle, selector, &removed), "remove")
        return true
    }

    /// The `k` best (id, inner product) pairs; ids of -1 (fewer vectors than k) are dropped.
    func search(_ query: [Float], k: Int) throws -> [(id: Int64, score: Float)] {
        let k = min(k, count)
        guard k > 0 else { return [] }
        var scores = [Float](repeating: 0, count: k)
        var labels = [Int64](repeating: -1, count: k)
        try Self.check(faiss_Index_search(handle, 1, query, Int64(k), &scores, &labels), "search")
        return zip(labels, scores).compactMap { $0.0 >= 0 ? (id: $0.0, score: $0.1) : nil }
    }

    func ids() throws -> [Int64] {
        var n = 0
        try Self.check(mnemo_faiss_idmap_ids(handle, nil, 0, &n), "list ids")
        var ids = [Int64](repeating: 0, count: n)
        try Self.check(mnemo_faiss_idmap_ids(handle, &ids, n, &n), "list ids")
        return ids
    }

    /// Writes the index to `path` atomically (temporary file, fsync, rename, directory fsync).
    func write(to path: String) throws {
        let temporary = "\(path).tmp.\(getpid())"
        try Self.check(faiss_write_index_fname(handle, temporary), "write \(temporary)")
        try AtomicFile.commit(temporary, to: path)
    }
}

extension MemoryStore {
    /// Threads FAISS may use (OpenMP) for index builds and searches; 1 by default, so that it never competes
    /// with the encoder's and OpenBLAS's threads (see the CFaiss shim).
    public static func setIndexThreads(_ count: Int) { mnemo_faiss_set_omp_threads(Int32(max(1, count))) }
}
