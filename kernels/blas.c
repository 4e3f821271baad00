/* kernels/blas.c — GEMM through OpenBLAS's cblas_sgemm / cblas_dgemm (row-major): the
 * default kernel and the yardstick the hand-written ones are measured against. It runs with
 * OpenBLAS's own threading, set to the caller's thread count. Also what OpenBLAS reports
 * about its build, core and threading (blas.h), for result files' context. */
#include <cblas.h>
#include <limits.h>

#include "kernels/blas.h"
#include "kernels/kernels_impl.h"

/* OpenBLAS keeps its thread count as global state; set it only when it changes, since the
 * call is not free and the seed network issues ~3000 small GEMMs a second. In OpenBLAS's
 * OpenMP build this also sets the calling thread's omp_set_num_threads: nabla's own parallel
 * regions all name their thread count (num_threads clauses), so nothing else depends on it.
 * Callers use the kernels from one thread at a time (the runtime's), so a plain static is
 * enough. */
static int blas_threads;

static void blas_set_threads(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    if (nthreads != blas_threads) {
        openblas_set_num_threads(nthreads);
        blas_threads = nthreads;
    }
}

/* cblas checks ld >= max(1, row length) and prints through xerbla otherwise. */
static blasint blas_ld(int64_t ld) { return ld < 1 ? 1 : (blasint)ld; }

/* One body for both dtypes. m == 0 or n == 0: nothing to do. k == 0 or alpha == 0: C = beta*C
 * here (zeros without reading C when beta == 0), because cblas would reject lda = 0 when
 * k == 0 and the contract promises A and B are not read then. Sizes above INT_MAX, which
 * cblas's 32-bit blasint cannot carry, go to the blocked kernel. */
#define NB_BLAS_GEMM(T, cblas_gemm, fallback_gemm)                                                                     \
    do {                                                                                                               \
        if (m <= 0 || n <= 0) return;                                                                                  \
        if (k <= 0 || alpha == 0) {                                                                                    \
            if (beta == 1) return;                                                                                     \
            for (int64_t i = 0; i < m; ++i) {                                                                          \
                T *ci = c + i * ldc;                                                                                   \
                for (int64_t j = 0; j < n; ++j) ci[j] = beta == 0 ? 0 : beta * ci[j];                                  \
            }                                                                                                          \
            return;                                                                                                    \
        }                                                                                                              \
        if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX) {            \
            fallback_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads);                             \
            return;                                                                                                    \
        }                                                                                                              \
        blas_set_threads(nthreads);                                                                                    \
        cblas_gemm(CblasRowMajor, ta == NB_TRANS ? CblasTrans : CblasNoTrans,                                          \
                   tb == NB_TRANS ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,           \
                   blas_ld(lda), b, blas_ld(ldb), beta, c, blas_ld(ldc));                                              \
    } while (0)

void nb_blas_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nthreads) {
    NB_BLAS_GEMM(float, cblas_sgemm, nb_openmp_sgemm);
}

void nb_blas_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                   int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int nthreads) {
    NB_BLAS_GEMM(double, cblas_dgemm, nb_openmp_dgemm);
}

/* ---- what OpenBLAS says about itself (blas.h) ----------------------------------------------- */

/* OpenBLAS returns pointers to its own static strings; never NULL in 0.3.x, but a result
 * file should not crash on a library that does. */
const char *nb_blas_config(void) {
    const char *s = openblas_get_config();
    return s ? s : "unknown";
}

const char *nb_blas_core_name(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

const char *nb_blas_threading(void) {
    switch (openblas_get_parallel()) {
    case OPENBLAS_SEQUENTIAL: return "sequential";
    case OPENBLAS_THREAD: return "pthreads";
    case OPENBLAS_OPENMP: return "openmp";
    default: return "unknown";
    }
}
