/* kernels/small.h — the direct GEMM path for small and skinny products (the seed network's
 * 64x100x1000, 64x10x100, 1000x100x64 ... family), where packing whole panels costs more than
 * it gives. Serial, or shared between threads by cutting C on its own tiles (openmp does so for
 * the larger ones). Same contract as gemm.h; the caller falls back to its packed kernel when a
 * shape is declined. kernels/README.md "The small path" has the measurements. */
#ifndef NB_KERNELS_SMALL_H
#define NB_KERNELS_SMALL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu.h"
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
 * AVX-512, AVX2 + FMA, or portable C). Part 0 of 1 of nb_small_*gemm_part below. */
bool nb_small_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
bool nb_small_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                    int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

/* The same product shared between threads: part `part` (0 <= part < nparts) computes its share
 * of C, and the nparts parts, each run once (by any threads, in any order or at once), compute
 * exactly what nb_small_sgemm computes under `isa`, bit for bit, whatever nparts is. The shares
 * are disjoint pieces of C cut on the body's own tile boundaries (runs of its column blocks, or
 * bands of whole row tiles in every block), balanced by FMA count and chosen so that threads
 * seldom write the same cache lines of C (small.c says how); k is never split, and every element
 * goes through the same instructions as in the serial call. `isa` is read once by the caller
 * (nb_cpu_dispatch_isa()) so that every part tiles alike. Each part keeps its own scratch (the
 * transposed-B buffer is on the calling thread's stack, 32 KiB). Returns false, having done
 * nothing, when nb_small_accepts declines the product or part is outside [0, nparts); callers
 * check nb_small_accepts first, so every part agrees. Parts beyond the number of tiles are
 * empty. At most NB_SMALL_MAX_PARTS parts (more are refused: false). */
#define NB_SMALL_MAX_PARTS 64
bool nb_small_sgemm_part(nb_cpu_isa isa, int part, int nparts, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                         int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc);
bool nb_small_dgemm_part(nb_cpu_isa isa, int part, int nparts, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                         int64_t k, double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                         double beta, double *c, int64_t ldc);

#endif
