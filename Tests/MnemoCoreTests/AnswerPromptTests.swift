import Foundation
import MnemoCore
import MnemoModels
import Testing
@testable import MnemoCore
@testable import MnemoTools

/// The answer prompt, the answer clean-up and the tool gate, without a model.
@Suite struct AnswerPromptTests {
    @Test func notesComeNumberedBeforeTheQuestionAfterTheExamples() {
        let (messages, softs) = MemoryPrompt.answerMessages("Who serviced the boiler?", memories: [.text("Dunmore Heating came in March."), .text("The key is under the pot.")])
        #expect(softs.isEmpty)
        #expect(messages.first == ChatMessage(.system, MemoryPrompt.answerInstructions))
        // The best note, [1], is listed last: nearest the question.
        #expect(messages.last == ChatMessage(.user, "Notes:\n[2] The key is under the pot.\n[1] Dunmore Heating came in March.\n\nQuestion: Who serviced the boiler?"))
        // Soft tokens follow the same order as their slots.
        let soft = MemoryPrompt.answerMessages("Q?", memories: [.soft([1]), .soft([2]), .softAndText([3], "t")])
        #expect(soft.softs == [[3], [2], [1]])
        // The worked example sits between them: a question and the phrase copied as its answer.
        #expect(messages.count == 2 + 2)
        #expect(messages[2] == ChatMessage(.assistant, "Daniel Alexander"))
        // Without notes: the closed-book instruction and no examples.
        let none = MemoryPrompt.answerMessages("What is 2 + 2?", memories: []).messages
        #expect(none == [ChatMessage(.system, MemoryPrompt.closedBookInstructions), ChatMessage(.user, "Question: What is 2 + 2?")])
        // A client's own system text comes first; earlier turns stay in order before the question.
        let history = [ChatMessage(.system, "Be brief."), ChatMessage(.user, "Hi"), ChatMessage(.assistant, "Hello")]
        let chat = MemoryPrompt.answerMessages("Where?", memories: [.text("Here.")], history: history).messages
        #expect(chat.first?.content == "Be brief.\n\n" + MemoryPrompt.answerInstructions)
        #expect(Array(chat.suffix(3).prefix(2)) == [ChatMessage(.user, "Hi"), ChatMessage(.assistant, "Hello")])
    }

    /// An answer made only of the question's words is an echo; a choice question's answer never is.
    @Test func echoesOfTheQuestionAreRecognised() {
        let echo = QuestionEcho("Who was Emma's brother?")
        #expect(echo.isEcho("Emma") && echo.isEcho("the Emma.") && !echo.isEcho("Duke Richard II") && !echo.isEcho(""))
        #expect(echo.mayBeEcho("Em") && echo.mayBeEcho("Emma ") && !echo.mayBeEcho("Duke "))
        #expect(echo.mayBeginAnswer(" Duke") && echo.mayBeginAnswer(" the") && !echo.mayBeginAnswer(" Em") && !echo.mayBeginAnswer(" ,"))
        let choice = QuestionEcho("Is a problem instance abstract or concrete?")
        #expect(!choice.isEcho("abstract") && !choice.mayBeEcho("abs"))
        #expect(QuestionEcho("In what country is Normandy located?").isEcho("Normandy"))
    }

    @Test func answersAreCleanedToTheirFirstLine() {
        #expect(MemoryPrompt.finishAnswer("  Daniel Alexander\n\nHe also designed…").text == "Daniel Alexander")
        #expect(MemoryPrompt.finishAnswer("Answer: 25 minutes.").text == "25 minutes")
        #expect(MemoryPrompt.finishAnswer("\"the blue folder\"").text == "the blue folder")
        #expect(MemoryPrompt.finishAnswer("U.S.").text == "U.S.")
        #expect(MemoryPrompt.finishAnswer("3.5").text == "3.5")
        let abstained = MemoryPrompt.finishAnswer("Not in your notes.")
        #expect(abstained.text == MemoryPrompt.notInNotes && !abstained.answerable)
        #expect(!MemoryPrompt.finishAnswer("That is not in your notes").answerable)
        #expect(MemoryPrompt.finishAnswer("March 2025").answerable)
    }

    @Test func theCalculatorIsOfferedOnlyToComputations() {
        for q in ["What is 17% of 2,340,000?", "What is the total if each of 12 boxes holds 144 apples?", "What is 3 - 1?",
                  "How much is 1250 * 1.03?", "If 4 people share 90 pounds, how much does each pay?"] {
            #expect(ToolGate.needsCalculator(q), "\(q)")
        }
        for q in ["When is the boiler's next service due, and who did the last one?", "Who ruled Normandy in 1066?",
                  "How long does the red lentil soup simmer?", "What century did the Normans arrive in?"] {
            #expect(!ToolGate.needsCalculator(q), "\(q)")
        }
    }

    /// The gate measured on the repository's question sets: every arithmetic word problem of the tools
    /// evaluation keeps the calculator (so `ask` keeps the tools' 57/129), and no Examples question about
    /// the notes is offered it.
    @Test func theGateKeepsEveryArithmeticQuestionAndNoNotesQuestion() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples")
        let arithmetic = try String(contentsOf: examples.appendingPathComponent("eval/arithmetic.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["question"] as? String
            }
        #expect(arithmetic.count == 129)
        let missed = arithmetic.filter { !ToolGate.needsCalculator($0) }
        #expect(missed.isEmpty, "\(missed.count) arithmetic questions lose the calculator: \(missed.prefix(3))")
        let notes = try String(contentsOf: examples.appendingPathComponent("queries-answers.tsv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { $0.split(separator: "\t").first.map(String.init) }
        #expect(notes.count == 12)
        let offered = notes.filter(ToolGate.needsCalculator)
        #expect(offered.isEmpty, "\(offered)")
    }

    @Test func proseIsRefusedBeforeItReachesTheCalculator() {
        let calculator = ToolSpec.calculator()
        #expect(ToolRouter.refused(calculator, .object(["expression": .string("The boiler was serviced in March 2024 by Dunmore")])) != nil)
        #expect(ToolRouter.refused(calculator, .object(["expression": .string("next service due")])) != nil)
        #expect(ToolRouter.refused(calculator, .object(["expression": .string("1250 * (1 + 3/100)^5")])) == nil)
        #expect(ToolRouter.refused(calculator, .object(["expression": .string("sqrt(2) * 3")])) == nil)
    }
}
