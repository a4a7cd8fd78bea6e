import Foundation
import Testing

/// The ingest and query path end to end through the CLI, on the real encoder.
@Suite(.tags(.realModel), .needsModels) struct StoreCLITests {
    func write(_ text: String, _ name: String, in dir: URL) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func sources(_ r: CLIResult) -> [String] {
        (r.json?["results"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
    }

    @Test func reindexDeduplicateReplaceDeleteRealModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ["--store", dir.appendingPathComponent("store").path]
        let a = try write("The lighthouse keeper logged the storm on 3 May. Waves reached the lamp room.\n", "a.txt", in: dir)

        var r = try mnemo(["index", a.path, "--json"] + store)
        #expect(r.json?["added"] as? Int == 1 && r.json?["embedded"] as? Int == 1, "\(r.stdout)\(r.stderr)")

        r = try mnemo(["index", a.path, "--json"] + store)  // unchanged: nothing embedded again
        #expect(r.json?["unchanged"] as? Int == 1 && r.json?["embedded"] as? Int == 0, "\(r.stdout)")

        let copy = dir.appendingPathComponent("copy.txt")
        try FileManager.default.copyItem(at: a, to: copy)  // same content under another name
        r = try mnemo(["index", copy.path, "--json"] + store)
        let skipped = r.json?["skipped"] as? [[String: Any]] ?? []
        #expect((skipped.first?["reason"] as? String)?.contains("deduplicated") == true, "\(r.stdout)")

        // A changed file replaces its chunks; the unchanged sentence's vector is reused.
        try "The lighthouse keeper logged the storm on 3 May. Waves reached the lamp room.\n\nA new paragraph about gannets diving offshore.\n"
            .write(to: a, atomically: true, encoding: .utf8)
        r = try mnemo(["index", a.path, "--json", "--chunk-tokens", "16", "--overlap", "0"] + store)
        #expect(r.json?["replaced"] as? Int == 1, "\(r.stdout)")
        #expect((r.json?["reused_embeddings"] as? Int ?? 0) >= 1, "\(r.stdout)")
        r = try mnemo(["query", "gannets", "--mode", "bm25", "--json"] + store)
        #expect(sources(r) == [a.standardizedFileURL.path])
        // Printed for people, a source below the current directory is relative to it; --json keeps it whole.
        let here = try runToEnd(mnemoBinary.path, ["query", "gannets", "--mode", "bm25"] + store, directory: dir)
        #expect(here.stdout.contains("  a.txt [bytes") && !here.stdout.contains(a.standardizedFileURL.path), "\(here.stdout)")
        let elsewhere = try runToEnd(mnemoBinary.path, ["query", "gannets", "--mode", "bm25"] + store, directory: try temporaryDirectory())
        #expect(elsewhere.stdout.contains(a.standardizedFileURL.path), "\(elsewhere.stdout)")

        let stats = try mnemo(["stats", "--json"] + store).json
        #expect(stats?["documents"] as? Int == 1)
        #expect(stats?["chunks"] as? Int == stats?["vectors_in_index"] as? Int)

        // Delete one chunk by id, then the whole source.
        let id = try #require((r.json?["results"] as? [[String: Any]])?.first?["chunk_id"] as? Int)
        #expect(try mnemo(["delete", "--id", "\(id)"] + store).status == 0)
        #expect(sources(try mnemo(["query", "gannets", "--mode", "bm25", "--json"] + store)).isEmpty)
        #expect(try mnemo(["delete", "--source", a.path] + store).status == 0)
        #expect(sources(try mnemo(["query", "lighthouse storm", "--mode", "dense", "--json"] + store)).isEmpty)
        #expect(try mnemo(["delete", "--source", a.path] + store).status != 0)  // nothing left to delete
    }

    @Test func namespacesMetadataFiltersAndModesRealModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ["--store", dir.appendingPathComponent("store").path]
        let work = try write("Quarterly budget review: hosting costs capped at 400 euros per month.\n", "work.md", in: dir)
        let home = try write("The boiler was serviced in March; the hosting of the family party is in June.\n", "home.txt", in: dir)
        #expect(try mnemo(["index", work.path, "--namespace", "work", "--meta", "team=ops"] + store).status == 0)
        #expect(try mnemo(["index", home.path, "--namespace", "home"] + store).status == 0)

        for mode in ["dense", "bm25", "hybrid"] {
            let all = sources(try mnemo(["query", "hosting costs", "--mode", mode, "--json"] + store))
            #expect(Set(all) == [work.standardizedFileURL.path, home.standardizedFileURL.path], "\(mode)")
            let onlyHome = sources(try mnemo(["query", "hosting costs", "--mode", mode, "--namespace", "home", "--json"] + store))
            #expect(onlyHome == [home.standardizedFileURL.path], "\(mode)")
            let onlyOps = sources(try mnemo(["query", "hosting", "--mode", mode, "--where", "team=ops", "--json"] + store))
            #expect(onlyOps == [work.standardizedFileURL.path], "\(mode)")
        }
        let rows = try #require(try mnemo(["query", "boiler", "--mode", "bm25", "-k", "1", "--json"] + store).json?["results"] as? [[String: Any]])
        let row = try #require(rows.first)
        for key in ["rank", "score", "chunk_id", "source", "start_byte", "end_byte", "text"] { #expect(row[key] != nil, "\(key)") }
        let bad = try mnemo(["query", "x", "--where", "novalue"] + store)
        #expect(bad.status != 0 && bad.stderr.contains("KEY=VALUE"))
    }

    @Test func rebuildSwitchesIndexKindRealModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ["--store", dir.appendingPathComponent("store").path]
        let a = try write("Sourdough needs a lively starter and a hot oven.\n", "a.txt", in: dir)
        #expect(try mnemo(["index", a.path] + store).status == 0)
        for kind in ["hnsw", "ivf-pq", "flat"] {
            let r = try mnemo(["rebuild", "--kind", kind] + store)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try mnemo(["stats", "--json"] + store).json?["index_kind"] as? String == kind)
            #expect(sources(try mnemo(["query", "bread starter", "--mode", "dense", "--json"] + store)) == [a.standardizedFileURL.path])
        }
    }

    @Test func evalRetrievalOnATinySquadFileRealModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let squad: [String: Any] = ["data": [["title": "T", "paragraphs": [
            ["context": "The Normans were a people in Normandy in the 10th century.", "qas": [
                ["id": "1", "question": "Where were the Normans?", "answers": [["text": "Normandy", "answer_start": 31]], "is_impossible": false]]],
            ["context": "Computational complexity theory classifies problems by difficulty.", "qas": [
                ["id": "2", "question": "What does complexity theory classify?", "answers": [["text": "problems", "answer_start": 43]], "is_impossible": false],
                ["id": "3", "question": "Unanswerable?", "answers": [], "is_impossible": true]]],
        ]]]]
        let file = dir.appendingPathComponent("squad.json")
        try JSONSerialization.data(withJSONObject: squad).write(to: file)
        let r = try mnemo(["eval", "retrieval", "--squad", file.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let results = try #require(r.json?["results"] as? [[String: Any]])
        #expect(results.count == 3)
        for row in results {
            #expect(row["questions"] as? Int == 2)  // the unanswerable one is left out
            #expect(row["hit@1"] as? Double == 1.0, "\(row)")
        }
        let bad = try mnemo(["eval", "retrieval", "--squad", dir.path + "/missing.json"])
        #expect(bad.status != 0 && bad.stderr.contains("missing.json"))
    }
}
