import Foundation
import Testing
@testable import MnemoCore
@testable import MnemoEvaluation
@testable import MnemoTools

/// How the tool evaluation scores answers.
@Suite struct AnswerMatcherTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/eval")

    func matches(_ answer: String, _ expected: JSONValue, _ question: String = "How many?") -> Bool {
        AnswerMatcher.matches(answer, expected: expected, question: question)
    }

    @Test func numbersAreExactAfterRemovingThousandsSeparators() {
        #expect(matches("It gives 4,907,272.22572176 inhabitants.", .string("4907272.22572176")))
        #expect(matches("4907272.225721760", .string("4907272.22572176")))
        #expect(!matches("About 4,907,272.23 inhabitants.", .string("4907272.22572176")))  // not asked to round
        #expect(matches("The loss is -1,250.5 euros.", .string("-1250.5")))
        #expect(!matches("The loss is 1,250.5 euros.", .string("-1250.5")))
        #expect(matches("count(*)\n--------\n120\n(1 row)", .int(120)))
        #expect(!matches("1200 customers", .int(120)))
        #expect(matches("18, 277, 50 and 55", .array([.int(18), .int(277), .int(50), .int(55)])))
    }

    @Test func roundingOnlyAsTheQuestionAsks() {
        let q = "What is the average product price in euros, rounded to 2 decimals?"
        #expect(matches("56.43 euros", .number("56.43"), q))
        #expect(matches("The average salary is 51,200 euros.", .number("51200.0"), "What is the average salary, rounded to whole euros?"))
        #expect(matches("41697", .number("41697.0"), "What is the average order total in cents, rounded to a whole cent?"))
        #expect(matches("7.43", .string("7.4321"), "… rounded to 2 decimals?"))
        #expect(!matches("7.43", .string("7.4321"), "… exactly?"))
    }

    @Test func stringsRowsAndEmptyLists() throws {
        #expect(matches("The most expensive product is knitting patterns.", .string("Knitting patterns")))
        #expect(matches("In 2023-01.", .string("2023-01")))
        #expect(!matches("In 2023-02.", .string("2023-01")))
        let rows = try JSONValue.parse(#"[["Sami Duarte", 432225], ["Dev Lindqvist", 411704]]"#)
        #expect(matches("Sami Duarte (432,225) and Dev Lindqvist (411,704)", rows))
        #expect(!matches("Sami Duarte (432,225)", rows))
        #expect(matches("None: every product has been ordered.", .array([])))
        #expect(!matches("The Hose reel.", .array([])))
    }

    @Test func theEvaluationSetsLoad() throws {
        let arithmetic = try ToolEvalItem.load(Self.examples.appendingPathComponent("arithmetic.jsonl").path)
        let shop = try ToolEvalItem.load(Self.examples.appendingPathComponent("shop-questions.jsonl").path)
        #expect(arithmetic.count == 129 && shop.count == 57)
        #expect(arithmetic[0].id == "arith-001" && arithmetic[0].answer == .string("4907272.22572176"))
        // Each expected answer matches itself written out (numbers as they are, rows as their values).
        for item in arithmetic + shop {
            #expect(AnswerMatcher.matches(text(item.answer), expected: item.answer, question: item.question), "\(item.id)")
        }
        #expect(throws: Error.self) { try ToolEvalItem.load("/nonexistent.jsonl") }
    }

    func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .array(let items): items.isEmpty ? "none" : items.map(text).joined(separator: "; ")
        default: value.description
        }
    }
}
