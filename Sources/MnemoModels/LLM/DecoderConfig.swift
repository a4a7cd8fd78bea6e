/// The shape of a Llama-family decoder, read from a GGUF file's `<arch>.*` metadata.
public struct DecoderConfig: Sendable, Equatable {
    /// How RoPE pairs up the dimensions of a head. GGUF's Llama weights are permuted at conversion
    /// so that rotated pairs are adjacent; Qwen2's keep Hugging Face's layout, first half against
    /// second half ("NeoX" style).
    public enum RopeStyle: String, Sendable { case adjacentPairs, halves }

    public var architecture: String
    public var layers: Int
    public var dim: Int
    public var ffnDim: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ropeDim: Int
    public var ropeBase: Double
    public var ropeStyle: RopeStyle
    public var normEps: Float
    public var contextLength: Int
    public var vocabSize: Int

    public var kvDim: Int { kvHeads * headDim }
    public var qDim: Int { heads * headDim }
    /// Keys and values of one position over all layers (f32).
    public var kvCacheBytesPerPosition: Int { layers * 2 * kvDim * MemoryLayout<Float>.size }

    public static let supportedArchitectures = ["llama", "qwen2"]

    /// A shape given directly (tests build small random decoders with it).
    public init(architecture: String, layers: Int, dim: Int, ffnDim: Int, heads: Int, kvHeads: Int, vocabSize: Int,
                ropeBase: Double = 10_000, normEps: Float = 1e-6, contextLength: Int = 2048) {
        self.architecture = architecture
        self.layers = layers
        self.dim = dim
        self.ffnDim = ffnDim
        self.heads = heads
        self.kvHeads = kvHeads
        headDim = dim / heads
        ropeDim = dim / heads
        self.ropeBase = ropeBase
        ropeStyle = architecture == "llama" ? .adjacentPairs : .halves
        self.normEps = normEps
        self.contextLength = contextLength
        self.vocabSize = vocabSize
    }

    public init(gguf: GGUFFile) throws {
        let path = gguf.path
        guard let arch = try gguf.string("general.architecture") else {
            throw ModelError(.badConfig, "\(path): no general.architecture in the metadata")
        }
        guard Self.supportedArchitectures.contains(arch) else {
            throw ModelError(.unsupported, "\(path): architecture '\(arch)' is not supported (llama, qwen2)")
        }
        func required(_ key: String) throws -> Int {
            guard let v = try gguf.int("\(arch).\(key)") else {
                throw ModelError(.badConfig, "\(path): \(arch).\(key) is missing from the metadata")
            }
            guard v > 0, v < 1 << 24 else { throw ModelError(.badConfig, "\(path): \(arch).\(key) = \(v) is implausible") }
            return v
        }
        architecture = arch
        layers = try required("block_count")
        dim = try required("embedding_length")
        ffnDim = try required("feed_forward_length")
        heads = try required("attention.head_count")
        kvHeads = try gguf.int("\(arch).attention.head_count_kv") ?? heads
        contextLength = try required("context_length")
        guard dim % heads == 0, kvHeads > 0, heads % kvHeads == 0 else {
            throw ModelError(.badConfig, "\(path): \(heads) heads and \(kvHeads) key/value heads do not divide width \(dim)")
        }
        headDim = try gguf.int("\(arch).attention.key_length") ?? dim / heads
        ropeDim = try gguf.int("\(arch).rope.dimension_count") ?? headDim
        guard ropeDim > 0, ropeDim <= headDim, ropeDim % 2 == 0, headDim % 2 == 0 else {
            throw ModelError(.badConfig, "\(path): RoPE dimension \(ropeDim) does not fit head dimension \(headDim)")
        }
        ropeBase = try gguf.float("\(arch).rope.freq_base") ?? 10_000
        ropeStyle = arch == "llama" ? .adjacentPairs : .halves
        normEps = Float(try gguf.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-6)
        guard let embd = gguf.tensors["token_embd.weight"], embd.shape.count == 2, embd.shape[0] == dim else {
            throw ModelError(.wrongTensor, "\(path): token_embd.weight is missing or not [\(dim), vocab]")
        }
        vocabSize = embd.shape[1]
    }
}
