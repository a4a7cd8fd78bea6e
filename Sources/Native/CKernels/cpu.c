// What this CPU can do, and the BLAS kernels chosen for it.
//
// Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels by CPU model number when it loads. A model
// it does not know falls back to Prescott (SSE3), which measured 3-4x slower sgemm than SkylakeX on an
// AVX-512 Xeon. So at start-up, before main and before any BLAS call, Mnemo compares OpenBLAS's choice
// with the instruction sets the CPU (and the OS) actually offer and, when OpenBLAS chose below them,
// re-initialises it with the best matching core type, checks one sgemm against a plain loop, and keeps
// OpenBLAS's own choice if that check fails. OPENBLAS_CORETYPE, when set, is the user's word: untouched.
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>

// OpenBLAS's own entry points, weak so that a BLAS without dynamic kernels still links and runs.
extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
extern void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc) __attribute__((weak));

unsigned mk_cpu_features(void) {
    static unsigned features = 0, known = 0;
    if (known) return features;
    __builtin_cpu_init();
    // compiler-rt reports the AVX and AVX-512 families only where the OS saves their registers (XCR0).
    if (__builtin_cpu_supports("sse3")) features |= MK_CPU_SSE3;
    if (__builtin_cpu_supports("avx")) features |= MK_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) features |= MK_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) features |= MK_CPU_FMA;
    if (__builtin_cpu_supports("f16c")) features |= MK_CPU_F16C;
    if (__builtin_cpu_supports("avx512f")) features |= MK_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) features |= MK_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512dq")) features |= MK_CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vl")) features |= MK_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512vnni")) features |= MK_CPU_AVX512VNNI;
    if (__builtin_cpu_supports("avx512bf16")) features |= MK_CPU_AVX512BF16;
    if (__builtin_cpu_supports("avxvnni")) features |= MK_CPU_AVXVNNI;
    known = 1;
    return features;
}

// Instruction-set levels OpenBLAS's x86-64 core types are written for.
enum { LEVEL_SSE = 0, LEVEL_AVX = 1, LEVEL_AVX2 = 2, LEVEL_AVX512 = 3 };

static int core_level(const char *core) {
    static const char *avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *avx2[] = {"Haswell", "Zen", "Excavator"};
    static const char *avx[] = {"SandyBridge", "Bulldozer", "Piledriver", "Steamroller"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++) if (!strcasecmp(core, avx512[i])) return LEVEL_AVX512;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++) if (!strcasecmp(core, avx2[i])) return LEVEL_AVX2;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++) if (!strcasecmp(core, avx[i])) return LEVEL_AVX;
    return LEVEL_SSE;
}

static int cpu_level(unsigned f) {
    unsigned avx512 = MK_CPU_AVX512F | MK_CPU_AVX512BW | MK_CPU_AVX512DQ | MK_CPU_AVX512VL;
    if ((f & avx512) == avx512) return LEVEL_AVX512;
    if ((f & (MK_CPU_AVX2 | MK_CPU_FMA)) == (MK_CPU_AVX2 | MK_CPU_FMA)) return LEVEL_AVX2;
    if (f & MK_CPU_AVX) return LEVEL_AVX;
    return LEVEL_SSE;
}

const char *mk_blas_core_for(unsigned features, const char *current) {
    int want = cpu_level(features);
    if (current && core_level(current) >= want) return NULL;
    switch (want) {
    case LEVEL_AVX512: return (features & MK_CPU_AVX512BF16) ? "Cooperlake" : "SkylakeX";
    case LEVEL_AVX2: return "Haswell";
    case LEVEL_AVX: return "SandyBridge";
    default: return NULL;
    }
}

static char detected[32] = "", origin[16] = "none";

const char *mk_blas_core(void) { return openblas_get_corename ? openblas_get_corename() : "unknown"; }
const char *mk_blas_detected_core(void) { return detected[0] ? detected : mk_blas_core(); }
const char *mk_blas_core_origin(void) { return origin; }

// One small sgemm with awkward sizes (edge tiles on every side) against a plain loop.
static int sgemm_agrees(void) {
    enum { M = 37, N = 29, K = 53 };
    static float a[M * K], b[N * K], c[M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7) % 13 - 6) / 8;
    for (int i = 0; i < N * K; i++) b[i] = (float)((i * 5) % 11 - 5) / 4;
    cblas_sgemm(101 /* row major */, 111 /* A */, 112 /* Bᵀ */, M, N, K, 1, a, K, b, K, 0, c, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[i * K + k] * b[j * K + k];
            if (fabs(s - c[i * N + j]) > 1e-3 * (1 + fabs(s))) return 0;
        }
    return 1;
}

int mk_blas_select_core(const char *core) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || !openblas_get_corename || !cblas_sgemm) return -1;
    const char *saved = getenv("OPENBLAS_CORETYPE");
    char previous[32];
    strncpy(previous, mk_blas_core(), sizeof previous - 1);
    previous[sizeof previous - 1] = 0;
    // OpenBLAS reads the core type from the environment only; the variable is put back afterwards so
    // that programs Mnemo starts see the environment they were given.
    char *keep = saved ? strdup(saved) : NULL;
    setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    int ok = !strcasecmp(mk_blas_core(), core) && sgemm_agrees();
    if (!ok) {  // back to what was there
        setenv("OPENBLAS_CORETYPE", previous, 1);
        gotoblas_dynamic_quit();
        gotoblas_dynamic_init();
    }
    if (keep) { setenv("OPENBLAS_CORETYPE", keep, 1); free(keep); } else unsetenv("OPENBLAS_CORETYPE");
    return ok ? 0 : -1;
}

__attribute__((constructor)) static void choose_blas_core_at_start(void) {
    if (!openblas_get_corename) return;
    strncpy(detected, openblas_get_corename(), sizeof detected - 1);
    // MNEMO_BLAS_CORE speaks for Mnemo alone, so it comes before OPENBLAS_CORETYPE, which a shell may set for
    // every program: "auto" applies Mnemo's rule even then (raising a core below the CPU's), "openblas" keeps
    // OpenBLAS's choice, a core name forces that one. Without it, OPENBLAS_CORETYPE is the user's word.
    const char *setting = getenv("MNEMO_BLAS_CORE");
    int has_setting = setting && *setting;
    if (!has_setting && getenv("OPENBLAS_CORETYPE")) { strcpy(origin, "environment"); return; }
    if (has_setting && strcasecmp(setting, "auto")) {
        if (!strcasecmp(setting, "openblas")) { strcpy(origin, getenv("OPENBLAS_CORETYPE") ? "environment" : "openblas"); return; }
        strcpy(origin, mk_blas_select_core(setting) == 0 ? "setting" : "openblas");
        return;
    }
    const char *want = mk_blas_core_for(mk_cpu_features(), detected);
    strcpy(origin, want && mk_blas_select_core(want) == 0 ? "mnemo" : "openblas");
}
