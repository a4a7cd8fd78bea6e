import ArgumentParser
import Foundation
import MnemoModels

/// Which decoder LLM to load, and how many threads it may use.
struct LanguageModelOptions: ParsableArguments {
    @Option(help: "Model: an installed model's name (smollm2, qwen-0.5b, qwen-1.5b) or a GGUF path.")
    var model: String = ModelLocator.defaultChatModel

    @Option(help: "Threads for matrix work (default: $MNEMO_THREADS, else all cores).")
    var threads: Int?

    func load() throws -> LanguageModel {
        Runtime.configure(threads: threads)
        return try LanguageModel(path: ModelLocator.resolve(model))
    }
}

/// Sampling flags shared by the commands that generate.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Most tokens to generate.")
    var maxTokens: Int = 256

    @Option(help: "Sampling temperature; 0 is greedy (always the most likely token).")
    var temperature: Float = 0.7

    @Option(help: "Keep the K most likely tokens (0: all).")
    var topK: Int = 40

    @Option(help: "Keep the most likely tokens up to this total probability (1: all).")
    var topP: Float = 0.9

    @Option(help: "Random seed, for a reproducible sampled answer (default: random, reported by --json).")
    var seed: UInt64?

    var parameters: GenerationParameters {
        GenerationParameters(maxTokens: maxTokens, sampling: SamplingParameters(temperature: temperature, topK: topK, topP: topP, seed: seed))
    }

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        do { try parameters.sampling.validate() } catch let e as ModelError { throw ValidationError(e.message) }
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a GGUF decoder model, streaming tokens as they come.",
        discussion: """
        Without --chat the prompt is fed as is (special tokens such as <|im_start|> are parsed);
        with --chat it becomes a user message in the model's chat format.

        Examples:
          mnemo generate --chat "Write a haiku about autumn."
          mnemo generate --model smollm2 "The capital of France is" --temperature 0 --max-tokens 16
          mnemo generate --chat --system "Answer in one word." "What colour is the sky?" --json
          echo "Explain RoPE briefly." | mnemo generate --chat -
        """
    )

    @Argument(help: "The prompt ('-' reads it from standard input).")
    var prompt: String

    @Flag(help: "Format the prompt as a user message with the model's chat template.")
    var chat = false

    @Option(help: "System message for --chat (default: the template's own).")
    var system: String?

    @OptionGroup var lm: LanguageModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var output: OutputOptions

    struct JSONOutput: Encodable {
        let model: String
        let text: String
        let finishReason: String
        let seed: UInt64
        let promptTokens: Int
        let generatedTokens: Int
        let prefillSeconds: Double
        let decodeSeconds: Double
        let prefillTokensPerSecond: Double
        let decodeTokensPerSecond: Double
        /// Memory the keys and values of this generation's positions take.
        let kvCacheBytes: Int
    }

    func validate() throws {
        if system != nil && !chat { throw ValidationError("--system needs --chat") }
    }

    func run() throws {
        var text = prompt
        if prompt == "-" { text = try TextInput.read("-") }
        let llm = try lm.load()
        let promptText: String
        if chat {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(.system, system)) }
            messages.append(ChatMessage(.user, text))
            promptText = try llm.chatPrompt(messages)
        } else {
            promptText = text
        }
        let ids = llm.encode(promptText)
        let result = try llm.generate(ids.map { .token($0) }, parameters: sampling.parameters) { _, piece in
            if !output.json {
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
            return .continue
        }
        if output.json {
            try Terminal.printJSON(JSONOutput(
                model: URL(fileURLWithPath: llm.path).lastPathComponent, text: result.text,
                finishReason: result.finishReason.rawValue, seed: result.seed,
                promptTokens: result.promptTokens, generatedTokens: result.tokens.count,
                prefillSeconds: result.prefillSeconds, decodeSeconds: result.decodeSeconds,
                prefillTokensPerSecond: result.prefillTokensPerSecond, decodeTokensPerSecond: result.decodeTokensPerSecond,
                kvCacheBytes: (result.promptTokens + result.tokens.count) * llm.model.config.kvCacheBytesPerPosition))
        } else {
            print()
            if Terminal.stderrIsTTY {
                Terminal.printError(String(format: "[%d prompt tokens, %.1f tok/s prefill; %d generated, %.1f tok/s; %@]",
                                           result.promptTokens, result.prefillTokensPerSecond, result.tokens.count,
                                           result.decodeTokensPerSecond, result.finishReason.rawValue))
            }
        }
    }
}
