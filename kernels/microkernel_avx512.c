/* kernels/microkernel_avx512.c — the AVX512 GEMM micro-kernels (f32 and f64) of the blocked and
 * openmp kernels. Only this file is compiled with -mavx512f (kernels/CMakeLists.txt): the
 * rest of the binary stays baseline x86-64, and blocked.c calls these only after
 * nb_cpu_supports(NB_CPU_ISA_AVX512) said yes. Tile shapes and why: blocked_impl.h. */
#include <stdint.h>

#include "kernels/blocked_impl.h"

#ifdef NB_BLK_HAVE_X86
#include <immintrin.h>

_Static_assert(NB_BLK_AVX512_F32_NR % 16 == 0 && NB_BLK_AVX512_F64_NR % 8 == 0, "NR is a whole number of vectors");

#define NB_UK_NAME nb_ukernel_avx512_f32
#define NB_UK_T float
#define NB_UK_V __m512
#define NB_UK_LANES 16
#define NB_UK_MR NB_BLK_AVX512_F32_MR
#define NB_UK_NV (NB_BLK_AVX512_F32_NR / 16)
#define NB_UK_ZERO() _mm512_setzero_ps()
#define NB_UK_SET1(x) _mm512_set1_ps(x)
#define NB_UK_BCAST(ptr) _mm512_set1_ps(*(ptr))
#define NB_UK_LOAD(ptr) _mm512_loadu_ps(ptr)
#define NB_UK_STORE(ptr, v) _mm512_storeu_ps(ptr, v)
#define NB_UK_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define NB_UK_MUL(a, b) _mm512_mul_ps(a, b)
#define NB_UK_ADD(a, b) _mm512_add_ps(a, b)
#include "kernels/microkernel_tmpl.h"

#define NB_UK_NAME nb_ukernel_avx512_f64
#define NB_UK_T double
#define NB_UK_V __m512d
#define NB_UK_LANES 8
#define NB_UK_MR NB_BLK_AVX512_F64_MR
#define NB_UK_NV (NB_BLK_AVX512_F64_NR / 8)
#define NB_UK_ZERO() _mm512_setzero_pd()
#define NB_UK_SET1(x) _mm512_set1_pd(x)
#define NB_UK_BCAST(ptr) _mm512_set1_pd(*(ptr))
#define NB_UK_LOAD(ptr) _mm512_loadu_pd(ptr)
#define NB_UK_STORE(ptr, v) _mm512_storeu_pd(ptr, v)
#define NB_UK_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define NB_UK_MUL(a, b) _mm512_mul_pd(a, b)
#define NB_UK_ADD(a, b) _mm512_add_pd(a, b)
#include "kernels/microkernel_tmpl.h"
#endif
