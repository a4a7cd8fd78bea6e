import BigInt
import Foundation
import MnemoSQLite
import MnemoTools
import Testing

/// The evaluation sets in Examples/eval agree with the tools: every arithmetic answer is what the calculator
/// gives for its expression, and every shop answer is what the SQL module returns for its reference query.
@Suite struct EvalDataTests {
    static func lines(_ name: String) throws -> [[String: Any]] {
        let url = repositoryRoot.appendingPathComponent("Examples/eval/\(name)")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func arithmeticAnswersMatchTheCalculator() throws {
        let problems = try Self.lines("arithmetic.jsonl")
        #expect(problems.count >= 100)
        #expect(Set(problems.compactMap { $0["id"] as? String }).count == problems.count)
        let calculator = Calculator()
        for problem in problems {
            let expression = try #require(problem["expression"] as? String)
            let answer = try #require(problem["answer"] as? String)
            #expect((problem["question"] as? String)?.isEmpty == false)
            let result = try calculator.evaluate(expression)
            #expect(result.isExact && result.decimalIsExact, "\(expression)")
            #expect(result.decimal() == answer, "\(problem["id"] ?? ""): \(expression) gives \(result), the file says \(answer)")
        }
    }

    @Test func shopAnswersMatchTheReferenceQueries() throws {
        let questions = try Self.lines("shop-questions.jsonl")
        #expect(questions.count >= 50)
        let db = try openShop()
        for question in questions {
            let sql = try #require(question["sql"] as? String)
            let result = try db.query(sql)
            #expect(!result.truncated)
            let answer = question["answer"] as Any
            let same: Bool
            if result.rows.count == 1 && result.columns.count == 1 {
                same = Self.same(answer, result.rows[0][0])
            } else if let rows = answer as? [[Any]], rows.count == result.rows.count {
                same = zip(rows, result.rows).allSatisfy { expected, got in
                    expected.count == got.count && zip(expected, got).allSatisfy { Self.same($0, $1) }
                }
            } else {
                same = false
            }
            #expect(same, "\(question["id"] ?? ""): \(sql) gives \(result.rows), the file says \(answer)")
        }
    }

    static func same(_ expected: Any, _ value: SQLiteValue) -> Bool {
        switch value {
        case .null: expected is NSNull
        case .integer(let v): (expected as? NSNumber).map { $0.doubleValue == Double(v) } ?? false
        case .real(let v): (expected as? NSNumber).map { $0.doubleValue == v } ?? false
        case .text(let v): (expected as? String) == v
        case .blob: false
        }
    }

    /// Rationals come out in lowest terms for numbers of many words (Lehmer's gcd against BigInt's own).
    @Test func fractionsAreInLowestTerms() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<300 {
            let a = BigInt(BigUInt.randomInteger(withMaximumWidth: Int.random(in: 1...700, using: &rng), using: &rng)) + 1
            let b = BigInt(BigUInt.randomInteger(withMaximumWidth: Int.random(in: 1...700, using: &rng), using: &rng)) + 1
            let c = BigInt(BigUInt.randomInteger(withMaximumWidth: Int.random(in: 1...300, using: &rng), using: &rng)) + 1
            guard let r = Rational(a * c, -(b * c)) else { Issue.record("zero denominator"); continue }
            #expect(r.denominator > 0)
            #expect(r.numerator.magnitude.greatestCommonDivisor(with: r.denominator.magnitude) == 1)
            #expect(r.numerator * b == -a * r.denominator)
        }
    }
}
