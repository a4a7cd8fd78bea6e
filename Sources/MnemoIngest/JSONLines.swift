/// JSON Lines records: one JSON object per line. A small hand-written parser rather than
/// JSONSerialization, because it must say where each value lies in the file (for exact chunk byte
/// ranges), keep non-string values as their JSON text (no NSNumber round trip turning 1.0 into 1 or
/// true into 1), report the column of a syntax error, and cap nesting so hostile input cannot
/// exhaust the stack.
enum JSONLines {
    /// Most record-level warnings kept for one file; the rest are counted in a last warning.
    static let maxWarnings = 100

    /// Segments for the usable records and a warning for each line skipped. Blank lines are ignored.
    static func records(_ b: UnsafeBufferPointer<UInt8>, from start: Int, textField: String)
        -> (segments: [ExtractedSegment], warnings: [String], lines: Int) {
        var segments: [ExtractedSegment] = []
        var warnings: [String] = []
        var dropped = 0
        var lineNumber = 0
        var lineStart = start
        let n = b.count
        while lineStart < n {
            var lineEnd = lineStart
            while lineEnd < n && b[lineEnd] != 0x0A { lineEnd += 1 }
            let next = lineEnd + 1
            if lineEnd > lineStart && b[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            lineNumber += 1
            defer { lineStart = next }
            var blank = true
            for k in lineStart..<lineEnd where !UTF8Bytes.isASCIIWhitespace(b[k]) {
                blank = false
                break
            }
            if blank { continue }
            let result: Result<ExtractedSegment, Failure>
            switch UTF8Bytes.firstProblem(UnsafeBufferPointer(rebasing: b[lineStart..<lineEnd])) {
            case .invalid(let offset): result = .failure(Failure(message: "invalid UTF-8 at byte \(offset + 1) of the line (file offset \(lineStart + offset))"))
            case .nul(let offset): result = .failure(Failure(message: "a NUL byte at byte \(offset + 1) of the line"))
            case nil: result = record(b, lineStart..<lineEnd, textField: textField)
            }
            switch result {
            case .success(let segment):
                segments.append(segment)
            case .failure(let failure):
                if warnings.count < maxWarnings {
                    warnings.append("line \(lineNumber): \(failure.message)")
                } else {
                    dropped += 1
                }
            }
        }
        if dropped > 0 { warnings.append("… and \(dropped) more skipped lines") }
        return (segments, warnings, lineNumber)
    }

    struct Failure: Error { let message: String }

    static func record(_ b: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, textField: String) -> Result<ExtractedSegment, Failure> {
        var scanner = JSONScanner(b: b, i: line.lowerBound, end: line.upperBound)
        let members: [(key: String, value: JSONScanner.Member)]
        do {
            members = try scanner.topLevelObject()
        } catch let error as JSONScanner.SyntaxError {
            return .failure(Failure(message: error.describe(lineStart: line.lowerBound)))
        } catch {
            return .failure(Failure(message: "invalid JSON"))
        }
        var text: (value: String, raw: Range<Int>, escaped: Bool)?
        var textIsString = true
        var metadata: [String: String] = [:]
        for (key, value) in members {
            if key == textField {
                if case .string(let s, let raw, let escaped) = value {
                    text = (s, raw, escaped)
                    textIsString = true
                } else {
                    text = nil
                    textIsString = false
                }
                continue
            }
            switch value {
            case .string(let s, _, _): metadata[key] = s
            case .other(let raw): metadata[key] = minified(b, raw)
            }
        }
        guard textIsString else { return .failure(Failure(message: "field \"\(textField)\" is not a string")) }
        guard let text else { return .failure(Failure(message: "no \"\(textField)\" field")) }
        var blank = true
        for scalar in text.value.unicodeScalars where !scalar.properties.isWhitespace {
            blank = false
            break
        }
        if blank { return .failure(Failure(message: "field \"\(textField)\" is empty")) }
        return .success(ExtractedSegment(text: text.value, byteRange: line, metadata: metadata,
                                         textOffset: text.escaped ? nil : text.raw.lowerBound))
    }

    /// JSON text without the insignificant whitespace, for non-string metadata values.
    static func minified(_ b: UnsafeBufferPointer<UInt8>, _ raw: Range<Int>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var inString = false, escaped = false
        for k in raw {
            let c = b[k]
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                out.append(c)
            } else if c == UInt8(ascii: "\"") {
                inString = true
                out.append(c)
            } else if !(c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D) {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A strict JSON (RFC 8259) scanner over one line of validated UTF-8.
struct JSONScanner {
    let b: UnsafeBufferPointer<UInt8>
    var i: Int
    let end: Int

    /// Nesting beyond this is refused rather than recursed into.
    static let maxDepth = 200

    enum Member {
        /// A string: its decoded value, the range of its raw content between the quotes, and
        /// whether that content had escapes (so that it differs from the decoded value).
        case string(String, raw: Range<Int>, escaped: Bool)
        /// Any other value, as the range of its JSON text.
        case other(raw: Range<Int>)
    }

    struct SyntaxError: Error {
        let message: String
        let offset: Int
        func describe(lineStart: Int) -> String { "\(message) (column \(offset - lineStart + 1))" }
    }

    func fail(_ message: String) -> SyntaxError { SyntaxError(message: message, offset: i) }

    mutating func skipWhitespace() {
        while i < end {
            let c = b[i]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { return }
            i += 1
        }
    }

    mutating func topLevelObject() throws -> [(key: String, value: Member)] {
        skipWhitespace()
        guard i < end, b[i] == UInt8(ascii: "{") else {
            throw SyntaxError(message: "not a JSON object", offset: i)
        }
        i += 1
        var members: [(key: String, value: Member)] = []
        skipWhitespace()
        if i < end && b[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipWhitespace()
                guard i < end, b[i] == UInt8(ascii: "\"") else { throw fail("invalid JSON: expected a key") }
                let key = try string()
                skipWhitespace()
                guard i < end, b[i] == UInt8(ascii: ":") else { throw fail("invalid JSON: expected ':'") }
                i += 1
                skipWhitespace()
                guard i < end else { throw fail("invalid JSON: expected a value") }
                if b[i] == UInt8(ascii: "\"") {
                    let s = try string()
                    members.append((key.value, .string(s.value, raw: s.raw, escaped: s.escaped)))
                } else {
                    let start = i
                    try value(depth: 1)
                    members.append((key.value, .other(raw: start..<i)))
                }
                skipWhitespace()
                guard i < end else { throw fail("invalid JSON: unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; break }
                throw fail("invalid JSON: expected ',' or '}'")
            }
        }
        skipWhitespace()
        guard i == end else { throw fail("invalid JSON: text after the object") }
        return members
    }

    /// Checks and skips one value of any kind.
    mutating func value(depth: Int) throws {
        guard i < end else { throw fail("invalid JSON: expected a value") }
        switch b[i] {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < JSONScanner.maxDepth else { throw fail("invalid JSON: nested too deeply") }
            let isObject = b[i] == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            skipWhitespace()
            if i < end && b[i] == close { i += 1; return }
            while true {
                skipWhitespace()
                if isObject {
                    guard i < end, b[i] == UInt8(ascii: "\"") else { throw fail("invalid JSON: expected a key") }
                    _ = try string()
                    skipWhitespace()
                    guard i < end, b[i] == UInt8(ascii: ":") else { throw fail("invalid JSON: expected ':'") }
                    i += 1
                    skipWhitespace()
                }
                try value(depth: depth + 1)
                skipWhitespace()
                guard i < end else { throw fail("invalid JSON: unterminated \(isObject ? "object" : "array")") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == close { i += 1; return }
                throw fail("invalid JSON: expected ',' or '\(isObject ? "}" : "]")'")
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    mutating func literal(_ word: StaticString) throws {
        guard HTMLText.starts(UnsafeBufferPointer(rebasing: b[..<end]), i, word) else { throw fail("invalid JSON: unexpected character") }
        i += word.utf8CodeUnitCount
    }

    mutating func number() throws {
        let start = i
        if i < end && b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end, isDigit(b[i]) else {
            i = start
            throw fail("invalid JSON: unexpected character")
        }
        if b[i] == UInt8(ascii: "0") { i += 1 } else { while i < end && isDigit(b[i]) { i += 1 } }
        if i < end && b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end, isDigit(b[i]) else { throw fail("invalid JSON: bad number") }
            while i < end && isDigit(b[i]) { i += 1 }
        }
        if i < end && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < end && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < end, isDigit(b[i]) else { throw fail("invalid JSON: bad number") }
            while i < end && isDigit(b[i]) { i += 1 }
        }
    }

    @inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Reads a string at the opening quote: its decoded value, the raw content range, whether it had escapes.
    mutating func string() throws -> (value: String, raw: Range<Int>, escaped: Bool) {
        i += 1
        let start = i
        var decoded: [UInt8] = []  // only built once an escape shows up
        var escaped = false
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let raw = start..<i
                i += 1
                if escaped { return (String(decoding: decoded, as: UTF8.self), raw, true) }
                return (UTF8Bytes.string(b, raw), raw, false)
            }
            if c < 0x20 { throw fail("invalid JSON: control character in string") }
            if c == UInt8(ascii: "\\") {
                if !escaped {
                    decoded.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                    escaped = true
                }
                i += 1
                guard i < end else { break }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(e)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var value = try hex4()
                    if (0xD800...0xDBFF).contains(value), i + 1 < end, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            i = save  // not a pair: the high half alone becomes U+FFFD below
                        }
                    }
                    // A lone surrogate cannot be represented in a String; replace it, as decoders do.
                    UTF8Bytes.append(Unicode.Scalar(value) ?? "\u{FFFD}", to: &decoded)
                default:
                    i -= 1
                    throw fail("invalid JSON: bad escape")
                }
                continue
            }
            if escaped { decoded.append(c) }
            i += 1
        }
        throw SyntaxError(message: "invalid JSON: unterminated string", offset: start - 1)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= end else { throw fail("invalid JSON: bad \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let d = HTMLText.digitValue(b[i], hex: true) else { throw fail("invalid JSON: bad \\u escape") }
            value = value << 4 | d
            i += 1
        }
        return value
    }
}
