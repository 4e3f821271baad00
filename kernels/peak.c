/* kernels/peak.c — the FMA throughput probe (see peak.h). Each (ISA, dtype) pair is one
 * function compiled with __attribute__((target(...))) so the binary stays baseline x86-64;
 * it is only ever called after nb_cpu_supports() said yes. */
#include "kernels/peak.h"

#include <omp.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NB_PEAK_X86 1
#endif

/* FMA instructions each thread issues per run: ~2.7 ms at two FMAs a cycle near 3.5 GHz,
 * short enough that on a shared machine some runs fall between the scheduler's slices of a
 * competing process (a few ms each), long enough that the fork/join (~10 us) is noise. A
 * multiple of both chain counts. NB_PEAK_REPEATS runs make one measurement (~22 ms); the
 * first also warm up the thread team and the clocks. */
#define PROBE_FMAS 19200000L
_Static_assert(PROBE_FMAS % NB_PEAK_CHAINS_AVX2 == 0 && PROBE_FMAS % NB_PEAK_CHAINS_AVX512 == 0,
               "every chain gets the same count");

/* Where the accumulators' sum goes, so the loops have an observable result. */
static volatile double probe_sink;

#ifdef NB_PEAK_X86
/* Read through volatile so the compiler cannot know the operands and fold the chains. The
 * recurrence x = x * MUL + ADD converges to ADD / (1 - MUL) = 1: no overflow, no
 * subnormals (which would slow some cores), for any number of iterations. */
static volatile double probe_mul = 0.999, probe_add = 0.001;

/* One probe: NACC (<= 32) independent chains (NB_PEAK_CHAINS_*), each `iters` FMAs long. The
 * unrolled inner loop keeps every chain in a register (checked with objdump: the loop body
 * is NACC vfmadd instructions and no memory access); the lanes are summed at the end. */
#define DEFINE_PROBE(NAME, TARGET, VEC, ELEM, LANES, NACC, SET1, FMA, STORE)                                           \
    __attribute__((target(TARGET))) static double NAME(long iters) {                                                   \
        const VEC m = SET1((ELEM)probe_mul), c = SET1((ELEM)probe_add);                                                \
        VEC acc[NACC];                                                                                                 \
        for (int j = 0; j < NACC; j++) acc[j] = SET1((ELEM)(0.01 * j));                                                \
        for (long i = 0; i < iters; i++) {                                                                             \
            _Pragma("GCC unroll 32") for (int j = 0; j < NACC; j++) acc[j] = FMA(acc[j], m, c);                        \
        }                                                                                                              \
        double sum = 0;                                                                                                \
        for (int j = 0; j < NACC; j++) {                                                                               \
            ELEM lanes[LANES];                                                                                         \
            STORE(lanes, acc[j]);                                                                                      \
            for (int l = 0; l < LANES; l++) sum += lanes[l];                                                           \
        }                                                                                                              \
        return sum;                                                                                                    \
    }

DEFINE_PROBE(probe_avx2_f32, "avx2,fma", __m256, float, 8, NB_PEAK_CHAINS_AVX2, _mm256_set1_ps, _mm256_fmadd_ps,
             _mm256_storeu_ps)
DEFINE_PROBE(probe_avx2_f64, "avx2,fma", __m256d, double, 4, NB_PEAK_CHAINS_AVX2, _mm256_set1_pd, _mm256_fmadd_pd,
             _mm256_storeu_pd)
DEFINE_PROBE(probe_avx512_f32, "avx512f", __m512, float, 16, NB_PEAK_CHAINS_AVX512, _mm512_set1_ps, _mm512_fmadd_ps,
             _mm512_storeu_ps)
DEFINE_PROBE(probe_avx512_f64, "avx512f", __m512d, double, 8, NB_PEAK_CHAINS_AVX512, _mm512_set1_pd, _mm512_fmadd_pd,
             _mm512_storeu_pd)
#endif

typedef double probe_fn(long iters);

typedef struct probe {
    probe_fn *fn;
    int lanes; /* elements per vector */
    int nacc;  /* FMAs per iteration */
} probe;

/* The probe for (isa, dtype); fn is NULL when there is none for this target. */
static probe probe_for(nb_cpu_isa isa, nb_peak_dtype dtype) {
#ifdef NB_PEAK_X86
    if (isa == NB_CPU_ISA_AVX2)
        return dtype == NB_PEAK_F32 ? (probe){probe_avx2_f32, 8, NB_PEAK_CHAINS_AVX2}
                                    : (probe){probe_avx2_f64, 4, NB_PEAK_CHAINS_AVX2};
    if (isa == NB_CPU_ISA_AVX512)
        return dtype == NB_PEAK_F32 ? (probe){probe_avx512_f32, 16, NB_PEAK_CHAINS_AVX512}
                                    : (probe){probe_avx512_f64, 8, NB_PEAK_CHAINS_AVX512};
#else
    (void)isa;
    (void)dtype;
#endif
    return (probe){0};
}

bool nb_peak_measure(nb_cpu_isa isa, nb_peak_dtype dtype, int threads, double *gflops) {
    if (isa == NB_CPU_ISA_NONE || !nb_cpu_supports(isa) || threads < 1 ||
        (dtype != NB_PEAK_F32 && dtype != NB_PEAK_F64))
        return false;
    probe p = probe_for(isa, dtype);
    if (!p.fn) return false;
    const long iters = PROBE_FMAS / p.nacc;
    double best = 0, sink = 0;
    for (int r = 0; r < NB_PEAK_REPEATS; r++) {
        /* The team may be smaller than asked (OMP_THREAD_LIMIT, a nested call): count the
         * threads that actually ran, since each did the full count of FMAs. */
        int team = 1;
        double start = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
#pragma omp single nowait
            team = omp_get_num_threads();
            sink += p.fn(iters);
        }
        double seconds = omp_get_wtime() - start;
        double rate = seconds > 0 ? 2.0 * p.lanes * p.nacc * (double)iters * team / seconds * 1e-9 : 0;
        if (rate > best) best = rate;
    }
    probe_sink = sink;
    if (!(best > 0)) return false;
    *gflops = best;
    return true;
}

const char *nb_peak_dtype_name(nb_peak_dtype dtype) {
    return dtype == NB_PEAK_F32 ? "f32" : dtype == NB_PEAK_F64 ? "f64" : "?";
}
