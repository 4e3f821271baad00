/* src/tensor/runtime.c — kernel choice, thread count, the FLOP counter and the parallel range
 * behind runtime.h (the op profiler is profile.c, the anomaly scan anomaly.c). Plain globals:
 * they are set by the CLI before any parallel work starts. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "tensor/runtime.h"

#include <omp.h>
#include <sched.h>
#include "base/team.h"
#include <unistd.h>

static int runtime_threads; /* 0 until set or first asked: then the usable CPU count */
static const nb_kernel *runtime_kernel;
static uint64_t runtime_flops;
static double gemm_perturbation;

int nb_runtime_online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > NB_MAX_THREADS ? NB_MAX_THREADS : (int)n;
}

int nb_runtime_usable_cpus(void) {
    /* The CPUs this process may run on: taskset, numactl, a cgroup cpuset or a container
     * narrow it below the online count, and threads beyond it only take turns on one core
     * (under `taskset -c 0`, 2 threads ran 29% slower than 1). */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return nb_runtime_online_cpus();
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > NB_MAX_THREADS ? NB_MAX_THREADS : n;
}

int nb_runtime_default_threads(void) { return nb_runtime_usable_cpus(); }

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

#define NB_PARTS_PER_THREAD 4

typedef struct range_job {
    nb_range_fn *body;
    void *ctx;
    int64_t n;
} range_job;

static void range_part(void *ctx, int member, int count) {
    const range_job *job = ctx;
    const int64_t lo = job->n * member / count, hi = job->n * (member + 1) / count;
    if (hi > lo) job->body(job->ctx, lo, hi);
}

void nb_parallel_for(int64_t n, int threads, nb_range_fn *body, void *ctx) {
    if (n <= 0) return;
    if (threads > n) threads = (int)n;
    range_job job = {body, ctx, n};
    if (threads <= 1 || nb_team_active() || omp_in_parallel()) {
        body(ctx, 0, n);
    } else if (nb_runtime_kernel()->openmp_threads) {
        /* the kernel's GEMMs run on libgomp's threads: the loops go there too (gemm.h) */
#pragma omp parallel num_threads(threads)
        range_part(&job, omp_get_thread_num(), omp_get_num_threads());
    } else {
        /* NB_PARTS_PER_THREAD parts a member: its own share is the same range as above, and a
         * member that has lost its core gives up what it has not begun in pieces a quarter of
         * its share (base/team.h, nb_team_for) */
        const int64_t parts = n < (int64_t)threads * NB_PARTS_PER_THREAD ? n : (int64_t)threads * NB_PARTS_PER_THREAD;
        if (nb_team_for(threads, (int)parts, range_part, &job) != NB_OK) body(ctx, 0, n);
    }
}

void nb_parallel_range(int64_t n, nb_range_fn *body, void *ctx) {
    nb_parallel_for(n, n >= NB_PARALLEL_GRAIN ? nb_runtime_threads() : 1, body, ctx);
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
