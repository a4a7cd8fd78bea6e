import Foundation
import MnemoModels
import MnemoTools

/// One tool call the model made (or the fast path made for it), as recorded for `--json` and the evaluation.
public struct ToolCallRecord: Sendable, Codable, Equatable {
    /// The generation round it came from (1-based; 0 for the fast path).
    public var round: Int
    /// The tool's name, when the call named one.
    public var name: String?
    /// The arguments as the model wrote them (JSON text), or the raw call text when it was not JSON.
    public var arguments: String
    /// Whether the call parsed, named a known tool and matched its schema.
    public var valid: Bool
    /// How the call was written.
    public var syntax: CallSyntax
    /// The tool's result text (valid calls that ran).
    public var result: String?
    /// Why the call was invalid, or the tool's own error.
    public var error: String?
    public var seconds: Double

    public enum CallSyntax: String, Sendable, Codable {
        /// In `<tool_call>` tags, as the chat template asks.
        case tagged
        /// The whole answer was the call object, bare or in a ``` fence, without the tags.
        case bare
        /// Guided: the model began a call and chose the tool (or the router did, when only one is
        /// offered); the router wrote the JSON around the argument the model wrote.
        case guided
        /// Not the model's: a bare expression sent straight to the calculator.
        case fastPath = "fast_path"
    }

    public init(round: Int, name: String?, arguments: String, valid: Bool, syntax: CallSyntax,
                result: String? = nil, error: String? = nil, seconds: Double = 0) {
        self.round = round
        self.name = name
        self.arguments = arguments
        self.valid = valid
        self.syntax = syntax
        self.result = result
        self.error = error
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case round, name, arguments, valid, syntax, result, error, seconds
    }
}

/// Settings for `ToolRouter.respond`.
public struct ToolRouterOptions: Sendable {
    /// Rounds in which the model may call tools; after them it answers without tools.
    public var maxRounds = 4
    /// Per round. Greedy by default.
    public var generation = GenerationParameters(maxTokens: 256, sampling: .greedy)
    /// Answer a bare arithmetic expression with the calculator, without the LLM (when the calculator is offered).
    public var fastPath = true
    /// Guided calls: once the model begins a call (`<tool_call>`, or an answer starting with `{`), the
    /// router writes the call's JSON and the model only writes the tool's name (when several are offered)
    /// and its argument. Off: the model writes the whole call, and calls that do not parse or name no
    /// offered tool are reported back to it as errors.
    public var guidedCalls = true
    /// Polled between tokens: true stops the answer where it is (finish reason `cancelled`, no more rounds).
    public var isCancelled: (@Sendable () -> Bool)?
    public init() {}
}

/// What `respond` did.
public struct ToolRouterResult: Sendable {
    public var answer: String
    public var calls: [ToolCallRecord]
    /// LLM generations (0 on the fast path).
    public var rounds: Int
    public var fastPath: Bool
    /// The conversation after the answer: the input, each round's assistant turn and tool results, the
    /// answer; ready to be extended with the next user message and passed to `respond` again (chat).
    public var messages: [ChatMessage]
    /// Positions of the last round's prompt.
    public var promptTokens: Int
    /// Prompt positions actually computed (the rest came from the cache of the previous round or question).
    public var prefilledTokens: Int
    public var generatedTokens: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var finishReason: GenerationResult.FinishReason
    /// The last round's tokens with their log-probabilities (with `generation.logprobs`).
    public var logprobs: [TokenLogprob]?
    /// Where the answer came from.
    public var answerSource: AnswerSource = .model

    public enum AnswerSource: String, Sendable, Codable {
        /// The model's own text.
        case model
        /// The last tool result, returned directly: after it the model said nothing, repeated a call, or
        /// fed the result back in (small models often do).
        case toolResult = "tool_result"
        /// The calculator, for a bare expression, without the model.
        case fastPath = "fast_path"
    }

    public var invalidCalls: Int { calls.filter { !$0.valid }.count }
}

/// Runs a conversation with tools in the model's own format (Qwen's ChatML: tool signatures as JSON in
/// `<tools>`, calls as `<tool_call>{"name": …, "arguments": …}</tool_call>`, results in `<tool_response>`).
///
/// Each round renders the conversation, generates (stopping once the model's calls are complete), parses
/// every `<tool_call>`, checks it against the tool's JSON Schema, runs it, and appends the call and its
/// result (or `{"error": "…"}`) before generating again. After `maxRounds` rounds with calls the model
/// answers without tools. Invalid calls (not JSON, unknown tool, arguments against the schema) are
/// recorded and reported back to the model as errors. Calls written without the tags, as an answer that
/// is only `{"name": …, "arguments": …}` (Qwen2.5-Coder 0.5B and 1.5B do this), are accepted and recorded
/// as `bare`.
///
/// Small models often do not write an answer after a result: they end the turn at once, or call the
/// tool again with the result itself. When the model says nothing after a result, or every call of a
/// round gives a result already seen, the last result is returned as the answer (`answerSource`
/// `.toolResult`) instead of looping to the round limit.
///
/// The KV cache is kept between rounds and between calls: each generation computes only the prompt
/// positions that differ from what the cache holds. One owner at a time.
public final class ToolRouter {
    public let model: any ChatModel
    public let tools: [ToolSpec]
    private var cache: PromptCache?

    public static let openTag = "<tool_call>"
    public static let closeTag = "</tool_call>"

    public init(model: any ChatModel, tools: [ToolSpec]) {
        self.model = model
        self.tools = tools
    }

    /// The JSON lines given to the template's `<tools>` block.
    public var toolSignatures: [String] { tools.map(\.signatureJSON) }

    // MARK: - The loop

    /// Answers the last user message of `messages`. `onText` receives the answer as it is generated (text
    /// inside tool calls is held back). `render` turns the prompt text into decoder inputs (default: its
    /// token ids); a caller may splice vectors in there.
    public func respond(
        to messages: [ChatMessage], options: ToolRouterOptions = .init(),
        render: ((String) throws -> [DecoderInput])? = nil,
        onText: (String) -> Void = { _ in }
    ) throws -> ToolRouterResult {
        var result = ToolRouterResult(answer: "", calls: [], rounds: 0, fastPath: false, messages: messages, promptTokens: 0,
                                      prefilledTokens: 0, generatedTokens: 0, prefillSeconds: 0, decodeSeconds: 0, finishReason: .stop)
        if options.fastPath, let calculator = tools.first(where: { $0.name == "calculator" }),
           let last = messages.last, last.role == .user, let expression = Self.bareExpression(last.content) {
            let t0 = Date()
            let arguments = JSONValue.object(["expression": .string(expression)])
            var record = ToolCallRecord(round: 0, name: calculator.name, arguments: arguments.description, valid: true, syntax: .fastPath)
            do {
                let value = try calculator.run(arguments)
                record.result = value
                result.answer = value
            } catch {
                record.error = "\(error)"
                result.answer = "Error: \(error)"
            }
            record.seconds = Date().timeIntervalSince(t0)
            result.calls = [record]
            result.fastPath = true
            result.answerSource = .fastPath
            result.messages.append(ChatMessage(.assistant, result.answer))
            onText(result.answer)
            return result
        }

        var conversation = withInstructions(messages)
        let start = conversation.count
        let toRender = render ?? { [model] in model.encode($0).map { DecoderInput.token($0) } }
        let rounds = tools.isEmpty ? 0 : max(0, options.maxRounds)
        var results: [String] = []
        var errors: [String] = []
        var lastResult: String?
        var toolsDone = false
        for round in 0...rounds {
            let offerTools = round < rounds && !toolsDone
            let text = try model.chatPrompt(conversation, tools: offerTools ? toolSignatures : [])
            let inputs = try toRender(text)
            var filter = ToolCallFilter()
            var raw = ""
            var stoppedAfterCalls = false
            var callStart: String?  // guided: the text before the call the model began
            let guided = offerTools && options.guidedCalls
            var cancelled = false
            let generation = try generate(inputs, parameters: options.generation) { piece in
                if options.isCancelled?() == true {
                    cancelled = true
                    return .stop
                }
                raw += piece
                if guided, let before = Self.callStart(raw) {
                    callStart = before
                    return .stop
                }
                if offerTools, Self.shouldStop(after: raw) {
                    stoppedAfterCalls = true
                    return .stop
                }
                onText(filter.feed(piece))
                return .continue
            }
            result.rounds += 1
            result.promptTokens = generation.result.promptTokens + generation.reused
            result.prefilledTokens += generation.result.promptTokens
            result.generatedTokens += generation.result.tokens.count
            result.prefillSeconds += generation.result.prefillSeconds
            result.decodeSeconds += generation.result.decodeSeconds
            result.logprobs = generation.result.logprobs
            // The router stopping generation at a call is not the caller's cancel.
            result.finishReason = cancelled ? .cancelled : stoppedAfterCalls || callStart != nil ? .stop : generation.result.finishReason
            if stoppedAfterCalls, let end = raw.range(of: Self.closeTag, options: .backwards) {
                raw = String(raw[..<end.upperBound])
            }  // (a bare call keeps its text: parsing takes the object and drops what follows)
            var parsed = Self.parseToolCalls(raw)
            if let before = callStart {
                let content = before.trimmingCharacters(in: .whitespacesAndNewlines)
                let call = try guidedCall(after: text + before, render: toRender, options: options, into: &result)
                parsed = (content, [call])
            }
            onText(filter.finish(dropHeld: !parsed.calls.isEmpty))
            if cancelled {
                result.answer = parsed.content
                conversation.append(ChatMessage(.assistant, result.answer))
                break
            }
            if parsed.calls.isEmpty || !offerTools {
                result.answer = parsed.content
                if parsed.content.isEmpty || !parsed.calls.isEmpty {
                    // Nothing said after the tools answered, or calls again when no tools are offered: the
                    // last result is the answer (the model handed it back).
                    if let last = lastResult {
                        result.answer = last
                        result.answerSource = .toolResult
                        onText(last)
                    } else if !parsed.calls.isEmpty {
                        result.answer = "(no answer: the model kept calling tools and no call gave a result)"
                    }
                }
                conversation.append(ChatMessage(.assistant, result.answer))
                break
            }
            var assistant = ChatMessage(.assistant, parsed.content)
            var responses: [ChatMessage] = []
            var progress = false
            var refusedCall = false
            for call in parsed.calls {
                let t0 = Date()
                var record = ToolCallRecord(round: round + 1, name: nil, arguments: call.text, valid: false,
                                            syntax: callStart != nil ? .guided : call.tagged ? .tagged : .bare)
                switch check(call.text) {
                case .failure(let problem):
                    record.name = problem.name
                    record.arguments = problem.arguments?.description ?? call.text
                    record.error = problem.message
                    if let name = problem.name, let arguments = problem.arguments {
                        assistant.toolCalls.append(.init(name: name, argumentsJSON: arguments.description))
                    } else {
                        // Not a call the template can render: keep the model's own text.
                        assistant.content += (assistant.content.isEmpty ? "" : "\n") + Self.openTag + "\n" + call.text + "\n" + Self.closeTag
                    }
                    responses.append(ChatMessage(.tool, JSONValue.object(["error": .string(problem.message)]).description))
                    if !errors.contains(problem.message) { progress = true }  // a new error: the model may correct itself
                    errors.append(problem.message)
                case .success(let (tool, arguments)) where Self.refused(tool, arguments) != nil:
                    // Prose passed to the calculator: no round is spent on its error; the model answers
                    // next without tools.
                    record.name = tool.name
                    record.arguments = arguments.description
                    record.error = Self.refused(tool, arguments)
                    refusedCall = true
                case .success(let (tool, arguments)):
                    record.name = tool.name
                    record.arguments = arguments.description
                    record.valid = true
                    assistant.toolCalls.append(.init(name: tool.name, argumentsJSON: arguments.description))
                    do {
                        let output = try tool.run(arguments)
                        record.result = output
                        responses.append(ChatMessage(.tool, output))
                        if !results.contains(output) { progress = true }
                        results.append(output)
                        lastResult = output
                    } catch {
                        record.error = "\(error)"
                        responses.append(ChatMessage(.tool, JSONValue.object(["error": .string("\(error)")]).description))
                        if !errors.contains("\(error)") { progress = true }
                        errors.append("\(error)")
                    }
                }
                record.seconds = Date().timeIntervalSince(t0)
                result.calls.append(record)
            }
            if refusedCall && responses.isEmpty {
                toolsDone = true  // the refused call is left out of the conversation
                continue
            }
            conversation.append(assistant)
            conversation += responses
            if !progress {
                // Every call gave a result or error already seen (a repeated call, or the result fed back
                // in): the model is going round in circles. A result is its answer; with none, it answers
                // once more without tools.
                if let last = lastResult {
                    result.answer = last
                    result.answerSource = .toolResult
                    onText(last)
                    conversation.append(ChatMessage(.assistant, last))
                    break
                }
                toolsDone = true
            }
        }
        // The caller's messages (without the tools' instructions, added again on the next call) and the new turns.
        result.messages = messages + conversation[start...]
        return result
    }

    /// `messages` with the tools' instructions added to the system message (made from the template's
    /// default when there is none).
    func withInstructions(_ messages: [ChatMessage]) -> [ChatMessage] {
        let notes = tools.compactMap(\.instructions)
        guard !notes.isEmpty else { return messages }
        var out = messages
        let addition = notes.joined(separator: "\n\n")
        if out.first?.role == .system {
            out[0].content += "\n\n" + addition
        } else {
            let base = model.defaultSystemPrompt ?? "You are a helpful assistant."
            out.insert(ChatMessage(.system, base + "\n\n" + addition), at: 0)
        }
        return out
    }

    /// Forgets the cached prompt (the next generation computes its whole prompt).
    public func resetCache() { cache = nil }

    // MARK: - Generation with a reused prefix

    final class PromptCache {
        let state: any ChatModelSession
        /// The inputs whose keys and values `state` holds, in order.
        var inputs: [DecoderInput] = []
        init(state: any ChatModelSession) { self.state = state }
    }

    /// The cache, cut back to the longest prefix of `inputs` it holds (at least one position of `inputs`
    /// is left to run, to give logits), and that prefix's length.
    private func reusedPrefix(of inputs: [DecoderInput], capacity: Int?) throws -> (cache: PromptCache, common: Int) {
        let capacity = min(capacity ?? 4096, model.contextLength)
        if cache?.state.capacity != capacity { cache = PromptCache(state: model.makeSession(capacity: capacity)) }
        guard let cache else { throw ModelError(.badInput, "no decoder state") }
        var common = 0
        let limit = min(cache.inputs.count, inputs.count)
        while common < limit && cache.inputs[common] == inputs[common] { common += 1 }
        if common == inputs.count { common -= 1 }
        cache.state.truncate(to: common)
        cache.inputs.removeLast(cache.inputs.count - common)
        return (cache, common)
    }

    /// The output of `layers` at the end of the prompt for `messages` (no tools offered), computing only
    /// the part after the longest prefix the cache holds (an answer's check reuses the answer's prompt).
    func hiddenStates(after messages: [ChatMessage], render: (String) throws -> [DecoderInput], layers: [Int],
                      capacity: Int?) throws -> [[Float]] {
        let inputs = try render(model.chatPrompt(withInstructions(messages), tools: []))
        guard !inputs.isEmpty else { throw ModelError(.badInput, "no inputs") }
        let (cache, common) = try reusedPrefix(of: inputs, capacity: capacity)
        do {
            let states = try cache.state.hiddenStates(Array(inputs[common...]), layers: layers)
            cache.inputs = inputs
            return states
        } catch {
            cache.state.truncate(to: 0)
            cache.inputs = []
            throw error
        }
    }

    /// Generates after `inputs`, computing only the part after the longest prefix the cache holds.
    func generate(_ inputs: [DecoderInput], parameters: GenerationParameters,
                  onText: (String) -> GenerationControl) throws -> (result: GenerationResult, reused: Int) {
        let (cache, common) = try reusedPrefix(of: inputs, capacity: parameters.contextCapacity)
        do {
            let result = try cache.state.generate(Array(inputs[common...]), parameters: parameters) { _, piece in
                onText(piece)
            }
            cache.inputs = Array((inputs + result.tokens.map { DecoderInput.token($0) }).prefix(cache.state.count))
            return (result, common)
        } catch {
            cache.state.truncate(to: 0)
            cache.inputs = []
            throw error
        }
    }

    // MARK: - Guided calls

    /// The text before the call `raw` has begun, once it has begun one: at `<tool_call>`, or an answer whose
    /// first visible character is `{` (after an optional ``` fence), as small models write calls. nil otherwise.
    static func callStart(_ raw: String) -> String? {
        if let open = raw.range(of: openTag) { return String(raw[..<open.lowerBound]) }
        return unfenced(raw).hasPrefix("{") ? "" : nil
    }

    /// Writes a call after `prompt` (the rendered conversation and the model's text before the call): the
    /// router writes `<tool_call>\n{"name": "`, the tool's name when only one is offered (else the model
    /// writes it, up to its closing quote), then `", "arguments": {"KEY": "` for a tool whose schema has one
    /// required string argument, and the model writes that string up to its closing quote (JSON escapes as
    /// it writes them). For other schemas the model writes the arguments object itself. Returns the call's
    /// JSON text, to be checked like any other; the generations are added to `result`'s counts.
    func guidedCall(after prompt: String, render: (String) throws -> [DecoderInput], options: ToolRouterOptions,
                    into result: inout ToolRouterResult) throws -> RawCall {
        var written = Self.openTag + "\n{\"name\": \""
        let name: String
        if tools.count == 1 {
            name = tools[0].name
        } else {
            name = try continuation(of: prompt + written, render: render, maxTokens: 16, options: options, into: &result) {
                Self.endOfString($0)
            }
        }
        written += name + "\", \"arguments\": "
        let nameJSON = JSONValue.string(name).description
        guard let tool = tools.first(where: { $0.name == name }), let key = Self.singleStringArgument(tool.parameters) else {
            // Free-form arguments: the model writes the object, up to the end of its outermost brace.
            let arguments = try continuation(of: prompt + written, render: render, maxTokens: options.generation.maxTokens,
                                             options: options, into: &result) { text in
                guard let prefix = JSONValue.parsePrefix(text), case .object = prefix.value else { return nil }
                return text.unicodeScalars.index(text.unicodeScalars.endIndex, offsetBy: -prefix.rest.unicodeScalars.count)
            }
            return RawCall(text: "{\"name\": \(nameJSON), \"arguments\": \(arguments)}", tagged: true)
        }
        let keyJSON = JSONValue.string(key).description
        written += "{" + keyJSON + ": \""
        let value = try continuation(of: prompt + written, render: render, maxTokens: options.generation.maxTokens,
                                     options: options, into: &result) { Self.endOfString($0) }
        return RawCall(text: "{\"name\": \(nameJSON), \"arguments\": {\(keyJSON): \"\(value)\"}}", tagged: true)
    }

    /// The model's text after `prompt`, up to the index `end` finds (exclusive), or all it wrote.
    private func continuation(of prompt: String, render: (String) throws -> [DecoderInput], maxTokens: Int,
                              options: ToolRouterOptions, into result: inout ToolRouterResult,
                              end: @escaping (String) -> String.Index?) throws -> String {
        var parameters = options.generation
        parameters.maxTokens = maxTokens
        var text = ""
        var cut: String.Index?
        let generation = try generate(try render(prompt), parameters: parameters) { piece in
            text += piece
            cut = end(text)
            return cut == nil ? .continue : .stop
        }
        result.prefilledTokens += generation.result.promptTokens
        result.generatedTokens += generation.result.tokens.count
        result.prefillSeconds += generation.result.prefillSeconds
        result.decodeSeconds += generation.result.decodeSeconds
        return String(text[..<(cut ?? text.endIndex)])
    }

    /// Where the JSON string body `text` ends: its first unescaped `"`, or a raw line break (which a JSON
    /// string cannot hold). nil while it goes on.
    static func endOfString(_ text: String) -> String.Index? {
        var escaped = false
        for i in text.indices {
            let c = text[i]
            if escaped { escaped = false; continue }
            if c == "\\" { escaped = true } else if c == "\"" || c == "\n" { return i }
        }
        return nil
    }

    /// The property name when `schema` takes an object with exactly one property, a required string.
    static func singleStringArgument(_ schema: JSONValue) -> String? {
        guard let properties = schema["properties"]?.objectValue, properties.count == 1, let only = properties.first,
              only.value["type"]?.stringValue == "string",
              schema["required"]?.arrayValue?.compactMap(\.stringValue) == [only.key] else { return nil }
        return only.key
    }

    // MARK: - Parsing and checking calls

    /// A call as the model wrote it: the JSON text, and whether it was inside `<tool_call>` tags.
    public struct RawCall: Sendable, Equatable {
        public var text: String
        /// False for an answer that is nothing but a call object (bare or in a ``` fence), which small
        /// Qwen models often write instead of the tags.
        public var tagged: Bool
    }

    /// The text outside `<tool_call>` blocks (trimmed) and the text inside each block, in order. A block
    /// left open at the end (the generation was cut short) counts as a call. Without tags, an answer
    /// that is only a JSON object with "name" and "arguments" (bare, or fenced as ```json) is one call.
    public static func parseToolCalls(_ text: String) -> (content: String, calls: [RawCall]) {
        var content = ""
        var calls: [RawCall] = []
        var rest = text[...]
        while let open = rest.range(of: openTag) {
            content += rest[..<open.lowerBound]
            let body = rest[open.upperBound...]
            if let close = body.range(of: closeTag) {
                calls.append(RawCall(text: body[..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines), tagged: true))
                rest = body[close.upperBound...]
            } else {
                calls.append(RawCall(text: body.trimmingCharacters(in: .whitespacesAndNewlines), tagged: true))
                rest = body[body.endIndex...]
            }
        }
        content += rest
        content = content.trimmingCharacters(in: .whitespacesAndNewlines)
        if calls.isEmpty, let bare = bareCall(content) { return ("", [RawCall(text: bare, tagged: false)]) }
        return (content, calls)
    }

    /// The object of an answer that starts with a call: `{"name": …, "arguments": …}`, possibly in a ```
    /// fence. Whatever follows the object (small models go on to imitate the tool's response) is dropped;
    /// a call object that does not parse is returned whole, to be reported as invalid.
    static func bareCall(_ text: String) -> String? {
        let body = unfenced(text)
        guard body.hasPrefix("{"), body.contains("\"name\""),
              body.contains("\"arguments\"") || body.contains("\"parameters\"") else { return nil }
        if let prefix = JSONValue.parsePrefix(body), prefix.value["name"] != nil { return prefix.text }
        var whole = Substring(body)
        if whole.hasSuffix("```") { whole = whole.dropLast(3) }
        return whole.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `text` without leading blanks and an opening ``` fence (with its language tag).
    static func unfenced(_ text: String) -> String {
        var body = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        if body.hasPrefix("```") {
            body = body.dropFirst(3).drop { $0 != "\n" && $0 != "{" }
        }
        return body.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Why a call is invalid, with what could be read of it.
    public struct CallProblem: Error, Sendable, Equatable {
        public var message: String
        public var name: String?
        public var arguments: JSONValue?
    }

    /// Parses one call's JSON (`{"name": …, "arguments": {…}}`) and checks it against the tools.
    /// Arguments given as a JSON string holding an object (OpenAI's convention) are accepted.
    public func check(_ call: String) -> Result<(ToolSpec, JSONValue), CallProblem> { Self.check(call, tools: tools) }

    public static func check(_ call: String, tools: [ToolSpec]) -> Result<(ToolSpec, JSONValue), CallProblem> {
        let value: JSONValue
        do { value = try JSONValue.parse(call) } catch {
            return .failure(CallProblem(message: "the tool call is not valid JSON: \(error)"))
        }
        guard case .object = value, let name = value["name"]?.stringValue else {
            return .failure(CallProblem(message: "a tool call must be a JSON object {\"name\": \"TOOL\", \"arguments\": {…}}"))
        }
        var arguments = value["arguments"] ?? value["parameters"] ?? .object([JSONValue.Member]())
        if case .string(let text) = arguments, let inner = try? JSONValue.parse(text), case .object = inner { arguments = inner }
        guard let tool = tools.first(where: { $0.name == name }) else {
            let known = tools.map { "\"\($0.name)\"" }.joined(separator: ", ")
            return .failure(CallProblem(message: "unknown tool \"\(name)\" (available: \(known))", name: name, arguments: arguments))
        }
        if let violation = JSONSchema.violation(of: arguments, against: tool.parameters) {
            return .failure(CallProblem(message: "invalid arguments for \(name): \(violation)", name: name, arguments: arguments))
        }
        return .success((tool, arguments))
    }

    /// True once the text after the last complete call is something other than blanks or another call:
    /// the model's turn should have ended there.
    static func shouldStop(after raw: String) -> Bool {
        guard let close = raw.range(of: closeTag, options: .backwards) else {
            // An answer that starts with a call object ends with it.
            guard raw.last(where: { !$0.isWhitespace && $0 != "`" }) == "}", !raw.contains(openTag) else { return false }
            let body = unfenced(raw)
            guard body.hasPrefix("{"), let prefix = JSONValue.parsePrefix(body) else { return false }
            return prefix.value["name"] != nil && (prefix.value["arguments"] != nil || prefix.value["parameters"] != nil)
        }
        let tail = raw[close.upperBound...].drop { $0.isWhitespace }
        if tail.isEmpty { return false }
        return !(tail.hasPrefix(openTag) || openTag.hasPrefix(tail))
    }

    /// Why a call is refused before it runs, or nil: a calculator call whose argument is not an
    /// arithmetic expression (Qwen 0.5B passes sentences from the notes to it).
    static func refused(_ tool: ToolSpec, _ arguments: JSONValue) -> String? {
        guard tool.name == "calculator", let expression = arguments["expression"]?.stringValue else { return nil }
        let letters = expression.split(whereSeparator: { !$0.isLetter }).filter { $0.count > 1 }
        let prose = !expression.contains(where: \.isNumber) || letters.count > 3
            || (!letters.isEmpty && (try? Calculator().evaluate(expression)) == nil)
        return prose ? "refused: the calculator takes an arithmetic expression, not '\(expression.prefix(80))'" : nil
    }

    // MARK: - Fast path

    /// The expression when `text` is nothing but an arithmetic expression the calculator accepts (a
    /// trailing `=` allowed); nil for plain numbers, dates, words and anything that does not parse.
    public static func bareExpression(_ text: String) -> String? {
        var t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.hasSuffix("=") { t = String(t.dropLast()).trimmingCharacters(in: .whitespaces) }
        guard !t.isEmpty, t.count <= 2_000, t.contains(where: \.isNumber), !t.contains("\n") else { return nil }
        // An operator after the first character, or a function call: a lone (signed) number is not a question.
        let operators: Set<Character> = ["+", "-", "*", "/", "^", "%", "×", "÷", "−", "("]
        guard t.dropFirst().contains(where: operators.contains) else { return nil }
        if t.wholeMatch(of: /\d{4}-\d{1,2}-\d{1,2}/) != nil { return nil }
        guard (try? Calculator().evaluate(t)) != nil else { return nil }
        return t
    }
}

/// Holds back the text of `<tool_call>` blocks from a stream, passing the rest through. An answer that
/// starts with `{` or a ``` fence may be a call written without tags: it is held until the round ends.
struct ToolCallFilter {
    private var pending = ""
    private var inCall = false
    /// nil until the first visible character; then whether the round's text is held back.
    private var holding: Bool?
    private var held = ""

    mutating func feed(_ piece: String) -> String {
        switch holding {
        case nil:
            held += piece
            guard let first = held.first(where: { !$0.isWhitespace }) else { return "" }
            holding = first == "{" || first == "`"
            if holding == true { return "" }
            defer { held = "" }
            return stream(held)
        case true?:
            held += piece
            return ""
        case false?:
            return stream(piece)
        }
    }

    private mutating func stream(_ piece: String) -> String {
        pending += piece
        var out = ""
        while true {
            let tag = inCall ? ToolRouter.closeTag : ToolRouter.openTag
            if let r = pending.range(of: tag) {
                if !inCall { out += pending[..<r.lowerBound] }
                pending = String(pending[r.upperBound...])
                inCall.toggle()
                continue
            }
            // Keep a tail that may be the start of the tag.
            var keep = min(pending.count, tag.count - 1)
            while keep > 0 && !tag.hasPrefix(pending.suffix(keep)) { keep -= 1 }
            if !inCall { out += pending.dropLast(keep) }
            pending = String(pending.suffix(keep))
            return out
        }
    }

    /// The rest of the round's text; `dropHeld` when the held text turned out to be a call.
    mutating func finish(dropHeld: Bool) -> String {
        defer { pending = ""; held = "" }
        if holding == true { return dropHeld ? "" : held }
        return inCall ? "" : pending
    }
}
