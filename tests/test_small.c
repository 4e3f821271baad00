/* tests/test_small.c — CUnit suite for the direct small-GEMM path (kernels/small.h), f32 and
 * f64, on every ISA this CPU runs (nb_cpu_set_dispatch_isa): all transposes, edge sizes and the
 * seed network's products against a long-double reference; the contract's rules (beta == 0
 * never reads C, k == 0, alpha == 0, padded leading dimensions whose NaN must not leak,
 * untouched inputs); the same bits on a second call; and declining what it does not take. */
#include <CUnit/CUnit.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/small.h"
#include "test_util.h"

/* ---- inputs: splitmix64, values uniform in [-1, 1) ---------------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static double rng_uniform(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-52 - 1.0;
}

/* ---- one case ------------------------------------------------------------------------------ */

typedef enum { F32 = 0, F64 = 1 } dtype;

typedef struct {
    dtype dt;
    nb_trans ta, tb;
    int64_t m, n, k;
    double alpha, beta;
} small_case;

#define TOL_RATIO 16.0 /* |c - ref| / (eps * (|alpha| sum|a||b| + |beta||c0|)), notes/gemm.md */
#define GUARD 16       /* NaN elements after every buffer: a read there poisons C */
#define MAX_PRINTED 12

/* Per ISA and dtype: runs, failures, the worst error ratio. */
typedef struct {
    long cases, runs[NB_CPU_ISA_COUNT][2], failed[NB_CPU_ISA_COUNT][2];
    double worst[NB_CPU_ISA_COUNT][2];
    int printed;
} tally;

static size_t esize(dtype dt) { return dt == F32 ? sizeof(float) : sizeof(double); }
static double getv(dtype dt, const void *p, size_t i) {
    return dt == F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void setv(dtype dt, void *p, size_t i, double v) {
    if (dt == F32)
        ((float *)p)[i] = (float)v;
    else
        ((double *)p)[i] = v;
}
static double round_to(dtype dt, double v) { return dt == F32 ? (double)(float)v : v; }

static bool call_small(dtype dt, const small_case *cs, const void *a, int64_t lda, const void *b, int64_t ldb, void *c,
                       int64_t ldc) {
    if (dt == F32)
        return nb_small_sgemm(cs->ta, cs->tb, cs->m, cs->n, cs->k, (float)cs->alpha, a, lda, b, ldb, (float)cs->beta, c,
                              ldc);
    return nb_small_dgemm(cs->ta, cs->tb, cs->m, cs->n, cs->k, cs->alpha, a, lda, b, ldb, cs->beta, c, ldc);
}

/* The ISAs to run: every one this CPU supports, narrowest first. */
static int supported_isas(nb_cpu_isa *out) {
    int count = 0;
    for (int i = 0; i < NB_CPU_ISA_COUNT; ++i)
        if (nb_cpu_supports((nb_cpu_isa)i)) out[count++] = (nb_cpu_isa)i;
    return count;
}

/* Builds one case (leading dimensions = row length + 1, padding and guards NaN; C full of NaN
 * when beta == 0), its long-double reference, and runs it on every supported ISA, twice. */
static void check_case(const small_case *cs, tally *t) {
    const dtype dt = cs->dt;
    const size_t es = esize(dt);
    const int64_t m = cs->m, n = cs->n, k = cs->k;
    const double alpha = round_to(dt, cs->alpha), beta = round_to(dt, cs->beta);
    const int64_t a_rows = cs->ta == NB_NO_TRANS ? m : k, a_cols = cs->ta == NB_NO_TRANS ? k : m;
    const int64_t b_rows = cs->tb == NB_NO_TRANS ? k : n, b_cols = cs->tb == NB_NO_TRANS ? n : k;
    const int64_t lda = a_cols + 1, ldb = b_cols + 1, ldc = n + 1;
    const size_t na = (size_t)(a_rows * lda) + GUARD, nb = (size_t)(b_rows * ldb) + GUARD;
    const size_t nc = (size_t)(m * ldc) + GUARD;

    void *a = malloc(na * es), *b = malloc(nb * es), *c0 = malloc(nc * es), *c = malloc(nc * es);
    void *c1 = malloc(nc * es), *a0 = malloc(na * es), *b0 = malloc(nb * es);
    long double *ref = malloc(((size_t)(m * n) + 1) * sizeof *ref);
    long double *bound = malloc(((size_t)(m * n) + 1) * sizeof *bound);
    if (!a || !b || !c0 || !c || !c1 || !a0 || !b0 || !ref || !bound) {
        CU_FAIL("out of memory");
        goto done;
    }
    for (size_t i = 0; i < na; ++i) setv(dt, a, i, NAN);
    for (size_t i = 0; i < nb; ++i) setv(dt, b, i, NAN);
    for (size_t i = 0; i < nc; ++i) setv(dt, c0, i, NAN); /* C's padding and guard: NaN too */
    for (int64_t i = 0; i < a_rows; ++i)
        for (int64_t j = 0; j < a_cols; ++j) setv(dt, a, (size_t)(i * lda + j), rng_uniform());
    for (int64_t i = 0; i < b_rows; ++i)
        for (int64_t j = 0; j < b_cols; ++j) setv(dt, b, (size_t)(i * ldb + j), rng_uniform());
    if (beta != 0)
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) setv(dt, c0, (size_t)(i * ldc + j), rng_uniform());
    memcpy(a0, a, na * es);
    memcpy(b0, b, nb * es);

    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            long double s = 0, sa = 0;
            for (int64_t p = 0; p < k; ++p) {
                const long double x = getv(dt, a, (size_t)(cs->ta == NB_NO_TRANS ? i * lda + p : p * lda + i));
                const long double y = getv(dt, b, (size_t)(cs->tb == NB_NO_TRANS ? p * ldb + j : j * ldb + p));
                s += x * y;
                sa += fabsl(x * y);
            }
            const long double cij = beta == 0 ? 0 : getv(dt, c0, (size_t)(i * ldc + j));
            ref[i * n + j] = alpha * s + beta * cij;
            bound[i * n + j] = fabsl((long double)alpha) * sa + fabsl(beta * cij);
        }

    const bool exact = k == 0 || alpha == 0; /* C = beta * C, in the dtype's arithmetic */
    const double eps = dt == F32 ? FLT_EPSILON : DBL_EPSILON;
    nb_cpu_isa isas[NB_CPU_ISA_COUNT];
    const int nisa = supported_isas(isas);
    const nb_cpu_isa saved = nb_cpu_dispatch_isa();
    t->cases++;
    for (int ii = 0; ii < nisa; ++ii) {
        const nb_cpu_isa isa = isas[ii];
        CU_ASSERT_FATAL(nb_cpu_set_dispatch_isa(isa));
        memcpy(c, c0, nc * es);
        memcpy(c1, c0, nc * es);
        const bool took = call_small(dt, cs, a, lda, b, ldb, c, ldc);
        const bool took2 = call_small(dt, cs, a, lda, b, ldb, c1, ldc);
        const bool same_bits = memcmp(c, c1, nc * es) == 0;
        const bool inputs_same = memcmp(a, a0, na * es) == 0 && memcmp(b, b0, nb * es) == 0;
        bool pad_same =
            memcmp((char *)c + (size_t)(m * ldc) * es, (char *)c0 + (size_t)(m * ldc) * es, GUARD * es) == 0;
        for (int64_t i = 0; i < m && pad_same; ++i)
            pad_same = memcmp((char *)c + (size_t)(i * ldc + n) * es, (char *)c0 + (size_t)(i * ldc + n) * es, es) == 0;
        long bad = 0;
        int64_t bi = 0, bj = 0;
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                const double got = getv(dt, c, (size_t)(i * ldc + j));
                bool ok;
                if (exact) {
                    const double c0ij = getv(dt, c0, (size_t)(i * ldc + j));
                    const double want = beta == 0 ? 0 : dt == F32 ? (double)((float)beta * (float)c0ij) : beta * c0ij;
                    ok = got == want;
                } else {
                    const double err = (double)fabsl((long double)got - ref[i * n + j]);
                    const double scale = eps * (double)bound[i * n + j];
                    const double ratio = scale > 0 ? err / scale : (err == 0 ? 0 : INFINITY);
                    ok = ratio <= TOL_RATIO; /* false for NaN */
                    if (ok && ratio > worst) worst = ratio;
                }
                if (!ok && bad++ == 0) bi = i, bj = j;
            }
        const int d = (int)dt;
        t->runs[isa][d]++;
        if (worst > t->worst[isa][d]) t->worst[isa][d] = worst;
        if (took && took2 && same_bits && inputs_same && pad_same && bad == 0) continue;
        t->failed[isa][d]++;
        if (t->printed++ >= MAX_PRINTED) continue;
        printf("\n    FAIL isa=%s %s %c%c m=%lld n=%lld k=%lld alpha=%g beta=%g:%s%s%s%s", nb_cpu_isa_name(isa),
               dt == F32 ? "f32" : "f64", cs->ta ? 't' : 'n', cs->tb ? 't' : 'n', (long long)m, (long long)n,
               (long long)k, alpha, beta, took && took2 ? "" : " declined;",
               same_bits ? "" : " bits differ between calls;", inputs_same ? "" : " A or B modified;",
               pad_same ? "" : " C's padding modified;");
        if (bad)
            printf(" %ld of %lld wrong, first C[%lld][%lld] = %.9g, expected %.9Lg", bad, (long long)(m * n),
                   (long long)bi, (long long)bj, getv(dt, c, (size_t)(bi * ldc + bj)), ref[bi * n + bj]);
        printf("\n");
    }
    nb_cpu_set_dispatch_isa(saved);
done:
    free(a), free(b), free(c0), free(c), free(c1), free(a0), free(b0), free(ref), free(bound);
}

static void tally_report(const char *test, const tally *t) {
    printf("\n    %s: %ld cases\n", test, t->cases);
    for (int isa = 0; isa < NB_CPU_ISA_COUNT; ++isa) {
        if (!nb_cpu_supports((nb_cpu_isa)isa)) continue;
        printf("      %-7s", nb_cpu_isa_name((nb_cpu_isa)isa));
        for (int d = 0; d < 2; ++d) {
            printf("  %s %s (%ld runs, max error ratio %.3f)", d ? "f64" : "f32", t->failed[isa][d] ? "FAILED" : "ok",
                   t->runs[isa][d], t->worst[isa][d]);
            CU_ASSERT_EQUAL(t->failed[isa][d], 0);
            CU_ASSERT_TRUE(t->runs[isa][d] > 0);
        }
        printf("\n");
    }
}

static const nb_trans trans_of[4][2] = {
    {NB_NO_TRANS, NB_NO_TRANS}, {NB_NO_TRANS, NB_TRANS}, {NB_TRANS, NB_NO_TRANS}, {NB_TRANS, NB_TRANS}};
static const double alphas[3] = {0, 1, 0.7}, betas[3] = {0, 1, 1.3};

/* ---- the tests ----------------------------------------------------------------------------- */

/* Every (m, n, k) over the edge sizes (vector widths 4, 8, 16 and tile heights 4, 6, 8, 12, 16
 * straddled), all four transposes, (alpha, beta) cycling through the 9 pairs. */
static void test_edge_sizes(void) {
    static const int64_t sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    tally t = {0};
    int pair = 0;
    for (int d = 0; d < 2; ++d)
        for (int tr = 0; tr < 4; ++tr)
            for (int mi = 0; mi < ns; ++mi)
                for (int ni = 0; ni < ns; ++ni)
                    for (int ki = 0; ki < ns; ++ki, ++pair) {
                        small_case cs = {(dtype)d,  trans_of[tr][0], trans_of[tr][1],  sizes[mi],
                                         sizes[ni], sizes[ki],       alphas[pair % 3], betas[(pair / 3) % 3]};
                        check_case(&cs, &t);
                    }
    tally_report("edge sizes", &t);
}

/* One or two of m, n, k at 64, 65 or 100 (several column blocks, the last one a single vector
 * when n is 65, rows past a whole tile) with the others small, every transpose and a third of
 * the 9 (alpha, beta) pairs each (all 9 over the little sizes). */
static void test_mixed_sizes(void) {
    static const int64_t big[] = {64, 65, 100}, little[] = {1, 3, 17, 33};
    tally t = {0};
    for (int d = 0; d < 2; ++d)
        for (int tr = 0; tr < 4; ++tr)
            for (int bi = 0; bi < 3; ++bi)
                for (int li = 0; li < 4; ++li)
                    for (int which = 0; which < 6; ++which)
                        for (int ab = 0; ab < 9; ++ab) {
                            if ((ab + li + which) % 3 != 0) continue; /* a third of the pairs */
                            const int64_t B = big[bi], L = little[li];
                            const int64_t dims[6][3] = {{B, L, L}, {L, B, L}, {L, L, B},
                                                        {B, B, L}, {B, L, B}, {L, B, B}};
                            small_case cs = {(dtype)d,       trans_of[tr][0], trans_of[tr][1], dims[which][0],
                                             dims[which][1], dims[which][2],  alphas[ab % 3],  betas[ab / 3]};
                            check_case(&cs, &t);
                        }
    tally_report("mixed sizes", &t);
}

/* The products the training variants issue at the seed's sizes (kernels/README.md), with
 * k = 1000 crossing the k chunks; (1, 0) with C full of NaN, and (0.7, 1.3). */
static void test_seed_shapes(void) {
    static const struct {
        int64_t m, n, k;
        int ta, tb;
    } seed[] = {{64, 100, 1000, 0, 0}, {64, 10, 100, 0, 0},   {100, 10, 64, 1, 0},   {64, 100, 10, 0, 1},
                {1000, 100, 64, 1, 0}, {64, 1000, 100, 0, 1}, {64, 100, 1000, 0, 1}, {64, 10, 100, 0, 1},
                {64, 100, 10, 0, 0},   {10, 100, 64, 1, 0},   {100, 1000, 64, 1, 0}, {64, 100, 100, 0, 1},
                {64, 100, 100, 0, 0},  {100, 100, 64, 1, 0},  {100, 64, 1000, 1, 1}, {33, 17, 300, 1, 1}};
    tally t = {0};
    for (int d = 0; d < 2; ++d)
        for (size_t s = 0; s < sizeof seed / sizeof seed[0]; ++s)
            for (int ab = 0; ab < 2; ++ab) {
                small_case cs = {(dtype)d,
                                 seed[s].ta ? NB_TRANS : NB_NO_TRANS,
                                 seed[s].tb ? NB_TRANS : NB_NO_TRANS,
                                 seed[s].m,
                                 seed[s].n,
                                 seed[s].k,
                                 ab ? 0.7 : 1,
                                 ab ? 1.3 : 0};
                check_case(&cs, &t);
            }
    tally_report("seed shapes", &t);
}

/* k == 0 (and alpha == 0) gives beta * C exactly without reading A or B: they are NULL here. */
static void test_k_zero(void) {
    nb_cpu_isa isas[NB_CPU_ISA_COUNT];
    const int nisa = supported_isas(isas);
    const nb_cpu_isa saved = nb_cpu_dispatch_isa();
    for (int ii = 0; ii < nisa; ++ii) {
        CU_ASSERT_FATAL(nb_cpu_set_dispatch_isa(isas[ii]));
        for (int bi = 0; bi < 3; ++bi) {
            float cs[3 * 5];
            double cd[3 * 5];
            for (int i = 0; i < 15; ++i) {
                cs[i] = betas[bi] == 0 ? NAN : (float)i - 7.5f;
                cd[i] = betas[bi] == 0 ? NAN : i - 7.5;
            }
            /* C is 3 x 4 with ldc 5: column 4 is padding and must stay as it was */
            const float pad_s = cs[4];
            const double pad_d = cd[4];
            CU_ASSERT_TRUE(
                nb_small_sgemm(NB_TRANS, NB_NO_TRANS, 3, 4, 0, 0.7f, NULL, 3, NULL, 4, (float)betas[bi], cs, 5));
            CU_ASSERT_TRUE(nb_small_dgemm(NB_NO_TRANS, NB_TRANS, 3, 4, 0, 0.7, NULL, 1, NULL, 1, betas[bi], cd, 5));
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 4; ++j) {
                    const float ws = betas[bi] == 0 ? 0.0f : (float)betas[bi] * ((float)(i * 5 + j) - 7.5f);
                    const double wd = betas[bi] == 0 ? 0.0 : betas[bi] * (i * 5 + j - 7.5);
                    CU_ASSERT_EQUAL(cs[i * 5 + j], ws);
                    CU_ASSERT_EQUAL(cd[i * 5 + j], wd);
                }
            CU_ASSERT_TRUE(memcmp(&cs[4], &pad_s, sizeof pad_s) == 0);
            CU_ASSERT_TRUE(memcmp(&cd[4], &pad_d, sizeof pad_d) == 0);
            /* an empty C: nothing to do, nothing touched */
            CU_ASSERT_TRUE(nb_small_sgemm(NB_NO_TRANS, NB_NO_TRANS, 0, 4, 3, 1, NULL, 3, NULL, 4, 0, NULL, 4));
            CU_ASSERT_TRUE(nb_small_dgemm(NB_NO_TRANS, NB_NO_TRANS, 3, 0, 3, 1, NULL, 3, NULL, 1, 0, NULL, 1));
        }
    }
    nb_cpu_set_dispatch_isa(saved);
}

/* Above the threshold the path declines and touches nothing; negative sizes are declined; a
 * transposed B under a C of very few rows is declined (packing would dominate). */
static void test_declines(void) {
    const int64_t big = 256; /* 256^3 = 2^24 > NB_SMALL_MAX_MNK */
    CU_ASSERT_TRUE(big * big * big > NB_SMALL_MAX_MNK);
    float *a = malloc((size_t)(big * big) * sizeof *a), *b = malloc((size_t)(big * big) * sizeof *b);
    float *c = malloc((size_t)(big * big) * sizeof *c), *c0 = malloc((size_t)(big * big) * sizeof *c0);
    double *cd = malloc((size_t)(big * big) * sizeof *cd), *cd0 = malloc((size_t)(big * big) * sizeof *cd0);
    CU_ASSERT_FATAL(a && b && c && c0 && cd && cd0);
    for (int64_t i = 0; i < big * big; ++i) {
        a[i] = b[i] = (float)rng_uniform();
        c0[i] = c[i] = (float)rng_uniform();
        cd0[i] = cd[i] = rng_uniform();
    }
    nb_cpu_isa isas[NB_CPU_ISA_COUNT];
    const int nisa = supported_isas(isas);
    const nb_cpu_isa saved = nb_cpu_dispatch_isa();
    for (int ii = 0; ii < nisa; ++ii) {
        CU_ASSERT_FATAL(nb_cpu_set_dispatch_isa(isas[ii]));
        for (int tr = 0; tr < 4; ++tr) {
            CU_ASSERT_FALSE(
                nb_small_sgemm(trans_of[tr][0], trans_of[tr][1], big, big, big, 1, a, big, b, big, 0, c, big));
            CU_ASSERT_FALSE(nb_small_dgemm(trans_of[tr][0], trans_of[tr][1], big, big, big, 1, (const double *)NULL,
                                           big, NULL, big, 0, cd, big));
        }
        /* a GEMV-like product with a transposed B: 1 x 256 x 256 */
        CU_ASSERT_FALSE(nb_small_sgemm(NB_NO_TRANS, NB_TRANS, 1, big, big, 1, a, big, b, big, 0, c, big));
        CU_ASSERT_FALSE(nb_small_sgemm(NB_NO_TRANS, NB_NO_TRANS, -1, 4, 4, 1, a, 4, b, 4, 0, c, 4));
        CU_ASSERT_TRUE(memcmp(c, c0, (size_t)(big * big) * sizeof *c) == 0);
        CU_ASSERT_TRUE(memcmp(cd, cd0, (size_t)(big * big) * sizeof *cd) == 0);
    }
    nb_cpu_set_dispatch_isa(saved);
    /* the seed's products are all taken */
    CU_ASSERT_TRUE(nb_small_accepts(NB_NO_TRANS, NB_NO_TRANS, 64, 100, 1000));
    CU_ASSERT_TRUE(nb_small_accepts(NB_NO_TRANS, NB_TRANS, 64, 1000, 100));
    CU_ASSERT_TRUE(nb_small_accepts(NB_TRANS, NB_NO_TRANS, 1000, 100, 64));
    CU_ASSERT_FALSE(nb_small_accepts(NB_NO_TRANS, NB_NO_TRANS, 4, 4, -1));
    free(a), free(b), free(c), free(c0), free(cd), free(cd0);
}

/* Sharing a product between threads (nb_small_*gemm_part): for 2..7 and 64 parts, run one after
 * another in reverse order, C must hold the serial call's bytes, padding and guard included,
 * on every ISA, dtype and transpose. beta 1.3 makes a piece run twice (overlapping parts) come
 * out different, beta 0 over a C of NaN makes a piece no part runs stay NaN, and a k-sum split
 * between parts would round differently. Shapes: the seed's large products, awkward sizes
 * (edge vectors, edge row tiles, several k chunks), one column block, one row, many blocks. */
static bool call_part(dtype dt, nb_cpu_isa isa, int part, int nparts, const small_case *cs, const void *a, int64_t lda,
                      const void *b, int64_t ldb, void *c, int64_t ldc) {
    if (dt == F32)
        return nb_small_sgemm_part(isa, part, nparts, cs->ta, cs->tb, cs->m, cs->n, cs->k, (float)cs->alpha, a, lda, b,
                                   ldb, (float)cs->beta, c, ldc);
    return nb_small_dgemm_part(isa, part, nparts, cs->ta, cs->tb, cs->m, cs->n, cs->k, cs->alpha, a, lda, b, ldb,
                               cs->beta, c, ldc);
}

static void test_parts(void) {
    static const struct {
        int64_t m, n, k;
    } dims[] = {{64, 100, 1000}, {1000, 100, 64}, {64, 1000, 100}, {100, 1000, 64}, {63, 97, 301},
                {9, 1000, 70},   {1000, 5, 200},  {1, 300, 40},    {37, 41, 0},     {5, 3, 2}};
    static const int nparts_list[] = {2, 3, 4, 5, 7, 64};
    nb_cpu_isa isas[NB_CPU_ISA_COUNT];
    const int nisa = supported_isas(isas);
    const nb_cpu_isa saved = nb_cpu_dispatch_isa();
    long runs = 0, failed = 0;
    for (int d = 0; d < 2; ++d)
        for (size_t s = 0; s < sizeof dims / sizeof dims[0]; ++s)
            for (int tr = 0; tr < 4; ++tr)
                for (int ab = 0; ab < 3; ++ab) {
                    const dtype dt = (dtype)d;
                    const size_t es = esize(dt);
                    /* (0.7, 1.3), (1, 0) over NaN, and alpha == 0 (C = beta * C by rows) */
                    const small_case cs = {dt,
                                           trans_of[tr][0],
                                           trans_of[tr][1],
                                           dims[s].m,
                                           dims[s].n,
                                           dims[s].k,
                                           ab == 0   ? 0.7
                                           : ab == 1 ? 1
                                                     : 0,
                                           ab == 1 ? 0 : 1.3};
                    const int64_t m = cs.m, n = cs.n, k = cs.k;
                    if (!nb_small_accepts(cs.ta, cs.tb, m, n, k)) continue; /* m < 8, B^T */
                    const int64_t a_rows = cs.ta == NB_NO_TRANS ? m : k;
                    const int64_t a_cols = cs.ta == NB_NO_TRANS ? k : m;
                    const int64_t b_rows = cs.tb == NB_NO_TRANS ? k : n;
                    const int64_t b_cols = cs.tb == NB_NO_TRANS ? n : k;
                    const int64_t lda = a_cols + 1, ldb = b_cols + 1, ldc = n + 2;
                    const size_t na = (size_t)(a_rows * lda) + 1, nb = (size_t)(b_rows * ldb) + 1;
                    const size_t nc = (size_t)(m * ldc) + GUARD;
                    void *a = malloc(na * es), *b = malloc(nb * es), *c0 = malloc(nc * es);
                    void *c1 = malloc(nc * es), *cp = malloc(nc * es);
                    CU_ASSERT_FATAL(a && b && c0 && c1 && cp);
                    for (size_t i = 0; i < na; ++i) setv(dt, a, i, rng_uniform());
                    for (size_t i = 0; i < nb; ++i) setv(dt, b, i, rng_uniform());
                    for (size_t i = 0; i < nc; ++i) setv(dt, c0, i, cs.beta == 0 ? NAN : rng_uniform());
                    for (int ii = 0; ii < nisa; ++ii) {
                        const nb_cpu_isa isa = isas[ii];
                        CU_ASSERT_FATAL(nb_cpu_set_dispatch_isa(isa));
                        memcpy(c1, c0, nc * es);
                        CU_ASSERT_FATAL(call_small(dt, &cs, a, lda, b, ldb, c1, ldc));
                        for (size_t pi = 0; pi < sizeof nparts_list / sizeof nparts_list[0]; ++pi) {
                            const int np = nparts_list[pi];
                            memcpy(cp, c0, nc * es);
                            bool took = true;
                            for (int part = np - 1; part >= 0; --part)
                                took &= call_part(dt, isa, part, np, &cs, a, lda, b, ldb, cp, ldc);
                            runs++;
                            if (took && memcmp(c1, cp, nc * es) == 0) continue;
                            if (failed++ < MAX_PRINTED) {
                                size_t i = 0;
                                while (i + 1 < nc && memcmp((char *)c1 + i * es, (char *)cp + i * es, es) == 0) ++i;
                                printf("\n    FAIL parts isa=%s %s %c%c m=%lld n=%lld k=%lld alpha=%g "
                                       "beta=%g nparts=%d:%s first difference at element %zu (row %lld "
                                       "col %lld): %.9g, serial %.9g",
                                       nb_cpu_isa_name(isa), dt == F32 ? "f32" : "f64", cs.ta ? 't' : 'n',
                                       cs.tb ? 't' : 'n', (long long)m, (long long)n, (long long)k, cs.alpha, cs.beta,
                                       np, took ? "" : " declined;", i, (long long)(i / (size_t)ldc),
                                       (long long)(i % (size_t)ldc), getv(dt, cp, i), getv(dt, c1, i));
                            }
                        }
                    }
                    free(a), free(b), free(c0), free(c1), free(cp);
                }
    /* a part outside [0, nparts) is refused and touches nothing */
    float one = 1, cz = 5;
    CU_ASSERT_FALSE(
        nb_small_sgemm_part(NB_CPU_ISA_NONE, 2, 2, NB_NO_TRANS, NB_NO_TRANS, 1, 1, 1, 1, &one, 1, &one, 1, 0, &cz, 1));
    CU_ASSERT_FALSE(
        nb_small_sgemm_part(NB_CPU_ISA_NONE, 0, 0, NB_NO_TRANS, NB_NO_TRANS, 1, 1, 1, 1, &one, 1, &one, 1, 0, &cz, 1));
    CU_ASSERT_EQUAL(cz, 5);
    nb_cpu_set_dispatch_isa(saved);
    printf("\n    parts: %ld runs, %ld differed from the serial call\n", runs, failed);
    CU_ASSERT(runs > 0);
    CU_ASSERT_EQUAL(failed, 0);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"every transpose over the edge sizes", test_edge_sizes},
        {"one or two dimensions at 64 or 100", test_mixed_sizes},
        {"the seed network's products", test_seed_shapes},
        {"k == 0 gives beta * C without reading A or B", test_k_zero},
        {"declines above the threshold, touching nothing", test_declines},
        {"parts for threads give the serial bits", test_parts},
    };
    return nb_test_run("small", tests, sizeof tests / sizeof tests[0]);
}
