/* src/tensor/runtime.h — the process-wide settings the tensor ops run under: which GEMM
 * kernel mm dispatches to, how many threads kernels and elementwise loops may use, and the
 * FLOPs the matmul dispatcher has counted (for GFLOP/s figures). */
#ifndef NB_TENSOR_RUNTIME_H
#define NB_TENSOR_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/gemm.h"

#define NB_MAX_THREADS 1024

/* Elementwise loops and reductions go parallel only from this many elements on (the same
 * grain as PyTorch's at::internal::GRAIN_SIZE): below it a parallel region costs more than
 * it saves. */
#define NB_PARALLEL_GRAIN 32768

/* Runs body(ctx, lo, hi) over [0, n): in nb_runtime_threads() contiguous parts, part c being
 * [n*c/T, n*(c+1)/T) on thread c, when n >= NB_PARALLEL_GRAIN; else once over the whole range
 * on the calling thread. The parts must be independent. The cut is the elementwise loops'
 * (elementwise.c), so loops over the same tensor keep each part on one core: on this 2-vCPU
 * machine a serial loop over data the other core wrote last is several times slower (the
 * module variant's SGD step took 0.08 ms per step at 1 thread and 0.37 ms serial after a
 * 2-thread backward; split this way, 0.045 ms). */
typedef void nb_range_fn(void *ctx, int64_t lo, int64_t hi);
void nb_parallel_range(int64_t n, nb_range_fn *body, void *ctx);

/* 1 <= n <= NB_MAX_THREADS, else NB_ERR_ARG. Until set, the usable CPU count. */
nb_status nb_runtime_set_threads(int n);
int nb_runtime_threads(void);
/* The machine's online CPUs (a fact about the machine, for reports and the tuning table's
 * context), and the CPUs this process may run on (its affinity mask: taskset, cpusets), which
 * is the library's default thread count. The CLI's default also honours OMP_NUM_THREADS
 * (harness/env.h). Both are capped at NB_MAX_THREADS. */
int nb_runtime_online_cpus(void);
int nb_runtime_usable_cpus(void);
int nb_runtime_default_threads(void);

/* The kernel mm uses; NULL restores the registry's default. */
void nb_runtime_set_kernel(const nb_kernel *kernel);
const nb_kernel *nb_runtime_kernel(void);

/* 2*m*n*k summed over every mm since the last reset. */
uint64_t nb_runtime_flops(void);
void nb_runtime_reset_flops(void);
void nb_runtime_count_flops(uint64_t flops);

/* ---- the op profiler (nabla profile) ------------------------------------------------------
 * Off by default, when it costs one branch per op. When on, every tensor op adds its wall
 * time, FLOPs (matmul) and bytes moved (elementwise, reductions) to a row keyed by op name and
 * phase. The phase is set by whoever knows it: autograd's backward, a variant's manual
 * backward, an optimizer's update. */
typedef enum nb_phase { NB_PHASE_FORWARD = 0, NB_PHASE_BACKWARD = 1, NB_PHASE_UPDATE = 2 } nb_phase;
#define NB_PROFILE_MAX_ROWS 96

typedef struct nb_profile_row {
    const char *op; /* a static string */
    nb_phase phase;
    uint64_t calls;
    double seconds;
    uint64_t flops;
    uint64_t bytes;
} nb_profile_row;

void nb_profile_enable(bool on);
bool nb_profile_enabled(void);
void nb_profile_reset(void);
nb_phase nb_profile_set_phase(nb_phase phase); /* returns the previous phase */
/* The clock when profiling, else 0; pass it to nb_profile_record after the op. */
double nb_profile_start(void);
void nb_profile_record(const char *op, double start, uint64_t flops, uint64_t bytes);
int nb_profile_rows(const nb_profile_row **rows); /* in first-seen order */
const char *nb_phase_name(nb_phase phase);

/* ---- anomaly detection (nabla train --detect-anomaly) ---------------------------------------
 * Like torch.autograd.detect_anomaly, but for every op and phase: when on, each op checks the
 * tensor it has just written, right where it records itself for the profiler. The first
 * non-finite element makes the op fail with NB_ERR_NUMERIC and a message naming the value, the
 * op, the phase and the shape; the training loop adds the step. Off by default, when the check
 * is the one branch of nb_anomaly_check (inline). */
struct nb_tensor;
extern bool nb_anomaly_active; /* read by nb_anomaly_check; set only through nb_anomaly_enable */
void nb_anomaly_enable(bool on);
bool nb_anomaly_enabled(void);
/* The scan behind nb_anomaly_check: NB_OK when every element of `out` is finite. */
nb_status nb_anomaly_scan(const char *op, const struct nb_tensor *out);
static inline nb_status nb_anomaly_check(const char *op, const struct nb_tensor *out) {
    return nb_anomaly_active ? nb_anomaly_scan(op, out) : NB_OK;
}

/* Test-only: when non-zero, every mm adds `delta` to the first element of its result, a
 * deliberately wrong kernel that the reference checks must catch. The CLI sets it from the
 * environment variable NABLA_TEST_PERTURB_GEMM; nothing else does. */
void nb_runtime_set_gemm_perturbation(double delta);
double nb_runtime_gemm_perturbation(void);

#endif
