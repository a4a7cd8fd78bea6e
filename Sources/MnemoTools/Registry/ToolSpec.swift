import Foundation

/// What a tool returns: the text given back to a model, and the same result as structured JSON for
/// clients that read it (MCP's `structuredContent`).
public struct ToolOutput: Sendable {
    public var text: String
    public var structured: JSONValue?

    public init(text: String, structured: JSONValue? = nil) {
        self.text = text
        self.structured = structured
    }
}

/// A tool the LLM may call: a name, a description and a JSON Schema for its arguments (all shown to
/// the model), and the code that runs it. This registry is the only definition of Mnemo's tools: the
/// router renders it into the chat template, MCP into `tools/list`, HTTP into `GET /v1/tools`.
public struct ToolSpec {
    public let name: String
    public let description: String
    /// A JSON Schema object for the arguments (the subset `JSONSchema` checks).
    public let parameters: JSONValue
    /// Text added to the system message when the tool is offered (e.g. a database's tables).
    public let instructions: String?
    /// Runs the tool on validated arguments. A thrown error is reported to the model as `{"error": "…"}`.
    public let execute: (JSONValue) throws -> ToolOutput

    public init(name: String, description: String, parameters: JSONValue, instructions: String? = nil,
                execute: @escaping (JSONValue) throws -> ToolOutput) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.instructions = instructions
        self.execute = execute
    }

    /// A tool whose result is text only.
    public init(name: String, description: String, parameters: JSONValue, instructions: String? = nil,
                run: @escaping (JSONValue) throws -> String) {
        self.init(name: name, description: description, parameters: parameters, instructions: instructions,
                  execute: { ToolOutput(text: try run($0)) })
    }

    /// The result text given back to the model.
    public func run(_ arguments: JSONValue) throws -> String { try execute(arguments).text }

    /// Checks `arguments` against the schema, then runs the tool (for callers that, unlike the router,
    /// have no model to tell about a violation first).
    public func call(_ arguments: JSONValue) throws -> ToolOutput {
        if let violation = JSONSchema.violation(of: arguments, against: parameters) {
            throw ToolError(.invalidArguments, violation)
        }
        return try execute(arguments)
    }

    /// The line Qwen's template puts inside `<tools>`: the OpenAI function format, as `tojson` writes it.
    public var signatureJSON: String { signature.description }

    /// The OpenAI function format (`{"type": "function", "function": {name, description, parameters}}`).
    public var signature: JSONValue {
        JSONValue.object([
            "type": .string("function"),
            "function": .object(["name": .string(name), "description": .string(description), "parameters": parameters]),
        ])
    }

    /// The description with the instructions after it: what a client without Mnemo's system message
    /// (MCP, HTTP) shows its model.
    public var fullDescription: String {
        instructions.map { description + "\n\n" + $0 } ?? description
    }
}

extension ToolSpec {
    /// The short names the CLI accepts, and the tool each stands for.
    public static let shortNames = ["calc": "calculator", "sql": "sql_query"]

    /// Rows a `sql_query` call returns at most, in every edge (router, MCP, HTTP).
    public static let maxSQLRows = 50

    /// Every tool there is: the calculator, and `sql_query` when there is a database.
    public static func all(database: ReadOnlyDatabase?) throws -> [ToolSpec] {
        try [.calculator()] + (database.map { [try .sqlQuery($0)] } ?? [])
    }

    /// The tools named in `names` (`calc`, `sql`, or their full names); `database` for `sql_query`.
    public static func named(_ names: [String], database: ReadOnlyDatabase?) throws -> [ToolSpec] {
        try names.map { name in
            switch shortNames[name] ?? name {
            case "calculator": return .calculator()
            case "sql_query":
                guard let database else { throw ToolError(.notFound, "the sql tool needs a database (--db PATH or $MNEMO_SQL_DB)") }
                return try .sqlQuery(database)
            default:
                throw ToolError(.init("unknown-tool"), "unknown tool '\(name)' (tools: calc, sql)")
            }
        }
    }

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
            execute: { arguments in
                let result = try calculator.evaluate(arguments["expression"]?.stringValue ?? "")
                return ToolOutput(text: result.description, structured: .object([
                    "result": .string(result.description), "exact": .bool(result.isExact),
                    "value": .string(result.valueText), "decimal": .string(result.decimal()),
                ]))
            })
    }

    /// `sql_query`: one read-only SQL statement over `database`, rows back as a text table (at most
    /// `maxRows`). The schema (tables, columns, sample rows) goes into the instructions so the model
    /// knows what to ask for.
    public static func sqlQuery(_ database: ReadOnlyDatabase, maxRows: Int = maxSQLRows) throws -> ToolSpec {
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
            execute: { arguments in
                let result = try database.query(arguments["query"]?.stringValue ?? "", maxRows: maxRows)
                let json = try JSONValue.parse(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
                return ToolOutput(text: result.table(), structured: json)
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
