/* kernels/small_impl.h — private to the small path (small.c and its per-ISA files): the
 * bodies each ISA file defines. They assume what small.c has already checked: m, n, k >= 1,
 * alpha != 0, the shape accepted by nb_small_accepts. */
#ifndef NB_KERNELS_SMALL_IMPL_H
#define NB_KERNELS_SMALL_IMPL_H

#include <stdint.h>

#include "kernels/gemm.h"

#define NB_SMALL_BODY_F32(name)                                                                                        \
    void name(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,     \
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
#define NB_SMALL_BODY_F64(name)                                                                                        \
    void name(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t lda,   \
              const double *b, int64_t ldb, double beta, double *c, int64_t ldc)

/* The tiling a body uses, which small.c needs to share a product between threads on the body's
 * own tile boundaries (nb_small_sgemm_part): columns go in blocks of nvmax vectors of vl lanes
 * (the last block narrower), and a block of nv vectors in row tiles of mr[nv] rows from row 0,
 * the rows left after the last whole tile in smaller tiles. nvmax == 0 (the portable body) means
 * no column blocks: every row is computed on its own, so any row is a boundary. */
#define NB_SMALL_GEOM_NVMAX 4
typedef struct nb_small_geom {
    int vl;                          /* lanes (columns) per vector */
    int nvmax;                       /* vectors per column block; 0: rows only */
    int mr[NB_SMALL_GEOM_NVMAX + 1]; /* mr[nv]: rows of a whole tile of nv vectors */
} nb_small_geom;

#if defined(__x86_64__) || defined(__i386__)
#define NB_SMALL_X86 1
NB_SMALL_BODY_F32(nb_small_f32_avx512);
NB_SMALL_BODY_F64(nb_small_f64_avx512);
NB_SMALL_BODY_F32(nb_small_f32_avx2);
NB_SMALL_BODY_F64(nb_small_f64_avx2);
/* defined by small_tmpl.h next to each body, from the same macros the body tiles with */
extern const nb_small_geom geom_nb_small_f32_avx512, geom_nb_small_f64_avx512;
extern const nb_small_geom geom_nb_small_f32_avx2, geom_nb_small_f64_avx2;
#endif

#endif
