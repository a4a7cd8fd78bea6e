import Foundation
import Testing
@testable import MnemoStore

/// Sentence rows (schema 2): stored with their chunk, gone with it, and an older store opened as it is.
@Suite struct SentenceStoreTests {
    let base = MemoryStoreTests()

    func chunk(_ text: String, sentences: [(Range<Int>, Int)]) -> NewChunk {
        NewChunk(text: text, byteRange: 0..<text.utf8.count, metadata: [:], contentHash: "c-\(text)", embedding: base.vector(0),
                 sentences: sentences.map { NewSentence(byteRange: $0.0, contentHash: "s-\($0.1)", embedding: base.vector($0.1)) })
    }

    @Test func sentencesAreStoredWithTheirChunkAndGoWithIt() throws {
        let dir = try base.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try base.open(dir)
        #expect(store.hasSentenceTable)
        let text = "Alpha is first. Beta is second."
        let ids = try store.upsert(NewDocument(source: "/a", namespace: "default", format: "text", contentHash: "a", bytes: 1, metadata: [:],
                                               chunks: [chunk(text, sentences: [(0..<15, 1), (16..<31, 2)])]))
        let stored = try #require(try store.sentences(ofChunks: ids)[ids[0]])
        #expect(stored.map(\.text) == ["Alpha is first.", "Beta is second."])
        #expect(stored.map(\.ordinal) == [0, 1])
        #expect(stored[1].embedding == base.vector(2))
        #expect(try store.sentenceEmbedding(forContentHash: "s-2") == base.vector(2))
        #expect(try store.chunksWithoutSentences(limit: 10).isEmpty)
        // Replacing the document replaces its sentences; deleting it deletes them (ON DELETE CASCADE).
        let newIDs = try store.upsert(NewDocument(source: "/a", namespace: "default", format: "text", contentHash: "a2", bytes: 1, metadata: [:],
                                                  chunks: [chunk("Gamma.", sentences: [(0..<6, 3)])]))
        #expect(try store.sentences(ofChunks: ids).isEmpty)
        #expect(try store.sentences(ofChunks: newIDs)[newIDs[0]]?.map(\.text) == ["Gamma."])
        #expect(try store.delete(source: "/a") == 1)
        #expect(try store.db.query("SELECT count(*) FROM sentences").first?.first?.int == 0)
    }

    @Test func offsetsOutsideTheChunkAreReportedAsCorrupt() throws {
        let dir = try base.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try base.open(dir)
        let ids = try store.upsert(NewDocument(source: "/a", namespace: "default", format: "text", contentHash: "a", bytes: 1, metadata: [:],
                                               chunks: [chunk("Short.", sentences: [(0..<60, 1)])]))
        #expect(throws: StoreError.self) { try store.sentences(ofChunks: ids) }
    }

    /// A store made before sentence vectors (schema 1) opens for reading as it is, and is migrated by
    /// the next writer with every chunk kept: its chunks are then listed for filling in.
    @Test func aSchemaOneStoreIsReadAsItIsAndMigratedByAWriter() throws {
        let dir = try base.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try base.open(dir)
            try store.upsert(base.doc("/a.txt", ["alpha apples", "apple pie"], axis: 0))
            try store.flush()
            // Back to schema 1: what a store written by an earlier mnemo holds.
            try store.db.execute("DROP TABLE sentences; PRAGMA user_version = 1;")
        }
        let reader = try base.open(dir, readOnly: true)
        #expect(!reader.hasSentenceTable)
        #expect(try reader.sentences(ofChunks: [1, 2]).isEmpty)
        #expect(try reader.searchBM25("apples", k: 5).count == 2)  // Porter stemming: "apple" too

        let writer = try base.open(dir)
        #expect(writer.hasSentenceTable)
        #expect(try writer.db.query("PRAGMA user_version").first?.first?.int == Int64(Schema.migrations.count))
        #expect(try writer.chunkCount() == 2)
        let missing = try writer.chunksWithoutSentences(limit: 10)
        #expect(missing.map(\.text) == ["alpha apples", "apple pie"])
        try writer.addSentences([(missing[0].id, [NewSentence(byteRange: 0..<12, contentHash: "s", embedding: base.vector(1))])])
        #expect(try writer.chunksWithoutSentences(limit: 10).map(\.text) == ["apple pie"])
        #expect(try writer.searchDense(base.vector(0), k: 5).count == 2)
    }
}
