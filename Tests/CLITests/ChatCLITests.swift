import Foundation
import Testing

/// `mnemo chat` on piped input (one message per line, `--json`), and `mnemo eval chat` on a small
/// dialogue; the real SmolLM2 and encoder. What the model says is not judged; what goes into its prompt is.
@Suite(.serialized, .tags(.realModel), .needsModels) struct ChatCLITests {
    @Test func pipedMessagesAreAnsweredStoredAndRecalled() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["chat", "--store", dir.path, "--model", "smollm2", "--max-tokens", "16", "--threads", "2", "--no-tools",
                    "--session", "pipe", "--json", "--recent", "1"]
        let input = "My office locker code is 4422.\nI had pasta for dinner.\nThe weather is grey today.\nWhat is my office locker code?\n"
        let r = try mnemo(base, stdin: Data(input.utf8))
        #expect(r.status == 0, "\(r.stderr)")
        let replies = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        try #require(replies.count == 4, "\(r.stdout)")
        #expect(replies.map { $0["turn"] as? Int } == [1, 2, 3, 4])
        #expect(replies.allSatisfy { !($0["answer"] as? String ?? "").isEmpty })
        // The last message: the previous turn raw, the locker turn recalled as text from three turns back.
        #expect(replies[3]["raw_turns"] as? [Int] == [3])
        let recalled = replies[3]["recalled"] as? [[String: Any]] ?? []
        #expect(recalled.first?["turn"] as? Int == 1, "\(replies[3])")
        #expect((replies[3]["prompt_tokens"] as? Int ?? 0) > 0)
        // The default history is text recall: no soft tokens, though SmolLM2 has a projector installed.
        #expect(replies[3]["soft_turns"] as? [Int] == [], "\(replies[3])")

        // A second run resumes the session; with --history turn, older turns not otherwise given come as soft tokens.
        let again = try mnemo(base + ["--history", "turn"], stdin: Data("And my dinner?\n".utf8))
        #expect(again.status == 0, "\(again.stderr)")
        let resumed = try? JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        #expect(resumed?["turn"] as? Int == 5)
        let softTurns = resumed?["soft_turns"] as? [Int] ?? []
        #expect(softTurns.count > 0, "\(again.stdout)")
    }

    @Test func badChatInputIsRefusedClearly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let badName = try mnemo(["chat", "--store", dir.path, "--session", "no spaces!"], stdin: Data())
        #expect(badName.status != 0 && badName.stderr.contains("session name"), "\(badName.stderr)")
        let badBudget = try mnemo(["chat", "--store", dir.path, "--budget", "10"], stdin: Data())
        #expect(badBudget.status != 0 && badBudget.stderr.contains("--budget"))
        // A message over the budget is an error for that message only; the next one is answered.
        let long = String(repeating: "lighthouse ", count: 400)
        let r = try mnemo(["chat", "--store", dir.path, "--model", "smollm2", "--budget", "128", "--max-tokens", "4", "--json",
                           "--no-tools", "--threads", "2"], stdin: Data((long + "\nHello!\n").utf8))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("over the budget of 128"), "\(r.stderr)")
        #expect((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["turn"] as? Int == 1, "\(r.stdout)")
    }

    @Test func evalChatPlansEachStrategyAsDocumented() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let turns: [[String: Any]] = [
            ["session": 1, "turn": 1, "kind": "plant", "user": "My office locker code is 4422.", "assistant": "Noted: 4422.", "fact": "locker"],
            ["session": 1, "turn": 2, "kind": "filler", "user": "I baked bread with rye flour today.", "assistant": "Sounds tasty."],
            ["session": 1, "turn": 3, "kind": "filler", "user": "Is it going to rain in Porto this weekend?", "assistant": "Pack an umbrella."],
            ["session": 2, "turn": 4, "kind": "filler", "user": "Which Python version should I use for a new script?", "assistant": "The newest stable one."],
            ["session": 2, "turn": 5, "kind": "probe", "user": "What is my office locker code?", "assistant": "4422.", "fact": "locker", "answers": ["4422"]],
        ]
        let file = dir.appendingPathComponent("dialogue.jsonl")
        try turns.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }.joined(separator: "\n")
            .write(to: file, atomically: true, encoding: .utf8)
        let r = try mnemo(["eval", "chat", "--dialogue", file.path, "--model", "smollm2", "--history", "truncated", "--history", "recent",
                           "--history", "recall", "--history", "turn", "--recent", "1", "--max-tokens", "12", "--threads", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let reports = try #require(r.json?["reports"] as? [[String: Any]])
        #expect(reports.map { $0["strategy"] as? String } == ["truncated", "recent", "recall", "turn"])
        let placed = reports.map { (($0["outcomes"] as? [[String: Any]])?.first?["planted_as"] as? String) }
        #expect(placed == ["raw", "absent", "recalled", "recalled"])
        #expect(reports.allSatisfy { $0["probes"] as? Int == 1 && $0["turns"] as? Int == 5 })
        // Per turn, one soft token per older turn not otherwise given: turns 2 and 3 at the probe.
        #expect((reports[3]["mean_soft_tokens"] as? Double ?? 0) > 0)

        let bad = dir.appendingPathComponent("bad.jsonl")
        try "{\"session\": 1}\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try mnemo(["eval", "chat", "--dialogue", bad.path, "--model", "smollm2"])
        #expect(refused.status != 0 && refused.stderr.contains("bad.jsonl:1"), "\(refused.stderr)")
    }

    /// `--tools` in the chat: a bare expression goes to the calculator; a question about the database makes
    /// the default model (Qwen2.5-Coder 0.5B) call read-only SQL, and the count comes back.
    @Test func chatUsesTheToolRouter() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["chat", "--store", dir.path, "--tools", "calc,sql", "--db", repositoryRoot.appendingPathComponent("Examples/shop.sqlite").path,
                    "--json", "--threads", "2", "-k", "0"]
        let calc = try mnemo(base + ["--session", "calc"], stdin: Data("2^100\n".utf8))
        #expect(calc.status == 0, "\(calc.stderr)")
        let reply = try #require(calc.json)
        #expect(reply["answer"] as? String == "1267650600228229401496703205376")
        #expect((reply["tool_calls"] as? [[String: Any]])?.first?["name"] as? String == "calculator")

        // A statement with a number is no computation: the calculator is not offered, nothing is called.
        let statement = try mnemo(base + ["--session", "statement"], stdin: Data("My bike lock code is 4172.\n".utf8))
        #expect(statement.status == 0, "\(statement.stderr)")
        #expect((statement.json?["tool_calls"] as? [[String: Any]])?.contains { $0["name"] as? String == "calculator" } == false, "\(statement.stdout)")

        let sql = try mnemo(base + ["--session", "sql"], stdin: Data("How many customers are there in the shop database?\n".utf8))
        #expect(sql.status == 0, "\(sql.stderr)")
        let calls = try #require(sql.json?["tool_calls"] as? [[String: Any]])
        let ran = calls.filter { $0["name"] as? String == "sql_query" && ($0["result"] as? String ?? "").contains("120") }
        #expect(!ran.isEmpty, "\(sql.stdout)")
        #expect(sql.json?["finish_reason"] as? String == "stop")
    }
}
