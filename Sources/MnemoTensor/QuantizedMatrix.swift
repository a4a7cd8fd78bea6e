import CKernels

/// A weight matrix `[rows × cols]` in one of GGML's block formats, read in place from a mapped file.
///
/// `multiply` quantises the activations once into the format the blocks multiply against (Q8_0, Q8_1
/// or Q8_K; see quants.c) and computes every output as a dot product in the block formats, split
/// over `Parallel.threads` by rows. Weights are never expanded to floats.
public struct QuantizedMatrix: @unchecked Sendable {
    /// The GGUF type number (`MK_Q4_K` and friends in CKernels.h).
    public let type: Int32
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer

    public var rowBytes: Int { mk_row_size(type, cols) }
    /// Bytes of one row of activations quantised for this matrix.
    public var activationRowBytes: Int { mk_row_size(mk_activation_type(type), cols) }

    /// The types `multiply` and `dequantizeRow` handle.
    public static func supports(type: Int32) -> Bool { mk_activation_type(type) >= 0 }

    public init(type: Int32, rows: Int, cols: Int, data: UnsafeRawPointer) {
        precondition(Self.supports(type: type), "unsupported block type \(type)")
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// Row `row` as floats.
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        _ = mk_dequantize(type, data + row * rowBytes, out, cols)
    }

    /// Quantises `count` rows of activations `x[count × cols]` into `scratch` (at least
    /// `count * activationRowBytes` bytes), ready for `multiply(quantized:)`.
    public func quantize(_ x: UnsafePointer<Float>, count: Int, into scratch: UnsafeMutableRawPointer) {
        let size = activationRowBytes
        for t in 0..<count { _ = mk_quantize_activations(type, x + t * cols, scratch + t * size, cols) }
    }

    /// y[count × rows] = x[count × cols] · Wᵀ, from activations already quantised by `quantize`.
    public func multiply(quantized xq: UnsafeRawPointer, count: Int, into y: UnsafeMutablePointer<Float>) {
        Parallel.forEach(rows, minChunk: 32) { r in
            mk_matmul(type, data, cols, r.lowerBound, r.upperBound, xq, count, y, rows)
        }
    }

    /// Several matrices over the same input (Q, K and V; gate and up) in one parallel region: the
    /// activations are quantised once per format and the rows of all of them are split together.
    public static func multiply(
        _ parts: [(matrix: QuantizedMatrix, output: UnsafeMutablePointer<Float>)],
        input x: UnsafePointer<Float>, count: Int, scratch: UnsafeMutableRawPointer
    ) {
        var offsets: [Int32: Int] = [:]  // activation format -> offset of its quantised copy in scratch
        var next = 0
        var jobs: [(QuantizedMatrix, UnsafeMutablePointer<Float>, UnsafeRawPointer)] = []
        for (m, out) in parts {
            let format = mk_activation_type(m.type)
            let offset: Int
            if let known = offsets[format] {
                offset = known
            } else {
                offset = next
                offsets[format] = offset
                m.quantize(x, count: count, into: scratch + offset)
                next += count * m.activationRowBytes
            }
            jobs.append((m, out, UnsafeRawPointer(scratch + offset)))
        }
        let total = parts.reduce(0) { $0 + $1.matrix.rows }
        Parallel.forEach(total, minChunk: 32) { range in
            var start = 0
            for (m, out, xq) in jobs {
                let lo = max(range.lowerBound, start) - start, hi = min(range.upperBound, start + m.rows) - start
                if lo < hi { mk_matmul(m.type, m.data, m.cols, lo, hi, xq, count, out, m.rows) }
                start += m.rows
            }
        }
    }

    /// Scratch bytes `multiply(_:input:count:scratch:)` needs for these matrices and `count` rows.
    public static func scratchBytes(for matrices: [QuantizedMatrix], count: Int) -> Int {
        var seen = Set<Int32>()
        var bytes = 0
        for m in matrices where seen.insert(mk_activation_type(m.type)).inserted { bytes += count * m.activationRowBytes }
        return bytes
    }
}
