import ArgumentParser
import Foundation
import MnemoModels

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
          mnemo generate --chat "Tell me a story." --temperature 1.0 --top-k 0 --top-p 1 --min-p 0.1
          mnemo generate --chat "Tell me a story." --adaptive-temperature 0.5:1.5 --min-p 0.05 --rollback --json
          mnemo generate --model qwen-1.5b --draft-model qwen-0.5b --temperature 0 --chat "Write quicksort in Python."
          mnemo generate --prompt-lookup --temperature 0 --chat "Repeat exactly: The spare key is under the blue flowerpot."

        Sampling runs penalties → top-k → top-p → min-p → temperature → top-t → draw
        (Examples/SAMPLERS.md). --draft-model turns on speculative decoding: the draft
        (same vocabulary) proposes tokens that the model checks in one pass; greedy
        output stays the model's own, sampled output keeps its distribution. --prompt-lookup drafts
        without a model, copying what followed the last tokens' earlier occurrence in the prompt.
        --json reports rollbacks and the draft's acceptance rate.
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

    @Option(help: "Speculative decoding: a smaller model with the same vocabulary drafts tokens (e.g. qwen-0.5b for qwen-1.5b).")
    var draftModel: String?

    @Flag(help: "Speculative decoding without a draft model: drafts are copied from the prompt where its last tokens recur (suits text that quotes the prompt).")
    var promptLookup = false

    @Option(help: "Tokens the draft proposes per round (the start value when adaptive).")
    var draftTokens: Int = 4

    @Flag(help: "Keep --draft-tokens fixed (default: each round's length from the measured draft and verification times and the acceptance so far, none when drafting would lose).")
    var fixedDraft = false

    @Option(help: ArgumentHelp("The draft model scores only the first N tokens of the vocabulary and the special tokens (a cheaper head; output unchanged). 0: all.", valueName: "n"))
    var draftVocabulary = 0

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
        /// With --adaptive-temperature: the mean temperature of the sampled steps.
        let meanTemperature: Double?
        /// With --rollback: rollbacks made, where, passes thrown away, collapses kept at a bound.
        let rollback: RollbackReport?
        /// With --draft-model: drafted and accepted tokens, acceptance rate, rounds.
        let speculative: SpeculativeReport?
    }

    func validate() throws {
        if system != nil && !chat { throw ValidationError("--system needs --chat") }
        guard draftTokens >= 1, draftTokens <= 64 else { throw ValidationError("--draft-tokens must be between 1 and 64") }
        if draftModel != nil && sampling.rollback { throw ValidationError("--rollback cannot be combined with --draft-model") }
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
        var parameters = sampling.parameters(defaultTemperature: 0.7)
        if draftModel != nil && promptLookup { throw ValidationError("--draft-model and --prompt-lookup are two draft sources: give one") }
        if promptLookup {
            parameters.speculative = .promptLookup(settings: SpeculativeSettings(draftTokens: draftTokens, adaptive: !fixedDraft))
        }
        if let draftModel {
            let draft = try LanguageModel(path: ModelLocator.resolve(draftModel))
            try llm.checkDraftCompatibility(draft)
            parameters.speculative = SpeculativeParameters(
                draft: draft, settings: SpeculativeSettings(draftTokens: draftTokens, adaptive: !fixedDraft,
                                                            draftVocabulary: draftVocabulary > 0 ? draftVocabulary : nil))
        }
        let result = try llm.generate(ids.map { .token($0) }, parameters: parameters) { _, piece in
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
                kvCacheBytes: (result.promptTokens + result.tokens.count) * llm.model.config.kvCacheBytesPerPosition,
                meanTemperature: result.meanTemperature, rollback: result.rollback, speculative: result.speculative), snakeCase: true)
        } else {
            print()
            if Terminal.stderrIsTTY {
                var extra = ""
                if let r = result.rollback { extra += "; \(r.rollbacks) rollback(s)" }
                if let s = result.speculative {
                    extra += String(format: "; %d/%d drafted accepted (%.0f%%), %.2f tokens/pass", s.accepted, s.drafted,
                                    100 * s.acceptanceRate, s.tokensPerRound)
                }
                Terminal.printError(String(format: "[%d prompt tokens, %.1f tok/s prefill; %d generated, %.1f tok/s; %@%@]",
                                           result.promptTokens, result.prefillTokensPerSecond, result.tokens.count,
                                           result.decodeTokensPerSecond, result.finishReason.rawValue, extra))
            }
        }
    }
}
