import Foundation
import MnemoCore
import MnemoIngest
import MnemoModels
import MnemoStore

/// SQuAD's answer scoring (the official script's normalisation): lower case, no punctuation, no
/// articles, single spaces; exact match and token F1, each the best over the reference answers.
public enum SquadScore {
    public static func normalize(_ s: String) -> [String] {
        let lowered = s.lowercased()
        let noPunctuation = String(lowered.unicodeScalars.filter { !CharacterSet.punctuationCharacters.contains($0) && !CharacterSet.symbols.contains($0) }
            .map(Character.init))
        return noPunctuation.split(whereSeparator: { $0.isWhitespace }).map(String.init).filter { !["a", "an", "the"].contains($0) }
    }

    public static func exactMatch(_ prediction: String, _ answers: [String]) -> Bool {
        let p = normalize(prediction)
        return answers.contains { normalize($0) == p }
    }

    public static func f1(_ prediction: String, _ answers: [String]) -> Double {
        let p = normalize(prediction)
        return answers.map { answer -> Double in
            let a = normalize(answer)
            guard !p.isEmpty, !a.isEmpty else { return p == a ? 1 : 0 }
            var counts: [String: Int] = [:]
            for t in a { counts[t, default: 0] += 1 }
            var common = 0
            for t in p where (counts[t] ?? 0) > 0 { counts[t]! -= 1; common += 1 }
            guard common > 0 else { return 0 }
            let precision = Double(common) / Double(p.count), recall = Double(common) / Double(a.count)
            return 2 * precision * recall / (precision + recall)
        }.max() ?? 0
    }
}

/// Question answering on SQuAD 2.0 through `AskService`, exactly as `mnemo ask` answers: exact match and
/// F1 on the answerable questions, abstention ("Not in your notes.") on the unanswerable ones and false
/// abstention on the answerable, the context tokens the memories took, and the seconds per answer.
public enum QAEvaluation {
    public struct Configuration: Sendable, Hashable, Codable {
        public var context: MemoryContext
        public var k: Int
        public init(context: MemoryContext, k: Int) { self.context = context; self.k = k }
    }

    public struct Result: Sendable, Codable {
        public var context: MemoryContext
        public var k: Int
        public var questions: Int
        public var unanswerableQuestions: Int
        public var exactMatch: Double
        public var f1: Double
        /// Share of the unanswerable questions answered with the not-in-your-notes phrase.
        public var abstention: Double
        /// Share of the answerable questions answered with it.
        public var falseAbstention: Double
        /// Mean prompt positions the memories took (prompt length minus the no-memory prompt's).
        public var contextTokens: Double
        public var promptTokens: Double
        public var prefillSeconds: Double
        /// Mean seconds per answer: retrieval, every prefill and decode.
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case context, k, questions, f1, abstention, seconds
            case unanswerableQuestions = "unanswerable_questions", falseAbstention = "false_abstention"
            case exactMatch = "exact_match", contextTokens = "context_tokens", promptTokens = "prompt_tokens", prefillSeconds = "prefill_seconds"
        }
    }

    /// One answered question, for the JSON log.
    public struct Answer: Sendable, Codable {
        public var question: String
        public var answerable: Bool
        public var context: MemoryContext
        public var k: Int
        public var prediction: String
        public var abstained: Bool
        public var exactMatch: Bool
        public var f1: Double
        public var confidence: AnswerConfidence?
        /// The answer verification withdrew (scored as an abstention).
        public var withdrawn: String?
        /// The decoder states asked for (`captureLayers`).
        public var states: AnswerStates?

        enum CodingKeys: String, CodingKey {
            case question, answerable, context, k, prediction, abstained, f1, confidence, withdrawn, states
            case exactMatch = "exact_match"
        }
    }

    public static func run(questions: [SquadDataset.Question], memory: MemoryService, llm: LanguageModel, projector: Projector?,
                           configurations: [Configuration], mode: QueryMode = .hybrid, tools: [String] = [], maxTokens: Int = 32,
                           sentences: SentenceSelection = SentenceSelection(), verify: Bool = false, avoidEcho: Bool = true,
                           requireSupport: Bool = true, captureLayers: [Int] = [], progress: (Int) -> Void = { _ in }) throws -> (results: [Result], answers: [Answer]) {
        guard configurations.allSatisfy({ !$0.context.needsProjector }) || projector != nil else {
            throw ModelError(.badInput, "soft contexts need a projector")
        }
        let service = AskService(memory: memory, model: llm, projector: projector)
        struct Sums { var em = 0, f1 = 0.0, abstained = 0, falseAbstained = 0, context = 0, prompt = 0, prefill = 0.0, seconds = 0.0 }
        var sums: [Configuration: Sums] = [:]
        var answers: [Answer] = []
        for (i, q) in questions.enumerated() {
            for c in configurations {
                var options = AskOptions()
                options.context = c.context
                options.k = max(1, c.k)
                options.mode = mode
                options.sentences = sentences
                options.verify = verify
                options.avoidEcho = avoidEcho
                options.requireSupport = requireSupport
                options.captureLayers = captureLayers
                options.tools = tools
                options.generation = GenerationParameters(maxTokens: maxTokens, sampling: .greedy)
                let r = try service.ask(q.text, options: options)
                let abstained = !r.answerable
                let em = !abstained && !q.isImpossible && SquadScore.exactMatch(r.answer, q.answers)
                let f1 = abstained || q.isImpossible ? 0 : SquadScore.f1(r.answer, q.answers)
                var s = sums[c] ?? Sums()
                if q.isImpossible {
                    s.abstained += abstained ? 1 : 0
                } else {
                    s.em += em ? 1 : 0; s.f1 += f1; s.falseAbstained += abstained ? 1 : 0
                    s.context += r.contextTokens; s.prompt += r.promptTokens; s.prefill += r.prefillSeconds
                    s.seconds += r.retrievalSeconds + r.prefillSeconds + r.decodeSeconds
                }
                sums[c] = s
                answers.append(Answer(question: q.text, answerable: !q.isImpossible, context: c.context, k: c.k, prediction: r.answer,
                                      abstained: abstained, exactMatch: em, f1: f1, confidence: r.confidence, withdrawn: r.withdrawn,
                                      states: r.states))
            }
            progress(i + 1)
        }
        let answerable = questions.filter { !$0.isImpossible }.count, unanswerable = questions.count - answerable
        let n = Double(max(1, answerable)), u = Double(max(1, unanswerable))
        let results = configurations.map { c in
            let s = sums[c] ?? Sums()
            return Result(context: c.context, k: c.k, questions: answerable, unanswerableQuestions: unanswerable,
                          exactMatch: Double(s.em) / n, f1: s.f1 / n, abstention: Double(s.abstained) / u,
                          falseAbstention: Double(s.falseAbstained) / n, contextTokens: Double(s.context) / n,
                          promptTokens: Double(s.prompt) / n, prefillSeconds: s.prefill / n, seconds: s.seconds / n)
        }
        return (results, answers)
    }
}
