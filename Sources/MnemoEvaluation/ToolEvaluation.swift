import Foundation
import MnemoCore
import MnemoModels
import MnemoStore
import MnemoTools

/// One question of a tool evaluation set (`Examples/eval/arithmetic.jsonl`, `shop-questions.jsonl`).
public struct ToolEvalItem: Sendable {
    public var id: String
    public var question: String
    /// The expected answer: a decimal string, a number, a string, or a list of rows.
    public var answer: JSONValue

    /// Reads a JSONL file of objects with `id`, `question` and `answer`.
    public static func load(_ path: String) throws -> [ToolEvalItem] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.notFound, "\(path): cannot read the evaluation file")
        }
        var items: [ToolEvalItem] = []
        for (n, line) in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() {
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            let value: JSONValue
            do { value = try JSONValue.parse(String(line)) } catch {
                throw StoreError(.badInput, "\(path):\(n + 1): \(error)")
            }
            guard let id = value["id"]?.stringValue, let question = value["question"]?.stringValue, let answer = value["answer"] else {
                throw StoreError(.badInput, "\(path):\(n + 1): each line needs \"id\", \"question\" and \"answer\"")
            }
            items.append(ToolEvalItem(id: id, question: question, answer: answer))
        }
        return items
    }
}

/// Whether an answer states the expected value(s).
///
/// Numbers: every number in the answer is read with its thousands separators removed (`4,907,272.23`);
/// one of them must equal the expected value exactly, or the expected value rounded as the question asks
/// ("rounded to 2 decimals", "whole euros", "a whole cent"). A number written `46270760.2626` matches
/// `46270760.26260`. Strings match case-insensitively as substrings; rows match when every value in
/// every row does; an empty list matches an answer that says none.
public enum AnswerMatcher {
    public static func matches(_ answer: String, expected: JSONValue, question: String) -> Bool {
        let numbers = self.numbers(in: answer)
        let places = roundingPlaces(question)
        func match(_ value: JSONValue) -> Bool {
            switch value {
            case .number(let n): return matchesNumber(n, numbers: numbers, places: places)
            case .string(let s):
                if signedDecimal(s) != nil {
                    return matchesNumber(s, numbers: numbers, places: places)
                }
                return answer.range(of: s, options: [.caseInsensitive, .diacriticInsensitive]) != nil
            case .array(let items):
                if items.isEmpty {
                    return answer.range(of: #"\b(none|no\s+\w+|nothing|every|all\s+\w+\s+have|zero|0)\b"#,
                                        options: [.regularExpression, .caseInsensitive]) != nil
                }
                return items.allSatisfy(match)
            case .bool(let b): return answer.localizedCaseInsensitiveContains(b ? "yes" : "no")
            case .null: return true
            case .object(let members): return members.allSatisfy { match($0.value) }
            }
        }
        return match(expected)
    }

    /// The decimal places the question asks the answer to be rounded to, if it asks.
    static func roundingPlaces(_ question: String) -> Int? {
        let q = question.lowercased()
        if let m = q.firstMatch(of: /rounded to (\d+) decimal/), let n = Int(m.1) { return n }
        if q.contains("rounded to whole") || q.contains("rounded to a whole") || q.contains("nearest whole") { return 0 }
        return nil
    }

    static func matchesNumber(_ expected: String, numbers: [Rational], places: Int?) -> Bool {
        guard let value = signedDecimal(expected) else { return false }
        var targets = [value]
        if let places, let rounded = try? Calculator().evaluate("round(\(expected), \(places))").rational { targets.append(rounded) }
        return numbers.contains { targets.contains($0) }
    }

    /// Every number in `text`: `1,234,567.89`, `-12`, `0.5`; commas only as thousands separators.
    static func numbers(in text: String) -> [Rational] {
        text.matches(of: /-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?/).compactMap {
            signedDecimal(String($0.output).replacingOccurrences(of: ",", with: ""))
        }
    }

    /// `12`, `-0.5`, `1e3` exactly; nil for anything else.
    static func signedDecimal(_ text: String) -> Rational? {
        let negative = text.hasPrefix("-")
        let body = negative ? String(text.dropFirst()) : text
        guard body.first?.isNumber == true || body.first == "." else { return nil }
        guard let r = Rational(decimal: body) else { return nil }
        return negative ? -r : r
    }
}

/// One question asked one way.
public struct ToolEvalOutcome: Sendable, Codable {
    public var set: String
    public var id: String
    public var withTools: Bool
    public var correct: Bool
    public var answer: String
    public var expected: String
    public var calls: [ToolCallRecord]
    public var rounds: Int
    public var answerSource: ToolRouterResult.AnswerSource
    public var generatedTokens: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case set, id, correct, answer, expected, calls, rounds, seconds
        case withTools = "with_tools", generatedTokens = "generated_tokens", answerSource = "answer_source"
    }
}

/// A set asked one way: accuracy and the validity of the tool calls.
public struct ToolEvalSummary: Sendable, Encodable {
    public var set: String
    public var withTools: Bool
    public var items: Int
    public var correct: Int
    public var calls: Int
    public var validCalls: Int
    /// Calls the model wrote whole in `<tool_call>` tags (free calls; the rest of those were bare objects).
    public var taggedCalls: Int
    /// Guided calls: the model began them and wrote the argument, the router wrote the JSON.
    public var guidedCalls: Int
    /// Questions where the model made at least one call.
    public var itemsWithCalls: Int
    /// Answers that were the last tool result, returned directly (see `ToolRouter`).
    public var resultAnswers: Int
    public var generatedTokens: Int
    public var seconds: Double

    public var accuracy: Double { items > 0 ? Double(correct) / Double(items) : 0 }
    public var validity: Double? { calls > 0 ? Double(validCalls) / Double(calls) : nil }
    /// Mean wall-clock seconds per question (latency).
    public var meanSeconds: Double { items > 0 ? seconds / Double(items) : 0 }

    enum CodingKeys: String, CodingKey {
        case set, items, correct, calls, accuracy, validity, seconds
        case withTools = "with_tools", validCalls = "valid_calls", taggedCalls = "tagged_calls"
        case itemsWithCalls = "items_with_calls", generatedTokens = "generated_tokens", resultAnswers = "result_answers"
        case guidedCalls = "guided_calls", meanSeconds = "mean_seconds"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(set, forKey: .set)
        try c.encode(withTools, forKey: .withTools)
        try c.encode(items, forKey: .items)
        try c.encode(correct, forKey: .correct)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(calls, forKey: .calls)
        try c.encode(validCalls, forKey: .validCalls)
        try c.encode(validity, forKey: .validity)
        try c.encode(taggedCalls, forKey: .taggedCalls)
        try c.encode(guidedCalls, forKey: .guidedCalls)
        try c.encode(itemsWithCalls, forKey: .itemsWithCalls)
        try c.encode(resultAnswers, forKey: .resultAnswers)
        try c.encode(generatedTokens, forKey: .generatedTokens)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(meanSeconds, forKey: .meanSeconds)
    }

    public init(set: String, withTools: Bool, outcomes: [ToolEvalOutcome]) {
        self.set = set
        self.withTools = withTools
        items = outcomes.count
        correct = outcomes.filter(\.correct).count
        let all = outcomes.flatMap(\.calls)
        calls = all.count
        validCalls = all.filter(\.valid).count
        taggedCalls = all.filter { $0.syntax == .tagged }.count
        guidedCalls = all.filter { $0.syntax == .guided }.count
        itemsWithCalls = outcomes.filter { !$0.calls.isEmpty }.count
        resultAnswers = outcomes.filter { $0.answerSource == .toolResult }.count
        generatedTokens = outcomes.reduce(0) { $0 + $1.generatedTokens }
        seconds = outcomes.reduce(0) { $0 + $1.seconds }
    }
}

/// Asks each question of a set twice, greedily: the LLM alone, then the LLM with the set's tools.
public enum ToolEvaluation {
    public struct Set {
        public var name: String
        public var items: [ToolEvalItem]
        public var tools: [ToolSpec]
        public init(name: String, items: [ToolEvalItem], tools: [ToolSpec]) {
            self.name = name
            self.items = items
            self.tools = tools
        }
    }

    /// Runs `set` alone and/or with tools; `progress` sees each outcome as it comes.
    public static func run(_ set: Set, model: LanguageModel, options: ToolRouterOptions, alone askAlone: Bool = true, withTools askWithTools: Bool = true,
                           progress: (ToolEvalOutcome) -> Void = { _ in }) throws -> (alone: [ToolEvalOutcome], tools: [ToolEvalOutcome]) {
        var alone: [ToolEvalOutcome] = []
        var withTools: [ToolEvalOutcome] = []
        // One router per way of asking, so each keeps its own cached system prompt across questions.
        var ways: [(Bool, ToolRouter)] = []
        if askAlone { ways.append((false, ToolRouter(model: model, tools: []))) }
        if askWithTools { ways.append((true, ToolRouter(model: model, tools: set.tools))) }
        for (useTools, router) in ways {
            for item in set.items {
                let t0 = Date()
                var o = options
                o.fastPath = false
                let r = try router.respond(to: [ChatMessage(.user, item.question)], options: o)
                let outcome = ToolEvalOutcome(
                    set: set.name, id: item.id, withTools: useTools,
                    correct: AnswerMatcher.matches(r.answer, expected: item.answer, question: item.question),
                    answer: r.answer, expected: item.answer.description, calls: r.calls, rounds: r.rounds, answerSource: r.answerSource,
                    generatedTokens: r.generatedTokens, seconds: Date().timeIntervalSince(t0))
                progress(outcome)
                if useTools { withTools.append(outcome) } else { alone.append(outcome) }
            }
        }
        return (alone, withTools)
    }
}
