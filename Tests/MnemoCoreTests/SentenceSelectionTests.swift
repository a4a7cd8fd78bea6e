import MnemoStore
import Testing
@testable import MnemoCore

/// Which sentences the sentence context modes keep, without a model: synthetic unit vectors.
@Suite struct SentenceSelectionTests {
    func unit(_ i: Int, _ w: Float = 1) -> [Float] {
        var v = [Float](repeating: 0, count: 4)
        v[i] = w
        v[(i + 1) % 4] = (1 - w * w).squareRoot()
        return v
    }

    func sentence(_ ordinal: Int, _ text: String, _ v: [Float]) -> StoredSentence { StoredSentence(ordinal: ordinal, text: text, embedding: v) }

    /// Tokens: one per word.
    let words: (String) -> Int = { $0.split(separator: " ").count }

    @Test func theClosestSentencesComeInDocumentOrderUnderTheBudget() {
        let chunks = [
            [sentence(0, "far away words here", unit(1)), sentence(1, "close one", unit(0, 0.9)), sentence(2, "closest of all", unit(0))],
            [sentence(0, "second chunk near", unit(0, 0.8)), sentence(1, "nothing", unit(2))],
        ]
        let picked = SentenceSelection(budget: 5, termWeight: 0).choose(question: "q", questionVector: unit(0), sentences: chunks, countTokens: words)
        // Scores 1.0 (3 tokens), 0.9 (2 tokens) fill the budget of 5; 0.8 does not fit.
        #expect(picked.map(\.sentence.text) == ["close one", "closest of all"])
        #expect(picked.map(\.chunk) == [0, 0])
        // A bigger budget takes the second chunk's sentence too, after the first chunk's.
        let more = SentenceSelection(budget: 8, termWeight: 0).choose(question: "q", questionVector: unit(0), sentences: chunks, countTokens: words)
        #expect(more.map(\.sentence.text) == ["close one", "closest of all", "second chunk near"])
    }

    @Test func theBestSentenceIsKeptEvenOverTheBudget() {
        let chunks = [[sentence(0, "a very long sentence that is the answer", unit(0)), sentence(1, "short", unit(1))]]
        let picked = SentenceSelection(budget: 2, termWeight: 0).choose(question: "q", questionVector: unit(0), sentences: chunks, countTokens: words)
        #expect(picked.map(\.sentence.text) == ["a very long sentence that is the answer"])
    }

    @Test func sharedContentWordsRaiseASentence() {
        let chunks = [[sentence(0, "The boiler was serviced by Dunmore Heating", unit(0, 0.7)), sentence(1, "Keys are under the pot", unit(0, 0.75))]]
        let question = "Who serviced the boiler?"
        let plain = SentenceSelection(budget: 1, termWeight: 0).choose(question: question, questionVector: unit(0), sentences: chunks, countTokens: words)
        let terms = SentenceSelection(budget: 1, termWeight: 0.3).choose(question: question, questionVector: unit(0), sentences: chunks, countTokens: words)
        #expect(plain.map(\.sentence.ordinal) == [1])
        #expect(terms.map(\.sentence.ordinal) == [0])
        #expect(SentenceSelection.contentWords(question) == ["serviced", "boiler"])
    }

    @Test func theSentenceModesAreNamedAndNeedWhatTheyUse() {
        #expect(MemoryContext(rawValue: "sentences") == .sentences)
        #expect(MemoryContext(rawValue: "soft-sentences")?.needsProjector == true)
        #expect(MemoryContext(rawValue: "soft+sentences")?.choosesSentences == true)
        #expect(!MemoryContext.sentences.needsProjector && !MemoryContext.text.choosesSentences)
    }
}
