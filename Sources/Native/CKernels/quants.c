// Block-quantised weights (GGML's formats, as stored in GGUF files): dequantisation, activation
// quantisation, and dot products computed in the block formats themselves.
//
// Every format is block floating point: one scale (sometimes a min) per block of small integers.
// A matrix-vector product therefore quantises the activations once per row (Q8_0, Q8_1 or Q8_K,
// whichever matches the weight's blocks), then sums integer products block by block and applies the
// two scales once per block. The portable C versions below define the arithmetic; the AVX2 versions
// compute the same integer sums 32 lanes at a time, the AVX-512 VNNI ones 64 at a time (and return the
// AVX2 floats bit for bit); the best the CPU has is chosen at run time.
#include "CKernels.h"
#include <math.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>
#include <immintrin.h>

// ---- Block layouts (sizes as GGUF stores them; no padding: every field is 1 or 2 bytes wide) ----

typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;              // x = d * (q - 8)
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;           // x = d * q + m
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0; // x = d * (q - 16), q has 5 bits
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;               // x = d * q
typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1;            // x = d * q; s = d * sum(q)
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");

// ---- IEEE half precision, by hand (portable; the AVX2 paths use F16C) ----

float mk_fp16_to_fp32(unsigned short h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

unsigned short mk_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;  // round to nearest even (may carry into exp)
    return (uint16_t)half;
}

#define F16(h) mk_fp16_to_fp32(h)

// Q4_K packs 8 six-bit scales and 8 six-bit mins into 12 bytes.
static inline void q4_K_scale_min(int j, const uint8_t *s, uint8_t *scale, uint8_t *min) {
    if (j < 4) {
        *scale = s[j] & 63;
        *min = s[j + 4] & 63;
    } else {
        *scale = (uint8_t)((s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4));
        *min = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// All 8 scales and all 8 mins of a Q4_K block at once, a byte each in a 64-bit word (scale or min j
// in byte j): the same values as q4_K_scale_min, for the vector kernels, where decoding them a byte
// at a time and broadcasting each cost as much as a third of the block's work. Words of the 12
// bytes: a = 0..3, b = 4..7, c = 8..11.
static inline void q4_K_scales_mins(const uint8_t *s, uint64_t *scales, uint64_t *mins) {
    uint32_t a, b, c;
    memcpy(&a, s, 4); memcpy(&b, s + 4, 4); memcpy(&c, s + 8, 4);
    uint32_t sc_lo = a & 0x3f3f3f3f;                                            // scales 0..3: low 6 bits
    uint32_t sc_hi = (c & 0x0f0f0f0f) | (((a >> 6) & 0x03030303) << 4);         // 4..7: a nibble of c, top bits of a
    uint32_t mn_lo = b & 0x3f3f3f3f;                                            // mins 0..3
    uint32_t mn_hi = ((c >> 4) & 0x0f0f0f0f) | (((b >> 6) & 0x03030303) << 4);  // mins 4..7
    *scales = (uint64_t)sc_hi << 32 | sc_lo;
    *mins = (uint64_t)mn_hi << 32 | mn_lo;
}

// ---- Dequantisation ----

int mk_dequantize(int type, const void *src, float *y, size_t n) {
    switch (type) {
    case MK_F32: memcpy(y, src, n * sizeof(float)); return 0;
    case MK_F16: {
        const uint16_t *x = src;
        for (size_t i = 0; i < n; i++) y[i] = F16(x[i]);
        return 0;
    }
    case MK_Q4_0: {
        const block_q4_0 *x = src;
        for (size_t b = 0; b < n / 32; b++, y += 32) {
            float d = F16(x[b].d);
            for (int j = 0; j < 16; j++) {
                y[j] = d * ((x[b].qs[j] & 0xf) - 8);
                y[j + 16] = d * ((x[b].qs[j] >> 4) - 8);
            }
        }
        return 0;
    }
    case MK_Q4_1: {
        const block_q4_1 *x = src;
        for (size_t b = 0; b < n / 32; b++, y += 32) {
            float d = F16(x[b].d), m = F16(x[b].m);
            for (int j = 0; j < 16; j++) {
                y[j] = d * (x[b].qs[j] & 0xf) + m;
                y[j + 16] = d * (x[b].qs[j] >> 4) + m;
            }
        }
        return 0;
    }
    case MK_Q5_0: {
        const block_q5_0 *x = src;
        for (size_t b = 0; b < n / 32; b++, y += 32) {
            float d = F16(x[b].d);
            uint32_t qh;
            memcpy(&qh, x[b].qh, 4);
            for (int j = 0; j < 16; j++) {
                int lo = (x[b].qs[j] & 0xf) | (((qh >> j) & 1) << 4);
                int hi = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
                y[j] = d * (lo - 16);
                y[j + 16] = d * (hi - 16);
            }
        }
        return 0;
    }
    case MK_Q8_0: {
        const block_q8_0 *x = src;
        for (size_t b = 0; b < n / 32; b++, y += 32) {
            float d = F16(x[b].d);
            for (int j = 0; j < 32; j++) y[j] = d * x[b].qs[j];
        }
        return 0;
    }
    case MK_Q8_1: {
        const block_q8_1 *x = src;
        for (size_t b = 0; b < n / 32; b++, y += 32) {
            float d = F16(x[b].d);
            for (int j = 0; j < 32; j++) y[j] = d * x[b].qs[j];
        }
        return 0;
    }
    case MK_Q8_K: {
        const block_q8_K *x = src;
        for (size_t b = 0; b < n / 256; b++, y += 256)
            for (int j = 0; j < 256; j++) y[j] = x[b].d * x[b].qs[j];
        return 0;
    }
    case MK_Q4_K: {
        const block_q4_K *x = src;
        for (size_t b = 0; b < n / 256; b++) {
            float d = F16(x[b].d), dmin = F16(x[b].dmin);
            const uint8_t *q = x[b].qs;
            for (int j = 0; j < 8; j += 2, q += 32) {  // 64 values: low nibbles, then high nibbles
                uint8_t s0, m0, s1, m1;
                q4_K_scale_min(j, x[b].scales, &s0, &m0);
                q4_K_scale_min(j + 1, x[b].scales, &s1, &m1);
                for (int l = 0; l < 32; l++) *y++ = d * s0 * (q[l] & 0xf) - dmin * m0;
                for (int l = 0; l < 32; l++) *y++ = d * s1 * (q[l] >> 4) - dmin * m1;
            }
        }
        return 0;
    }
    case MK_Q6_K: {
        const block_q6_K *x = src;
        for (size_t b = 0; b < n / 256; b++) {
            float d = F16(x[b].d);
            const uint8_t *ql = x[b].ql, *qh = x[b].qh;
            const int8_t *sc = x[b].scales;
            for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
                for (int l = 0; l < 32; l++) {
                    int s = l / 16;
                    y[l] = d * sc[s] * (((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32);
                    y[l + 32] = d * sc[s + 2] * (((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    y[l + 64] = d * sc[s + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    y[l + 96] = d * sc[s + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            }
        }
        return 0;
    }
    default: return -1;
    }
}

// ---- Finite values: a NaN or infinite scale makes every value of its block one ----

static inline int half_nonfinite(uint16_t h) { return (h & 0x7c00) == 0x7c00; }

long long mk_first_nonfinite(int type, const void *src, size_t n) {
    const uint8_t *p = src;
    size_t block, bytes, offsets[2] = {0, 0}, fields = 1;
    switch (type) {
    case MK_F32: {
        const uint32_t *x = src;
        for (size_t i = 0; i < n; i++) if ((x[i] & 0x7f800000) == 0x7f800000) return (long long)i;
        return -1;
    }
    case MK_F16: {
        const uint16_t *x = src;
        for (size_t i = 0; i < n; i++) if (half_nonfinite(x[i])) return (long long)i;
        return -1;
    }
    case MK_Q4_0: block = 32; bytes = sizeof(block_q4_0); break;
    case MK_Q5_0: block = 32; bytes = sizeof(block_q5_0); break;
    case MK_Q8_0: block = 32; bytes = sizeof(block_q8_0); break;
    case MK_Q4_1: block = 32; bytes = sizeof(block_q4_1); offsets[1] = 2; fields = 2; break;
    case MK_Q4_K: block = 256; bytes = sizeof(block_q4_K); offsets[1] = 2; fields = 2; break;
    case MK_Q6_K: block = 256; bytes = sizeof(block_q6_K); offsets[0] = offsetof(block_q6_K, d); break;
    default: return -2;
    }
    for (size_t b = 0; b < n / block; b++, p += bytes)
        for (size_t f = 0; f < fields; f++) {
            uint16_t h;
            memcpy(&h, p + offsets[f], 2);
            if (half_nonfinite(h)) return (long long)(b * block);
        }
    return -1;
}

// ---- Activation quantisation: the format each weight type multiplies against ----

int mk_activation_type(int type) {
    switch (type) {
    case MK_Q4_0: case MK_Q5_0: case MK_Q8_0: return MK_Q8_0;
    case MK_Q4_1: return MK_Q8_1;
    case MK_Q4_K: case MK_Q6_K: return MK_Q8_K;
    case MK_F16: case MK_F32: return MK_F32;
    default: return -1;
    }
}

size_t mk_row_size(int type, size_t n) {
    switch (type) {
    case MK_F32: return n * 4;
    case MK_F16: return n * 2;
    case MK_Q4_0: return n / 32 * sizeof(block_q4_0);
    case MK_Q4_1: return n / 32 * sizeof(block_q4_1);
    case MK_Q5_0: return n / 32 * sizeof(block_q5_0);
    case MK_Q8_0: return n / 32 * sizeof(block_q8_0);
    case MK_Q8_1: return n / 32 * sizeof(block_q8_1);
    case MK_Q4_K: return n / 256 * sizeof(block_q4_K);
    case MK_Q6_K: return n / 256 * sizeof(block_q6_K);
    case MK_Q8_K: return n / 256 * sizeof(block_q8_K);
    default: return 0;
    }
}

static float block_amax(const float *x, int n, float *signed_max) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax) { amax = a; max = x[j]; }
    }
    if (signed_max) *signed_max = max;
    return amax;
}

// Round half to even, as the vector rounding instructions do.
static inline int round_even(float v) { return (int)lrintf(v); }

static void quantize_q8_0(const float *x, block_q8_0 *y, size_t n, int with_sum) {
    block_q8_1 *y1 = (block_q8_1 *)y;
    for (size_t b = 0; b < n / 32; b++, x += 32) {
        float amax = block_amax(x, 32, NULL);
        float d = amax / 127.f, id = amax != 0 ? 127.f / amax : 0.f;
        int8_t *qs = with_sum ? y1[b].qs : y[b].qs;
        int sum = 0;
        for (int j = 0; j < 32; j++) { qs[j] = (int8_t)round_even(x[j] * id); sum += qs[j]; }
        if (with_sum) { y1[b].d = mk_fp32_to_fp16(d); y1[b].s = mk_fp32_to_fp16(d * (float)sum); }
        else y[b].d = mk_fp32_to_fp16(d);
    }
}

static void quantize_q8_K(const float *x, block_q8_K *y, size_t n) {
    for (size_t b = 0; b < n / 256; b++, x += 256) {
        float max;
        float amax = block_amax(x, 256, &max);
        if (amax == 0) { memset(&y[b], 0, sizeof(block_q8_K)); continue; }
        // Scaled by the signed extreme so that it maps to exactly -127; clamp the other side at 127.
        float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            int v = round_even(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += y[b].qs[g * 16 + j];
            y[b].bsums[g] = (int16_t)s;
        }
        y[b].d = 1 / iscale;
    }
}

int mk_quantize_activations(int weight_type, const float *x, void *dst, size_t n) {
    switch (mk_activation_type(weight_type)) {
    case MK_Q8_0: quantize_q8_0(x, dst, n, 0); return 0;
    case MK_Q8_1: quantize_q8_0(x, dst, n, 1); return 0;
    case MK_Q8_K: quantize_q8_K(x, dst, n); return 0;
    case MK_F32: memcpy(dst, x, n * 4); return 0;
    default: return -1;
    }
}

// ---- Dot products, portable: integer sums per block, two scales per block ----

static float dot_q4_0_generic(const block_q4_0 *x, const block_q8_0 *y, size_t nb) {
    float s = 0;
    for (size_t b = 0; b < nb; b++) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += ((x[b].qs[j] & 0xf) - 8) * y[b].qs[j] + ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
        s += F16(x[b].d) * F16(y[b].d) * (float)sum;
    }
    return s;
}

static float dot_q4_1_generic(const block_q4_1 *x, const block_q8_1 *y, size_t nb) {
    float s = 0;
    for (size_t b = 0; b < nb; b++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += (x[b].qs[j] & 0xf) * y[b].qs[j] + (x[b].qs[j] >> 4) * y[b].qs[j + 16];
        s += F16(x[b].d) * F16(y[b].d) * (float)sum + F16(x[b].m) * F16(y[b].s);
    }
    return s;
}

static float dot_q5_0_generic(const block_q5_0 *x, const block_q8_0 *y, size_t nb) {
    float s = 0;
    for (size_t b = 0; b < nb; b++) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            int lo = ((x[b].qs[j] & 0xf) | (((qh >> j) & 1) << 4)) - 16;
            int hi = ((x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sum += lo * y[b].qs[j] + hi * y[b].qs[j + 16];
        }
        s += F16(x[b].d) * F16(y[b].d) * (float)sum;
    }
    return s;
}

static float dot_q8_0_generic(const block_q8_0 *x, const block_q8_0 *y, size_t nb) {
    float s = 0;
    for (size_t b = 0; b < nb; b++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += x[b].qs[j] * y[b].qs[j];
        s += F16(x[b].d) * F16(y[b].d) * (float)sum;
    }
    return s;
}

static float dot_q4_K_generic(const block_q4_K *x, const block_q8_K *y, size_t nb) {
    float s = 0;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *q = x[b].qs;
        const int8_t *a = y[b].qs;
        int sum = 0, mins = 0;
        for (int j = 0; j < 8; j += 2, q += 32, a += 64) {
            uint8_t s0, m0, s1, m1;
            q4_K_scale_min(j, x[b].scales, &s0, &m0);
            q4_K_scale_min(j + 1, x[b].scales, &s1, &m1);
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) { lo += (q[l] & 0xf) * a[l]; hi += (q[l] >> 4) * a[l + 32]; }
            sum += s0 * lo + s1 * hi;
            mins += m0 * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]) + m1 * (y[b].bsums[2 * j + 2] + y[b].bsums[2 * j + 3]);
        }
        s += y[b].d * (F16(x[b].d) * (float)sum - F16(x[b].dmin) * (float)mins);
    }
    return s;
}

static float dot_q6_K_generic(const block_q6_K *x, const block_q8_K *y, size_t nb) {
    float s = 0;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *ql = x[b].ql, *qh = x[b].qh;
        const int8_t *sc = x[b].scales, *a = y[b].qs;
        int sum = 0;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, a += 128) {
            int g[8] = {0};  // per 16-value group: four quarters of 32, two groups each
            for (int l = 0; l < 32; l++) {
                int s16 = l / 16;
                g[0 + s16] += (((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32) * a[l];
                g[2 + s16] += (((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32) * a[l + 32];
                g[4 + s16] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * a[l + 64];
                g[6 + s16] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * a[l + 96];
            }
            for (int k = 0; k < 8; k++) sum += sc[k] * g[k];
        }
        s += F16(x[b].d) * y[b].d * (float)sum;
    }
    return s;
}

static float dot_f16_generic(const uint16_t *x, const float *y, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += F16(x[i]) * y[i];
    return s;
}

static float dot_f32_generic(const float *x, const float *y, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

// ---- Dot products, AVX2 + FMA + F16C ----

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

// A matrix's weights are read once, in order (rows are contiguous), and with several positions the
// kernels take them slower than memory delivers; the hardware prefetcher then falls behind (measured:
// Q6_K rows from DRAM at 6 positions, 5.2 ns per 256 values and position against 1.9 from cache). A
// prefetch 8 KB ahead keeps the stream in time (2 KB was too short, 16 KB no better), and helps one
// position too. A prefetch past the matrix's end is a hint the CPU drops, never a fault.
#define MK_PREFETCH_DISTANCE 8192
#define PREFETCH_WEIGHTS(p, bytes)                                                                           \
    do {                                                                                                     \
        const char *ahead_ = (const char *)(p) + MK_PREFETCH_DISTANCE;                                       \
        for (int line_ = 0; line_ < (int)(bytes); line_ += 64) _mm_prefetch(ahead_ + line_, _MM_HINT_T0);    \
    } while (0)

static inline float hsum_ps(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline int hsum_epi32(__m256i v) {
    __m128i lo = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0x4e));
    lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0xb1));
    return _mm_cvtsi128_si32(lo);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// 32 unsigned bytes (each < 128) times 32 signed bytes, summed in pairs and then in fours: 8 int32.
static inline __m256i dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed times signed: move x's sign onto y so that the unsigned-times-signed instruction applies.
static inline __m256i dot_i8_i8(__m256i x, __m256i y) {
    return dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 16 bytes of nibbles to 32 bytes: the low nibbles (values 0..15) first, then the high nibbles.
static inline __m256i unpack_nibbles(const uint8_t *q) {
    __m128i b = _mm_loadu_si128((const __m128i *)q);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

// 32 bits to 32 bytes: 0xff where the bit is set, 0 elsewhere.
static inline __m256i bits_to_bytes(const uint8_t *bits) {
    uint32_t v;
    memcpy(&v, bits, 4);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                             0x0101010101010101, 0x0000000000000000);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask);
}

// Q4_K: the mins as 16 int16, each sub-block's min twice (one per 16-value half of its activation sums).
static inline __m256i q4_K_mins_x2(uint64_t mins) {
    __m128i m = _mm_cvtsi64_si128((long long)mins);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
}

// Scale j of the 8 (bytes of `scales`, as q4_K_scales_mins packs them, in both 128-bit halves) as 16
// int16: one byte shuffle, the high byte of each lane zeroed.
static inline __m256i q4_K_scale16(__m256i scales, int j) {
    return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x8000 | j)));
}

// Σ over the 16 groups of weight · activation sum: exact in int32 (|bsum| ≤ 2032, |weight| ≤ 128).
static inline int weighted_bsums(__m256i weights16, const int16_t *bsums) {
    return hsum_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), weights16));
}

static float dot_q4_0_avx2(const block_q4_0 *x, const block_q8_0 *y, size_t nb) {
    __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };  // even and odd blocks: two chains
    for (size_t b = 0; b < nb; b++) {
        __m256i q = _mm256_sub_epi8(unpack_nibbles(x[b].qs), _mm256_set1_epi8(8));
        __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc[b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_i8(q, a)), acc[b & 1]);
    }
    return hsum_ps(_mm256_add_ps(acc[0], acc[1]));
}

static float dot_q4_1_avx2(const block_q4_1 *x, const block_q8_1 *y, size_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (size_t b = 0; b < nb; b++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(unpack_nibbles(x[b].qs), a)), acc);
        mins += h2f(x[b].m) * h2f(y[b].s);
    }
    return hsum_ps(acc) + mins;
}

static float dot_q5_0_avx2(const block_q5_0 *x, const block_q8_0 *y, size_t nb) {
    __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };  // even and odd blocks: two chains
    for (size_t b = 0; b < nb; b++) {
        __m256i high = _mm256_and_si256(bits_to_bytes(x[b].qh), _mm256_set1_epi8(0x10));
        __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(x[b].qs), high), _mm256_set1_epi8(16));
        __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc[b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_i8(q, a)), acc[b & 1]);
    }
    return hsum_ps(_mm256_add_ps(acc[0], acc[1]));
}

static float dot_q8_0_avx2(const block_q8_0 *x, const block_q8_0 *y, size_t nb) {
    __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };  // even and odd blocks: two chains
    for (size_t b = 0; b < nb; b++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc[b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_i8(q, a)), acc[b & 1]);
    }
    return hsum_ps(_mm256_add_ps(acc[0], acc[1]));
}

static float dot_q4_K_avx2(const block_q4_K *x, const block_q8_K *y, size_t nb) {
    __m256 acc = _mm256_setzero_ps();
    float mins_acc = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (size_t b = 0; b < nb; b++) {
        PREFETCH_WEIGHTS(x + b, sizeof *x);
        uint64_t sc, mn;
        q4_K_scales_mins(x[b].scales, &sc, &mn);
        __m256i scales = _mm256_set1_epi64x((long long)sc);
        int mins = weighted_bsums(q4_K_mins_x2(mn), y[b].bsums);
        __m256i sum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {  // 64 values: 32 low nibbles (sub-block 2j), 32 high (2j+1)
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j));
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(y[b].qs + 64 * j + 32));
            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), a0);
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), a1);
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p0, q4_K_scale16(scales, 2 * j)));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p1, q4_K_scale16(scales, 2 * j + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * h2f(x[b].d)), _mm256_cvtepi32_ps(sum), acc);
        mins_acc += y[b].d * h2f(x[b].dmin) * (float)mins;
    }
    return hsum_ps(acc) - mins_acc;
}

// Q6_K's 6-bit values q + 32 (0..63) of one half block, four registers of 32: the low four bits
// come from ql, the top two from qh, moved onto bits 4 and 5 (a 16-bit shift spills bits between the
// two bytes of a lane, which the mask drops).
static inline void q6_K_half(const uint8_t *ql, const uint8_t *qh, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
}

// Where a Q6_K block's integer sum starts: the stored values are q + 32 (0..63), so summing them
// against the activations adds 32 · scale · (activation sum) per group of 16, which the Q8_K block
// already holds; start at minus that.
static inline __m256i q6_K_offset(__m256i scales16, const int16_t *bsums) {
    __m256i offset = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), scales16);
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
}

// The 16-bit scale vector for the 32 values of quarter k of half `half`: scale 2k in the low 128
// bits, 2k + 1 in the high (bytes picked into the high byte of each lane, then shifted down with sign).
static inline __m256i q6_K_scale(__m256i scales8, int half, int k) {
    int lo = 8 * half + 2 * k, hi = lo + 1;
    const __m256i pick = _mm256_set_epi8(hi, -1, hi, -1, hi, -1, hi, -1, hi, -1, hi, -1, hi, -1, hi, -1,
                                         lo, -1, lo, -1, lo, -1, lo, -1, lo, -1, lo, -1, lo, -1, lo, -1);
    return _mm256_srai_epi16(_mm256_shuffle_epi8(scales8, pick), 8);
}

static float dot_q6_K_avx2(const block_q6_K *x, const block_q8_K *y, size_t nb) {
    float acc = 0;
    for (size_t b = 0; b < nb; b++) {
        PREFETCH_WEIGHTS(x + b, sizeof *x);
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        __m256i scales8 = _mm256_broadcastsi128_si256(sc8);
        __m256i sum = q6_K_offset(_mm256_cvtepi8_epi16(sc8), y[b].bsums);
        for (int half = 0; half < 2; half++) {
            __m256i q[4];
            q6_K_half(x[b].ql + 64 * half, x[b].qh + 32 * half, q);
            const int8_t *a = y[b].qs + 128 * half;
            for (int k = 0; k < 4; k++) {
                __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(a + 32 * k)));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, q6_K_scale(scales8, half, k)));
            }
        }
        acc += h2f(x[b].d) * y[b].d * (float)hsum_epi32(sum);
    }
    return acc;
}

static float dot_f16_avx2(const uint16_t *x, const float *y, size_t n) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i), acc);
    float s = hsum_ps(acc);
    for (; i < n; i++) s += h2f(x[i]) * y[i];
    return s;
}

static float dot_f32_avx2(const float *x, const float *y, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    float s = hsum_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

// ---- Several positions against one weight row, AVX2: each block decoded once ----
//
// For 2-31 positions (speculative decoding's check, short prompts) the weight block is unpacked and
// its scales decoded once, then multiplied against every position's activation block. Each position's
// sums and float operations are the single-position kernel's, in its order, so the results are the
// same floats bit for bit (and equal to the AVX-512 set's, which returns the AVX2 floats). Positions go
// in groups of up to MK_POSITIONS, whose accumulators stay in registers.

#define MK_POSITIONS 4
#define ALWAYS_INLINE static inline __attribute__((always_inline))

// The activation block b of position i: positions are `ys` bytes apart.
#define YB(type, i) (((const type *)(yb + (size_t)(i) * ys)) + b)

ALWAYS_INLINE void dots_q4_0_body(const block_q4_0 *x, const char *yb, size_t ys, size_t nb, const int n, float *out, size_t os) {
    __m256 acc[MK_POSITIONS][2];  // even and odd blocks, as the single-position kernel
    for (int i = 0; i < n; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i q = _mm256_sub_epi8(unpack_nibbles(x[b].qs), _mm256_set1_epi8(8));
        __m256i magnitude = _mm256_sign_epi8(q, q);
        float dx = h2f(x[b].d);
        for (int i = 0; i < n; i++) {
            const block_q8_0 *y = YB(block_q8_0, i);
            __m256i a = _mm256_loadu_si256((const __m256i *)y->qs);
            __m256 d = _mm256_set1_ps(dx * h2f(y->d));
            acc[i][b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(magnitude, _mm256_sign_epi8(a, q))), acc[i][b & 1]);
        }
    }
    for (int i = 0; i < n; i++) out[i * os] = hsum_ps(_mm256_add_ps(acc[i][0], acc[i][1]));
}

ALWAYS_INLINE void dots_q8_0_body(const block_q8_0 *x, const char *yb, size_t ys, size_t nb, const int n, float *out, size_t os) {
    __m256 acc[MK_POSITIONS][2];  // even and odd blocks, as the single-position kernel
    for (int i = 0; i < n; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i magnitude = _mm256_sign_epi8(q, q);
        float dx = h2f(x[b].d);
        for (int i = 0; i < n; i++) {
            const block_q8_0 *y = YB(block_q8_0, i);
            __m256i a = _mm256_loadu_si256((const __m256i *)y->qs);
            __m256 d = _mm256_set1_ps(dx * h2f(y->d));
            acc[i][b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(magnitude, _mm256_sign_epi8(a, q))), acc[i][b & 1]);
        }
    }
    for (int i = 0; i < n; i++) out[i * os] = hsum_ps(_mm256_add_ps(acc[i][0], acc[i][1]));
}

ALWAYS_INLINE void dots_q5_0_body(const block_q5_0 *x, const char *yb, size_t ys, size_t nb, const int n, float *out, size_t os) {
    __m256 acc[MK_POSITIONS][2];  // even and odd blocks, as the single-position kernel
    for (int i = 0; i < n; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m256i high = _mm256_and_si256(bits_to_bytes(x[b].qh), _mm256_set1_epi8(0x10));
        __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(x[b].qs), high), _mm256_set1_epi8(16));
        __m256i magnitude = _mm256_sign_epi8(q, q);
        float dx = h2f(x[b].d);
        for (int i = 0; i < n; i++) {
            const block_q8_0 *y = YB(block_q8_0, i);
            __m256i a = _mm256_loadu_si256((const __m256i *)y->qs);
            __m256 d = _mm256_set1_ps(dx * h2f(y->d));
            acc[i][b & 1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(magnitude, _mm256_sign_epi8(a, q))), acc[i][b & 1]);
        }
    }
    for (int i = 0; i < n; i++) out[i * os] = hsum_ps(_mm256_add_ps(acc[i][0], acc[i][1]));
}

ALWAYS_INLINE void dots_q4_1_body(const block_q4_1 *x, const char *yb, size_t ys, size_t nb, const int n, float *out, size_t os) {
    __m256 acc[MK_POSITIONS];
    float mins[MK_POSITIONS];
    for (int i = 0; i < n; i++) { acc[i] = _mm256_setzero_ps(); mins[i] = 0; }
    for (size_t b = 0; b < nb; b++) {
        __m256i q = unpack_nibbles(x[b].qs);
        float dx = h2f(x[b].d), mx = h2f(x[b].m);
        for (int i = 0; i < n; i++) {
            const block_q8_1 *y = YB(block_q8_1, i);
            __m256i a = _mm256_loadu_si256((const __m256i *)y->qs);
            __m256 d = _mm256_set1_ps(dx * h2f(y->d));
            acc[i] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(q, a)), acc[i]);
            mins[i] += mx * h2f(y->s);
        }
    }
    for (int i = 0; i < n; i++) out[i * os] = hsum_ps(acc[i]) + mins[i];
}

ALWAYS_INLINE void dots_q4_K_body(const block_q4_K *x, const char *yb, size_t ys, size_t nb, const int n, float *out, size_t os) {
    __m256 acc[MK_POSITIONS];
    float mins_acc[MK_POSITIONS];
    for (int i = 0; i < n; i++) { acc[i] = _mm256_setzero_ps(); mins_acc[i] = 0; }
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (size_t b = 0; b < nb; b++) {
        PREFETCH_WEIGHTS(x + b, sizeof *x);
        uint64_t sc, mn;
        q4_K_scales_mins(x[b].scales, &sc, &mn);
        __m256i scales = _mm256_set1_epi64x((long long)sc);
        __m256i sum[MK_POSITIONS];
        for (int i = 0; i < n; i++) sum[i] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            __m256i s0 = q4_K_scale16(scales, 2 * j), s1 = q4_K_scale16(scales, 2 * j + 1);
            for (int i = 0; i < n; i++) {
                const block_q8_K *y = YB(block_q8_K, i);
                __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j)));
                __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j + 32)));
                sum[i] = _mm256_add_epi32(sum[i], _mm256_madd_epi16(p0, s0));
                sum[i] = _mm256_add_epi32(sum[i], _mm256_madd_epi16(p1, s1));
            }
        }
        float dx = h2f(x[b].d), dmin = h2f(x[b].dmin);
        __m256i mins16 = q4_K_mins_x2(mn);
        for (int i = 0; i < n; i++) {
            const block_q8_K *y = YB(block_q8_K, i);
            int mins = weighted_bsums(mins16, y->bsums);
            acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(y->d * dx), _mm256_cvtepi32_ps(sum[i]), acc[i]);
            mins_acc[i] += y->d * dmin * (float)mins;
        }
    }
    for (int i = 0; i < n; i++) out[i * os] = hsum_ps(acc[i]) - mins_acc[i];
}

ALWAYS_INLINE void dots_q6_K_body(const block_q6_K *x, const char *yb, size_t ys, size_t nb, const int n, float *out, size_t os) {
    float acc[MK_POSITIONS];
    for (int i = 0; i < n; i++) acc[i] = 0;
    for (size_t b = 0; b < nb; b++) {
        PREFETCH_WEIGHTS(x + b, sizeof *x);
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        __m256i scales8 = _mm256_broadcastsi128_si256(sc8), scales16 = _mm256_cvtepi8_epi16(sc8);
        __m256i sum[MK_POSITIONS];
        for (int i = 0; i < n; i++) sum[i] = q6_K_offset(scales16, YB(block_q8_K, i)->bsums);
        for (int half = 0; half < 2; half++) {
            __m256i q[4];
            q6_K_half(x[b].ql + 64 * half, x[b].qh + 32 * half, q);
            for (int k = 0; k < 4; k++) {
                __m256i scale = q6_K_scale(scales8, half, k);
                for (int i = 0; i < n; i++) {
                    const int8_t *a = YB(block_q8_K, i)->qs + 128 * half;
                    __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(a + 32 * k)));
                    sum[i] = _mm256_add_epi32(sum[i], _mm256_madd_epi16(p, scale));
                }
            }
        }
        float dx = h2f(x[b].d);
        for (int i = 0; i < n; i++) acc[i] += dx * YB(block_q8_K, i)->d * (float)hsum_epi32(sum[i]);
    }
    for (int i = 0; i < n; i++) out[i * os] = acc[i];
}

// One function per format that runs 1 to MK_POSITIONS positions, each count compiled on its own so
// that the accumulators are registers.
#define DOTS(name, block_t)                                                                                  \
    static void dots_##name##_avx2(const void *x, const char *yb, size_t ys, const float *dt, size_t nb, int n, float *out, \
                                   size_t os) {                                                              \
        (void)dt;                                                                                            \
        switch (n) {                                                                                         \
        case 1: dots_##name##_body(x, yb, ys, nb, 1, out, os); break;                                        \
        case 2: dots_##name##_body(x, yb, ys, nb, 2, out, os); break;                                        \
        case 3: dots_##name##_body(x, yb, ys, nb, 3, out, os); break;                                        \
        default: dots_##name##_body(x, yb, ys, nb, 4, out, os); break;                                       \
        }                                                                                                    \
    }
DOTS(q4_0, block_q4_0)
DOTS(q4_1, block_q4_1)
DOTS(q5_0, block_q5_0)
DOTS(q8_0, block_q8_0)
DOTS(q4_K, block_q4_K)
DOTS(q6_K, block_q6_K)
#undef DOTS
#undef YB

#pragma clang attribute pop

// ---- Dot products, AVX-512 (F, BW, VL, DQ) + VNNI: two 32-value blocks per 512-bit register ----
//
// VPDPBUSD sums four unsigned-by-signed byte products into each int32 lane in one instruction, where
// AVX2 needs two (and a constant); holding two blocks per register halves the instructions per block
// again. The integer sums are the AVX2 kernels' exactly, and the scales are applied to them in the
// AVX2 kernels' order (one 8-lane accumulator, block after block), so the two sets return the same
// floats: these models re-quantise every activation to 8 bits, where a last-bit difference in one
// matrix product flips roundings downstream and moves logits by up to ~0.8 (measured on SmolLM2), so
// a faster kernel must not also be a different one. The K-quants apply their sub-block scales to
// 16-bit pair sums (below: twice the AVX2 kernels' width, the lanes folded back before any float);
// the float formats keep the AVX2 code, where a wider accumulator would change the order.

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)

static inline __m512i load_2x32(const int8_t *a, const int8_t *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

// Signed bytes times signed bytes, four to an int32 lane: x's sign moved onto y.
static inline __m512i dot_i8_i8_512(__m512i x, __m512i y) {
    __mmask64 negative = _mm512_movepi8_mask(x);
    __m512i ys = _mm512_mask_sub_epi8(y, negative, _mm512_setzero_si512(), y);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(x), ys);
}

static inline __m256i dot_i8_i8_vnni(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static inline __m512i unpack_nibbles_2(const uint8_t *q0, const uint8_t *q1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(unpack_nibbles(q0)), unpack_nibbles(q1), 1);
}

// Two blocks' integer sums scaled into the AVX2 kernel's accumulators: the even block's and the odd one's.
static inline void add_2_blocks(__m256 acc[2], __m512i sums, float d0, float d1) {
    __m512 p = _mm512_cvtepi32_ps(sums);
    acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm512_castps512_ps256(p), acc[0]);
    acc[1] = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm512_extractf32x8_ps(p, 1), acc[1]);
}

static inline __m256 add_1_block(__m256 acc, __m256i sums, float d) {
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sums), acc);
}

static float dot_q4_1_avx512(const block_q4_1 *x, const block_q8_1 *y, size_t nb) {
    // One chain, as the AVX2 kernel: two measured slower here (the mins' scalar chain sets the pace).
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i q = unpack_nibbles_2(x[b].qs, x[b + 1].qs);  // 0..15: already unsigned
        __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, load_2x32(y[b].qs, y[b + 1].qs)));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm512_castps512_ps256(p), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b + 1].d) * h2f(y[b + 1].d)), _mm512_extractf32x8_ps(p, 1), acc);
        mins += h2f(x[b].m) * h2f(y[b].s);
        mins += h2f(x[b + 1].m) * h2f(y[b + 1].s);
    }
    if (b < nb) {
        __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_nibbles(x[b].qs), _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc = add_1_block(acc, sums, h2f(x[b].d) * h2f(y[b].d));
        mins += h2f(x[b].m) * h2f(y[b].s);
    }
    return hsum_ps(acc) + mins;
}

// The K-quants, one to MK_WIDE_POSITIONS positions: 64 values per 512-bit register where the AVX2 kernels
// take 32, and VPDPWSSD applies the 16-bit sub-block scales and accumulates in one instruction. The
// low 256 bits hold what the AVX2 kernel's register holds for the first 32 values, the high 256 bits
// its next 32; every lane's sum is exact in int32, so adding the two halves gives the AVX2 kernel's
// lanes bit for bit, and the floats are then applied as there, in its order (Q6_K adds all lanes
// into one integer first). The same results, for fewer instructions per position.

#define MK_WIDE_POSITIONS 8  // 32 registers hold 8 positions' sums

#define YB(type, i) (((const type *)(yb + (size_t)(i) * ys)) + b)

static inline __m256i fold_512(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// The integer totals of eight vectors of 8 int32 (exact) as one vector, lane i the total of v[i].
ALWAYS_INLINE __m256i hsums8_epi32(const __m256i *v) {
    __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i efgh = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(abcd, efgh, 0x20), _mm256_permute2x128_si256(abcd, efgh, 0x31));
}

// Two positions' 512-bit sums folded to 8 lanes each, side by side: position a's in the low 256 bits.
static inline __m512i fold_pair(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}

// The activations' block scales of positions 0..n-1 for block b (zero past n): `dt` holds them
// `dstride` floats apart per block (a table of 8 per block, or Q8_K's own `d` for one position).
#define POSITION_SCALES(b) _mm256_maskz_loadu_ps((__mmask8)((1u << n) - 1), dt + (b) * dstride)

// Per block, what is per position is the least it can be: the integer sums, then float work done for
// all positions at once (two per 512-bit register, or eight per 256-bit one), lane for lane the
// single-position kernel's operations.
ALWAYS_INLINE void dots_q4_K_512_body(const block_q4_K *x, const char *yb, size_t ys, const float *dt, size_t dstride, size_t nb,
                                      const int n, float *out, size_t os) {
    enum { PAIRS = MK_WIDE_POSITIONS / 2 };
    const int pairs = (n + 1) / 2;
    __m512 acc[PAIRS];  // pair p: position 2p's 8 float lanes, then 2p + 1's
    for (int p = 0; p < pairs; p++) acc[p] = _mm512_setzero_ps();
    __m256 mins_acc = _mm256_setzero_ps();  // lane i: position i
    __m256 acc1 = _mm256_setzero_ps();
    float mins1 = 0;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    // Shift the high 256 bits by 4: the high nibbles (sub-block 2j + 1) beside the low ones (2j).
    const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    for (size_t b = 0; b < nb; b++) {
        PREFETCH_WEIGHTS(x + b, sizeof *x);
        uint64_t sc, mn;
        q4_K_scales_mins(x[b].scales, &sc, &mn);
        __m512i scales = _mm512_set1_epi64((long long)sc);
        __m512i sum[MK_WIDE_POSITIONS];
        for (int i = 0; i < n; i++) sum[i] = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j)));
            q = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), m4);
            // Scale 2j as 16 int16 in the low half, 2j + 1 in the high half.
            const __m512i pick = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(0x8000 | (2 * j)))),
                                                    _mm256_set1_epi16((short)(0x8000 | (2 * j + 1))), 1);
            __m512i scale = _mm512_shuffle_epi8(scales, pick);
            for (int i = 0; i < n; i++) {
                __m512i a = _mm512_loadu_si512((const void *)(YB(block_q8_K, i)->qs + 64 * j));
                sum[i] = _mm512_dpwssd_epi32(sum[i], _mm512_maddubs_epi16(q, a), scale);
            }
        }
        if (n == 1) {  // one position (decoding): its scalars as they are
            const block_q8_K *y = YB(block_q8_K, 0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(y->d * h2f(x[b].d)), _mm256_cvtepi32_ps(fold_512(sum[0])), acc1);
            mins1 += y->d * h2f(x[b].dmin) * (float)hsum_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), q4_K_mins_x2(mn)));
            continue;
        }
        const __m256 d = POSITION_SCALES(b);
        const __m512 dd = _mm512_castps256_ps512(_mm256_mul_ps(d, _mm256_set1_ps(h2f(x[b].d))));
        for (int p = 0; p < pairs; p++) {
            const __m512i pick = _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1);
            __m512i folded = fold_pair(sum[2 * p], 2 * p + 1 < n ? sum[2 * p + 1] : _mm512_setzero_si512());
            acc[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(pick, dd), _mm512_cvtepi32_ps(folded), acc[p]);
        }
        const __m256i mins16 = q4_K_mins_x2(mn);
        __m256i weighted[MK_WIDE_POSITIONS];
        for (int i = 0; i < MK_WIDE_POSITIONS; i++)
            weighted[i] = i < n ? _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)YB(block_q8_K, i)->bsums), mins16) : _mm256_setzero_si256();
        __m256 mins = _mm256_cvtepi32_ps(hsums8_epi32(weighted));
        mins_acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(h2f(x[b].dmin))), mins, mins_acc);
    }
    if (n == 1) { out[0] = hsum_ps(acc1) - mins1; return; }
    float m[8];
    _mm256_storeu_ps(m, mins_acc);
    for (int i = 0; i < n; i++) {
        __m256 lanes = i % 2 ? _mm512_extractf32x8_ps(acc[i / 2], 1) : _mm512_castps512_ps256(acc[i / 2]);
        out[i * os] = hsum_ps(lanes) - m[i];
    }
}

ALWAYS_INLINE void dots_q6_K_512_body(const block_q6_K *x, const char *yb, size_t ys, const float *dt, size_t dstride, size_t nb,
                                      const int n, float *out, size_t os) {
    __m256 acc = _mm256_setzero_ps();  // lane i: position i
    float acc1 = 0;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    // qh's bits for quarters 0 | 1 go to bits 4-5 by shifts left of 4 | 2, for quarters 2 | 3 right of 0 | 2.
    const __m512i up = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i down = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    for (size_t b = 0; b < nb; b++) {
        PREFETCH_WEIGHTS(x + b, sizeof *x);
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        __m512i scales8 = _mm512_broadcast_i32x4(sc8);
        __m512i sum[MK_WIDE_POSITIONS];
        for (int i = 0; i < n; i++) sum[i] = _mm512_setzero_si512();
        for (int half = 0; half < 2; half++) {
            __m512i l = _mm512_loadu_si512((const void *)(x[b].ql + 64 * half));
            __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * half)));
            __m512i q01 = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(h, up), m30));
            __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(_mm512_srlv_epi16(h, down), m30));
            // Sub-block 8·half + 4·p + lane for 128-bit lane 0..3 of pair p: its scale in every int16's
            // high byte, then shifted down with its sign.
            __m512i s01, s23;
            {
                int s = 8 * half;
                __m512i pick01 = _mm512_set_epi8(
                    s + 3, -1, s + 3, -1, s + 3, -1, s + 3, -1, s + 3, -1, s + 3, -1, s + 3, -1, s + 3, -1,
                    s + 2, -1, s + 2, -1, s + 2, -1, s + 2, -1, s + 2, -1, s + 2, -1, s + 2, -1, s + 2, -1,
                    s + 1, -1, s + 1, -1, s + 1, -1, s + 1, -1, s + 1, -1, s + 1, -1, s + 1, -1, s + 1, -1,
                    s, -1, s, -1, s, -1, s, -1, s, -1, s, -1, s, -1, s, -1);
                __m512i pick23 = _mm512_add_epi8(pick01, _mm512_set1_epi16(0x0400));
                s01 = _mm512_srai_epi16(_mm512_shuffle_epi8(scales8, pick01), 8);
                s23 = _mm512_srai_epi16(_mm512_shuffle_epi8(scales8, pick23), 8);
            }
            for (int i = 0; i < n; i++) {
                const int8_t *a = YB(block_q8_K, i)->qs + 128 * half;
                sum[i] = _mm512_dpwssd_epi32(sum[i], _mm512_maddubs_epi16(q01, _mm512_loadu_si512((const void *)a)), s01);
                sum[i] = _mm512_dpwssd_epi32(sum[i], _mm512_maddubs_epi16(q23, _mm512_loadu_si512((const void *)(a + 64))), s23);
            }
        }
        __m256i scales16 = _mm256_cvtepi8_epi16(sc8), lanes[MK_WIDE_POSITIONS];
        if (n == 1) {  // one position (decoding): its scalars as they are
            const block_q8_K *y = YB(block_q8_K, 0);
            acc1 += h2f(x[b].d) * y->d * (float)hsum_epi32(_mm256_add_epi32(q6_K_offset(scales16, y->bsums), fold_512(sum[0])));
            continue;
        }
        for (int i = 0; i < MK_WIDE_POSITIONS; i++)
            lanes[i] = i < n ? _mm256_add_epi32(q6_K_offset(scales16, YB(block_q8_K, i)->bsums), fold_512(sum[i])) : _mm256_setzero_si256();
        __m256 total = _mm256_cvtepi32_ps(hsums8_epi32(lanes));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(h2f(x[b].d)), POSITION_SCALES(b)), total, acc);
    }
    if (n == 1) { out[0] = acc1; return; }
    float r[8];
    _mm256_storeu_ps(r, acc);
    for (int i = 0; i < n; i++) out[i * os] = r[i];
}

// The 32-value formats with signed quants (Q4_0, Q5_0, Q8_0), two blocks per register: each pair of
// weight blocks is decoded once, its magnitudes and signs taken once, then multiplied against every
// position, the scales applied as the AVX2 kernel applies them (so one position gives its floats too).
#define SIGNED_BODY(name, block_t, PAIR, ONE)                                                                \
    ALWAYS_INLINE void dots_##name##_512_body(const block_t *x, const char *yb, size_t ys, const float *dt, size_t dstride, \
                                              size_t nb, const int n, float *out, size_t os) {               \
        (void)dt, (void)dstride;                                                                             \
        __m256 acc[MK_WIDE_POSITIONS][2];                                                                    \
        for (int i = 0; i < n; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();                             \
        const __m512i zero = _mm512_setzero_si512();                                                         \
        size_t b = 0;                                                                                        \
        for (; b + 2 <= nb; b += 2) {                                                                        \
            PREFETCH_WEIGHTS(x + b, 2 * sizeof *x);                                                          \
            __m512i q = PAIR(x, b);                                                                          \
            __mmask64 negative = _mm512_movepi8_mask(q);                                                     \
            __m512i magnitude = _mm512_abs_epi8(q);                                                          \
            float d0 = h2f(x[b].d), d1 = h2f(x[b + 1].d);                                                    \
            for (int i = 0; i < n; i++) {                                                                    \
                const block_q8_0 *y = YB(block_q8_0, i);                                                     \
                __m512i a = load_2x32(y[0].qs, y[1].qs);                                                     \
                __m512i sums = _mm512_dpbusd_epi32(zero, magnitude, _mm512_mask_sub_epi8(a, negative, zero, a)); \
                add_2_blocks(acc[i], sums, d0 * h2f(y[0].d), d1 * h2f(y[1].d));                              \
            }                                                                                                \
        }                                                                                                    \
        if (b < nb) {                                                                                        \
            __m256i q = ONE(x, b);                                                                           \
            for (int i = 0; i < n; i++) {                                                                    \
                const block_q8_0 *y = YB(block_q8_0, i);                                                     \
                acc[i][0] = add_1_block(acc[i][0], dot_i8_i8_vnni(q, _mm256_loadu_si256((const __m256i *)y->qs)), h2f(x[b].d) * h2f(y->d)); \
            }                                                                                                \
        }                                                                                                    \
        for (int i = 0; i < n; i++) out[i * os] = hsum_ps(_mm256_add_ps(acc[i][0], acc[i][1]));             \
    }

#define Q8_0_PAIR(x, b) load_2x32(x[b].qs, x[b + 1].qs)
#define Q8_0_ONE(x, b) _mm256_loadu_si256((const __m256i *)x[b].qs)
#define Q4_0_PAIR(x, b) _mm512_sub_epi8(unpack_nibbles_2(x[b].qs, x[b + 1].qs), _mm512_set1_epi8(8))
#define Q4_0_ONE(x, b) _mm256_sub_epi8(unpack_nibbles(x[b].qs), _mm256_set1_epi8(8))
#define Q5_0_ONE(x, b) _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(x[b].qs), _mm256_and_si256(bits_to_bytes(x[b].qh), _mm256_set1_epi8(0x10))), \
                                       _mm256_set1_epi8(16))

// Q5_0's fifth bits straight into a byte mask: set bit j puts 16 into byte j.
static inline __m512i q5_0_pair(const block_q5_0 *x, size_t b) {
    uint32_t h0, h1;
    memcpy(&h0, x[b].qh, 4);
    memcpy(&h1, x[b + 1].qh, 4);
    __mmask64 high = (__mmask64)h0 | ((__mmask64)h1 << 32);
    __m512i q = unpack_nibbles_2(x[b].qs, x[b + 1].qs);
    q = _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(16));
    return _mm512_sub_epi8(q, _mm512_set1_epi8(16));
}

SIGNED_BODY(q8_0, block_q8_0, Q8_0_PAIR, Q8_0_ONE)
SIGNED_BODY(q4_0, block_q4_0, Q4_0_PAIR, Q4_0_ONE)
SIGNED_BODY(q5_0, block_q5_0, q5_0_pair, Q5_0_ONE)
#undef POSITION_SCALES
#undef SIGNED_BODY
#undef Q8_0_PAIR
#undef Q8_0_ONE
#undef Q4_0_PAIR
#undef Q4_0_ONE
#undef Q5_0_ONE

#define DOTS(name)                                                                                           \
    static void dots_##name##_avx512(const void *x, const char *yb, size_t ys, const float *dt, size_t nb, int n, float *out, \
                                     size_t os) {                                                            \
        switch (n) {                                                                                         \
        case 1: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 1, out, os); break;                             \
        case 2: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 2, out, os); break;                             \
        case 3: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 3, out, os); break;                             \
        case 4: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 4, out, os); break;                             \
        case 5: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 5, out, os); break;                             \
        case 6: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 6, out, os); break;                             \
        case 7: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 7, out, os); break;                             \
        default: dots_##name##_512_body(x, yb, ys, dt, 8, nb, 8, out, os); break;                            \
        }                                                                                                    \
    }
DOTS(q4_K)
DOTS(q6_K)
DOTS(q8_0)
DOTS(q4_0)
DOTS(q5_0)
#undef DOTS
#undef YB

// One position: the several-positions kernels with n = 1 (the same floats, one place for each format).
// (A K-quant's one position reads its block scales from the Q8_K blocks themselves.)
#define DOT(name, block_t, act_t, SCALES)                                                                    \
    static float dot_##name##_avx512(const block_t *x, const act_t *y, size_t nb) {                          \
        float r;                                                                                             \
        dots_##name##_512_body(x, (const char *)y, 0, SCALES, sizeof(act_t) / sizeof(float), nb, 1, &r, 1);  \
        return r;                                                                                            \
    }
DOT(q4_K, block_q4_K, block_q8_K, &y->d)
DOT(q6_K, block_q6_K, block_q8_K, &y->d)
DOT(q8_0, block_q8_0, block_q8_0, NULL)
DOT(q4_0, block_q4_0, block_q8_0, NULL)
DOT(q5_0, block_q5_0, block_q8_0, NULL)
#undef DOT

#pragma clang attribute pop

// ---- Dispatch ----

// MK_QUANTS_*: the best set the CPU supports, unless a test forced another.
static int quant_level = -1, forced_level = -1;
// The best set allowed by the CPU and MNEMO_QUANT_KERNELS, whatever a test forces later: the 8-bit
// batch path depends on it alone, so that a caller's choice cannot change under it between
// mk_gemm_supported and mk_gemm (tests force the dot-product sets while other tests run models).
static int environment_level = -1;

static int detected_quant_level(void) {
    if (quant_level < 0) {
        unsigned f = mk_cpu_features();
        unsigned avx512 = MK_CPU_AVX512F | MK_CPU_AVX512BW | MK_CPU_AVX512DQ | MK_CPU_AVX512VL | MK_CPU_AVX512VNNI;
        unsigned avx2 = MK_CPU_AVX2 | MK_CPU_FMA | MK_CPU_F16C;
        quant_level = (f & avx512) == avx512 ? MK_QUANTS_AVX512VNNI : (f & avx2) == avx2 ? MK_QUANTS_AVX2 : MK_QUANTS_GENERIC;
        // Benchmarks compare the sets in one run: MNEMO_QUANT_KERNELS=avx2 or generic caps the choice.
        const char *cap = getenv("MNEMO_QUANT_KERNELS");
        if (cap && !strcmp(cap, "avx2") && quant_level > MK_QUANTS_AVX2) forced_level = MK_QUANTS_AVX2;
        if (cap && !strcmp(cap, "generic")) forced_level = MK_QUANTS_GENERIC;
        environment_level = forced_level >= 0 ? forced_level : quant_level;
    }
    return quant_level;
}

int mk_quant_kernels(void) {
    int best = detected_quant_level();  // first, so that MNEMO_QUANT_KERNELS is read
    return forced_level >= 0 ? forced_level : best;
}

int mk_force_quant_kernels(int level) {
    if (level < 0) { forced_level = -1; return 0; }
    if (level > detected_quant_level()) return -1;
    forced_level = level;
    return 0;
}

#define PICK(name) (v >= MK_QUANTS_AVX512VNNI ? name##_avx512 : v >= MK_QUANTS_AVX2 ? name##_avx2 : name##_generic)
#define PICK_AVX2(name) (v >= MK_QUANTS_AVX2 ? name##_avx2 : name##_generic)

float mk_vec_dot(int type, const void *w, const void *xq, size_t n) {
    int v = mk_quant_kernels();
    switch (type) {
    case MK_Q4_0: return PICK(dot_q4_0)(w, xq, n / 32);
    case MK_Q4_1: return PICK(dot_q4_1)(w, xq, n / 32);
    case MK_Q5_0: return PICK(dot_q5_0)(w, xq, n / 32);
    case MK_Q8_0: return PICK(dot_q8_0)(w, xq, n / 32);
    case MK_Q4_K: return PICK(dot_q4_K)(w, xq, n / 256);
    case MK_Q6_K: return PICK(dot_q6_K)(w, xq, n / 256);
    case MK_F16: return PICK_AVX2(dot_f16)(w, xq, n);
    case MK_F32: return PICK_AVX2(dot_f32)(w, xq, n);
    default: return NAN;
    }
}

// (weights, activations, bytes between positions' activations, the K-quants' activation scales table
// (8 per block, see mk_matmul; NULL for the others), blocks, positions, out, out stride).
typedef void (*dots_fn)(const void *, const char *, size_t, const float *, size_t, int, float *, size_t);

// The several-positions kernel for a format (NULL: the single-position one is used per position),
// and how many positions it takes at once.
static dots_fn batched_kernel(int type, int v, int *group) {
    // Benchmarks compare with and without in one run: MNEMO_POSITION_BATCHING=off.
    static int off = -1;
    if (off < 0) { const char *e = getenv("MNEMO_POSITION_BATCHING"); off = e && !strcmp(e, "off"); }
    if (v < MK_QUANTS_AVX2 || off) return NULL;
    dots_fn wide = NULL;
    if (v >= MK_QUANTS_AVX512VNNI) {
        switch (type) {
        case MK_Q4_0: wide = dots_q4_0_avx512; break;
        case MK_Q5_0: wide = dots_q5_0_avx512; break;
        case MK_Q8_0: wide = dots_q8_0_avx512; break;
        case MK_Q4_K: wide = dots_q4_K_avx512; break;
        case MK_Q6_K: wide = dots_q6_K_avx512; break;
        default: break;
        }
    }
    *group = wide ? MK_WIDE_POSITIONS : MK_POSITIONS;
    if (wide) return wide;
    switch (type) {
    case MK_Q4_0: return dots_q4_0_avx2;
    case MK_Q4_1: return dots_q4_1_avx2;
    case MK_Q5_0: return dots_q5_0_avx2;
    case MK_Q8_0: return dots_q8_0_avx2;
    case MK_Q4_K: return dots_q4_K_avx2;
    case MK_Q6_K: return dots_q6_K_avx2;
    default: return NULL;
    }
}

void mk_matmul(int type, const void *w, size_t cols, size_t r0, size_t r1,
               const void *xq, size_t ntok, float *out, size_t ldo) {
    size_t wrow = mk_row_size(type, cols), xrow = mk_row_size(mk_activation_type(type), cols);
    const char *wb = w, *xb = xq;
    int group = 1;
    dots_fn dots = ntok > 1 ? batched_kernel(type, mk_quant_kernels(), &group) : NULL;
    int k_quant = type == MK_Q4_K || type == MK_Q6_K;
    size_t nb = cols / (k_quant ? 256 : 32);
    // The K-quants' wide kernels read each block's activation scales for all positions of a group in
    // one load: a table of 8 per block and group, zero past the last position (Q8_K's `d`).
    float *scales = NULL;
    if (dots && k_quant && group == MK_WIDE_POSITIONS) {
        size_t groups = (ntok + group - 1) / group;
        scales = aligned_alloc(64, groups * nb * 8 * sizeof(float));
        if (!scales) { dots = NULL; } else {
            for (size_t g = 0; g < groups; g++)
                for (size_t b = 0; b < nb; b++)
                    for (size_t i = 0; i < 8; i++) {
                        size_t t = g * group + i;
                        scales[(g * nb + b) * 8 + i] = t < ntok ? ((const block_q8_K *)(xb + t * xrow))[b].d : 0;
                    }
        }
    }
    // Tiles of rows small enough to stay in L1/L2 while every token's activations stream past them.
    const size_t tile = 16;
    for (size_t rt = r0; rt < r1; rt += tile) {
        size_t re = rt + tile < r1 ? rt + tile : r1;
        if (dots) {
            for (size_t t = 0; t < ntok; t += group) {
                int n = ntok - t < (size_t)group ? (int)(ntok - t) : group;
                const float *dt = scales ? scales + (t / group) * nb * 8 : NULL;
                for (size_t r = rt; r < re; r++) dots(wb + r * wrow, xb + t * xrow, xrow, dt, nb, n, out + t * ldo + r, ldo);
            }
            continue;
        }
        for (size_t t = 0; t < ntok; t++)
            for (size_t r = rt; r < re; r++)
                out[t * ldo + r] = mk_vec_dot(type, wb + r * wrow, xb + t * xrow, cols);
    }
    free(scales);
}

// ---- Prompt batches in 8 bits, AVX-512 VNNI: block-quantised weights times many positions ----
//
// For 32 positions and more (a prompt) the dot products above spend most of their operations applying
// scales: per 32 values and position, 3 for the K-quants' 16-bit sub-block scales, 2 for a block's
// float scale. Here both sides are first laid out so that one VPDPBUSD lane sums one 16-value chunk
// (Q8_K's `bsums` unit; a Q6_K sub-block, half a Q4_K sub-block or of a 32-value block): four cover
// 256 values for 16 chunks at once, and the scales are applied once per 256 values in floats. A tile
// of weight rows is decoded into that layout once and used against every position; each position's
// activations are quantised as the decode path quantises them (Q8_K, or Q8_0 for the 32-value
// formats) and laid out once per batch. The integer sums are the dot products', the floats are added
// in another order: results differ from the single-position kernels by rounding only, as sgemm's did
// (this path replaces dequantising to floats for sgemm where the CPU has VNNI).

// 256 values of either side (zero-padded past the row's end), 64-byte aligned: byte 64·g + 4·c + k
// holds value 16·c + 4·g + k (chunk c, group g), then 16 floats, then 16 more. Weights: the weights
// are (u − offset) · scale per chunk with u unsigned; `scale` holds each chunk's scale and `min`
// what one unit of the activations' chunk sum takes away (offset · scale, or the Q4_K/Q4_1 mins).
// Activations: `dsum` holds d · the chunk's integer sum, `d` each chunk's d.
typedef struct { uint8_t qs[256]; float scale[16]; float min[16]; } gemm_weight_block;
typedef struct { int8_t qs[256]; float dsum[16]; float d[16]; } gemm_act_block;
_Static_assert(sizeof(gemm_weight_block) == 384 && sizeof(gemm_act_block) == 384, "gemm blocks");

static int gemm_k_quant(int type) { return type == MK_Q4_K || type == MK_Q6_K; }
static size_t gemm_blocks(size_t cols) { return (cols + 255) / 256; }

int mk_gemm_supported(int type, size_t cols) {
    static int off = -1;  // benchmarks compare with sgemm in one run: MNEMO_GEMM8=off
    if (off < 0) { const char *e = getenv("MNEMO_GEMM8"); off = e && !strcmp(e, "off"); }
    detected_quant_level();  // reads MNEMO_QUANT_KERNELS once
    if (off || environment_level < MK_QUANTS_AVX512VNNI) return 0;
    if (gemm_k_quant(type)) return cols % 256 == 0;
    return (type == MK_Q4_0 || type == MK_Q4_1 || type == MK_Q5_0 || type == MK_Q8_0) && cols % 32 == 0;
}

size_t mk_gemm_activation_size(size_t cols, size_t ntok) { return ntok * gemm_blocks(cols) * sizeof(gemm_act_block); }

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)

// 256 values in natural order (four registers of 64) to the chunk-major layout above: group g of
// the result takes dword 4·c + g of the input for chunks c = 0..15.
static inline void gemm_layout(const __m512i n[4], uint8_t *dst) {
    for (int g = 0; g < 4; g++) {
        const __m512i idx = _mm512_set_epi32(28 + g, 24 + g, 20 + g, 16 + g, 12 + g, 8 + g, 4 + g, g,
                                             28 + g, 24 + g, 20 + g, 16 + g, 12 + g, 8 + g, 4 + g, g);
        __m512i lo = _mm512_permutex2var_epi32(n[0], idx, n[1]);  // chunks 0..7
        __m512i hi = _mm512_permutex2var_epi32(n[2], idx, n[3]);  // chunks 8..15
        _mm512_storeu_si512(dst + 64 * g, _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1));
    }
}

static inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

static void gemm_decode_q4_K(const block_q4_K *x, gemm_weight_block *out, size_t nb) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (size_t b = 0; b < nb; b++) {
        __m512i n[4];
        for (int j = 0; j < 4; j++) {  // 64 values: 32 low nibbles (sub-block 2j), 32 high (2j+1)
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * j));
            n[j] = join(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        }
        gemm_layout(n, out[b].qs);
        float d = h2f(x[b].d), dmin = h2f(x[b].dmin);
        uint64_t sc, mn;
        q4_K_scales_mins(x[b].scales, &sc, &mn);
        for (int j = 0; j < 8; j++) {
            out[b].scale[2 * j] = out[b].scale[2 * j + 1] = d * (uint8_t)(sc >> (8 * j));
            out[b].min[2 * j] = out[b].min[2 * j + 1] = dmin * (uint8_t)(mn >> (8 * j));
        }
    }
}

static void gemm_decode_q6_K(const block_q6_K *x, gemm_weight_block *out, size_t nb) {
    for (size_t b = 0; b < nb; b++) {
        __m512i n[4];
        for (int half = 0; half < 2; half++) {  // q + 32 (0..63), as the dot products read them
            __m256i q[4];
            q6_K_half(x[b].ql + 64 * half, x[b].qh + 32 * half, q);
            n[2 * half] = join(q[0], q[1]);
            n[2 * half + 1] = join(q[2], q[3]);
        }
        gemm_layout(n, out[b].qs);
        float d = h2f(x[b].d);
        for (int c = 0; c < 16; c++) {  // value = d · scale · (q − 32)
            out[b].scale[c] = d * x[b].scales[c];
            out[b].min[c] = 32 * d * x[b].scales[c];
        }
    }
}

// The 32-value formats, 8 blocks to a 256-value layout block (the row's last one zero-padded). Each
// block's 32 values as unsigned bytes, its scale, and what a unit of activation sum takes away.
static inline __m256i gemm_unsigned_32(int type, const void *row, size_t i, float *scale, float *min) {
    switch (type) {
    case MK_Q8_0: {  // q + 128: (u − 128) · d
        const block_q8_0 *x = (const block_q8_0 *)row + i;
        *scale = h2f(x->d); *min = 128 * *scale;
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x->qs), _mm256_set1_epi8((char)0x80));
    }
    case MK_Q4_0: {
        const block_q4_0 *x = (const block_q4_0 *)row + i;
        *scale = h2f(x->d); *min = 8 * *scale;
        return unpack_nibbles(x->qs);
    }
    case MK_Q5_0: {
        const block_q5_0 *x = (const block_q5_0 *)row + i;
        *scale = h2f(x->d); *min = 16 * *scale;
        return _mm256_or_si256(unpack_nibbles(x->qs), _mm256_and_si256(bits_to_bytes(x->qh), _mm256_set1_epi8(0x10)));
    }
    default: {  // Q4_1: u · d + m
        const block_q4_1 *x = (const block_q4_1 *)row + i;
        *scale = h2f(x->d); *min = -h2f(x->m);
        return unpack_nibbles(x->qs);
    }
    }
}

static void gemm_decode_32(int type, const void *row, size_t cols, gemm_weight_block *out) {
    size_t blocks = cols / 32;
    for (size_t b = 0; b < gemm_blocks(cols); b++) {
        __m256i v[8];
        for (int j = 0; j < 8; j++) {
            size_t i = 8 * b + j;
            float scale = 0, min = 0;
            v[j] = i < blocks ? gemm_unsigned_32(type, row, i, &scale, &min) : _mm256_setzero_si256();
            out[b].scale[2 * j] = out[b].scale[2 * j + 1] = scale;
            out[b].min[2 * j] = out[b].min[2 * j + 1] = min;
        }
        __m512i n[4] = { join(v[0], v[1]), join(v[2], v[3]), join(v[4], v[5]), join(v[6], v[7]) };
        gemm_layout(n, out[b].qs);
    }
}

void mk_gemm_prepare(int type, const float *x, size_t cols, size_t ntok, void *dst) {
    size_t nb = gemm_blocks(cols);
    gemm_act_block *out = dst;
    for (size_t t = 0; t < ntok; t++, x += cols) {
        for (size_t b = 0; b < nb; b++) {
            gemm_act_block *a = &out[t * nb + b];
            int8_t qs[256] = {0};
            if (gemm_k_quant(type)) {
                block_q8_K q;
                quantize_q8_K(x + b * 256, &q, 256);
                memcpy(qs, q.qs, 256);
                for (int c = 0; c < 16; c++) { a->d[c] = q.d; a->dsum[c] = q.d * (float)q.bsums[c]; }
            } else {
                size_t n = cols - b * 256 < 256 ? cols - b * 256 : 256;
                block_q8_0 q[8];
                quantize_q8_0(x + b * 256, q, n, 0);
                for (int j = 0; j < 8; j++) {
                    int live = 32 * j < (int)n;
                    if (live) memcpy(qs + 32 * j, q[j].qs, 32);
                    float d = live ? h2f(q[j].d) : 0;
                    for (int h = 0; h < 2; h++) {
                        int sum = 0;
                        for (int k = 0; k < 16; k++) sum += qs[32 * j + 16 * h + k];
                        a->d[2 * j + h] = d;
                        a->dsum[2 * j + h] = d * (float)sum;
                    }
                }
            }
            __m512i n[4];
            for (int j = 0; j < 4; j++) n[j] = _mm512_loadu_si512(qs + 64 * j);
            gemm_layout(n, (uint8_t *)a->qs);
        }
    }
}

// R weight rows against P positions over all blocks; the accumulators stay in registers.
ALWAYS_INLINE void gemm_tile(const gemm_weight_block *w, size_t wstride, const gemm_act_block *a, size_t astride,
                             size_t nb, const int R, const int P, float *out, size_t ldo) {
    __m512 acc[2][4];
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++) acc[r][p] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        __m512i u[2][4];
        __m512 scale[2], min[2];
        for (int r = 0; r < R; r++) {
            const gemm_weight_block *wb = w + r * wstride + b;
            for (int g = 0; g < 4; g++) u[r][g] = _mm512_load_si512(wb->qs + 64 * g);
            scale[r] = _mm512_load_ps(wb->scale);
            min[r] = _mm512_load_ps(wb->min);
        }
        for (int p = 0; p < P; p++) {
            const gemm_act_block *ab = a + p * astride + b;
            __m512i q[4];
            for (int g = 0; g < 4; g++) q[g] = _mm512_load_si512(ab->qs + 64 * g);
            __m512 dsum = _mm512_load_ps(ab->dsum), d = _mm512_load_ps(ab->d);
            for (int r = 0; r < R; r++) {
                __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[r][0], q[0]);
                for (int g = 1; g < 4; g++) s = _mm512_dpbusd_epi32(s, u[r][g], q[g]);
                acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(scale[r], d), acc[r][p]);
                acc[r][p] = _mm512_fnmadd_ps(min[r], dsum, acc[r][p]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++) out[p * ldo + r] = _mm512_reduce_add_ps(acc[r][p]);
}

static void gemm_tile_any(const gemm_weight_block *w, size_t wstride, const gemm_act_block *a, size_t astride,
                          size_t nb, int R, int P, float *out, size_t ldo) {
    if (R == 2) {
        switch (P) {
        case 4: gemm_tile(w, wstride, a, astride, nb, 2, 4, out, ldo); return;
        case 3: gemm_tile(w, wstride, a, astride, nb, 2, 3, out, ldo); return;
        case 2: gemm_tile(w, wstride, a, astride, nb, 2, 2, out, ldo); return;
        default: gemm_tile(w, wstride, a, astride, nb, 2, 1, out, ldo); return;
        }
    }
    switch (P) {
    case 4: gemm_tile(w, wstride, a, astride, nb, 1, 4, out, ldo); return;
    case 3: gemm_tile(w, wstride, a, astride, nb, 1, 3, out, ldo); return;
    case 2: gemm_tile(w, wstride, a, astride, nb, 1, 2, out, ldo); return;
    default: gemm_tile(w, wstride, a, astride, nb, 1, 1, out, ldo); return;
    }
}

int mk_gemm(int type, const void *w, size_t cols, size_t r0, size_t r1, const void *xp, size_t ntok, float *out, size_t ldo) {
    if (!mk_gemm_supported(type, cols) || (uintptr_t)xp % 64) return -1;
    size_t nb = gemm_blocks(cols), wrow = mk_row_size(type, cols);
    const gemm_act_block *act = xp;
    // A tile of rows decoded once (16 rows · 35 blocks · 384 bytes at most here: L2), then positions
    // in tiles that stay in L2 beside it while each pair of rows passes over them.
    const size_t row_tile = 16, pos_tile = 32;
    gemm_weight_block *tile = aligned_alloc(64, row_tile * nb * sizeof(gemm_weight_block));
    if (!tile) return -1;
    for (size_t rt = r0; rt < r1; rt += row_tile) {
        size_t rows = r1 - rt < row_tile ? r1 - rt : row_tile;
        for (size_t i = 0; i < rows; i++) {
            const void *row = (const char *)w + (rt + i) * wrow;
            if (type == MK_Q4_K) gemm_decode_q4_K(row, tile + i * nb, nb);
            else if (type == MK_Q6_K) gemm_decode_q6_K(row, tile + i * nb, nb);
            else gemm_decode_32(type, row, cols, tile + i * nb);
        }
        for (size_t pt = 0; pt < ntok; pt += pos_tile) {
            size_t pe = pt + pos_tile < ntok ? pt + pos_tile : ntok;
            for (size_t i = 0; i < rows; i += 2) {
                int R = rows - i >= 2 ? 2 : 1;
                for (size_t p = pt; p < pe; p += 4) {
                    int P = pe - p >= 4 ? 4 : (int)(pe - p);
                    gemm_tile_any(tile + i * nb, nb, act + p * nb, nb, nb, R, P, out + p * ldo + rt + i, ldo);
                }
            }
        }
    }
    free(tile);
    return 0;
}

#pragma clang attribute pop
