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

/* Runs body(ctx, lo, hi) over [0, n) in `threads` contiguous parts on the thread team
 * (base/team.h), part c being [n*c/T, n*(c+1)/T) on team member c (T = min(threads, n)), or on
 * OpenMP's threads when the runtime's kernel runs its GEMMs there (nb_kernel.openmp_threads: one
 * pool awake at a time); with one thread, or inside a team run or an OpenMP region, on the
 * calling thread. The parts must be independent. Every
 * parallel loop of the tensor layer cuts this way, so loops over the same tensor keep each part
 * on one core: on this 2-vCPU machine a serial loop over data the other core wrote last is
 * several times slower (the module variant's SGD step took 0.08 ms per step at 1 thread and
 * 0.37 ms serial after a 2-thread backward; split this way, 0.045 ms). Should the team fail to
 * start a thread, the loop runs serially: the same result, later. */
typedef void nb_range_fn(void *ctx, int64_t lo, int64_t hi);
void nb_parallel_for(int64_t n, int threads, nb_range_fn *body, void *ctx);

/* nb_parallel_for with nb_runtime_threads() when n >= NB_PARALLEL_GRAIN, else serial: for loops
 * whose cost is about one element's work per index. */
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

/* Test-only: when non-zero, every mm adds `delta` to the first element of its result, a
 * deliberately wrong kernel that the reference checks must catch. The CLI sets it from the
 * environment variable NABLA_TEST_PERTURB_GEMM; nothing else does. */
void nb_runtime_set_gemm_perturbation(double delta);
double nb_runtime_gemm_perturbation(void);

#endif
