/* kernels/small_avx2.c — the small path's AVX2 + FMA bodies (f32, f64): small_tmpl.h compiled
 * for 256-bit vectors and 16 ymm registers. The target pragma covers this file only, so the
 * library stays baseline x86-64; small.c calls these only when the dispatch ISA is avx2. */
#include "kernels/blocked_impl.h"
#include "kernels/small_impl.h"

#ifdef NB_SMALL_X86
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include "kernels/small_transpose.h"

/* Register budget per tile (16 ymm): MR x NV accumulators + NV rows of B + 1 broadcast.
 * NV 2 -> 6 rows (15 registers), 1 -> 12 (14). */
#define NB_NVMAX 2
#define NB_MR_FOR_NV(nv) ((nv) == 2 ? 6 : 12)

/* The first r lanes of a maskload/maskstore: the sign bit of each 32/64-bit lane selects. */
static const int32_t mask_f32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static const int64_t mask_f64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};

#define NB_T float
#define NB_FNAME nb_small_f32_avx2
#define NB_SMALL_BODY_TYPE NB_SMALL_BODY_F32
#define NB_PACK_BT nb_small_pack_bt_f32
#define NB_VEC __m256
#define NB_VL 8
#define NB_MASK __m256i
#define NB_MKMASK(r) _mm256_loadu_si256((const __m256i *)(mask_f32 + 8 - (r)))
#define NB_LOAD(p) _mm256_loadu_ps(p)
#define NB_MLOAD(mk, p) _mm256_maskload_ps((p), (mk))
#define NB_STORE(p, v) _mm256_storeu_ps((p), (v))
#define NB_MSTORE(p, mk, v) _mm256_maskstore_ps((p), (mk), (v))
#define NB_BCAST(x) _mm256_set1_ps(x)
#define NB_FMADD(x, y, z) _mm256_fmadd_ps((x), (y), (z))
#define NB_MUL(x, y) _mm256_mul_ps((x), (y))
#define NB_ADD(x, y) _mm256_add_ps((x), (y))
#define NB_SMALL_KC NB_BLK_AVX2_F32_KC
#define NB_ZERO() _mm256_setzero_ps()
#include "kernels/small_tmpl.h"

#define NB_T double
#define NB_FNAME nb_small_f64_avx2
#define NB_SMALL_BODY_TYPE NB_SMALL_BODY_F64
#define NB_PACK_BT nb_small_pack_bt_f64
#define NB_VEC __m256d
#define NB_VL 4
#define NB_MASK __m256i
#define NB_MKMASK(r) _mm256_loadu_si256((const __m256i *)(mask_f64 + 4 - (r)))
#define NB_LOAD(p) _mm256_loadu_pd(p)
#define NB_MLOAD(mk, p) _mm256_maskload_pd((p), (mk))
#define NB_STORE(p, v) _mm256_storeu_pd((p), (v))
#define NB_MSTORE(p, mk, v) _mm256_maskstore_pd((p), (mk), (v))
#define NB_BCAST(x) _mm256_set1_pd(x)
#define NB_FMADD(x, y, z) _mm256_fmadd_pd((x), (y), (z))
#define NB_MUL(x, y) _mm256_mul_pd((x), (y))
#define NB_ADD(x, y) _mm256_add_pd((x), (y))
#define NB_SMALL_KC NB_BLK_AVX2_F64_KC
#define NB_ZERO() _mm256_setzero_pd()
#include "kernels/small_tmpl.h"

#pragma GCC pop_options
#endif
