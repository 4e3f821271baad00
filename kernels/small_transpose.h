/* kernels/small_transpose.h — packing a transposed B for the small path: copies a (nw, kc)
 * block stored row-major into (kc, nw), 8 x 8 (f32) or 4 x 4 (f64) blocks at a time through
 * AVX shuffles, the rest element by element. Included by small_avx2.c and small_avx512.c
 * under their target pragmas (both imply AVX). */
#ifndef NB_KERNELS_SMALL_TRANSPOSE_H
#define NB_KERNELS_SMALL_TRANSPOSE_H

#include <immintrin.h>
#include <stdint.h>

/* Scalar copies cost ~1 cycle an element, a third of the whole 64x100x1000:nt product's time;
 * the in-register transposes move 64 (f32) or 16 (f64) elements in a dozen shuffles. */

/* dst[p * ldd + j] = src[j * lds + p] for j < nw, p < kc (f32). */
static void nb_small_pack_bt_f32(const float *src, int64_t lds, int64_t nw, int64_t kc, float *dst, int64_t ldd) {
    int64_t j = 0;
    for (; j + 8 <= nw; j += 8) {
        const float *s = src + j * lds;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            /* rows r0..r7 are columns j..j+7 of op(B), 8 consecutive p each */
            __m256 r0 = _mm256_loadu_ps(s + 0 * lds + p), r1 = _mm256_loadu_ps(s + 1 * lds + p);
            __m256 r2 = _mm256_loadu_ps(s + 2 * lds + p), r3 = _mm256_loadu_ps(s + 3 * lds + p);
            __m256 r4 = _mm256_loadu_ps(s + 4 * lds + p), r5 = _mm256_loadu_ps(s + 5 * lds + p);
            __m256 r6 = _mm256_loadu_ps(s + 6 * lds + p), r7 = _mm256_loadu_ps(s + 7 * lds + p);
            /* pairs interleaved, then quads, then the 128-bit halves swapped across */
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *d = dst + p * ldd + j;
            _mm256_storeu_ps(d + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; p < kc; ++p)
            for (int jj = 0; jj < 8; ++jj) dst[p * ldd + j + jj] = s[jj * lds + p];
    }
    for (; j < nw; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * ldd + j] = src[j * lds + p];
}

/* dst[p * ldd + j] = src[j * lds + p] for j < nw, p < kc (f64). */
static void nb_small_pack_bt_f64(const double *src, int64_t lds, int64_t nw, int64_t kc, double *dst, int64_t ldd) {
    int64_t j = 0;
    for (; j + 4 <= nw; j += 4) {
        const double *s = src + j * lds;
        int64_t p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m256d r0 = _mm256_loadu_pd(s + 0 * lds + p), r1 = _mm256_loadu_pd(s + 1 * lds + p);
            __m256d r2 = _mm256_loadu_pd(s + 2 * lds + p), r3 = _mm256_loadu_pd(s + 3 * lds + p);
            __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
            __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
            double *d = dst + p * ldd + j;
            _mm256_storeu_pd(d + 0 * ldd, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(d + 1 * ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(d + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(d + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
        for (; p < kc; ++p)
            for (int jj = 0; jj < 4; ++jj) dst[p * ldd + j + jj] = s[jj * lds + p];
    }
    for (; j < nw; ++j)
        for (int64_t p = 0; p < kc; ++p) dst[p * ldd + j] = src[j * lds + p];
}

#endif
