import Foundation
import MnemoErrors

/// A SQuAD 2.0 file (its original JSON layout): paragraphs and their questions.
public struct SquadDataset: Sendable {
    public struct Paragraph: Sendable {
        public var id: String
        public var title: String
        public var context: String
    }
    public struct Question: Sendable {
        public var id: String
        public var text: String
        public var paragraphID: String
        public var answers: [String]
        public var isImpossible: Bool
    }
    public var paragraphs: [Paragraph] = []
    public var questions: [Question] = []

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MnemoError(.notFound, "\(path): cannot read the SQuAD file")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let articles = root["data"] as? [[String: Any]] else {
            throw MnemoError(.badInput, "\(path): not a SQuAD JSON file (no top-level \"data\" array)")
        }
        for article in articles {
            let title = article["title"] as? String ?? "untitled"
            for (i, p) in (article["paragraphs"] as? [[String: Any]] ?? []).enumerated() {
                guard let context = p["context"] as? String else { continue }
                let pid = "\(title)-\(i)"
                paragraphs.append(Paragraph(id: pid, title: title, context: context))
                for q in p["qas"] as? [[String: Any]] ?? [] {
                    guard let text = q["question"] as? String else { continue }
                    let answers = (q["answers"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
                    questions.append(Question(id: q["id"] as? String ?? "", text: text, paragraphID: pid, answers: answers,
                                              isImpossible: q["is_impossible"] as? Bool ?? answers.isEmpty))
                }
            }
        }
        guard !paragraphs.isEmpty else { throw MnemoError(.badInput, "\(path): no paragraphs found") }
    }
}
