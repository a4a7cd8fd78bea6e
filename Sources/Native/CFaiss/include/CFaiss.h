// CFaiss: the subset of FAISS's C API that Mnemo uses, implemented by shim.cpp over Debian's
// static C++ libfaiss (Debian ships the c_api headers but no libfaiss_c).
//
// The subset is declared here rather than by including <faiss/c_api/*.h> so that Swift sees only
// functions that are actually implemented (the official headers declare ~150 more, plus global
// names such as `idx_t` and `OK`). shim.cpp includes the official headers before this one, so
// the compiler checks that every `faiss_*` declaration below matches the official signature.
//
// Error convention (as in the official C API): int-returning functions return 0 on success,
// -2 for a faiss::FaissException, -4 for another std::exception, -1 for anything else; the
// message is then available from faiss_get_last_error() on the same thread. No C++ exception
// ever crosses this interface.
//
// Threads: FAISS parallelises with OpenMP (libgomp), whose spinning worker threads fight
// OpenBLAS's own threads. The shim therefore runs FAISS single-threaded by default: before each
// call that may compute, it applies the process-wide setting from mnemo_faiss_set_omp_threads
// (default 1) to the calling thread, because omp_set_num_threads only affects the thread that
// calls it and Swift runs work on many threads.

#ifndef MNEMO_CFAISS_H
#define MNEMO_CFAISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t faiss_idx_t;

/// Opaque handles (same spelling as the official headers).
typedef struct FaissIndex_H FaissIndex;
typedef struct FaissIDSelector_H FaissIDSelector;
typedef struct FaissIDSelectorBatch_H FaissIDSelectorBatch;

// The official Index_c.h defines this enum too; skip ours when it was already included (by
// shim.cpp) since C++ forbids redefining it. shim.cpp static_asserts the values.
#ifndef FAISS_INDEX_C_H
typedef enum FaissMetricType {
    METRIC_INNER_PRODUCT = 0, ///< maximum inner product search
    METRIC_L2 = 1,            ///< squared L2 search
} FaissMetricType;
#endif

/// Message of the last failed call on this thread ("" if none). Valid until the next failure.
const char* faiss_get_last_error(void);

/// Builds an index from a factory string, e.g. "IDMap2,Flat", "HNSW32", "IVF4,Flat".
int faiss_index_factory(FaissIndex** p_index, int d, const char* description,
                        FaissMetricType metric);
void faiss_Index_free(FaissIndex* obj);

// Getters return 0 for a NULL index.
int faiss_Index_d(const FaissIndex* index);
int faiss_Index_is_trained(const FaissIndex* index);
faiss_idx_t faiss_Index_ntotal(const FaissIndex* index);

int faiss_Index_train(FaissIndex* index, faiss_idx_t n, const float* x);
int faiss_Index_add(FaissIndex* index, faiss_idx_t n, const float* x);
int faiss_Index_add_with_ids(FaissIndex* index, faiss_idx_t n, const float* x,
                             const faiss_idx_t* xids);
/// distances and labels hold n*k entries; missing results have label -1.
int faiss_Index_search(const FaissIndex* index, faiss_idx_t n, const float* x, faiss_idx_t k,
                       float* distances, faiss_idx_t* labels);
int faiss_Index_reset(FaissIndex* index);
/// Fails (with a message) on index types without removal, e.g. HNSW in FAISS 1.7.3.
int faiss_Index_remove_ids(FaissIndex* index, const FaissIDSelector* sel, size_t* n_removed);

/// A selector over a copy of `indices`. Pass it to remove_ids as a FaissIDSelector
/// (both are OpaquePointer in Swift); free it with faiss_IDSelector_free.
int faiss_IDSelectorBatch_new(FaissIDSelectorBatch** p_sel, size_t n, const faiss_idx_t* indices);
void faiss_IDSelector_free(FaissIDSelector* obj);

int faiss_write_index_fname(const FaissIndex* idx, const char* fname);
/// io_flags: 0, or FAISS_IO_FLAG_MMAP (1) / FAISS_IO_FLAG_READ_ONLY (2).
int faiss_read_index_fname(const char* fname, int io_flags, FaissIndex** p_out);

// Mnemo additions. The search-time knobs look through IDMap/PreTransform/Refine wrappers
// (via faiss::ParameterSpace) and fail if the index has no such parameter. They mutate the
// index, so don't call them concurrently with searches on the same index.
int mnemo_faiss_set_hnsw_ef_search(FaissIndex* index, int ef_search);
int mnemo_faiss_set_nprobe(FaissIndex* index, size_t nprobe);
/// The external ids of an IDMap2 index, in internal order. With ids == NULL only *count is set;
/// otherwise capacity must be at least the count.
int mnemo_faiss_idmap_ids(const FaissIndex* index, faiss_idx_t* ids, size_t capacity, size_t* count);
/// Process-wide OpenMP thread count for FAISS calls (default 1; values < 1 become 1).
void mnemo_faiss_set_omp_threads(int n);

#ifdef __cplusplus
}
#endif

#endif
