import COpenBLAS

/// The few BLAS calls Mnemo needs, over OpenBLAS. Matrices are row-major; weights are stored as
/// PyTorch and GGUF store them, `[out, in]`, so a linear layer is `X · Wᵀ`.
public enum BLAS {
    /// Threads for matrix work. OpenBLAS itself stays single-threaded: its idle workers spin and
    /// starve the threads Mnemo runs its own kernels on (measured: 2 threads slower than 1 on 2
    /// cores), so `linear` splits its output over `Parallel` instead, one single-threaded sgemm each.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(1)
        Parallel.threads = max(1, count)
    }

    public static var threads: Int { Parallel.threads }

    /// The kernel family OpenBLAS picked for this CPU (e.g. "Zen", "Haswell", "SkylakeX").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C, with leading dimensions given explicitly so that
    /// sub-matrices (one attention head inside a fused QKV row) need no copy.
    @inline(__always)
    public static func gemmNT(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[m×n] = alpha · A[m×k] · B[k×n] + beta · C.
    @inline(__always)
    public static func gemmNN(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[m×n] = alpha · A[k×m]ᵀ · B[k×n] + beta · C.
    @inline(__always)
    public static func gemmTN(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// dX[rows×in] (+)= dY[rows×out] · W[out×in]: the gradient of a linear layer's input.
    public static func linearBackward(
        _ dy: UnsafePointer<Float>, rows: Int, outputs: Int,
        weight: UnsafePointer<Float>, inputs: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let beta: Float = accumulate ? 1 : 0
        if rows >= 32 {
            Parallel.forEach(rows, minChunk: 16) { r in
                gemmNN(m: r.count, n: inputs, k: outputs, a: dy + r.lowerBound * outputs, lda: outputs,
                       b: weight, ldb: inputs, beta: beta, c: dx + r.lowerBound * inputs, ldc: inputs)
            }
        } else {
            Parallel.forEach(inputs, minChunk: 64) { i in
                gemmNN(m: rows, n: i.count, k: outputs, a: dy, lda: outputs, b: weight + i.lowerBound, ldb: inputs,
                       beta: beta, c: dx + i.lowerBound, ldc: inputs)
            }
        }
    }

    /// Y[rows×out] = X[rows×in] · W[out×in]ᵀ + bias: a linear layer over a batch of rows.
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inputs: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outputs: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        let beta: Float = bias == nil ? 0 : 1
        if rows >= 32 {
            // Batches: split rows; each thread multiplies its rows by the whole weight.
            Parallel.forEach(rows, minChunk: 16) { r in
                if let bias { for i in r { (y + i * outputs).update(from: bias, count: outputs) } }
                gemmNT(m: r.count, n: outputs, k: inputs, a: x + r.lowerBound * inputs, lda: inputs,
                       b: weight, ldb: inputs, beta: beta, c: y + r.lowerBound * outputs, ldc: outputs)
            }
        } else {
            // A few rows: split the outputs, so each thread reads its own slice of the weight.
            Parallel.forEach(outputs, minChunk: 64) { o in
                if let bias { for i in 0..<rows { (y + i * outputs + o.lowerBound).update(from: bias + o.lowerBound, count: o.count) } }
                gemmNT(m: rows, n: o.count, k: inputs, a: x, lda: inputs, b: weight + o.lowerBound * inputs, ldb: inputs,
                       beta: beta, c: y + o.lowerBound, ldc: outputs)
            }
        }
    }
}
