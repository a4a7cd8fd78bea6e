// A small pool of worker threads for fine-grained parallel loops.
//
// A decoder step runs ~150 short parallel regions (microseconds of work each on a small model), so
// waking threads through Dispatch or a condition variable for each costs more than the work. Workers
// here spin briefly on an atomic word between regions, then yield, then sleep.
//
// Work is split into chunks that threads claim one at a time, so a worker the OS has descheduled
// (other processes, a busy 2-core machine) never holds up a region: whoever runs claims the rest.
// The claim word packs (generation, chunk count, next chunk) into one 64-bit atomic, so a late
// worker's claim on a finished region fails its compare-and-swap instead of running stale work.
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define MAX_WORKERS 63
#define SPIN_NS 50000L     // pure spinning after a region (50 µs)
#define YIELD_NS 3000000L  // then spinning with sched_yield, until the worker sleeps (3 ms)

// claim word: generation (24 bits) | chunk count (20 bits) | next chunk (20 bits)
#define NEXT_BITS 20
#define COUNT_BITS 20
#define MASK20 ((1ULL << 20) - 1)
#define MAX_CHUNKS ((int)MASK20)

static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_uint_fast64_t claim;
static atomic_int done;        // chunks finished in the current region
static atomic_int sleepers;
static atomic_int workers;     // threads started
static mk_chunk_fn region_fn;  // published by the release store of `claim`
static void *region_ctx;
static _Thread_local int inside_pool = 0;

static inline uint64_t generation_of(uint64_t w) { return w >> (NEXT_BITS + COUNT_BITS); }
static inline int count_of(uint64_t w) { return (int)((w >> NEXT_BITS) & MASK20); }
static inline int next_of(uint64_t w) { return (int)(w & MASK20); }

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// Claims and runs chunks of the region of generation `gen` until none are left.
static void run_chunks(uint64_t gen) {
    uint64_t w = atomic_load_explicit(&claim, memory_order_acquire);
    for (;;) {
        if (generation_of(w) != gen || next_of(w) >= count_of(w)) return;
        if (!atomic_compare_exchange_weak_explicit(&claim, &w, w + 1, memory_order_acq_rel, memory_order_acquire))
            continue;  // w now holds the current word
        region_fn(region_ctx, next_of(w), count_of(w));
        atomic_fetch_add_explicit(&done, 1, memory_order_release);
        w = atomic_load_explicit(&claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    inside_pool = 1;
    uint64_t seen = generation_of(atomic_load(&claim));
    for (;;) {
        long start = now_ns();
        unsigned spins = 0;
        uint64_t gen;
        while ((gen = generation_of(atomic_load_explicit(&claim, memory_order_acquire))) == seen) {
            cpu_relax();
            if (++spins % 256) continue;
            long waited = now_ns() - start;
            if (waited < SPIN_NS) continue;
            if (waited < YIELD_NS) { sched_yield(); continue; }
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (generation_of(atomic_load(&claim)) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = gen;
        run_chunks(gen);
    }
    return NULL;
}

static void ensure_workers(int n) {
    while (atomic_load(&workers) < n && atomic_load(&workers) < MAX_WORKERS) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&t, &attr, worker_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) return;
        atomic_fetch_add(&workers, 1);
    }
}

int mk_parallel_for(int threads, int chunks, mk_chunk_fn fn, void *ctx) {
    if (chunks <= 0) return 0;
    if (chunks > MAX_CHUNKS) chunks = MAX_CHUNKS;
    // Nested regions, or a region while another thread holds the pool: run here, serially.
    if (threads <= 1 || chunks == 1 || inside_pool || pthread_mutex_trylock(&region_lock) != 0) {
        int saved = inside_pool;
        inside_pool = 1;
        for (int c = 0; c < chunks; c++) fn(ctx, c, chunks);
        inside_pool = saved;
        return 1;
    }
    ensure_workers(threads - 1);
    region_fn = fn;
    region_ctx = ctx;
    atomic_store_explicit(&done, 0, memory_order_relaxed);
    uint64_t gen = (generation_of(atomic_load(&claim)) + 1) & ((1ULL << 24) - 1);
    atomic_store_explicit(&claim, (gen << (NEXT_BITS + COUNT_BITS)) | ((uint64_t)chunks << NEXT_BITS), memory_order_release);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    inside_pool = 1;
    run_chunks(gen);
    inside_pool = 0;
    // Chunks another thread claimed and is still running.
    unsigned spins = 0;
    while (atomic_load_explicit(&done, memory_order_acquire) < chunks) {
        cpu_relax();
        if (++spins % 1024 == 0) sched_yield();
    }
    pthread_mutex_unlock(&region_lock);
    return threads;
}
