/// An error opening, reading or writing a store, naming the store, file or value at fault.
public struct StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let notFound = Code("not-found")
        public static let incompatible = Code("incompatible")
        public static let corrupt = Code("corrupt")
        public static let locked = Code("locked")
        public static let badInput = Code("bad-input")
        public static let index = Code("index")
        public static let io = Code("io")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
