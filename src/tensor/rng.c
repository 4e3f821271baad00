/* src/tensor/rng.c — PyTorch 1.13's CPU generator, bit for bit: at::mt19937, and the
 * uniform_ / normal_ / random_(from, to) kernels of ATen's ATEN_CPU_CAPABILITY=default path.
 * docs/rng.md states each algorithm with its draw counts; tests/test_rng.c checks it
 * against draws recorded from torch (tests/data/rng_torch.txt). */
#include "tensor/rng.h"

#include <assert.h>
#include <math.h>

/* MT19937 parameters (Matsumoto & Nishimura). */
enum { MT_N = NB_MT_STATE_SIZE, MT_M = 397 };
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

/* c10::pi<double>; spelled out rather than M_PI, which strict C11 does not define. */
#define NB_PI 3.14159265358979323846

/* torch's default_rng_seed_val: the seed of a freshly constructed CPU generator. */
#define NB_DEFAULT_SEED UINT64_C(67280421310721)

void nb_rng_seed(nb_rng *rng, uint64_t seed) {
    assert(rng != NULL);
    rng->seed = seed;
    /* Only the low 32 bits enter the state: seeds that differ by a multiple of 2^32 draw
     * the same stream, as in torch (initial_seed() still reports the full value). */
    rng->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t j = 1; j < MT_N; j++) {
        uint32_t prev = rng->state[j - 1];
        rng->state[j] = 1812433253u * (prev ^ (prev >> 30)) + j;
    }
    /* left = 1: the first draw twists before it tempers, as at::mt19937 does. */
    rng->left = 1;
    rng->next = 0;
    /* manual_seed resets the cached Box-Muller sample too. */
    rng->has_cached_normal = false;
    rng->cached_normal = 0.0;
}

nb_rng *nb_rng_default(void) {
    /* Lazily seeded on first use. Like every nb_rng function this is not thread-safe:
     * torch serialises its generator with a mutex, nabla's callers draw from one thread. */
    static nb_rng generator;
    static bool seeded = false;
    if (!seeded) {
        nb_rng_seed(&generator, NB_DEFAULT_SEED);
        seeded = true;
    }
    return &generator;
}

static uint32_t mt_twist(uint32_t u, uint32_t v) {
    uint32_t mixed = (u & MT_UPPER) | (v & MT_LOWER);
    return (mixed >> 1) ^ ((v & 1u) ? MT_MATRIX_A : 0u);
}

/* Regenerates all 624 state words at once (the "next_state" of the reference code). */
static void mt_next_state(nb_rng *rng) {
    uint32_t *s = rng->state;
    int j = 0;
    for (; j < MT_N - MT_M; j++) s[j] = s[j + MT_M] ^ mt_twist(s[j], s[j + 1]);
    for (; j < MT_N - 1; j++) s[j] = s[j + MT_M - MT_N] ^ mt_twist(s[j], s[j + 1]);
    s[MT_N - 1] = s[MT_M - 1] ^ mt_twist(s[MT_N - 1], s[0]);
    rng->left = MT_N;
    rng->next = 0;
}

uint32_t nb_rng_random(nb_rng *rng) {
    if (--rng->left == 0) mt_next_state(rng);
    uint32_t y = rng->state[rng->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t nb_rng_random64(nb_rng *rng) {
    /* Two statements: the first draw must be the high word, and C leaves the evaluation
     * order of two calls inside one expression unspecified. */
    uint64_t hi = nb_rng_random(rng);
    uint64_t lo = nb_rng_random(rng);
    return (hi << 32) | lo;
}

/* a * b + c rounded twice, never fused: torch's default path has no FMA (its AVX2 build
 * does, which is why its last bits differ). The project compiles with -ffp-contract=off;
 * the volatile keeps the product rounded even under a build that contracts, since GCC
 * contracts across statements and ignores #pragma STDC FP_CONTRACT. */
static float mul_add_f32(float a, float b, float c) {
    volatile float product = a * b;
    return product + c;
}

static double mul_add_f64(double a, double b, double c) {
    volatile double product = a * b;
    return product + c;
}

/* uniform_real_distribution<float>(0, 1): the low 24 bits of one 32-bit draw, times 2^-24
 * (exact: an integer below 2^24 and a power of two). */
static float uniform01_f32(nb_rng *rng) { return (float)(nb_rng_random(rng) & 0xffffffu) * 0x1p-24f; }

/* uniform_real_distribution<double>(0, 1): the low 53 bits of one 64-bit draw, times 2^-53. */
static double uniform01_f64(nb_rng *rng) {
    return (double)(nb_rng_random64(rng) & ((UINT64_C(1) << 53) - 1)) * 0x1p-53;
}

void nb_rng_uniform_f32(nb_rng *rng, float *out, size_t n, double from, double to) {
    /* torch casts the bounds to the dtype first, then works in float throughout. */
    const float lo = (float)from;
    const float span = (float)to - lo;
    for (size_t i = 0; i < n; i++) out[i] = mul_add_f32(uniform01_f32(rng), span, lo);
}

void nb_rng_uniform_f64(nb_rng *rng, double *out, size_t n, double from, double to) {
    const double span = to - from;
    for (size_t i = 0; i < n; i++) out[i] = mul_add_f64(uniform01_f64(rng), span, from);
}

/* torch's normal_distribution<double>: one sample per call, two uniforms per pair.
 * u1 drives the angle, u2 the radius through log(1 - u2) (not log1p); r*sin is cached in
 * the generator for the next call, r*cos is returned. mean/std stay double. */
static double normal_double(nb_rng *rng, double mean, double std) {
    if (rng->has_cached_normal) {
        rng->has_cached_normal = false;
        return mul_add_f64(rng->cached_normal, std, mean);
    }
    const double u1 = uniform01_f64(rng);
    const double u2 = uniform01_f64(rng);
    const double r = sqrt(-2.0 * log(1.0 - u2));
    const double theta = 2.0 * NB_PI * u1;
    rng->cached_normal = r * sin(theta);
    rng->has_cached_normal = true;
    return mul_add_f64(r * cos(theta), std, mean);
}

/* Box-Muller over one block of 16 uniforms in place: pairs (j, j + 8), j < 8. In float for
 * f32, with float libm calls (std::log(float) is logf) except the angle: torch computes
 * 2.0f * c10::pi<double> * u2 in double and rounds that to float. */
static void normal_block16_f32(float *d, float mean, float std) {
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - d[j]; /* [0, 1) -> (0, 1] for the log */
        const float u2 = d[j + 8];
        const float radius = sqrtf(-2.0f * logf(u1));
        const float theta = (float)(2.0 * NB_PI * (double)u2);
        d[j] = mul_add_f32(radius * cosf(theta), std, mean);
        d[j + 8] = mul_add_f32(radius * sinf(theta), std, mean);
    }
}

static void normal_block16_f64(double *d, double mean, double std) {
    for (int j = 0; j < 8; j++) {
        const double u1 = 1.0 - d[j];
        const double u2 = d[j + 8];
        const double radius = sqrt(-2.0 * log(u1));
        const double theta = 2.0 * NB_PI * u2;
        d[j] = mul_add_f64(radius * cos(theta), std, mean);
        d[j + 8] = mul_add_f64(radius * sin(theta), std, mean);
    }
}

/* torch's normal_fill: n uniforms, then every full block of 16; if n % 16 != 0 the last 16
 * slots are refilled with 16 fresh uniforms and transformed again (n + 16 draws in all). */
void nb_rng_normal_f32(nb_rng *rng, float *out, size_t n, double mean, double std) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_double(rng, mean, std);
        return;
    }
    const float mean_f = (float)mean, std_f = (float)std;
    for (size_t i = 0; i < n; i++) out[i] = uniform01_f32(rng);
    for (size_t i = 0; i + 16 <= n; i += 16) normal_block16_f32(out + i, mean_f, std_f);
    if (n % 16 != 0) {
        float *last = out + n - 16;
        for (int i = 0; i < 16; i++) last[i] = uniform01_f32(rng);
        normal_block16_f32(last, mean_f, std_f);
    }
}

void nb_rng_normal_f64(nb_rng *rng, double *out, size_t n, double mean, double std) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = normal_double(rng, mean, std);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = uniform01_f64(rng);
    for (size_t i = 0; i + 16 <= n; i += 16) normal_block16_f64(out + i, mean, std);
    if (n % 16 != 0) {
        double *last = out + n - 16;
        for (int i = 0; i < 16; i++) last[i] = uniform01_f64(rng);
        normal_block16_f64(last, mean, std);
    }
}

/* uint64 -> int64 by two's complement, without C's implementation-defined conversion. */
static int64_t wrap_to_i64(uint64_t v) {
    if (v <= (uint64_t)INT64_MAX) return (int64_t)v;
    return -(int64_t)(UINT64_MAX - v) - 1;
}

/* uniform_int_from_to_distribution: range = high - low in uint64 arithmetic; a range of
 * 2^32 or more takes one 64-bit draw, a smaller one a single 32-bit draw; the value is
 * (draw % range) + low, wrapping as uint64 (the modulo bias is torch's too). The int64 ->
 * float / double conversion of the float variants rounds to nearest, as static_cast does. */
int64_t nb_rng_randint(nb_rng *rng, int64_t low, int64_t high) {
    assert(low < high);
    const uint64_t range = (uint64_t)high - (uint64_t)low;
    const uint64_t draw = range >= (UINT64_C(1) << 32) ? nb_rng_random64(rng) : (uint64_t)nb_rng_random(rng);
    return wrap_to_i64(draw % range + (uint64_t)low);
}

void nb_rng_randint_f32(nb_rng *rng, float *out, size_t n, int64_t low, int64_t high) {
    for (size_t i = 0; i < n; i++) out[i] = (float)nb_rng_randint(rng, low, high);
}

void nb_rng_randint_f64(nb_rng *rng, double *out, size_t n, int64_t low, int64_t high) {
    for (size_t i = 0; i < n; i++) out[i] = (double)nb_rng_randint(rng, low, high);
}
