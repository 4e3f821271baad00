/* src/harness/sweep.h — `nabla kernels --sweep` and `--peak`: GFLOP/s of GEMM kernels on the
 * seed network's six products and on squares, per dtype and thread count, each set against
 * this CPU's FMA peak as the built-in probe (kernels/peak.h) measures it. Timing goes
 * through gemm_timing.h, files through report.h. */
#ifndef NB_HARNESS_SWEEP_H
#define NB_HARNESS_SWEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"
#include "tensor/tensor.h"

#define NB_SWEEP_MAX_SIZES 32
#define NB_SWEEP_MAX_THREADS 16
#define NB_SWEEP_MAX_KERNELS 16

typedef struct nb_sweep_config {
    int64_t sizes[NB_SWEEP_MAX_SIZES]; /* squares m = n = k */
    int nsizes;
    nb_dtype dtypes[2];
    int ndtypes;
    int threads[NB_SWEEP_MAX_THREADS];
    int nthreads;
    const nb_kernel *kernels[NB_SWEEP_MAX_KERNELS]; /* in registry order */
    int nkernels;
    int repeats;       /* timed samples per kernel and product */
    double min_time;   /* seconds one sample lasts at least */
    int64_t naive_max; /* naive runs on squares up to this size only */
    bool seed;         /* the seed step's six products */
    bool squares;      /* the squares of `sizes` */
    bool serial_all;   /* time serial kernels at every thread count, not only the smallest */
    const char *out_dir;
} nb_sweep_config;

/* One measurement of the FMA probe. */
typedef struct nb_peak_row {
    nb_cpu_isa isa;
    nb_dtype dtype;
    int threads;
    double gflops;
} nb_peak_row;

/* Rounds of the probe over all configurations, each keeping its best. */
#define NB_SWEEP_PEAK_ROUNDS 3

/* Probes every ISA this CPU supports x dtypes x thread counts, in that nesting order, into
 * rows[0..max), NB_SWEEP_PEAK_ROUNDS times over, keeping each configuration's best; returns
 * how many it wrote (0 where no AVX2/AVX-512 runs). ~22 ms per configuration and round. */
int nb_sweep_probe_peaks(const nb_dtype *dtypes, int ndtypes, const int *threads, int nthreads, nb_peak_row *rows,
                         int max);

/* Runs the sweep: prints the probe, then one table row per kernel as each product finishes
 * (with a progress line on a TTY), and after every product rewrites out_dir/sweep.json,
 * sweep.csv and sweep.md atomically (out_dir is created). NB_ERR_IO / NB_ERR_NOMEM on
 * failure, with the message in nb_last_error; the files keep the last complete product. */
nb_status nb_sweep_run(const nb_sweep_config *cfg);

#endif
