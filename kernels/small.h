/* kernels/small.h — the direct GEMM path for small and skinny products (the seed network's
 * 64x100x1000, 64x10x100, 1000x100x64 ... family), where packing whole panels and a thread
 * team cost more than they give. Same contract as gemm.h; the caller falls back to its packed
 * kernel when a shape is declined. kernels/README.md "The small path" has the measurements. */
#ifndef NB_KERNELS_SMALL_H
#define NB_KERNELS_SMALL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/gemm.h"

/* Products up to this many multiply-adds (m * n * k) are taken: every product of the seed step
 * (the largest is 64 x 100 x 1000 = 6.4e6) is below it. Above it a packed kernel's reuse of
 * cache blocks starts to pay (measured: see README). */
#define NB_SMALL_MAX_MNK (INT64_C(1) << 23)

/* When tb == NB_TRANS the path transposes op(B) into a stack buffer, k * n element copies per
 * call; that is cheap next to m * n * k multiply-adds only when m is not tiny, so a transposed
 * B with fewer rows of C than this is declined unless op(B) itself is small. */
#define NB_SMALL_MIN_M_TRANS_B 8
#define NB_SMALL_TRANS_B_FREE (INT64_C(1) << 14) /* k * n below this: packing is noise */

/* Whether blocked and openmp may take the direct path (on by default). Tests switch it off to
 * drive the packed path through small shapes too: its edge tiles must stay covered. Not to be
 * flipped while another thread is inside a kernel. */
void nb_small_set_enabled(bool on);
bool nb_small_enabled(void);

/* Whether the direct path takes this product (false for every product while disabled) (sizes as in gemm.h; negative sizes, or sizes and
 * leading dimensions beyond what it indexes safely, are declined too). */
bool nb_small_accepts(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k);

/* C = alpha * op(A) * op(B) + beta * C under gemm.h's contract (every transpose pair, leading
 * dimensions >= the row length, beta == 0 never reads C, k == 0 or alpha == 0 gives beta * C
 * without reading A or B) when nb_small_accepts says so: returns true. Otherwise returns false
 * having read and written nothing, and the caller runs its packed kernel. Serial, no heap:
 * the same bits on every call for the same arguments and dispatch ISA (nb_cpu_dispatch_isa;
 * AVX-512, AVX2 + FMA, or portable C). */
bool nb_small_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc);
bool nb_small_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                    const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                    double *c, int64_t ldc);

#endif
