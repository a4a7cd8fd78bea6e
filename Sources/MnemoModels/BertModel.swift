import Foundation
import MnemoTensor

/// BERT's configuration, decoded from the model's `config.json`.
public struct BertConfig: Codable, Sendable {
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var hiddenAct: String

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    public var headDim: Int { hiddenSize / numAttentionHeads }

    func validate(path: String) throws {
        let fields = [hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, vocabSize, maxPositionEmbeddings, typeVocabSize]
        guard fields.allSatisfy({ $0 > 0 && $0 < 1 << 20 }), hiddenSize % numAttentionHeads == 0 else {
            throw ModelError(.badConfig, "\(path): implausible sizes (hidden \(hiddenSize), heads \(numAttentionHeads), layers \(numHiddenLayers))")
        }
        guard hiddenAct == "gelu" else {
            throw ModelError(.unsupported, "\(path): activation '\(hiddenAct)' is not supported (gelu expected)")
        }
    }
}

/// A BERT encoder (the transformer body; pooling is the caller's), weights in float32.
///
/// Sequences of a batch are packed one after another into a single `[tokens × hidden]` matrix, so the
/// linear layers run as one sgemm over every real token and no compute is spent on padding; attention
/// runs per sequence and head on strided views of the fused QKV matrix.
public final class BertModel: Sendable {
    struct Layer {
        let qkvWeight: FloatBuffer  // [3·hidden, hidden]: query, key, value rows fused into one matmul
        let qkvBias: FloatBuffer
        let outWeight, outBias, norm1Weight, norm1Bias: FloatBuffer
        let upWeight, upBias, downWeight, downBias, norm2Weight, norm2Bias: FloatBuffer
    }

    public let config: BertConfig
    let wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embedNormWeight, embedNormBias: FloatBuffer
    let layers: [Layer]

    public init(config: BertConfig, weights file: SafeTensorsFile) throws {
        self.config = config
        let h = config.hiddenSize, f = config.intermediateSize
        wordEmbeddings = try file.float32("embeddings.word_embeddings.weight", shape: [config.vocabSize, h])
        positionEmbeddings = try file.float32("embeddings.position_embeddings.weight", shape: [config.maxPositionEmbeddings, h])
        tokenTypeEmbeddings = try file.float32("embeddings.token_type_embeddings.weight", shape: [config.typeVocabSize, h])
        embedNormWeight = try file.float32("embeddings.LayerNorm.weight", shape: [h])
        embedNormBias = try file.float32("embeddings.LayerNorm.bias", shape: [h])
        layers = try (0..<config.numHiddenLayers).map { i in
            let p = "encoder.layer.\(i)."
            let parts = try ["query", "key", "value"].map { name in
                (try file.float32(p + "attention.self.\(name).weight", shape: [h, h]),
                 try file.float32(p + "attention.self.\(name).bias", shape: [h]))
            }
            let qkvWeight = FloatBuffer(count: 3 * h * h, zeroed: false)
            let qkvBias = FloatBuffer(count: 3 * h, zeroed: false)
            for (j, (w, b)) in parts.enumerated() {
                (qkvWeight.pointer + j * h * h).update(from: w.pointer, count: h * h)
                (qkvBias.pointer + j * h).update(from: b.pointer, count: h)
            }
            return Layer(
                qkvWeight: qkvWeight, qkvBias: qkvBias,
                outWeight: try file.float32(p + "attention.output.dense.weight", shape: [h, h]),
                outBias: try file.float32(p + "attention.output.dense.bias", shape: [h]),
                norm1Weight: try file.float32(p + "attention.output.LayerNorm.weight", shape: [h]),
                norm1Bias: try file.float32(p + "attention.output.LayerNorm.bias", shape: [h]),
                upWeight: try file.float32(p + "intermediate.dense.weight", shape: [f, h]),
                upBias: try file.float32(p + "intermediate.dense.bias", shape: [f]),
                downWeight: try file.float32(p + "output.dense.weight", shape: [h, f]),
                downBias: try file.float32(p + "output.dense.bias", shape: [h]),
                norm2Weight: try file.float32(p + "output.LayerNorm.weight", shape: [h]),
                norm2Bias: try file.float32(p + "output.LayerNorm.bias", shape: [h])
            )
        }
        // position_ids is a constant buffer (0..<512) and the pooler head is not part of a sentence
        // embedding: both are known and deliberately unused.
        file.ignore(["embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"])
        try file.finish()
    }

    /// Runs the encoder over several token sequences and returns the last hidden states, packed:
    /// rows `offsets[i]..<offsets[i+1]` belong to sequence `i`.
    public func forward(_ sequences: [[Int32]]) throws -> (hidden: FloatBuffer, offsets: [Int]) {
        let h = config.hiddenSize, f = config.intermediateSize
        let heads = config.numAttentionHeads, hd = config.headDim
        var offsets = [0]
        var n = 0
        for s in sequences {
            guard s.count <= config.maxPositionEmbeddings else {
                throw ModelError(.badInput, "sequence of \(s.count) tokens exceeds the model's \(config.maxPositionEmbeddings) positions")
            }
            n += s.count
            offsets.append(n)
        }
        let x = FloatBuffer(count: n * h, zeroed: false)

        // Embeddings: word + position + token type 0, then LayerNorm.
        for (i, s) in sequences.enumerated() {
            for (pos, token) in s.enumerated() {
                guard token >= 0, Int(token) < config.vocabSize else {
                    throw ModelError(.badInput, "token id \(token) is outside the vocabulary (\(config.vocabSize))")
                }
                let row = x.pointer + (offsets[i] + pos) * h
                let word = wordEmbeddings.pointer + Int(token) * h
                let position = positionEmbeddings.pointer + pos * h
                for d in 0..<h { row[d] = word[d] + position[d] + tokenTypeEmbeddings.pointer[d] }
            }
        }
        Kernels.layerNorm(x.pointer, rows: n, dim: h, gamma: embedNormWeight.pointer, beta: embedNormBias.pointer, eps: config.layerNormEps)

        let qkv = FloatBuffer(count: n * 3 * h, zeroed: false)
        let context = FloatBuffer(count: n * h, zeroed: false)
        let projected = FloatBuffer(count: n * h, zeroed: false)
        let up = FloatBuffer(count: n * f, zeroed: false)
        let longest = sequences.map(\.count).max() ?? 0
        let scale = 1 / Float(hd).squareRoot()
        let eps = config.layerNormEps
        // (sequence, head) pairs are independent attention problems.
        let pairs = sequences.indices.flatMap { i in (0..<heads).map { (i, $0) } }

        for layer in layers {
            BLAS.linear(x.pointer, rows: n, inputs: h, weight: layer.qkvWeight.pointer, bias: layer.qkvBias.pointer,
                        outputs: 3 * h, into: qkv.pointer)
            Parallel.forEach(pairs.count) { range in
                let scratch = FloatBuffer(count: max(1, longest), zeroed: false)
                for (i, head) in pairs[range] {
                    let len = offsets[i + 1] - offsets[i]
                    let base = qkv.pointer + offsets[i] * 3 * h + head * hd
                    Kernels.attention(q: base, ldq: 3 * h, k: base + h, ldk: 3 * h, v: base + 2 * h, ldv: 3 * h,
                                      out: context.pointer + offsets[i] * h + head * hd, ldo: h,
                                      queries: len, keys: len, headDim: hd, scale: scale,
                                      causalOffset: nil, scratch: scratch.pointer)
                }
            }
            BLAS.linear(context.pointer, rows: n, inputs: h, weight: layer.outWeight.pointer, bias: layer.outBias.pointer,
                        outputs: h, into: projected.pointer)
            Parallel.forEach(n, minChunk: 16) { rows in
                let at = rows.lowerBound * h
                Kernels.add(projected.pointer + at, into: x.pointer + at, count: rows.count * h)
                Kernels.layerNorm(x.pointer + at, rows: rows.count, dim: h, gamma: layer.norm1Weight.pointer,
                                  beta: layer.norm1Bias.pointer, eps: eps)
            }

            BLAS.linear(x.pointer, rows: n, inputs: h, weight: layer.upWeight.pointer, bias: layer.upBias.pointer,
                        outputs: f, into: up.pointer)
            Parallel.forEach(n, minChunk: 16) { rows in
                Kernels.geluErf(up.pointer + rows.lowerBound * f, count: rows.count * f)
            }
            BLAS.linear(up.pointer, rows: n, inputs: f, weight: layer.downWeight.pointer, bias: layer.downBias.pointer,
                        outputs: h, into: projected.pointer)
            Parallel.forEach(n, minChunk: 16) { rows in
                let at = rows.lowerBound * h
                Kernels.add(projected.pointer + at, into: x.pointer + at, count: rows.count * h)
                Kernels.layerNorm(x.pointer + at, rows: rows.count, dim: h, gamma: layer.norm2Weight.pointer,
                                  beta: layer.norm2Bias.pointer, eps: eps)
            }
        }
        return (x, offsets)
    }
}
