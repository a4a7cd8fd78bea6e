import Foundation
import MnemoTensor

/// A frozen decoder that can pass gradients back to its inputs: the forward pass keeps what the
/// backward needs (a `Tape`), and the backward returns d(loss)/d(input vector) for every position.
///
/// Only input gradients are computed (the weights never train), so every linear layer's backward is
/// one product `dX = dY · W` and no weight gradient is formed. Several sequences are packed back to
/// back in one pass, each with its own positions and causal attention, so the matrix products see
/// hundreds of rows. The arithmetic is the inference decoder's (`DecoderModel`) in plain floats.
public final class TrainableDecoder: @unchecked Sendable {
    public let config: DecoderConfig
    public let weights: DecoderWeights
    let rope: RoPE

    public init(config: DecoderConfig, weights: DecoderWeights) {
        self.config = config
        self.weights = weights
        rope = RoPE(config)
    }

    public convenience init(_ model: DecoderModel) {
        self.init(config: model.config, weights: model.floatWeights())
    }

    /// What a forward pass keeps for the backward, and its logits.
    public final class Tape {
        struct Layer {
            let xIn, rAttn, q, k, v, probs, xMid, rFfn, gate, up: FloatBuffer
        }
        public let rows: Int
        let starts: [Int], lengths: [Int]
        /// Offsets of each sequence's attention probabilities (`heads × L × L`) in a layer's `probs`.
        let probOffsets: [Int]
        let probCount: Int
        var layers: [Layer] = []
        var xFinal: FloatBuffer!
        var rFinal: FloatBuffer!
        let ropeCos, ropeSin: FloatBuffer
        /// The rows that have logits, in order.
        public let logitRows: [Int]
        /// `[logitRows.count × vocab]`.
        public let logits: FloatBuffer

        init(config c: DecoderConfig, lengths: [Int], logitRows: [Int]) {
            self.lengths = lengths
            var starts: [Int] = [], offsets: [Int] = [], row = 0, prob = 0
            for l in lengths {
                starts.append(row); offsets.append(prob)
                row += l; prob += c.heads * l * l
            }
            self.starts = starts
            probOffsets = offsets
            probCount = prob
            rows = row
            self.logitRows = logitRows
            logits = FloatBuffer(count: max(1, logitRows.count) * c.vocabSize, zeroed: false)
            ropeCos = FloatBuffer(count: rows * c.ropeDim / 2)
            ropeSin = FloatBuffer(count: rows * c.ropeDim / 2)
        }
    }

    /// Runs the packed `sequences` and computes logits at `logitRows` (indices into the packed rows).
    public func forward(_ sequences: [[DecoderInput]], logitRows: [Int]) throws -> Tape {
        let c = config
        guard !sequences.isEmpty, sequences.allSatisfy({ !$0.isEmpty }) else { throw ModelError(.badInput, "training batch: an empty sequence") }
        let tape = Tape(config: c, lengths: sequences.map(\.count), logitRows: logitRows)
        let n = tape.rows
        guard logitRows.allSatisfy({ (0..<n).contains($0) }) else { throw ModelError(.badInput, "training batch: a logit row is outside the batch") }

        // Embeddings.
        let x = FloatBuffer(count: n * c.dim)
        var row = 0
        for sequence in sequences {
            for input in sequence {
                let dst = x.pointer + row * c.dim
                switch input {
                case .token(let id):
                    guard id >= 0, Int(id) < c.vocabSize else { throw ModelError(.badInput, "token id \(id) is outside the vocabulary") }
                    dst.update(from: weights.embeddings.pointer + Int(id) * c.dim, count: c.dim)
                case .vector(let v):
                    guard v.count == c.dim else { throw ModelError(.badInput, "an input vector has \(v.count) values; this model's width is \(c.dim)") }
                    v.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: c.dim) }
                }
                row += 1
            }
        }
        for (start, length) in zip(tape.starts, tape.lengths) {
            let offset = start * c.ropeDim / 2
            rope.fillTables(positions: 0..<length, cos: tape.ropeCos.pointer + offset, sin: tape.ropeSin.pointer + offset)
        }

        let h = FloatBuffer(count: n * max(c.dim, c.qDim))
        let attn = FloatBuffer(count: n * c.qDim)
        let swi = FloatBuffer(count: n * c.ffnDim)
        for layer in weights.layers {
            let xIn = copy(x), rAttn = FloatBuffer(count: n)
            rmsNorm(x.pointer, into: h.pointer, rows: n, gamma: layer.attnNorm.pointer, r: rAttn.pointer)
            let q = FloatBuffer(count: n * c.qDim), k = FloatBuffer(count: n * c.kvDim), v = FloatBuffer(count: n * c.kvDim)
            BLAS.linear(h.pointer, rows: n, inputs: c.dim, weight: layer.wq.pointer, bias: layer.bq?.pointer, outputs: c.qDim, into: q.pointer)
            BLAS.linear(h.pointer, rows: n, inputs: c.dim, weight: layer.wk.pointer, bias: layer.bk?.pointer, outputs: c.kvDim, into: k.pointer)
            BLAS.linear(h.pointer, rows: n, inputs: c.dim, weight: layer.wv.pointer, bias: layer.bv?.pointer, outputs: c.kvDim, into: v.pointer)
            rope.rotate(q.pointer, rows: n, heads: c.heads, cos: tape.ropeCos.pointer, sin: tape.ropeSin.pointer)
            rope.rotate(k.pointer, rows: n, heads: c.kvHeads, cos: tape.ropeCos.pointer, sin: tape.ropeSin.pointer)
            let probs = FloatBuffer(count: tape.probCount)
            attentionForward(q: q.pointer, k: k.pointer, v: v.pointer, probs: probs.pointer, out: attn.pointer, tape: tape)
            BLAS.linear(attn.pointer, rows: n, inputs: c.qDim, weight: layer.wo.pointer, bias: nil, outputs: c.dim, into: h.pointer)
            Kernels.add(h.pointer, into: x.pointer, count: n * c.dim)

            let xMid = copy(x), rFfn = FloatBuffer(count: n)
            rmsNorm(x.pointer, into: h.pointer, rows: n, gamma: layer.ffnNorm.pointer, r: rFfn.pointer)
            let gate = FloatBuffer(count: n * c.ffnDim), up = FloatBuffer(count: n * c.ffnDim)
            BLAS.linear(h.pointer, rows: n, inputs: c.dim, weight: layer.gate.pointer, bias: nil, outputs: c.ffnDim, into: gate.pointer)
            BLAS.linear(h.pointer, rows: n, inputs: c.dim, weight: layer.up.pointer, bias: nil, outputs: c.ffnDim, into: up.pointer)
            swi.pointer.update(from: gate.pointer, count: n * c.ffnDim)
            Kernels.swiglu(gate: swi.pointer, up: up.pointer, count: n * c.ffnDim)
            BLAS.linear(swi.pointer, rows: n, inputs: c.ffnDim, weight: layer.down.pointer, bias: nil, outputs: c.dim, into: h.pointer)
            Kernels.add(h.pointer, into: x.pointer, count: n * c.dim)
            tape.layers.append(.init(xIn: xIn, rAttn: rAttn, q: q, k: k, v: v, probs: probs, xMid: xMid, rFfn: rFfn, gate: gate, up: up))
        }
        tape.xFinal = x
        tape.rFinal = FloatBuffer(count: n)
        let t = logitRows.count
        if t > 0 {
            // Only the rows with logits are normalised (and only their r is read by the backward).
            let normed = FloatBuffer(count: t * c.dim)
            for (i, r) in logitRows.enumerated() {
                rmsNorm(x.pointer + r * c.dim, into: normed.pointer + i * c.dim, rows: 1, gamma: weights.outputNorm.pointer, r: tape.rFinal.pointer + r)
            }
            BLAS.linear(normed.pointer, rows: t, inputs: c.dim, weight: weights.output.pointer, bias: nil, outputs: c.vocabSize, into: tape.logits.pointer)
        }
        return tape
    }

    /// d(loss)/d(input) for every packed row, `[rows × dim]`, given d(loss)/d(logits) for the tape's
    /// logit rows (`[logitRows.count × vocab]`).
    public func backward(_ tape: Tape, logitGradients: UnsafePointer<Float>) -> FloatBuffer {
        let c = config, n = tape.rows
        let dx = FloatBuffer(count: n * c.dim)
        let t = tape.logitRows.count
        if t > 0 {
            let dh = FloatBuffer(count: t * c.dim)
            BLAS.linearBackward(logitGradients, rows: t, outputs: c.vocabSize, weight: weights.output.pointer, inputs: c.dim, into: dh.pointer, accumulate: false)
            for (i, r) in tape.logitRows.enumerated() {
                rmsNormBackward(x: tape.xFinal.pointer + r * c.dim, r: tape.rFinal[r], gamma: weights.outputNorm.pointer,
                                dy: dh.pointer + i * c.dim, into: dx.pointer + r * c.dim)
            }
        }
        let dh = FloatBuffer(count: n * c.dim)
        let dSwi = FloatBuffer(count: n * c.ffnDim), dUp = FloatBuffer(count: n * c.ffnDim)
        let dAttn = FloatBuffer(count: n * c.qDim)
        let dq = FloatBuffer(count: n * c.qDim), dk = FloatBuffer(count: n * c.kvDim), dv = FloatBuffer(count: n * c.kvDim)
        for (layer, saved) in zip(weights.layers, tape.layers).reversed() {
            // Feed-forward: x += down(silu(gate(h)) · up(h)), h = rmsNorm(xMid).
            BLAS.linearBackward(dx.pointer, rows: n, outputs: c.dim, weight: layer.down.pointer, inputs: c.ffnDim, into: dSwi.pointer, accumulate: false)
            Parallel.forEach(n * c.ffnDim, minChunk: 4096) { range in
                for i in range {
                    let a = saved.gate[i], b = saved.up[i], s = dSwi.pointer[i]
                    let sig = 1 / (1 + exp(-a))
                    dUp.pointer[i] = s * a * sig
                    dSwi.pointer[i] = s * b * sig * (1 + a * (1 - sig))
                }
            }
            BLAS.linearBackward(dSwi.pointer, rows: n, outputs: c.ffnDim, weight: layer.gate.pointer, inputs: c.dim, into: dh.pointer, accumulate: false)
            BLAS.linearBackward(dUp.pointer, rows: n, outputs: c.ffnDim, weight: layer.up.pointer, inputs: c.dim, into: dh.pointer, accumulate: true)
            for r in 0..<n {
                rmsNormBackward(x: saved.xMid.pointer + r * c.dim, r: saved.rFfn[r], gamma: layer.ffnNorm.pointer,
                                dy: dh.pointer + r * c.dim, into: dx.pointer + r * c.dim)
            }

            // Attention: x += wo(attention(rope(wq h), rope(wk h), wv h)), h = rmsNorm(xIn).
            BLAS.linearBackward(dx.pointer, rows: n, outputs: c.dim, weight: layer.wo.pointer, inputs: c.qDim, into: dAttn.pointer, accumulate: false)
            dk.pointer.update(repeating: 0, count: n * c.kvDim)
            dv.pointer.update(repeating: 0, count: n * c.kvDim)
            attentionBackward(saved: saved, dOut: dAttn.pointer, dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, tape: tape)
            rope.rotate(dq.pointer, rows: n, heads: c.heads, cos: tape.ropeCos.pointer, sin: tape.ropeSin.pointer, inverse: true)
            rope.rotate(dk.pointer, rows: n, heads: c.kvHeads, cos: tape.ropeCos.pointer, sin: tape.ropeSin.pointer, inverse: true)
            BLAS.linearBackward(dq.pointer, rows: n, outputs: c.qDim, weight: layer.wq.pointer, inputs: c.dim, into: dh.pointer, accumulate: false)
            BLAS.linearBackward(dk.pointer, rows: n, outputs: c.kvDim, weight: layer.wk.pointer, inputs: c.dim, into: dh.pointer, accumulate: true)
            BLAS.linearBackward(dv.pointer, rows: n, outputs: c.kvDim, weight: layer.wv.pointer, inputs: c.dim, into: dh.pointer, accumulate: true)
            for r in 0..<n {
                rmsNormBackward(x: saved.xIn.pointer + r * c.dim, r: saved.rAttn[r], gamma: layer.attnNorm.pointer,
                                dy: dh.pointer + r * c.dim, into: dx.pointer + r * c.dim)
            }
        }
        return dx
    }

    // MARK: - Pieces

    private func copy(_ b: FloatBuffer) -> FloatBuffer {
        let out = FloatBuffer(count: b.count, zeroed: false)
        out.pointer.initialize(from: b.pointer, count: b.count)
        return out
    }

    /// y = x · r · gamma with r = 1/sqrt(mean(x²) + eps), keeping r per row.
    private func rmsNorm(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, gamma: UnsafePointer<Float>, r: UnsafeMutablePointer<Float>) {
        let d = config.dim
        for row in 0..<rows {
            let xr = x + row * d, yr = y + row * d
            let ms = Kernels.dot(xr, xr, count: d) / Float(d)
            let inv = 1 / (ms + config.normEps).squareRoot()
            r[row] = inv
            for j in 0..<d { yr[j] = xr[j] * inv * gamma[j] }
        }
    }

    /// dx += d/dx of rmsNorm for one row: r·g·dy − x · r³/d · Σ g·dy·x.
    private func rmsNormBackward(x: UnsafePointer<Float>, r: Float, gamma: UnsafePointer<Float>, dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let d = config.dim
        var sum: Float = 0
        for j in 0..<d { sum += gamma[j] * dy[j] * x[j] }
        let coef = r * r * r * sum / Float(d)
        for j in 0..<d { dx[j] += r * gamma[j] * dy[j] - x[j] * coef }
    }

    /// Causal attention of each sequence and head, keeping the probabilities.
    private func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  probs: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, tape: Tape) {
        let c = config, scale = 1 / Float(c.headDim).squareRoot()
        let tasks = tape.lengths.count * c.heads
        Parallel.forEach(tasks) { range in
            for task in range {
                let s = task / c.heads, head = task % c.heads, kv = head / (c.heads / c.kvHeads)
                let l = tape.lengths[s], start = tape.starts[s]
                let p = probs + tape.probOffsets[s] + head * l * l
                let qh = q + start * c.qDim + head * c.headDim
                let kh = k + start * c.kvDim + kv * c.headDim, vh = v + start * c.kvDim + kv * c.headDim
                BLAS.gemmNT(m: l, n: l, k: c.headDim, alpha: scale, a: qh, lda: c.qDim, b: kh, ldb: c.kvDim, c: p, ldc: l)
                for i in 0..<l {
                    let rowP = p + i * l
                    for j in (i + 1)..<max(i + 1, l) { rowP[j] = 0 }
                    Kernels.softmax(rowP, count: i + 1)
                }
                BLAS.gemmNN(m: l, n: c.headDim, k: l, a: p, lda: l, b: vh, ldb: c.kvDim,
                            c: out + start * c.qDim + head * c.headDim, ldc: c.qDim)
            }
        }
    }

    /// Gradients of q, k, v (after RoPE) from the gradient of the attention output. Tasks are
    /// (sequence, key/value head) pairs so that the heads sharing a k/v head add into it in turn.
    private func attentionBackward(saved: Tape.Layer, dOut: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>,
                                   dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, tape: Tape) {
        let c = config, scale = 1 / Float(c.headDim).squareRoot(), group = c.heads / c.kvHeads
        Parallel.forEach(tape.lengths.count * c.kvHeads) { range in
            for task in range {
                let s = task / c.kvHeads, kv = task % c.kvHeads
                let l = tape.lengths[s], start = tape.starts[s]
                let dP = UnsafeMutablePointer<Float>.allocate(capacity: l * l)
                defer { dP.deallocate() }
                let kh = saved.k.pointer + start * c.kvDim + kv * c.headDim, vh = saved.v.pointer + start * c.kvDim + kv * c.headDim
                let dkh = dk + start * c.kvDim + kv * c.headDim, dvh = dv + start * c.kvDim + kv * c.headDim
                for head in kv * group..<(kv + 1) * group {
                    let p = saved.probs.pointer + tape.probOffsets[s] + head * l * l
                    let dOh = dOut + start * c.qDim + head * c.headDim
                    let qh = saved.q.pointer + start * c.qDim + head * c.headDim
                    // dP = dO · Vᵀ; dV += Pᵀ · dO.
                    BLAS.gemmNT(m: l, n: l, k: c.headDim, a: dOh, lda: c.qDim, b: vh, ldb: c.kvDim, c: dP, ldc: l)
                    BLAS.gemmTN(m: l, n: c.headDim, k: l, a: p, lda: l, b: dOh, ldb: c.qDim, beta: 1, c: dvh, ldc: c.kvDim)
                    // dS = P ⊙ (dP − Σ_j P·dP), over the visible keys of each row.
                    for i in 0..<l {
                        let pr = p + i * l, dr = dP + i * l
                        var dot: Float = 0
                        for j in 0...i { dot += pr[j] * dr[j] }
                        for j in 0...i { dr[j] = pr[j] * (dr[j] - dot) }
                        for j in (i + 1)..<max(i + 1, l) { dr[j] = 0 }
                    }
                    // dQ = scale · dS · K; dK += scale · dSᵀ · Q.
                    BLAS.gemmNN(m: l, n: c.headDim, k: l, alpha: scale, a: dP, lda: l, b: kh, ldb: c.kvDim,
                                c: dq + start * c.qDim + head * c.headDim, ldc: c.qDim)
                    BLAS.gemmTN(m: l, n: c.headDim, k: l, alpha: scale, a: dP, lda: l, b: qh, ldb: c.qDim, beta: 1, c: dkh, ldc: c.kvDim)
                }
            }
        }
    }
}
