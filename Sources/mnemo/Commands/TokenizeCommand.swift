import ArgumentParser
import Foundation
import MnemoModels

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show the token ids a model reads for each text.",
        discussion: """
        The sentence encoder is the default model.

        Examples:
          mnemo tokenize "Hello, world! Unbelievable."
          mnemo tokenize --json "naïve café" "東京タワー"
          mnemo tokenize --model qwen-0.5b "<|im_start|>user\nhi<|im_end|>"
        """
    )

    @Argument(help: "Texts to tokenize.")
    var texts: [String] = []

    @Option(help: "A UTF-8 file with one text per line ('-' for standard input).")
    var file: String?

    @Option(help: "Model: an installed model's name or a path.")
    var model: String = ModelLocator.defaultEncoder

    @OptionGroup var output: OutputOptions

    struct Entry: Encodable {
        let text: String
        let ids: [Int32]
        let tokens: [String]
    }

    struct JSONOutput: Encodable {
        let model: String
        let tokens: [Entry]
    }

    func validate() throws {
        guard !texts.isEmpty || file != nil else { throw ValidationError("give at least one TEXT or --file PATH") }
    }

    func run() throws {
        var inputs = texts
        if let file { inputs += TextInput.lines(try TextInput.read(file)) }
        let path = try ModelLocator.resolve(model)
        let entries: [Entry]
        if path.hasSuffix(".gguf") {
            let tokenizer = try BPETokenizer(path: path)
            entries = inputs.map { text in
                let ids = tokenizer.encode(text, addBOS: nil, parseSpecial: true)
                return Entry(text: text, ids: ids, tokens: ids.map { tokenizer.decode([$0]) })
            }
        } else {
            let tokenizer = try WordPieceTokenizer(
                tokenizerJSON: (path as NSString).appendingPathComponent("tokenizer.json"), maxLength: 256)
            entries = inputs.map { text in
                let ids = tokenizer.encode(text)
                return Entry(text: text, ids: ids, tokens: tokenizer.tokenStrings(ids))
            }
        }
        if output.json {
            try Terminal.printJSON(JSONOutput(model: URL(fileURLWithPath: path).lastPathComponent, tokens: entries))
            return
        }
        for e in entries {
            print(e.text)
            print("  ids:    \(e.ids.map(String.init).joined(separator: " "))")
            print("  tokens: \(e.tokens.joined(separator: " "))")
        }
    }
}
