import Foundation
import Testing
@testable import MnemoModels

/// The pipeline stages on a tiny hand-made vocabulary, so each rule is seen on its own.
@Suite struct WordPieceTests {
    static let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "cafe", "naive", "un", "##believ", "##able", ",", "!", "东", "京", "a", "##b"]

    func tokenizer(maxLength: Int = 16, maxChars: Int = 100) throws -> WordPieceTokenizer {
        let dir = try temporaryDirectory()
        let json: [String: Any] = [
            "added_tokens": [["id": 3, "content": "[SEP]", "special": true]],
            "normalizer": ["type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": NSNull(), "lowercase": true],
            "model": ["type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": maxChars,
                      "vocab": Dictionary(uniqueKeysWithValues: Self.vocab.enumerated().map { ($1, $0) })],
        ]
        let url = dir.appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return try WordPieceTokenizer(tokenizerJSON: url.path, maxLength: maxLength)
    }

    func words(_ t: WordPieceTokenizer, _ text: String) -> [String] {
        Array(t.tokenStrings(t.encode(text)).dropFirst().dropLast())
    }

    @Test func lowercasesAndStripsAccents() throws {
        let t = try tokenizer()
        #expect(words(t, "CAFÉ Naïve") == ["cafe", "naive"])
    }

    @Test func greedyLongestMatchAndUnknownWords() throws {
        let t = try tokenizer()
        #expect(words(t, "Unbelievable!") == ["un", "##believ", "##able", "!"])
        #expect(words(t, "unbelievx") == ["[UNK]"])  // one unmatched piece makes the whole word unknown
        #expect(words(t, "ab,a") == ["a", "##b", ",", "a"])
    }

    @Test func chineseCharactersBecomeWords() throws {
        let t = try tokenizer()
        #expect(words(t, "东京") == ["东", "京"])
    }

    @Test func controlCharactersDropAndWhitespaceSplits() throws {
        let t = try tokenizer()
        #expect(words(t, "\u{0}cafe\u{200B}\tnaive\u{7}\n") == ["cafe", "naive"])
        #expect(words(t, "   ") == [])
        #expect(t.encode("") == [2, 3])
    }

    @Test func specialTokensInTextAreKept() throws {
        let t = try tokenizer()
        #expect(words(t, "cafe[SEP]naive") == ["cafe", "[SEP]", "naive"])
    }

    @Test func longWordsAreUnknownAndSequencesTruncate() throws {
        let t = try tokenizer(maxLength: 5, maxChars: 4)
        #expect(words(t, "naive") == ["[UNK]"])
        #expect(t.encode("a a a a a a a") == [2, 13, 13, 13, 3])
    }
}
