import Foundation

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, Codable, CaseIterable { case system, user, assistant, tool }

    /// A call the assistant made to a tool: its name and JSON-encoded arguments object.
    public struct ToolCall: Sendable, Equatable, Codable {
        public var name: String
        public var argumentsJSON: String
        public init(name: String, argumentsJSON: String) {
            self.name = name
            self.argumentsJSON = argumentsJSON
        }
    }

    public var role: Role
    public var content: String
    public var toolCalls: [ToolCall]

    public init(_ role: Role, _ content: String, toolCalls: [ToolCall] = []) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
    }
}

/// Chat formatting for the ChatML models (SmolLM2, Qwen2.5), following the Jinja template stored in
/// the GGUF file: `<|im_start|>ROLE\nCONTENT<|im_end|>\n` per message, the template's default
/// system prompt when the conversation has none, and Qwen's tool conventions (tool signatures in the
/// system message, `<tool_call>` JSON from the assistant, `<tool_response>` blocks in a user turn).
///
/// Mnemo does not run Jinja: it recognises the ChatML family and reproduces its output, checked
/// against the templates rendered by Jinja itself in the tests.
public struct ChatTemplate: Sendable, Equatable {
    /// The system prompt the template adds when the conversation has none (nil: none).
    public let defaultSystemPrompt: String?
    /// Qwen's template: tool signatures in the system message and `<tool_response>` turns.
    public let qwenTools: Bool

    public init(defaultSystemPrompt: String?, qwenTools: Bool) {
        self.defaultSystemPrompt = defaultSystemPrompt
        self.qwenTools = qwenTools
    }

    /// Reads the template of a GGUF file (`tokenizer.chat_template`).
    public init(gguf: GGUFFile) throws {
        guard let source = try gguf.string("tokenizer.chat_template") else {
            throw ModelError(.unsupported, "\(gguf.path): the file has no chat template (tokenizer.chat_template)")
        }
        try self.init(template: source, path: gguf.path)
    }

    public init(template: String, path: String = "template") throws {
        guard template.contains("<|im_start|>") else {
            throw ModelError(.unsupported, "\(path): only ChatML chat templates (<|im_start|> … <|im_end|>) are supported")
        }
        defaultSystemPrompt = Self.literalSystemPrompt(in: template)
        qwenTools = template.contains("<tool_response>")
    }

    /// The first literal `<|im_start|>system\n…<|im_end|>` or Qwen's `{{- 'You are …' }}` default.
    static func literalSystemPrompt(in template: String) -> String? {
        // The newline after "system" is an escape (`\n`) in some templates, a real newline in others.
        for marker in ["<|im_start|>system\\n", "<|im_start|>system\n"] {
            var search = template.startIndex..<template.endIndex
            while let r = template.range(of: marker, range: search) {
                let rest = template[r.upperBound...]
                if let end = rest.range(of: "<|im_end|>") {
                    let text = rest[..<end.lowerBound]
                    if !text.isEmpty, !text.contains("'"), !text.contains("{") { return unescape(String(text)) }
                }
                search = r.upperBound..<template.endIndex
            }
        }
        // Qwen keeps the default apart when tools are given: `{{- 'You are Qwen, …' }}`.
        if let r = template.range(of: "{{- 'You are ") {
            let rest = template[template.index(r.lowerBound, offsetBy: 5)...]
            if let end = rest.range(of: "' }}") { return unescape(String(rest[..<end.lowerBound])) }
        }
        return nil
    }

    private static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\'", with: "'")
    }

    /// The prompt text for `messages`; `tools` are JSON Schema function descriptions, each one
    /// JSON object rendered as given (Qwen shows them to the model verbatim, one per line).
    public func render(_ messages: [ChatMessage], tools: [String] = [], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        var rest = messages[...]
        let explicitSystem = messages.first?.role == .system ? messages.first?.content : nil
        if qwenTools && !tools.isEmpty {
            out += "<|im_start|>system\n" + (explicitSystem ?? defaultSystemPrompt ?? "")
            out += "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            out += "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
            for tool in tools { out += "\n" + tool }
            out += "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
            out += "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
            if explicitSystem != nil { rest = rest.dropFirst() }
        } else if let system = explicitSystem {
            out += "<|im_start|>system\n" + system + "<|im_end|>\n"
            rest = rest.dropFirst()
        } else if let system = defaultSystemPrompt, !messages.isEmpty || qwenTools {
            out += "<|im_start|>system\n" + system + "<|im_end|>\n"
        }
        let list = Array(rest)
        for (i, m) in list.enumerated() {
            switch m.role {
            case .tool where qwenTools:
                if i == 0 || list[i - 1].role != .tool { out += "<|im_start|>user" }
                out += "\n<tool_response>\n" + m.content + "\n</tool_response>"
                if i == list.count - 1 || list[i + 1].role != .tool { out += "<|im_end|>\n" }
            case .assistant where qwenTools && !m.toolCalls.isEmpty:
                out += "<|im_start|>assistant"
                if !m.content.isEmpty { out += "\n" + m.content }
                for call in m.toolCalls {
                    out += "\n<tool_call>\n{\"name\": \"" + call.name + "\", \"arguments\": " + call.argumentsJSON + "}\n</tool_call>"
                }
                out += "<|im_end|>\n"
            default:
                out += "<|im_start|>" + m.role.rawValue + "\n" + m.content + "<|im_end|>\n"
            }
        }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }
}
