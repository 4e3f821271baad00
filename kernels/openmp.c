/* kernels/openmp.c — the blocked GEMM of blocked.c run by an OpenMP team: the threads share
 * the packing of each A block and B panel and split the MR x NR output tiles between them.
 * The k-sum is never split, so C is bit-identical for every thread count. */
#include <omp.h>

#include "kernels/blocked_impl.h"
#include "kernels/kernels_impl.h"
#include "kernels/small.h"

/* Below this many multiply-adds (m*n*k) a parallel region costs more than it saves. The
 * seed network's small products (64x10x100 = 64000) stay serial, 64x100x1000 goes wide. */
#define NB_OPENMP_MIN_WORK ((int64_t)1 << 17)

/* The barrier the shared driver calls between packing and computing: an orphaned one,
 * bound to the team of the parallel region below. */
static void nb_openmp_barrier(void)
{
#pragma omp barrier
}

/* How many threads to use: 1 for tiny problems, inside another parallel region (no nested
 * teams), or when nthreads says so. */
static int nb_openmp_threads(int nthreads, int64_t m, int64_t n, int64_t k)
{
    if (nthreads <= 1 || omp_in_parallel()) return 1;
    if ((double)m * (double)n * (double)k < (double)NB_OPENMP_MIN_WORK) return 1;
    return nthreads;
}

/* One body for both dtypes: prepare the job in the calling thread's cache (grown, if it
 * must be, here, before the team starts: the team only reads the pointers), then run it on
 * the team. omp_get_num_threads() is what the runtime granted, which may be fewer than
 * asked for. */
#define NB_OPENMP_GEMM(SFX, CACHE, SMALL)                                                 \
    do {                                                                                  \
        /* small products run the serial direct path, as blocked does: the same bits */  \
        if (SMALL(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))                  \
            return;                                                                       \
        nb_blocked_job_##SFX job;                                                         \
        if (!nb_blocked_begin_##SFX(&job, nb_blocked_thread_cache(CACHE), ta, tb, m, n, k, \
                                    alpha, a, lda, b, ldb, beta, c, ldc))                 \
            return;                                                                       \
        const int nt = nb_openmp_threads(nthreads, m, n, k);                              \
        if (nt == 1) {                                                                    \
            nb_blocked_run_##SFX(&job, 0, 1, NULL);                                       \
        } else {                                                                          \
            _Pragma("omp parallel num_threads(nt)")                                       \
            nb_blocked_run_##SFX(&job, omp_get_thread_num(), omp_get_num_threads(),       \
                                 nb_openmp_barrier);                                      \
        }                                                                                 \
    } while (0)

void nb_openmp_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc, int nthreads)
{
    NB_OPENMP_GEMM(f32, NB_BLK_CACHE_OPENMP_F32, nb_small_sgemm);
}

void nb_openmp_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                     const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                     double *c, int64_t ldc, int nthreads)
{
    NB_OPENMP_GEMM(f64, NB_BLK_CACHE_OPENMP_F64, nb_small_dgemm);
}
