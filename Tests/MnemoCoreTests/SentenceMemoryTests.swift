import Foundation
import MnemoModels
@testable import MnemoStore
import Testing
@testable import MnemoCore

/// Sentence vectors with the real encoder (all-MiniLM-L6-v2): stored at ingest, reused by content,
/// computed on demand for a store that lacks them, and filled in when an older store is next indexed.
@Suite(.serialized, .tags(.realModel), .needsModels) struct SentenceMemoryTests {
    static let encoder = Result { try SentenceEncoder(directory: ModelLocator.resolve(ModelLocator.defaultEncoder)) }

    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-sentences-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func sentenceVectorsAreStoredReusedAndFilledIn_realModel() throws {
        let encoder = try Self.encoder.get()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let docs = dir.appendingPathComponent("docs"), storeDir = dir.appendingPathComponent("store").path
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        let a = "The boiler was serviced by Dunmore Heating in March. The next service is due in March 2026. The spare key is under the blue pot."
        let b = "The spare key is under the blue pot. The boiler was serviced by Dunmore Heating in March. The shed roof leaks."
        try a.write(to: docs.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)

        var chunkCount = 0
        do {
            let memory = try MemoryService(storeDirectory: storeDir, encoder: encoder, access: .write(createWith: .flat))
            let first = try memory.index(paths: [docs.path], options: IndexOptions())
            #expect(first.sentences == 3 && first.sentencesEmbedded == 3)
            // A second file sharing two sentences embeds only its new one.
            try b.write(to: docs.appendingPathComponent("b.txt"), atomically: true, encoding: .utf8)
            let second = try memory.index(paths: [docs.path], options: IndexOptions())
            #expect(second.sentences == 3 && second.sentencesEmbedded == 1, "\(second)")

            let hits = try memory.query("Who serviced the boiler?", k: 2, mode: .hybrid)
            let sentences = try memory.sentences(of: hits)
            #expect(sentences.allSatisfy { !$0.isEmpty })
            for s in sentences.joined() {
                #expect(cosine(s.embedding, try encoder.embed([s.text])[0]) > 0.9999, "\(s.text)")
            }
            #expect(sentences.joined().map(\.text).contains("The shed roof leaks."))
            chunkCount = try memory.store.chunkCount()
            // Back to schema 1: the store as an earlier mnemo left it.
            try memory.store.db.execute("DROP TABLE sentences; PRAGMA user_version = 1;")
        }
        do {
            // A reader cannot migrate: it splits and embeds the hits' sentences itself.
            let reader = try MemoryService(storeDirectory: storeDir, encoder: encoder, access: .read)
            #expect(!reader.store.hasSentenceTable)
            let hits = try reader.query("Where is the spare key?", k: 1, mode: .hybrid)
            let computed = try #require(try reader.sentences(of: hits).first)
            #expect(computed.map(\.text).contains("The spare key is under the blue pot."))
        }
        // The next writer migrates; the next index fills in every chunk, and nothing is lost.
        let writer = try MemoryService(storeDirectory: storeDir, encoder: encoder, access: .write(createWith: .flat))
        #expect(writer.store.hasSentenceTable)
        #expect(try writer.store.chunkCount() == chunkCount)
        let report = try writer.index(paths: [docs.path], options: IndexOptions())
        #expect(report.chunksMigrated == chunkCount && report.unchanged == 2)
        #expect(try writer.store.chunksWithoutSentences(limit: 10).isEmpty)
        let hits = try writer.query("When is the next service due?", k: 1, mode: .dense)
        #expect(hits.first?.chunk.source.hasSuffix("a.txt") == true)
        #expect(try writer.store.sentences(ofChunks: hits.map(\.chunk.id)).first?.value.count == 3)
    }
}
