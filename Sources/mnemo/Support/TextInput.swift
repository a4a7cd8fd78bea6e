import Foundation

/// Reading user text files: UTF-8 is required, and a file that is not says where it stops being UTF-8.
enum TextInput {
    struct InvalidInput: Error, CustomStringConvertible {
        let description: String
    }

    static func read(_ path: String) throws -> String {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw InvalidInput(description: "\(path): cannot read file (missing or not readable)")
            }
            data = contents
        }
        return try decodeUTF8(data, name: path == "-" ? "standard input" : path)
    }

    static func decodeUTF8(_ data: Data, name: String) throws -> String {
        if let text = String(data: data, encoding: .utf8) { return text }
        var decoder = UTF8()
        var iterator = data.makeIterator()
        var offset = 0
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): offset += UTF8.width(s)
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        throw InvalidInput(description: "\(name): not valid UTF-8 (first bad byte near offset \(offset))")
    }

    /// Non-empty lines, in order, without their line terminators.
    static func lines(_ text: String) -> [String] {
        text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
            .map(String.init)
            .filter { !$0.allSatisfy(\.isWhitespace) }
    }
}
