/* kernels/peak.h — a built-in probe of this CPU's FMA throughput, the ceiling a GEMM kernel
 * is measured against ("% of peak" in `nabla kernels --sweep` and `--peak`). It runs many
 * independent FMA chains, compiled for one ISA with a target attribute (no -march), in T
 * OpenMP threads, so the figure is what this machine does now, not a datasheet number. */
#ifndef NB_KERNELS_PEAK_H
#define NB_KERNELS_PEAK_H

#include <stdbool.h>

#include "kernels/cpu.h"

/* Independent accumulator chains per thread: FMA latency is 4-5 cycles and cores have two
 * FMA pipes, so 8-10 chains in flight saturate them. AVX2 has 16 ymm registers: 12
 * accumulators plus the two operands; AVX-512 has 32 zmm registers: 16 is ample. */
#define NB_PEAK_CHAINS_AVX2 12
#define NB_PEAK_CHAINS_AVX512 16
/* One measurement is the best of this many timed runs of ~2.7 ms each (see peak.c). */
#define NB_PEAK_REPEATS 8

/* The element type of the probe's vectors (the kernels layer has no tensor dtype). */
typedef enum nb_peak_dtype { NB_PEAK_F32 = 0, NB_PEAK_F64 = 1 } nb_peak_dtype;

/* Measures the FMA throughput of `isa` (NB_CPU_ISA_AVX2 or NB_CPU_ISA_AVX512) on `dtype` with
 * `threads` OpenMP threads, each running the same fixed count of FMAs over independent
 * accumulators (enough to cover FMA latency times two pipes); the best of a few repeats.
 * Writes the total GFLOP/s of all threads to *gflops (2 FLOP per lane per FMA) and returns
 * true. Returns false, *gflops untouched, when `isa` is NONE or not supported by this CPU
 * and OS, `threads` < 1, or `dtype` is not one of the enum. One call takes ~20-50 ms per
 * thread count on a 2-pipe AVX-512 core (longer where the FMA units are narrower). */
bool nb_peak_measure(nb_cpu_isa isa, nb_peak_dtype dtype, int threads, double *gflops);

/* "f32", "f64" ("?" outside the enum). */
const char *nb_peak_dtype_name(nb_peak_dtype dtype);

#endif
