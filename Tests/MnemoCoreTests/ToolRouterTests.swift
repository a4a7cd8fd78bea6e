import Foundation
import Testing
@testable import MnemoCore
@testable import MnemoTools
import MnemoModels

/// Tool specs for tests that never run a model: a calculator and a tool with a richer schema.
private func testTools() -> [ToolSpec] {
    let lookup = ToolSpec(
        name: "lookup",
        description: "Look a word up.",
        parameters: .object([
            "type": .string("object"),
            "properties": .object([
                "word": .object(["type": .string("string")]),
                "limit": .object(["type": .string("integer")]),
                "exact": .object(["type": .string("boolean")]),
                "lang": .object(["type": .string("string"), "enum": .array([.string("en"), .string("pt")])]),
                "tags": .object(["type": .string("array"), "items": .object(["type": .string("string")])]),
            ]),
            "required": .array([.string("word")]),
            "additionalProperties": .bool(false),
        ]),
        run: { "found \($0["word"]?.stringValue ?? "")" })
    return [.calculator(), lookup]
}

/// The JSON value type: Python-`json.dumps` output and a strict parser.
@Suite struct JSONValueTests {
    /// Expected strings from Python 3: `json.dumps(value, ensure_ascii=False)` (the `tojson` filter of chat templates).
    @Test func writesLikePythonJSONDumps() throws {
        // json.dumps({"b": 1, "a": [True, None, 2.5], "c": {"d": "x"}}, ensure_ascii=False)
        let nested = JSONValue.object([
            "b": .int(1), "a": .array([.bool(true), .null, .double(2.5)]), "c": .object(["d": .string("x")]),
        ])
        #expect(nested.description == #"{"b": 1, "a": [true, null, 2.5], "c": {"d": "x"}}"#)
        // json.dumps({"s": "café \"q\" \\ /\n\t\x01 €"}, ensure_ascii=False)
        let text = JSONValue.object(["s": .string("café \"q\" \\ /\n\t\u{01} €")])
        #expect(text.description == #"{"s": "café \"q\" \\ /\n\t\u0001 €"}"#)
        // json.dumps([1.0, 0.1, 1e20, -3, 1e-7, {}, []])
        let numbers = JSONValue.array([.double(1.0), .double(0.1), .double(1e20), .int(-3), .double(1e-7),
                                       .object([JSONValue.Member]()), .array([])])
        #expect(numbers.description == "[1.0, 0.1, 1e+20, -3, 1e-07, {}, []]")
        // json.dumps({"type": "function", "function": {"name": "calculator", "description": "…", "parameters": {…}}})
        let schema = ToolSpec(name: "t", description: "Add “two” numbers.", parameters: .object([
            "type": .string("object"), "properties": .object(["a": .object(["type": .string("integer")])]),
            "required": .array([.string("a")]),
        ]), run: { _ in "" })
        #expect(schema.signatureJSON == #"{"type": "function", "function": {"name": "t", "description": "Add “two” numbers.", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}"#)
    }

    @Test func parsesAndRoundTrips() throws {
        let text = #"{"z": 1, "a": [1.50, -0, 2e3, true, false, null], "s": "\u00e9\ud83d\ude00\n", "o": {}}"#
        let value = try JSONValue.parse(text)
        #expect(value["z"] == .number("1"))
        #expect(value["a"]?.arrayValue?.first == .number("1.50"))  // number text kept
        #expect(value["s"]?.stringValue == "é😀\n")
        #expect(value.description == #"{"z": 1, "a": [1.50, -0, 2e3, true, false, null], "s": "é😀\n", "o": {}}"#)
        #expect(try JSONValue.parse(value.description) == value)
        #expect(try JSONValue.parse(#"{"k": 1, "k": 2}"#) == .object(["k": .int(2)]))  // last wins, as in Python
    }

    @Test func refusesBadJSON() {
        for bad in ["", "{", #"{"a" 1}"#, #"{"a": 1,}"#, "[1, 2", "01", "1.", "+1", #""\x""#, "tru", #"{"a": 1} x"#,
                    "\"a\nb\"", #"{'a': 1}"#, String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
        do {
            _ = try JSONValue.parse(#"{"a": 1,}"#)
        } catch let e as JSONParseError {
            #expect(e.description == "expected a string key at character 9")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

/// Parsing, checking and the fast path, without a model.
@Suite struct ToolCallCheckTests {
    let tools = testTools()

    func check(_ call: String) -> Result<(ToolSpec, JSONValue), ToolRouter.CallProblem> {
        ToolRouter.check(call, tools: tools)
    }

    @Test func parsesEveryCallInAnAnswer() {
        let text = "Let me compute.\n<tool_call>\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"2+2\"}}\n</tool_call>\n"
            + "<tool_call>\n{\"name\": \"lookup\", \"arguments\": {\"word\": \"x\"}}\n</tool_call>"
        let parsed = ToolRouter.parseToolCalls(text)
        #expect(parsed.content == "Let me compute.")
        #expect(parsed.calls.map(\.text) == [#"{"name": "calculator", "arguments": {"expression": "2+2"}}"#,
                                            #"{"name": "lookup", "arguments": {"word": "x"}}"#])
        #expect(parsed.calls.allSatisfy { $0.tagged })
        // An unterminated call (cut by max tokens) is still a call.
        #expect(ToolRouter.parseToolCalls("<tool_call>\n{\"name\": \"calc").calls.map(\.text) == [#"{"name": "calc"#])
        #expect(ToolRouter.parseToolCalls("The answer is 4.").calls.isEmpty)
    }

    @Test func anAnswerThatIsOnlyACallObjectIsACall() {
        let call = #"{"name": "calculator", "arguments": {"expression": "1+1"}}"#
        for text in [call, "```json\n\(call)\n```", "```\n\(call)\n```", "  \(call)\n"] {
            let parsed = ToolRouter.parseToolCalls(text)
            #expect(parsed.content == "" && parsed.calls == [.init(text: call, tagged: false)], "\(text)")
        }
        // What follows the object is dropped (small models go on to imitate the tool's response).
        #expect(ToolRouter.parseToolCalls("\(call)\n{\"error\": \"x\"}").calls == [.init(text: call, tagged: false)])
        // A call object that does not parse is still a call, reported as invalid.
        #expect(ToolRouter.parseToolCalls("```json\n{\"name\": \"calculator\", \"arguments\": {\"expression\": 1+1}}\n```").calls
            == [.init(text: #"{"name": "calculator", "arguments": {"expression": 1+1}}"#, tagged: false)])
        // Other JSON, or a call inside prose, is an answer.
        for text in [#"{"total": 3}"#, "```json\n[1, 2]\n```", "Call this: \(call)"] {
            #expect(ToolRouter.parseToolCalls(text).calls.isEmpty, "\(text)")
        }
    }

    @Test func stopsWhenTheModelGoesOnAfterItsCalls() {
        #expect(!ToolRouter.shouldStop(after: "<tool_call>\n{}\n</tool_call>"))
        #expect(!ToolRouter.shouldStop(after: "<tool_call>\n{}\n</tool_call>\n"))
        #expect(!ToolRouter.shouldStop(after: "<tool_call>\n{}\n</tool_call>\n<tool_"))
        #expect(!ToolRouter.shouldStop(after: "<tool_call>\n{}\n</tool_call>\n<tool_call>\n{\"na"))
        #expect(ToolRouter.shouldStop(after: "<tool_call>\n{}\n</tool_call>\n<tool_response>"))
        #expect(ToolRouter.shouldStop(after: "<tool_call>\n{}\n</tool_call>\nThe result"))
        // A bare call object ends the answer once it is complete.
        #expect(!ToolRouter.shouldStop(after: "```json\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"1\"}"))
        #expect(ToolRouter.shouldStop(after: "```json\n{\"name\": \"calculator\", \"arguments\": {\"expression\": \"1\"}}\n"))
        #expect(ToolRouter.shouldStop(after: "{\"name\": \"calculator\", \"arguments\": {}}"))
        #expect(!ToolRouter.shouldStop(after: "{\"total\": 3}"))
    }

    /// Guided calls: where the model begins a call, where the string it writes ends, which schemas the
    /// router can write all but the value of.
    @Test func guidedCallsStartAtTheCallAndEndAtTheString() {
        #expect(ToolRouter.callStart("Let me compute.\n<tool_call>") == "Let me compute.\n")
        #expect(ToolRouter.callStart("<tool_call>\n{\"na") == "")
        #expect(ToolRouter.callStart("```json\n{") == "" && ToolRouter.callStart("  {") == "")
        for text in ["", "```", "```python\ndef f():", "The answer is 4.", "Use <tool", "[1, 2]"] {
            #expect(ToolRouter.callStart(text) == nil, "\(text)")
        }
        func end(_ text: String) -> Int? { ToolRouter.endOfString(text).map { text.distance(from: text.startIndex, to: $0) } }
        #expect(end(#"2^64 - 1"}}"#) == 8)
        #expect(end(#"SELECT name FROM t WHERE x = \"a\\\" y\" z" rest"#) == 42)
        #expect(end("1 + 2\nmore") == 5)  // a raw line break cannot be inside a JSON string
        #expect(end(#"still going \""#) == nil)
        let tools = testTools()
        #expect(ToolRouter.singleStringArgument(tools[0].parameters) == "expression")
        #expect(ToolRouter.singleStringArgument(tools[1].parameters) == nil)  // several properties: the model writes the object
    }

    @Test func filterHidesCallsFromTheStream() {
        var filter = ToolCallFilter()
        var out = ""
        for piece in ["Hi ", "<tool", "_call>", "\n{\"name\"", "}\n</tool", "_call>", " done <", "b>"] { out += filter.feed(piece) }
        out += filter.finish(dropHeld: true)
        #expect(out == "Hi  done <b>")
        // A round that starts like a bare call object is held until it ends.
        var held = ToolCallFilter()
        #expect(held.feed("\n") == "" && held.feed("```json\n{") == "" && held.feed("}```") == "")
        #expect(held.finish(dropHeld: false) == "\n```json\n{}```")
    }

    @Test func validCallPasses() throws {
        guard case .success(let (tool, arguments)) = check(#"{"name": "lookup", "arguments": {"word": "mar", "limit": 3, "exact": true, "lang": "pt", "tags": ["a"]}}"#) else {
            Issue.record("the call should be valid"); return
        }
        #expect(tool.name == "lookup")
        #expect(arguments.description == #"{"word": "mar", "limit": 3, "exact": true, "lang": "pt", "tags": ["a"]}"#)
        // 3.0 is an integer to JSON Schema; arguments as a JSON string holding an object are accepted.
        #expect(check(#"{"name": "lookup", "arguments": {"word": "x", "limit": 3.0}}"#).isValid)
        #expect(check(#"{"name": "calculator", "arguments": "{\"expression\": \"1+1\"}"}"#).isValid)
    }

    @Test func invalidCallsSayWhy() throws {
        let cases: [(String, String)] = [
            (#"{"name": "calculator", "arguments": {"expression": "1+1"}"#, "the tool call is not valid JSON: unexpected end of input, the object is not closed at character 58"),
            (#"["calculator"]"#, "a tool call must be a JSON object {\"name\": \"TOOL\", \"arguments\": {…}}"),
            (#"{"name": "weather", "arguments": {}}"#, "unknown tool \"weather\" (available: \"calculator\", \"lookup\")"),
            (#"{"name": "calculator", "arguments": {}}"#, "invalid arguments for calculator: arguments is missing the required property \"expression\""),
            (#"{"name": "calculator", "arguments": {"expression": 42}}"#, "invalid arguments for calculator: arguments.expression must be a string, not an integer"),
            (#"{"name": "lookup", "arguments": {"word": "x", "limit": 2.5}}"#, "invalid arguments for lookup: arguments.limit must be an integer, not a number"),
            (#"{"name": "calculator", "arguments": {"expression": "1", "precision": 3}}"#, "invalid arguments for calculator: arguments has an unknown property \"precision\" (allowed: \"expression\")"),
            (#"{"name": "lookup", "arguments": {"word": "x", "lang": "de"}}"#, "invalid arguments for lookup: arguments.lang must be one of \"en\", \"pt\", not \"de\""),
            (#"{"name": "lookup", "arguments": {"word": "x", "tags": ["a", 1]}}"#, "invalid arguments for lookup: arguments.tags[1] must be a string, not an integer"),
            (#"{"name": "lookup", "arguments": [1]}"#, "invalid arguments for lookup: arguments must be an object, not an array"),
        ]
        for (call, message) in cases {
            guard case .failure(let problem) = check(call) else { Issue.record("\(call) should be invalid"); continue }
            #expect(problem.message == message)
        }
    }

    @Test func fastPathTakesOnlyBareExpressions() {
        #expect(ToolRouter.bareExpression("2^100 / 3") == "2^100 / 3")
        #expect(ToolRouter.bareExpression("  (1234 * 5678) = ") == "(1234 * 5678)")
        #expect(ToolRouter.bareExpression("sqrt(16/9)") == "sqrt(16/9)")
        #expect(ToolRouter.bareExpression("250000 * 3.5%") == "250000 * 3.5%")
        for text in ["42", "-7", "What is 2 + 2?", "2024-03-05", "pi", "2 +* 3", "", "hello (world)", "1/0 is what"] {
            #expect(ToolRouter.bareExpression(text) == nil, "\(text)")
        }
    }
}

extension Result {
    var isValid: Bool { if case .success = self { true } else { false } }
}
