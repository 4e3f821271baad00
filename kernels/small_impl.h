/* kernels/small_impl.h — private to the small path (small.c and its per-ISA files): the
 * bodies each ISA file defines. They assume what small.c has already checked: m, n, k >= 1,
 * alpha != 0, the shape accepted by nb_small_accepts. */
#ifndef NB_KERNELS_SMALL_IMPL_H
#define NB_KERNELS_SMALL_IMPL_H

#include <stdint.h>

#include "kernels/gemm.h"

#define NB_SMALL_BODY_F32(name)                                                                  \
    void name(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha,           \
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,   \
              int64_t ldc)
#define NB_SMALL_BODY_F64(name)                                                                  \
    void name(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha,          \
              const double *a, int64_t lda, const double *b, int64_t ldb, double beta,          \
              double *c, int64_t ldc)

#if defined(__x86_64__) || defined(__i386__)
#define NB_SMALL_X86 1
NB_SMALL_BODY_F32(nb_small_f32_avx512);
NB_SMALL_BODY_F64(nb_small_f64_avx512);
NB_SMALL_BODY_F32(nb_small_f32_avx2);
NB_SMALL_BODY_F64(nb_small_f64_avx2);
#endif

#endif
