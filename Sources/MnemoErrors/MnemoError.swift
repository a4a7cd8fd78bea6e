/// Mnemo's one error type: a stable `code` for programs, a message for people that names the file,
/// value, position or limit at fault, and the module that raised it. The layers name it after
/// themselves (`StoreError`, `ModelError`, `ToolError` are this type), so a throw site reads as its layer;
/// the edges map it once (HTTP status, MCP `isError`, the CLI's exit message).
public struct MnemoError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        // Any layer.
        /// The caller's input is wrong (a value, an argument, a file's contents as data).
        public static let badInput = Code("bad-input")
        /// A store, model file or database that should be there is not.
        public static let notFound = Code("not-found")
        /// A file's bytes contradict its own format.
        public static let corrupt = Code("corrupt")

        // The store.
        public static let incompatible = Code("incompatible")
        /// Another process holds the store's write lock.
        public static let locked = Code("locked")
        public static let index = Code("index")
        public static let io = Code("io")
        /// A shared store's database server cannot be reached (down, refusing, or the connection dropped).
        public static let unavailable = Code("unavailable")
        /// This node's replica has not reached the change a read asked for (`min_seq`) in time.
        public static let behind = Code("behind")

        // Models.
        public static let fileNotFound = Code("file-not-found")
        public static let unreadable = Code("unreadable")
        public static let wrongTensor = Code("wrong-tensor")
        public static let unusedTensor = Code("unused-tensor")
        public static let badConfig = Code("bad-config")
        public static let unsupported = Code("unsupported")

        // Tools.
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
        /// A tool call's arguments do not match its JSON Schema.
        public static let invalidArguments = Code("invalid-arguments")
    }

    public let code: Code
    public let message: String
    /// 1-based column of the offending character in a calculator expression, when there is one.
    public let column: Int?
    /// The module that raised it (`MnemoStore`, `MnemoModels`, `MnemoTools`, …), from the throw site.
    public let module: String

    /// Control characters in `message` (it may quote names and values read from files) are shown as
    /// `\u{…}` escapes, so a hostile file cannot write terminal escape sequences through an error.
    public init(_ code: Code, _ message: String, column: Int? = nil, fileID: StaticString = #fileID) {
        self.code = code
        self.message = Self.printable(message)
        self.column = column
        module = String(describing: fileID).split(separator: "/").first.map(String.init) ?? ""
    }

    public var description: String { message }

    /// Equal when code, message and column are: where it was raised does not make it another error.
    public static func == (a: MnemoError, b: MnemoError) -> Bool {
        a.code == b.code && a.message == b.message && a.column == b.column
    }

    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) { out += "\\u{" + String(scalar.value, radix: 16) + "}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// C0 and C1 controls, DEL, and the bidirectional overrides and isolates (which reorder what follows).
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (0x7F...0x9F).contains(s.value) || (0x202A...0x202E).contains(s.value) || (0x2066...0x2069).contains(s.value)
    }
}
