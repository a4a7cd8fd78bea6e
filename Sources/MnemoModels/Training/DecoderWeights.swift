import Foundation
import MnemoTensor

/// A decoder's weights as plain floats, `[out, in]` row-major as GGUF stores them.
///
/// Training needs the transpose products (`dX = dY · W`) that the block kernels do not provide, and
/// the weights are frozen, so they are dequantised once: 0.5 GB for SmolLM2-135M, 2 GB for 0.5B.
public struct DecoderWeights: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public var attnNorm, ffnNorm: FloatBuffer
        public var wq, wk, wv, wo: FloatBuffer
        public var bq, bk, bv: FloatBuffer?
        public var gate, up, down: FloatBuffer
    }

    public var embeddings: FloatBuffer
    public var outputNorm: FloatBuffer
    /// The output matrix; the same buffer as `embeddings` when they are tied.
    public var output: FloatBuffer
    public var layers: [Layer]

    /// Random weights of the given shape (finite-difference tests), uniform in ±scale, norms near 1.
    public static func random(_ c: DecoderConfig, seed: UInt64, scale: Float = 0.3, biases: Bool = true) -> DecoderWeights {
        var rng = SeededRandom(seed: seed)
        func buffer(_ count: Int, around center: Float = 0, spread: Float = scale) -> FloatBuffer {
            let b = FloatBuffer(count: count)
            for i in 0..<count { b[i] = center + spread * (2 * Float(rng.nextUnit()) - 1) }
            return b
        }
        let embeddings = buffer(c.vocabSize * c.dim, spread: 1)
        return DecoderWeights(
            embeddings: embeddings, outputNorm: buffer(c.dim, around: 1, spread: 0.2), output: buffer(c.vocabSize * c.dim),
            layers: (0..<c.layers).map { _ in
                Layer(attnNorm: buffer(c.dim, around: 1, spread: 0.2), ffnNorm: buffer(c.dim, around: 1, spread: 0.2),
                      wq: buffer(c.qDim * c.dim), wk: buffer(c.kvDim * c.dim), wv: buffer(c.kvDim * c.dim), wo: buffer(c.dim * c.qDim),
                      bq: biases ? buffer(c.qDim) : nil, bk: biases ? buffer(c.kvDim) : nil, bv: biases ? buffer(c.kvDim) : nil,
                      gate: buffer(c.ffnDim * c.dim), up: buffer(c.ffnDim * c.dim), down: buffer(c.dim * c.ffnDim))
            })
    }
}

extension DecoderModel {
    /// Every matrix dequantised to floats (rows in parallel).
    public func floatWeights() -> DecoderWeights {
        func floats(_ m: QuantizedMatrix) -> FloatBuffer {
            let out = FloatBuffer(count: m.rows * m.cols, zeroed: false)
            Parallel.forEach(m.rows, minChunk: 64) { rows in
                for r in rows { m.dequantizeRow(r, into: out.pointer + r * m.cols) }
            }
            return out
        }
        let embeddingFloats = floats(embeddings)
        let tied = output.data == embeddings.data
        return DecoderWeights(
            embeddings: embeddingFloats, outputNorm: outputNorm, output: tied ? embeddingFloats : floats(output),
            layers: layers.map { l in
                DecoderWeights.Layer(attnNorm: l.attnNorm, ffnNorm: l.ffnNorm,
                                     wq: floats(l.wq), wk: floats(l.wk), wv: floats(l.wv), wo: floats(l.wo),
                                     bq: l.bq, bk: l.bk, bv: l.bv,
                                     gate: floats(l.gate), up: floats(l.up), down: floats(l.down))
            })
    }
}
