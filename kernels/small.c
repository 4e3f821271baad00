/* kernels/small.c — the direct GEMM path for small and skinny products (small.h): the
 * selection rule, the contract's special cases (empty C, k == 0, alpha == 0), the dispatch to
 * the AVX-512 / AVX2 bodies (small_avx512.c, small_avx2.c) and the portable C body. */
#include "kernels/small.h"

#include <stdatomic.h>

#include "kernels/cpu.h"
#include "kernels/small_impl.h"

static atomic_bool small_enabled = true;

void nb_small_set_enabled(bool on) { atomic_store(&small_enabled, on); }
bool nb_small_enabled(void) { return atomic_load_explicit(&small_enabled, memory_order_relaxed); }

bool nb_small_accepts(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k)
{
    (void)ta;
    if (!nb_small_enabled()) return false;
    if (m < 0 || n < 0 || k < 0) return false;
    if (m == 0 || n == 0 || k == 0) return true; /* no product: C = beta * C at most */
    /* m, n, k each <= MAX_MNK (2^23) keeps every index product below 2^63 */
    if (m > NB_SMALL_MAX_MNK || n > NB_SMALL_MAX_MNK || k > NB_SMALL_MAX_MNK) return false;
    if (m * n > NB_SMALL_MAX_MNK / k) return false;
    if (tb == NB_TRANS && m < NB_SMALL_MIN_M_TRANS_B && k * n > NB_SMALL_TRANS_B_FREE)
        return false;
    return true;
}

/* C (m, n) = beta * C, never reading C when beta == 0 (a C of NaN comes out zeros). */
#define NB_SMALL_SCALE(T)                                                                         \
    do {                                                                                          \
        if (beta == 1) break;                                                                     \
        for (int64_t i = 0; i < m; ++i) {                                                         \
            T *ci = c + i * ldc;                                                                  \
            for (int64_t j = 0; j < n; ++j) ci[j] = beta == 0 ? (T)0 : beta * ci[j];              \
        }                                                                                         \
    } while (0)

/* The portable body, for CPUs without AVX2: one row of C at a time in blocks of 16 columns,
 * accumulated in a local array (which gcc keeps in SSE registers for an untransposed B), then
 * C = alpha * acc + beta * C. Plain C, so its rounding differs from the FMA bodies'. */
#define NB_SMALL_PORTABLE(T)                                                                      \
    do {                                                                                          \
        const int64_t sa_i = ta == NB_NO_TRANS ? lda : 1, sa_p = ta == NB_NO_TRANS ? 1 : lda;     \
        const int64_t sb_p = tb == NB_NO_TRANS ? ldb : 1, sb_j = tb == NB_NO_TRANS ? 1 : ldb;     \
        for (int64_t i = 0; i < m; ++i) {                                                         \
            T *ci = c + i * ldc;                                                                  \
            for (int64_t j0 = 0; j0 < n; j0 += 16) {                                              \
                const int64_t w = n - j0 < 16 ? n - j0 : 16;                                      \
                T acc[16] = {0};                                                                  \
                for (int64_t p = 0; p < k; ++p) {                                                 \
                    const T aip = a[i * sa_i + p * sa_p];                                         \
                    const T *bp = b + p * sb_p + j0 * sb_j;                                       \
                    if (w == 16 && sb_j == 1)                                                     \
                        for (int jj = 0; jj < 16; ++jj) acc[jj] += aip * bp[jj];                  \
                    else                                                                          \
                        for (int64_t jj = 0; jj < w; ++jj) acc[jj] += aip * bp[jj * sb_j];        \
                }                                                                                 \
                for (int64_t jj = 0; jj < w; ++jj)                                                \
                    ci[j0 + jj] = beta == 0 ? alpha * acc[jj]                                     \
                                            : alpha * acc[jj] + beta * ci[j0 + jj];               \
            }                                                                                     \
        }                                                                                         \
    } while (0)

static NB_SMALL_BODY_F32(small_f32_portable) { NB_SMALL_PORTABLE(float); }
static NB_SMALL_BODY_F64(small_f64_portable) { NB_SMALL_PORTABLE(double); }

bool nb_small_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc)
{
    if (!nb_small_accepts(ta, tb, m, n, k)) return false;
    if (m == 0 || n == 0) return true;
    if (k == 0 || alpha == 0) {
        NB_SMALL_SCALE(float);
        return true;
    }
    switch (nb_cpu_dispatch_isa()) {
#ifdef NB_SMALL_X86
    case NB_CPU_ISA_AVX512:
        nb_small_f32_avx512(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        break;
    case NB_CPU_ISA_AVX2: nb_small_f32_avx2(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
#endif
    default: small_f32_portable(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    }
    return true;
}

bool nb_small_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                    const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                    double *c, int64_t ldc)
{
    if (!nb_small_accepts(ta, tb, m, n, k)) return false;
    if (m == 0 || n == 0) return true;
    if (k == 0 || alpha == 0) {
        NB_SMALL_SCALE(double);
        return true;
    }
    switch (nb_cpu_dispatch_isa()) {
#ifdef NB_SMALL_X86
    case NB_CPU_ISA_AVX512:
        nb_small_f64_avx512(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        break;
    case NB_CPU_ISA_AVX2: nb_small_f64_avx2(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
#endif
    default: small_f64_portable(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    }
    return true;
}
