import Foundation
import Testing
@testable import MnemoCore
import MnemoModels
import MnemoTools

/// The installed Qwen2.5-Coder 0.5B (`make setup`), loaded once.
let qwen: Result<LanguageModel, Error> = Result { try LanguageModel(path: ModelLocator.resolve("qwen-0.5b")) }

/// The real loop with the real model: greedy and short, so it stays quick.
@Suite(.serialized, .tags(.realModel), .needsModels) struct ToolRouterModelTests {
    @Test func qwenCallsTheCalculatorAndAnswersWithItsResult_realModel() throws {
        let llm = try qwen.get()
        let router = ToolRouter(model: llm, tools: [.calculator()])
        var options = ToolRouterOptions()
        options.generation.maxTokens = 64
        var streamed = ""
        let result = try router.respond(to: [ChatMessage(.user, "What is 48271 * 9133 + 17? Use the calculator.")], options: options,
                                        onText: { streamed += $0 })
        let call = try #require(result.calls.first, "no tool call; answer: \(result.answer)")
        #expect(call.valid && call.name == "calculator" && call.syntax == .guided, "\(call)")
        #expect(call.result == "440859060", "\(call)")
        #expect(result.answer.replacingOccurrences(of: ",", with: "").contains("440859060"), "\(result.answer)")
        #expect(streamed.trimmingCharacters(in: .whitespacesAndNewlines) == result.answer)
        #expect(!streamed.contains("<tool_call>"))
        #expect(result.rounds >= 2 && result.invalidCalls == 0)
        // Later rounds reused the earlier rounds' prompt from the cache.
        #expect(result.prefilledTokens < result.promptTokens + 40 * (result.rounds - 1), "\(result.prefilledTokens) \(result.promptTokens)")
        // The conversation: the question, the call, its result, …, the answer.
        let roles: [ChatMessage.Role] = result.messages.map(\.role)
        #expect(Array(roles.prefix(3)) == [.user, .assistant, .tool] && roles.last == .assistant)
        #expect(result.messages[1].toolCalls.first?.name == "calculator")
        #expect(result.messages[2].content == "440859060")
    }

    /// The model writes a query for the read-only SQL tool; the router runs it and the answer holds the count.
    @Test func qwenQueriesTheDatabase_realModel() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples")
        let database = try ReadOnlyDatabase(path: examples.appendingPathComponent("shop.sqlite").path)
        let router = ToolRouter(model: try qwen.get(), tools: [try .sqlQuery(database), .calculator()])
        var options = ToolRouterOptions()
        options.generation.maxTokens = 96
        let result = try router.respond(to: [ChatMessage(.user, "How many customers does the shop have?")], options: options)
        let call = try #require(result.calls.first, "no tool call; answer: \(result.answer)")
        #expect(call.valid && call.name == "sql_query" && call.syntax == .guided, "\(call)")
        #expect(call.arguments.lowercased().contains("from customers"), "\(call)")
        #expect(call.result?.contains("120") == true, "\(call)")
        #expect(result.answer.contains("120"), "\(result.answer)")
    }

    @Test func aBareExpressionSkipsTheModel_realModel() throws {
        let router = ToolRouter(model: try qwen.get(), tools: [.calculator()])
        let result = try router.respond(to: [ChatMessage(.user, "2^100 / 4")])
        #expect(result.fastPath && result.rounds == 0)
        #expect(result.answer == "316912650057057350374175801344")
        #expect(result.calls == [ToolCallRecord(round: 0, name: "calculator", arguments: #"{"expression": "2^100 / 4"}"#,
                                                valid: true, syntax: .fastPath, result: "316912650057057350374175801344",
                                                seconds: result.calls[0].seconds)])
    }
}
