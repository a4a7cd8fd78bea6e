import BigInt
import Foundation

/// An exact calculator for the LLM's tool router and `mnemo calc`.
///
/// Numbers are exact rationals of any size (`0.1 + 0.2` is exactly `3/10`); a result becomes a `Double`,
/// marked inexact, only where exactness is impossible: `pi`, `e`, and functions such as `sqrt(2)` or `sin(1)`.
/// Every input is bounded: its length, its nesting, the digits of every intermediate number, the size of an
/// exponent (checked before computing), and the wall-clock time. Reaching a limit is an error that names it.
public struct Calculator: Sendable {
    public struct Limits: Sendable {
        /// Characters in the expression.
        public var maxInputLength = 10_000
        /// Parentheses, signs, powers and function calls inside one another.
        public var maxNesting = 100
        /// Decimal digits in the numerator or denominator of any number, intermediate results included.
        public var maxDigits = 10_000
        /// Wall-clock time for one evaluation.
        public var timeLimit: Duration = .seconds(2)

        public init() {}
    }

    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    public func evaluate(_ expression: String) throws -> CalculatorResult {
        let length = expression.count
        guard length <= limits.maxInputLength else {
            throw ToolError(.limit, "the expression is \(length) characters long; the limit is \(limits.maxInputLength)")
        }
        var parser = try Parser(expression, limits: limits)
        let tree = try parser.parse()
        var evaluator = Evaluator(limits: limits, deadline: ContinuousClock.now.advanced(by: limits.timeLimit))
        return CalculatorResult(try evaluator.evaluate(tree))
    }
}

/// A calculator result: an exact rational, or a `Double` where exactness was impossible.
public struct CalculatorResult: Sendable, Equatable, CustomStringConvertible {
    public enum Value: Sendable, Equatable {
        case exact(Rational)
        case approximate(Double)
    }

    public let value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public var isExact: Bool { if case .exact = value { true } else { false } }
    public var rational: Rational? { if case .exact(let r) = value { r } else { nil } }

    /// The value itself: an integer (`42`), a fraction in lowest terms (`1/3`), or a double's shortest form.
    public var valueText: String {
        switch value {
        case .exact(let r): r.description
        case .approximate(let x): Self.format(x)
        }
    }

    /// A decimal rendering: exact when the decimal terminates within 60 places, else rounded to
    /// `significantDigits` significant digits.
    public func decimal(significantDigits: Int = 30) -> String {
        switch value {
        case .exact(let r): r.terminatingDecimal() ?? r.decimal(significantDigits: significantDigits)
        case .approximate(let x): Self.format(x)
        }
    }

    /// Whether `decimal()` is the exact value.
    public var decimalIsExact: Bool {
        if case .exact(let r) = value { r.terminatingDecimal() != nil } else { false }
    }

    /// What `mnemo calc` prints: `42`, `0.3`, `1/3 ≈ 0.333…` (30 digits) or `≈ 1.4142135623730951`.
    public var description: String { text(significantDigits: 30) }

    public func text(significantDigits: Int) -> String {
        switch value {
        case .exact(let r):
            if r.isInteger { return r.description }
            if let exact = r.terminatingDecimal() { return exact }
            return "\(r) ≈ \(r.decimal(significantDigits: significantDigits))"
        case .approximate(let x):
            return "≈ " + Self.format(x)
        }
    }

    static func format(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e16 { return String(Int64(x)) }
        return "\(x)"
    }
}

/// Function names, their argument counts, and the constants.
enum Functions {
    struct Function {
        let arity: ClosedRange<Int>
        var arityText: String {
            if arity.count == 1 { return arity.lowerBound == 1 ? "1 argument" : "\(arity.lowerBound) arguments" }
            if arity.upperBound > 2 { return "at least \(arity.lowerBound) argument(s)" }
            return "\(arity.lowerBound) or \(arity.upperBound) arguments"
        }
    }

    static let table: [String: Function] = [
        "sqrt": Function(arity: 1...1), "exp": Function(arity: 1...1), "ln": Function(arity: 1...1),
        "log": Function(arity: 1...2), "sin": Function(arity: 1...1), "cos": Function(arity: 1...1),
        "tan": Function(arity: 1...1), "abs": Function(arity: 1...1), "round": Function(arity: 1...2),
        "floor": Function(arity: 1...1), "ceil": Function(arity: 1...1),
        "min": Function(arity: 1...1_000), "max": Function(arity: 1...1_000),
    ]

    static let constants: Set<String> = ["pi", "π", "e"]
}

/// A number while evaluating: exact, or a double once exactness was lost.
enum Number {
    case exact(Rational)
    case approximate(Double)

    var double: Double {
        switch self {
        case .exact(let r): r.doubleValue
        case .approximate(let x): x
        }
    }
}

struct Evaluator {
    let limits: Calculator.Limits
    let deadline: ContinuousClock.Instant
    /// 10^maxDigits, made once if a number comes near the digit limit.
    var digitBound: BigUInt?

    init(limits: Calculator.Limits, deadline: ContinuousClock.Instant) {
        self.limits = limits
        self.deadline = deadline
    }

    mutating func evaluate(_ tree: Expr) throws -> CalculatorResult.Value {
        switch try eval(tree) {
        case .exact(let r): return .exact(r)
        case .approximate(let x): return .approximate(x)
        }
    }

    func checkTime() throws {
        if ContinuousClock.now > deadline {
            throw ToolError(.limit, "the evaluation took longer than the time limit of \(limits.timeLimit)")
        }
    }

    /// Throws when the numerator or denominator has more than `maxDigits` digits.
    mutating func checked(_ r: Rational, column: Int?) throws -> Number {
        for part in [r.numerator.magnitude, r.denominator.magnitude] {
            let digits = Double(part.bitWidth) * log10(2.0)
            if digits <= Double(limits.maxDigits) - 1 { continue }
            if digitBound == nil { digitBound = BigUInt(10).power(limits.maxDigits) }
            if let bound = digitBound, part >= bound {
                let at = column.map { " at column \($0)" } ?? ""
                throw ToolError(.limit, "a number\(at) has about \(Int(digits.rounded(.up))) digits, more than the limit"
                    + " of \(limits.maxDigits) digits", column: column)
            }
        }
        return .exact(r)
    }

    /// A floating-point result, which must be finite.
    func approximate(_ x: Double, _ what: String, column: Int) throws -> Number {
        if x.isNaN { throw ToolError(.math, "\(what) at column \(column) is undefined", column: column) }
        if !x.isFinite {
            throw ToolError(.limit, "\(what) at column \(column) is beyond floating-point range (about ±1.8e308)",
                            column: column)
        }
        return .approximate(x)
    }

    mutating func eval(_ expr: Expr) throws -> Number {
        try checkTime()
        switch expr {
        case .number(let r):
            return try checked(r, column: nil)
        case .constant(let name, _):
            return .approximate(name == "e" ? M_E : Double.pi)
        case .negate(let inner):
            switch try eval(inner) {
            case .exact(let r): return .exact(-r)
            case .approximate(let x): return .approximate(-x)
            }
        case .percent(let inner, _):
            return try divide(try eval(inner), .exact(Rational(100)), column: 0)
        case .group(let inner):
            return try eval(inner)
        case .chain(let first, let links):
            var accumulator = try eval(first)
            for link in links {
                try checkTime()
                // `a + b%` and `a - b%` add or take away b percent of a.
                if link.op == .add || link.op == .subtract, case .percent(let inner, _) = link.operand {
                    let share = try divide(try eval(inner), .exact(Rational(100)), column: link.column)
                    let factor = try combine(.exact(.one), share, link.op, column: link.column)
                    accumulator = try combine(accumulator, factor, .multiply, column: link.column)
                    continue
                }
                accumulator = try combine(accumulator, try eval(link.operand), link.op, column: link.column)
            }
            return accumulator
        case .power(let base, let exponent, let column):
            return try power(try eval(base), try eval(exponent), column: column)
        case .call(let name, let arguments, let column):
            var values: [Number] = []
            for argument in arguments { values.append(try eval(argument)) }
            return try call(name, values, column: column)
        }
    }

    mutating func combine(_ a: Number, _ b: Number, _ op: Expr.Operator, column: Int) throws -> Number {
        switch op {
        case .divide: return try divide(a, b, column: column)
        case .remainder:
            if case .exact(let x) = a, case .exact(let y) = b {
                guard let r = Rational.remainder(x, y) else { throw divisionByZero(column) }
                return try checked(r, column: column)
            }
            guard b.double != 0 else { throw divisionByZero(column) }
            return try approximate(fmod(a.double, b.double), "the remainder", column: column)
        default: break
        }
        if case .exact(let x) = a, case .exact(let y) = b {
            switch op {
            case .add: return try checked(x + y, column: column)
            case .subtract: return try checked(x - y, column: column)
            default: return try checked(x * y, column: column)
            }
        }
        let x = a.double, y = b.double
        switch op {
        case .add: return try approximate(x + y, "the sum", column: column)
        case .subtract: return try approximate(x - y, "the difference", column: column)
        default: return try approximate(x * y, "the product", column: column)
        }
    }

    func divisionByZero(_ column: Int) -> ToolError {
        column > 0 ? ToolError(.math, "division by zero at column \(column)", column: column)
            : ToolError(.math, "division by zero")
    }

    mutating func divide(_ a: Number, _ b: Number, column: Int) throws -> Number {
        if case .exact(let x) = a, case .exact(let y) = b {
            guard let q = Rational.dividing(x, by: y) else { throw divisionByZero(column) }
            return try checked(q, column: column > 0 ? column : nil)
        }
        guard b.double != 0 else { throw divisionByZero(column) }
        return try approximate(a.double / b.double, "the quotient", column: column)
    }

    // MARK: Powers

    mutating func power(_ base: Number, _ exponent: Number, column: Int) throws -> Number {
        guard case .exact(let b) = base, case .exact(let x) = exponent else {
            let b = base.double, x = exponent.double
            if b < 0 && x != x.rounded() {
                throw ToolError(.math, "a negative number to a fractional power at column \(column) has no real value",
                                column: column)
            }
            if b == 0 && x < 0 { throw divisionByZero(column) }
            return try approximate(pow(b, x), "the power", column: column)
        }
        if x.isInteger { return try integerPower(b, x.numerator, column: column) }
        // A fractional exponent p/q: exact when base is a perfect q-th power, as in 8^(1/3) or (9/4)^(3/2).
        let q = x.denominator, p = x.numerator
        if b.isNegative && q.magnitude % 2 == 0 {
            throw ToolError(.math, "an even root of a negative number at column \(column) has no real value",
                            column: column)
        }
        if let qInt = Int(exactly: q), qInt <= 64 {
            let rootN = b.numerator.magnitude.integerRoot(qInt), rootD = b.denominator.magnitude.integerRoot(qInt)
            if rootN.power(qInt) == b.numerator.magnitude && rootD.power(qInt) == b.denominator.magnitude {
                let root = Rational(unchecked: BigInt(rootN), BigInt(rootD))
                return try integerPower(b.isNegative ? -root : root, p, column: column)
            }
        }
        if b.isZero {
            if p.sign == .minus { throw divisionByZero(column) }
            return .exact(.zero)
        }
        // Inexact: |b|^x by pow, or through logarithms beyond Double's range; the sign from an odd root.
        let direct = b.magnitude.doubleValue
        let magnitude = direct.isFinite && direct > 0 ? pow(direct, x.doubleValue) : exp(x.doubleValue * b.magnitude.naturalLog)
        let odd = p.magnitude % 2 == 1
        return try approximate(b.isNegative && odd ? -magnitude : magnitude, "the power", column: column)
    }

    mutating func integerPower(_ b: Rational, _ n: BigInt, column: Int) throws -> Number {
        if b.isZero {
            if n.sign == .minus && !n.isZero { throw divisionByZero(column) }
            return .exact(n.isZero ? .one : .zero)  // 0^0 = 1, as in bc
        }
        if b == .one { return .exact(.one) }
        if b == -.one { return .exact(n.magnitude % 2 == 0 ? .one : -.one) }
        // Digits of the result, estimated before computing anything: |n| * log10 of the larger part.
        let logs = [b.numerator.magnitude, b.denominator.magnitude].map { Rational(BigInt($0)).naturalLog / M_LN10 }
        let digits = Double(n.magnitude) * (logs.max() ?? 0)
        if digits > Double(limits.maxDigits) + 1 || Int(exactly: n) == nil {
            let about = digits < 1e15 ? String(Int(digits.rounded(.up))) : String(format: "%.3g", digits)
            throw ToolError(.limit, "the power at column \(column) would have about \(about) digits, more than the limit"
                + " of \(limits.maxDigits) digits", column: column)
        }
        guard let result = b.power(Int(n)) else { throw divisionByZero(column) }
        return try checked(result, column: column)
    }

    // MARK: Functions

    mutating func call(_ name: String, _ args: [Number], column: Int) throws -> Number {
        let x = args[0]
        switch name {
        case "abs":
            if case .exact(let r) = x { return .exact(r.magnitude) }
            return .approximate(abs(x.double))
        case "floor", "ceil":
            switch x {
            case .exact(let r): return .exact(Rational(name == "floor" ? r.floor : r.ceiling))
            case .approximate(let d): return .approximate(name == "floor" ? d.rounded(.down) : d.rounded(.up))
            }
        case "round":
            return try round(x, places: args.count > 1 ? args[1] : .exact(.zero), column: column)
        case "min", "max":
            var best = x
            for candidate in args.dropFirst() {
                let better: Bool
                if case .exact(let a) = candidate, case .exact(let b) = best {
                    better = name == "min" ? a < b : b < a
                } else {
                    better = name == "min" ? candidate.double < best.double : candidate.double > best.double
                }
                if better { best = candidate }
            }
            return best
        case "sqrt":
            return try power(x, .exact(Rational(unchecked: 1, 2)), column: column)
        case "exp":
            if case .exact(let r) = x, r.isZero { return .exact(.one) }
            return try approximate(exp(x.double), "exp", column: column)
        case "ln", "log":
            return try logarithm(name, args, column: column)
        case "sin", "cos", "tan":
            if case .exact(let r) = x, r.isZero { return .exact(name == "cos" ? .one : .zero) }
            let d = x.double
            guard d.isFinite else { throw ToolError(.limit, "the argument of \(name) at column \(column) is beyond floating-point range", column: column) }
            return try approximate(name == "sin" ? sin(d) : name == "cos" ? cos(d) : tan(d), name, column: column)
        default:
            throw Parser.unknownName(name, column: column)
        }
    }

    /// Natural log of a positive number, even one beyond Double's range.
    func ln(_ x: Number, _ name: String, column: Int) throws -> Double {
        switch x {
        case .exact(let r):
            guard !r.isNegative && !r.isZero else {
                throw ToolError(.math, "\(name) of \(r.isZero ? "zero" : "a negative number") at column \(column) is undefined",
                                column: column)
            }
            let d = r.doubleValue
            return d.isNormal ? Foundation.log(d) : r.naturalLog
        case .approximate(let d):
            guard d > 0 else {
                throw ToolError(.math, "\(name) of \(d == 0 ? "zero" : "a negative number") at column \(column) is undefined",
                                column: column)
            }
            return Foundation.log(d)
        }
    }

    mutating func logarithm(_ name: String, _ args: [Number], column: Int) throws -> Number {
        let lnX = try ln(args[0], name, column: column)
        if name == "ln" {
            if case .exact(let r) = args[0], r == .one { return .exact(.zero) }
            return try approximate(lnX, "ln", column: column)
        }
        let base: Number = args.count > 1 ? args[1] : .exact(Rational(10))
        let lnB = try ln(base, "the base of log", column: column)
        guard lnB != 0 else { throw ToolError(.math, "log to base 1 at column \(column) is undefined", column: column) }
        var estimate = lnX / lnB
        if case .exact(let b) = base, b == Rational(10), args[0].double.isNormal { estimate = Foundation.log10(args[0].double) }
        // Exact when x is an integer power of the base: log(1000) = 3, log(1/8, 2) = -3.
        if case .exact(let x) = args[0], case .exact(let b) = base, abs(estimate) < 1e6,
           let k = Int(exactly: estimate.rounded()), abs(estimate - Double(k)) < 1e-6,
           Double(abs(k)) * abs(Foundation.log10(max(b.doubleValue, 1e-300))) < Double(limits.maxDigits),
           b.power(k) == x {
            return .exact(Rational(k))
        }
        return try approximate(estimate, "log", column: column)
    }

    mutating func round(_ x: Number, places: Number, column: Int) throws -> Number {
        guard case .exact(let p) = places, p.isInteger, let n = Int(exactly: p.numerator), abs(n) <= limits.maxDigits else {
            throw ToolError(.math, "the second argument of round at column \(column) must be a whole number of decimal"
                + " places (at most \(limits.maxDigits))", column: column)
        }
        switch x {
        case .exact(let r):
            guard let scale = Rational(10).power(n), let scaled = Rational.dividing((r * scale).roundedValue, by: scale) else {
                throw divisionByZero(column)
            }
            return try checked(scaled, column: column)
        case .approximate(let d):
            let scale = pow(10.0, Double(n))
            return try approximate((d * scale).rounded(.toNearestOrAwayFromZero) / scale, "round", column: column)
        }
    }
}

private extension Rational {
    var roundedValue: Rational { Rational(rounded) }
}
