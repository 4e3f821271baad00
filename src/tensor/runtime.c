/* src/tensor/runtime.c — kernel choice, thread count and the FLOP counter behind
 * runtime.h. Plain globals: they are set by the CLI before any parallel work starts. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "tensor/runtime.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/timer.h"
#include "tensor/tensor_impl.h"

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

void nb_parallel_range(int64_t n, nb_range_fn *body, void *ctx) {
    const int threads = n >= NB_PARALLEL_GRAIN ? nb_runtime_threads() : 1;
    if (threads == 1) {
        if (n > 0) body(ctx, 0, n);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < threads; c++) body(ctx, n * c / threads, n * (c + 1) / threads);
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

/* ---- the op profiler ------------------------------------------------------------------------ */

static bool profile_on;
static nb_phase profile_phase;
static nb_profile_row profile_rows[NB_PROFILE_MAX_ROWS];
static int profile_count;

void nb_profile_enable(bool on) { profile_on = on; }
bool nb_profile_enabled(void) { return profile_on; }

void nb_profile_reset(void) {
    memset(profile_rows, 0, sizeof profile_rows);
    profile_count = 0;
}

nb_phase nb_profile_set_phase(nb_phase phase) {
    nb_phase previous = profile_phase;
    profile_phase = phase;
    return previous;
}

double nb_profile_start(void) { return profile_on ? nb_now_seconds() : 0; }

void nb_profile_record(const char *op, double start, uint64_t flops, uint64_t bytes) {
    if (!profile_on) return;
    double elapsed = nb_now_seconds() - start;
    nb_profile_row *row = NULL;
    for (int i = 0; i < profile_count && !row; i++)
        if (profile_rows[i].phase == profile_phase && !strcmp(profile_rows[i].op, op)) row = &profile_rows[i];
    if (!row) {
        if (profile_count == NB_PROFILE_MAX_ROWS) return; /* full: the rest shows as time outside ops */
        row = &profile_rows[profile_count++];
        row->op = op;
        row->phase = profile_phase;
    }
    row->calls++;
    row->seconds += elapsed;
    row->flops += flops;
    row->bytes += bytes;
}

int nb_profile_rows(const nb_profile_row **rows) {
    *rows = profile_rows;
    return profile_count;
}

const char *nb_phase_name(nb_phase phase) {
    return phase == NB_PHASE_BACKWARD ? "backward" : phase == NB_PHASE_UPDATE ? "update" : "forward";
}

/* ---- anomaly detection ------------------------------------------------------------------------ */

bool nb_anomaly_active;

void nb_anomaly_enable(bool on) { nb_anomaly_active = on; }
bool nb_anomaly_enabled(void) { return nb_anomaly_active; }

nb_status nb_anomaly_scan(const char *op, const nb_tensor *out) {
    if (!out || !out->storage) return NB_OK;
    nb_offset_iter it;
    int64_t off, index = 0;
    double bad = 0;
    bool found = false;
    /* any layout (ops may write into views); only the elements of `out` itself are looked at */
    for (nb_offset_iter_init(&it, out); !found && nb_offset_iter_next(&it, &off); index++) {
        double v = nb_load(out, off);
        if (!isfinite(v)) {
            bad = v;
            found = true;
        }
    }
    if (!found) return NB_OK;
    char shape[64];
    return nb_error(NB_ERR_NUMERIC, "%s in the output of %s (%s pass), shape %s, element %lld",
                    isnan(bad) ? "nan" : bad > 0 ? "inf" : "-inf", op, nb_phase_name(profile_phase),
                    nb_tensor_describe(out, shape, sizeof shape), (long long)(index - 1));
}
