import Foundation
import MnemoStore
import MnemoCore
import MnemoModels

// Request and response bodies of the OpenAI-compatible endpoints, with Mnemo's extra fields.
// Field names follow OpenAI's (snake_case); unknown fields are ignored, as OpenAI's own API does
// for most of them.

/// Mnemo's memory options on a chat request: `"mnemo": {"k": 3, "mode": "hybrid", "namespace": "notes"}`.
/// With them, the server searches the memory for the last user message (or `query`) and puts the
/// results into the system message as numbered sources.
struct MnemoChatOptions: Decodable, Sendable {
    var k: Int?
    var mode: String?
    var namespace: String?
    var `where`: [String: String]?
    /// What to search for instead of the last user message.
    var query: String?
}

/// A `messages[].content`: a string, null, or an array of parts of which the text ones are used.
struct MessageContent: Decodable, Sendable {
    var text: String

    struct Part: Decodable {
        var type: String
        var text: String?
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            text = ""
        } else if let s = try? c.decode(String.self) {
            text = s
        } else {
            let parts = try c.decode([Part].self)
            if let other = parts.first(where: { $0.type != "text" }) {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                    debugDescription: "content parts of type '\(other.type)' are not supported (text only)"))
            }
            text = parts.compactMap(\.text).joined(separator: "\n")
        }
    }
}

/// `stop`: a string or an array of strings.
struct StopSequences: Decodable, Sendable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { values = [] } else if let s = try? c.decode(String.self) { values = [s] } else { values = try c.decode([String].self) }
    }
}

struct ChatCompletionRequest: Decodable, Sendable {
    struct Message: Decodable, Sendable {
        var role: String
        var content: MessageContent?
    }

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    var model: String
    var messages: [Message]
    var stream: Bool?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Float?
    var topP: Float?
    /// Not OpenAI's: keep the K most likely tokens (llama.cpp and vLLM accept it too).
    var topK: Int?
    /// Not OpenAI's (llama.cpp and vLLM take `min_p` too): Mnemo's sampler chain, as `mnemo generate`'s flags.
    var minP: Float?
    var topT: Float?
    var repetitionPenalty: Float?
    var frequencyPenalty: Float?
    var presencePenalty: Float?
    var seed: UInt64?
    var n: Int?
    var stop: StopSequences?
    var streamOptions: StreamOptions?
    var mnemo: MnemoChatOptions?

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, temperature, seed, n, stop, mnemo
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topK = "top_k"
        case minP = "min_p", topT = "top_t", repetitionPenalty = "repetition_penalty"
        case frequencyPenalty = "frequency_penalty", presencePenalty = "presence_penalty"
        case streamOptions = "stream_options"
    }
}

struct Usage: Encodable, Sendable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
    }
    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }
}

/// The memory results a chat answer was given, returned beside the answer.
struct MnemoChatInfo: Encodable, Sendable {
    var sources: [MemoryHit]
}

struct ChatCompletion: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        struct Message: Encodable, Sendable {
            var role = "assistant"
            var content: String
        }
        var index = 0
        var message: Message
        var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }
    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage
    var mnemo: MnemoChatInfo?
}

struct ChatCompletionChunk: Encodable, Sendable {
    struct Delta: Encodable, Sendable {
        var role: String?
        var content: String?
    }
    struct Choice: Encodable, Sendable {
        var index = 0
        var delta: Delta
        var finishReason: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(finishReason, forKey: .finishReason)  // null while streaming, as OpenAI sends it
        }
        enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }
    }
    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
    var mnemo: MnemoChatInfo?
}

/// `input`: a string or an array of strings (token-id arrays are refused).
struct EmbeddingInput: Decodable, Sendable {
    var texts: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            texts = [s]
        } else if let a = try? c.decode([String].self) {
            texts = a
        } else if (try? c.decode([Int].self)) != nil || (try? c.decode([[Int]].self)) != nil {
            throw APIError.invalid("input", "Token-id inputs are not supported: send text.")
        } else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath,
                debugDescription: "expected a string or an array of strings"))
        }
    }
}

struct EmbeddingRequest: Decodable, Sendable {
    var input: EmbeddingInput
    var model: String
    var encodingFormat: String?
    var dimensions: Int?
    enum CodingKeys: String, CodingKey { case input, model, dimensions, encodingFormat = "encoding_format" }
}

/// One embedding: floats, or base64 of little-endian float32 (what OpenAI's clients ask for by default).
enum EmbeddingVector: Encodable, Sendable {
    case float([Float])
    case base64(String)
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .float(let v): try c.encode(v)
        case .base64(let s): try c.encode(s)
        }
    }
}

struct EmbeddingResponse: Encodable, Sendable {
    struct Item: Encodable, Sendable {
        var object = "embedding"
        var index: Int
        var embedding: EmbeddingVector
    }
    struct EmbeddingUsage: Encodable, Sendable {
        var promptTokens: Int
        var totalTokens: Int
        enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", totalTokens = "total_tokens" }
    }
    var object = "list"
    var data: [Item]
    var model: String
    var usage: EmbeddingUsage
}

struct ModelList: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var id: String
        var object = "model"
        var created = 0
        var ownedBy = "mnemo"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
    var object = "list"
    var data: [Model]
}

// MARK: - Memory endpoints

struct AddDocumentRequest: Decodable, Sendable {
    var text: String
    var source: String?
    var namespace: String?
    var metadata: [String: String]?
}

struct SearchRequest: Decodable, Sendable {
    var query: String
    var k: Int?
    var mode: String?
    var namespace: String?
    var `where`: [String: String]?
    /// A shared store's change this node must have applied first (a write's `seq`).
    var minSeq: Int64?

    enum CodingKeys: String, CodingKey {
        case query, k, mode, namespace, `where`
        case minSeq = "min_seq"
    }
}

/// `POST /v1/memory/ask`: `mnemo ask` over HTTP.
struct AskRequest: Decodable, Sendable {
    var question: String
    var k: Int?
    var mode: String?
    var namespace: String?
    var maxTokens: Int?
    /// Server-sent events: `{"token": …}` as the answer is generated, then `{"result": AskResult}`.
    var stream: Bool?
    var minSeq: Int64?

    enum CodingKeys: String, CodingKey {
        case question, k, mode, namespace, stream
        case maxTokens = "max_tokens", minSeq = "min_seq"
    }
}

/// `GET /v1/memory/documents`: one page of the stored documents.
struct DocumentList: Encodable {
    let total: Int
    let offset: Int
    let data: [StoredDocument]
}

/// `GET /v1/memory/documents/chunks`: a document's chunks in order.
struct DocumentChunks: Encodable {
    let source: String
    let namespace: String
    let data: [StoredChunk]
}

struct SearchResponse: Encodable, Sendable {
    var object = "list"
    var query: String
    var mode: String
    var data: [MemoryHit]
}

/// Parses a memory search mode, or throws 422 naming `param`.
func parseMode(_ text: String?, param: String) throws -> QueryMode {
    guard let text else { return .hybrid }
    guard let mode = QueryMode(rawValue: text.lowercased()) else {
        throw APIError.invalid(param, "'\(param)' must be one of dense, bm25, hybrid (got '\(text)').")
    }
    return mode
}

// MARK: - Decoding without a server

/// The request decoders of the HTTP API and of MCP, callable without a socket: the fuzz targets
/// (`mnemo-fuzz http-body`, `mnemo-fuzz jsonrpc`) drive the same code the server runs.
public enum RequestDecoding {
    /// The JSON bodies the HTTP API accepts.
    public enum Body: String, CaseIterable, Sendable {
        case chatCompletion = "chat", embedding, addDocument = "add", search
    }

    /// Decodes `data` as a `body` request (and parses its search mode, where it has one); throws the
    /// `APIError` a client gets.
    public static func check(_ data: Data, as body: Body) throws {
        switch body {
        case .chatCompletion:
            let request = try Routes.decodeBody(ChatCompletionRequest.self, data)
            _ = try parseMode(request.mnemo?.mode, param: "mnemo.mode")
        case .embedding: _ = try Routes.decodeBody(EmbeddingRequest.self, data)
        case .addDocument: _ = try Routes.decodeBody(AddDocumentRequest.self, data)
        case .search:
            let request = try Routes.decodeBody(SearchRequest.self, data)
            _ = try parseMode(request.mode, param: "mode")
        }
    }

    /// The JSON-RPC error response MCP sends for `line`, or nil when the line goes on to the SDK.
    public static func jsonRPCRejection(_ line: Data) -> Data? { AnsweringTransport.rejection(of: line) }
}
