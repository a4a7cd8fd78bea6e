import Foundation
import Testing

/// `mnemo generate` end to end with the real SmolLM2 (the CI model).
@Suite(.tags(.realModel), .needsModels) struct GenerateCLITests {
    @Test func greedyJSONCarriesTextCountsAndTimings() throws {
        let r = try mnemo(["generate", "--model", "smollm2", "The capital of France is", "--temperature", "0",
                           "--max-tokens", "8", "--threads", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json)
        #expect((json["text"] as? String)?.contains("Paris") == true)
        #expect(json["generated_tokens"] as? Int == 8)
        #expect(json["prompt_tokens"] as? Int == 5)
        #expect(json["finish_reason"] as? String == "length")
        #expect((json["prefill_tokens_per_second"] as? Double ?? 0) > 0)
        #expect((json["decode_tokens_per_second"] as? Double ?? 0) > 0)
        #expect((json["kv_cache_bytes"] as? Int) == 13 * 30 * 2 * 192 * 4)
    }

    @Test func streamsPlainTextAndChatStopsAtTheEndOfTurn() throws {
        let r = try mnemo(["generate", "--model", "smollm2", "--chat", "What is 2 plus 2?", "--temperature", "0", "--max-tokens", "40"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("4"))
        #expect(!r.stdout.contains("<|im_end|>"))
    }

    @Test func seededSamplingIsReproducibleFromTheCommandLine() throws {
        let args = ["generate", "--model", "smollm2", "Once upon a time", "--temperature", "1", "--seed", "42", "--max-tokens", "12", "--json"]
        let a = try mnemo(args), b = try mnemo(args)
        #expect(a.status == 0 && b.status == 0)
        #expect(a.json?["text"] as? String == b.json?["text"] as? String)
        #expect(a.json?["seed"] as? Int == 42)
    }

    @Test func promptFromStandardInput() throws {
        let r = try mnemo(["generate", "--model", "smollm2", "-", "--temperature", "0", "--max-tokens", "4", "--json"],
                          stdin: Data("The capital of France is".utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.json?["prompt_tokens"] as? Int == 5)
    }

    @Test func badArgumentsAndModelsGiveClearErrors() throws {
        let missing = try mnemo(["generate", "--model", "/nonexistent/model.gguf", "hi"])
        #expect(missing.status != 0 && missing.stderr.contains("not found"))
        let system = try mnemo(["generate", "--model", "smollm2", "--system", "x", "hi"])
        #expect(system.status != 0 && system.stderr.contains("--system needs --chat"))
        let temperature = try mnemo(["generate", "--model", "smollm2", "--temperature", "-1", "hi"])
        #expect(temperature.status != 0 && temperature.stderr.contains("temperature"))
        // A file that is not GGUF at all, and one cut short inside its tensor data.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.gguf")
        try Data("not a model".utf8).write(to: junk)
        let notGGUF = try mnemo(["generate", "--model", junk.path, "hi"])
        #expect(notGGUF.status != 0 && notGGUF.stderr.contains("junk.gguf"))
        let real = try Data(contentsOf: URL(fileURLWithPath: modelPath("SmolLM2-135M-Instruct.Q4_1.gguf")))
        let cut = dir.appendingPathComponent("cut.gguf")
        try real.prefix(real.count / 2).write(to: cut)
        let truncated = try mnemo(["generate", "--model", cut.path, "hi"])
        #expect(truncated.status != 0 && truncated.stderr.contains("cut.gguf"), "\(truncated.stderr)")
    }
}

func modelPath(_ file: String) -> String {
    let env = ProcessInfo.processInfo.environment
    let dir = env["MNEMO_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
        ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share/mnemo/models")
    return (dir as NSString).appendingPathComponent(file)
}
