import Foundation
import Testing
@testable import MnemoCore
@testable import MnemoEvaluation
import MnemoModels
import MnemoStore

/// The chat prompt planner on a synthetic history: 4-dimensional unit vectors, one word = one token,
/// one slot = one token. No model is involved; the CLI and tmux tests run the real thing.
struct ChatContextTests {
    static func unit(_ i: Int) -> [Float] { (0..<4).map { $0 == i % 4 ? 1 : 0 } }

    /// Turn n (1-based) says "fact n …" in `words` words; its vectors point along axis n % 4, except the
    /// turn `relevant`, which points along axis 3 (the message's), and no other turn does.
    static func history(_ n: Int, words: Int = 10, relevant: Int? = nil) -> [ChatTurn] {
        (1...n).map { t in
            let axis = t == relevant ? 3 : t % 3
            let text = (["fact", "\(t)"] + Array(repeating: "word", count: max(0, words - 2))).joined(separator: " ")
            return ChatTurn(number: t, user: text, assistant: "noted \(t)", embedding: unit(axis),
                            sentences: [ChatSentence(turn: t, role: "user", text: text, embedding: unit(axis)),
                                        ChatSentence(turn: t, role: "assistant", text: "noted \(t)", embedding: unit(axis))])
        }
    }

    static func tokens(_ text: String) -> Int {
        let slots = text.filter { $0 == "\u{E000}" }.count
        return text.replacingOccurrences(of: "\u{E000}", with: " ").split(whereSeparator: \.isWhitespace).count + slots
    }

    static func planner(_ strategy: HistoryStrategy, budget: Int, recent: Int = 3, projector: Projector? = nil) -> ChatContextPlanner {
        var options = ChatContextOptions()
        options.strategy = strategy
        options.budget = budget
        options.recentTurns = recent
        return ChatContextPlanner(options: options, projector: projector, count: tokens,
                                  measure: { $0.reduce(0) { $0 + tokens($1.content) + 4 } })
    }

    static let projector = Projector(manifest: .init(encoder: "e", encoderSHA256: "", model: "m", modelSHA256: "",
                                                     inputDim: 4, hiddenDim: 8, outputDim: 6), seed: 1, outputRMS: 0.1)

    @Test func recallBringsBackTheRelevantOldTurnAndStaysUnderBudget() throws {
        let history = Self.history(40, relevant: 5)
        let plan = try Self.planner(.recall, budget: 200).plan(system: "be brief", history: history, message: "what was it",
                                                               messageVector: Self.unit(3), documents: [])
        #expect(plan.tokens <= 200)
        #expect(plan.recalled.map(\.turn) == [5])
        #expect(plan.rawTurns == [38, 39, 40])
        #expect(plan.softTurns.isEmpty && plan.softs.isEmpty)
        // The recalled turn is back in the conversation as its messages, before the recent ones.
        let users = plan.messages.filter { $0.role == .user }.map(\.content)
        #expect(users.first?.hasPrefix("fact 5 ") == true)
        #expect(users.last == "what was it")
        #expect(plan.omittedTurns.count == 36)
    }

    @Test func withNoRecentTurnsEveryTurnIsOlderHistory() throws {
        let plan = try Self.planner(.recall, budget: 300, recent: 0).plan(system: "s", history: Self.history(6, relevant: 6), message: "m",
                                                                         messageVector: Self.unit(3), documents: [])
        #expect(plan.rawTurns.isEmpty)
        #expect(plan.recalled.map(\.turn) == [6])
    }

    @Test func nothingIsRecalledBelowTheThreshold() throws {
        let plan = try Self.planner(.recall, budget: 400).plan(system: "s", history: Self.history(20), message: "m",
                                                               messageVector: Self.unit(3), documents: [])
        #expect(plan.recalled.isEmpty)
    }

    @Test func softTokensFillTheRestNewestFirstAndInOrder() throws {
        let history = Self.history(30, relevant: 2)
        let perTurn = try Self.planner(.turn, budget: 140, projector: Self.projector)
            .plan(system: "s", history: history, message: "m", messageVector: Self.unit(3), documents: [])
        #expect(perTurn.tokens <= 140)
        #expect(perTurn.recalled.map(\.turn) == [2])
        #expect(perTurn.softTokens == perTurn.softTurns.count && perTurn.softTokens == perTurn.softs.count)
        #expect(perTurn.softTurns == perTurn.softTurns.sorted())
        #expect(perTurn.softTurns.last == 27)  // the newest older turn first
        #expect(!perTurn.softTurns.contains(2))  // a recalled turn is not also a soft token
        #expect(perTurn.softs.allSatisfy { $0.count == 6 })
        let last = try #require(perTurn.messages.last?.content)
        #expect(last.hasPrefix("Background: " + String(repeating: "\u{E000}", count: perTurn.softTokens)))
        // One token per sentence: two per turn here, so fewer turns fit.
        let perSentence = try Self.planner(.sentence, budget: 140, projector: Self.projector)
            .plan(system: "s", history: history, message: "m", messageVector: Self.unit(3), documents: [])
        #expect(perSentence.softTokens == 2 * perSentence.softTurns.count)
        #expect(perSentence.softTurns.count < perTurn.softTurns.count)
        #expect(perSentence.tokens <= 140)
        // Without a projector there are no soft tokens.
        let none = try Self.planner(.turn, budget: 140).plan(system: "s", history: history, message: "m",
                                                             messageVector: Self.unit(3), documents: [])
        #expect(none.softTokens == 0)
    }

    @Test func baselines() throws {
        let history = Self.history(50)
        let truncated = try Self.planner(.truncated, budget: 300).plan(system: "s", history: history, message: "m",
                                                                       messageVector: Self.unit(3), documents: [])
        #expect(truncated.tokens <= 300)
        #expect(truncated.rawTurns.count > 3 && truncated.rawTurns.last == 50)
        #expect(truncated.rawTurns == Array((51 - truncated.rawTurns.count)...50))
        let recent = try Self.planner(.recent, budget: 300, recent: 2).plan(system: "s", history: history, message: "m",
                                                                            messageVector: Self.unit(3), documents: [])
        #expect(recent.rawTurns == [49, 50])
        #expect(recent.recalled.isEmpty && recent.softTokens == 0)
    }

    @Test func documentsComeAsNumberedNotes() throws {
        let docs = [AskSource(number: 1, chunkID: 7, source: "/a.txt", score: 0.5, text: "the boiler was serviced in May"),
                    AskSource(number: 2, chunkID: 8, source: "/b.txt", score: 0.4, text: String(repeating: "long ", count: 500))]
        let plan = try Self.planner(.recall, budget: 120).plan(system: "s", history: [], message: "when was the boiler serviced",
                                                               messageVector: Self.unit(3), documents: docs)
        #expect(plan.sources.map(\.number) == [1])  // the second does not fit
        #expect(plan.messages.last?.content.contains("[1] the boiler was serviced in May") == true)
    }

    @Test func aMessageOverTheBudgetIsAClearError() throws {
        let message = String(repeating: "word ", count: 300)
        #expect(throws: ModelError.self) {
            try Self.planner(.recall, budget: 128).plan(system: "s", history: [], message: message, messageVector: Self.unit(3), documents: [])
        }
    }

    @Test func answersMatchIgnoringCaseAndSeparators() {
        #expect(ChatEvaluation.matches("Your plate is zlr-5762.", ["ZLR 5762"]))
        #expect(ChatEvaluation.matches("It's 7 2 6 6", ["7-2-6-6"]))
        #expect(!ChatEvaluation.matches("I don't know.", ["4422"]))
    }
}
