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

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
