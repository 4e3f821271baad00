/* src/tensor/runtime.h — the process-wide settings the tensor ops run under: which GEMM
 * kernel mm dispatches to, how many threads kernels and elementwise loops may use, and the
 * FLOPs the matmul dispatcher has counted (for GFLOP/s figures). */
#ifndef NB_TENSOR_RUNTIME_H
#define NB_TENSOR_RUNTIME_H

#include <stdint.h>

#include "base/error.h"
#include "kernels/gemm.h"

#define NB_MAX_THREADS 1024

/* Elementwise loops and reductions go parallel only from this many elements on (the same
 * grain as PyTorch's at::internal::GRAIN_SIZE): below it a parallel region costs more than
 * it saves. */
#define NB_PARALLEL_GRAIN 32768

/* 1 <= n <= NB_MAX_THREADS, else NB_ERR_ARG. The default is the number of online CPUs. */
nb_status nb_runtime_set_threads(int n);
int nb_runtime_threads(void);
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
