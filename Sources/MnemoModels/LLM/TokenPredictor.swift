import Foundation

/// A sequence model seen from the token loop: it holds the positions fed so far and gives the
/// next-token logits after them. Rollback and speculative decoding need nothing more (feed, truncate),
/// so the real decoder and small test doubles over fixed distributions plug in alike.
public protocol TokenPredictor: AnyObject {
    /// Logits per position.
    var vocabularySize: Int { get }
    /// Positions held.
    var count: Int { get }
    /// Most positions it can hold.
    var capacity: Int { get }
    /// Feeds `tokens` after the positions held and returns the logits after the last one (`.last`:
    /// `vocabularySize` floats) or after each (`.all`: `tokens.count × vocabularySize`, row-major).
    func feed(_ tokens: [Int32], logits: LogitsRequest) throws -> [Float]
    /// Forgets every position from `count` on.
    func truncate(to count: Int)
}

/// A `DecoderModel` with one sequence's `DecoderState`.
public final class DecoderPredictor: TokenPredictor {
    public let model: DecoderModel
    public let state: DecoderState

    public init(model: DecoderModel, state: DecoderState) {
        self.model = model
        self.state = state
    }

    public var vocabularySize: Int { model.config.vocabSize }
    public var count: Int { state.count }
    public var capacity: Int { state.capacity }

    public func feed(_ tokens: [Int32], logits: LogitsRequest) throws -> [Float] {
        try model.forward(tokens.map { .token($0) }, state: state, logits: logits)
    }

    public func truncate(to count: Int) { state.truncate(to: count) }
}

extension TokenPredictor {
    /// −Σ ln p(tᵢ | everything before it) for `tokens` following the positions held, where
    /// `firstLogits` is the distribution after those positions (p at temperature 1, the whole
    /// vocabulary). Feeds every token but the last in one pass. Perplexity is exp(result / count).
    public func negativeLogLikelihood(of tokens: [Int32], firstLogits: [Float]) throws -> Double {
        guard !tokens.isEmpty else { return 0 }
        let v = vocabularySize
        guard firstLogits.count == v else { throw ModelError(.badInput, "first logits have \(firstLogits.count) entries, not \(v)") }
        var rows = firstLogits
        if tokens.count > 1 { rows += try feed(Array(tokens.dropLast()), logits: .all) }
        var sum = 0.0
        for (i, id) in tokens.enumerated() {
            guard id >= 0, Int(id) < v else { throw ModelError(.badInput, "token id \(id) is outside the vocabulary (0..<\(v))") }
            let row = rows[i * v..<(i + 1) * v]
            let m = Double(row.max() ?? 0)
            var z = 0.0
            for x in row { z += exp(Double(x) - m) }
            sum += m + log(z) - Double(row[row.startIndex + Int(id)])
        }
        return sum
    }
}
