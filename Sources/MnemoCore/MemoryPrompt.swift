import Foundation
import MnemoModels

/// One memory placed in a prompt: its text, its soft token (the projected sentence vector), or both.
public enum PromptMemory: Sendable {
    case text(String)
    case soft([Float])
    case softAndText([Float], String)
}

/// How retrieved memories reach the model.
public enum MemoryContext: String, Sendable, CaseIterable, Codable {
    /// No memories: the question alone.
    case none
    /// Each memory's text.
    case text
    /// Each memory as one soft token (its stored vector through the projector).
    case soft
    /// Each memory as its soft token followed by its text.
    case softText = "soft+text"
    /// The sentences of the memories closest to the question, under a token budget (`SentenceSelection`).
    case sentences
    /// Those sentences, each as one soft token (its stored sentence vector through the projector).
    case softSentences = "soft-sentences"
    /// Each memory's soft token followed by its chosen sentences.
    case softPlusSentences = "soft+sentences"

    public var needsProjector: Bool { [.soft, .softText, .softSentences, .softPlusSentences].contains(self) }
    /// Whether the memories are cut down to their sentences closest to the question.
    public var choosesSentences: Bool { [.sentences, .softSentences, .softPlusSentences].contains(self) }
}

/// The prompts that carry memories, shared by `mnemo ask` and projector training so that a
/// projector is used exactly as it was trained. A soft token sits where its memory's text would.
public struct MemoryPrompt: Sendable {
    public let llm: any ChatModel
    /// A private-use character marking a soft token's slot in the rendered chat text.
    static let slot: Character = "\u{E000}"

    public init(llm: any ChatModel) { self.llm = llm }

    /// Stage 1 of training: the model reads one soft token and repeats the text it stands for.
    public func reconstruction(_ soft: [Float]) throws -> [DecoderInput] {
        try render(user: "Background: \(Self.slot)\nRepeat the background text.", softs: [soft])
    }

    /// A question with memories as background (the `mnemo ask` prompt; stage 2 of training).
    public func question(_ question: String, memories: [PromptMemory]) throws -> [DecoderInput] {
        let (content, softs) = Self.questionMessage(question, memories: memories)
        return try render(user: content, softs: softs)
    }

    /// The user message of `question(_:memories:)`: soft tokens are slot characters in its text, to be
    /// replaced by their vectors (`inputs(_:softs:)`) once the conversation is rendered. Kept as trained:
    /// the projectors' QA stage read this message.
    public static func questionMessage(_ question: String, memories: [PromptMemory]) -> (content: String, softs: [[Float]]) {
        let (background, softs) = notes(memories, heading: "Background")
        return (background + "Answer the question in a few words.\nQuestion: " + clean(question), softs)
    }

    /// The phrase an answer from memory gives when the notes do not hold the answer (`answerable` false).
    public static let notInNotes = "Not in your notes."

    /// The system message of every answer from memory (`mnemo ask`, HTTP, MCP): the answer is the phrase
    /// the notes hold, not a sentence around it (measured: EM 0.10 → see docs/ANSWERS.md), or the fixed phrase.
    public static let answerInstructions = """
        You answer the user's question from their notes. Reply with only the answer: the shortest phrase \
        from the notes that answers the question, copied exactly as the notes write it, without a full \
        sentence. If the notes do not answer the question, reply exactly: \(notInNotes)
        """

    /// Asked after an answer to check it against the notes (`AskOptions.verify`).
    public static let verificationQuestion = "Do the notes above state that answer to my question? Reply yes or no."

    /// The system message when no notes are given (`--context none`).
    public static let closedBookInstructions = "Answer the question with only the answer, in a few words, without a full sentence."

    /// The conversation that answers `question` from `memories`: the instructions, then the notes and
    /// the question in one user message. Soft tokens are slots, as in `questionMessage`.
    /// Every edge builds its prompt here (`mnemo ask`, HTTP chat with memory, MCP `ask`), so one question
    /// on one store reads the same through each. `history`: earlier turns of a conversation (HTTP); its
    /// system messages go before the instructions.
    public static func answerMessages(_ question: String, memories: [PromptMemory], history: [ChatMessage] = [])
        -> (messages: [ChatMessage], softs: [[Float]]) {
        let (notes, softs) = notes(memories, heading: "Notes")
        let own = history.filter { $0.role == .system }.map(\.content).filter { !$0.isEmpty }
        let system = (own + [memories.isEmpty ? closedBookInstructions : answerInstructions]).joined(separator: "\n\n")
        let shots = memories.isEmpty ? [] : examples
        let turns = history.filter { $0.role != .system }
        return ([ChatMessage(.system, system)] + shots + turns + [ChatMessage(.user, notes + "Question: " + clean(question))], softs)
    }

    /// A worked example before the question (a fixed prefix: its KV is computed once per service): an
    /// answer copied as a phrase. Made-up notes, nothing from the evaluation data. (A second example that
    /// answered "Not in your notes." made Qwen 0.5B abstain on 3 of the 12 Examples questions.)
    static let examples: [ChatMessage] = [
        ChatMessage(.user, """
            Notes:
            [1] The lighthouse on Farne Island was designed by Daniel Alexander and first lit in 1811. Its keepers rowed out to wrecks in open boats.

            Question: Who designed the lighthouse on Farne Island?
            """),
        ChatMessage(.assistant, "Daniel Alexander"),
    ]

    /// Memories as a numbered block under `heading` (soft tokens alone sit side by side: numbering them
    /// would cost more positions than they take), followed by a blank line; empty without memories.
    /// Listed last to first, each under its own number, so the best ([1]) is nearest the question
    /// (measured with Qwen 0.5B on dev-slice questions 101–200, text context: EM 0.23 → 0.30).
    static func notes(_ memories: [PromptMemory], heading: String) -> (text: String, softs: [[Float]]) {
        var softs: [[Float]] = []
        var lines: [String] = []
        for (i, memory) in memories.enumerated().reversed() {
            switch memory {
            case .text(let t): lines.append("[\(i + 1)] " + clean(t))
            case .soft(let v): lines.append(String(slot)); softs.append(v)
            case .softAndText(let v, let t): lines.append("[\(i + 1)] \(slot) " + clean(t)); softs.append(v)
            }
        }
        let allSoft = memories.allSatisfy { if case .soft = $0 { true } else { false } }
        let text = memories.isEmpty ? ""
            : allSoft ? heading + ": " + lines.joined() + "\n\n"
            : heading + ":\n" + lines.joined(separator: "\n") + "\n\n"
        return (text, softs)
    }

    /// The answer as shown: the model's first line, without an "Answer:" label, quotes or a final full
    /// stop; and whether it is the not-in-your-notes phrase.
    public static func finishAnswer(_ raw: String) -> (text: String, answerable: Bool) {
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        var line = trimmed.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        line = line.trimmingCharacters(in: .whitespaces)
        for label in ["Answer:", "answer:", "A:"] where line.hasPrefix(label) {
            line = String(line.dropFirst(label.count)).trimmingCharacters(in: .whitespaces)
        }
        if line.count >= 2, let f = line.first, let l = line.last, (f == "\"" && l == "\"") || (f == "“" && l == "”") {
            line = String(line.dropFirst().dropLast())
        }
        if line.hasSuffix("."), !line.hasSuffix(".."), line.filter({ $0 == "." }).count == 1 || line.split(separator: " ").count > 1 {
            line = String(line.dropLast())
        }
        let abstained = line.lowercased().contains("not in your notes")
        if abstained { return (notInNotes, false) }
        return (line.isEmpty ? trimmed : line, true)
    }

    /// Decoder inputs for rendered chat text: its tokens, with each slot replaced by the next soft vector.
    public func inputs(_ rendered: String, softs: [[Float]]) throws -> [DecoderInput] {
        let pieces = rendered.split(separator: Self.slot, omittingEmptySubsequences: false)
        guard pieces.count == softs.count + 1 else { throw ModelError(.badInput, "memory prompt: \(softs.count) soft tokens for \(pieces.count - 1) slots") }
        var inputs: [DecoderInput] = []
        for (i, piece) in pieces.enumerated() {
            inputs += llm.encode(String(piece), addBOS: i == 0 ? nil : false).map { .token($0) }
            if i < softs.count { inputs.append(.vector(softs[i])) }
        }
        return inputs
    }

    /// Text can never forge a slot.
    static func clean(_ text: String) -> String { text.replacingOccurrences(of: String(slot), with: " ") }

    private func render(user: String, softs: [[Float]]) throws -> [DecoderInput] {
        try inputs(llm.chatPrompt([ChatMessage(.user, user)]), softs: softs)
    }
}
