/* src/harness/gemm_timing.h — timing GEMM kernels side by side on one product, calling the
 * kernels directly so no tensor overhead is measured. Shared by `nabla kernels --bench`,
 * `nabla kernels --sweep` and `nabla tune`, so every GEMM figure nabla prints is measured the
 * same way: a calibrated warm-up, then interleaved repeats whose order rotates. */
#ifndef NB_HARNESS_GEMM_TIMING_H
#define NB_HARNESS_GEMM_TIMING_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "harness/stats.h"
#include "kernels/gemm.h"
#include "tensor/tensor.h"

/* One product C(m, n) = op(A)(m, k) * op(B)(k, n), with A and B stored as ta/tb say. */
typedef struct nb_gemm_shape {
    int64_t m, n, k;
    nb_trans ta, tb;
} nb_gemm_shape;

#define NB_GEMM_MAX_DIM (1 << 15)
#define NB_GEMM_MAX_REPEATS 64

/* Parses "MxNxK" or "MxNxK:tn" (first letter A, second B; n = as stored, t = transposed),
 * each size in 1..NB_GEMM_MAX_DIM. NB_ERR_ARG with a message naming `text` otherwise. */
nb_status nb_gemm_shape_parse(const char *text, nb_gemm_shape *out);
/* "MxNxK:nt" */
void nb_gemm_shape_label(const nb_gemm_shape *s, char *buf, size_t size);
double nb_gemm_shape_flops(const nb_gemm_shape *s); /* 2 m n k */

typedef struct nb_gemm_timing {
    nb_dtype dtype;
    int threads;     /* passed to every call */
    int repeats;     /* timed samples per kernel, 1..NB_GEMM_MAX_REPEATS */
    double min_time; /* seconds one sample lasts at least (calls are batched to reach it) */
} nb_gemm_timing;

/* Times kernels[0..count) on shape `s`, each sample the mean seconds per call, and writes the
 * summary of each kernel's samples to stats[0..count). The operands come from the torch
 * generator with seed 0, so every run multiplies the same numbers. */
nb_status nb_gemm_time_kernels(const nb_gemm_shape *s, const nb_kernel *const *kernels, int count,
                               const nb_gemm_timing *cfg, nb_stats *stats);

#endif
