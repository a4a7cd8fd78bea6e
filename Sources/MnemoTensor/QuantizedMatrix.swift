import CKernels

/// A weight matrix `[rows × cols]` in one of GGML's block formats, read in place from a mapped file.
///
/// `multiply` quantises the activations once into the format the blocks multiply against (Q8_0, Q8_1
/// or Q8_K; see quants.c) and computes every output as a dot product in the block formats, split
/// over `Parallel.threads` by rows. Batches (`defaultSgemmMinimumRows` rows or more) run an 8-bit
/// matrix product where the CPU has VNNI, else expand the weights to floats a tile at a time for sgemm.
public struct QuantizedMatrix: @unchecked Sendable {
    /// The GGUF type number (`MK_Q4_K` and friends in CKernels.h).
    public let type: Int32
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer

    public var rowBytes: Int { mk_row_size(type, cols) }
    /// Bytes of one row of activations quantised for this matrix.
    public var activationRowBytes: Int { mk_row_size(mk_activation_type(type), cols) }

    /// Whether batches multiply this matrix in 8 bits (`mk_gemm`: this CPU has VNNI and the format has
    /// a kernel) rather than as float tiles through sgemm.
    public var multipliesInEightBit: Bool { mk_gemm_supported(type, cols) != 0 }

    /// The types `multiply` and `dequantizeRow` handle.
    public static func supports(type: Int32) -> Bool { mk_activation_type(type) >= 0 }

    /// The index of the first value of `count` (block-quantised as `type`, or F32/F16) that is NaN or
    /// infinite, counting a block with such a scale as its first value; nil when every value is finite.
    public static func firstNonFinite(type: Int32, data: UnsafeRawPointer, count: Int) -> Int? {
        let at = mk_first_nonfinite(type, data, count)
        return at < 0 ? nil : Int(at)
    }

    public init(type: Int32, rows: Int, cols: Int, data: UnsafeRawPointer) {
        precondition(Self.supports(type: type), "unsupported block type \(type)")
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// Rows `range` of this matrix, in place (rows are contiguous).
    public func rows(_ range: Range<Int>) -> QuantizedMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of a \(rows)-row matrix")
        return QuantizedMatrix(type: type, rows: range.count, cols: cols, data: data + range.lowerBound * rowBytes)
    }

    /// Row `row` as floats.
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        _ = mk_dequantize(type, data + row * rowBytes, out, cols)
    }

    /// Quantises `count` rows of activations `x[count × cols]` into `scratch` (at least
    /// `count * activationRowBytes` bytes), the format `mk_matmul` multiplies this matrix against.
    public func quantize(_ x: UnsafePointer<Float>, count: Int, into scratch: UnsafeMutableRawPointer) {
        let size = activationRowBytes
        for t in 0..<count { _ = mk_quantize_activations(type, x + t * cols, scratch + t * size, cols) }
    }

    /// From this many rows of activations on, `multiply` by default dequantises tiles of the weights to
    /// floats and runs sgemm instead of block dot products: the dequantisation is paid once per batch,
    /// and sgemm does more arithmetic per cycle than the int8 dot products (measured; see docs/PERFORMANCE.md).
    /// Below it (decoding, short prompts) every weight is read once per row: the block dot products win.
    public static let defaultSgemmMinimumRows = 32

    /// Several matrices over the same input (Q, K and V; gate and up) in one parallel region: the
    /// activations are quantised once per format and the rows of all of them are split together;
    /// or, for `sgemmMinimumRows` rows and more, 8-bit matrix products (where the CPU has VNNI, unless
    /// `eightBit` is false) or float tiles and sgemm.
    public static func multiply(
        _ parts: [(matrix: QuantizedMatrix, output: UnsafeMutablePointer<Float>)],
        input x: UnsafePointer<Float>, count: Int, scratch: UnsafeMutableRawPointer,
        sgemmMinimumRows: Int = defaultSgemmMinimumRows, eightBit: Bool = true
    ) {
        if count >= sgemmMinimumRows {
            // 8-bit matrix products where the CPU has VNNI (and `eightBit`); the rest goes to sgemm.
            let inEightBit = eightBit ? parts.filter { $0.matrix.multipliesInEightBit } : []
            let floats = eightBit ? parts.filter { !$0.matrix.multipliesInEightBit } : parts
            if !inEightBit.isEmpty { multiplyEightBit(inEightBit, input: x, count: count, scratch: scratch) }
            if !floats.isEmpty { multiplyDequantised(floats, input: x, count: count) }
            return
        }
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

    /// Batches where the CPU has VNNI: the activations are quantised and laid out once per activation
    /// format (split over the threads by positions), then `mk_gemm` decodes a tile of weight rows at a
    /// time and multiplies it against every position in 8 bits (see quants.c). `scratch` is 64-byte
    /// aligned and holds `mk_gemm_activation_size(cols, count)` bytes per format.
    private static func multiplyEightBit(
        _ parts: [(matrix: QuantizedMatrix, output: UnsafeMutablePointer<Float>)],
        input x: UnsafePointer<Float>, count: Int, scratch: UnsafeMutableRawPointer
    ) {
        let cols = parts[0].matrix.cols
        precondition(parts.allSatisfy { $0.matrix.cols == cols }, "matrices over one input have its width")
        let rowBytes = mk_gemm_activation_size(cols, 1)
        var prepared: [Int32: UnsafeMutableRawPointer] = [:]  // activation format -> its layout in scratch
        var jobs: [(QuantizedMatrix, UnsafeMutablePointer<Float>, UnsafeMutableRawPointer)] = []
        for (m, out) in parts {
            let format = mk_activation_type(m.type)
            let at = prepared[format] ?? {
                let at = scratch + prepared.count * count * rowBytes
                prepared[format] = at
                Parallel.forEach(count, minChunk: 4) { range in
                    mk_gemm_prepare(m.type, x + range.lowerBound * cols, cols, range.count, at + range.lowerBound * rowBytes)
                }
                return at
            }()
            jobs.append((m, out, at))
        }
        let total = parts.reduce(0) { $0 + $1.matrix.rows }
        Parallel.forEach(total, minChunk: 16) { range in
            var start = 0
            for (m, out, at) in jobs {
                let lo = max(range.lowerBound, start) - start, hi = min(range.upperBound, start + m.rows) - start
                if lo < hi {
                    let status = mk_gemm(m.type, m.data, cols, lo, hi, at, count, out, m.rows)
                    precondition(status == 0, "mk_gemm refused a matrix mk_gemm_supported accepted")
                }
                start += m.rows
            }
        }
    }

    /// Batches: each chunk of output rows is dequantised in tiles of floats and multiplied by sgemm
    /// against the float activations (which are therefore not quantised on this path).
    private static func multiplyDequantised(
        _ parts: [(matrix: QuantizedMatrix, output: UnsafeMutablePointer<Float>)],
        input x: UnsafePointer<Float>, count: Int
    ) {
        let tile = 64
        let total = parts.reduce(0) { $0 + $1.matrix.rows }
        let maxCols = parts.map(\.matrix.cols).max() ?? 0
        Parallel.forEach(total, minChunk: tile) { range in
            let weights = UnsafeMutablePointer<Float>.allocate(capacity: tile * maxCols)
            defer { weights.deallocate() }
            var start = 0
            for (m, out) in parts {
                let lo = max(range.lowerBound, start) - start, hi = min(range.upperBound, start + m.rows) - start
                var r = lo
                while r < hi {
                    let n = min(tile, hi - r)
                    for i in 0..<n { m.dequantizeRow(r + i, into: weights + i * m.cols) }
                    BLAS.gemmNT(m: count, n: n, k: m.cols, a: x, lda: m.cols, b: weights, ldb: m.cols, c: out + r, ldc: m.rows)
                    r += n
                }
                start += m.rows
            }
        }
    }
}
