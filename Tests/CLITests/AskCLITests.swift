import Foundation
import Testing

/// `mnemo ask` with the real encoder and Qwen2.5-Coder 0.5B, run as a user would (greedy, short answers).
@Suite(.serialized, .tags(.realModel), .needsModels) struct AskCLITests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples")

    /// Examples/corpus indexed once into a temporary store.
    static let store: Result<URL, Error> = Result {
        let dir = try temporaryDirectory()
        let r = try mnemo(["index", examples.appendingPathComponent("corpus").path, "--store", dir.path])
        guard r.status == 0 else { throw CLIError(message: "index failed: \(r.stderr)") }
        return dir
    }

    struct CLIError: Error { let message: String }

    @Test func answersFromTheCorpusWithSources_realModel() throws {
        let store = try Self.store.get()
        let r = try mnemo(["ask", "How long does the red lentil soup simmer?", "--store", store.path, "--model", "qwen-0.5b",
                           "--max-tokens", "48", "--no-tools", "--context", "text", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "\(r.stdout)")
        let sources = try #require(json["sources"] as? [[String: Any]])
        #expect(sources.count == 3)
        #expect(sources.contains { ($0["source"] as? String)?.hasSuffix("recipe-red-lentil-soup.md") == true })
        #expect(sources.allSatisfy { $0["chunk_id"] is Int && $0["text"] is String && $0["score"] is Double })
        #expect(sources.map { $0["number"] as? Int } == [1, 2, 3])
        let answer = try #require(json["answer"] as? String)
        #expect(answer.contains("25") || answer.lowercased().contains("twenty"), "\(answer)")
        #expect(json["context"] as? String == "text")
        let contextTokens = try #require(json["context_tokens"] as? Int)
        let promptTokens = try #require(json["prompt_tokens"] as? Int)
        #expect(contextTokens > 50 && promptTokens > contextTokens)
        #expect((json["generated_tokens"] as? Int ?? 0) > 0)
        #expect((json["tool_calls"] as? [Any])?.isEmpty == true)
        #expect(json["retrieval_seconds"] is Double && json["prefill_seconds"] is Double && json["decode_seconds"] is Double)
    }

    /// `--context sentences`: the same question answered from the sentences closest to it, in far
    /// fewer context tokens than the chunks' whole text; each source shows the sentences given.
    @Test func sentencesContextAnswersFromFewerTokens_realModel() throws {
        let store = try Self.store.get()
        func ask(_ context: String) throws -> [String: Any] {
            let r = try mnemo(["ask", "How long does the red lentil soup simmer?", "--store", store.path, "--model", "qwen-0.5b",
                               "--max-tokens", "24", "--no-tools", "--context", context, "--sentence-budget", "48", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(r.json, "\(r.stdout)")
        }
        let text = try ask("text"), sentences = try ask("sentences")
        let answer = try #require(sentences["answer"] as? String)
        #expect(answer.contains("25") || answer.lowercased().contains("twenty"), "\(answer)")
        let few = try #require(sentences["context_tokens"] as? Int), all = try #require(text["context_tokens"] as? Int)
        #expect(few > 0 && few * 3 <= all, "sentences \(few) vs text \(all) context tokens")
        let sources = try #require(sentences["sources"] as? [[String: Any]])
        #expect(!sources.isEmpty && sources.count <= 3)
        #expect(sources.map { $0["number"] as? Int } == Array(1...sources.count))
        #expect(sources.contains { ($0["text"] as? String)?.contains("25") == true })
        let chunkTexts = try #require(text["sources"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        #expect(sources.allSatisfy { s in chunkTexts.contains { $0.count > (s["text"] as? String ?? "").count } })
    }

    @Test func contextNoneAsksTheQuestionAlone_realModel() throws {
        // No store is needed: nothing is retrieved.
        let r = try mnemo(["ask", "Reply with the single word: yes", "--context", "none", "--store", "/nonexistent/store",
                           "--model", "qwen-0.5b", "--max-tokens", "8", "--no-tools", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "\(r.stdout)")
        #expect((json["sources"] as? [Any])?.isEmpty == true)
        #expect(json["context_tokens"] as? Int == 0)
        #expect(json["context"] as? String == "none")
        #expect((json["prompt_tokens"] as? Int ?? 0) < 60)
    }

    @Test func aBareExpressionIsAnsweredByTheCalculator_realModel() throws {
        let r = try mnemo(["ask", "2^64 - 1", "--context", "none", "--model", "qwen-0.5b", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "\(r.stdout)")
        #expect(json["answer"] as? String == "18446744073709551615")
        let call = try #require((json["tool_calls"] as? [[String: Any]])?.first)
        #expect(call["name"] as? String == "calculator" && call["valid"] as? Bool == true && call["syntax"] as? String == "fast_path")
        #expect(json["rounds"] as? Int == 0)
        // Plain output: the answer, then the call. No store is needed, whatever the context mode.
        let plain = try mnemo(["ask", "2^64 - 1", "--store", "/nonexistent/store", "--model", "qwen-0.5b"])
        #expect(plain.stdout.hasPrefix("18446744073709551615\n"), "\(plain.stdout)")
        #expect(plain.stdout.contains(#"calculator {"expression": "2^64 - 1"} → 18446744073709551615"#))
    }

    @Test func badInputIsRefusedWithClearErrors() throws {
        let empty = try mnemo(["ask", "  "])
        #expect(empty.status != 0 && empty.stderr.contains("the question is empty"), "\(empty.stderr)")
        let missing = try mnemo(["ask", "Where is the boiler?", "--store", "/nonexistent/mnemo-store", "--model", "qwen-0.5b"])
        #expect(missing.status != 0 && missing.stderr.contains("no Mnemo store here"), "\(missing.stderr)")
        let tool = try mnemo(["ask", "hi", "--tools", "calc,web"])
        #expect(tool.status != 0 && tool.stderr.contains("unknown tool 'web' in --tools"), "\(tool.stderr)")
        let both = try mnemo(["ask", "hi", "--tools", "calc", "--no-tools"])
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both.stderr)")
        let sql = try mnemo(["ask", "hi", "--tools", "sql"], environment: ["MNEMO_SQL_DB": ""])
        #expect(sql.status != 0 && sql.stderr.contains("the sql tool needs a database"), "\(sql.stderr)")
        let context = try mnemo(["ask", "hi", "--context", "compressed"])
        #expect(context.status != 0 && context.stderr.contains("--context"), "\(context.stderr)")
        let k = try mnemo(["ask", "hi", "-k", "0"])
        #expect(k.status != 0 && k.stderr.contains("-k must be between 1 and 50"), "\(k.stderr)")
    }
}
