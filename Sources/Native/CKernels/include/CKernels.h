// Hot float kernels in C: an AVX2+FMA build chosen at run time where the CPU has it, portable C
// elsewhere. (Swift SIMD code compiled without a target CPU was measured ~2x slower than this.)
#ifndef MNEMO_CKERNELS_H
#define MNEMO_CKERNELS_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the AVX2+FMA kernels are in use.
int mk_has_avx2(void);

// ---- The CPU and the BLAS kernels chosen for it (cpu.c) ----

/// Instruction sets the CPU and the OS both support, as bits.
enum {
    MK_CPU_SSE3 = 1 << 0, MK_CPU_AVX = 1 << 1, MK_CPU_AVX2 = 1 << 2, MK_CPU_FMA = 1 << 3, MK_CPU_F16C = 1 << 4,
    MK_CPU_AVX512F = 1 << 5, MK_CPU_AVX512BW = 1 << 6, MK_CPU_AVX512DQ = 1 << 7, MK_CPU_AVX512VL = 1 << 8,
    MK_CPU_AVX512VNNI = 1 << 9, MK_CPU_AVX512BF16 = 1 << 10, MK_CPU_AVXVNNI = 1 << 11
};
unsigned mk_cpu_features(void);
/// The OpenBLAS core type to use on a CPU with `features` when OpenBLAS chose `current` itself, or NULL
/// when `current` already uses every instruction set the CPU offers.
const char *mk_blas_core_for(unsigned features, const char *current);
/// OpenBLAS's kernels now in use (e.g. "SkylakeX"), and the ones it picked by itself when it loaded.
const char *mk_blas_core(void);
const char *mk_blas_detected_core(void);
/// Who chose the kernels: "openblas" (its own detection), "mnemo" (raised at start-up to match the
/// CPU), "setting" (MNEMO_BLAS_CORE named them), "environment" (OPENBLAS_CORETYPE was set), "none"
/// (no dynamic OpenBLAS).
const char *mk_blas_core_origin(void);
/// Re-initialises OpenBLAS with `core` and checks one sgemm against a plain loop; on failure the
/// previous kernels are restored. 0 on success. Only while no BLAS call runs (start-up, tests).
int mk_blas_select_core(const char *core);

/// x = x * 0.5 * (1 + erf(x / sqrt 2)), in place.
void mk_gelu_erf(float *x, size_t n);
/// Numerically stable softmax of x[0..n), in place.
void mk_softmax(float *x, size_t n);
/// LayerNorm of each of `rows` rows of `dim` floats, in place.
void mk_layer_norm(float *x, size_t rows, size_t dim, const float *gamma, const float *beta, float eps);
/// RMSNorm of each row, in place: x / sqrt(mean(x^2) + eps) * gamma.
void mk_rms_norm(float *x, size_t rows, size_t dim, const float *gamma, float eps);
/// SwiGLU, in place: gate[i] = silu(gate[i]) * up[i].
void mk_swiglu(float *gate, const float *up, size_t n);
/// y[i] += x[i]
void mk_add(float *y, const float *x, size_t n);
/// y[i] += a * x[i]
void mk_axpy(float *y, float a, const float *x, size_t n);
/// sum a[i] * b[i]
float mk_dot(const float *a, const float *b, size_t n);

/// Scaled dot-product attention for one head.
/// Queries q[m][ldq], keys k[n][ldk], values v[n][ldv] (head_dim floats used per row); output
/// out[m][ldo]. When causal_offset >= 0, query i sees keys j <= i + causal_offset; otherwise all keys.
/// `scratch` holds n floats.
void mk_attention(const float *q, size_t ldq, const float *k, size_t ldk, const float *v, size_t ldv,
                  float *out, size_t ldo, size_t m, size_t n, size_t head_dim, float scale,
                  long causal_offset, float *scratch);

// ---- Parallel loops (pool.c) ----

typedef void (*mk_chunk_fn)(void *ctx, int chunk, int chunks);
/// Runs fn(ctx, c, chunks) for every chunk c < chunks, on up to `threads` threads: the caller and a
/// persistent pool whose workers claim chunks one at a time. Nested calls, and calls while another
/// thread holds the pool, run serially on the calling thread. Returns the threads offered the work.
int mk_parallel_for(int threads, int chunks, mk_chunk_fn fn, void *ctx);

// ---- Block-quantised weights (quants.c) ----

/// GGML tensor types, numbered as in GGUF files.
enum {
    MK_F32 = 0, MK_F16 = 1, MK_Q4_0 = 2, MK_Q4_1 = 3, MK_Q5_0 = 6, MK_Q8_0 = 8, MK_Q8_1 = 9,
    MK_Q4_K = 12, MK_Q6_K = 14, MK_Q8_K = 15
};

float mk_fp16_to_fp32(unsigned short h);
unsigned short mk_fp32_to_fp16(float f);

/// Bytes taken by `n` values of `type` (n a multiple of its block size); 0 for unknown types.
size_t mk_row_size(int type, size_t n);
/// Dequantises `n` values; returns -1 for a type it does not know.
int mk_dequantize(int type, const void *src, float *dst, size_t n);
/// The format activations are quantised to for a dot product with weights of `weight_type`
/// (Q8_0, Q8_1, Q8_K or F32), or -1.
int mk_activation_type(int weight_type);
/// Quantises `n` activations into that format (`dst` holds mk_row_size(mk_activation_type(t), n) bytes).
int mk_quantize_activations(int weight_type, const float *x, void *dst, size_t n);
/// The index of the first value of `n` (of `type`) that is not finite: a NaN or infinite float, or a
/// block whose half-float scale or min is, reported as the block's first value. -1 when all are finite,
/// -2 for a type it does not know. Reads every scale once (cheap beside a forward pass).
long long mk_first_nonfinite(int type, const void *src, size_t n);
/// Dot product of one weight row of `n` values with activations quantised by mk_quantize_activations.
float mk_vec_dot(int weight_type, const void *w, const void *xq, size_t n);
/// out[t * ldo + r] = dot(weight row r, activation row t) for rows r0 <= r < r1 and tokens t < ntok.
void mk_matmul(int weight_type, const void *w, size_t cols, size_t r0, size_t r1,
               const void *xq, size_t ntok, float *out, size_t ldo);
/// Prompt batches in 8 bits (AVX-512 VNNI; Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K): whether `mk_gemm` takes
/// rows of `cols` values of this type on this CPU.
int mk_gemm_supported(int weight_type, size_t cols);
/// Bytes `mk_gemm_prepare` writes for `ntok` rows of `cols` activations.
size_t mk_gemm_activation_size(size_t cols, size_t ntok);
/// Quantises x[ntok × cols] as the decode path does for `weight_type` (Q8_K for the K-quants, Q8_0 for
/// the others) and lays it out for `mk_gemm` at `dst`,
/// 64-byte aligned; rows are `mk_gemm_activation_size(cols, 1)` bytes apart, so a range of rows can be
/// prepared on its own.
void mk_gemm_prepare(int weight_type, const float *x, size_t cols, size_t ntok, void *dst);
/// out[t * ldo + r] = weight row r · activation row t for r0 <= r < r1, t < ntok; -1 if unsupported.
int mk_gemm(int weight_type, const void *w, size_t cols, size_t r0, size_t r1,
            const void *xp, size_t ntok, float *out, size_t ldo);
/// The dot-product kernels: portable C, AVX2 (+FMA, F16C), AVX-512 (F, BW, DQ, VL) with VNNI.
enum { MK_QUANTS_GENERIC = 0, MK_QUANTS_AVX2 = 1, MK_QUANTS_AVX512VNNI = 2 };
/// The set in use: the best this CPU supports unless forced.
int mk_quant_kernels(void);
/// Tests and benchmarks: force a set (one this CPU supports: else -1), or -1 for the CPU's best.
int mk_force_quant_kernels(int level);

#ifdef __cplusplus
}
#endif
#endif
