import ArgumentParser
import Foundation
import MnemoCore
import MnemoModels
import MnemoStore

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the LLM; the history is kept compressed in the store and recalled when relevant.",
        discussion: """
        Each prompt holds the system prompt, the last turns raw, older turns relevant to the new message \
        recalled as text and document notes from the store (as `mnemo ask`), all under --budget tokens; \
        with --history turn or sentence, the remaining older turns also come as soft tokens through the \
        model's projector. Every turn is stored with its sentence vectors in <store>/chats.sqlite, so a \
        session resumes where it stopped.

        Keys: ← → Home End, ↑ ↓ (input history), Ctrl-A/E/U/K/W, Ctrl-C stops an answer (or clears the \
        line), Ctrl-D on an empty line exits. Lines piped on standard input are read one message each.

        Commands:
        \(ChatREPL.commands)

        Examples:
          mnemo chat
          mnemo chat --session trip --store ~/memory
          mnemo chat --model smollm2 --history sentence --budget 768
          mnemo chat --tools calc,sql --db Examples/shop.sqlite
          echo "What did I say my locker code was?" | mnemo chat --session gym --json
        """
    )

    @Option(help: "Session to resume or start (letters, digits, - _ .).")
    var session = "default"

    @Option(help: "Most prompt tokens per turn for the system prompt, history, documents and the message (the tools' descriptions come on top).")
    var budget = 1024

    // Text recall is the default because it measured best: on the 150-turn benchmark Qwen 0.5B recalled 20/20
    // facts with it and 14/20 with a soft token per older turn added (docs/CHAT.md).
    @Option(help: "How older turns reach the prompt: recall (relevant turns as text), turn (and a soft token per remaining turn), sentence (a soft token per sentence), truncated or recent (raw baselines).")
    var history: HistoryStrategy = .recall

    @Option(help: "Most recent turns kept raw.")
    var recent = 3

    @Option(name: .short, help: "Document chunks retrieved per message (0: none).")
    var k = 3

    @Option(help: "Retrieval: dense, bm25 or hybrid.")
    var mode: QueryMode = .hybrid

    @Option(help: "Only documents of this namespace.")
    var namespace: String?

    @Option(help: "Projector for soft tokens (default: the installed one for the model).")
    var projector: String?

    @Flag(help: "List the sessions in the store and exit.")
    var list = false

    @OptionGroup var toolOptions: ToolOptions
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var lm: LanguageModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Flag(help: "Print each answer as one JSON line (for scripts); no prompt or banner.")
    var json = false

    @Option(name: .customLong("encoder"), help: "Sentence encoder: an installed model's name or a directory.")
    var encoder: String = ModelLocator.defaultEncoder

    func validate() throws {
        do { try ChatStore.validate(sessionName: session) } catch let e as StoreError { throw ValidationError("--session: \(e.message)") }
        guard (128...32768).contains(budget) else { throw ValidationError("--budget must be between 128 and 32768 tokens") }
        guard (0...50).contains(recent) else { throw ValidationError("--recent must be between 0 and 50") }
        guard (0...20).contains(k) else { throw ValidationError("-k must be between 0 and 20") }
    }

    func run() throws {
        let directory = storeOptions.directory
        let encoderModel = try EncoderOptions.load(encoder, threads: lm.threads)
        let chats = try ChatStore(directory: directory, encoder: encoderModel.name, dimension: encoderModel.dimension)
        if list {
            let sessions = try chats.sessions()
            if json { try Terminal.printJSON(sessions); return }
            if sessions.isEmpty { print("No chat sessions in \(directory).") }
            for s in sessions { print("\(s.name)\t\(s.turns) turns\tlast used \(s.updatedAt)") }
            return
        }
        // A shared store's conversations stay on this node, in its replica directory.
        let hasDocuments = storeOptions.isShared || FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("manifest.json"))
        let memory = hasDocuments && k > 0 ? try storeOptions.memory(encoder: encoderModel, access: .read) : nil
        let llm = try lm.load()

        var options = ChatOptions()
        options.context.budget = budget
        options.context.recentTurns = recent
        options.documents = k
        options.mode = mode
        options.namespace = namespace
        options.tools = try toolOptions.names()
        options.sqlDatabase = options.tools.contains("sql") ? toolOptions.databasePath : nil
        options.generation = sampling.parameters(defaultTemperature: 0)
        options.context.strategy = history
        let softProjector = history.usesSoftTokens ? try loadProjector(projector, llm: llm, encoder: encoderModel) : nil
        var notes: [String] = []
        if !hasDocuments && k > 0 { notes.append("no documents indexed in \(directory) (`mnemo index PATH --store \(directory)`)") }
        let chat = try ChatSession(name: session, model: llm, encoder: encoderModel, chats: chats, memory: memory,
                                   projector: softProjector, options: options)
        try ChatREPL(chat: chat, json: json, historyFile: (directory as NSString).appendingPathComponent("chat_input_history"),
                     modelName: URL(fileURLWithPath: llm.path).lastPathComponent, notes: notes).run()
    }
}

/// The interactive loop: reads lines, runs commands, streams answers.
struct ChatREPL {
    let chat: ChatSession
    let json: Bool
    let historyFile: String
    let modelName: String
    let notes: [String]

    private func say(_ text: String) {
        if !json { print(text) }
    }

    func run() throws {
        let editor = LineEditor(historyFile: editorHistoryFile)
        // Ctrl-C with no answer running and no line being edited (piped input): leave, as a shell would.
        let interrupt = InterruptFlag { exit(130) }
        if !json {
            say("Session \"\(chat.name)\": \(chat.history.count) earlier turn(s). Model \(modelName); history \(chat.options.context.strategy.rawValue); budget \(chat.options.context.budget) tokens.")
            for note in notes { say("Note: \(note).") }
            say("/help for commands; Ctrl-C stops an answer; Ctrl-D exits.")
        }
        while true {
            switch editor.read(prompt: json || !editor.interactive ? "" : "you> ") {
            case .end: return
            case .interrupted: continue
            case .line(let raw):
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty { continue }
                if line.hasPrefix("/") {
                    if try command(line) == .exit { return }
                    continue
                }
                interrupt.start()
                defer { interrupt.finish() }
                do {
                    var streamed = false
                    let reply = try chat.send(line, onText: { piece in
                        guard !json, !piece.isEmpty else { return }
                        if !streamed { fflush(nil) }  // print's buffered lines before the answer, written directly
                        streamed = true
                        FileHandle.standardOutput.write(Data(piece.utf8))
                    }, isCancelled: { interrupt.isRaised })
                    if json {
                        try Terminal.printJSON(reply)
                        continue
                    }
                    if reply.finishReason == "cancelled" { print(streamed ? " [stopped]" : "[stopped]") } else { print() }
                    if !reply.sources.isEmpty {
                        say("  (notes: " + reply.sources.map { "[\($0.number)] " + URL(fileURLWithPath: $0.source).lastPathComponent }.joined(separator: ", ") + "; /sources)")
                    }
                    say("")
                } catch {
                    Terminal.printError("error: \(error)")
                }
            }
        }
    }

    /// Where typed lines are kept: beside the chats, unless the directory cannot be written.
    private var editorHistoryFile: String? {
        FileManager.default.isWritableFile(atPath: (historyFile as NSString).deletingLastPathComponent) ? historyFile : nil
    }

    static let commands = """
          /help            this list
          /sources         the documents and earlier turns the last answer drew on
          /history [N|all] the session's turns (the last 20, or N)
          /tokens          what the history costs in the prompt, compressed against raw
          /forget N        delete turn N (text and vectors)
          /session NAME    switch to (or start) another session
          /sessions        list the sessions
          /exit            leave (as Ctrl-D)
        """

    enum Outcome { case `continue`, exit }

    private func command(_ line: String) throws -> Outcome {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch parts[0].lowercased() {
        case "/help", "/?":
            print(Self.commands)
        case "/exit", "/quit":
            return .exit
        case "/sources":
            guard let plan = chat.lastPlan else { print("No answer yet in this session."); break }
            if plan.sources.isEmpty { print("Documents: none.") } else {
                print("Documents:")
                for s in plan.sources { print(String(format: "  [%d] %@ (chunk %lld, score %.4f)", s.number, displayPath(s.source), s.chunkID, s.score)) }
            }
            print("Earlier turns recalled as text: " + (plan.recalled.isEmpty ? "none" : plan.recalled.map { String(format: "%d (%.2f)", $0.turn, $0.score) }.joined(separator: ", ")))
            print("Turns given raw: " + (plan.rawTurns.isEmpty ? "none" : plan.rawTurns.map(String.init).joined(separator: ", ")))
            print("Turns as soft tokens: " + (plan.softTurns.isEmpty ? "none" : "\(plan.softTurns.count) turns in \(plan.softTokens) tokens"))
        case "/history":
            let turns = chat.history
            let shown: ArraySlice<ChatTurn>
            if argument == "all" { shown = turns[...] } else if argument.isEmpty { shown = turns.suffix(20) } else if let n = Int(argument), n > 0 {
                shown = turns.suffix(n)
            } else { print("usage: /history [N|all]"); break }
            if turns.isEmpty { print("No turns yet in session \"\(chat.name)\".") }
            for t in shown {
                print(String(format: "%4d  you: %@", t.number, Self.excerpt(t.user)))
                print("      mnemo: " + Self.excerpt(t.assistant))
            }
        case "/tokens":
            print("Session \"\(chat.name)\": \(chat.history.count) turns; all of them raw would take \(chat.rawHistoryTokens()) tokens.")
            if let plan = chat.lastPlan {
                print("Last prompt: \(plan.tokens) of \(chat.options.context.budget) tokens; history and notes in it: \(plan.tokens - plan.fixedTokens) tokens "
                    + "(\(plan.rawTurns.count) turns raw, \(plan.recalled.count) recalled as text, \(plan.softTurns.count) as \(plan.softTokens) soft tokens, \(plan.sources.count) document notes; \(plan.omittedTurns.count) left out).")
            } else {
                print("No prompt yet in this run: send a message first.")
            }
        case "/forget":
            guard let n = Int(argument), n > 0 else { print("usage: /forget N (a turn number from /history)"); break }
            print(try chat.forget(turn: n) ? "Forgot turn \(n)." : "No turn \(n) in session \"\(chat.name)\".")
        case "/session":
            guard !argument.isEmpty else { print("Session \"\(chat.name)\" (\(chat.history.count) turns). usage: /session NAME"); break }
            do { try ChatStore.validate(sessionName: argument) } catch let e as StoreError { print(e.message); break }
            try chat.switchTo(session: argument)
            print("Session \"\(chat.name)\": \(chat.history.count) earlier turn(s).")
        case "/sessions":
            for s in try chat.chats.sessions() { print("  \(s.name == chat.name ? "*" : " ") \(s.name)\t\(s.turns) turns\tlast used \(s.updatedAt)") }
        default:
            print("Unknown command \(parts[0]); /help lists them.")
        }
        return .continue
    }

    static func excerpt(_ text: String, width: Int = 100) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > width ? String(flat.prefix(width - 1)) + "…" : flat
    }
}
