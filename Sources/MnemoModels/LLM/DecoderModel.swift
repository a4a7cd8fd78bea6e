import Foundation
import MnemoTensor

/// One position of a decoder's input: a token id, or a raw input vector of `dim` floats that takes
/// the place of a token's embedding row (a "soft token": a memory projected into the model's input
/// space).
public enum DecoderInput: Sendable, Equatable {
    case token(Int32)
    case vector([Float])
}

/// Which positions of a forward pass need logits.
public enum LogitsRequest: Sendable {
    case last, all
}

/// A Llama or Qwen2 decoder with its weights in place in a mapped GGUF file.
///
/// The layer is the usual pre-norm block: RMSNorm → grouped-query attention with RoPE (Qwen2 adds
/// q/k/v biases) → residual; RMSNorm → SwiGLU feed-forward → residual. Matrices stay in their block
/// formats (`QuantizedMatrix`); only norms and biases are read as floats. The model itself is
/// immutable and may be shared; each sequence's keys, values and scratch live in a `DecoderState`.
public final class DecoderModel: Sendable {
    struct Layer: Sendable {
        let attnNorm, ffnNorm: FloatBuffer
        let wq, wk, wv, wo: QuantizedMatrix
        let bq, bk, bv: FloatBuffer?
        let gate, up, down: QuantizedMatrix
    }

    public let config: DecoderConfig
    public let file: GGUFFile
    /// Seconds loading spent checking every weight's scales for NaN and infinity (reported by `mnemo bench llm`).
    public let finiteCheckSeconds: Double
    let embeddings: QuantizedMatrix
    let outputNorm: FloatBuffer
    let output: QuantizedMatrix
    let layers: [Layer]
    let rope: RoPE

    public convenience init(path: String) throws {
        try self.init(gguf: GGUFFile(path: path))
    }

    public init(gguf: GGUFFile) throws {
        let config = try DecoderConfig(gguf: gguf)
        self.config = config
        file = gguf
        let c = config
        func matrix(_ name: String, rows: Int, cols: Int) throws -> QuantizedMatrix {
            guard let t = gguf.tensors[name] else { throw ModelError(.wrongTensor, "\(gguf.path): tensor '\(name)' is missing") }
            guard t.shape == [cols, rows] else {
                throw ModelError(.wrongTensor, "\(gguf.path): tensor '\(name)' has shape \(t.shape), expected [\(cols), \(rows)]")
            }
            let type = Int32(t.type.rawValue)
            guard QuantizedMatrix.supports(type: type) else {
                throw ModelError(.unsupported, "\(gguf.path): tensor '\(name)' is \(t.type), which Mnemo cannot multiply (F32, F16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K)")
            }
            guard cols % t.type.blockSize == 0 else {
                throw ModelError(.wrongTensor, "\(gguf.path): tensor '\(name)' rows of \(cols) are not whole \(t.type) blocks")
            }
            let data = try base(of: t)
            try requireFinite(t, data, values: rows * cols)
            return QuantizedMatrix(type: type, rows: rows, cols: cols, data: data)
        }
        // A NaN or infinite weight (or block scale) turns every answer into garbage: refuse the file.
        var checkSeconds = 0.0
        func requireFinite(_ t: GGUFTensorInfo, _ data: UnsafeRawPointer, values: Int) throws {
            let start = ContinuousClock.now
            defer { checkSeconds += (ContinuousClock.now - start).seconds }
            if let at = QuantizedMatrix.firstNonFinite(type: Int32(t.type.rawValue), data: data, count: values) {
                throw ModelError(.corrupt, "\(gguf.path): tensor '\(t.name)' holds a value that is not a finite number (NaN or infinity, at value \(at))")
            }
        }
        func base(of t: GGUFTensorInfo) throws -> UnsafeRawPointer {
            guard let p = gguf.bytes(of: t).baseAddress else { throw ModelError(.wrongTensor, "\(gguf.path): tensor '\(t.name)' is empty") }
            return p
        }
        func vector(_ name: String, count: Int) throws -> FloatBuffer {
            guard let t = gguf.tensors[name] else { throw ModelError(.wrongTensor, "\(gguf.path): tensor '\(name)' is missing") }
            guard t.shape == [count], t.type == .f32 || t.type == .f16 else {
                throw ModelError(.wrongTensor, "\(gguf.path): tensor '\(name)' is \(t.type) \(t.shape), expected F32 [\(count)]")
            }
            let out = FloatBuffer(count: count)
            let data = try base(of: t)
            try requireFinite(t, data, values: count)
            QuantizedMatrix(type: Int32(t.type.rawValue), rows: 1, cols: count, data: data)
                .dequantizeRow(0, into: out.pointer)
            return out
        }
        func optionalVector(_ name: String, count: Int) throws -> FloatBuffer? {
            gguf.tensors[name] == nil ? nil : try vector(name, count: count)
        }

        embeddings = try matrix("token_embd.weight", rows: c.vocabSize, cols: c.dim)
        outputNorm = try vector("output_norm.weight", count: c.dim)
        // Tied embeddings: without an output matrix the embedding matrix maps back to the vocabulary.
        output = gguf.tensors["output.weight"] == nil ? embeddings : try matrix("output.weight", rows: c.vocabSize, cols: c.dim)
        layers = try (0..<c.layers).map { i in
            let p = "blk.\(i)."
            return Layer(
                attnNorm: try vector(p + "attn_norm.weight", count: c.dim),
                ffnNorm: try vector(p + "ffn_norm.weight", count: c.dim),
                wq: try matrix(p + "attn_q.weight", rows: c.qDim, cols: c.dim),
                wk: try matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.dim),
                wv: try matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.dim),
                wo: try matrix(p + "attn_output.weight", rows: c.dim, cols: c.qDim),
                bq: try optionalVector(p + "attn_q.bias", count: c.qDim),
                bk: try optionalVector(p + "attn_k.bias", count: c.kvDim),
                bv: try optionalVector(p + "attn_v.bias", count: c.kvDim),
                gate: try matrix(p + "ffn_gate.weight", rows: c.ffnDim, cols: c.dim),
                up: try matrix(p + "ffn_up.weight", rows: c.ffnDim, cols: c.dim),
                down: try matrix(p + "ffn_down.weight", rows: c.dim, cols: c.ffnDim)
            )
        }
        rope = RoPE(c)
        finiteCheckSeconds = checkSeconds
    }

    /// A fresh sequence state (KV cache and scratch) holding up to `capacity` positions.
    public func makeState(capacity: Int? = nil) -> DecoderState {
        DecoderState(config: config, capacity: min(capacity ?? 4096, config.contextLength))
    }

    /// Token `id`'s input embedding row (what a soft token stands in for).
    public func embedding(of id: Int32) -> [Float] {
        var row = [Float](repeating: 0, count: config.dim)
        row.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { embeddings.dequantizeRow(Int(id), into: p) } }
        return row
    }

    /// Runs `inputs` at the positions after those already in `state`, appends their keys and values
    /// to it, and returns the logits (`[vocab]` for `.last`, `[inputs × vocab]` for `.all`).
    /// Long inputs are processed in batches of `state.batchCapacity`.
    public func forward(_ inputs: [DecoderInput], state: DecoderState, logits request: LogitsRequest = .last) throws -> [Float] {
        guard !inputs.isEmpty else { throw ModelError(.badInput, "forward: no inputs") }
        guard state.count + inputs.count <= state.capacity else {
            throw ModelError(.badInput, "the sequence would reach \(state.count + inputs.count) positions; this context holds \(state.capacity)")
        }
        for input in inputs {
            switch input {
            case .token(let id):
                guard id >= 0, Int(id) < config.vocabSize else {
                    throw ModelError(.badInput, "token id \(id) is outside the vocabulary (0..<\(config.vocabSize))")
                }
            case .vector(let v):
                guard v.count == config.dim else {
                    throw ModelError(.badInput, "an input vector has \(v.count) values; this model's width is \(config.dim)")
                }
                guard v.allSatisfy({ $0.isFinite }) else { throw ModelError(.badInput, "an input vector holds NaN or infinity") }
            }
        }
        // One batch (every decode step): its logits are the result, not copied into another array.
        if inputs.count <= state.batchCapacity {
            return forwardBatch(inputs[...], state: state, logitsRows: request == .all ? inputs.count : 1)
        }
        var result: [Float] = []
        result.reserveCapacity(request == .all ? inputs.count * config.vocabSize : config.vocabSize)
        var start = 0
        while start < inputs.count {
            let end = min(start + state.batchCapacity, inputs.count)
            let wantAll = request == .all
            let isLastBatch = end == inputs.count
            let logits = forwardBatch(inputs[start..<end], state: state, logitsRows: wantAll ? end - start : (isLastBatch ? 1 : 0))
            result.append(contentsOf: logits)
            start = end
        }
        return result
    }

    /// One batch: embeddings, the layers, and logits for the last `logitsRows` positions.
    private func forwardBatch(_ inputs: ArraySlice<DecoderInput>, state: DecoderState, logitsRows: Int) -> [Float] {
        let c = config, n = inputs.count, p0 = state.count
        let ws = state.workspace
        let x = ws.x.pointer, h = ws.h.pointer
        for (i, input) in inputs.enumerated() {
            switch input {
            case .token(let id): embeddings.dequantizeRow(Int(id), into: x + i * c.dim)
            case .vector(let v): _ = UnsafeMutableBufferPointer(start: x + i * c.dim, count: c.dim).update(fromContentsOf: v)
            }
        }
        let cosTable = ws.ropeCos.pointer, sinTable = ws.ropeSin.pointer
        rope.fillTables(positions: p0..<p0 + n, cos: cosTable, sin: sinTable)
        let group = c.heads / c.kvHeads
        let scale = 1 / Float(c.headDim).squareRoot()

        for (l, layer) in layers.enumerated() {
            // Attention block.
            h.update(from: x, count: n * c.dim)
            Kernels.rmsNorm(h, rows: n, dim: c.dim, gamma: layer.attnNorm.pointer, eps: c.normEps)
            let q = ws.q.pointer
            let k = state.keys[l].pointer + p0 * c.kvDim, v = state.values[l].pointer + p0 * c.kvDim
            QuantizedMatrix.multiply([(layer.wq, q), (layer.wk, k), (layer.wv, v)], input: h, count: n, scratch: ws.quantized, sgemmMinimumRows: state.sgemmMinimumRows, eightBit: !state.floatBatches)
            if let b = layer.bq { addBias(b, to: q, rows: n, cols: c.qDim) }
            if let b = layer.bk { addBias(b, to: k, rows: n, cols: c.kvDim) }
            if let b = layer.bv { addBias(b, to: v, rows: n, cols: c.kvDim) }
            rope.rotate(q, rows: n, heads: c.heads, cos: cosTable, sin: sinTable)
            rope.rotate(k, rows: n, heads: c.kvHeads, cos: cosTable, sin: sinTable)

            let attn = ws.attn.pointer, keys = state.keys[l].pointer, values = state.values[l].pointer
            let visible = p0 + n
            Parallel.forEach(c.heads) { heads in
                let scores = ws.scores.pointer + heads.lowerBound * visible
                for head in heads {
                    let kv = head / group
                    Kernels.attention(
                        q: q + head * c.headDim, ldq: c.qDim,
                        k: keys + kv * c.headDim, ldk: c.kvDim, v: values + kv * c.headDim, ldv: c.kvDim,
                        out: attn + head * c.headDim, ldo: c.qDim, queries: n, keys: visible, headDim: c.headDim,
                        scale: scale, causalOffset: p0, scratch: scores)
                }
            }
            QuantizedMatrix.multiply([(layer.wo, h)], input: attn, count: n, scratch: ws.quantized, sgemmMinimumRows: state.sgemmMinimumRows, eightBit: !state.floatBatches)
            Kernels.add(h, into: x, count: n * c.dim)

            // Feed-forward block.
            h.update(from: x, count: n * c.dim)
            Kernels.rmsNorm(h, rows: n, dim: c.dim, gamma: layer.ffnNorm.pointer, eps: c.normEps)
            let g = ws.gate.pointer, u = ws.up.pointer
            QuantizedMatrix.multiply([(layer.gate, g), (layer.up, u)], input: h, count: n, scratch: ws.quantized, sgemmMinimumRows: state.sgemmMinimumRows, eightBit: !state.floatBatches)
            Kernels.swiglu(gate: g, up: u, count: n * c.ffnDim)
            QuantizedMatrix.multiply([(layer.down, h)], input: g, count: n, scratch: ws.quantized, sgemmMinimumRows: state.sgemmMinimumRows, eightBit: !state.floatBatches)
            Kernels.add(h, into: x, count: n * c.dim)
            if logitsRows > 0, let slot = state.captureLayers.firstIndex(of: l) {
                state.captured[slot] = Array(UnsafeBufferPointer(start: x + (n - 1) * c.dim, count: c.dim))
            }
        }
        state.count += n

        guard logitsRows > 0 else { return [] }
        let first = x + (n - logitsRows) * c.dim
        Kernels.rmsNorm(first, rows: logitsRows, dim: c.dim, gamma: outputNorm.pointer, eps: c.normEps)
        // The output matrix writes every entry: no zero-fill of vocabulary-sized rows first.
        return [Float](unsafeUninitializedCapacity: logitsRows * c.vocabSize) { out, initialized in
            if let p = out.baseAddress, logitsRows == 1, let head = state.outputRows, head.kept < head.tail, head.tail <= c.vocabSize {
                // A draft's cheaper head: only the frequent rows and the special tokens after them.
                p.initialize(repeating: -.infinity, count: c.vocabSize)
                var parts = [(output.rows(0..<head.kept), p)]
                if head.tail < c.vocabSize { parts.append((output.rows(head.tail..<c.vocabSize), p + head.tail)) }
                QuantizedMatrix.multiply(parts, input: first, count: 1, scratch: ws.quantized, sgemmMinimumRows: state.sgemmMinimumRows, eightBit: !state.floatBatches)
            } else if let p = out.baseAddress {
                QuantizedMatrix.multiply([(output, p)], input: first, count: logitsRows, scratch: ws.quantized, sgemmMinimumRows: state.sgemmMinimumRows, eightBit: !state.floatBatches)
            }
            initialized = logitsRows * c.vocabSize
        }
    }

    private func addBias(_ bias: FloatBuffer, to x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { Kernels.add(bias.pointer, into: x + r * cols, count: cols) }
    }
}

/// One sequence's state for a `DecoderModel`: the key/value cache of every layer, and scratch.
///
/// `truncate(to:)` forgets positions from the end (rollback, rejected speculative tokens): the
/// cache is append-only, so dropping the tail is all it takes. Not for concurrent use.
public final class DecoderState: @unchecked Sendable {
    public let capacity: Int
    /// Positions held.
    public internal(set) var count = 0
    /// Most positions one forward batch processes; longer inputs run in several batches.
    public let batchCapacity: Int
    /// Batches of at least this many positions run the batch path (below); smaller ones (and
    /// decoding) block dot products on 8-bit activations, as llama.cpp does. `Int.max` keeps every
    /// batch on the block dot products.
    public var sgemmMinimumRows = QuantizedMatrix.defaultSgemmMinimumRows
    /// The batch path: 8-bit matrix products where the CPU has VNNI, else sgemm on float tiles of the
    /// weights. True keeps sgemm on every CPU (a comparison with float arithmetic, as in training).
    public var floatBatches = false
    /// A draft model's cheaper output head: logits only for rows `0..<kept` (a byte-level BPE vocabulary
    /// numbers its tokens roughly by merge order, so the common ones come first) and `tail..<vocab` (the
    /// special tokens at the end); every other logit is -infinity. Nil: every row. Only single-position
    /// logits use it; the target still checks every drafted token against its full vocabulary.
    public var outputRows: (kept: Int, tail: Int)?
    /// Layers whose output (the residual stream) at the last position of a forward is kept in `captured`,
    /// in this order: what an answerability probe reads. Empty: nothing is copied.
    public var captureLayers: [Int] = [] {
        didSet { captured = captureLayers.map { _ in [] } }
    }
    /// The last forward's captured rows, one per `captureLayers` entry (empty until a forward ran).
    public internal(set) var captured: [[Float]] = []
    let keys: [FloatBuffer]
    let values: [FloatBuffer]
    let workspace: Workspace

    final class Workspace {
        let x, h, q, attn, gate, up, scores, ropeCos, ropeSin: FloatBuffer
        let quantized: UnsafeMutableRawPointer

        init(config c: DecoderConfig, batch n: Int, capacity: Int) {
            x = FloatBuffer(count: n * c.dim)
            h = FloatBuffer(count: n * max(c.dim, c.qDim))
            q = FloatBuffer(count: n * c.qDim)
            attn = FloatBuffer(count: n * c.qDim)
            gate = FloatBuffer(count: n * c.ffnDim)
            up = FloatBuffer(count: n * c.ffnDim)
            scores = FloatBuffer(count: c.heads * capacity, zeroed: false)
            ropeCos = FloatBuffer(count: n * c.ropeDim / 2)
            ropeSin = FloatBuffer(count: n * c.ropeDim / 2)
            // Quantised activations: at most 36 bytes per 32 floats (Q8_1), or 4 per float (F32);
            // the widest input is the feed-forward's; up to three formats in one call.
            quantized = UnsafeMutableRawPointer.allocate(byteCount: 3 * n * max(c.ffnDim, c.qDim, c.dim) * 4 + 64, alignment: 64)
        }

        deinit { quantized.deallocate() }
    }

    init(config c: DecoderConfig, capacity: Int, batch: Int = 256) {
        self.capacity = capacity
        batchCapacity = max(1, min(batch, capacity))
        // Not zeroed: untouched pages of a long context cost no memory until they are written.
        keys = (0..<c.layers).map { _ in FloatBuffer(count: capacity * c.kvDim, zeroed: false) }
        values = (0..<c.layers).map { _ in FloatBuffer(count: capacity * c.kvDim, zeroed: false) }
        workspace = Workspace(config: c, batch: batchCapacity, capacity: capacity)
    }

    /// Forgets every position from `position` on.
    public func truncate(to position: Int) {
        count = max(0, min(count, position))
    }

    /// Forgets everything.
    public func reset() { count = 0 }
}
