import Foundation
import MnemoCore
import MnemoModels

/// A sentence encoder without a model file: each word is hashed into one of `dimension` buckets and the
/// counts are scaled to unit length, so texts that share words are close (enough for retrieval tests).
final class ScriptedEmbedder: TextEmbedder, @unchecked Sendable {
    let name = "scripted-bag-of-words"
    let dimension = 64
    private let lock = NSLock()
    private var embeddedTexts = 0
    /// Texts embedded so far (a reused vector is not embedded again).
    var embedded: Int { lock.withLock { embeddedTexts } }

    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    func tokenCount(_ text: String) -> Int { Self.words(text).count }

    func embed(_ texts: [String]) throws -> [[Float]] {
        lock.withLock { embeddedTexts += texts.count }
        return texts.map { text in
            var v = [Float](repeating: 0, count: dimension)
            for word in Self.words(text) {
                var h: UInt32 = 2_166_136_261  // FNV-1a: the same bucket on every run
                for byte in word.utf8 { h = (h ^ UInt32(byte)) &* 16_777_619 }
                v[Int(h % UInt32(dimension))] += 1
            }
            if v.allSatisfy({ $0 == 0 }) { v[0] = 1 }
            let norm = sqrt(v.reduce(0) { $0 + $1 * $1 })
            return v.map { $0 / norm }
        }
    }
}

/// A chat model without a model file: one token per character (ChatML's markers are tokens 1 and 2),
/// Qwen's chat format, and a reply chosen by `reply` from the whole prompt text the session holds (a soft
/// token shows as "⟨soft⟩"). Every generation's prompt is kept in `prompts`.
final class ScriptedChatModel: ChatModel, @unchecked Sendable {
    static let start: Int32 = 1, end: Int32 = 2, offset: Int32 = 16
    let reply: @Sendable (String) -> String
    let contextLength = 16_384
    let endTokens: Set<Int32> = [end]
    let defaultSystemPrompt: String? = "You are a helpful assistant."
    private let template = ChatTemplate(defaultSystemPrompt: "You are a helpful assistant.", qwenTools: true)
    private let lock = NSLock()
    private var seen: [String] = []

    init(reply: @escaping @Sendable (String) -> String) { self.reply = reply }

    var prompts: [String] { lock.withLock { seen } }
    func record(_ prompt: String) { lock.withLock { seen.append(prompt) } }

    func chatPrompt(_ messages: [ChatMessage], tools: [String]) throws -> String {
        template.render(messages, tools: tools, addGenerationPrompt: true)
    }

    func encode(_ text: String, addBOS: Bool?) -> [Int32] {
        var out: [Int32] = []
        var rest = Substring(text)
        while let c = rest.first {
            if rest.hasPrefix("<|im_start|>") { out.append(Self.start); rest = rest.dropFirst(12); continue }
            if rest.hasPrefix("<|im_end|>") { out.append(Self.end); rest = rest.dropFirst(10); continue }
            out += c.unicodeScalars.map { Int32($0.value) + Self.offset }
            rest = rest.dropFirst()
        }
        return out
    }

    func decode(_ tokens: [Int32]) -> String {
        tokens.map { t -> String in
            switch t {
            case Self.start: return "<|im_start|>"
            case Self.end: return "<|im_end|>"
            default: return Unicode.Scalar(UInt32(t - Self.offset)).map { String(Character($0)) } ?? "?"
            }
        }.joined()
    }

    func tokenCount(_ text: String) -> Int { encode(text, addBOS: false).count }

    func makeSession(capacity: Int) -> any ChatModelSession { ScriptedSession(self, capacity: capacity) }
}

final class ScriptedSession: ChatModelSession {
    let model: ScriptedChatModel
    let capacity: Int
    private var held: [DecoderInput] = []
    var count: Int { held.count }

    init(_ model: ScriptedChatModel, capacity: Int) {
        self.model = model
        self.capacity = capacity
    }

    func truncate(to position: Int) { held.removeLast(max(0, held.count - position)) }

    /// A scripted model has no layers: the probe reads the number of positions held, in every layer.
    func hiddenStates(_ inputs: [DecoderInput], layers: [Int]) throws -> [[Float]] {
        held += inputs
        return layers.map { _ in [Float(held.count)] }
    }

    func generate(_ inputs: [DecoderInput], parameters: GenerationParameters,
                  onToken: (Int32?, String) -> GenerationControl) throws -> GenerationResult {
        held += inputs
        guard held.count < capacity else { throw ModelError(.badInput, "the prompt has \(held.count) positions; the context holds \(capacity)") }
        let prompt = held.map { input -> String in
            switch input {
            case .token(let t): model.decode([t])
            case .vector: "⟨soft⟩"
            }
        }.joined()
        model.record(prompt)
        var result = GenerationResult(text: "", tokens: [], promptTokens: inputs.count, finishReason: .stop,
                                      logprobs: parameters.logprobs == nil ? nil : [])
        for token in model.encode(model.reply(prompt), addBOS: false) {
            guard result.tokens.count < parameters.maxTokens else {
                result.finishReason = .length
                break
            }
            let piece = model.decode([token])
            result.tokens.append(token)
            result.text += piece
            result.logprobs?.append(TokenLogprob(token: token, logprob: -0.1, top: [.init(token: token, logprob: -0.1)]))
            held.append(.token(token))
            if onToken(token, piece) == .stop {
                result.finishReason = .cancelled
                break
            }
        }
        return result
    }
}
