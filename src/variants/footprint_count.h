/* src/variants/footprint_count.h — overflow-checked byte counting for the variants' footprint
 * functions (nb_variant.footprint): each buffer a variant allocates is counted as the heap
 * blocks it really takes (the caching allocator's size classes and headers, alloc.h, plus
 * the C library's own overhead), so a declared footprint is never below what the heap holds. */
#ifndef NB_VARIANTS_FOOTPRINT_COUNT_H
#define NB_VARIANTS_FOOTPRINT_COUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/tensor.h"
#include "variants/variant.h"

/* What no formula names and no dimension scales: the state structs (a torch-compatible
 * generator is 2.5 KiB), vars, graph nodes, modules, scopes, view headers, the static graph's
 * plan tables. Measured over the formulas' buffers by tests/test_alloc.c at 3x7x5x2: 2 to 6
 * KiB for the dynamic-engine variants, 71 KiB for the static graph (74 KiB unfused: its
 * instructions and values tables, fixed by the network, not by its sizes). 128 KiB covers
 * every variant with room to spare. */
#define NB_FP_BOOKKEEPING ((int64_t)128 << 10)

/* A running count. Once `overflow` is set the total means nothing and stays unused. */
typedef struct nb_fp {
    int64_t elem;  /* bytes per element of the run's dtype */
    int64_t bytes; /* the count so far */
    bool overflow; /* some term did not fit in int64 */
} nb_fp;

static inline void nb_fp_add(nb_fp *f, int64_t bytes) {
    f->overflow = f->overflow || bytes < 0 || __builtin_add_overflow(f->bytes, bytes, &f->bytes);
}

/* The heap a malloc of `bytes` takes: the C library's chunk header and alignment slack for a
 * block from its heap, a page's rounding for one it maps (blocks from 128 KiB up may be
 * either: the threshold moves at run time). */
static inline void nb_fp_malloc(nb_fp *f, int64_t bytes) {
    nb_fp_add(f, bytes);
    nb_fp_add(f, bytes >= ((int64_t)128 << 10) ? 4096 + 64 : 64);
}

/* The heap a request of `request` bytes to nb_alloc takes: the payload rounded up to its
 * size class as alloc.h documents them (64-byte steps to 1 KiB, then four classes per power
 * of two to 4 GiB, exact above), the allocator's 64-byte header, and malloc's own. */
static inline void nb_fp_block(nb_fp *f, int64_t request) {
    if (request < 0) {
        f->overflow = true;
        return;
    }
    int64_t capacity = request;
    if (request <= 1024) {
        capacity = request == 0 ? 64 : (request + 63) / 64 * 64;
    } else if (request <= ((int64_t)1 << 32)) {
        int k = 63 - __builtin_clzll((unsigned long long)(request - 1)); /* request in (2^k, 2^(k+1)] */
        int64_t low = (int64_t)1 << k, step = (int64_t)1 << (k - 2);
        capacity = low + (request - low + step - 1) / step * step;
    }
    int64_t block = 0;
    if (__builtin_add_overflow(capacity, 64, &block))
        f->overflow = true;
    else
        nb_fp_malloc(f, block);
}

/* `count` tensors of `nbytes` bytes of data each: a header block, and a storage block that
 * holds a 64-byte storage struct and the data in whole 64-byte lines (tensor.c). */
static inline void nb_fp_storage(nb_fp *f, int64_t count, int64_t nbytes) {
    for (int64_t i = 0; i < count && !f->overflow; i++) {
        int64_t lines = 0;
        if (nbytes < 0 || __builtin_add_overflow(nbytes, 63, &lines)) {
            f->overflow = true;
            return;
        }
        lines = lines / 64 * 64;
        nb_fp_block(f, (int64_t)sizeof(nb_tensor));
        nb_fp_block(f, 64 + (lines ? lines : 64));
    }
}

/* rows * cols elements in bytes of the dtype, or -1 (an overflow for the callers) when that
 * does not fit in int64. */
static inline int64_t nb_fp_matrix_bytes(const nb_fp *f, int64_t rows, int64_t cols) {
    int64_t elems, bytes;
    if (rows < 0 || cols < 0 || __builtin_mul_overflow(rows, cols, &elems) ||
        __builtin_mul_overflow(elems, f->elem, &bytes))
        return -1;
    return bytes;
}

/* `count` tensors of shape (rows, cols) in the run's dtype; a vector is (1, n), a scalar (1, 1). */
static inline void nb_fp_tensors(nb_fp *f, int64_t count, int64_t rows, int64_t cols) {
    int64_t bytes = nb_fp_matrix_bytes(f, rows, cols);
    if (bytes < 0)
        f->overflow = true;
    else
        nb_fp_storage(f, count, bytes);
}

/* A count for cfg's dtype that starts with the bookkeeping and the loss history: one double
 * per step, which the harness allocates (calloc) before the variant is created. */
static inline void nb_fp_begin(nb_fp *f, const nb_train_config *cfg) {
    *f = (nb_fp){.elem = (int64_t)nb_dtype_size(cfg->dtype)};
    nb_fp_add(f, NB_FP_BOOKKEEPING);
    int64_t history = 0;
    if (cfg->iters > 0) {
        if (__builtin_mul_overflow(cfg->iters, (int64_t)sizeof(double), &history))
            f->overflow = true;
        else
            nb_fp_malloc(f, history);
    }
}

/* The total into *bytes; false when some term overflowed. */
static inline bool nb_fp_end(const nb_fp *f, int64_t *bytes) {
    *bytes = f->overflow ? INT64_MAX : f->bytes;
    return !f->overflow;
}

#endif
