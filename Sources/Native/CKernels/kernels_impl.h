// Kernel bodies, compiled twice by kernels.c: once portable (SUFFIX _generic) and once with
// AVX2+FMA enabled (SUFFIX _avx2, VECTOR defined), where the intrinsics paths are used.
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SUFFIX)

#ifdef VECTOR
static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline float hmax8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_max_ps(lo, hi);
    lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

// exp(x) for 8 floats: range reduction x = n ln2 + r, degree-6 polynomial on r (Cephes), 2^n by
// exponent bits. Relative error ~1e-7 over the clamped range.
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// erf(x) for 8 floats: the rational approximation Eigen uses (clamped to [-4, 4]; |error| < 2e-7).
static inline __m256 erf8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.f)), _mm256_set1_ps(4.f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(p, x);
    __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(p, q);
}
#endif

static void FN(gelu_erf)(float *x, size_t n) {
    size_t i = 0;
#ifdef VECTOR
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.f), s = _mm256_set1_ps(0.70710678118654752f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 e = erf8(_mm256_mul_ps(v, s));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
    }
#endif
    for (; i < n; i++) x[i] = 0.5f * x[i] * (1.f + erff(x[i] * 0.70710678118654752f));
}

static float FN(dot)(const float *a, const float *b, size_t n) {
    size_t i = 0;
    float s = 0;
#ifdef VECTOR
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    s = hsum8(_mm256_add_ps(acc0, acc1));
#endif
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void FN(axpy)(float *y, float a, const float *x, size_t n) {
    size_t i = 0;
#ifdef VECTOR
    __m256 va = _mm256_set1_ps(a);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
    for (; i < n; i++) y[i] += a * x[i];
}

static void FN(add)(float *y, const float *x, size_t n) {
    size_t i = 0;
#ifdef VECTOR
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++) y[i] += x[i];
}

static void FN(softmax)(float *x, size_t n) {
    if (n == 0) return;
    size_t i = 0;
    float m = x[0];
#ifdef VECTOR
    if (n >= 8) {
        __m256 vm = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
        m = hmax8(vm);
    }
#endif
    for (; i < n; i++) if (x[i] > m) m = x[i];
    float sum = 0;
    i = 0;
#ifdef VECTOR
    __m256 vs = _mm256_setzero_ps(), vmax = _mm256_set1_ps(m);
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    sum = hsum8(vs);
#endif
    for (; i < n; i++) { x[i] = expf(x[i] - m); sum += x[i]; }
    float inv = 1.f / sum;
    i = 0;
#ifdef VECTOR
    __m256 vi = _mm256_set1_ps(inv);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
#endif
    for (; i < n; i++) x[i] *= inv;
}

static void FN(layer_norm)(float *x, size_t rows, size_t dim, const float *gamma, const float *beta, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * dim;
        size_t i = 0;
        float sum = 0;
#ifdef VECTOR
        __m256 vs = _mm256_setzero_ps();
        for (; i + 8 <= dim; i += 8) vs = _mm256_add_ps(vs, _mm256_loadu_ps(row + i));
        sum = hsum8(vs);
#endif
        for (; i < dim; i++) sum += row[i];
        float mean = sum / (float)dim, sq = 0;
        i = 0;
#ifdef VECTOR
        __m256 vm = _mm256_set1_ps(mean), vq = _mm256_setzero_ps();
        for (; i + 8 <= dim; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + i), vm);
            vq = _mm256_fmadd_ps(d, d, vq);
        }
        sq = hsum8(vq);
#endif
        for (; i < dim; i++) { float d = row[i] - mean; sq += d * d; }
        float inv = 1.f / sqrtf(sq / (float)dim + eps);
        i = 0;
#ifdef VECTOR
        __m256 vinv = _mm256_set1_ps(inv);
        for (; i + 8 <= dim; i += 8) {
            __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row + i), vm), vinv);
            _mm256_storeu_ps(row + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
        }
#endif
        for (; i < dim; i++) row[i] = (row[i] - mean) * inv * gamma[i] + beta[i];
    }
}

static void FN(rms_norm)(float *x, size_t rows, size_t dim, const float *gamma, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * dim;
        float inv = 1.f / sqrtf(FN(dot)(row, row, dim) / (float)dim + eps);
        size_t i = 0;
#ifdef VECTOR
        __m256 vinv = _mm256_set1_ps(inv);
        for (; i + 8 <= dim; i += 8)
            _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(row + i), vinv), _mm256_loadu_ps(gamma + i)));
#endif
        for (; i < dim; i++) row[i] = row[i] * inv * gamma[i];
    }
}

// gate = silu(gate) * up, where silu(g) = g / (1 + exp(-g)).
static void FN(swiglu)(float *gate, const float *up, size_t n) {
    size_t i = 0;
#ifdef VECTOR
    const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
#endif
    for (; i < n; i++) gate[i] = gate[i] / (1.f + expf(-gate[i])) * up[i];
}

static void FN(attention)(const float *q, size_t ldq, const float *k, size_t ldk, const float *v, size_t ldv,
                          float *out, size_t ldo, size_t m, size_t n, size_t hd, float scale,
                          long causal_offset, float *scratch) {
    for (size_t i = 0; i < m; i++) {
        size_t visible = n;
        if (causal_offset >= 0) {
            long last = (long)i + causal_offset;
            visible = last < 0 ? 0 : ((size_t)last + 1 < n ? (size_t)last + 1 : n);
        }
        float *o = out + i * ldo;
        for (size_t d = 0; d < hd; d++) o[d] = 0;
        if (visible == 0) continue;
        const float *qi = q + i * ldq;
        for (size_t j = 0; j < visible; j++) scratch[j] = scale * FN(dot)(qi, k + j * ldk, hd);
        FN(softmax)(scratch, visible);
        for (size_t j = 0; j < visible; j++) FN(axpy)(o, scratch[j], v + j * ldv, hd);
    }
}

#undef FN
#undef CAT
#undef CAT2
