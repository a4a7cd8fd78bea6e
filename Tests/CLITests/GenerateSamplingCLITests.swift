import Foundation
import Testing

/// `mnemo generate`'s sampler, rollback and speculative flags, run as a user would (SmolLM2, installed
/// by `make setup`).
@Suite(.tags(.realModel), .needsModels) struct GenerateSamplingCLITests {
    @Test func samplerFlagsAreAcceptedAndReported() throws {
        let r = try mnemo(["generate", "--model", "smollm2", "--threads", "2", "--max-tokens", "12", "--seed", "3",
                           "--temperature", "0.9", "--top-k", "0", "--top-p", "1", "--min-p", "0.05", "--top-t", "0.01",
                           "--adaptive-temperature", "0.5:1.2", "--rollback", "--repeat-penalty", "1.1", "--json", "Once upon a time"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["seed"] as? Int == 3)
        let rollback = try #require(json["rollback"] as? [String: Any])
        #expect(rollback["rollbacks"] is Int && rollback["refused"] is Int)
        let t = try #require(json["mean_temperature"] as? Double)
        #expect(t >= 0.5 && t <= 1.2)
        #expect(json["speculative"] == nil)
    }

    @Test func draftModelReportsAcceptanceAndKeepsGreedyOutput() throws {
        let plain = try mnemo(["generate", "--model", "smollm2", "--threads", "2", "--max-tokens", "16", "--temperature", "0",
                               "--json", "The capital of France is"])
        let spec = try mnemo(["generate", "--model", "smollm2", "--draft-model", "smollm2", "--draft-tokens", "3", "--threads", "2",
                              "--max-tokens", "16", "--temperature", "0", "--json", "The capital of France is"])
        #expect(plain.status == 0 && spec.status == 0, "\(spec.stderr)")
        let p = try #require(plain.json), s = try #require(spec.json)
        #expect(p["text"] as? String == s["text"] as? String)
        let report = try #require(s["speculative"] as? [String: Any])
        #expect((report["acceptance_rate"] as? Double ?? 0) > 0.5)
        #expect(report["drafted"] is Int && report["accepted"] is Int && report["rounds"] is Int)
    }

    @Test func badSamplerFlagsAreRefused() throws {
        let cases: [([String], String)] = [
            (["--adaptive-temperature", "1.5:0.5"], "LOW ≤ HIGH"),
            (["--adaptive-temperature", "warm"], "LOW:HIGH"),
            (["--min-p", "2"], "min-p"),
            (["--top-t", "-1"], "top-t"),
            (["--repeat-penalty", "0"], "repeat penalty"),
            (["--rollback", "--draft-model", "smollm2"], "--rollback"),
            (["--draft-tokens", "0", "--draft-model", "smollm2"], "--draft-tokens"),
        ]
        for (flags, message) in cases {
            let r = try mnemo(["generate", "--model", "smollm2", "--max-tokens", "2"] + flags + ["Hello"])
            #expect(r.status != 0 && r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
        let other = try mnemo(["generate", "--model", "smollm2", "--draft-model", "qwen-0.5b", "--max-tokens", "2", "Hello"])
        #expect(other.status != 0 && other.stderr.contains("cannot draft"), "\(other.stderr)")
    }
}
