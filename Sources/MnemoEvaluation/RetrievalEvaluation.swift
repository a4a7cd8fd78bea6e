import Foundation
import MnemoCore
import MnemoIngest
import MnemoModels
import MnemoStore

extension SquadDataset {
    /// A flat store in `workDirectory` (or `record`, a shared store) with each paragraph indexed as one
    /// document through the normal ingest path, and the paragraph id of each document's source path.
    public func buildStore(encoder: SentenceEncoder, chunking: ChunkingOptions, workDirectory: String,
                           record: (any MemoryRecord)? = nil) throws -> (MemoryService, [String: String]) {
        let docs = (workDirectory as NSString).appendingPathComponent("paragraphs")
        try FileManager.default.createDirectory(atPath: docs, withIntermediateDirectories: true)
        var paragraphOfSource: [String: String] = [:]
        for (i, p) in paragraphs.enumerated() {
            let path = (docs as NSString).appendingPathComponent(String(format: "p%05d.txt", i))
            try p.context.write(toFile: path, atomically: true, encoding: .utf8)
            paragraphOfSource[URL(fileURLWithPath: path).standardizedFileURL.path] = p.id
        }
        let service = try record.map { try MemoryService(record: $0, encoder: encoder) }
            ?? MemoryService(storeDirectory: (workDirectory as NSString).appendingPathComponent("store"), encoder: encoder, access: .write(createWith: .flat))
        var options = IndexOptions()
        options.chunking = chunking
        _ = try service.index(paths: [docs], options: options)
        return (service, paragraphOfSource)
    }
}

/// Does retrieval find the paragraph that answers a question? Each SQuAD paragraph is indexed as one
/// document through the normal ingest path (so chunked as usual); a question's rank is the position
/// of its paragraph among the distinct paragraphs of the returned chunks.
public enum RetrievalEvaluation {
    public struct Result: Sendable, Codable {
        public var mode: QueryMode
        public var questions: Int
        public var hitAt1: Double
        public var hitAt5: Double
        public var mrrAt10: Double

        enum CodingKeys: String, CodingKey {
            case mode, questions
            case hitAt1 = "hit@1", hitAt5 = "hit@5", mrrAt10 = "mrr@10"
        }
    }

    public static func run(squad: SquadDataset, encoder: SentenceEncoder, modes: [QueryMode], chunking: ChunkingOptions,
                           workDirectory: String, record: (any MemoryRecord)? = nil, dumpDirectory: String? = nil) throws -> [Result] {
        let (service, paragraphOfSource) = try squad.buildStore(encoder: encoder, chunking: chunking, workDirectory: workDirectory, record: record)

        let answerable = squad.questions.filter { !$0.isImpossible }
        if let dumpDirectory { try dump(service: service, questions: answerable, paragraphOfSource: paragraphOfSource, to: dumpDirectory) }
        return try modes.map { mode in
            var hit1 = 0, hit5 = 0, rr = 0.0
            for q in answerable {
                let hits = try service.query(q.text, k: 50, mode: mode)
                var seen: [String] = []
                for h in hits {
                    if let pid = paragraphOfSource[h.chunk.source], !seen.contains(pid) { seen.append(pid) }
                }
                if let rank = seen.firstIndex(of: q.paragraphID).map({ $0 + 1 }) {
                    if rank == 1 { hit1 += 1 }
                    if rank <= 5 { hit5 += 1 }
                    if rank <= 10 { rr += 1 / Double(rank) }
                }
            }
            let n = Double(max(1, answerable.count))
            return Result(mode: mode, questions: answerable.count, hitAt1: Double(hit1) / n, hitAt5: Double(hit5) / n, mrrAt10: rr / n)
        }
    }

    /// Writes the exact chunks and questions, so a reference implementation can score the same task.
    static func dump(service: MemoryService, questions: [SquadDataset.Question], paragraphOfSource: [String: String], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let rows = try service.store.allChunkTexts()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var chunks = Data(), qs = Data()
        for row in rows {
            let pid = paragraphOfSource[row.source] ?? ""
            chunks.append(try encoder.encode(["paragraph": pid, "text": row.text]))
            chunks.append(0x0A)
        }
        for q in questions {
            qs.append(try encoder.encode(["paragraph": q.paragraphID, "question": q.text]))
            qs.append(0x0A)
        }
        try chunks.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("chunks.jsonl")))
        try qs.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("questions.jsonl")))
    }
}
