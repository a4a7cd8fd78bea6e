import Foundation

/// A JSON value that keeps the order of object keys and the text of numbers, so that what the model is
/// shown (tool schemas) and what it wrote (tool-call arguments) round-trip exactly.
///
/// `description` writes it the way Python's `json.dumps(value, ensure_ascii=False)` does, which is what
/// the `tojson` filter of Hugging Face chat templates produces: `", "` and `": "` separators, keys in
/// their given order, non-ASCII characters kept, control characters escaped.
public indirect enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// A number as its JSON literal text (`42`, `-0.5`, `1e+20`): exact, however many digits it has.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in order; a parsed object with a repeated key keeps the last value (as Python does).
    case object([Member])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A double as Python's `repr` writes it (`1.0`, `0.1`, `1e+20`); non-finite values become null.
    public static func double(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e16 { return .number(String(format: "%.1f", value)) }
        return .number("\(value)")
    }

    /// An object from ordered pairs.
    public static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
        .object(pairs.map { Member($0.key, $0.value) })
    }

    // MARK: Access

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [Member]? { if case .object(let m) = self { m } else { nil } }
    public var doubleValue: Double? { if case .number(let n) = self { Double(n) } else { nil } }
    /// The number as an Int when it is integral and fits (`3`, `3.0`, `3e2`).
    public var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        guard let d = Double(n), d == d.rounded(), abs(d) < 9e15 else { return nil }
        return Int(d)
    }

    /// The JSON type name, as JSON Schema spells it (`integer` for integral numbers).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: intValue != nil ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    // MARK: Writing

    public var description: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += ", " }
                Self.writeString(member.key, to: &out)
                out += ": "
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    // MARK: Parsing

    /// Parses one JSON text (RFC 8259; surrounding whitespace allowed). Errors name the character offset.
    public static func parse(_ text: String, maxDepth: Int = 64) throws -> JSONValue {
        var parser = JSONParser(text, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Parses the JSON value at the start of `text` (after whitespace) and returns it with its own text
    /// and the text that follows it; nil when no complete value starts there.
    public static func parsePrefix(_ text: String, maxDepth: Int = 64) -> (value: JSONValue, text: String, rest: String)? {
        var parser = JSONParser(text, maxDepth: maxDepth)
        parser.skipWhitespace()
        let start = parser.i
        guard let value = try? parser.parseValue() else { return nil }
        return (value, String(String.UnicodeScalarView(parser.scalars[start..<parser.i])),
                String(String.UnicodeScalarView(parser.scalars[parser.i...])))
    }
}

/// A JSON syntax error: what was wrong and at which character.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    /// 0-based offset in characters (Unicode scalars) of the input.
    public let offset: Int
    public var description: String { "\(message) at character \(offset + 1)" }
}

struct JSONParser {
    let scalars: [Unicode.Scalar]
    let maxDepth: Int
    var i = 0
    var depth = 0

    init(_ text: String, maxDepth: Int) {
        scalars = Array(text.unicodeScalars)
        self.maxDepth = maxDepth
    }

    func fail(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: i) }

    var current: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }

    mutating func skipWhitespace() {
        while let c = current, c == " " || c == "\n" || c == "\r" || c == "\t" { i += 1 }
    }

    mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard current == nil else { throw fail("unexpected text after the JSON value") }
        return value
    }

    mutating func parseValue() throws -> JSONValue {
        guard let c = current else { throw fail("unexpected end of input, expected a value") }
        switch c {
        case "{": return try nested { try $0.parseObject() }
        case "[": return try nested { try $0.parseArray() }
        case "\"": return .string(try parseString())
        case "t": try literal("true"); return .bool(true)
        case "f": try literal("false"); return .bool(false)
        case "n": try literal("null"); return .null
        case "-", "0"..."9": return .number(try parseNumber())
        default: throw fail("unexpected character '\(c)', expected a value")
        }
    }

    mutating func nested(_ body: (inout JSONParser) throws -> JSONValue) throws -> JSONValue {
        depth += 1
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        defer { depth -= 1 }
        return try body(&self)
    }

    mutating func literal(_ word: String) throws {
        for expected in word.unicodeScalars {
            guard current == expected else { throw fail("invalid literal, expected '\(word)'") }
            i += 1
        }
    }

    mutating func parseObject() throws -> JSONValue {
        i += 1  // {
        var members: [JSONValue.Member] = []
        skipWhitespace()
        if current == "}" { i += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == "\"" else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard current == ":" else { throw fail("expected ':' after the key \"\(key)\"") }
            i += 1
            skipWhitespace()
            let value = try parseValue()
            if let existing = members.firstIndex(where: { $0.key == key }) {
                members[existing].value = value
            } else {
                members.append(.init(key, value))
            }
            skipWhitespace()
            switch current {
            case ",": i += 1
            case "}": i += 1; return .object(members)
            case nil: throw fail("unexpected end of input, the object is not closed")
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    mutating func parseArray() throws -> JSONValue {
        i += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if current == "]" { i += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            switch current {
            case ",": i += 1
            case "]": i += 1; return .array(items)
            case nil: throw fail("unexpected end of input, the array is not closed")
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseString() throws -> String {
        i += 1  // opening quote
        var out = String.UnicodeScalarView()
        while true {
            guard let c = current else { throw fail("unexpected end of input in a string") }
            i += 1
            switch c {
            case "\"": return String(out)
            case "\\":
                guard let e = current else { throw fail("unexpected end of input in an escape") }
                i += 1
                switch e {
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "/": out.append("/")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "u":
                    let high = try hex4()
                    if (0xD800..<0xDC00).contains(high) {
                        // A surrogate pair: the low half must follow.
                        guard current == "\\", i + 1 < scalars.count, scalars[i + 1] == "u" else {
                            throw fail("lone surrogate \\u\(String(high, radix: 16))")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low),
                              let s = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
                            throw fail("invalid surrogate pair")
                        }
                        out.append(s)
                    } else {
                        guard let s = Unicode.Scalar(high) else { throw fail("lone surrogate \\u\(String(high, radix: 16))") }
                        out.append(s)
                    }
                default: i -= 1; throw fail("invalid escape '\\\(e)'")
                }
            case _ where c.value < 0x20:
                i -= 1
                throw fail("control character U+\(String(format: "%04X", c.value)) in a string (write it escaped)")
            default: out.append(c)
            }
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= scalars.count else { throw fail("unexpected end of input in \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard scalars[i].isASCII, let d = UInt32(String(scalars[i]), radix: 16) else {
                throw fail("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func parseNumber() throws -> String {
        let start = i
        func digits() -> Int {
            let s = i
            while let c = current, ("0"..."9").contains(c) { i += 1 }
            return i - s
        }
        if current == "-" { i += 1 }
        guard let first = current, ("0"..."9").contains(first) else { throw fail("expected a digit") }
        if first == "0" { i += 1 } else { _ = digits() }
        if current == "." {
            i += 1
            guard digits() > 0 else { throw fail("expected a digit after '.'") }
        }
        if current == "e" || current == "E" {
            i += 1
            if current == "+" || current == "-" { i += 1 }
            guard digits() > 0 else { throw fail("expected a digit in the exponent") }
        }
        if let c = current, ("0"..."9").contains(c) { throw fail("a number may not have leading zeros") }
        return String(String.UnicodeScalarView(scalars[start..<i]))
    }
}
