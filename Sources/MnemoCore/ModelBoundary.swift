import MnemoModels

/// What MnemoCore's services need of a sentence encoder: vectors for texts, and the token count that
/// chunk sizes are given in. `SentenceEncoder` (MiniLM) is the real one; tests may script one.
public protocol TextEmbedder: AnyObject, Sendable {
    /// The name recorded in a store's manifest.
    var name: String { get }
    var dimension: Int { get }
    /// Word pieces in `text`, without `[CLS]`/`[SEP]`.
    func tokenCount(_ text: String) -> Int
    /// One unit-length vector per text.
    func embed(_ texts: [String]) throws -> [[Float]]
}

extension SentenceEncoder: TextEmbedder {
    public func tokenCount(_ text: String) -> Int { tokenizer.count(text) }
    public func embed(_ texts: [String]) throws -> [[Float]] { try embed(texts, batchSize: 32, progress: nil) }
}

/// What the answer, chat and tool services need of a generating model: its chat format, its tokens
/// and sessions that keep a KV cache. `LanguageModel` (a GGUF decoder) is the real one; a scripted
/// model lets the services be tested in process without a model file.
public protocol ChatModel: AnyObject, Sendable {
    /// Positions the model was trained for (the largest useful cache).
    var contextLength: Int { get }
    /// Tokens that end a turn.
    var endTokens: Set<Int32> { get }
    /// The system message the chat format uses when the conversation has none.
    var defaultSystemPrompt: String? { get }
    /// The rendered chat prompt for `messages`, with tool signatures when given, ending with the assistant's header.
    func chatPrompt(_ messages: [ChatMessage], tools: [String]) throws -> String
    /// Token ids of prompt text, special tokens parsed; `addBOS` nil: as the model says.
    func encode(_ text: String, addBOS: Bool?) -> [Int32]
    /// Text of token ids.
    func decode(_ tokens: [Int32]) -> String
    /// Positions `text` takes inside a prompt (no BOS): the unit of every token budget.
    func tokenCount(_ text: String) -> Int
    /// An empty session holding up to `capacity` positions.
    func makeSession(capacity: Int) -> any ChatModelSession
}

extension ChatModel {
    public func chatPrompt(_ messages: [ChatMessage]) throws -> String { try chatPrompt(messages, tools: []) }
    public func encode(_ text: String) -> [Int32] { encode(text, addBOS: nil) }
}

/// A model's KV cache for one conversation: generation continues from what it holds.
public protocol ChatModelSession: AnyObject {
    var capacity: Int { get }
    /// Positions held.
    var count: Int { get }
    /// Keeps the first `position` positions.
    func truncate(to position: Int)
    /// Generates after what the session holds plus `inputs`; afterwards it holds them and the generated tokens.
    func generate(_ inputs: [DecoderInput], parameters: GenerationParameters,
                  onToken: (Int32?, String) -> GenerationControl) throws -> GenerationResult
    /// Runs `inputs` after what the session holds (it then holds them too) and returns the output of each
    /// of `layers` at the last position: what an answerability probe reads.
    func hiddenStates(_ inputs: [DecoderInput], layers: [Int]) throws -> [[Float]]
}

extension LanguageModel: ChatModel {
    public var contextLength: Int { model.config.contextLength }
    public var defaultSystemPrompt: String? { chatTemplate?.defaultSystemPrompt }
    public func encode(_ text: String, addBOS: Bool?) -> [Int32] { tokenizer.encode(text, addBOS: addBOS, parseSpecial: true) }
    public func decode(_ tokens: [Int32]) -> String { tokenizer.decode(tokens) }
    public func makeSession(capacity: Int) -> any ChatModelSession { DecoderSession(self, state: model.makeState(capacity: capacity)) }
}

/// A GGUF decoder's session: its `DecoderState`.
final class DecoderSession: ChatModelSession {
    let llm: LanguageModel
    let state: DecoderState
    init(_ llm: LanguageModel, state: DecoderState) { self.llm = llm; self.state = state }
    var capacity: Int { state.capacity }
    var count: Int { state.count }
    func truncate(to position: Int) { state.truncate(to: position) }
    func generate(_ inputs: [DecoderInput], parameters: GenerationParameters,
                  onToken: (Int32?, String) -> GenerationControl) throws -> GenerationResult {
        try llm.generate(inputs, parameters: parameters, state: state, onToken: onToken)
    }
    func hiddenStates(_ inputs: [DecoderInput], layers: [Int]) throws -> [[Float]] {
        if let bad = layers.first(where: { !(0..<llm.model.config.layers).contains($0) }) {
            throw ModelError(.badInput, "layer \(bad) is outside this model's 0..<\(llm.model.config.layers)")
        }
        state.captureLayers = layers
        defer { state.captureLayers = [] }
        _ = try llm.model.forward(inputs, state: state)
        return state.captured
    }
}
