/// An error from a tool: a stable `code` for programs, a message for people that names the input,
/// position or limit at fault.
public struct ToolError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The expression or statement does not parse.
        public static let syntax = Code("syntax")
        /// Division by zero, a logarithm of zero, a root of a negative number.
        public static let math = Code("math")
        /// A resource limit (length, nesting, digits, exponent, time, rows) was reached.
        public static let limit = Code("limit")
        /// The SQL module refused a statement (a write, ATTACH, PRAGMA, more than one statement).
        public static let denied = Code("denied")
        /// SQLite reported an error running an allowed statement.
        public static let sql = Code("sql")
        /// A database file is missing or unreadable.
        public static let notFound = Code("not-found")
        /// A tool call's arguments do not match its JSON Schema.
        public static let invalidArguments = Code("invalid-arguments")
    }

    public let code: Code
    public let message: String
    /// 1-based column of the offending character in a calculator expression, when there is one.
    public let column: Int?

    public init(_ code: Code, _ message: String, column: Int? = nil) {
        self.code = code
        self.message = message
        self.column = column
    }

    public var description: String { message }
}
