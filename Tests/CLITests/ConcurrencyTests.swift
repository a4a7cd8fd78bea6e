import Foundation
import Testing

@Suite(.tags(.realModel), .needsModels) struct ConcurrencyTests {
    /// Readers never see "locked"/"busy" and only ever see committed sources while a writer ingests;
    /// a second writer waits for the first and then succeeds; after the ingest, the last file is found.
    @Test func queriesDuringIngestRealModel() throws {
        let testStart = Date()
        defer { print(String(format: "queriesDuringIngestRealModel: %.1f s", Date().timeIntervalSince(testStart))) }
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let docsDir = root.appendingPathComponent("docs")
        let logs = root.appendingPathComponent("logs")
        let store = root.appendingPathComponent("store")
        let database = store.appendingPathComponent("mnemo.sqlite")
        try FileManager.default.createDirectory(at: docsDir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let storeArgs = ["--store", store.path]

        // About 40 files of a few paragraphs each (two to three chunks apiece), so the ingest lasts a while.
        var rng = SeededGenerator(seed: 4242)
        let words = ("river stone garden lantern copper meadow violin harbor pepper window thunder candle orchard silver "
            + "puzzle marble rocket basket forest ladder kettle pillow saddle tunnel anchor blanket compass feather").split(separator: " ")
        var markers: [String] = []
        var sources: Set<String> = []
        for i in 0..<40 {
            var sentences: [String] = []
            for _ in 0..<22 {
                let s = (0..<14).map { _ in String(words.randomElement(using: &rng)!) }.joined(separator: " ")
                sentences.append(s.prefix(1).uppercased() + s.dropFirst() + ".")
            }
            let marker = "glimmerquat\(100 + i)"
            markers.append(marker)
            sentences.insert("The inventory lists \(marker) next to the spare parts.", at: sentences.count / 2)
            let url = docsDir.appendingPathComponent(String(format: "doc%02d.txt", i))
            try sentences.joined(separator: " ").appending("\n").write(to: url, atomically: true, encoding: .utf8)
            sources.insert(url.standardizedFileURL.path)
        }
        let committed = root.appendingPathComponent("committed.txt")
        try "The committed note says that the blue ferry leaves at seven from pier zanquillo.\n".write(to: committed, atomically: true, encoding: .utf8)
        let late = root.appendingPathComponent("late.txt")
        try "A late addition about the orange kayak stored behind shed plovtrimmer.\n".write(to: late, atomically: true, encoding: .utf8)
        sources.insert(committed.standardizedFileURL.path)
        sources.insert(late.standardizedFileURL.path)  // committed by the second writer, once the first is done

        let first = try mnemo(["index", committed.path, "--json"] + storeArgs)
        try #require(first.status == 0, "\(first.stderr)")

        let ingest = try BackgroundMnemo(["index", docsDir.path, "--json"] + storeArgs, logs: logs)
        var second: BackgroundMnemo?
        var queries: [BackgroundMnemo] = []
        var duringIngest = 0
        var round = 0
        let queryTexts = ["spare parts inventory", "zanquillo", "copper lantern in the garden", "thunder over the harbor"]
        let modes = ["hybrid", "dense", "bm25"]
        while (ingest.isRunning || queries.count < 15) && queries.count < 200 {
            round += 1
            let width = round % 3 == 0 ? 2 : 1
            let running = ingest.isRunning
            let batch = try (0..<width).map { k in
                try BackgroundMnemo(["query", queryTexts[(round + k) % queryTexts.count], "--mode", modes[(round + k) % modes.count],
                                     "-k", "10", "--json"] + storeArgs, logs: logs)
            }
            for q in batch { q.wait() }
            if running { duringIngest += batch.count }
            queries += batch
            // A second writer on the same store, started once the first is well into its ingest.
            if round == 3 && second == nil {
                second = try BackgroundMnemo(["index", late.path, "--json"] + storeArgs, logs: logs)
            }
        }
        ingest.wait()
        let secondWriter = try #require(second)
        secondWriter.wait()
        print(String(format: "queriesDuringIngestRealModel: ingest %.1f s, %d queries (%d started while it ran), second writer finished %.1f s after the first",
                     ingest.seconds, queries.count, duringIngest,
                     (secondWriter.endedAt ?? Date()).timeIntervalSince(ingest.endedAt ?? Date())))

        #expect(ingest.exitedCleanly, "\(ingest.summary)")
        #expect(ingest.json?["added"] as? Int == 40, "\(ingest.stdout)")
        #expect(queries.count >= 15)
        #expect(duringIngest >= 15, "only \(duringIngest) queries ran while the ingest did (it took \(ingest.seconds) s)")

        var seenIDs: Set<Int> = []
        for q in queries {
            #expect(q.exitedCleanly, "\(q.summary)")
            let err = q.stderr.lowercased()
            #expect(!err.contains("locked") && !err.contains("busy"), "\(q.summary)")
            guard let rows = queryRows(q.json) else {
                Issue.record("no JSON results: \(q.summary)\nstdout: \(q.stdout.prefix(500))")
                continue
            }
            for row in rows {
                let source = row["source"] as? String ?? ""
                let known = sources.contains(source)
                #expect(known, "a query returned unknown source \(source)")
                if let id = row["chunk_id"] as? Int { seenIDs.insert(id) }
            }
            // The committed note is visible to every reader, before, during and after the ingest.
            if q.arguments[1] == "zanquillo" && q.arguments[3] != "dense" {
                #expect(rows.first?["source"] as? String == committed.standardizedFileURL.path, "\(q.summary)\nstdout: \(q.stdout.prefix(500))")
            }
        }

        // The second writer waited for the lock, then added its file.
        #expect(secondWriter.exitedCleanly, "\(secondWriter.summary)")
        #expect(secondWriter.json?["added"] as? Int == 1, "\(secondWriter.stdout)")
        if let end1 = ingest.endedAt, let end2 = secondWriter.endedAt {
            #expect(end2 >= end1, "the second writer finished before the first: it cannot have waited for the lock")
        }

        // Nothing was deleted, so every chunk a reader saw still exists.
        let chunkIDs = Set(try sqliteLines(database, "SELECT id FROM chunks").compactMap { Int($0) })
        #expect(seenIDs.isSubset(of: chunkIDs), "readers saw chunks not in SQLite: \(seenIDs.subtracting(chunkIDs).sorted())")

        // The last file of the walk is found, by keywords and by the dense index (which holds every chunk).
        let lastSource = docsDir.appendingPathComponent("doc39.txt").standardizedFileURL.path
        let bm25 = try mnemo(["query", markers[39], "--mode", "bm25", "--json"] + storeArgs)
        #expect(bm25.status == 0, "\(bm25.stderr)")
        #expect(queryRows(bm25.json)?.first?["source"] as? String == lastSource, "\(bm25.stdout)")
        let dense = try mnemo(["query", "spare parts", "--mode", "dense", "-k", "1000", "--json"] + storeArgs)
        let denseRows = queryRows(dense.json) ?? []
        #expect(Set(denseRows.compactMap { $0["chunk_id"] as? Int }) == chunkIDs, "dense search does not cover SQLite's chunks: \(dense.stderr)")
        #expect(denseRows.contains { $0["source"] as? String == lastSource })
        let lateFound = try mnemo(["query", "plovtrimmer", "--mode", "bm25", "--json"] + storeArgs)
        #expect(queryRows(lateFound.json)?.first?["source"] as? String == late.standardizedFileURL.path, "\(lateFound.stdout)")

        let stats = try #require(try mnemo(["stats", "--json"] + storeArgs).json)
        #expect(stats["documents"] as? Int == 42, "\(stats)")
        #expect(stats["vectors_in_index"] as? Int == stats["chunks"] as? Int, "\(stats)")
    }

    /// A reader that opens a store while its first writer is creating it must not make the writer
    /// fail, and must either read the store or say there is none yet (the manifest is written only
    /// after the schema). The moment is held open deterministically: an empty WAL database exists and
    /// the test holds SQLite's write lock while a writer and a reader start, then lets go.
    @Test func readerDuringStoreCreationRealModel() throws {
        let testStart = Date()
        defer { print(String(format: "readerDuringStoreCreationRealModel: %.1f s", Date().timeIntervalSince(testStart))) }
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let logs = root.appendingPathComponent("logs")
        let store = root.appendingPathComponent("store")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        let note = root.appendingPathComponent("note.txt")
        try "The very first note in a new store mentions the quernwhistle.\n".write(to: note, atomically: true, encoding: .utf8)
        let database = store.appendingPathComponent("mnemo.sqlite").path

        func sqlite(_ sql: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["sqlite3", database, sql]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            try #require(p.terminationStatus == 0, "sqlite3 \(sql)")
        }
        try sqlite("PRAGMA journal_mode = WAL;")

        // Hold the write lock until both mnemo processes have opened the database and are waiting for it.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["sqlite3", database]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        input.fileHandleForWriting.write(Data("BEGIN IMMEDIATE;\nSELECT 'held';\n".utf8))
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("held") {
            let chunk = output.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "sqlite3 ended before taking the lock")
            seen.append(chunk)
        }
        let storeArgs = ["--store", store.path]
        let writer = try BackgroundMnemo(["index", note.path, "--json"] + storeArgs, logs: logs)
        let reader = try BackgroundMnemo(["query", "quernwhistle", "--mode", "bm25", "--json"] + storeArgs, logs: logs)
        Thread.sleep(forTimeInterval: 4)  // both load the encoder, open the store and wait (SQLite busy timeout: 10 s)
        #expect(writer.isRunning, "the writer did not wait for the lock: \(writer.summary)")
        input.fileHandleForWriting.write(Data("COMMIT;\n".utf8))
        try input.fileHandleForWriting.close()
        holder.waitUntilExit()
        writer.wait()
        reader.wait()

        #expect(writer.exitedCleanly, "\(writer.summary)")
        #expect(writer.json?["added"] as? Int == 1, "\(writer.stdout)")
        #expect(reader.exitedCleanly || reader.stderr.contains("no Mnemo store here"), "\(reader.summary)")
        #expect(!(writer.stderr + reader.stderr).contains("already exists"), "\(writer.summary)\n\(reader.summary)")
        let after = try mnemo(["query", "quernwhistle", "--mode", "bm25", "--json"] + storeArgs)
        #expect(queryRows(after.json)?.first?["source"] as? String == note.standardizedFileURL.path, "\(after.stdout)\(after.stderr)")
    }
}
