/// Calculator syntax: tokens, then a recursive-descent parse into a small tree.
///
/// Grammar, loosest first:
///
///     expression     := multiplicative (("+" | "-") multiplicative)*
///     multiplicative := unary (("*" | "/" | "%") unary)*        "%" here is the remainder
///     unary          := ("-" | "+") unary | power
///     power          := postfix ("^" unary)?                    right-associative; 2^-1 allowed
///     postfix        := primary "%"*                            "%" here is percent
///     primary        := number | name | name "(" arguments ")" | "(" expression ")"
///
/// A `%` directly after an operand is a percent sign unless a number, a name or `(` follows it, in which case
/// it is the remainder operator: `50%` is 1/2, `7 % 3` is 1, `200 * 15%` is 30.
struct Token: Equatable {
    enum Kind: Equatable {
        case number(String), name(String)
        case plus, minus, star, slash, caret, percent, leftParen, rightParen, comma, end
    }
    let kind: Kind
    /// 1-based column (in characters) where the token starts.
    let column: Int
    let text: String

    /// Whether this token can begin an operand (which makes a `%` before it the remainder operator).
    var startsOperand: Bool {
        switch kind {
        case .number, .name, .leftParen: true
        default: false
        }
    }

    var quoted: String { kind == .end ? "the end of the expression" : "'\(text)'" }
}

enum Lexer {
    static func tokens(_ source: String) throws -> [Token] {
        let chars = Array(source)
        var tokens: [Token] = []
        var i = 0
        func isDigit(_ j: Int) -> Bool { j < chars.count && chars[j].isASCIIDigit }
        while i < chars.count {
            let c = chars[i], column = i + 1
            if c.isWhitespace { i += 1; continue }
            if c.isASCIIDigit || (c == "." && isDigit(i + 1)) {
                var j = i
                while j < chars.count && (chars[j].isASCIIDigit || (chars[j] == "_" && isDigit(j + 1) && j > i)) { j += 1 }
                if j < chars.count && chars[j] == "." {
                    j += 1
                    while j < chars.count && (chars[j].isASCIIDigit || (chars[j] == "_" && isDigit(j + 1) && isDigit(j - 1))) { j += 1 }
                }
                if j < chars.count && (chars[j] == "e" || chars[j] == "E") {
                    var k = j + 1
                    if k < chars.count && (chars[k] == "+" || chars[k] == "-") { k += 1 }
                    if isDigit(k) {
                        while isDigit(k) { k += 1 }
                        j = k
                    }
                }
                tokens.append(Token(kind: .number(String(chars[i..<j])), column: column, text: String(chars[i..<j])))
                i = j
                continue
            }
            if c.isLetter || c == "_" {
                var j = i
                while j < chars.count && (chars[j].isLetter || chars[j] == "_" || chars[j].isASCIIDigit) { j += 1 }
                let name = String(chars[i..<j])
                tokens.append(Token(kind: .name(name), column: column, text: name))
                i = j
                continue
            }
            let kind: Token.Kind
            var length = 1
            switch c {
            case "+": kind = .plus
            case "-", "\u{2212}", "\u{2013}": kind = .minus  // hyphen-minus, minus sign, en dash
            case "*" where i + 1 < chars.count && chars[i + 1] == "*": kind = .caret; length = 2
            case "*", "\u{00D7}", "\u{00B7}", "\u{22C5}", "\u{2217}": kind = .star  // * × · ⋅ ∗
            case "/", "\u{00F7}", "\u{2215}": kind = .slash  // / ÷ ∕
            case "^": kind = .caret
            case "%": kind = .percent
            case "(": kind = .leftParen
            case ")": kind = .rightParen
            case ",": kind = .comma
            default:
                throw ToolError(.syntax, "unexpected character '\(c)' at column \(column)", column: column)
            }
            tokens.append(Token(kind: kind, column: column, text: String(chars[i..<(i + length)])))
            i += length
        }
        tokens.append(Token(kind: .end, column: chars.count + 1, text: ""))
        return tokens
    }
}

/// The parsed expression. Chains of `+ -` and of `* / %` are flat lists, so a long sum is one node (its
/// evaluation does not recurse once per term).
indirect enum Expr {
    enum Operator { case add, subtract, multiply, divide, remainder }
    struct Link {
        let op: Operator
        let operand: Expr
        let column: Int
    }

    case number(Rational)
    case constant(String, column: Int)
    case negate(Expr)
    case percent(Expr, column: Int)
    /// Parentheses, kept so that `200 + (15%)` can differ from `200 + 15%`.
    case group(Expr)
    case chain(Expr, [Link])
    case power(Expr, Expr, column: Int)
    case call(String, [Expr], column: Int)
}

struct Parser {
    let tokens: [Token]
    let limits: Calculator.Limits
    var position = 0
    var depth = 0

    init(_ source: String, limits: Calculator.Limits) throws {
        tokens = try Lexer.tokens(source)
        self.limits = limits
    }

    var current: Token { tokens[position] }

    mutating func advance() -> Token {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    mutating func parse() throws -> Expr {
        if current.kind == .end { throw ToolError(.syntax, "empty expression", column: 1) }
        let expr = try expression()
        if current.kind != .end { throw unexpected(current) }
        return expr
    }

    /// The error for a token that cannot stand where it is.
    func unexpected(_ token: Token) -> ToolError {
        let previous = position > 0 ? tokens[position - 1] : nil
        let message: String
        switch token.kind {
        case .number, .name, .leftParen:
            message = "missing operator before \(token.quoted) at column \(token.column)"
                + " (implicit multiplication is not supported: write \(previous?.text ?? "")*\(token.kind == .leftParen ? "(…)" : token.text))"
        case .rightParen:
            message = "unmatched ')' at column \(token.column)"
        case .comma:
            message = "unexpected ',' at column \(token.column) (commas only separate function arguments;"
                + " write 1000000 or 1_000_000, not 1,000,000)"
        case .end:
            let after = previous.map { " after '\($0.text)' at column \($0.column)" } ?? ""
            message = "the expression ends too early\(after): a number, name or '(' is missing"
        default:
            message = "unexpected \(token.quoted) at column \(token.column)"
        }
        return ToolError(.syntax, message, column: token.column)
    }

    mutating func expression() throws -> Expr {
        let first = try multiplicative()
        var links: [Expr.Link] = []
        while true {
            let op: Expr.Operator
            switch current.kind {
            case .plus: op = .add
            case .minus: op = .subtract
            default: return links.isEmpty ? first : .chain(first, links)
            }
            let token = advance()
            links.append(Expr.Link(op: op, operand: try multiplicative(), column: token.column))
        }
    }

    mutating func multiplicative() throws -> Expr {
        let first = try unary()
        var links: [Expr.Link] = []
        while true {
            let op: Expr.Operator
            switch current.kind {
            case .star: op = .multiply
            case .slash: op = .divide
            case .percent: op = .remainder  // postfix() already took every percent sign
            default: return links.isEmpty ? first : .chain(first, links)
            }
            let token = advance()
            links.append(Expr.Link(op: op, operand: try unary(), column: token.column))
        }
    }

    mutating func unary() throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        if depth > limits.maxNesting {
            throw ToolError(.limit, "the expression nests deeper than \(limits.maxNesting) levels (parentheses, signs,"
                + " powers and function calls inside one another) at column \(current.column)", column: current.column)
        }
        switch current.kind {
        case .minus:
            _ = advance()
            return .negate(try unary())
        case .plus:
            _ = advance()
            return try unary()
        default:
            return try power()
        }
    }

    mutating func power() throws -> Expr {
        let base = try postfix()
        guard current.kind == .caret else { return base }
        let token = advance()
        return .power(base, try unary(), column: token.column)
    }

    mutating func postfix() throws -> Expr {
        var expr = try primary()
        while current.kind == .percent && !tokens[position + 1].startsOperand {
            let token = advance()
            expr = .percent(expr, column: token.column)
        }
        return expr
    }

    mutating func primary() throws -> Expr {
        let token = current
        switch token.kind {
        case .number(let text):
            _ = advance()
            guard let value = Rational(decimal: text, maxExponent: limits.maxDigits) else {
                throw ToolError(.limit, "the number \(text) at column \(token.column) has an exponent beyond the"
                    + " limit of \(limits.maxDigits) digits", column: token.column)
            }
            return .number(value)
        case .leftParen:
            _ = advance()
            let inner = try expression()
            guard current.kind == .rightParen else {
                if current.kind == .end {
                    throw ToolError(.syntax, "'(' at column \(token.column) is never closed", column: token.column)
                }
                throw unexpected(current)
            }
            _ = advance()
            return .group(inner)
        case .name(let raw):
            _ = advance()
            let name = raw.lowercased()
            if current.kind == .leftParen {
                guard let function = Functions.table[name] else {
                    if Functions.constants.contains(name) {
                        throw ToolError(.syntax, "\(raw) at column \(token.column) is a constant, not a function",
                                        column: token.column)
                    }
                    throw Self.unknownName(raw, column: token.column)
                }
                let open = advance()
                var arguments: [Expr] = []
                if current.kind != .rightParen {
                    while true {
                        arguments.append(try expression())
                        if current.kind == .comma { _ = advance(); continue }
                        break
                    }
                }
                guard current.kind == .rightParen else {
                    if current.kind == .end {
                        throw ToolError(.syntax, "'(' at column \(open.column) is never closed", column: open.column)
                    }
                    throw unexpected(current)
                }
                _ = advance()
                guard function.arity.contains(arguments.count) else {
                    throw ToolError(.syntax, "\(name) at column \(token.column) takes \(function.arityText),"
                        + " got \(arguments.count)", column: token.column)
                }
                return .call(name, arguments, column: token.column)
            }
            if Functions.constants.contains(name) { return .constant(name, column: token.column) }
            if Functions.table[name] != nil {
                throw ToolError(.syntax, "\(raw) at column \(token.column) is a function: write \(name)(x)",
                                column: token.column)
            }
            throw Self.unknownName(raw, column: token.column)
        default:
            throw unexpected(token)
        }
    }

    static func unknownName(_ name: String, column: Int) -> ToolError {
        ToolError(.syntax, "unknown name '\(name)' at column \(column) (functions: "
            + Functions.table.keys.sorted().joined(separator: ", ") + "; constants: pi, e)", column: column)
    }
}
