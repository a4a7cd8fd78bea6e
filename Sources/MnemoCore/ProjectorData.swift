import Foundation
import MnemoIngest
import MnemoModels

/// Training data for the projector, built from text the project may use offline: SQuAD paragraphs
/// (contexts only, never questions) and documents read through the ingest path; stage 2's
/// questions and answers are written by the model itself.
public enum ProjectorData {
    /// Passages of about `targetTokens` encoder tokens: each SQuAD file's contexts, and the chunks of
    /// every other file (directories recursively), as `mnemo index` would cut them.
    public static func passages(paths: [String], encoder: SentenceEncoder, targetTokens: Int) throws -> [String] {
        var documents: [ExtractedDocument] = []
        for path in paths {
            if path.hasSuffix(".json"), let squad = try? SquadDataset(path: path) {
                for p in squad.paragraphs {
                    documents.append(ExtractedDocument(source: path, format: .text, segments: [ExtractedSegment(text: p.context, byteRange: 0..<p.context.utf8.count)]))
                }
                continue
            }
            let (files, skipped) = DocumentReader.collect(paths: [path])
            if files.isEmpty, let reason = skipped.first { throw ModelError(.badInput, "\(path): no training text (\(reason))") }
            for file in files {
                if let document = try? DocumentReader.read(path: file).document { documents.append(document) }
            }
        }
        let options = ChunkingOptions(targetTokens: targetTokens, overlapSentences: 0, maxTokens: 2 * targetTokens)
        var seen = Set<String>()
        var passages: [String] = []
        for d in documents {
            for chunk in Chunker.chunk(d, options: options, countTokens: encoder.tokenizer.count) {
                let text = chunk.text.trimmingCharacters(in: .whitespacesAndNewlines)
                if text.count >= 20, seen.insert(text).inserted { passages.append(text) }
            }
        }
        guard !passages.isEmpty else { throw ModelError(.badInput, "no training text in \(paths.joined(separator: ", "))") }
        return passages
    }

    /// Stage 1: each passage's vector, and its own tokens as the answer (at most `maxAnswerTokens`).
    public static func reconstruction(_ passages: [String], encoder: SentenceEncoder, llm: LanguageModel, maxAnswerTokens: Int) throws -> [ProjectorExample] {
        let vectors = try encoder.embed(passages)
        return zip(passages, vectors).map { text, vector in
            ProjectorExample(vector: vector, text: text, question: nil,
                             answer: Array(llm.tokenizer.encode(text, addBOS: false, parseSpecial: false).prefix(maxAnswerTokens)), teacher: nil)
        }
    }

    /// Stage 2: for each passage a model (`writer`, by default the model itself) writes a question
    /// about it, then the model answers it reading the passage as text (the teacher); the student
    /// will read the passage as a soft token and learn the teacher's token distributions (top
    /// `teacherTop` entries of each). Answers that do not end within 24 tokens are dropped.
    public static func questions(_ passages: [String], encoder: SentenceEncoder, llm: LanguageModel, writer: LanguageModel? = nil,
                                 teacherTop: Int = 16, progress: (Int) -> Void = { _ in }) throws -> [ProjectorExample] {
        let writer = writer ?? llm
        let vectors = try encoder.embed(passages)
        let prompt = MemoryPrompt(llm: llm)
        let greedy = SamplingParameters.greedy
        let end = try ProjectorTrainer.endOfTurn(llm)
        var examples: [ProjectorExample] = []
        for (i, (text, vector)) in zip(passages, vectors).enumerated() {
            defer { progress(i + 1) }
            let ask = try writer.chatPrompt([ChatMessage(.user, "Text: \(MemoryPrompt.clean(text))\n\nWrite one short question that this text answers. Reply with the question only.")])
            let generated = try writer.generate(writer.encode(ask).map { .token($0) }, parameters: .init(maxTokens: 40, sampling: greedy))
            guard let mark = generated.text.firstIndex(of: "?") else { continue }
            let question = generated.text[...mark].trimmingCharacters(in: .whitespacesAndNewlines)
            guard question.count >= 8 else { continue }

            let teacherPrompt = try prompt.question(question, memories: [.text(text)])
            let answer = try llm.generate(teacherPrompt, parameters: .init(maxTokens: 24, sampling: greedy))
            guard !answer.tokens.isEmpty, answer.finishReason == .stop else { continue }
            let full = teacherPrompt + (answer.tokens + [end]).map { .token($0) }
            let logits = try llm.model.forward(full, state: llm.model.makeState(capacity: full.count), logits: .all)
            let vocab = llm.model.config.vocabSize
            // The teacher's distribution at each answer position and at the end of its turn.
            let teacher = (0...answer.tokens.count).map { j in
                top(logits, row: teacherPrompt.count - 1 + j, vocab: vocab, count: teacherTop)
            }
            examples.append(ProjectorExample(vector: vector, text: text, question: question, answer: answer.tokens, teacher: teacher))
        }
        return examples
    }

    /// Stage 2 without a question-writing model: cloze questions. In each sentence of a passage a number
    /// (a year, a count, a date's day) or a capitalised name not at the sentence's start is blanked out; the
    /// question is the sentence with the blank, the answer the blanked span, learned as gold tokens (no
    /// teacher). The soft token is the whole passage's: the student must read the missing fact from it.
    public static func cloze(_ passages: [String], encoder: SentenceEncoder, llm: LanguageModel, perSentence: Int = 2) throws -> [ProjectorExample] {
        let vectors = try encoder.embed(passages)
        var examples: [ProjectorExample] = []
        for (text, vector) in zip(passages, vectors) {
            for sentence in SentenceSplitter.split(text).map({ String(text[$0]) }) {
                for (question, answer) in clozeItems(sentence).prefix(perSentence) {
                    examples.append(ProjectorExample(vector: vector, text: text, question: question,
                                                     answer: llm.tokenizer.encode(answer, addBOS: false, parseSpecial: false), teacher: nil))
                }
            }
        }
        return examples
    }

    /// Spans a cloze item blanks out: numbers, and runs of capitalised words after a sentence's first word.
    static let clozeSpans: [NSRegularExpression] = [
        #"\b\d[\d,.]*\d\b|\b\d\b"#,
        #"(?<=\S\s)(?:[A-Z][\p{L}'’-]+)(?:\s(?:of|de|the|von|van)?\s?[A-Z][\p{L}'’-]+)*"#,
    ].compactMap { try? NSRegularExpression(pattern: $0) }

    /// A sentence's cloze items: (the sentence with one span replaced by "____" as a fill-in question, the span).
    /// Spans: numbers ("1066", "3,000", "25.5") and runs of capitalised words after the first word ("Duke of
    /// Normandy" counts its "of"). Sentences under 6 words give none.
    public static func clozeItems(_ sentence: String) -> [(question: String, answer: String)] {
        let trimmed = sentence.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.split(separator: " ").count >= 6 else { return [] }
        var items: [(String, String)] = []
        var seen = Set<String>()
        for regex in clozeSpans {
            let ns = trimmed as NSString
            for match in regex.matches(in: trimmed, range: NSRange(location: 0, length: ns.length)) {
                let span = ns.substring(with: match.range).trimmingCharacters(in: .whitespaces)
                guard span.count >= 1, seen.insert(span).inserted else { continue }
                let blanked = ns.replacingCharacters(in: match.range, with: "____")
                items.append(("Fill in the blank: " + blanked, span))
            }
        }
        return items
    }

    /// The `count` most likely tokens of one row of logits, renormalised.
    static func top(_ logits: [Float], row: Int, vocab: Int, count: Int) -> [(id: Int32, p: Float)] {
        let z = logits[(row * vocab)..<((row + 1) * vocab)]
        let mx = z.max() ?? 0
        var pairs = z.enumerated().map { (id: Int32($0.offset), p: exp($0.element - mx)) }
        pairs.sort { $0.p > $1.p }
        let kept = Array(pairs.prefix(count))
        let sum = kept.reduce(0) { $0 + $1.p }
        return kept.map { ($0.id, $0.p / sum) }
    }
}
