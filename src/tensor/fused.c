/* src/tensor/fused.c — the loops the static graph fuses chains of ops into (loops.h): the
 * sum-of-squares loss with its backward, clamp with the byte mask its backward reads, and that
 * backward. Each computes exactly what the chain of single ops computes, rounding for rounding;
 * only the passes over memory are fewer. */
#include <string.h>

#include "tensor/loops.h"
#include "tensor/runtime.h"

/* ---- sum((a - b)^2) and its backward ------------------------------------------------------ */

typedef struct sqdiff_args {
    const void *a, *b;
    void *ga, *gb;
} sqdiff_args;

/* One block of the loss: each square rounded to T, accumulated in double; the gradients from
 * the seed 1 as the dynamic engine computes them: pow's backward (a - b) * 2 added to a zero
 * gradient, then sub's (+ for a, 0 - that for b). */
#define DEFINE_SQDIFF(T, SFX)                                                                                          \
    static double sqdiff_block_##SFX(const void *ctx, int64_t lo, int64_t hi) {                                        \
        const sqdiff_args *r = ctx;                                                                                    \
        const T *a = r->a, *b = r->b;                                                                                  \
        T *ga = r->ga, *gb = r->gb;                                                                                    \
        double acc = 0.0;                                                                                              \
        for (int64_t i = lo; i < hi; i++) {                                                                            \
            T d = a[i] - b[i];                                                                                         \
            T sq = d * d;                                                                                              \
            acc += sq;                                                                                                 \
            if (!ga && !gb) continue;                                                                                  \
            T g = (T)0 + d * (T)2;                                                                                     \
            if (ga) ga[i] = g;                                                                                         \
            if (gb) gb[i] = (T)0 - g;                                                                                  \
        }                                                                                                              \
        return acc;                                                                                                    \
    }
DEFINE_SQDIFF(float, f32)
DEFINE_SQDIFF(double, f64)

double nb_fused_sqdiff_sum(nb_dtype dtype, int64_t n, const void *a, const void *b, void *ga, void *gb) {
    const sqdiff_args args = {a, b, ga, gb};
    return nb_blocked_sum(n, dtype == NB_F32 ? sqdiff_block_f32 : sqdiff_block_f64, &args);
}

/* ---- clamp with its mask, and the mask's backward ---------------------------------------- */

typedef struct mask_args {
    void *out;
    uint8_t *mask;       /* clamp: written */
    const uint8_t *keep; /* backward: read */
    const void *x;       /* clamp: the input; backward: the gradient g */
    double s;
    bool strict, dst_is_zero;
} mask_args;

#define DEFINE_CLAMP_MASK(T, SFX)                                                                                      \
    static void clamp_mask_##SFX(void *ctx, int64_t lo, int64_t hi) {                                                  \
        const mask_args *r = ctx;                                                                                      \
        T *o = r->out;                                                                                                 \
        uint8_t *m = r->mask;                                                                                          \
        const T *x = r->x;                                                                                             \
        const T s = (T)r->s;                                                                                           \
        if (r->strict) {                                                                                               \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                                                    \
                T v = x[i];                                                                                            \
                m[i] = (uint8_t)(v > s);                                                                               \
                o[i] = v < s ? s : v;                                                                                  \
            }                                                                                                          \
        } else {                                                                                                       \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                                                    \
                T v = x[i];                                                                                            \
                m[i] = (uint8_t)(v >= s);                                                                              \
                o[i] = v < s ? s : v;                                                                                  \
            }                                                                                                          \
        }                                                                                                              \
    }
DEFINE_CLAMP_MASK(float, f32)
DEFINE_CLAMP_MASK(double, f64)

void nb_fused_clamp_mask(nb_dtype dtype, int64_t n, void *out, uint8_t *mask, const void *x, double s, bool strict) {
    mask_args args = {.out = out, .mask = mask, .x = x, .s = s, .strict = strict};
    nb_parallel_range(n, dtype == NB_F32 ? clamp_mask_f32 : clamp_mask_f64, &args);
}

/* The select is written as a bit mask (all ones or all zeros, from the byte) ANDed with g,
 * which is g or +0.0 exactly and which gcc vectorises, where a ternary stays a branch. */
#define MASK_BWD_LOOP(T, U, BASE)                                                                                      \
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                                                            \
        U bits;                                                                                                        \
        T kept;                                                                                                        \
        memcpy(&bits, &g[i], sizeof bits);                                                                             \
        bits &= -(U)m[i];                                                                                              \
        memcpy(&kept, &bits, sizeof kept);                                                                             \
        o[i] = (BASE) + kept;                                                                                          \
    }
#define DEFINE_MASK_BWD(T, SFX, U)                                                                                     \
    static void mask_bwd_##SFX(void *ctx, int64_t lo, int64_t hi) {                                                    \
        const mask_args *r = ctx;                                                                                      \
        T *o = r->out;                                                                                                 \
        const T *g = r->x;                                                                                             \
        const uint8_t *m = r->keep;                                                                                    \
        if (r->dst_is_zero) {                                                                                          \
            MASK_BWD_LOOP(T, U, (T)0)                                                                                  \
        } else {                                                                                                       \
            MASK_BWD_LOOP(T, U, o[i])                                                                                  \
        }                                                                                                              \
    }
DEFINE_MASK_BWD(float, f32, uint32_t)
DEFINE_MASK_BWD(double, f64, uint64_t)
_Static_assert(sizeof(float) == sizeof(uint32_t) && sizeof(double) == sizeof(uint64_t), "IEEE binary32/64");

void nb_fused_mask_backward(nb_dtype dtype, int64_t n, void *out, const void *g, const uint8_t *mask,
                            bool dst_is_zero) {
    mask_args args = {.out = out, .keep = mask, .x = g, .dst_is_zero = dst_is_zero};
    nb_parallel_range(n, dtype == NB_F32 ? mask_bwd_f32 : mask_bwd_f64, &args);
}
