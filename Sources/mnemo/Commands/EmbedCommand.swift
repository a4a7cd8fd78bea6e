import ArgumentParser
import Foundation
import MnemoModels

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Turn each text into one unit-length sentence vector.",
        discussion: """
        One vector per TEXT argument, then one per non-empty line of --file, in order.

        Examples:
          mnemo embed "The cat sits on the mat."
          mnemo embed --file sentences.txt --json
          cat notes.txt | mnemo embed --file - --json
        """
    )

    @Argument(help: "Texts to embed.")
    var texts: [String] = []

    @Option(help: "A UTF-8 file with one text per line ('-' for standard input).")
    var file: String?

    @Option(help: "Texts per forward pass.")
    var batchSize = 32

    @OptionGroup var encoderOptions: EncoderOptions
    @OptionGroup var output: OutputOptions

    struct JSONOutput: Encodable {
        let model: String
        let dim: Int
        let embeddings: [[Float]]
    }

    func validate() throws {
        guard !texts.isEmpty || file != nil else { throw ValidationError("give at least one TEXT or --file PATH") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        var inputs = texts
        if let file { inputs += TextInput.lines(try TextInput.read(file)) }
        let encoder = try encoderOptions.load()
        let bar = inputs.count > 256 ? ProgressBar(total: inputs.count, label: "texts") : nil
        let vectors = try encoder.embed(inputs, batchSize: batchSize) { bar?.update($0) }
        bar?.finish()
        if output.json {
            try Terminal.printJSON(JSONOutput(model: encoder.name, dim: encoder.dimension, embeddings: vectors))
            return
        }
        for (text, v) in zip(inputs, vectors) {
            let head = v.prefix(6).map { String(format: "%+.4f", $0) }.joined(separator: " ")
            let shown = text.count > 60 ? String(text.prefix(57)) + "..." : text
            print("[\(head) … ] \(v.count)d  \(shown)")
        }
    }
}
