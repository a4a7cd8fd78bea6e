import Foundation
import Testing
@testable import MnemoStore

/// Store behaviour on small synthetic vectors (the real encoder is exercised by the CLI tests).
@Suite struct MemoryStoreTests {
    static let dim = 8

    func tempDir() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// A unit vector pointing mostly along axis `i`.
    func vector(_ i: Int, jitter: Float = 0) -> [Float] {
        var v = [Float](repeating: jitter, count: Self.dim)
        v[i % Self.dim] = 1
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }

    func doc(_ source: String, _ texts: [String], axis: Int, namespace: String = "default", meta: [String: String] = [:]) -> NewDocument {
        NewDocument(source: source, namespace: namespace, format: "text", contentHash: "h-\(source)-\(texts.joined())",
                    bytes: 10, metadata: meta,
                    chunks: texts.enumerated().map { i, t in
                        NewChunk(text: t, byteRange: (i * 10)..<(i * 10 + 10), metadata: meta, contentHash: "c-\(t)",
                                 embedding: vector(axis + i, jitter: 0.01 * Float(i)))
                    })
    }

    func open(_ dir: String, kind: IndexKind = .flat, readOnly: Bool = false) throws -> MemoryStore {
        try MemoryStore(directory: dir, encoder: "test-encoder", dimension: Self.dim, access: readOnly ? .read : .write(createWith: kind))
    }

    @Test(arguments: IndexKind.allCases)
    func addSearchDeleteReopen(kind: IndexKind) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store: MemoryStore? = try open(dir, kind: kind)
        try store!.upsert(doc("/a.txt", ["alpha apples"], axis: 0))
        try store!.upsert(doc("/b.txt", ["bravo bananas", "bravo berries"], axis: 2))
        try store!.flush()

        let top = try store!.searchDense(vector(2), k: 1)
        #expect(top.first?.chunk.source == "/b.txt")
        #expect(try store!.searchBM25("apples", k: 5).map(\.chunk.source) == ["/a.txt"])

        #expect(try store!.delete(source: "/b.txt") == 2)
        try store!.flush()
        #expect(try store!.searchDense(vector(2), k: 5).allSatisfy { $0.chunk.source != "/b.txt" })
        store = nil

        let reopened = try open(dir, kind: kind, readOnly: true)
        let all = try reopened.searchDense(vector(2), k: 10)
        #expect(all.map(\.chunk.source) == ["/a.txt"])
        #expect(try reopened.stats().chunks == 1)
    }

    /// A non-finite vector is refused with the document's name, and the version already stored stays.
    @Test func nonFiniteVectorsAreRefusedAndNothingIsLost() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try open(dir)
        try store.upsert(doc("/a.txt", ["kept text"], axis: 1))
        for bad in [Float.nan, .infinity] {
            var replacement = doc("/a.txt", ["broken text"], axis: 3)
            replacement.chunks[0].embedding[2] = bad
            let e = #expect(throws: StoreError.self) { try store.upsert(replacement) }
            #expect(e?.message.contains("/a.txt") == true && e?.message.contains("not finite") == true, "\(e?.message ?? "")")
        }
        #expect(try store.searchDense(vector(1), k: 5).map(\.chunk.text) == ["kept text"])
        let chunk = try #require(try store.searchDense(vector(1), k: 1).first?.chunk.id)
        let e = #expect(throws: StoreError.self) {
            try store.addSentences([(chunk, [NewSentence(byteRange: 0..<4, contentHash: "s", embedding: [Float](repeating: .nan, count: Self.dim))])])
        }
        #expect(e?.message.contains("not finite") == true)
    }

    @Test func replacingADocumentReplacesItsChunks() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try open(dir)
        try store.upsert(doc("/a.txt", ["old one", "old two"], axis: 0))
        try store.upsert(doc("/a.txt", ["new"], axis: 4))
        #expect(try store.chunkCount() == 1)
        #expect(try store.searchDense(vector(0), k: 5).map(\.chunk.text) == ["new"])
        #expect(try store.searchBM25("old", k: 5).isEmpty)
    }

    @Test func filtersByNamespaceAndMetadata() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try open(dir)
        try store.upsert(doc("/w.txt", ["shared words"], axis: 1, namespace: "work", meta: ["team": "red"]))
        try store.upsert(doc("/h.txt", ["shared words too"], axis: 1, namespace: "home", meta: ["team": "blue"]))
        #expect(try store.searchDense(vector(1), k: 5, filter: SearchFilter(namespace: "home")).map(\.chunk.source) == ["/h.txt"])
        #expect(try store.searchBM25("shared", k: 5, filter: SearchFilter(metadata: [("team", "red")])).map(\.chunk.source) == ["/w.txt"])
        #expect(throws: StoreError.self) { try store.searchBM25("x", k: 1, filter: SearchFilter(metadata: [("bad\"key", "v")])) }
    }

    @Test func bm25AcceptsAnyText() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try open(dir)
        try store.upsert(doc("/a.txt", ["quoted \"text\" AND NOT near"], axis: 0))
        for hostile in ["\"", "AND", "NEAR(", "a*", "-x", "col:value", "((", ""] {
            _ = try store.searchBM25(hostile, k: 3)
        }
        #expect(try store.searchBM25("quoted", k: 3).count == 1)
    }

    @Test func unsavedIndexIsRepairedFromSQLiteOnOpen() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try open(dir)
            try store.upsert(doc("/a.txt", ["saved"], axis: 0))
            try store.flush()
            try store.upsert(doc("/b.txt", ["committed but not flushed"], axis: 3))
            try store.delete(source: "/a.txt")
            // dropped without flush: as if the process died after the SQLite commits
        }
        let reader = try open(dir, readOnly: true)
        #expect(try reader.searchDense(vector(3), k: 5).map(\.chunk.source) == ["/b.txt"])
        let writer = try open(dir)  // a writer saves the repaired index
        #expect(try writer.stats().vectorsInIndex == 1)
    }

    @Test func missingOrCorruptIndexFileIsRebuilt() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try open(dir)
            try store.upsert(doc("/a.txt", ["one"], axis: 5))
            try store.flush()
        }
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".faiss") })
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir).appendingPathComponent(file))
        #expect(try open(dir, readOnly: true).searchDense(vector(5), k: 1).first?.chunk.source == "/a.txt")
        try FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(file))
        #expect(try open(dir).searchDense(vector(5), k: 1).first?.chunk.source == "/a.txt")
    }

    @Test func anotherEncoderIsRefused() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try open(dir)
        let error = #expect(throws: StoreError.self) {
            try MemoryStore(directory: dir, encoder: "other-encoder", dimension: 16, access: .read)
        }
        #expect(error?.code == .incompatible)
        #expect(error?.message.contains("test-encoder") == true && error?.message.contains("other-encoder") == true)
    }

    @Test func readerNeedsAStore() throws {
        let error = #expect(throws: StoreError.self) {
            try MemoryStore(directory: "/nonexistent/store", encoder: "e", dimension: 8, access: .read)
        }
        #expect(error?.code == .notFound)
    }

    @Test func hnswTombstonesAreFilteredAndCompactedByRebuild() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try open(dir, kind: .hnsw)
        for i in 0..<6 { try store.upsert(doc("/d\(i).txt", ["doc \(i)"], axis: i)) }
        try store.delete(source: "/d2.txt")
        #expect(try store.stats().tombstones == 1)
        #expect(try store.searchDense(vector(2), k: 6).allSatisfy { $0.chunk.source != "/d2.txt" })
        try store.rebuild()
        #expect(try store.stats().tombstones == 0)
        #expect(try store.stats().vectorsInIndex == 5)
    }

    @Test func ivfPQTrainsOnceThereAreEnoughVectors() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dim = 16
        let store = try MemoryStore(directory: dir, encoder: "e", dimension: dim, access: .write(createWith: .ivfPQ))
        var rng = SystemRandomNumberGenerator()
        func randomUnit() -> [Float] {
            let v = (0..<dim).map { _ in Float.random(in: -1...1, using: &rng) }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / n }
        }
        var chunks: [NewChunk] = []
        for i in 0..<VectorIndex.Layout.minimumTrainingCount {
            chunks.append(NewChunk(text: "c\(i)", byteRange: 0..<1, metadata: [:], contentHash: "\(i)", embedding: randomUnit()))
        }
        try store.upsert(NewDocument(source: "/big", namespace: "default", format: "text", contentHash: "big", bytes: 1, metadata: [:], chunks: chunks))
        #expect(try store.stats().indexLayout == "flat")  // exact until trained
        try store.flush()
        #expect(try store.stats().indexLayout == "ivfpq")
        // Re-ranking with the stored vectors makes a vector's own chunk its best match.
        let probe = chunks[123]
        #expect(try store.searchDense(probe.embedding, k: 1).first?.chunk.text == "c123")
        try store.delete(chunkID: try store.searchDense(probe.embedding, k: 1)[0].chunk.id)
        #expect(try store.searchDense(probe.embedding, k: 3).allSatisfy { $0.chunk.text != "c123" })
    }
}
