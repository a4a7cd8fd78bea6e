#include "CKernels.h"
#include <math.h>
#include <immintrin.h>

#define SUFFIX _generic
#include "kernels_impl.h"
#undef SUFFIX

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define SUFFIX _avx2
#define VECTOR 1
#include "kernels_impl.h"
#undef VECTOR
#undef SUFFIX
#pragma clang attribute pop

static int has_avx2 = -1;

int mk_has_avx2(void) {
    if (has_avx2 < 0) {
        __builtin_cpu_init();
        has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return has_avx2;
}

#define DISPATCH(name, args) (mk_has_avx2() ? name##_avx2 args : name##_generic args)

void mk_gelu_erf(float *x, size_t n) { DISPATCH(gelu_erf, (x, n)); }
void mk_softmax(float *x, size_t n) { DISPATCH(softmax, (x, n)); }
void mk_layer_norm(float *x, size_t rows, size_t dim, const float *gamma, const float *beta, float eps) {
    DISPATCH(layer_norm, (x, rows, dim, gamma, beta, eps));
}
void mk_rms_norm(float *x, size_t rows, size_t dim, const float *gamma, float eps) {
    DISPATCH(rms_norm, (x, rows, dim, gamma, eps));
}
void mk_swiglu(float *gate, const float *up, size_t n) { DISPATCH(swiglu, (gate, up, n)); }
void mk_add(float *y, const float *x, size_t n) { DISPATCH(add, (y, x, n)); }
void mk_axpy(float *y, float a, const float *x, size_t n) { DISPATCH(axpy, (y, a, x, n)); }
float mk_dot(const float *a, const float *b, size_t n) { return DISPATCH(dot, (a, b, n)); }
void mk_attention(const float *q, size_t ldq, const float *k, size_t ldk, const float *v, size_t ldv,
                  float *out, size_t ldo, size_t m, size_t n, size_t head_dim, float scale,
                  long causal_offset, float *scratch) {
    DISPATCH(attention, (q, ldq, k, ldk, v, ldv, out, ldo, m, n, head_dim, scale, causal_offset, scratch));
}
