import Foundation

/// BERT's WordPiece tokenizer, configured from the model's `tokenizer.json` and following its pipeline
/// in order: special tokens split out of the raw text, then the BertNormalizer (clean text, pad CJK
/// ideographs, strip accents, lower-case), the BertPreTokenizer (whitespace and punctuation), greedy
/// longest-match WordPiece, and the `[CLS] … [SEP]` template with truncation.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int32]
    public let tokens: [String]
    public let unknownID: Int32
    public let clsID: Int32
    public let sepID: Int32
    /// Most tokens per sequence, `[CLS]` and `[SEP]` included.
    public let maxLength: Int

    let cleanText: Bool
    let handleChineseChars: Bool
    let stripAccents: Bool
    let lowercase: Bool
    let subwordPrefix: String
    let maxCharsPerWord: Int
    /// Added special tokens matched verbatim in the raw text (e.g. a literal "[SEP]").
    let specialTokens: [(text: String, id: Int32)]

    public init(tokenizerJSON path: String, maxLength: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(.fileNotFound, "\(path): cannot read the tokenizer file")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError(.corrupt, "\(path): not a JSON object")
        }
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "WordPiece",
              let vocab = model["vocab"] as? [String: Int], !vocab.isEmpty
        else { throw ModelError(.unsupported, "\(path): expected a WordPiece model with a vocabulary") }
        let normalizer = root["normalizer"] as? [String: Any] ?? [:]
        guard normalizer.isEmpty || normalizer["type"] as? String == "BertNormalizer" else {
            throw ModelError(.unsupported, "\(path): normalizer \(normalizer["type"] ?? "?") is not supported (BertNormalizer expected)")
        }

        var byID = [String](repeating: "", count: (vocab.values.max() ?? 0) + 1)
        var table: [String: Int32] = [:]
        table.reserveCapacity(vocab.count)
        for (token, id) in vocab {
            guard id >= 0, id < byID.count else { throw ModelError(.corrupt, "\(path): token id \(id) out of range") }
            byID[id] = token
            table[token] = Int32(id)
        }
        func id(_ token: String) throws -> Int32 {
            guard let id = table[token] else { throw ModelError(.corrupt, "\(path): vocabulary lacks \(token)") }
            return id
        }
        vocabulary = table
        tokens = byID
        unknownID = try id(model["unk_token"] as? String ?? "[UNK]")
        clsID = try id("[CLS]")
        sepID = try id("[SEP]")
        self.maxLength = max(2, maxLength)
        subwordPrefix = model["continuing_subword_prefix"] as? String ?? "##"
        maxCharsPerWord = model["max_input_chars_per_word"] as? Int ?? 100
        cleanText = normalizer["clean_text"] as? Bool ?? true
        handleChineseChars = normalizer["handle_chinese_chars"] as? Bool ?? true
        lowercase = normalizer["lowercase"] as? Bool ?? true
        // As in HF tokenizers: strip_accents null means "follow lowercase".
        stripAccents = normalizer["strip_accents"] as? Bool ?? lowercase
        let added = root["added_tokens"] as? [[String: Any]] ?? []
        specialTokens = added.compactMap { entry in
            guard entry["special"] as? Bool == true, let text = entry["content"] as? String, !text.isEmpty,
                  let id = entry["id"] as? Int else { return nil }
            return (text, Int32(id))
        }.sorted { $0.text.count > $1.text.count }  // longest first: leftmost-longest matching
    }

    /// Token ids of `text` as the model reads it: `[CLS]`, word pieces truncated to fit, `[SEP]`.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [clsID]
        appendPieces(of: text, to: &ids, limit: maxLength - 1)
        ids.append(sepID)
        return ids
    }

    /// Word pieces in `text`, not truncated and without `[CLS]`/`[SEP]` (for sizing chunks).
    public func count(_ text: String) -> Int {
        var ids: [Int32] = []
        appendPieces(of: text, to: &ids, limit: .max)
        return ids.count
    }

    /// Appends the pieces of `text` until `ids` holds `limit` ids.
    private func appendPieces(of text: String, to ids: inout [Int32], limit: Int) {
        for segment in splitSpecialTokens(text) {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let raw):
                for word in preTokenize(normalize(raw)) {
                    appendWordPieces(word, to: &ids)
                    if ids.count >= limit { break }
                }
            }
            if ids.count >= limit { break }
        }
        if ids.count > limit { ids.removeLast(ids.count - limit) }
    }

    /// The token strings for `ids` (for display; unknown ids show as `[UNK]`).
    public func tokenStrings(_ ids: [Int32]) -> [String] {
        ids.map { Int($0) < tokens.count && $0 >= 0 ? tokens[Int($0)] : "[UNK]" }
    }

    // MARK: - Pipeline stages

    enum Segment { case text(String), special(Int32) }

    func splitSpecialTokens(_ text: String) -> [Segment] {
        guard !specialTokens.isEmpty, text.contains("[") || specialTokens.contains(where: { !$0.text.hasPrefix("[") }) else {
            return [.text(text)]
        }
        var segments: [Segment] = []
        var rest = Substring(text)
        var pending = ""
        outer: while !rest.isEmpty {
            for (token, id) in specialTokens where rest.hasPrefix(token) {
                if !pending.isEmpty { segments.append(.text(pending)); pending = "" }
                segments.append(.special(id))
                rest = rest.dropFirst(token.count)
                continue outer
            }
            pending.append(rest.removeFirst())
        }
        if !pending.isEmpty { segments.append(.text(pending)) }
        return segments
    }

    /// BertNormalizer, on Unicode scalars (Rust `char`s in the reference implementation).
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
                if Self.isWhitespace(s) { out.append(" "); continue }
            }
            if handleChineseChars && Self.isCJK(s) {
                out.append(" "); out.append(s); out.append(" ")
            } else {
                out.append(s)
            }
        }
        if stripAccents {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: out)
            out = String(view).decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if lowercase {
            out = out.flatMap { s -> [Unicode.Scalar] in
                s.properties.changesWhenLowercased ? Array(s.properties.lowercaseMapping.unicodeScalars) : [s]
            }
        }
        return out
    }

    /// BertPreTokenizer: split on whitespace (dropped) and punctuation (kept as one-character words).
    func preTokenize(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in scalars {
            if Self.isWhitespace(s) {
                if !current.isEmpty { words.append(current); current = [] }
            } else if Self.isPunctuation(s) {
                if !current.isEmpty { words.append(current); current = [] }
                words.append([s])
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Greedy longest-match-first WordPiece; a word with any unmatched piece becomes one `[UNK]`.
    func appendWordPieces(_ word: [Unicode.Scalar], to ids: inout [Int32]) {
        guard word.count <= maxCharsPerWord else { ids.append(unknownID); return }
        var pieces: [Int32] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                var piece = start > 0 ? subwordPrefix : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocabulary[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { ids.append(unknownID); return }
            pieces.append(id)
            start = end
        }
        ids.append(contentsOf: pieces)
    }

    // MARK: - Character classes, as HF tokenizers defines them

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}
