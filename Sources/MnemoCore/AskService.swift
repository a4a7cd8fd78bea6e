import Foundation
import MnemoModels
import MnemoStore
import MnemoTools

/// Settings for `AskService.ask`.
public struct AskOptions: Sendable {
    /// `sentences` by measurement: on the dev slice's first 100 questions it answered as well as `text`
    /// in a quarter of the context tokens and a third of the time (docs/ANSWERS.md).
    public var context: MemoryContext = .sentences
    /// Chunks retrieved.
    public var k = 3
    public var mode: QueryMode = .hybrid
    /// How the sentence context modes choose sentences.
    public var sentences = SentenceSelection()
    public var namespace: String?
    /// Metadata every retrieved chunk must have (key = value).
    public var metadata: [String: String] = [:]
    /// What retrieval searches for, when it is not the question (HTTP chat's `mnemo.query`).
    public var query: String?
    /// Tools offered to the model: `calc`, `sql` (or `calculator`, `sql_query`).
    public var tools: [String] = []

    /// The tools every edge offers unless told otherwise: the calculator (gated by `ToolGate`), and
    /// read-only SQL when there is a database.
    public static func defaultTools(database: String?) -> [String] {
        database == nil ? ["calc"] : ["calc", "sql"]
    }
    /// The SQLite database the `sql` tool reads.
    public var sqlDatabase: String?
    /// Per generation round; greedy by default.
    public var generation = GenerationParameters(maxTokens: 256, sampling: .greedy)
    /// Rounds of tool calls before the model must answer without tools.
    public var maxToolRounds = 4
    /// Offer the calculator only to questions that look like computation (`ToolGate`); false offers
    /// every tool named in `tools` to every question.
    public var gateTools = true
    /// After its answer, ask the model whether the notes state it (one short extra prefill, ~25 tokens
    /// on the cached conversation), and withdraw the answer for "Not in your notes." when the model leans to
    /// "no" by more than `withdrawAbove`. Off by default: with Qwen 0.5B the threshold tuned on one part of
    /// the dev slice did not carry to another (docs/ANSWERS.md, "Asking the model to check its answer").
    public var verify = false
    /// log p(no) − log p(yes) above which an answer is withdrawn: tuned on the dev slice's answerable and
    /// unanswerable questions 101–200 (47% abstention at 10% false abstention there).
    public var withdrawAbove: Float = 0.33
    /// When the answer only repeats words of the question ("Who was Emma's brother?" → "Emma"), answer
    /// again from the model's next most likely first tokens (`QuestionEcho`); a few tokens more, on the
    /// cached prompt.
    public var avoidEcho = true
    /// With whole chunks in the prompt, an answer found in none of the chunks' sentences closest to the
    /// question is made again from the model's next most likely first tokens, as for an echo; the
    /// first that is found there is kept, else the first answer. Small models often pick a salient
    /// phrase of the wrong sentence (docs/ANSWERS.md). The answer is then shown once checked, not
    /// streamed. The sentence modes, whose notes are those sentences already, stream as before.
    public var requireSupport = true
    /// Draft the answer's tokens from the notes (prompt-lookup speculative decoding): the answer is
    /// the same, greedy; fewer decode passes when it quotes the notes.
    public var promptLookup = false
    /// Decoder layers whose output is kept in `AskResult.states` (what `mnemo eval qa --states` writes
    /// to train an answerability probe); empty: none are read.
    public var captureLayers: [Int] = []
    public init() {}

    /// The default context mode where no projector is at hand (the server edges): the default, unless
    /// it needs soft tokens, then `text`.
    public static var textContext: MemoryContext {
        let c = AskOptions().context
        return c.needsProjector ? (c.choosesSentences ? .sentences : .text) : c
    }
}

/// One retrieved chunk given to the model, numbered as in the prompt.
public struct AskSource: Sendable, Codable, Equatable {
    public var number: Int
    public var chunkID: Int64
    public var source: String
    public var score: Float
    public var text: String

    enum CodingKeys: String, CodingKey {
        case number, source, score, text
        case chunkID = "chunk_id"
    }
}

extension AskSource {
    /// Hits as the numbered notes a prompt shows, from 1, with the text the prompt gives each (default:
    /// the whole chunk).
    static func numbered(_ hits: [QueryHit], texts: [String]? = nil) -> [AskSource] {
        hits.enumerated().map { i, hit in
            AskSource(number: i + 1, chunkID: hit.chunk.id, source: hit.chunk.source, score: hit.score, text: texts?[i] ?? hit.chunk.text)
        }
    }
}

/// What an answer reads: the numbered sources and the notes the prompt shows (text, soft tokens or both).
public struct AskNotes: Sendable {
    public var sources: [AskSource] = []
    /// The hit each source came from (its text is the whole chunk; the source's may be its chosen sentences).
    public var hits: [QueryHit] = []
    public var memories: [PromptMemory] = []
    public var retrievalSeconds = 0.0
    /// Whole-chunk contexts: the chunks' sentences closest to the question (those the `sentences` mode
    /// would show). An answer found in none of them is made again (`AskOptions.requireSupport`).
    public var support: [String] = []
    public init(sources: [AskSource] = [], hits: [QueryHit] = [], memories: [PromptMemory] = [], retrievalSeconds: Double = 0,
                support: [String] = []) {
        self.sources = sources
        self.hits = hits
        self.memories = memories
        self.retrievalSeconds = retrievalSeconds
        self.support = support
    }

    /// Each source as a search hit carrying the text the prompt holds (for the sentence modes, its chosen sentences).
    public var hitsAsRead: [MemoryHit] {
        zip(hits, sources).map { hit, source in
            var h = MemoryHit(hit)
            h.text = source.text
            return h
        }
    }
}

/// An answer and how it was made.
public struct AskResult: Sendable, Codable {
    public var answer: String
    /// False when the answer is `MemoryPrompt.notInNotes`: the notes did not hold it.
    public var answerable: Bool
    /// The tools offered to the model for this question (after `ToolGate`).
    public var toolsOffered: [String]
    public var context: MemoryContext
    public var sources: [AskSource]
    /// Prompt positions the memories take (their text's tokens, one per soft token).
    public var contextTokens: Int
    /// Positions of the (last round's) prompt.
    public var promptTokens: Int
    public var generatedTokens: Int
    public var toolCalls: [ToolCallRecord]
    /// LLM generations (0 when the calculator answered a bare expression directly).
    public var rounds: Int
    /// `model`, `tool_result` (the last tool result returned as the answer) or `fast_path`.
    public var answerSource: String
    public var finishReason: String
    public var retrievalSeconds: Double
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// How sure the model was of its answer (nil when no model answered).
    public var confidence: AnswerConfidence?
    /// The model's answer when verification withdrew it for `MemoryPrompt.notInNotes` (it was streamed).
    public var withdrawn: String?
    /// The decoder's states `AskOptions.captureLayers` asked for (nil: none asked, or no model answer from notes).
    public var states: AnswerStates?

    enum CodingKeys: String, CodingKey {
        case answer, answerable, context, sources, rounds, confidence, withdrawn, states
        case toolsOffered = "tools_offered"
        case answerSource = "answer_source"
        case contextTokens = "context_tokens", promptTokens = "prompt_tokens", generatedTokens = "generated_tokens"
        case toolCalls = "tool_calls", finishReason = "finish_reason", retrievalSeconds = "retrieval_seconds"
        case prefillSeconds = "prefill_seconds", decodeSeconds = "decode_seconds"
    }
}

/// The decoder's residual stream at the end of two prompts of one answer, for each captured layer.
public struct AnswerStates: Sendable, Codable, Equatable {
    public var layers: [Int]
    /// At the answer's prompt (notes and question), before the answer's first token.
    public var question: [[Float]]
    /// At the end of the check turn (`MemoryPrompt.verificationQuestion`) after the answer.
    public var check: [[Float]]
}

/// How sure the model was of an answer, from its tokens' log-probabilities.
public struct AnswerConfidence: Sendable, Codable, Equatable {
    /// Log-probability of the answer's first token.
    public var firstLogprob: Float
    /// Mean log-probability of the answer's tokens (up to its first line break).
    public var meanLogprob: Float
    /// Log-probability, at the first step, of the token that begins the not-in-your-notes phrase (nil: not
    /// among the step's 20 most likely tokens).
    public var abstainLogprob: Float?
    /// Whether the answer is copied from the notes (case-insensitive substring).
    public var copied: Bool
    /// log p(no) − log p(yes) when the model is asked whether the notes state its answer (nil: not asked).
    public var verification: Float?

    enum CodingKeys: String, CodingKey {
        case copied, verification
        case firstLogprob = "first_logprob", meanLogprob = "mean_logprob", abstainLogprob = "abstain_logprob"
    }
}

/// Question answering over the memory: retrieve chunks, put them before the question, and let the model
/// answer, calling tools through a `ToolRouter` when some are offered.
public final class AskService {
    /// The store to retrieve from; nil is allowed when only `.none` is asked for.
    public let memory: MemoryService?
    public let model: any ChatModel
    /// Turns stored vectors into soft tokens; needed by the soft context modes only.
    public let projector: Projector?

    /// One router per set of tools offered: each keeps its KV cache, so the fixed start of the prompt
    /// (instructions, examples, tool descriptions) is computed once, not per question.
    private var routers: [[String]: ToolRouter] = [:]

    private func router(_ tools: [ToolSpec], database: String?) -> ToolRouter {
        let key = tools.map(\.name) + (tools.contains { $0.name == "sql_query" } ? [database ?? ""] : [])
        if let r = routers[key] { return r }
        let r = ToolRouter(model: model, tools: tools)
        routers[key] = r
        return r
    }

    public init(memory: MemoryService?, model: any ChatModel, projector: Projector? = nil) {
        self.memory = memory
        self.model = model
        self.projector = projector
    }

    /// Retrieval, and the notes the context mode makes of the hits: what an answer reads, found before
    /// the model is needed (the server finds them on a reader connection, then answers on its model's
    /// thread). `countTokens` counts in the answering model's tokens (the sentence budget's unit).
    public static func notes(for question: String, options: AskOptions, memory: MemoryService, projector: Projector?,
                             countTokens: (String) -> Int) throws -> AskNotes {
        let t0 = Date()
        let context = options.context
        guard context != .none else { return AskNotes() }
        let filter = SearchFilter(namespace: options.namespace, metadata: options.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let hits = try memory.query(options.query ?? question, k: options.k, mode: options.mode, filter: filter)
        func projected(_ vectors: [[Float]]) throws -> [[Float]] {
            guard let projector else { throw ModelError(.badInput, "context mode '\(context.rawValue)' needs a projector") }
            return try projector.project(vectors)
        }
        let sources: [AskSource], memories: [PromptMemory], sourceHits: [QueryHit]
        var support: [String] = []
        if !context.choosesSentences {
            sources = AskSource.numbered(hits)
            sourceHits = hits
            if options.requireSupport, context == .text || context == .softText {
                support = try memory.closestSentences(question, hits: hits, selection: options.sentences, countTokens: countTokens).chosen.map(\.sentence.text)
            }
            let texts = sources.map(\.text)
            switch context {
            case .soft: memories = try projected(memory.storedVectors(of: hits)).map { .soft($0) }
            case .softText: memories = zip(try projected(memory.storedVectors(of: hits)), texts).map { .softAndText($0, $1) }
            default: memories = texts.map { .text($0) }
            }
        } else {
            let (cut, used, chosen) = try memory.closestSentences(question, hits: hits, selection: options.sentences, countTokens: countTokens)
            sources = cut
            sourceHits = used
            let texts = cut.map(\.text)
            switch context {
            case .softSentences: memories = try projected(chosen.map(\.sentence.embedding)).map { .soft($0) }
            case .softPlusSentences: memories = zip(try projected(memory.storedVectors(of: used)), texts).map { .softAndText($0, $1) }
            default: memories = texts.map { .text($0) }
            }
        }
        return AskNotes(sources: sources, hits: sourceHits, memories: memories, retrievalSeconds: Date().timeIntervalSince(t0), support: support)
    }

    /// Answers `question` from the store: retrieval (`notes`), then `answer`.
    public func ask(_ question: String, options: AskOptions, onToken: (String) -> Void = { _ in }) throws -> AskResult {
        let question = try Self.checked(question, options)
        // A bare expression goes straight to the calculator: nothing to retrieve.
        let calculatorOnly = options.tools.contains { (ToolSpec.shortNames[$0] ?? $0) == "calculator" } && ToolRouter.bareExpression(question) != nil
        var notes = AskNotes()
        if options.context != .none && !calculatorOnly {
            guard let memory else { throw StoreError(.badInput, "context mode '\(options.context.rawValue)' needs a memory store") }
            notes = try Self.notes(for: question, options: options, memory: memory, projector: projector, countTokens: model.tokenCount)
        }
        return try answer(question, notes: notes, options: options, onToken: onToken)
    }

    static func checked(_ question: String, _ options: AskOptions) throws -> String {
        let question = question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty else { throw StoreError(.badInput, "the question is empty") }
        guard options.k > 0 else { throw StoreError(.badInput, "k must be ≥ 1 (got \(options.k))") }
        return question
    }

    /// Answers `question` from notes already found: the one answer path of every edge (the CLI through
    /// `ask`, MCP and HTTP through their model queue). `isCancelled` is polled between tokens.
    public func answer(_ question: String, notes: AskNotes, options: AskOptions, isCancelled: (@Sendable () -> Bool)? = nil,
                       onToken: (String) -> Void = { _ in }) throws -> AskResult {
        let question = try Self.checked(question, options)
        let database = try options.sqlDatabase.map { try ReadOnlyDatabase(path: $0) }
        var tools = try ToolSpec.named(options.tools, database: database)
        var routerOptions = ToolRouterOptions()
        routerOptions.generation = options.generation
        routerOptions.generation.logprobs = TokenLogprob.maxAlternatives
        if options.promptLookup { routerOptions.generation.speculative = .promptLookup() }
        routerOptions.maxRounds = options.maxToolRounds

        // A bare expression goes straight to the calculator: nothing to retrieve.
        if tools.contains(where: { $0.name == "calculator" }), ToolRouter.bareExpression(question) != nil {
            let r = try router(tools, database: options.sqlDatabase).respond(to: [ChatMessage(.user, question)], options: routerOptions, onText: onToken)
            return AskResult(answer: r.answer, answerable: true, toolsOffered: tools.map(\.name), context: options.context, sources: [],
                             contextTokens: 0, promptTokens: 0, generatedTokens: 0, toolCalls: r.calls, rounds: 0,
                             answerSource: r.answerSource.rawValue, finishReason: r.finishReason.rawValue,
                             retrievalSeconds: 0, prefillSeconds: 0, decodeSeconds: 0, confidence: nil, withdrawn: nil, states: nil)
        }
        if options.gateTools { tools = tools.filter { $0.name != "calculator" || ToolGate.needsCalculator(question) } }

        let (sources, memories, retrievalSeconds) = (notes.sources, notes.memories, notes.retrievalSeconds)
        let (messages, softs) = MemoryPrompt.answerMessages(question, memories: memories)
        let prompt = MemoryPrompt(llm: model)
        let render: (String) throws -> [DecoderInput] = { try prompt.inputs($0, softs: softs) }

        // The answer is one line: generation stops at the first line break after some text.
        let lineDone = Flag()
        var streamed = ""
        routerOptions.isCancelled = { lineDone.value || isCancelled?() == true }
        // While an answer could still be an echo of the question it is held back, not streamed.
        let echo = options.avoidEcho && !memories.isEmpty ? QuestionEcho(question) : nil
        // An answer checked against the support sentences is shown once checked (it is one short line).
        let support = options.requireSupport && !memories.isEmpty ? notes.support.map { $0.lowercased() } : []
        let holdAll = !support.isEmpty
        var held = ""
        let stream: (String) -> Void = { piece in
            guard !lineDone.value else { return }
            var piece = piece
            if let newline = piece.firstIndex(where: \.isNewline), !(streamed + held + piece[..<newline]).trimmingCharacters(in: .whitespaces).isEmpty {
                piece = String(piece[..<newline])
                lineDone.value = true
            }
            if holdAll {
                held += piece
                return
            }
            if let echo, streamed.isEmpty, !lineDone.value, echo.mayBeEcho(held + piece) {
                held += piece
                return
            }
            if lineDone.value, let echo, streamed.isEmpty, echo.isEcho(held + piece) {
                held += piece
                return
            }
            streamed += held + piece
            onToken(held + piece)
            held = ""
        }
        var r = try router(tools, database: options.sqlDatabase).respond(to: messages, options: routerOptions, render: render, onText: stream)
        // Tools never cost an answer: when no call gave a result and no answer came, answer from the notes alone.
        if !tools.isEmpty, r.calls.contains(where: { $0.result == nil }), r.answerSource != .toolResult,
           r.answer.isEmpty || r.answer.hasPrefix("(no answer") {
            lineDone.value = false
            streamed = ""
            held = ""
            let calls = r.calls, rounds = r.rounds, prefill = r.prefillSeconds, decode = r.decodeSeconds, generated = r.generatedTokens
            r = try router([], database: nil).respond(to: messages, options: routerOptions, render: render, onText: stream)
            r.calls = calls + r.calls
            r.rounds += rounds
            r.prefillSeconds += prefill
            r.decodeSeconds += decode
            r.generatedTokens += generated
        }
        if lineDone.value, r.finishReason == .cancelled, isCancelled?() != true { r.finishReason = .stop }
        var finished: (text: String, answerable: Bool) = r.answerSource == .model ? MemoryPrompt.finishAnswer(r.answer) : (r.answer, true)
        let supported: (String) -> Bool = { answer in support.isEmpty || support.contains { $0.contains(answer.lowercased()) } }
        if r.answerSource == .model, finished.answerable, echo?.isEcho(finished.text) == true || !supported(finished.text),
           let first = r.logprobs?.first {
            let retry = try answerAgain(avoiding: echo ?? QuestionEcho(question), accepting: supported, first: first, messages: messages, softs: softs,
                                        prompt: prompt, options: routerOptions)
            r.prefillSeconds += retry.seconds
            r.generatedTokens += retry.tokens
            if let better = retry.answer {
                finished = MemoryPrompt.finishAnswer(better.text)
                r.logprobs = better.logprobs
            }
        }
        if echo != nil || holdAll, streamed.isEmpty, !finished.text.isEmpty { onToken(finished.text) }
        var confidence = r.answerSource == .model
            ? r.logprobs.map { self.measureConfidence($0, answer: finished.text, notes: sources.map(\.text).joined(separator: "\n")) } : nil
        var states: AnswerStates?
        if !options.captureLayers.isEmpty, finished.answerable, !memories.isEmpty, r.answerSource == .model {
            let t0 = Date()
            let checker = router([], database: nil), layers = options.captureLayers, capacity = options.generation.contextCapacity
            let question = try checker.hiddenStates(after: messages, render: render, layers: layers, capacity: capacity)
            let check = try checker.hiddenStates(after: messages + [ChatMessage(.assistant, finished.text), ChatMessage(.user, MemoryPrompt.verificationQuestion)],
                                                 render: render, layers: layers, capacity: capacity)
            states = AnswerStates(layers: layers, question: question, check: check)
            r.prefillSeconds += Date().timeIntervalSince(t0)
        }
        var withdrawn: String?
        if options.verify, finished.answerable, !memories.isEmpty, confidence != nil {
            let check = try verification(of: finished.text, messages: messages, render: render, options: routerOptions)
            confidence?.verification = check.margin
            r.prefillSeconds += check.seconds
            if let margin = check.margin, margin > options.withdrawAbove {
                withdrawn = finished.text
                finished = (MemoryPrompt.notInNotes, false)
            }
        }
        // Context tokens: what the notes add to the same conversation without them.
        let bare = try prompt.inputs(model.chatPrompt(messages.dropLast() + [ChatMessage(.user, "Question: " + MemoryPrompt.clean(question))]), softs: []).count
        let withNotes = try render(model.chatPrompt(messages)).count
        return AskResult(answer: finished.text, answerable: finished.answerable, toolsOffered: tools.map(\.name),
                         context: options.context, sources: sources, contextTokens: max(0, withNotes - bare),
                         promptTokens: r.promptTokens, generatedTokens: r.generatedTokens, toolCalls: r.calls, rounds: r.rounds,
                         answerSource: r.answerSource.rawValue, finishReason: r.finishReason.rawValue, retrievalSeconds: retrievalSeconds,
                         prefillSeconds: r.prefillSeconds, decodeSeconds: r.decodeSeconds, confidence: confidence,
                         withdrawn: withdrawn, states: states)
    }

    /// The answer begun with each of the first step's next most likely tokens that cannot start an echo,
    /// up to three tries; the first that is neither an echo nor a sentence (over `maxRetryWords`) and
    /// that `accepting` takes, or nil.
    private func answerAgain(avoiding echo: QuestionEcho, accepting: (String) -> Bool, first: TokenLogprob, messages: [ChatMessage], softs: [[Float]],
                             prompt: MemoryPrompt, options: ToolRouterOptions)
        throws -> (answer: (text: String, logprobs: [TokenLogprob]?)?, seconds: Double, tokens: Int) {
        var options = options
        options.generation.maxTokens = min(options.generation.maxTokens, 32)
        var seconds = 0.0, tokens = 0, tries = 0
        for alternative in first.top where alternative.token != first.token && !model.endTokens.contains(alternative.token) {
            let piece = model.decode([alternative.token])
            guard echo.mayBeginAnswer(piece) else { continue }
            // The alternative is written after the prompt's assistant header; the model goes on from it.
            let lineDone = Flag()
            var text = piece
            options.isCancelled = { lineDone.value }
            let r = try router([], database: nil).respond(to: messages, options: options,
                                                          render: { try prompt.inputs($0 + piece, softs: softs) },
                                                          onText: { p in
                                                              guard !lineDone.value else { return }
                                                              text += p
                                                              if p.contains(where: \.isNewline) { lineDone.value = true }
                                                          })
            seconds += r.prefillSeconds + r.decodeSeconds
            tokens += r.generatedTokens + 1
            let finished = MemoryPrompt.finishAnswer(text)
            if !echo.isEcho(finished.text), finished.text.split(separator: " ").count <= QuestionEcho.maxRetryWords, accepting(finished.text) {
                let chosen = TokenLogprob(token: alternative.token, logprob: alternative.logprob, top: first.top)
                return ((text, [chosen] + (r.logprobs ?? [])), seconds, tokens)
            }
            tries += 1
            if tries == 3 { break }
        }
        return (nil, seconds, tokens)
    }

    /// log p(no) − log p(yes) for "do the notes state this answer?", asked after the answer in the same
    /// conversation (its prefix is in the router's cache: only the new turn is computed).
    private func verification(of answer: String, messages: [ChatMessage], render: @escaping (String) throws -> [DecoderInput],
                              options: ToolRouterOptions) throws -> (margin: Float?, seconds: Double) {
        var options = options
        options.generation.maxTokens = 1
        options.isCancelled = nil
        let turn = messages + [ChatMessage(.assistant, answer), ChatMessage(.user, MemoryPrompt.verificationQuestion)]
        let r = try router([], database: nil).respond(to: turn, options: options, render: render)
        let seconds = r.prefillSeconds + r.decodeSeconds
        guard let first = r.logprobs?.first else { return (nil, seconds) }
        // A word outside the 20 most likely tokens counts as log p = −30.
        func best(_ words: [String]) -> Float {
            words.compactMap { w in model.encode(w, addBOS: false).first.flatMap { first.logprob(of: $0) } }.max() ?? -30
        }
        return (best(["No", "no"]) - best(["Yes", "yes"]), seconds)
    }

    /// The token that begins `MemoryPrompt.notInNotes` at the start of a reply.
    private lazy var abstainToken: Int32? = model.encode(MemoryPrompt.notInNotes, addBOS: false).first

    private func measureConfidence(_ logprobs: [TokenLogprob], answer: String, notes: String) -> AnswerConfidence {
        // The answer's tokens: those before the first line break (generation stops there).
        var kept: [TokenLogprob] = []
        var text = ""
        for entry in logprobs {
            let piece = model.decode([entry.token])
            if piece.contains(where: \.isNewline), !text.trimmingCharacters(in: .whitespaces).isEmpty { break }
            text += piece
            kept.append(entry)
        }
        let mean = kept.isEmpty ? 0 : kept.map(\.logprob).reduce(0, +) / Float(kept.count)
        let first = logprobs.first
        return AnswerConfidence(firstLogprob: first?.logprob ?? 0, meanLogprob: mean,
                                abstainLogprob: abstainToken.flatMap { first?.logprob(of: $0) },
                                copied: !answer.isEmpty && notes.lowercased().contains(answer.lowercased()))
    }
}

/// Whether an answer only repeats the question: its words (articles, prepositions and possessive 's
/// aside) are all words of the question. Small models often answer "In what country is Normandy?" with
/// "Normandy" (measured: 10–24% of the dev slice's answers, of which 1 in 28 was right).
public struct QuestionEcho: Sendable {
    let questionWords: Set<String>
    static let ignored: Set<String> = ["a", "an", "the", "of", "in", "on", "at", "to", "and", "or", "for", "by", "with", "from"]

    /// A choice ("abstract or concrete?") answers with the question's own words: no echo then.
    public let isChoice: Bool

    public init(_ question: String) {
        questionWords = Set(Self.words(question))
        isChoice = question.lowercased().split(whereSeparator: { !$0.isLetter }).contains("or")
    }

    /// Longest answer a retry may give: past it the model is writing a sentence, not the phrase.
    static let maxRetryWords = 8

    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "’") }).compactMap { raw in
            var w = String(raw).trimmingCharacters(in: CharacterSet(charactersIn: "'’"))
            if w.hasSuffix("'s") || w.hasSuffix("’s") { w = String(w.dropLast(2)) }
            return w.isEmpty || ignored.contains(w) ? nil : w
        }
    }

    /// The whole answer's words are all in the question (an empty answer is no echo).
    public func isEcho(_ answer: String) -> Bool {
        guard !isChoice else { return false }
        let w = Self.words(answer)
        return !w.isEmpty && w.allSatisfy(questionWords.contains)
    }

    /// A partial answer that may still become an echo: its complete words are all question words and its
    /// last, possibly unfinished, word begins one.
    func mayBeEcho(_ partial: String) -> Bool {
        guard !isChoice else { return false }
        let w = Self.words(partial)
        guard let last = w.last else { return true }
        let finished = partial.last.map { !($0.isLetter || $0.isNumber) } ?? false
        let complete = finished ? w : Array(w.dropLast())
        guard complete.allSatisfy(questionWords.contains) else { return false }
        return finished || questionWords.contains { $0.hasPrefix(last) }
    }

    /// Whether a first token can begin an answer that is not an echo: it holds a letter or digit and does
    /// not begin a question word (articles aside).
    func mayBeginAnswer(_ piece: String) -> Bool {
        let w = Self.words(piece)
        guard let word = w.first else {
            // An article may begin an answer ("the Adriatic"); a space or punctuation alone may not.
            return Self.ignored.contains(piece.lowercased().trimmingCharacters(in: .whitespaces))
        }
        return !questionWords.contains { $0.hasPrefix(word) }
    }
}

/// A mutable flag shared between the generation callbacks of one answer.
final class Flag: @unchecked Sendable {
    var value = false
}

/// Which questions are offered which tools: a cheap rule, so that a question about the notes never
/// loses its answer to a calculator call (measured on the tools and QA evaluations, docs/ANSWERS.md).
public enum ToolGate {
    /// Words that ask for a computation.
    static let computationWords: Set<String> = [
        "sum", "total", "add", "plus", "minus", "subtract", "difference", "product", "multiply", "multiplied", "times",
        "divide", "divided", "quotient", "ratio", "percent", "percentage", "average", "mean", "square", "cube", "root",
        "power", "squared", "cubed", "calculate", "compute", "remainder", "modulo", "factorial", "twice", "half",
        "double", "triple", "each", "per", "altogether", "combined", "left", "remain", "remaining", "cost", "costs",
        // Growth and counting (measured: these 23 of the tools evaluation's 129 word problems had none of the above).
        "doubles", "doubling", "doubled", "triples", "halves", "grows", "compounded", "interest", "worth", "arranged",
        "arrangements", "ways", "chosen", "choose", "combinations", "permutations",
    ]

    /// True when the question holds a number and an arithmetic operator or a computation word
    /// ("What is 17% of 2,340,000?", "how many in total if each of 12 boxes holds 144?").
    public static func needsCalculator(_ question: String) -> Bool {
        guard question.contains(where: \.isNumber) else { return false }
        if question.contains(where: { "+*/^%×÷=".contains($0) }) { return true }
        if question.range(of: #"\d\s*-\s*\d"#, options: .regularExpression) != nil { return true }
        let words = question.lowercased().split(whereSeparator: { !$0.isLetter })
        return words.contains { computationWords.contains(String($0)) }
    }
}
