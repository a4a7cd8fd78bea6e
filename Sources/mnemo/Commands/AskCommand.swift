import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels

struct AskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Answer a question from the memory store with the LLM, calling tools when it needs them.",
        discussion: """
        Retrieves the K best chunks (hybrid search by default), gives the model their sentences closest to \
        the question as numbered notes (--context sentences, the default; --context text gives whole \
        chunks; --context none asks the question alone), and streams the \
        answer, then lists the sources. The model may call the calculator (exact arithmetic) and, with a \
        database, read-only SQL; a question that is only an expression ("2^100 / 3") goes straight to the \
        calculator. Greedy decoding unless --temperature is given.

        Examples:
          mnemo ask "When is the boiler's next service due?" --store ~/memory
          mnemo ask "How long does the lentil soup simmer?" -k 5 --mode bm25 --json
          mnemo ask "Who repaired the boiler?" --context sentences --sentence-budget 64
          mnemo ask "Who built the first lighthouse?" --model smollm2 --context soft -k 3 --store Index
          mnemo ask "What is 17% of 2,340,000?" --context none
          mnemo ask "How many orders were cancelled?" --context none --tools sql --db Examples/shop.sqlite
          mnemo ask "2^64 - 1"

        When the notes do not hold the answer, ask says "Not in your notes." (JSON: "answerable": false): \
        the model's own reply, or with --verify its answer withdrawn after a check against the notes.
        """
    )

    @Argument(help: "The question.")
    var question: String

    @Option(help: ArgumentHelp("""
        How memories reach the model: none, text, sentences (the sentences closest to the question, under         --sentence-budget), soft (one soft token each, through the model's projector), soft+text,         soft-sentences (one soft token per chosen sentence) or soft+sentences.
        """, valueName: "mode"))
    var context: MemoryContext = AskOptions().context

    @Option(help: "For the sentence modes: most model tokens the chosen sentences take.")
    var sentenceBudget = SentenceSelection().budget

    @Option(help: "Projector for the soft modes (default: the installed one for the model).")
    var projector: String?

    @Option(name: .short, help: "How many chunks to retrieve.")
    var k = 3

    @Option(help: "Retrieval: dense, bm25 or hybrid.")
    var mode: QueryMode = .hybrid

    @Option(help: "Only this namespace.")
    var namespace: String?

    @Flag(help: "Check the answer against the notes and withdraw it (\"Not in your notes.\") when the model finds the notes do not state it (experimental: see docs/ANSWERS.md).")
    var verify = false

    @Flag(help: "Keep an answer that only repeats the question's words (by default such an answer is made again from the model's next most likely first tokens).")
    var keepEcho = false

    @Flag(help: "Whole chunks (--context text, soft+text): keep an answer found in none of their sentences closest to the question (by default such an answer is made again, as an echo is).")
    var keepUnsupported = false

    @OptionGroup var toolOptions: ToolOptions
    @Option(name: .customLong("min-seq"), help: ArgumentHelp("A shared store: first wait (up to 5 s) until this node has applied change N (a write's seq).", valueName: "n"))
    var minSeq: Int64?

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var lm: LanguageModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .customLong("encoder"), help: "Sentence encoder for retrieval: an installed model's name or a directory.")
    var encoder: String = ModelLocator.defaultEncoder

    func validate() throws {
        guard !question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("the question is empty: mnemo ask \"QUESTION\"")
        }
        guard (1...50).contains(k) else { throw ValidationError("-k must be between 1 and 50") }
        guard sentenceBudget > 0 else { throw ValidationError("--sentence-budget must be > 0") }
    }

    func run() throws {
        var options = AskOptions()
        options.context = context
        options.k = k
        options.mode = mode
        options.sentences.budget = sentenceBudget
        options.namespace = namespace
        options.verify = verify
        options.avoidEcho = !keepEcho
        options.requireSupport = !keepUnsupported
        options.tools = try toolOptions.names()
        options.sqlDatabase = options.tools.contains("sql") ? toolOptions.databasePath : nil
        options.generation = sampling.parameters(defaultTemperature: 0)

        // Open the store first: a missing store is reported before the model loads. A bare expression
        // goes to the calculator and needs no store.
        let calculatorOnly = options.tools.contains("calc") && ToolRouter.bareExpression(question) != nil
        var memory: MemoryService?
        var encoderModel: SentenceEncoder?
        if context != .none && !calculatorOnly {
            let loaded = try EncoderOptions.load(encoder, threads: lm.threads)
            encoderModel = loaded
            memory = try storeOptions.memory(encoder: loaded, access: .read)
            try memory?.waitUntilApplied(minSeq)
        }
        let llm = try lm.load()
        let projection = try encoderModel.flatMap { e in context.needsProjector ? try loadProjector(projector, llm: llm, encoder: e) : nil }
        let service = AskService(memory: memory, model: llm, projector: projection)
        let result = try service.ask(question, options: options) { piece in
            if !output.json && !piece.isEmpty { FileHandle.standardOutput.write(Data(piece.utf8)) }
        }
        if output.json {
            try Terminal.printJSON(result)
            return
        }
        print()
        if let withdrawn = result.withdrawn {
            // The guess was streamed before the check; say plainly that it does not stand.
            print("\(result.answer) (The notes do not state \"\(withdrawn)\"; without --verify that answer stands.)")
        }
        if !result.sources.isEmpty {
            print("\nSources:")
            for s in result.sources {
                print(String(format: "  [%d] %@ (chunk %lld, score %.4f)", s.number, displayPath(s.source), s.chunkID, s.score))
            }
        }
        if !result.toolCalls.isEmpty {
            print("\nTool calls:")
            for call in result.toolCalls {
                let outcome = call.result.map { "→ " + $0.replacingOccurrences(of: "\n", with: " ⏎ ") }
                    ?? "✗ " + (call.error ?? "failed")
                let excerpt = outcome.count > 200 ? String(outcome.prefix(197)) + "..." : outcome
                print("  \(call.name ?? "?") \(call.arguments) \(excerpt)")
            }
        }
        if Terminal.stderrIsTTY {
            Terminal.printError(String(format: "[%d context tokens, %d prompt tokens, %d generated in %d round(s); retrieval %.2f s, prefill %.1f s, decode %.1f s]",
                                       result.contextTokens, result.promptTokens, result.generatedTokens, result.rounds,
                                       result.retrievalSeconds, result.prefillSeconds, result.decodeSeconds))
        }
    }
}

extension EncoderOptions {
    /// Loads a named encoder with the given thread count.
    static func load(_ name: String, threads: Int?) throws -> SentenceEncoder {
        Runtime.configure(threads: threads)
        return try SentenceEncoder(directory: ModelLocator.resolve(name))
    }
}
