/// An error loading or running a model: a stable `code` for programs, a message for people that names
/// the file, tensor, value or limit at fault.
public struct ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let fileNotFound = Code("file-not-found")
        public static let unreadable = Code("unreadable")
        public static let corrupt = Code("corrupt")
        public static let wrongTensor = Code("wrong-tensor")
        public static let unusedTensor = Code("unused-tensor")
        public static let badConfig = Code("bad-config")
        public static let badInput = Code("bad-input")
        public static let unsupported = Code("unsupported")
    }

    public let code: Code
    public let message: String

    /// Control characters in `message` (it quotes names and values read from model files) are shown as
    /// `\u{…}` escapes, so a hostile file cannot write terminal escape sequences through an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = Self.printable(message)
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

    public var description: String { message }
}
