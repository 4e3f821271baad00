/* kernels/openmp.c — the blocked GEMM of blocked.c run by an OpenMP team: the threads share
 * the packing of each A block and B panel and split the MR x NR output tiles between them;
 * products the direct small path takes are split on its tiles (kernels/small.h). The k-sum is
 * never split, so C is bit-identical for every thread count. */
#include <omp.h>

#include "kernels/blocked_impl.h"
#include "kernels/kernels_impl.h"
#include "kernels/small.h"

/* Below this many multiply-adds (m*n*k) a parallel region costs more than it saves. The
 * seed network's small products (64x10x100 = 64000) stay serial, 64x100x1000 goes wide. */
#define NB_OPENMP_MIN_WORK ((int64_t)1 << 17)

/* Below this many multiply-adds (m*n*k) the direct small path (kernels/small.h) runs on the
 * calling thread alone: opening a region and waking a second thread costs microseconds, and the
 * split parts of C end up in two cores' caches for whatever reads them next, which a product
 * this small does not repay. Where that breaks even depends on the machine, so measure rather
 * than trust a recorded figure: time products on both sides of the threshold against the serial
 * small path (blocked runs it on one thread) with
 *   nabla kernels --bench --kernels blocked,openmp --threads 2 --shapes LIST
 * where LIST straddles 2^20, e.g. 64x64x128,64x100x100,64x100x300,128x128x128, and again after
 * moving this constant; `nabla train --variant dynamic` (middle layers 64x100x100) at --threads 1
 * and 2 shows what it does to a whole run. */
#define NB_OPENMP_SMALL_MIN_WORK ((int64_t)1 << 20)

/* The barrier the shared driver calls between packing and computing: an orphaned one,
 * bound to the team of the parallel region below. */
static void nb_openmp_barrier(void) {
#pragma omp barrier
}

/* How many threads to use: 1 for tiny problems, inside another parallel region (no nested
 * teams), or when nthreads says so. */
static int nb_openmp_threads(int nthreads, int64_t m, int64_t n, int64_t k) {
    if (nthreads <= 1 || omp_in_parallel()) return 1;
    if ((double)m * (double)n * (double)k < (double)NB_OPENMP_MIN_WORK) return 1;
    return nthreads;
}

/* How many threads share a product the small path takes: as nb_openmp_threads, with the small
 * path's own threshold. */
static int nb_openmp_small_threads(int nthreads, int64_t m, int64_t n, int64_t k) {
    if (nthreads <= 1 || omp_in_parallel()) return 1;
    if ((double)m * (double)n * (double)k < (double)NB_OPENMP_SMALL_MIN_WORK) return 1;
    return nthreads < NB_SMALL_MAX_PARTS ? nthreads : NB_SMALL_MAX_PARTS;
}

/* One body for both dtypes: prepare the job in the calling thread's cache (grown, if it
 * must be, here, before the team starts: the team only reads the pointers), then run it on
 * the team. omp_get_num_threads() is what the runtime granted, which may be fewer than
 * asked for. */
#define NB_OPENMP_GEMM(SFX, CACHE, SMALL)                                                                              \
    do {                                                                                                               \
        /* small products run the direct path, as blocked does, each thread on its own    \
         * tiles of C (nb_small_*gemm_part): the same bits as blocked's serial call */                            \
        if (nb_small_accepts(ta, tb, m, n, k)) {                                                                       \
            const int snt = nb_openmp_small_threads(nthreads, m, n, k);                                                \
            const nb_cpu_isa isa = nb_cpu_dispatch_isa(); /* one tiling for the team */                                \
            if (snt == 1) {                                                                                            \
                SMALL(isa, 0, 1, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);                                \
            } else {                                                                                                   \
                _Pragma("omp parallel num_threads(snt)") SMALL(isa, omp_get_thread_num(), omp_get_num_threads(), ta,   \
                                                               tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);      \
            }                                                                                                          \
            return;                                                                                                    \
        }                                                                                                              \
        nb_blocked_job_##SFX job;                                                                                      \
        if (!nb_blocked_begin_##SFX(&job, nb_blocked_thread_cache(CACHE), ta, tb, m, n, k, alpha, a, lda, b, ldb,      \
                                    beta, c, ldc))                                                                     \
            return;                                                                                                    \
        const int nt = nb_openmp_threads(nthreads, m, n, k);                                                           \
        if (nt == 1) {                                                                                                 \
            nb_blocked_run_##SFX(&job, 0, 1, NULL);                                                                    \
        } else {                                                                                                       \
            _Pragma("omp parallel num_threads(nt)")                                                                    \
                nb_blocked_run_##SFX(&job, omp_get_thread_num(), omp_get_num_threads(), nb_openmp_barrier);            \
        }                                                                                                              \
    } while (0)

void nb_openmp_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                     int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nthreads) {
    NB_OPENMP_GEMM(f32, NB_BLK_CACHE_OPENMP_F32, nb_small_sgemm_part);
}

void nb_openmp_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                     int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int nthreads) {
    NB_OPENMP_GEMM(f64, NB_BLK_CACHE_OPENMP_F64, nb_small_dgemm_part);
}
