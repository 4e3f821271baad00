/* kernels/naive.c — the reference GEMM: one dot product per element of C, summed in the
 * operand's own precision in k order. Slow on purpose: it is short enough to check by eye,
 * and every other kernel is tested against the same contract. */
#include "kernels/kernels_impl.h"

/* Element (i, p) of op(A), which is (m, k), and element (p, j) of op(B), which is (k, n). */
#define NB_OPA(i, p) (ta == NB_NO_TRANS ? a[(i)*lda + (p)] : a[(p)*lda + (i)])
#define NB_OPB(p, j) (tb == NB_NO_TRANS ? b[(p)*ldb + (j)] : b[(j)*ldb + (p)])

/* One body for both dtypes. C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C.
 * alpha == 0 or k == 0 skips the product (so A and B are not read and C = beta * C), and
 * beta == 0 never reads C (so NaN in C does not leak through 0 * NaN). */
#define NB_NAIVE_GEMM(T)                                                                                               \
    for (int64_t i = 0; i < m; ++i) {                                                                                  \
        T *ci = c + i * ldc;                                                                                           \
        for (int64_t j = 0; j < n; ++j) {                                                                              \
            T sum = 0;                                                                                                 \
            if (alpha != 0)                                                                                            \
                for (int64_t p = 0; p < k; ++p) sum += NB_OPA(i, p) * NB_OPB(p, j);                                    \
            ci[j] = beta == 0 ? alpha * sum : alpha * sum + beta * ci[j];                                              \
        }                                                                                                              \
    }

void nb_naive_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nthreads) {
    (void)nthreads;
    NB_NAIVE_GEMM(float)
}

void nb_naive_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                    int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int nthreads) {
    (void)nthreads;
    NB_NAIVE_GEMM(double)
}
