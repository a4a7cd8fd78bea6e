import Foundation
import MnemoTools
import Testing

/// The calculator against GNU bc on random expressions from a seeded generator.
///
/// Two sets, so that each comparison matches bc's semantics:
/// - integers (`scale=0`): + - * %, ^ with small non-negative exponents (also right-associative chains), unary
///   minus, parentheses, numbers up to 60 digits; results compared digit for digit. bc's `%` at scale 0 is the
///   truncated remainder, as the calculator's.
/// - rationals (`scale=100`): decimals, / by non-zero integers, ^ with exponents from -3 to 4; bc truncates every
///   quotient to 100 places, so the exact result must lie within 1e-50 of bc's (the generator keeps every
///   intermediate below 10^40, which bounds bc's accumulated error far below that).
///
/// The calculator's text uses its own precedence with as few parentheses as it needs (so `-2^2`, `2^3^2` and
/// `a - -b` are exercised); bc gets the same tree fully parenthesised, since bc's unary minus binds tighter than ^.
@Suite struct BCDifferentialTests {
    static let integerCount = 6_000
    static let rationalCount = 4_000

    @Test func calculatorAgreesWithBC() throws {
        let start = ContinuousClock.now
        var rng = SplitMix64(seed: 0x6D6E_656D_6F00_0001)
        var integer = ExpressionGenerator(rationals: false)
        var rational = ExpressionGenerator(rationals: true)
        let integers = (0..<Self.integerCount).map { _ in integer.expression(using: &rng) }
        let rationals = (0..<Self.rationalCount).map { _ in rational.expression(using: &rng) }
        let bcOutput = try runBC(["scale=0"] + integers.map(\.bc) + ["scale=100"] + rationals.map(\.bc))
        try #require(bcOutput.count == integers.count + rationals.count,
                     "bc printed \(bcOutput.count) lines for \(integers.count + rationals.count) expressions")
        let bcDone = ContinuousClock.now

        var mismatches: [String] = []
        let calculator = Calculator()
        for (i, e) in (integers + rationals).enumerated() {
            let isRational = i >= integers.count
            do {
                let ours = try calculator.evaluate(e.ours)
                if let problem = Self.compare(ours, bc: bcOutput[i], rational: isRational) {
                    mismatches.append("\(e.ours)  [bc: \(e.bc)]: \(problem)")
                }
            } catch {
                mismatches.append("\(e.ours)  [bc: \(e.bc)]: calculator error: \(error)")
            }
        }
        let end = ContinuousClock.now
        print("bc differential: \(integers.count + rationals.count) expressions; bc \(bcDone - start), calculator \(end - bcDone)")
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5).joined(separator: "\n"))")
    }

    /// The comparison can fail: a deliberately wrong pairing is caught, in both modes.
    @Test func comparisonCatchesAWrongValue() throws {
        let bc = try runBC(["2^64", "scale=100", "1/3"])
        let calculator = Calculator()
        #expect(Self.compare(try calculator.evaluate("2^64"), bc: bc[0], rational: false) == nil)
        #expect(Self.compare(try calculator.evaluate("2^64 + 1"), bc: bc[0], rational: false) != nil)
        #expect(Self.compare(try calculator.evaluate("1/3"), bc: bc[1], rational: true) == nil)
        #expect(Self.compare(try calculator.evaluate("1/3 + 1/10^45"), bc: bc[1], rational: true) != nil)
        #expect(Self.compare(try calculator.evaluate("sqrt(2)"), bc: bc[1], rational: true) != nil)
    }

    /// Nil when the calculator's result matches bc's printed value, else what differs.
    static func compare(_ ours: CalculatorResult, bc: String, rational: Bool) -> String? {
        guard let value = ours.rational else { return "not exact: \(ours)" }
        if !rational { return value.description == bc ? nil : "calculator \(value), bc \(bc)" }
        let negative = bc.hasPrefix("-")
        guard let parsed = Rational(decimal: negative ? String(bc.dropFirst()) : bc) else { return "unreadable bc output \(bc)" }
        let theirs = negative ? -parsed : parsed
        let tolerance = Rational(decimal: "1e-50") ?? .one
        return (value - theirs).magnitude <= tolerance ? nil : "calculator \(value.decimal(significantDigits: 60)), bc \(bc)"
    }

    /// Runs one bc process over every line and returns its output lines (no line wrapping).
    func runBC(_ lines: [String]) throws -> [String] {
        guard let bc = ["/usr/bin/bc", "/bin/bc", "/usr/local/bin/bc"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BCMissing()
        }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-bc-\(UUID().uuidString).txt")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bc)
        process.arguments = ["-q", input.path]
        process.environment = ["BC_LINE_LENGTH": "0", "PATH": "/usr/bin:/bin"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var errors = Data()
        DispatchQueue.global().async(group: group) { errors = err.fileHandleForReading.readDataToEndOfFile() }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        let stderr = String(decoding: errors, as: UTF8.self)
        guard stderr.isEmpty else { throw BCFailed(message: stderr) }
        var result = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if result.last == "" { result.removeLast() }
        return result
    }

    struct BCMissing: Error, CustomStringConvertible {
        var description: String { "GNU bc is not installed (make setup installs it)" }
    }

    struct BCFailed: Error, CustomStringConvertible {
        let message: String
        var description: String { "bc reported: \(message.prefix(500))" }
    }
}

/// A small, seedable generator (SplitMix64), so every run tests the same expressions.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random expression trees, printed twice: for the calculator and for bc.
struct ExpressionGenerator {
    let rationals: Bool

    indirect enum Node {
        case number(String)
        case negate(Node)
        case binary(Character, Node, Node)
        /// Base and exponent; the exponent is an integer literal or a small right-associative power chain.
        case power(Node, exponent: String, bcExponent: String)
    }

    struct Expression {
        let ours: String
        let bc: String
    }

    /// The largest number of digits any intermediate value may have.
    var maxDigits: Int { rationals ? 40 : 400 }

    mutating func expression(using rng: inout SplitMix64) -> Expression {
        let (node, _) = tree(depth: Int.random(in: 1...5, using: &rng), top: true, using: &rng)
        return Expression(ours: Self.ours(node).text, bc: Self.bc(node))
    }

    /// A tree and an upper bound of its value's digits.
    func tree(depth: Int, top: Bool = false, using rng: inout SplitMix64) -> (Node, Int) {
        if depth == 0 || (!top && Int.random(in: 0..<10, using: &rng) < 2) { return leaf(using: &rng) }
        let choice = Int.random(in: 0..<100, using: &rng)
        if choice < 12 {
            let (inner, digits) = tree(depth: depth - 1, using: &rng)
            return (.negate(inner), digits)
        }
        if choice < 27 {
            let (base, digits) = tree(depth: depth - 1, using: &rng)
            let (exponent, bcExponent, n) = self.exponent(smallBase: digits <= 3, using: &rng)
            if digits * max(1, abs(n)) > maxDigits || (n < 0 && !isNonZeroLiteral(base)) { return (base, digits) }
            return (.power(base, exponent: exponent, bcExponent: bcExponent), digits * max(1, abs(n)))
        }
        let ops: [Character] = rationals ? ["+", "-", "*", "/"] : ["+", "-", "*", "%"]
        let op = ops[Int.random(in: 0..<ops.count, using: &rng)]
        let (left, l) = tree(depth: depth - 1, using: &rng)
        if op == "/" || op == "%" {
            let (divisor, d) = nonZeroDivisor(using: &rng)
            return (.binary(op, left, divisor), op == "%" ? min(l, d) : l)
        }
        let (right, r) = tree(depth: depth - 1, using: &rng)
        let digits = op == "*" ? l + r : max(l, r) + 1
        if digits > maxDigits { return (left, l) }
        return (.binary(op, left, right), digits)
    }

    func isNonZeroLiteral(_ node: Node) -> Bool {
        if case .number(let text) = node { return text.contains(where: { $0 != "0" && $0 != "." }) }
        return false
    }

    func leaf(using rng: inout SplitMix64) -> (Node, Int) {
        let kind = Int.random(in: 0..<100, using: &rng)
        var text: String
        if kind < 60 {
            text = String(Int.random(in: 0...1_000, using: &rng))
        } else if kind < 85 {
            text = String(UInt64.random(in: 0...999_999_999_999_999_999, using: &rng))
        } else {
            let digits = rationals ? Int.random(in: 19...30, using: &rng) : Int.random(in: 19...60, using: &rng)
            text = String(Int.random(in: 1...9, using: &rng)) + (1..<digits).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
        }
        if rationals && Int.random(in: 0..<3, using: &rng) == 0 {
            // A decimal: 1 to 6 places, leading zero written or not.
            let places = Int.random(in: 1...6, using: &rng)
            let fraction = (0..<places).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
            text = (text == "0" && Bool.random(using: &rng) ? "" : text) + "." + fraction
        }
        return (.number(text), text.count)
    }

    func nonZeroDivisor(using rng: inout SplitMix64) -> (Node, Int) {
        let magnitude = Int.random(in: 0..<10, using: &rng) < 7 ? Int.random(in: 1...1_000, using: &rng)
            : Int.random(in: 1...999_999_999_999, using: &rng)
        let literal = Node.number(String(magnitude))
        let digits = String(magnitude).count
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...1: return (.negate(literal), digits)
        case 2 where magnitude < 100: return (.power(literal, exponent: "3", bcExponent: "3"), digits * 3)
        default: return (literal, digits)
        }
    }

    /// An exponent: a literal, or (rarely) a right-associative chain like 2^3; its value comes third.
    func exponent(smallBase: Bool, using rng: inout SplitMix64) -> (String, String, Int) {
        if Int.random(in: 0..<8, using: &rng) == 0 {
            let a = Int.random(in: 1...2, using: &rng), b = Int.random(in: 0...2, using: &rng)
            let value = Int(pow(Double(a), Double(b)))
            return ("\(a)^\(b)", "(\(a)^\(b))", value)
        }
        let n = smallBase ? Int.random(in: 0...25, using: &rng) : Int.random(in: 0...4, using: &rng)
        if rationals && Int.random(in: 0..<5, using: &rng) == 0 {
            let m = -Int.random(in: 1...3, using: &rng)
            return ("\(m)", "(\(m))", m)
        }
        return ("\(n)", "\(n)", n)
    }

    /// Precedence levels of the calculator's grammar: 1 + -, 2 * / %, 3 unary minus, 4 ^, 5 atoms.
    static func ours(_ node: Node) -> (text: String, level: Int, startsWithMinus: Bool) {
        switch node {
        case .number(let text):
            return (text, 5, false)
        case .negate(let inner):
            let i = ours(inner)
            return ("-" + (i.level >= 3 ? i.text : "(\(i.text))"), 3, true)
        case .power(let base, let exponent, _):
            let b = ours(base)
            return ((b.level >= 5 ? b.text : "(\(b.text))") + "^" + exponent, 4, false)
        case .binary(let op, let left, let right):
            let level = op == "+" || op == "-" ? 1 : 2
            let l = ours(left), r = ours(right)
            let leftText = l.level >= level ? l.text : "(\(l.text))"
            // Left-associative: a right operand at the same level needs parentheses; after %, a leading minus
            // would make the % a percent sign.
            let rightNeedsParens = r.level <= level || (op == "%" && r.startsWithMinus)
            let rightText = rightNeedsParens ? "(\(r.text))" : r.text
            return ("\(leftText) \(op) \(rightText)", level, l.level >= level && l.startsWithMinus)
        }
    }

    static func bc(_ node: Node) -> String {
        switch node {
        case .number(let text): text
        case .negate(let inner): "(-\(bc(inner)))"
        case .power(let base, _, let exponent): "(\(bc(base))^\(exponent))"
        case .binary(let op, let left, let right): "(\(bc(left))\(op)\(bc(right)))"
        }
    }
}
