/* kernels/blas.c — GEMM through OpenBLAS's cblas_sgemm / cblas_dgemm (row-major), the
 * default kernel and the yardstick for the hand-written ones. Threads split C into a fixed
 * set of slabs, so the result is bit-identical for every thread count (README.md says why). */
#include <cblas.h>
#include <limits.h>
#include <omp.h>

#include "kernels/kernels_impl.h"

/* OpenBLAS's own threading is not bit-identical across thread counts (its threaded driver
 * blocks k differently and splits C at places that depend on the count), which breaks the
 * contract. So every OpenBLAS call here is single-threaded, and threads share out slabs of
 * C instead: whole rows (or columns) of C, each one cblas call over all of k. The slabs
 * depend on the shape only, never on nthreads, so 1, 2 or 3 threads issue the very same
 * calls and produce the same bytes. */
#define NB_BLAS_SPLIT_WORK ((double)(1 << 18)) /* m*n*k below this: one call, one thread */
#define NB_BLAS_SLAB_MIN 48                    /* rows (columns) of C per slab, at least */
#define NB_BLAS_SLABS_MAX 8
#define NB_BLAS_SLAB_ALIGN 16 /* slab edges on OpenBLAS's register-tile multiples */

/* How many slabs C is cut into along its longer side: a function of the shape only. An
 * even count keeps two threads balanced. */
static int nb_blas_slabs(int64_t m, int64_t n, int64_t k)
{
    if ((double)m * (double)n * (double)k < NB_BLAS_SPLIT_WORK) return 1;
    const int64_t dim = m >= n ? m : n;
    int64_t s = dim / NB_BLAS_SLAB_MIN;
    if (s > NB_BLAS_SLABS_MAX) s = NB_BLAS_SLABS_MAX;
    if (s > 1 && s % 2) --s;
    return s < 1 ? 1 : (int)s;
}

/* Start of slab s of `slabs` over dim rows (columns): balanced, aligned, the last ends at dim.
 * Slabs are at least NB_BLAS_SLAB_MIN > NB_BLAS_SLAB_ALIGN wide, so none is empty. */
static int64_t nb_blas_slab_start(int64_t dim, int s, int slabs)
{
    if (s >= slabs) return dim;
    const int64_t x = dim * s / slabs;
    return (x + NB_BLAS_SLAB_ALIGN / 2) / NB_BLAS_SLAB_ALIGN * NB_BLAS_SLAB_ALIGN;
}

/* cblas takes int (blasint) sizes: a call that does not fit is sent to the blocked kernel. */
static bool nb_blas_fits(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                         int64_t ldc)
{
    return m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX &&
           ldb <= INT_MAX && ldc <= INT_MAX;
}

/* cblas rejects (and xerbla prints about) leading dimensions below 1. */
static blasint nb_blas_ld(int64_t ld) { return ld < 1 ? 1 : (blasint)ld; }

/* One body for both dtypes. C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C.
 * m == 0 or n == 0: nothing to do. k == 0 or alpha == 0: C = beta * C here, beta == 0
 * writing zeros without reading C (cblas would reject lda == 0 when k == 0).
 * Otherwise slab s covers rows [r0, r1) of C when split_m (A's rows r0.. : a + r0*lda, or
 * columns r0.. of the stored (k, m) A: a + r0), else columns [r0, r1) (B's columns r0..:
 * b + r0, or rows r0.. of the stored (n, k) B: b + r0*ldb).
 * In the OpenMP build OpenBLAS runs single-threaded inside an active parallel region; a
 * region of one thread is not active, so there it is told omp_set_num_threads(1), which
 * lasts only as long as the region (it does not leak into the caller's setting). */
#define NB_BLAS_GEMM(T, cblas_gemm, blocked_gemm)                                          \
    do {                                                                                  \
        if (m <= 0 || n <= 0) return;                                                     \
        if (k <= 0 || alpha == 0) {                                                       \
            if (beta == 1) return;                                                        \
            for (int64_t i = 0; i < m; ++i) {                                             \
                T *ci = c + i * ldc;                                                      \
                for (int64_t j = 0; j < n; ++j) ci[j] = beta == 0 ? 0 : beta * ci[j];     \
            }                                                                             \
            return;                                                                       \
        }                                                                                 \
        if (!nb_blas_fits(m, n, k, lda, ldb, ldc)) {                                      \
            blocked_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads); \
            return;                                                                       \
        }                                                                                 \
        const enum CBLAS_TRANSPOSE cta = ta == NB_TRANS ? CblasTrans : CblasNoTrans;      \
        const enum CBLAS_TRANSPOSE ctb = tb == NB_TRANS ? CblasTrans : CblasNoTrans;      \
        const int slabs = nb_blas_slabs(m, n, k);                                         \
        const bool split_m = m >= n;                                                      \
        const int nt = nthreads < 1 ? 1 : nthreads < slabs ? nthreads : slabs;            \
        _Pragma("omp parallel num_threads(nt)")                                           \
        {                                                                                 \
            if (omp_get_num_threads() == 1) omp_set_num_threads(1);                       \
            _Pragma("omp for schedule(static)")                                           \
            for (int s = 0; s < slabs; ++s) {                                             \
                const int64_t r0 = nb_blas_slab_start(split_m ? m : n, s, slabs);         \
                const int64_t r1 = nb_blas_slab_start(split_m ? m : n, s + 1, slabs);     \
                if (r1 <= r0) continue;                                                   \
                const T *as = split_m ? a + (ta == NB_NO_TRANS ? r0 * lda : r0) : a;      \
                const T *bs = split_m ? b : b + (tb == NB_NO_TRANS ? r0 : r0 * ldb);      \
                T *cs = split_m ? c + r0 * ldc : c + r0;                                  \
                cblas_gemm(CblasRowMajor, cta, ctb, (blasint)(split_m ? r1 - r0 : m),     \
                           (blasint)(split_m ? n : r1 - r0), (blasint)k, alpha, as,       \
                           nb_blas_ld(lda), bs, nb_blas_ld(ldb), beta, cs,                \
                           nb_blas_ld(ldc));                                              \
            }                                                                             \
        }                                                                                 \
    } while (0)

void nb_blas_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                   float *c, int64_t ldc, int nthreads)
{
    NB_BLAS_GEMM(float, cblas_sgemm, nb_blocked_sgemm);
}

void nb_blas_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                   double *c, int64_t ldc, int nthreads)
{
    NB_BLAS_GEMM(double, cblas_dgemm, nb_blocked_dgemm);
}
