// Smoke tests for the native libraries: the FAISS C shim, OpenBLAS and SQLite (with FTS5).

import CFaiss
import CKernels
import COpenBLAS
import CSQLite
import Foundation
import Testing

// MARK: - FAISS

/// Deterministic unit-norm vectors (a small LCG, so the tests need no random seed plumbing).
private func unitVectors(count: Int, dim: Int) -> [Float] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var out = [Float](repeating: 0, count: count * dim)
    for row in 0..<count {
        var norm: Float = 0
        for col in 0..<dim {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let value = Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
            out[row * dim + col] = value
            norm += value * value
        }
        let scale = 1 / max(norm.squareRoot(), 1e-6)
        for col in 0..<dim { out[row * dim + col] *= scale }
    }
    return out
}

private func lastError() -> String { String(cString: faiss_get_last_error()) }

private func makeIndex(_ description: String, dim: Int) throws -> OpaquePointer {
    var index: OpaquePointer?
    let rc = faiss_index_factory(&index, Int32(dim), description, METRIC_INNER_PRODUCT)
    #expect(rc == 0, "\(description): \(lastError())")
    return try #require(index)
}

/// Top-k labels and distances for the given query vectors.
private func search(_ index: OpaquePointer, _ queries: [Float], dim: Int, k: Int) -> (labels: [Int64], distances: [Float]) {
    let n = queries.count / dim
    var labels = [Int64](repeating: -2, count: n * k)
    var distances = [Float](repeating: .nan, count: n * k)
    let rc = faiss_Index_search(index, Int64(n), queries, Int64(k), &distances, &labels)
    #expect(rc == 0, "search: \(lastError())")
    return (labels, distances)
}

private func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("mnemo-native-\(UUID().uuidString)-\(name)").path
}

/// Writes `index` to a temp file, reads it back and checks the search results are identical.
private func roundTrip(_ index: OpaquePointer, queries: [Float], dim: Int, configure: (OpaquePointer) -> Void = { _ in }) throws {
    let path = tempPath("index.faiss")
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(faiss_write_index_fname(index, path) == 0, "write: \(lastError())")
    var loaded: OpaquePointer?
    #expect(faiss_read_index_fname(path, 0, &loaded) == 0, "read: \(lastError())")
    let copy = try #require(loaded)
    defer { faiss_Index_free(copy) }
    configure(copy)
    #expect(faiss_Index_ntotal(copy) == faiss_Index_ntotal(index))
    #expect(faiss_Index_d(copy) == faiss_Index_d(index))
    let before = search(index, queries, dim: dim, k: 3)
    let after = search(copy, queries, dim: dim, k: 3)
    #expect(before.labels == after.labels)
    #expect(before.distances == after.distances)
}

private func removeIDs(_ index: OpaquePointer, _ ids: [Int64]) throws -> (rc: Int32, removed: Int) {
    var selector: OpaquePointer?
    #expect(faiss_IDSelectorBatch_new(&selector, ids.count, ids) == 0, "\(lastError())")
    let sel = try #require(selector)
    defer { faiss_IDSelector_free(sel) }
    var removed = 0
    let rc = faiss_Index_remove_ids(index, sel, &removed)
    return (rc, removed)
}

@Suite struct FaissTests {
    let dim = 16
    let count = 256
    let vectors: [Float]
    /// Stored vectors 7 and 42 as queries: each is its own nearest neighbour.
    let queries: [Float]

    init() {
        vectors = unitVectors(count: count, dim: dim)
        queries = Array(vectors[7 * dim..<8 * dim] + vectors[42 * dim..<43 * dim])
    }

    @Test func flatWithIDMap2() throws {
        let index = try makeIndex("IDMap2,Flat", dim: dim)
        defer { faiss_Index_free(index) }
        #expect(faiss_Index_d(index) == Int32(dim))
        #expect(faiss_Index_is_trained(index) != 0)

        let ids = (0..<Int64(count)).map { 1000 + $0 }
        #expect(faiss_Index_add_with_ids(index, Int64(count), vectors, ids) == 0, "\(lastError())")
        #expect(faiss_Index_ntotal(index) == Int64(count))

        let hits = search(index, queries, dim: dim, k: 3)
        #expect(hits.labels[0] == 1007 && hits.labels[3] == 1042)
        #expect(abs(hits.distances[0] - 1) < 1e-4) // inner product of a unit vector with itself
        try roundTrip(index, queries: queries, dim: dim)

        let (rc, removed) = try removeIDs(index, [1007, 5])
        #expect(rc == 0, "\(lastError())")
        #expect(removed == 1)
        #expect(faiss_Index_ntotal(index) == Int64(count - 1))
        let after = search(index, queries, dim: dim, k: 3)
        #expect(!after.labels.contains(1007) && after.labels[3] == 1042)

        #expect(faiss_Index_reset(index) == 0)
        #expect(faiss_Index_ntotal(index) == 0)
    }

    @Test func hnsw() throws {
        let index = try makeIndex("HNSW32", dim: dim)
        defer { faiss_Index_free(index) }
        #expect(faiss_Index_add(index, Int64(count), vectors) == 0, "\(lastError())")
        #expect(mnemo_faiss_set_hnsw_ef_search(index, 64) == 0, "\(lastError())")

        let hits = search(index, queries, dim: dim, k: 3)
        #expect(hits.labels[0] == 7 && hits.labels[3] == 42)
        try roundTrip(index, queries: queries, dim: dim) { #expect(mnemo_faiss_set_hnsw_ef_search($0, 64) == 0) }

        // FAISS 1.7.3's HNSW cannot remove ids, nor take explicit ids: error codes, not crashes.
        let (rc, _) = try removeIDs(index, [7])
        #expect(rc != 0)
        #expect(!lastError().isEmpty)
        #expect(faiss_Index_ntotal(index) == Int64(count))
        let ids: [Int64] = [1]
        #expect(faiss_Index_add_with_ids(index, 1, vectors, ids) != 0)
        #expect(mnemo_faiss_set_nprobe(index, 4) != 0) // no such parameter on HNSW

        // Behind IDMap2 the knob still reaches the HNSW, and a failed removal leaves the map intact.
        let mapped = try makeIndex("IDMap2,HNSW32", dim: dim)
        defer { faiss_Index_free(mapped) }
        #expect(mnemo_faiss_set_hnsw_ef_search(mapped, 64) == 0, "\(lastError())")
        let mappedIDs = (0..<Int64(count)).map { 1000 + $0 }
        #expect(faiss_Index_add_with_ids(mapped, Int64(count), vectors, mappedIDs) == 0, "\(lastError())")
        #expect(try removeIDs(mapped, [1007]).rc != 0)
        #expect(faiss_Index_ntotal(mapped) == Int64(count))
        #expect(search(mapped, queries, dim: dim, k: 1).labels == [1007, 1042])
    }

    @Test func ivf() throws {
        let index = try makeIndex("IVF4,Flat", dim: dim)
        defer { faiss_Index_free(index) }
        #expect(faiss_Index_is_trained(index) == 0)
        #expect(faiss_Index_add(index, 1, vectors) != 0) // untrained: an error, not a crash
        #expect(!lastError().isEmpty)

        #expect(faiss_Index_train(index, Int64(count), vectors) == 0, "\(lastError())")
        #expect(faiss_Index_is_trained(index) != 0)
        let ids = (0..<Int64(count)).map { 1000 + $0 }
        #expect(faiss_Index_add_with_ids(index, Int64(count), vectors, ids) == 0, "\(lastError())")
        #expect(mnemo_faiss_set_nprobe(index, 4) == 0, "\(lastError())") // all lists: exact search

        let hits = search(index, queries, dim: dim, k: 3)
        #expect(hits.labels[0] == 1007 && hits.labels[3] == 1042)
        try roundTrip(index, queries: queries, dim: dim) { #expect(mnemo_faiss_set_nprobe($0, 4) == 0) }

        let (rc, removed) = try removeIDs(index, [1042])
        #expect(rc == 0 && removed == 1, "\(lastError())")
    }

    @Test func errorsAreReported() {
        var index: OpaquePointer?
        #expect(faiss_index_factory(&index, 8, "NoSuchIndex", METRIC_L2) != 0)
        #expect(index == nil)
        #expect(!lastError().isEmpty)

        var loaded: OpaquePointer?
        #expect(faiss_read_index_fname(tempPath("missing"), 0, &loaded) != 0)
        #expect(loaded == nil)
        #expect(faiss_Index_search(nil, 1, [0], 1, nil, nil) != 0) // NULLs are rejected
        mnemo_faiss_set_omp_threads(1) // the default; just checks the symbol links
    }
}

// MARK: - OpenBLAS

@Test func openBLASSgemm() {
    // [1 2 3; 4 5 6] x [7 8; 9 10; 11 12] = [58 64; 139 154]
    let a: [Float] = [1, 2, 3, 4, 5, 6]
    let b: [Float] = [7, 8, 9, 10, 11, 12]
    var c = [Float](repeating: 0, count: 4)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, &c, 2)
    #expect(c == [58, 64, 139, 154])

    let core = openblas_get_corename().map { String(cString: $0) } ?? ""
    #expect(!core.isEmpty)
}

/// Which OpenBLAS core type start-up asks for, given the CPU's features and OpenBLAS's own guess.
@Test func blasCoreChoiceFollowsTheCPUsInstructionSets() {
    func choice(_ features: Int, _ current: String) -> String? { mk_blas_core_for(UInt32(features), current).map { String(cString: $0) } }
    let avx2 = MK_CPU_SSE3 | MK_CPU_AVX | MK_CPU_AVX2 | MK_CPU_FMA | MK_CPU_F16C
    let avx512 = avx2 | MK_CPU_AVX512F | MK_CPU_AVX512BW | MK_CPU_AVX512DQ | MK_CPU_AVX512VL | MK_CPU_AVX512VNNI
    // An AVX-512 Xeon that OpenBLAS 0.3.21 does not know: it fell back to Prescott (measured 3-4x slower sgemm).
    #expect(choice(avx512, "Prescott") == "SkylakeX")
    #expect(choice(avx512 | MK_CPU_AVX512BF16, "Prescott") == "Cooperlake")
    #expect(choice(avx512, "Zen") == "SkylakeX")
    #expect(choice(avx2, "Prescott") == "Haswell")
    #expect(choice(avx2, "SandyBridge") == "Haswell")
    // Already matching the CPU: OpenBLAS's own choice stays.
    #expect(choice(avx512, "SkylakeX") == nil)
    #expect(choice(avx512 | MK_CPU_AVX512BF16, "cooperlake") == nil)
    #expect(choice(avx2, "Zen") == nil)
    #expect(choice(avx2, "Haswell") == nil)
    #expect(choice(MK_CPU_SSE3, "Prescott") == nil)
    // AVX-512 without BW/DQ/VL (Knights Landing) is not SkylakeX-class.
    #expect(choice(avx2 | MK_CPU_AVX512F, "Haswell") == nil)
}

/// On this host, the kernels in use after start-up use the widest instruction set the CPU offers
/// (unless OPENBLAS_CORETYPE without MNEMO_BLAS_CORE, or MNEMO_BLAS_CORE naming a core, said otherwise).
@Test func blasKernelsInUseMatchThisCPU() {
    let origin = String(cString: mk_blas_core_origin())
    let core = String(cString: mk_blas_core())
    let env = ProcessInfo.processInfo.environment
    if env["OPENBLAS_CORETYPE"] != nil && (env["MNEMO_BLAS_CORE"] ?? "").isEmpty {
        #expect(origin == "environment")
    } else if (env["MNEMO_BLAS_CORE"] ?? "auto").lowercased() == "auto" {
        #expect(mk_blas_core_for(mk_cpu_features(), core) == nil, "OpenBLAS runs \(core) (\(origin)) below this CPU's instruction sets")
        let detected = String(cString: mk_blas_detected_core())
        #expect(origin == (detected == core ? "openblas" : "mnemo"), "detected \(detected), in use \(core), origin \(origin)")
    }
}

// MARK: - SQLite

/// SQLITE_TRANSIENT is a C macro Swift cannot import: tells SQLite to copy bound values.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

@Test func sqliteWithFTS5() throws {
    let path = tempPath("test.sqlite")
    defer { try? FileManager.default.removeItem(atPath: path) }
    var handle: OpaquePointer?
    #expect(sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK)
    let db = try #require(handle)
    defer { sqlite3_close(db) }

    func exec(_ sql: String) {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        #expect(rc == SQLITE_OK, "\(sql): \(String(cString: sqlite3_errmsg(db)))")
    }
    /// Runs a query and returns the first column of each row as text.
    func column(_ sql: String, bind: String? = nil) throws -> [String] {
        var statement: OpaquePointer?
        #expect(sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        let stmt = try #require(statement)
        defer { sqlite3_finalize(stmt) }
        if let bind { sqlite3_bind_text(stmt, 1, bind, -1, sqliteTransient) }
        var rows: [String] = []
        while sqlite3_step(stmt) == SQLITE_ROW {
            rows.append(sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? "")
        }
        return rows
    }

    exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    var insert: OpaquePointer?
    #expect(sqlite3_prepare_v2(db, "INSERT INTO notes(body) VALUES (?)", -1, &insert, nil) == SQLITE_OK)
    let stmt = try #require(insert)
    for body in ["the quick brown fox", "a lazy dog sleeps", "foxes and hounds"] {
        sqlite3_bind_text(stmt, 1, body, -1, sqliteTransient)
        #expect(sqlite3_step(stmt) == SQLITE_DONE)
        sqlite3_reset(stmt)
    }
    sqlite3_finalize(stmt)
    #expect(try column("SELECT body FROM notes WHERE id = 2") == ["a lazy dog sleeps"])

    exec("CREATE VIRTUAL TABLE notes_fts USING fts5(body)")
    exec("INSERT INTO notes_fts(rowid, body) SELECT id, body FROM notes")
    #expect(try Set(column("SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?", bind: "fox*")) == ["1", "3"])
    #expect(try column("SELECT body FROM notes_fts WHERE notes_fts MATCH ?", bind: "lazy") == ["a lazy dog sleeps"])
}
