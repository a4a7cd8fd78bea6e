import Foundation
import MnemoTools
import Testing

/// `mnemo calc`'s text for an expression, or the error message.
private func calc(_ expression: String, limits: Calculator.Limits = Calculator.Limits()) -> String {
    do {
        return try Calculator(limits: limits).evaluate(expression).description
    } catch {
        return "error: \(error)"
    }
}

private func failure(_ expression: String, limits: Calculator.Limits = Calculator.Limits()) -> ToolError? {
    do {
        _ = try Calculator(limits: limits).evaluate(expression)
        return nil
    } catch {
        return error as? ToolError
    }
}

@Suite struct CalculatorTests {
    @Test(arguments: [
        ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("10 - 4 - 3", "3"), ("2 * 3 / 4", "1.5"), ("100 / 10 / 5", "2"),
        ("2^3^2", "512"), ("(2^3)^2", "64"), ("-2^2", "-4"), ("(-2)^2", "4"), ("2^-2", "0.25"), ("-2^-2", "-0.25"),
        ("--3", "3"), ("-+-3", "3"), ("2 - -3", "5"), ("2 * -3", "-6"), ("2^3 * 2", "16"), ("1 - 2 + 3", "2"),
        ("7 % 3", "1"), ("-7 % 3", "-1"), ("7 % (-3)", "1"), ("7.5 % 2", "1.5"), ("2 * 7 % 4", "2"),
        ("2 × 3 ÷ 4 − 1", "0.5"), ("2**10", "1024"), ("2 ⋅ 3", "6"), ("1_000_000 + 1", "1000001"),
        ("1e3", "1000"), ("2.5E-3", "0.0025"), (".5 + 5.", "5.5"), ("0^0", "1"),
    ])
    func precedenceAndOperators(_ expression: String, _ expected: String) {
        #expect(calc(expression) == expected, "\(expression)")
    }

    @Test func exactRationalsAndBigIntegers() throws {
        #expect(calc("0.1 + 0.2") == "0.3")
        #expect(try Calculator().evaluate("0.1 + 0.2") == Calculator().evaluate("0.3"))
        #expect(calc("1/3 * 3") == "1")
        #expect(calc("1/3 + 1/6") == "0.5")
        #expect(calc("1/3") == "1/3 ≈ 0.333333333333333333333333333333")
        #expect(calc("2/3") == "2/3 ≈ 0.666666666666666666666666666667")
        #expect(calc("-1/7") == "-1/7 ≈ -0.142857142857142857142857142857")
        #expect(calc("2^200") == "1606938044258990275541962092341162602522202993782792835301376")
        #expect(calc("12345678901234567890 * 98765432109876543210") == "1219326311370217952237463801111263526900")
        #expect(calc("(2^127 - 1) % 1000000007") == "639816141")  // checked with bc
        #expect(calc("10^40 / 3") == "10000000000000000000000000000000000000000/3 ≈ 3.33333333333333333333333333333e+39")
        #expect(calc("1/2^100").hasSuffix("≈ 7.88860905221011805411728565283e-31"))
        #expect(calc("0.000001 / 3") == "1/3000000 ≈ 0.000000333333333333333333333333333333")
        // 2^-60 terminates after 60 places: shown exactly; 2^-61 does not fit, so it is rounded.
        #expect(calc("2^-60") == "0.000000000000000000867361737988403547205962240695953369140625")
        #expect(calc("2^-61").contains("≈"))
        let third = try Calculator().evaluate("1/3")
        #expect(third.isExact && third.rational?.description == "1/3")
        #expect(third.decimalIsExact == false && third.decimal(significantDigits: 5) == "0.33333")
        // 0.999… rounding up to a new leading digit.
        #expect(try Calculator().evaluate("1 - 1/10^70").decimal(significantDigits: 30) == "1")
        #expect(try Calculator().evaluate("99999/100000 + 1/3000000").decimal(significantDigits: 3) == "1")
    }

    @Test func percentRule() {
        #expect(calc("50%") == "0.5")
        #expect(calc("200 * 15%") == "30")
        #expect(calc("250000 * 3.5%") == "8750")
        #expect(calc("200 + 15%") == "230")
        #expect(calc("200 - 15%") == "170")
        #expect(calc("200 + (15%)") == "200.15")
        #expect(calc("200 + 10% + 10%") == "242")
        #expect(calc("15% * 200") == "30")
        #expect(calc("5% - 3") == "-2.95")  // a minus after % makes it a percent sign
        #expect(calc("7 % 3") == "1")
        #expect(calc("50%^2") == "0.25")  // percent binds tightest
    }

    @Test func functionsAndExactness() throws {
        func exact(_ e: String) throws -> Bool { try Calculator().evaluate(e).isExact }
        #expect(calc("sqrt(16/9)") == "4/3 ≈ 1.33333333333333333333333333333")
        #expect(calc("sqrt(2)") == "≈ 1.4142135623730951")
        #expect(try !exact("sqrt(2)") && exact("sqrt(144)"))
        #expect(calc("sqrt(10^400)") == "1" + String(repeating: "0", count: 200))
        #expect(calc("8^(1/3)") == "2" && calc("(-8)^(1/3)") == "-2" && calc("(9/4)^(3/2)") == "3.375")
        #expect(calc("2^(1/2)") == "≈ 1.4142135623730951")
        #expect(calc("log(1000)") == "3" && calc("log(1/100)") == "-2" && calc("log(1024, 2)") == "10")
        #expect(calc("log(2)") == "≈ 0.3010299956639812")
        #expect(calc("ln(1)") == "0" && calc("exp(0)") == "1" && calc("sin(0)") == "0" && calc("cos(0)") == "1")
        #expect(calc("ln(e)") == "≈ 1")
        #expect(calc("ln(10^1000)") == "≈ 2302.5850929940457")
        #expect(calc("pi") == "≈ 3.141592653589793" && calc("π") == "≈ 3.141592653589793" && calc("e") == "≈ 2.718281828459045")
        #expect(calc("sin(pi/2)") == "≈ 1" && calc("cos(pi)") == "≈ -1")
        #expect(calc("abs(-7/2)") == "3.5" && calc("abs(-pi)") == "≈ 3.141592653589793")
        #expect(calc("round(2.5)") == "3" && calc("round(-2.5)") == "-3" && calc("round(1/3, 4)") == "0.3333")
        #expect(calc("round(1234.5678, -2)") == "1200")
        #expect(calc("floor(-7/2)") == "-4" && calc("ceil(-7/2)") == "-3" && calc("floor(7/2)") == "3" && calc("ceil(7/2)") == "4")
        #expect(calc("min(3, 1/2, 0.7)") == "0.5" && calc("max(3, 1/2, 0.7, -10)") == "3")
        #expect(calc("max(1, pi)") == "≈ 3.141592653589793")
        #expect(calc("SQRT(4)") == "2")
        #expect(calc("2 * pi + 1") == "≈ 7.283185307179586")
    }

    @Test func syntaxErrorsSayWhereAndWhat() {
        #expect(failure("")?.message == "empty expression")
        #expect(failure("1 +")?.message == "the expression ends too early after '+' at column 3: a number, name or '(' is missing")
        #expect(failure("(1 + 2")?.message == "'(' at column 1 is never closed")
        #expect(failure("1 + 2)")?.message == "unmatched ')' at column 6")
        #expect(failure("2 (3)")?.column == 3)
        #expect(failure("2 (3)")?.message.contains("missing operator") == true)
        #expect(failure("2 pi")?.message.contains("missing operator before 'pi' at column 3") == true)
        #expect(failure("1,000")?.message.contains("1_000_000") == true)
        #expect(failure("3 $ 4")?.message == "unexpected character '$' at column 3")
        #expect(failure("foo(1)")?.message.hasPrefix("unknown name 'foo' at column 1") == true)
        #expect(failure("sqrt")?.message == "sqrt at column 1 is a function: write sqrt(x)")
        #expect(failure("pi(2)")?.message == "pi at column 1 is a constant, not a function")
        #expect(failure("sqrt(1, 2)")?.message == "sqrt at column 1 takes 1 argument, got 2")
        #expect(failure("1 * * 2")?.message == "unexpected '*' at column 5")
        #expect(failure("1 + 2")?.code == nil)
        #expect(failure("1 +")?.code == .syntax)
    }

    @Test func mathErrors() {
        #expect(failure("1/0")?.message == "division by zero at column 2")
        #expect(failure("1 / (2 - 2)")?.code == .math)
        #expect(failure("5 % 0")?.message == "division by zero at column 3")
        #expect(failure("0^-1")?.code == .math)
        #expect(failure("pi / 0")?.code == .math)
        #expect(failure("sqrt(-4)")?.code == .math)
        #expect(failure("(-8)^(1/2)")?.code == .math)
        #expect(failure("ln(0)")?.message == "ln of zero at column 1 is undefined")
        #expect(failure("log(-1)")?.code == .math)
        #expect(failure("log(8, 1)")?.code == .math)
        #expect(failure("(-2)^pi")?.code == .math)
        #expect(failure("round(2.5, 1/2)")?.code == .math)
    }

    @Test func inputLengthLimit() {
        let long = Array(repeating: "1", count: 6_000).joined(separator: "+")
        #expect(failure(long)?.message == "the expression is 11999 characters long; the limit is 10000")
        #expect(failure(long)?.code == .limit)
        let fits = Array(repeating: "1", count: 4_000).joined(separator: "+")
        #expect(calc(fits) == "4000")
    }

    @Test func nestingLimit() {
        let deep = String(repeating: "(", count: 150) + "1" + String(repeating: ")", count: 150)
        #expect(failure(deep)?.code == .limit)
        #expect(failure(deep)?.message.contains("nests deeper than 100 levels") == true)
        #expect(failure(String(repeating: "-", count: 5_000) + "1")?.code == .limit)
        #expect(failure(Array(repeating: "2", count: 500).joined(separator: "^"))?.code == .limit)
        #expect(failure(String(repeating: "sqrt(", count: 200) + "4" + String(repeating: ")", count: 200))?.code == .limit)
        let fine = String(repeating: "(", count: 90) + "1" + String(repeating: ")", count: 90)
        #expect(calc(fine) == "1")
    }

    @Test func digitLimit() {
        #expect(calc("10^9999").count == 10_000)
        #expect(failure("10^10000")?.code == .limit)
        #expect(failure("10^10000")?.message.contains("the limit of 10000 digits") == true)
        #expect(failure(String(repeating: "9", count: 10_001))?.code == .limit)
        // Intermediate results count: each factor fits, their product does not.
        #expect(failure("7^8000 * 7^8000")?.message.contains("more than the limit of 10000 digits") == true)
        #expect(failure("1 / 7^8000 / 7^8000")?.code == .limit)
        #expect(failure("1e100001")?.code == .limit)
        var small = Calculator.Limits()
        small.maxDigits = 50
        #expect(failure("2^200", limits: small)?.code == .limit)
        #expect(calc("2^100", limits: small) == "1267650600228229401496703205376")
    }

    @Test func exponentIsCheckedBeforeComputing() {
        let start = ContinuousClock.now
        #expect(failure("2^10^10")?.message == "the power at column 2 would have about 3010299957 digits, more than the limit of 10000 digits")
        #expect(failure("2^(10^100)")?.code == .limit)
        #expect(failure("9^9^9^9")?.code == .limit)
        #expect(failure("(1/3)^-100000")?.code == .limit)
        #expect(ContinuousClock.now - start < .seconds(1))
        // Bases whose powers stay small are fine at any size of exponent.
        #expect(calc("1^(10^100)") == "1" && calc("(-1)^(10^100 + 1)") == "-1" && calc("0^(10^100)") == "0")
    }

    @Test func timeLimit() {
        var limits = Calculator.Limits()
        limits.timeLimit = .milliseconds(50)
        let heavy = Array(repeating: "(3^9000 * 7^1000 / 11^999)", count: 300).joined(separator: " + ")
        let start = ContinuousClock.now
        let error = failure(heavy, limits: limits)
        #expect(error?.code == .limit)
        #expect(error?.message.contains("time limit") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func floatingPointRangeIsAnError() {
        #expect(failure("exp(1000)")?.code == .limit)
        #expect(failure("sin(10^400)")?.code == .limit)
        #expect(calc("exp(-1000)") == "0" || calc("exp(-1000)") == "≈ 0")
    }

    @Test func neverCrashesOnOddInput() {
        let inputs = ["", " ", "()", "(,)", "max()", "min(,)", "1..2", "1.2.3", "e^", "^2", "%", "50%%", "1e", "1e+",
                      "_1", "1__0", "\u{0}", "٣ + 1", "１＋１", "--", "(((", ")))", "1 / / 2", "round(1, 2, 3)", "π²"]
        for input in inputs {
            _ = calc(input)
        }
        #expect(calc("1e") == "error: missing operator before 'e' at column 2 (implicit multiplication is not supported: write 1*e)")
    }
}
