import Foundation
import MnemoTools

/// A tool the LLM may call: a name, a description and a JSON Schema for its arguments (all shown to
/// the model), and the code that runs it.
public struct ToolSpec {
    public let name: String
    public let description: String
    /// A JSON Schema object for the arguments (the subset `JSONSchema` checks).
    public let parameters: JSONValue
    /// Text added to the system message when the tool is offered (e.g. a database's tables).
    public let instructions: String?
    /// Runs the tool on validated arguments; returns the result text given back to the model.
    /// A thrown error is reported to the model as `{"error": "…"}`.
    public let run: (JSONValue) throws -> String

    public init(name: String, description: String, parameters: JSONValue, instructions: String? = nil,
                run: @escaping (JSONValue) throws -> String) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.instructions = instructions
        self.run = run
    }

    /// The line Qwen's template puts inside `<tools>`: the OpenAI function format, as `tojson` writes it.
    public var signatureJSON: String {
        JSONValue.object([
            "type": .string("function"),
            "function": .object(["name": .string(name), "description": .string(description), "parameters": parameters]),
        ]).description
    }
}

extension ToolSpec {
    /// The short names the CLI accepts, and the tool each stands for.
    public static let shortNames = ["calc": "calculator", "sql": "sql_query"]

    /// `calculator`: an expression in, the exact result text out.
    public static func calculator(_ calculator: Calculator = Calculator()) -> ToolSpec {
        ToolSpec(
            name: "calculator",
            description: "Evaluate an arithmetic expression exactly (integers of any size, fractions, decimals). "
                + "Operators: + - * / ^ (power), % (percent), parentheses; functions: sqrt, exp, ln, log, abs, round(x, places), "
                + "floor, ceil, min, max; constants pi and e. Use it for every calculation.",
            parameters: .object([
                "type": .string("object"),
                "properties": .object([
                    "expression": .object([
                        "type": .string("string"),
                        "description": .string("The expression, e.g. \"1250 * (1 + 3/100)^5\" or \"(250000 - 1200) / 12\""),
                    ]),
                ]),
                "required": .array([.string("expression")]),
                "additionalProperties": .bool(false),
            ]),
            instructions: "Do not calculate in your head: for any arithmetic, call the calculator with the whole calculation "
                + "as one expression, then answer with the number it returns.",
            run: { arguments in
                let expression = arguments["expression"]?.stringValue ?? ""
                return try calculator.evaluate(expression).description
            })
    }

    /// `sql_query`: one read-only SQL statement over `database`, rows back as a text table. The schema
    /// (tables, columns, sample rows) goes into the system message so the model knows what to ask for.
    public static func sqlQuery(_ database: ReadOnlyDatabase, maxRows: Int = 50) throws -> ToolSpec {
        let schema = try database.schema()
        return ToolSpec(
            name: "sql_query",
            description: "Run one read-only SQL query (SQLite dialect: SELECT or WITH … SELECT) on the database "
                + "\(schema.database) and return the rows. The tables are described in the system message.",
            parameters: .object([
                "type": .string("object"),
                "properties": .object([
                    "query": .object([
                        "type": .string("string"),
                        "description": .string("One SQLite SELECT statement."),
                    ]),
                ]),
                "required": .array([.string("query")]),
                "additionalProperties": .bool(false),
            ]),
            instructions: "To look something up in the database, call sql_query with one SELECT statement, then answer from "
                + "the rows it returns. The database:\n" + schema.promptText() + "\nMoney columns ending in _cents are integer cents.",
            run: { arguments in
                let sql = arguments["query"]?.stringValue ?? ""
                return try database.query(sql, maxRows: maxRows).table()
            })
    }
}

/// A check of tool arguments against the subset of JSON Schema the tools use: `type` (object, string,
/// integer, number, boolean, array, null, or a list of them), `properties`, `required`, `enum`,
/// `additionalProperties: false` and `items`. Other keywords (descriptions, titles) are ignored.
public enum JSONSchema {
    /// The first violation, as a message naming the path (`arguments.expression`), or nil when valid.
    public static func violation(of value: JSONValue, against schema: JSONValue, path: String = "arguments") -> String? {
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? type.stringValue.map { [$0] } ?? []
            if !allowed.isEmpty && !allowed.contains(where: { matches(value, type: $0) }) {
                return "\(path) must be \(allowed.map(article).joined(separator: " or ")), not \(article(value.typeName))"
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(where: { equal($0, value) }) {
            return "\(path) must be one of \(options.map(\.description).joined(separator: ", ")), not \(value)"
        }
        if case .object(let members) = value {
            let properties = schema["properties"]?.objectValue ?? []
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            where !members.contains(where: { $0.key == required }) {
                return "\(path) is missing the required property \"\(required)\""
            }
            for member in members {
                if let property = properties.first(where: { $0.key == member.key }) {
                    if let v = violation(of: member.value, against: property.value, path: path + "." + member.key) { return v }
                } else if schema["additionalProperties"] == .bool(false) {
                    let known = properties.map { "\"\($0.key)\"" }.joined(separator: ", ")
                    return "\(path) has an unknown property \"\(member.key)\" (allowed: \(known.isEmpty ? "none" : known))"
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (i, item) in items.enumerated() {
                if let v = violation(of: item, against: itemSchema, path: "\(path)[\(i)]") { return v }
            }
        }
        return nil
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("string", .string), ("boolean", .bool), ("array", .array), ("null", .null), ("number", .number):
            return true
        case ("integer", .number):
            return value.intValue != nil
        default:
            return false
        }
    }

    /// JSON equality with numbers compared by value (`1` equals `1.0`).
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case .number(let x) = a, case .number(let y) = b { return x == y || (Double(x) != nil && Double(x) == Double(y)) }
        return a == b
    }

    static func article(_ type: String) -> String {
        switch type {
        case "integer", "object", "array": "an \(type)"
        case "null": "null"
        default: "a \(type)"
        }
    }
}
