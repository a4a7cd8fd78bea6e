import Foundation
import Testing

@Suite(.tags(.realModel), .needsModels) struct EncoderCLITests {
    @Test func embedJSONRealModel() throws {
        let r = try mnemo(["embed", "--json", "The cat sits on the mat.", "A feline is resting on a rug."])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["model"] as? String == "all-MiniLM-L6-v2")
        #expect(json["dim"] as? Int == 384)
        let vectors = try #require(json["embeddings"] as? [[Double]])
        #expect(vectors.count == 2 && vectors.allSatisfy { $0.count == 384 })
        let dot = zip(vectors[0], vectors[1]).map(*).reduce(0, +)
        #expect(abs(dot - 0.57349) < 1e-4)
    }

    @Test func embedFileKeepsOrderAndSkipsEmptyLinesRealModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("in.txt")
        try "first line\n\n   \nsecond line\r\nthird\n".write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try #require(try mnemo(["embed", "--json", "--file", file.path]).json?["embeddings"] as? [[Double]])
        let direct = try #require(try mnemo(["embed", "--json", "first line", "second line", "third"]).json?["embeddings"] as? [[Double]])
        #expect(fromFile.count == 3)
        for (a, b) in zip(fromFile, direct) { #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 }) }
        let piped = try #require(try mnemo(["embed", "--json", "--file", "-"], stdin: Data("third\n".utf8)).json?["embeddings"] as? [[Double]])
        #expect(zip(piped[0], direct[2]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func tokenizeJSONRealModel() throws {
        let r = try mnemo(["tokenize", "--json", "Hello, world! Unbelievable."])
        #expect(r.status == 0, "\(r.stderr)")
        let entries = try #require(r.json?["tokens"] as? [[String: Any]])
        #expect(entries.first?["ids"] as? [Int] == [101, 7592, 1010, 2088, 999, 23653, 1012, 102])
    }

    @Test func nonUTF8FileIsAClearError() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: file)  // "café" in Latin-1
        let r = try mnemo(["embed", "--file", file.path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("latin1.txt") && r.stderr.contains("not valid UTF-8"), "\(r.stderr)")
    }

    @Test func missingModelIsAClearError() throws {
        let r = try mnemo(["embed", "hello"], environment: ["MNEMO_MODELS": "/nonexistent/models"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("all-MiniLM-L6-v2") && r.stderr.contains("make setup"), "\(r.stderr)")
        let missingFile = try mnemo(["embed", "--file", "/nonexistent/in.txt"])
        #expect(missingFile.status != 0 && missingFile.stderr.contains("/nonexistent/in.txt"))
    }

    @Test func helpHasExamples() throws {
        for command in ["embed", "tokenize"] {
            let r = try mnemo([command, "--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("Examples:"), "\(command) --help lacks examples")
        }
    }

    @Test func tokenizeGGUFVocabularyRealModel() throws {
        let r = try mnemo(["tokenize", "--json", "--model", "qwen-0.5b", "<|im_start|>user\nhi<|im_end|>"])
        #expect(r.status == 0, "\(r.stderr)")
        let entry = try #require((r.json?["tokens"] as? [[String: Any]])?.first)
        let ids = try #require(entry["ids"] as? [Int])
        #expect(ids.first == 151644 && ids.last == 151645)  // <|im_start|> … <|im_end|> as control tokens
        #expect((entry["tokens"] as? [String])?.joined() == "<|im_start|>user\nhi<|im_end|>")
    }
}
