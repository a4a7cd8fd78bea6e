// The block dot-product kernels alone (Tests/Scripts/bench-kernels.sh builds this against two versions of
// quants.c): mk_matmul over synthetic rows of one format, for N positions, one thread, weights in cache.
//   bench_kernels TYPE ROWS COLS POSITIONS REPEATS
// Prints the best time and nanoseconds per 256 weight values and position, and a checksum of the outputs.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: bench_kernels TYPE ROWS COLS POSITIONS REPEATS\n"); return 2; }
    int type = atoi(argv[1]), ntok = atoi(argv[4]), repeats = atoi(argv[5]);
    size_t rows = (size_t)atol(argv[2]), cols = (size_t)atol(argv[3]);
    size_t wrow = mk_row_size(type, cols), xrow = mk_row_size(mk_activation_type(type), cols);
    if (!wrow || !xrow || ntok < 1 || repeats < 1) { fprintf(stderr, "bad arguments\n"); return 2; }
    unsigned char *w = malloc(wrow * rows);
    float *x = malloc(sizeof(float) * cols), *out = malloc(sizeof(float) * rows * ntok);
    unsigned char *xq = aligned_alloc(64, (xrow * ntok + 63) / 64 * 64 + 64);
    srand(1);
    // Random quants with a scale of 2^-7 in every block's fp16 fields (random bytes there would be NaN or huge).
    int k_quant = type == MK_Q4_K || type == MK_Q6_K;
    size_t blocks = cols / (k_quant ? 256 : 32), block = wrow / blocks;
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < wrow; i++) w[r * wrow + i] = (unsigned char)rand();
        for (size_t b = 0; b < blocks; b++) {
            unsigned char *p = w + r * wrow + b * block;
            if (type == MK_Q6_K) { p[208] = 0; p[209] = 0x20; continue; }
            p[0] = 0; p[1] = 0x20;  // d
            if (type == MK_Q4_K || type == MK_Q4_1) { p[2] = 0; p[3] = 0x20; }  // dmin, m
        }
    }
    for (int t = 0; t < ntok; t++) {
        for (size_t i = 0; i < cols; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
        if (mk_quantize_activations(type, x, xq + t * xrow, cols)) { fprintf(stderr, "type %d: no activations\n", type); return 2; }
    }
    double best = 1e9;
    for (int k = 0; k < repeats; k++) {
        double t0 = now();
        mk_matmul(type, w, cols, 0, rows, xq, ntok, out, rows);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    double checksum = 0;
    for (size_t i = 0; i < rows * ntok; i++) checksum += out[i];
    printf("%.3f %.3f %.9g\n", best * 1e3, best * 1e9 / (rows * (cols / 256.0) * ntok), checksum);
    return 0;
}
