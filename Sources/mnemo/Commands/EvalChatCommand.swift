import ArgumentParser
import Foundation
import MnemoCore
import MnemoEvaluation
import MnemoModels
import MnemoStore

extension HistoryStrategy: ExpressibleByArgument {}

extension EvalCommand {
    struct Chat: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chat",
            abstract: "Recall of facts planted early in a long dialogue, and prompt tokens per turn, per history strategy.",
            discussion: """
            Replays a dialogue from Examples/chat-bench/make_dialogue.py through a fresh chat session per \
            strategy (in a temporary directory): plants and small talk are stored with their scripted answers, \
            and each probe (a question about a fact planted 50+ turns earlier) is answered greedily by the model \
            and scored by its accepted answers. The raw baselines get --context tokens (truncated: as many recent \
            turns as fit; recent: the last --recent turns); Mnemo's strategies get --budget.

            Examples:
              python3 Examples/chat-bench/make_dialogue.py --seed 7 --out /tmp/dialogue.jsonl
              mnemo eval chat --dialogue /tmp/dialogue.jsonl --model smollm2
              mnemo eval chat --dialogue /tmp/dialogue.jsonl --model qwen-0.5b --history truncated --history recall --json
            """
        )

        @Option(help: "Dialogue, JSON Lines (make_dialogue.py).")
        var dialogue: String

        @Option(help: "Strategies (repeatable; default: truncated, recent, recall, sentence, turn; the soft ones need the model's projector).")
        var history: [HistoryStrategy] = [.truncated, .recent, .recall, .sentence, .turn]

        @Option(help: "Prompt budget of Mnemo's strategies (sentence, turn, recall).")
        var budget = 1024

        @Option(help: "The short context the raw baselines get.")
        var context = 2048

        @Option(help: "Turns kept raw (the recent baseline's window; Mnemo's most recent turns).")
        var recent = 3

        @Option(help: "Most tokens per probe answer.")
        var maxTokens = 48

        @Option(help: "Projector (default: the installed one for the model).")
        var projector: String?

        @OptionGroup var lm: LanguageModelOptions
        @Option(name: .customLong("encoder"), help: "Encoder: an installed model's name or a directory path.")
        var encoderName: String = ModelLocator.defaultEncoder
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard budget >= 128, context >= 128, recent >= 0, maxTokens > 0 else {
                throw ValidationError("--budget and --context must be ≥ 128, --recent ≥ 0, --max-tokens > 0")
            }
        }

        func run() throws {
            let turns = try DialogueTurn.load(dialogue)
            let llm = try lm.load()
            let encoder = try SentenceEncoder(directory: ModelLocator.resolve(encoderName))
            let projection = history.contains(where: \.usesSoftTokens) ? try loadProjector(projector, llm: llm, encoder: encoder) : nil
            var reports: [ChatEvaluationReport] = []
            for strategy in history {
                let work = FileManager.default.temporaryDirectory.appendingPathComponent("mnemo-eval-chat-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: work) }
                var options = ChatOptions()
                options.context.strategy = strategy
                options.context.budget = strategy == .truncated || strategy == .recent ? context : budget
                options.context.recentTurns = recent
                options.documents = 0
                options.generation = GenerationParameters(maxTokens: maxTokens, sampling: .greedy)
                let chat = try ChatSession(name: "eval", model: llm, encoder: encoder,
                                           chats: ChatStore(directory: work, encoder: encoder.name, dimension: encoder.dimension),
                                           memory: nil, projector: projection, options: options)
                let bar = ProgressBar(total: turns.count, label: "turns (\(strategy.rawValue))")
                reports.append(try ChatEvaluation.run(turns, session: chat) { bar.update($0) })
                bar.finish()
            }
            let model = URL(fileURLWithPath: llm.path).lastPathComponent
            if output.json {
                try Terminal.printJSON(["model": AnyCodable(model), "dialogue": AnyCodable(dialogue), "reports": AnyCodable(reports)])
                return
            }
            let probes = reports.first?.probes ?? 0
            print("\(model), \(turns.count) turns, \(probes) probes; raw history at the end: \(reports.first?.rawHistoryTokens ?? 0) tokens")
            print("| history | budget | recall accuracy | fact in prompt as text | prompt tokens / turn (mean) | max | soft tokens / turn | seconds |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in reports {
                print(String(format: "| %@ | %d | %d/%d (%.0f%%) | %d/%d | %.0f | %d | %.1f | %.0f |", r.strategy, r.budget, r.correct, r.probes,
                             r.accuracy * 100, r.factInTextPrompt, r.probes, r.meanPromptTokens, r.maxPromptTokens, r.meanSoftTokens, r.seconds))
            }
        }
    }
}
