import Foundation
import Testing

/// Every input the fuzzers kept (Tests/Fuzz/TARGET: hand-made seeds, the corpus merged by
/// Tests/Scripts/fuzz.sh, and under crashes/ each input that once crashed) replayed through the same
/// target code, in a plain build: a crash, a trap or a violated property ends the replay non-zero.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fuzzBinary = mnemoBinary.deletingLastPathComponent().appendingPathComponent("mnemo-fuzz")

    static func run(_ arguments: [String]) throws -> CLIResult {
        try runToEnd(fuzzBinary.path, arguments, directory: root)
    }

    static let targets = ["gguf", "safetensors", "wordpiece", "bpe", "html", "jsonl", "calculator", "sql", "http-body", "jsonrpc"]

    @Test func everyTargetHasKeptInputs() throws {
        let listed = try Self.run(["list"])
        #expect(listed.status == 0)
        #expect(listed.stdout.split(separator: "\n").map { String($0.split(separator: "\t")[0]) } == Self.targets)
    }

    @Test(arguments: targets) func keptInputsReplayWithoutACrash(target: String) throws {
        let dir = Self.root.appendingPathComponent("Tests/Fuzz/\(target)").path
        let result = try Self.run(["replay", target, dir])
        let lastInput = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(result.status == 0, "the replay of \(target) ended with status \(result.status) at \(lastInput)\n\(result.stderr.suffix(1500))")
        let count = result.stdout.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        #expect(count >= 2, "\(target): \(result.stdout)")
        #expect(result.stdout.contains("no crash"))
    }

    @Test func withoutLibFuzzerRunSaysHowToGetIt() throws {
        let result = try Self.run(["run", "calculator", "-runs=1"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("Tests/Scripts/fuzz.sh"))
        let unknown = try Self.run(["replay", "nonsense", "."])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("the targets are gguf"))
    }
}
