import Foundation
import MnemoTensor

/// A sentence-transformers model directory run end to end: WordPiece tokens → BERT → mean pooling over
/// the tokens → L2 normalisation. One text in, one unit vector out.
public final class SentenceEncoder: Sendable {
    public let name: String
    public let directory: String
    public let tokenizer: WordPieceTokenizer
    public let model: BertModel
    public var dimension: Int { model.config.hiddenSize }

    public init(directory: String) throws {
        self.directory = directory
        name = URL(fileURLWithPath: directory).lastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError(.fileNotFound, "\(directory): encoder directory not found (run `make setup`, or set MNEMO_MODELS)")
        }
        func path(_ file: String) -> String { (directory as NSString).appendingPathComponent(file) }

        let config = try Self.decode(BertConfig.self, from: path("config.json"))
        try config.validate(path: path("config.json"))
        let sbert = try? Self.decode(SentenceBertConfig.self, from: path("sentence_bert_config.json"))
        if let pooling = try? Self.decode(PoolingConfig.self, from: path("1_Pooling/config.json")),
           pooling.poolingModeMeanTokens != true {
            throw ModelError(.unsupported, "\(path("1_Pooling/config.json")): only mean pooling is supported")
        }
        let maxLength = min(sbert?.maxSeqLength ?? 256, config.maxPositionEmbeddings)
        tokenizer = try WordPieceTokenizer(tokenizerJSON: path("tokenizer.json"), maxLength: maxLength)
        guard tokenizer.tokens.count <= config.vocabSize else {
            throw ModelError(.badConfig, "\(path("tokenizer.json")): \(tokenizer.tokens.count) tokens exceed the model's vocabulary of \(config.vocabSize)")
        }
        model = try BertModel(config: config, weights: SafeTensorsFile(path: path("model.safetensors")))
    }

    /// Unit-length embeddings of `texts`, in order, computed `batchSize` texts per forward pass.
    /// `progress` is told how many texts are done after each batch.
    public func embed(_ texts: [String], batchSize: Int = 32, progress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        try embed(tokenized: texts.map(tokenizer.encode), batchSize: batchSize, progress: progress)
    }

    public func embed(tokenized: [[Int32]], batchSize: Int = 32, progress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(tokenized.count)
        let step = max(1, batchSize)
        for start in stride(from: 0, to: tokenized.count, by: step) {
            let batch = Array(tokenized[start..<min(start + step, tokenized.count)])
            let (hidden, offsets) = try model.forward(batch)
            let h = dimension
            for i in batch.indices {
                var v = [Float](repeating: 0, count: h)
                let count = offsets[i + 1] - offsets[i]
                v.withUnsafeMutableBufferPointer { dst in
                    for row in offsets[i]..<offsets[i + 1] {
                        Kernels.add(hidden.pointer + row * h, into: dst.baseAddress!, count: h)
                    }
                    if count > 0 {
                        let inv = 1 / Float(count)
                        for d in 0..<h { dst[d] *= inv }
                    }
                    Kernels.l2Normalize(dst.baseAddress!, count: h)
                }
                // Never hand out a vector search can't rank (finite weights can still overflow).
                guard v.allSatisfy(\.isFinite) else {
                    throw ModelError(.badInput, "text \(start + i + 1) of \(tokenized.count) gives a vector that is not finite (NaN or infinity): the encoder's weights or input are broken")
                }
                out.append(v)
            }
            progress?(out.count)
        }
        return out
    }

    static func decode<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw ModelError(.unreadable, "\(path): cannot be read as this user (permission denied)")
            }
            throw ModelError(.fileNotFound, "\(path): missing")
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw ModelError(.badConfig, "\(path): \(error)")
        }
    }
}

struct SentenceBertConfig: Decodable {
    var maxSeqLength: Int?
    enum CodingKeys: String, CodingKey { case maxSeqLength = "max_seq_length" }
}

struct PoolingConfig: Decodable {
    var poolingModeMeanTokens: Bool?
    enum CodingKeys: String, CodingKey { case poolingModeMeanTokens = "pooling_mode_mean_tokens" }
}
