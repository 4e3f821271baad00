/* src/tensor/runtime.c — kernel choice, thread count and the FLOP counter behind
 * runtime.h. Plain globals: they are set by the CLI before any parallel work starts. */
#include "tensor/runtime.h"

#include <unistd.h>

static int runtime_threads; /* 0 until set or first asked: then the online CPU count */
static const nb_kernel *runtime_kernel;
static uint64_t runtime_flops;
static double gemm_perturbation;

int nb_runtime_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > NB_MAX_THREADS ? NB_MAX_THREADS : (int)n;
}

nb_status nb_runtime_set_threads(int n) {
    if (n < 1 || n > NB_MAX_THREADS)
        return nb_error(NB_ERR_ARG, "thread count %d is out of range 1..%d", n, NB_MAX_THREADS);
    runtime_threads = n;
    return NB_OK;
}

int nb_runtime_threads(void) {
    if (runtime_threads == 0) runtime_threads = nb_runtime_default_threads();
    return runtime_threads;
}

void nb_runtime_set_kernel(const nb_kernel *kernel) { runtime_kernel = kernel; }

const nb_kernel *nb_runtime_kernel(void) {
    if (!runtime_kernel) runtime_kernel = nb_kernel_default();
    return runtime_kernel;
}

uint64_t nb_runtime_flops(void) { return runtime_flops; }
void nb_runtime_reset_flops(void) { runtime_flops = 0; }
void nb_runtime_count_flops(uint64_t flops) { runtime_flops += flops; }

void nb_runtime_set_gemm_perturbation(double delta) { gemm_perturbation = delta; }
double nb_runtime_gemm_perturbation(void) { return gemm_perturbation; }
