// Implements the FAISS C API subset declared in CFaiss.h over the C++ classes of the static
// libfaiss.a. See the header for the error and threading conventions.

// Official C API headers first: CFaiss.h then redeclares the same functions, so any signature
// drift is a compile error ("conflicting types"/"conflicting declaration of C function").
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include "CFaiss.h"

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/IndexIDMap.h>

#include <atomic>
#include <exception>
#include <algorithm>
#include <stdexcept>
#include <string>

// Declared here instead of including <omp.h>: the Swift toolchain's clang ships no omp.h
// (libgomp provides the symbol; Package.swift links gomp). Also why shim.cpp avoids
// <faiss/IndexHNSW.h>, which includes <omp.h>; HNSW/IVF knobs go through ParameterSpace.
extern "C" void omp_set_num_threads(int);

static_assert(METRIC_INNER_PRODUCT == static_cast<int>(faiss::METRIC_INNER_PRODUCT), "metric");
static_assert(METRIC_L2 == static_cast<int>(faiss::METRIC_L2), "metric");

namespace {

thread_local std::string last_error;

std::atomic<int> omp_threads{1};
thread_local int omp_threads_applied = 0; // 0 = never applied on this thread

// omp_set_num_threads sets the calling thread's ICV only, so apply the process-wide value
// lazily on each thread that enters FAISS.
void apply_omp_threads() {
    int n = omp_threads.load(std::memory_order_relaxed);
    if (omp_threads_applied != n) {
        omp_set_num_threads(n);
        omp_threads_applied = n;
    }
}

faiss::Index* cxx(FaissIndex* p) { return reinterpret_cast<faiss::Index*>(p); }
const faiss::Index* cxx(const FaissIndex* p) { return reinterpret_cast<const faiss::Index*>(p); }

struct NullArgument : std::exception {
    const char* what() const noexcept override { return "CFaiss: NULL argument"; }
};

// Runs `body`, mapping every exception to the official C API's error codes.
template <typename F>
int guarded(F&& body) noexcept {
    try {
        apply_omp_threads();
        body();
        return 0;
    } catch (const faiss::FaissException& e) {
        last_error = e.what();
        return -2;
    } catch (const std::exception& e) {
        last_error = e.what();
        return -4;
    } catch (...) {
        last_error = "CFaiss: unknown C++ exception";
        return -1;
    }
}

template <typename... P>
void require(P... ptrs) {
    if (((ptrs == nullptr) || ...)) throw NullArgument();
}

int set_parameter(FaissIndex* index, const char* name, double value) {
    return guarded([&] {
        require(index);
        faiss::ParameterSpace().set_index_parameter(cxx(index), name, value);
    });
}

} // namespace

extern "C" {

const char* faiss_get_last_error() { return last_error.c_str(); }

int faiss_index_factory(FaissIndex** p_index, int d, const char* description,
                        FaissMetricType metric) {
    return guarded([&] {
        require(p_index, description);
        faiss::Index* index =
                faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric));
        *p_index = reinterpret_cast<FaissIndex*>(index);
    });
}

void faiss_Index_free(FaissIndex* obj) { delete cxx(obj); }

int faiss_Index_d(const FaissIndex* index) { return index ? cxx(index)->d : 0; }
int faiss_Index_is_trained(const FaissIndex* index) {
    return index ? cxx(index)->is_trained : 0;
}
faiss_idx_t faiss_Index_ntotal(const FaissIndex* index) {
    return index ? cxx(index)->ntotal : 0;
}

int faiss_Index_train(FaissIndex* index, faiss_idx_t n, const float* x) {
    return guarded([&] {
        require(index, x);
        cxx(index)->train(n, x);
    });
}

int faiss_Index_add(FaissIndex* index, faiss_idx_t n, const float* x) {
    return guarded([&] {
        require(index, x);
        cxx(index)->add(n, x);
    });
}

int faiss_Index_add_with_ids(FaissIndex* index, faiss_idx_t n, const float* x,
                             const faiss_idx_t* xids) {
    return guarded([&] {
        require(index, x, xids);
        cxx(index)->add_with_ids(n, x, xids);
    });
}

int faiss_Index_search(const FaissIndex* index, faiss_idx_t n, const float* x, faiss_idx_t k,
                       float* distances, faiss_idx_t* labels) {
    return guarded([&] {
        require(index, x, distances, labels);
        cxx(index)->search(n, x, k, distances, labels);
    });
}

int faiss_Index_reset(FaissIndex* index) {
    return guarded([&] {
        require(index);
        cxx(index)->reset();
    });
}

int faiss_Index_remove_ids(FaissIndex* index, const FaissIDSelector* sel, size_t* n_removed) {
    return guarded([&] {
        require(index, sel);
        size_t removed =
                cxx(index)->remove_ids(*reinterpret_cast<const faiss::IDSelector*>(sel));
        if (n_removed) *n_removed = removed;
    });
}

int faiss_IDSelectorBatch_new(FaissIDSelectorBatch** p_sel, size_t n,
                              const faiss_idx_t* indices) {
    return guarded([&] {
        require(p_sel);
        if (n > 0) require(indices);
        // Stored through the base pointer so faiss_IDSelector_free can delete it as one.
        faiss::IDSelector* sel = new faiss::IDSelectorBatch(n, indices);
        *p_sel = reinterpret_cast<FaissIDSelectorBatch*>(sel);
    });
}

void faiss_IDSelector_free(FaissIDSelector* obj) {
    delete reinterpret_cast<faiss::IDSelector*>(obj);
}

int faiss_write_index_fname(const FaissIndex* idx, const char* fname) {
    return guarded([&] {
        require(idx, fname);
        faiss::write_index(cxx(idx), fname);
    });
}

int faiss_read_index_fname(const char* fname, int io_flags, FaissIndex** p_out) {
    return guarded([&] {
        require(fname, p_out);
        *p_out = reinterpret_cast<FaissIndex*>(faiss::read_index(fname, io_flags));
    });
}

int mnemo_faiss_set_hnsw_ef_search(FaissIndex* index, int ef_search) {
    return set_parameter(index, "efSearch", ef_search);
}

int mnemo_faiss_set_nprobe(FaissIndex* index, size_t nprobe) {
    return set_parameter(index, "nprobe", static_cast<double>(nprobe));
}

int mnemo_faiss_idmap_ids(const FaissIndex* index, faiss_idx_t* ids, size_t capacity, size_t* count) {
    return guarded([&] {
        require(index, count);
        auto map = dynamic_cast<const faiss::IndexIDMap2*>(cxx(index));
        if (!map) throw std::invalid_argument("CFaiss: index is not an IDMap2 (no id list to read)");
        *count = map->id_map.size();
        if (ids) {
            if (capacity < map->id_map.size()) throw std::length_error("CFaiss: id buffer too small");
            std::copy(map->id_map.begin(), map->id_map.end(), ids);
        }
    });
}

void mnemo_faiss_set_omp_threads(int n) {
    omp_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

} // extern "C"
