import Foundation
import Testing

/// `mnemo train-projector` and `mnemo eval qa` end to end with the real SmolLM2 and encoder.
@Suite(.serialized, .tags(.realModel), .needsModels) struct ProjectorCLITests {
    static let corpus = repositoryRoot.appendingPathComponent("Examples/corpus/lighthouses-history.txt").path

    func train(_ out: String, steps: Int, extra: [String] = []) throws -> CLIResult {
        try mnemo(["train-projector", "--model", "smollm2", "--data", Self.corpus, "--steps", String(steps), "--batch-size", "2",
                   "--max-passages", "6", "--checkpoint-every", "2", "--threads", "2", "--out", out, "--json"] + extra)
    }

    /// Training is deterministic, and a run resumed from its checkpoint ends where an uninterrupted one does.
    @Test func trainingIsDeterministicAndResumes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let straight = dir.appendingPathComponent("straight.safetensors").path
        let resumed = dir.appendingPathComponent("resumed.safetensors").path
        let a = try train(straight, steps: 3)
        #expect(a.status == 0, "\(a.stderr)")
        let report = try #require(a.json)
        #expect(report["steps"] as? Int == 3)
        #expect((report["target_tokens"] as? Int ?? 0) > 0)
        let b = try train(resumed, steps: 3, extra: ["--stop-after", "2"])
        #expect(b.status == 0, "\(b.stderr)")
        let c = try train(resumed, steps: 3, extra: ["--resume"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stderr.contains("resumed from"), "\(c.stderr)")
        let x = try Data(contentsOf: URL(fileURLWithPath: straight)), y = try Data(contentsOf: URL(fileURLWithPath: resumed))
        // Same weights; the manifests differ only in the recorded command line.
        #expect(x.suffix(100_000) == y.suffix(100_000))
        #expect(x.count > 1_000_000)
    }

    @Test func badTrainingInputIsRefusedClearly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("p.safetensors").path
        let noData = try mnemo(["train-projector", "--model", "smollm2", "--out", out])
        #expect(noData.status != 0 && noData.stderr.contains("--data"))
        let missing = try mnemo(["train-projector", "--model", "smollm2", "--data", "/nonexistent/dir", "--out", out])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/dir"), "\(missing.stderr)")
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data("not a projector".utf8).write(to: junk)
        let badInit = try mnemo(["train-projector", "--model", "smollm2", "--data", Self.corpus, "--initial", junk.path, "--out", out])
        #expect(badInit.status != 0 && badInit.stderr.contains("junk.safetensors"), "\(badInit.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// The shipped projector answers through soft tokens; a projector is refused for another model.
    @Test func evalQAWithSoftTokensAndAProjectorForAnotherModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file: [String: Any] = ["data": [["title": "Lighthouses", "paragraphs": [
            ["context": "The Pharos of Alexandria was built in the third century BC. It stood on the island of Pharos.",
             "qas": [["id": "q1", "question": "On which island did the Pharos stand?", "answers": [["text": "Pharos", "answer_start": 80]], "is_impossible": false]]],
            ["context": "The Eddystone Lighthouse was rebuilt four times. John Smeaton designed the third one in 1759.",
             "qas": [["id": "q2", "question": "Who designed the third Eddystone Lighthouse?", "answers": [["text": "John Smeaton", "answer_start": 49]], "is_impossible": false]]],
        ]]]]
        let squad = dir.appendingPathComponent("squad.json").path
        try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: squad))
        let r = try mnemo(["eval", "qa", "--squad", squad, "--model", "smollm2", "--context", "none", "--context", "soft",
                           "--context", "text", "-k", "1", "--limit", "2", "--threads", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let results = try #require(r.json?["results"] as? [[String: Any]])
        #expect(results.count == 3)
        let tokens = Dictionary(uniqueKeysWithValues: results.map { ($0["context"] as? String ?? "", $0["context_tokens"] as? Double ?? -1) })
        #expect(tokens["none"] == 0)
        // One position for the memory, plus the few its "Background: [1]" frame takes in every mode.
        let soft = try #require(tokens["soft"]), text = try #require(tokens["text"])
        #expect(soft >= 1 && soft <= 7, "soft memory took \(soft) positions")
        #expect(text > soft + 10)

    }
}

/// `mnemo ask` with memories as soft tokens: one prompt position per memory.
@Suite(.serialized, .tags(.realModel), .needsModels) struct AskSoftCLITests {
    @Test func softContextTakesOnePositionPerMemory() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let index = try mnemo(["index", repositoryRoot.appendingPathComponent("Examples/corpus").path, "--store", dir.path])
        #expect(index.status == 0, "\(index.stderr)")
        var tokens: [String: Int] = [:]
        for context in ["soft", "soft+text", "text"] {
            let r = try mnemo(["ask", "Who designed the third Eddystone lighthouse?", "--model", "smollm2", "--context", context, "-k", "3",
                               "--store", dir.path, "--no-tools", "--max-tokens", "12", "--threads", "2", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(r.json, "\(r.stdout)")
            #expect((json["sources"] as? [Any])?.count == 3)
            #expect(json["context"] as? String == context)
            tokens[context] = json["context_tokens"] as? Int
        }
        let soft = try #require(tokens["soft"]), text = try #require(tokens["text"]), both = try #require(tokens["soft+text"])
        #expect(soft >= 3 && soft <= 10, "three soft memories took \(soft) positions")  // 3 + the "Background:" frame
        #expect(both > text && text > 10 * soft)
        // Another model's projector is refused, naming the model it was trained for.
        let wrong = try mnemo(["ask", "Who designed it?", "--model", "qwen-0.5b", "--context", "soft", "--store", dir.path, "--no-tools",
                               "--projector", modelPath("projectors/SmolLM2-135M-Instruct.Q4_1.safetensors")])
        #expect(wrong.status != 0 && wrong.stderr.contains("was trained for SmolLM2-135M-Instruct.Q4_1.gguf"), "\(wrong.stderr)")
        // The default model's shipped projector (installed by `make setup`) is found without --projector.
        let qwen = try mnemo(["ask", "Who designed the third Eddystone lighthouse?", "--context", "soft", "-k", "1", "--store", dir.path,
                              "--no-tools", "--max-tokens", "8", "--threads", "2", "--json"])
        #expect(qwen.status == 0, "\(qwen.stderr)")
        #expect(qwen.json?["context_tokens"] as? Int == 5, "one soft token and the 4-position frame: \(qwen.stdout)")
    }
}
