/* kernels/small_avx512.c — the small path's AVX-512F bodies (f32, f64): small_tmpl.h compiled
 * for 512-bit vectors and 32 zmm registers. The target pragma covers this file only, so the
 * library stays baseline x86-64; small.c calls these only when the dispatch ISA is avx512. */
#include "kernels/blocked_impl.h"
#include "kernels/small_impl.h"

#ifdef NB_SMALL_X86
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f")

#include "kernels/small_transpose.h"

/* Register budget per tile (32 zmm): MR x NV accumulators + NV rows of B + 1 broadcast.
 * NV 4 -> 6 rows (29 registers), 3 -> 8 (28), 2 -> 12 (27), 1 -> 16 (18: a one-vector tile is
 * bound by its broadcasts, more rows do not help). */
#define NB_NVMAX 4
#define NB_MR_FOR_NV(nv) ((nv) == 4 ? 6 : (nv) == 3 ? 8 : (nv) == 2 ? 12 : 16)

#define NB_T float
#define NB_FNAME nb_small_f32_avx512
#define NB_SMALL_BODY_TYPE NB_SMALL_BODY_F32
#define NB_PACK_BT nb_small_pack_bt_f32
#define NB_VEC __m512
#define NB_VL 16
#define NB_MASK __mmask16
#define NB_MKMASK(r) ((__mmask16)((1u << (r)) - 1u))
#define NB_LOAD(p) _mm512_loadu_ps(p)
#define NB_MLOAD(mk, p) _mm512_maskz_loadu_ps((mk), (p))
#define NB_STORE(p, v) _mm512_storeu_ps((p), (v))
#define NB_MSTORE(p, mk, v) _mm512_mask_storeu_ps((p), (mk), (v))
#define NB_BCAST(x) _mm512_set1_ps(x)
#define NB_FMADD(x, y, z) _mm512_fmadd_ps((x), (y), (z))
#define NB_MUL(x, y) _mm512_mul_ps((x), (y))
#define NB_ADD(x, y) _mm512_add_ps((x), (y))
#define NB_SMALL_KC NB_BLK_AVX512_F32_KC
#define NB_ZERO() _mm512_setzero_ps()
#include "kernels/small_tmpl.h"

#define NB_T double
#define NB_FNAME nb_small_f64_avx512
#define NB_SMALL_BODY_TYPE NB_SMALL_BODY_F64
#define NB_PACK_BT nb_small_pack_bt_f64
#define NB_VEC __m512d
#define NB_VL 8
#define NB_MASK __mmask8
#define NB_MKMASK(r) ((__mmask8)((1u << (r)) - 1u))
#define NB_LOAD(p) _mm512_loadu_pd(p)
#define NB_MLOAD(mk, p) _mm512_maskz_loadu_pd((mk), (p))
#define NB_STORE(p, v) _mm512_storeu_pd((p), (v))
#define NB_MSTORE(p, mk, v) _mm512_mask_storeu_pd((p), (mk), (v))
#define NB_BCAST(x) _mm512_set1_pd(x)
#define NB_FMADD(x, y, z) _mm512_fmadd_pd((x), (y), (z))
#define NB_MUL(x, y) _mm512_mul_pd((x), (y))
#define NB_ADD(x, y) _mm512_add_pd((x), (y))
#define NB_SMALL_KC NB_BLK_AVX512_F64_KC
#define NB_ZERO() _mm512_setzero_pd()
#include "kernels/small_tmpl.h"

#pragma GCC pop_options
#endif
