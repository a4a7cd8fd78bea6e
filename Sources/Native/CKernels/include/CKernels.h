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

/// x = x * 0.5 * (1 + erf(x / sqrt 2)), in place.
void mk_gelu_erf(float *x, size_t n);
/// Numerically stable softmax of x[0..n), in place.
void mk_softmax(float *x, size_t n);
/// LayerNorm of each of `rows` rows of `dim` floats, in place.
void mk_layer_norm(float *x, size_t rows, size_t dim, const float *gamma, const float *beta, float eps);
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

#ifdef __cplusplus
}
#endif
#endif
