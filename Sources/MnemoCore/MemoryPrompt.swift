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

    public var needsProjector: Bool { self == .soft || self == .softText }

    /// Memories as they go into the prompt.
    public func memories(texts: [String], vectors: [[Float]]) -> [PromptMemory] {
        switch self {
        case .none: []
        case .text: texts.map { .text($0) }
        case .soft: vectors.map { .soft($0) }
        case .softText: zip(vectors, texts).map { .softAndText($0, $1) }
        }
    }
}

/// The prompts that carry memories, shared by `mnemo ask` and projector training so that a
/// projector is used exactly as it was trained. A soft token sits where its memory's text would.
public struct MemoryPrompt: Sendable {
    public let llm: LanguageModel
    /// A private-use character marking a soft token's slot in the rendered chat text.
    static let slot: Character = "\u{E000}"

    public init(llm: LanguageModel) { self.llm = llm }

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
    /// replaced by their vectors (`inputs(_:softs:)`) once the conversation is rendered.
    public static func questionMessage(_ question: String, memories: [PromptMemory]) -> (content: String, softs: [[Float]]) {
        var softs: [[Float]] = []
        var lines: [String] = []
        for (i, memory) in memories.enumerated() {
            switch memory {
            case .text(let t): lines.append("[\(i + 1)] " + clean(t))
            case .soft(let v): lines.append(String(slot)); softs.append(v)
            case .softAndText(let v, let t): lines.append("[\(i + 1)] \(slot) " + clean(t)); softs.append(v)
            }
        }
        // Soft tokens alone sit side by side: numbering them would cost more positions than they take.
        let allSoft = memories.allSatisfy { if case .soft = $0 { true } else { false } }
        let background = memories.isEmpty ? ""
            : allSoft ? "Background: " + lines.joined() + "\n\n"
            : "Background:\n" + lines.joined(separator: "\n") + "\n\n"
        return (background + "Answer the question in a few words.\nQuestion: " + clean(question), softs)
    }

    /// Decoder inputs for rendered chat text: its tokens, with each slot replaced by the next soft vector.
    public func inputs(_ rendered: String, softs: [[Float]]) throws -> [DecoderInput] {
        let pieces = rendered.split(separator: Self.slot, omittingEmptySubsequences: false)
        guard pieces.count == softs.count + 1 else { throw ModelError(.badInput, "memory prompt: \(softs.count) soft tokens for \(pieces.count - 1) slots") }
        var inputs: [DecoderInput] = []
        for (i, piece) in pieces.enumerated() {
            inputs += llm.tokenizer.encode(String(piece), addBOS: i == 0 ? nil : false).map { .token($0) }
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
