/* kernels/microkernel_avx2.c — the AVX2 GEMM micro-kernels (f32 and f64) of the blocked and
 * openmp kernels. Only this file is compiled with -mavx2 -mfma (kernels/CMakeLists.txt): the
 * rest of the binary stays baseline x86-64, and blocked.c calls these only after
 * nb_cpu_supports(NB_CPU_ISA_AVX2) said yes. Tile shapes and why: blocked_impl.h. */
#include <stdint.h>

#include "kernels/blocked_impl.h"

#ifdef NB_BLK_HAVE_X86
#include <immintrin.h>

_Static_assert(NB_BLK_AVX2_F32_NR % 8 == 0 && NB_BLK_AVX2_F64_NR % 4 == 0, "NR is a whole number of vectors");

#define NB_UK_NAME nb_ukernel_avx2_f32
#define NB_UK_T float
#define NB_UK_V __m256
#define NB_UK_LANES 8
#define NB_UK_MR NB_BLK_AVX2_F32_MR
#define NB_UK_NV (NB_BLK_AVX2_F32_NR / 8)
#define NB_UK_ZERO() _mm256_setzero_ps()
#define NB_UK_SET1(x) _mm256_set1_ps(x)
#define NB_UK_BCAST(ptr) _mm256_set1_ps(*(ptr))
#define NB_UK_LOAD(ptr) _mm256_loadu_ps(ptr)
#define NB_UK_STORE(ptr, v) _mm256_storeu_ps(ptr, v)
#define NB_UK_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define NB_UK_MUL(a, b) _mm256_mul_ps(a, b)
#define NB_UK_ADD(a, b) _mm256_add_ps(a, b)
#include "kernels/microkernel_tmpl.h"

#define NB_UK_NAME nb_ukernel_avx2_f64
#define NB_UK_T double
#define NB_UK_V __m256d
#define NB_UK_LANES 4
#define NB_UK_MR NB_BLK_AVX2_F64_MR
#define NB_UK_NV (NB_BLK_AVX2_F64_NR / 4)
#define NB_UK_ZERO() _mm256_setzero_pd()
#define NB_UK_SET1(x) _mm256_set1_pd(x)
#define NB_UK_BCAST(ptr) _mm256_set1_pd(*(ptr))
#define NB_UK_LOAD(ptr) _mm256_loadu_pd(ptr)
#define NB_UK_STORE(ptr, v) _mm256_storeu_pd(ptr, v)
#define NB_UK_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define NB_UK_MUL(a, b) _mm256_mul_pd(a, b)
#define NB_UK_ADD(a, b) _mm256_add_pd(a, b)
#include "kernels/microkernel_tmpl.h"
#endif
