import BigInt
import Foundation

/// An exact rational number: numerator and denominator of any size, always in lowest terms with a
/// positive denominator, so equal values compare equal field by field.
public struct Rational: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let numerator: BigInt
    public let denominator: BigInt

    /// `numerator / denominator` in lowest terms; the caller guarantees `denominator != 0`.
    init(unchecked numerator: BigInt, _ denominator: BigInt) {
        var n = numerator, d = denominator
        if d.sign == .minus { n = -n; d = -d }
        if d != 1 {
            let g = Self.gcd(n, d)
            if g != 1 && !g.isZero { n /= g; d /= g }
        }
        self.numerator = n
        self.denominator = n.isZero ? 1 : d
    }

    /// Fields already in lowest terms with a positive denominator.
    private init(reduced numerator: BigInt, _ denominator: BigInt) {
        self.numerator = numerator
        self.denominator = denominator
    }

    public init(_ integer: BigInt) { self.init(reduced: integer, 1) }
    public init(_ integer: Int) { self.init(reduced: BigInt(integer), 1) }

    /// `numerator / denominator`, or nil when the denominator is zero.
    public init?(_ numerator: BigInt, _ denominator: BigInt) {
        guard !denominator.isZero else { return nil }
        self.init(unchecked: numerator, denominator)
    }

    public static let zero = Rational(0)
    public static let one = Rational(1)

    /// The greatest common divisor, with quick answers for the common small cases (BigInt's binary gcd takes one
    /// step per bit when one side is tiny).
    static func gcd(_ a: BigInt, _ b: BigInt) -> BigInt {
        let x = a.magnitude, y = b.magnitude
        if x.isZero { return BigInt(y) }
        if y.isZero { return BigInt(x) }
        if x == 1 || y == 1 { return 1 }
        if x.bitWidth <= 64 || y.bitWidth <= 64 {
            // One side fits a word: one big remainder, then machine arithmetic.
            let small = x.bitWidth <= 64 ? x : y, large = x.bitWidth <= 64 ? y : x
            var p = UInt64(small), q = UInt64(large % small)
            while q != 0 { (p, q) = (q, p % q) }
            return BigInt(p)
        }
        return BigInt(lehmerGCD(x, y))
    }

    /// Lehmer's gcd: Euclid's steps simulated on the leading 32 bits in machine words, applied to the big
    /// numbers once per batch (Knuth, TAOCP vol. 2, 4.5.2, Algorithm L). Much faster than a binary gcd for
    /// numbers of a few words and more.
    static func lehmerGCD(_ x: BigUInt, _ y: BigUInt) -> BigUInt {
        var (a, b) = x >= y ? (x, y) : (y, x)
        while b.bitWidth > 64 {
            let shift = a.bitWidth - 32
            var xh = Int64(a >> shift), yh = Int64(b >> shift)
            var (p, q, r, s): (Int64, Int64, Int64, Int64) = (1, 0, 0, 1)
            while yh + r != 0 && yh + s != 0 {
                let q1 = (xh + p) / (yh + r), q2 = (xh + q) / (yh + s)
                if q1 != q2 { break }
                (p, r) = (r, p - q1 * r)
                (q, s) = (s, q - q1 * s)
                (xh, yh) = (yh, xh - q1 * yh)
            }
            if q == 0 {
                (a, b) = (b, a % b)
            } else {
                let (ba, bb) = (BigInt(a), BigInt(b))
                let newA = BigInt(p) * ba + BigInt(q) * bb
                let newB = BigInt(r) * ba + BigInt(s) * bb
                (a, b) = (newA.magnitude, newB.magnitude)
            }
        }
        if b.isZero { return a }
        var u = UInt64(b), v = UInt64(a % b)
        while v != 0 { (u, v) = (v, u % v) }
        return BigUInt(u)
    }

    public var isInteger: Bool { denominator == 1 }
    public var isZero: Bool { numerator.isZero }
    public var isNegative: Bool { numerator.sign == .minus && !numerator.isZero }

    public var description: String {
        isInteger ? String(numerator) : "\(String(numerator))/\(String(denominator))"
    }

    // MARK: Arithmetic

    public static prefix func - (x: Rational) -> Rational { Rational(reduced: -x.numerator, x.denominator) }

    public static func + (a: Rational, b: Rational) -> Rational {
        if a.isInteger && b.isInteger { return Rational(reduced: a.numerator + b.numerator, 1) }
        if a.denominator == b.denominator { return Rational(unchecked: a.numerator + b.numerator, a.denominator) }
        return Rational(unchecked: a.numerator * b.denominator + b.numerator * a.denominator, a.denominator * b.denominator)
    }

    public static func - (a: Rational, b: Rational) -> Rational { a + (-b) }

    public static func * (a: Rational, b: Rational) -> Rational {
        if a.isInteger && b.isInteger { return Rational(reduced: a.numerator * b.numerator, 1) }
        // Cancel across before multiplying, so the result needs no large gcd.
        let g1 = gcd(a.numerator, b.denominator)
        let g2 = gcd(b.numerator, a.denominator)
        let n1 = g1.isZero || g1 == 1 ? a.numerator : a.numerator / g1
        let d2 = g1.isZero || g1 == 1 ? b.denominator : b.denominator / g1
        let n2 = g2.isZero || g2 == 1 ? b.numerator : b.numerator / g2
        let d1 = g2.isZero || g2 == 1 ? a.denominator : a.denominator / g2
        let n = n1 * n2
        return Rational(reduced: n, n.isZero ? 1 : d1 * d2)
    }

    /// `a / b`, or nil when `b` is zero.
    public static func dividing(_ a: Rational, by b: Rational) -> Rational? {
        guard !b.isZero else { return nil }
        return a * b.reciprocalUnchecked
    }

    private var reciprocalUnchecked: Rational {
        numerator.sign == .minus
            ? Rational(reduced: -denominator, -numerator)
            : Rational(reduced: denominator, numerator)
    }

    /// The remainder of truncating division, `a - b * trunc(a / b)`: its sign is the dividend's (as in bc, C and
    /// Swift). Nil when `b` is zero.
    public static func remainder(_ a: Rational, _ b: Rational) -> Rational? {
        guard let q = dividing(a, by: b) else { return nil }
        return a - b * Rational(q.truncated)
    }

    /// `self` raised to an integer power (negative powers invert; nil for zero to a negative power).
    public func power(_ exponent: Int) -> Rational? {
        if exponent == 0 { return .one }
        if exponent < 0 {
            guard !isZero else { return nil }
            return reciprocalUnchecked.power(-exponent)
        }
        // Lowest terms stay lowest terms under powers.
        return Rational(reduced: numerator.power(exponent), denominator.power(exponent))
    }

    public static func < (a: Rational, b: Rational) -> Bool {
        a.numerator * b.denominator < b.numerator * a.denominator
    }

    public var magnitude: Rational { isNegative ? -self : self }

    // MARK: Rounding

    /// Rounded toward zero.
    public var truncated: BigInt { numerator.quotientAndRemainder(dividingBy: denominator).quotient }

    public var floor: BigInt {
        let (q, r) = numerator.quotientAndRemainder(dividingBy: denominator)
        return r.isZero || numerator.sign == .plus ? q : q - 1
    }

    public var ceiling: BigInt {
        let (q, r) = numerator.quotientAndRemainder(dividingBy: denominator)
        return r.isZero || numerator.sign == .minus ? q : q + 1
    }

    /// Rounded to the nearest integer, halves away from zero.
    public var rounded: BigInt {
        let twice = numerator.magnitude * 2 + denominator.magnitude
        let q = BigInt(twice / (denominator.magnitude * 2))
        return isNegative ? -q : q
    }

    // MARK: Conversions

    /// A decimal literal such as `12`, `0.1`, `.5`, `1_000`, `2.5e-3` (no sign), exactly; nil if malformed
    /// or if its exponent is beyond `maxExponent`.
    public init?(decimal text: String, maxExponent: Int = 100_000) {
        var mantissa = Substring(text.replacingOccurrences(of: "_", with: ""))
        var exponent = 0
        if let e = mantissa.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let x = Int(mantissa[mantissa.index(after: e)...]), abs(x) <= maxExponent else { return nil }
            exponent = x
            mantissa = mantissa[..<e]
        }
        var digits = String(mantissa)
        if let dot = mantissa.firstIndex(of: ".") {
            let fraction = mantissa[mantissa.index(after: dot)...]
            digits = String(mantissa[..<dot]) + fraction
            exponent -= fraction.count
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), var n = BigUInt(digits) else { return nil }
        if exponent >= 0 {
            self.init(reduced: BigInt(n * BigUInt(10).power(exponent)), 1)
            return
        }
        // n / 10^k in lowest terms: only factors 2 and 5 can cancel, so no gcd is needed.
        let k = -exponent
        guard !n.isZero else { self = .zero; return }
        let twos = min(n.trailingZeroBitCount, k)
        n >>= twos
        var fives = 0
        while fives < k {
            let (q, r) = n.quotientAndRemainder(dividingBy: 5)
            if !r.isZero { break }
            n = q
            fives += 1
        }
        let denominator = (BigUInt(1) << (k - twos)) * BigUInt(5).power(k - fives)
        self.init(reduced: BigInt(n), BigInt(denominator))
    }

    /// The nearest `Double` (±infinity beyond its range, 0 below it).
    public var doubleValue: Double {
        guard !isZero else { return 0 }
        let n = numerator.magnitude, d = denominator.magnitude
        // Scale so that the integer quotient has about 64 significant bits, then scale back.
        let shift = 64 - (n.bitWidth - d.bitWidth)
        let q = shift >= 0 ? (n << shift) / d : n / (d << -shift)
        let value = Double(sign: .plus, exponent: -shift, significand: Double(q))
        return isNegative ? -value : value
    }

    /// The natural logarithm of a positive value, even far beyond `Double`'s range.
    var naturalLog: Double {
        func ln(_ x: BigUInt) -> Double {
            let extra = max(0, x.bitWidth - 64)
            return Foundation.log(Double(x >> extra)) + Double(extra) * M_LN2
        }
        return ln(numerator.magnitude) - ln(denominator.magnitude)
    }

    /// The decimal expansion when it terminates within `maxFractionDigits` digits, e.g. `0.375`, `-12`.
    public func terminatingDecimal(maxFractionDigits: Int = 60) -> String? {
        var d = denominator.magnitude
        var twos = 0, fives = 0
        twos = d.trailingZeroBitCount
        d >>= twos
        while d % 5 == 0 && fives <= maxFractionDigits { d /= 5; fives += 1 }
        guard d == 1 else { return nil }
        let places = max(twos, fives)
        guard places <= maxFractionDigits else { return nil }
        let scaled = numerator.magnitude * BigUInt(10).power(places) / denominator.magnitude
        return Self.insertPoint(String(scaled), places: places, negative: isNegative)
    }

    /// The value rounded to `significantDigits` digits (halves away from zero): positional notation for
    /// moderate magnitudes, `d.ddd…e±N` otherwise. Trailing zeros after the point are dropped.
    public func decimal(significantDigits: Int = 30) -> String {
        guard !isZero else { return "0" }
        let n = numerator.magnitude, d = denominator.magnitude
        // 10^a * n against 10^b * d, without negative powers.
        func scaled(_ x: BigUInt, _ p: Int) -> BigUInt { p > 0 ? x * BigUInt(10).power(p) : x }
        func atLeastPowerOfTen(_ e: Int) -> Bool { scaled(n, -e) >= scaled(d, e) }  // n/d >= 10^e
        // The decimal exponent of the leading digit: estimated from the bit widths, then made exact.
        var e = Int((Double(n.bitWidth - d.bitWidth) * log10(2.0)).rounded(.down))
        while !atLeastPowerOfTen(e) { e -= 1 }
        while atLeastPowerOfTen(e + 1) { e += 1 }
        let shift = significantDigits - 1 - e
        let (q, r) = scaled(n, shift).quotientAndRemainder(dividingBy: scaled(d, -shift))
        var digits = r * 2 >= scaled(d, -shift) ? q + 1 : q
        if digits == BigUInt(10).power(significantDigits) {  // rounding carried: 9.99… became 10.0…
            digits /= 10
            e += 1
        }
        let text = String(digits)
        let sign = isNegative ? "-" : ""
        if e >= -7 && e < significantDigits {
            return Self.insertPoint(text, places: significantDigits - 1 - e, negative: isNegative, trimZeros: true)
        }
        var mantissa = String(text.prefix(1))
        let rest = text.dropFirst().reversed().drop(while: { $0 == "0" }).reversed()
        if !rest.isEmpty { mantissa += "." + String(rest) }
        return sign + mantissa + "e" + (e >= 0 ? "+" : "-") + String(abs(e))
    }

    private static func insertPoint(_ digits: String, places: Int, negative: Bool, trimZeros: Bool = false) -> String {
        var text = digits
        if places > 0 {
            if text.count <= places { text = String(repeating: "0", count: places - text.count + 1) + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -places))
            if trimZeros {
                while text.last == "0" { text.removeLast() }
                if text.last == "." { text.removeLast() }
            }
        }
        return (negative && text != "0" ? "-" : "") + text
    }
}

extension BigUInt {
    /// The integer `k`-th root, rounded down (Newton's method from an upper bound).
    func integerRoot(_ k: Int) -> BigUInt {
        if self < 2 || k == 1 { return self }
        if k == 2 { return squareRoot() }
        let bits = bitWidth
        if k >= bits { return 1 }
        var x = BigUInt(1) << ((bits + k - 1) / k)
        let kk = BigUInt(k), k1 = BigUInt(k - 1)
        while true {
            let y = (k1 * x + self / x.power(k - 1)) / kk
            if y >= x { return x }
            x = y
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
