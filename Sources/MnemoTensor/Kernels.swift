import CKernels

/// Row-wise and element-wise kernels shared by the models, in place on row-major data.
/// The arithmetic lives in the CKernels C target (AVX2+FMA when the CPU has it).
public enum Kernels {
    /// LayerNorm over each row of `x[rows×dim]`: (x − mean) / sqrt(var + eps) · gamma + beta.
    public static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float
    ) {
        mk_layer_norm(x, rows, dim, gamma, beta, eps)
    }

    /// RMSNorm over each row of `x[rows×dim]`: x / sqrt(mean(x²) + eps) · gamma.
    public static func rmsNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int, gamma: UnsafePointer<Float>, eps: Float) {
        mk_rms_norm(x, rows, dim, gamma, eps)
    }

    /// SwiGLU in place: gate = silu(gate) · up.
    public static func swiglu(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        mk_swiglu(gate, up, count)
    }

    /// Softmax of `x[0..<count]` in place.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) { mk_softmax(x, count) }

    /// GELU, exact erf form as BERT uses it: x · ½ · (1 + erf(x / √2)).
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) { mk_gelu_erf(x, count) }

    /// y += x
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) { mk_add(y, x, count) }

    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float { mk_dot(a, b, count) }

    /// Scales `x` to unit L2 norm (left as is when its norm is zero).
    public static func l2Normalize(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let sq = mk_dot(x, x, count)
        guard sq > 0 else { return }
        let inv = 1 / sq.squareRoot()
        for i in 0..<count { x[i] *= inv }
    }

    /// Scaled dot-product attention of one head; see `mk_attention` in CKernels.h for the layout.
    /// `causalOffset` nil: every query sees every key; else query i sees keys j ≤ i + causalOffset.
    public static func attention(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        out: UnsafeMutablePointer<Float>, ldo: Int, queries: Int, keys: Int, headDim: Int, scale: Float,
        causalOffset: Int?, scratch: UnsafeMutablePointer<Float>
    ) {
        mk_attention(q, ldq, k, ldk, v, ldv, out, ldo, queries, keys, headDim, scale, causalOffset ?? -1, scratch)
    }
}
