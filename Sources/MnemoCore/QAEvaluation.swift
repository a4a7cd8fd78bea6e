import Foundation
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

/// Question answering with memories as text, as soft tokens, both, or none, on SQuAD's answerable
/// questions: exact match, F1, the context tokens the memories took and the prefill time.
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
        public var exactMatch: Double
        public var f1: Double
        /// Mean prompt positions the memories took (prompt length minus the no-memory prompt's).
        public var contextTokens: Double
        public var promptTokens: Double
        public var prefillSeconds: Double

        enum CodingKeys: String, CodingKey {
            case context, k, questions, f1
            case exactMatch = "exact_match", contextTokens = "context_tokens", promptTokens = "prompt_tokens", prefillSeconds = "prefill_seconds"
        }
    }

    /// One answered question, for the JSON log.
    public struct Answer: Sendable, Codable {
        public var question: String
        public var context: MemoryContext
        public var k: Int
        public var prediction: String
        public var exactMatch: Bool
        public var f1: Double
    }

    public static func run(questions: [SquadDataset.Question], memory: MemoryService, llm: LanguageModel, projector: Projector?,
                           configurations: [Configuration], maxTokens: Int = 24,
                           progress: (Int) -> Void = { _ in }) throws -> (results: [Result], answers: [Answer]) {
        guard configurations.allSatisfy({ !$0.context.needsProjector }) || projector != nil else {
            throw ModelError(.badInput, "soft contexts need a projector")
        }
        let prompt = MemoryPrompt(llm: llm)
        let maxK = configurations.map(\.k).max() ?? 0
        var sums: [Configuration: (em: Int, f1: Double, context: Int, prompt: Int, prefill: Double)] = [:]
        var answers: [Answer] = []
        for (i, q) in questions.enumerated() {
            let hits = maxK > 0 ? try memory.query(q.text, k: maxK, mode: .dense) : []
            let texts = hits.map(\.chunk.text)
            let vectors = try projector.map { try $0.project(memory.storedVectors(of: hits)) } ?? []
            let bare = try prompt.question(q.text, memories: []).count
            for c in configurations {
                let k = c.context == .none ? 0 : min(c.k, hits.count)
                let memories = c.context.memories(texts: Array(texts.prefix(k)), vectors: Array(vectors.prefix(k)))
                let inputs = try prompt.question(q.text, memories: memories)
                let r = try llm.generate(inputs, parameters: .init(maxTokens: maxTokens, sampling: .greedy))
                let prediction = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
                let em = SquadScore.exactMatch(prediction, q.answers), f1 = SquadScore.f1(prediction, q.answers)
                var s = sums[c] ?? (0, 0, 0, 0, 0)
                s.em += em ? 1 : 0; s.f1 += f1; s.context += inputs.count - bare; s.prompt += inputs.count; s.prefill += r.prefillSeconds
                sums[c] = s
                answers.append(Answer(question: q.text, context: c.context, k: c.k, prediction: prediction, exactMatch: em, f1: f1))
            }
            progress(i + 1)
        }
        let n = Double(max(1, questions.count))
        let results = configurations.map { c in
            let s = sums[c] ?? (0, 0, 0, 0, 0)
            return Result(context: c.context, k: c.k, questions: questions.count, exactMatch: Double(s.em) / n, f1: s.f1 / n,
                          contextTokens: Double(s.context) / n, promptTokens: Double(s.prompt) / n, prefillSeconds: s.prefill / n)
        }
        return (results, answers)
    }
}
