/* tests/test_gemm.c — CUnit suite for the GEMM kernels: every kernel of the registry, f32
 * and f64, against a double-precision triple loop written here, on shapes that straddle the
 * blocking edges; the contract's rules (beta == 0, k == 0, alpha == 0, leading dimensions,
 * untouched inputs and padding); bit-identical results across thread counts (and openmp ==
 * blocked); the registry. Every contract test runs once per SIMD ISA this CPU supports
 * (none, avx2, avx512: nb_cpu_set_dispatch_isa), since blocked and openmp change their
 * micro-kernel and block sizes with it. */
#include <CUnit/CUnit.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/blocked_impl.h" /* the block sizes of each ISA, to aim edge cases at them */
#include "kernels/cpu.h"
#include "kernels/small.h"
#include "kernels/gemm.h"
#include "test_util.h"

/* ------------------------------------------------------------------------------------ */
/* Deterministic inputs: splitmix64, values uniform in [-1, 1). */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1p-52 - 1.0; }

/* ------------------------------------------------------------------------------------ */
/* Typed buffers: the test holds every matrix as doubles and converts it for the kernel. */

typedef enum { F32, F64 } dtype;

static const char *dtype_name(dtype dt) { return dt == F32 ? "f32" : "f64"; }
static size_t dtype_size(dtype dt) { return dt == F32 ? sizeof(float) : sizeof(double); }
static double dtype_eps(dtype dt) { return dt == F32 ? FLT_EPSILON : DBL_EPSILON; }
/* x rounded to the dtype (so the reference sees exactly what the kernel sees) */
static double dtype_round(dtype dt, double x) { return dt == F32 ? (double)(float)x : x; }

static void *typed_from(dtype dt, const double *src, size_t count) {
    void *p = malloc(count * dtype_size(dt) + 1); /* +1: malloc(0) may return NULL */
    if (p == NULL) return NULL;
    for (size_t i = 0; i < count; ++i) {
        if (dt == F32)
            ((float *)p)[i] = (float)src[i];
        else
            ((double *)p)[i] = src[i];
    }
    return p;
}

static double typed_get(dtype dt, const void *p, size_t i) {
    return dt == F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* beta * c0 computed in the dtype's own arithmetic: what C must hold, exactly, when k == 0 or
 * alpha == 0 (and 0 when beta == 0, whatever c0 is). */
static double beta_times(dtype dt, double beta, double c0) {
    if (beta == 0) return 0;
    if (dt == F32) return (double)((float)beta * (float)c0);
    return beta * c0;
}

static void call_kernel(const nb_kernel *kn, dtype dt, nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k,
                        double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta, void *c,
                        int64_t ldc, int nthreads) {
    if (dt == F32)
        kn->sgemm(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb, (float)beta, c, ldc, nthreads);
    else
        kn->dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads);
}

/* ------------------------------------------------------------------------------------ */
/* One test case and the tally of a CUnit test over many cases. */

typedef struct {
    dtype dt;
    nb_trans ta, tb;
    int64_t m, n, k;
    double alpha, beta;
    int64_t pad;  /* leading dimension = row length + pad, for A, B and C */
    int nthreads; /* handed to every kernel; serial kernels ignore it */
} gemm_case;

#define MAX_KERNELS 32
#define MAX_PRINTED 12 /* failure reports printed per test; the count is always given */
/* Sentinel elements after every buffer: they catch stray writes in a plain build. Under
 * AddressSanitizer they are left out, so that a read just past a buffer is reported. */
#ifdef __SANITIZE_ADDRESS__
#define GUARD 0
#else
#define GUARD 16
#endif
#define TOL_RATIO 16.0 /* allowed |c - ref| / (eps * (k + 2) * bound), as reference BLAS */

typedef struct {
    const char *test;
    long cases;
    long runs[MAX_KERNELS][2];
    long failed[MAX_KERNELS][2];
    double max_ratio[MAX_KERNELS][2];
    int printed;
} tally;

static tally tally_new(const char *test) { return (tally){.test = test}; }

static const char *trans_name(nb_trans ta, nb_trans tb) {
    static const char *names[2][2] = {{"NN", "NT"}, {"TN", "TT"}};
    return names[ta == NB_TRANS][tb == NB_TRANS];
}

/* One CUnit assertion per kernel and dtype (not per element or case), plus a summary line
 * with the worst error ratio seen, in the spirit of llm.c's "OK (maxdiff ...)". */
static nb_cpu_isa current_isa = NB_CPU_ISA_NONE; /* set by run_per_isa */

static void tally_report(const tally *t) {
    printf("\n    %s [isa %s]: %ld cases\n", t->test, nb_cpu_isa_name(current_isa), t->cases);
    for (int ki = 0; ki < nb_kernel_count() && ki < MAX_KERNELS; ++ki) {
        printf("      %-8s", nb_kernel_at(ki)->name);
        for (int d = 0; d < 2; ++d) {
            printf("  %s %s (%ld runs, max error ratio %.3f)", dtype_name((dtype)d), t->failed[ki][d] ? "FAILED" : "ok",
                   t->runs[ki][d], t->max_ratio[ki][d]);
            CU_ASSERT_EQUAL(t->failed[ki][d], 0);
        }
        printf("\n");
    }
}

static double *dalloc(size_t count) { return malloc((count + 1) * sizeof(double)); }

/* Runs one case through every kernel of the registry. op(A) (m, k), op(B) (k, n), C (m, n):
 * A is stored (m, k) or, transposed, (k, m), likewise B; every row is padded by cs->pad
 * elements, every buffer ends in GUARD sentinels. The padding and guards of A and B hold NaN
 * (reading them poisons the result); C's hold a finite sentinel that must survive bytewise.
 * When beta == 0, C starts full of NaN and must come out clean. */
static void check_case(const gemm_case *cs, tally *t) {
    const dtype dt = cs->dt;
    const int64_t m = cs->m, n = cs->n, k = cs->k;
    const double alpha = dtype_round(dt, cs->alpha), beta = dtype_round(dt, cs->beta);
    const int64_t a_rows = cs->ta == NB_NO_TRANS ? m : k, a_cols = cs->ta == NB_NO_TRANS ? k : m;
    const int64_t b_rows = cs->tb == NB_NO_TRANS ? k : n, b_cols = cs->tb == NB_NO_TRANS ? n : k;
    const int64_t lda = a_cols + cs->pad, ldb = b_cols + cs->pad, ldc = n + cs->pad;
    const size_t na = (size_t)(a_rows * lda) + GUARD, nb = (size_t)(b_rows * ldb) + GUARD;
    const size_t nc = (size_t)(m * ldc) + GUARD;
    const double c_sentinel = -777.25;

    double *a = dalloc(na), *b = dalloc(nb), *c0 = dalloc(nc);
    double *ref = dalloc((size_t)(m * n)), *bound = dalloc((size_t)(m * n));
    for (size_t i = 0; i < na; ++i) a[i] = NAN;
    for (size_t i = 0; i < nb; ++i) b[i] = NAN;
    for (size_t i = 0; i < nc; ++i) c0[i] = c_sentinel;
    for (int64_t i = 0; i < a_rows; ++i)
        for (int64_t j = 0; j < a_cols; ++j) a[i * lda + j] = dtype_round(dt, rng_uniform());
    for (int64_t i = 0; i < b_rows; ++i)
        for (int64_t j = 0; j < b_cols; ++j) b[i * ldb + j] = dtype_round(dt, rng_uniform());
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c0[i * ldc + j] = beta == 0 ? NAN : dtype_round(dt, rng_uniform());

    /* The reference, in double: ref = alpha * sum_p a_ip b_pj + beta * c0 (beta == 0: no c0
     * term), and bound = |alpha| sum_p |a_ip||b_pj| + |beta||c0|, the scale of its error. */
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0, sa = 0;
            for (int64_t p = 0; p < k; ++p) {
                const double x = cs->ta == NB_NO_TRANS ? a[i * lda + p] : a[p * lda + i];
                const double y = cs->tb == NB_NO_TRANS ? b[p * ldb + j] : b[j * ldb + p];
                s += x * y;
                sa += fabs(x * y);
            }
            const double cij = c0[i * ldc + j];
            ref[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * cij);
            bound[i * n + j] = fabs(alpha) * sa + (beta == 0 ? 0 : fabs(beta * cij));
        }

    const size_t es = dtype_size(dt);
    void *ta_buf = typed_from(dt, a, na), *tb_buf = typed_from(dt, b, nb);
    void *tc0 = typed_from(dt, c0, nc), *tc = typed_from(dt, c0, nc);
    void *ta_copy = typed_from(dt, a, na), *tb_copy = typed_from(dt, b, nb);
    if (!a || !b || !c0 || !ref || !bound || !ta_buf || !tb_buf || !tc0 || !tc || !ta_copy || !tb_copy) {
        printf("\n    out of memory for m=%lld n=%lld k=%lld\n", (long long)m, (long long)n, (long long)k);
        CU_FAIL("out of memory");
        goto done;
    }

    const bool exact = alpha == 0 || k == 0; /* C = beta * C, exactly */
    const double eps = dtype_eps(dt);
    t->cases++;
    for (int ki = 0; ki < nb_kernel_count() && ki < MAX_KERNELS; ++ki) {
        const nb_kernel *kn = nb_kernel_at(ki);
        memcpy(tc, tc0, nc * es);
        call_kernel(kn, dt, cs->ta, cs->tb, m, n, k, cs->alpha, ta_buf, lda, tb_buf, ldb, cs->beta, tc, ldc,
                    cs->nthreads);

        const bool a_same = memcmp(ta_buf, ta_copy, na * es) == 0;
        const bool b_same = memcmp(tb_buf, tb_copy, nb * es) == 0;
        bool pad_same =
            memcmp((char *)tc + (size_t)(m * ldc) * es, (char *)tc0 + (size_t)(m * ldc) * es, GUARD * es) == 0;
        for (int64_t i = 0; i < m && pad_same; ++i)
            pad_same = memcmp((char *)tc + (size_t)(i * ldc + n) * es, (char *)tc0 + (size_t)(i * ldc + n) * es,
                              (size_t)cs->pad * es) == 0;
        long bad = 0;
        int64_t bi = -1, bj = -1;
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                const double got = typed_get(dt, tc, (size_t)(i * ldc + j));
                bool ok;
                if (exact) {
                    ok = got == beta_times(dt, beta, c0[i * ldc + j]);
                } else {
                    const double err = fabs(got - ref[i * n + j]);
                    const double scale = eps * (double)(k + 2) * bound[i * n + j];
                    const double ratio = scale > 0 ? err / scale : (err == 0 ? 0 : INFINITY);
                    ok = ratio <= TOL_RATIO; /* false for NaN */
                    if (ok && ratio > worst) worst = ratio;
                }
                if (!ok && bad++ == 0) bi = i, bj = j;
            }
        const int d = dt == F32 ? 0 : 1;
        t->runs[ki][d]++;
        if (worst > t->max_ratio[ki][d]) t->max_ratio[ki][d] = worst;
        if (bad == 0 && a_same && b_same && pad_same) continue;

        t->failed[ki][d]++;
        if (t->printed++ >= MAX_PRINTED) continue;
        printf("\n    FAIL %s [isa %s]: kernel=%s %s %s m=%lld n=%lld k=%lld alpha=%g beta=%g lda=%lld "
               "ldb=%lld ldc=%lld nthreads=%d:",
               t->test, nb_cpu_isa_name(current_isa), kn->name, dtype_name(dt), trans_name(cs->ta, cs->tb),
               (long long)m, (long long)n, (long long)k, alpha, beta, (long long)lda, (long long)ldb, (long long)ldc,
               cs->nthreads);
        if (bad) {
            const double got = typed_get(dt, tc, (size_t)(bi * ldc + bj));
            const double want = exact ? beta_times(dt, beta, c0[bi * ldc + bj]) : ref[bi * n + bj];
            printf(" %ld of %lld elements wrong, first C[%lld][%lld] = %.9g, expected %.9g "
                   "(tolerance %.3g)",
                   bad, (long long)(m * n), (long long)bi, (long long)bj, got, want,
                   exact ? 0.0 : TOL_RATIO * eps * (double)(k + 2) * bound[bi * n + bj]);
        }
        if (!a_same) printf(" A was modified;");
        if (!b_same) printf(" B was modified;");
        if (!pad_same) printf(" C's row padding or guard was modified;");
        if (t->printed == MAX_PRINTED) printf("\n    (further failures of this test counted only)");
        printf("\n");
    }
done:
    free(a), free(b), free(c0), free(ref), free(bound);
    free(ta_buf), free(tb_buf), free(tc0), free(tc), free(ta_copy), free(tb_copy);
}

static const nb_trans trans_a[4] = {NB_NO_TRANS, NB_NO_TRANS, NB_TRANS, NB_TRANS};
static const nb_trans trans_b[4] = {NB_NO_TRANS, NB_TRANS, NB_NO_TRANS, NB_TRANS};
static const double alphas[3] = {0, 1, 0.7};
static const double betas[3] = {0, 1, 1.3};

/* ------------------------------------------------------------------------------------ */
/* Every ISA: the dispatch ISA under test, and a runner that repeats a test body for each
 * ISA this CPU supports, restoring the dispatch ISA afterwards. */

/* Each ISA twice: with the direct small-shape path (kernels/small.h) that blocked and openmp
 * take below its threshold, and without it, so the packed path's edge tiles are driven by the
 * same small shapes. */
static void run_per_isa(void (*body)(void)) {
    const nb_cpu_isa saved = nb_cpu_dispatch_isa();
    for (int i = 0; i < NB_CPU_ISA_COUNT; ++i) {
        const nb_cpu_isa isa = (nb_cpu_isa)i;
        if (!nb_cpu_supports(isa)) {
            printf("\n    isa %s: not supported here, skipped", nb_cpu_isa_name(isa));
            continue;
        }
        CU_ASSERT_FATAL(nb_cpu_set_dispatch_isa(isa));
        current_isa = isa;
        for (int small = 1; small >= 0; --small) {
            nb_small_set_enabled(small);
            body();
        }
    }
    nb_small_set_enabled(true);
    CU_ASSERT(nb_cpu_set_dispatch_isa(saved));
    current_isa = saved;
}

#define PER_ISA(name)                                                                                                  \
    static void name(void) { run_per_isa(name##_body); }

/* ------------------------------------------------------------------------------------ */
/* The tests. */

/* Every (m, n, k) over the small sizes, every transpose pair, every alpha and beta. The sizes
 * straddle the register tiles (MR = 6; NR = 8 for f32, 4 for f64) and include 0. Leading
 * dimensions alternate between tight and row + 3, thread counts cycle over 1..3. */
static void test_small_triples_body(void) {
    static const int64_t sizes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    tally t = tally_new("small triples");
    int tri = 0;
    for (int d = 0; d < 2; ++d)
        for (int im = 0; im < ns; ++im)
            for (int in = 0; in < ns; ++in)
                for (int ik = 0; ik < ns; ++ik, ++tri)
                    for (int tr = 0; tr < 4; ++tr)
                        for (int ab = 0; ab < 9; ++ab) {
                            const gemm_case cs = {.dt = (dtype)d,
                                                  .ta = trans_a[tr],
                                                  .tb = trans_b[tr],
                                                  .m = sizes[im],
                                                  .n = sizes[in],
                                                  .k = sizes[ik],
                                                  .alpha = alphas[ab / 3],
                                                  .beta = betas[ab % 3],
                                                  .pad = (tri + tr + ab) % 2 ? 3 : 0,
                                                  .nthreads = 1 + (tri + ab) % 3};
                            check_case(&cs, &t);
                        }
    tally_report(&t);
}
PER_ISA(test_small_triples)

/* Each of m, n, k in turn takes a size at a block edge while the other two come from a small
 * set: 63..65 and 127..129 (powers of two), 95..97 (f64 MC), 143..145 (f32 MC), 255..257
 * (KC). Transposes all four; alpha, beta and padding cycle. */
static void test_one_large_dim_body(void) {
    static const int64_t large[] = {63, 64, 65, 95, 96, 97, 127, 128, 129, 143, 144, 145, 255, 256, 257};
    static const int64_t small[] = {1, 7, 31};
    tally t = tally_new("one large dimension");
    int cnt = 0;
    for (int d = 0; d < 2; ++d)
        for (int which = 0; which < 3; ++which)
            for (size_t il = 0; il < sizeof large / sizeof large[0]; ++il)
                for (int s1 = 0; s1 < 3; ++s1)
                    for (int s2 = 0; s2 < 3; ++s2)
                        for (int tr = 0; tr < 4; ++tr, ++cnt) {
                            int64_t dims[3];
                            dims[which] = large[il];
                            dims[(which + 1) % 3] = small[s1];
                            dims[(which + 2) % 3] = small[s2];
                            /* alpha in {1, 0.7} (alpha == 0 is covered elsewhere), beta all
                             * three; 7 is coprime with 9, so combos rotate across cases */
                            const int ab = (cnt * 7) % 9;
                            const gemm_case cs = {.dt = (dtype)d,
                                                  .ta = trans_a[tr],
                                                  .tb = trans_b[tr],
                                                  .m = dims[0],
                                                  .n = dims[1],
                                                  .k = dims[2],
                                                  .alpha = alphas[1 + ab / 3 % 2],
                                                  .beta = betas[ab % 3],
                                                  .pad = (cnt / 4 + tr) % 2 ? 3 : 0,
                                                  .nthreads = 1 + cnt % 3};
                            check_case(&cs, &t);
                        }
    tally_report(&t);
}
PER_ISA(test_one_large_dim)

/* Full-size triples crossing several MC and KC blocks at once, and n crossing NC (4080 for
 * f32, 2040 for f64) with a thin m and k. */
static void test_large_triples_body(void) {
    static const int64_t shapes[][3] = {
        {129, 129, 129}, {65, 127, 128}, {145, 97, 257}, {289, 33, 513}, {7, 2041, 3}, {13, 4081, 2}, {7, 4081, 257},
    };
    static const double ab[][2] = {{0.7, 1.3}, {1, 0}};
    tally t = tally_new("large triples");
    int cnt = 0;
    for (int d = 0; d < 2; ++d)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
            for (int tr = 0; tr < 4; ++tr)
                for (int i = 0; i < 2; ++i, ++cnt) {
                    const gemm_case cs = {.dt = (dtype)d,
                                          .ta = trans_a[tr],
                                          .tb = trans_b[tr],
                                          .m = shapes[s][0],
                                          .n = shapes[s][1],
                                          .k = shapes[s][2],
                                          .alpha = ab[i][0],
                                          .beta = ab[i][1],
                                          .pad = (s + tr) % 2 ? 3 : 0,
                                          .nthreads = 1 + cnt % 3};
                    check_case(&cs, &t);
                }
    tally_report(&t);
}
PER_ISA(test_large_triples)

/* The block sizes of the ISA under test (blocked_impl.h), each straddled: m at MR +- 1 and
 * MC +- 1, n at NR +- 1 and beyond a few micro-panels, k at KC +- 1 and across two k blocks,
 * each with the other two just past one tile and one k block; then n across NC, and one
 * product across two MC, three NR and two KC blocks at once. A micro-kernel that mis-packs
 * an edge or a driver that drops a k block fails here for the ISA that does it. */
static void test_isa_edges_body(void) {
    tally t = tally_new("block edges of the dispatch ISA");
    int cnt = 0;
    for (int d = 0; d < 2; ++d) {
        int64_t mr, nr, mc, kc, nc;
        if (d == F32) {
            const nb_blocked_params_f32 *p = nb_blocked_params_for_f32(current_isa);
            mr = p->mr, nr = p->nr, mc = p->mc, kc = p->kc, nc = p->nc;
        } else {
            const nb_blocked_params_f64 *p = nb_blocked_params_for_f64(current_isa);
            mr = p->mr, nr = p->nr, mc = p->mc, kc = p->kc, nc = p->nc;
        }
        const int64_t shapes[][3] = {
            {mr - 1, nr + 1, kc + 1}, {mr, nr + 1, kc + 1},
            {mr + 1, nr + 1, kc + 1}, {mc - 1, nr + 1, kc + 1},
            {mc, nr - 1, 3},          {mc + 1, nr + 1, kc + 1},
            {mr + 1, nr - 1, kc + 1}, {mr + 1, nr, kc - 1},
            {mr + 1, 3 * nr + 5, kc}, {mr + 1, nr + 1, kc - 1},
            {mr + 1, nr + 1, kc},     {mr + 1, nr + 1, 2 * kc + 3},
            {mr + 1, nc + nr + 1, 3}, {2 * mc + mr + 1, 3 * nr + 1, 2 * kc + 1},
        };
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
            for (int tr = 0; tr < 4; ++tr, ++cnt) {
                const int ab = (cnt * 7) % 9; /* alpha {1, 0.7} x beta {0, 1, 1.3}, rotating */
                const gemm_case cs = {.dt = (dtype)d,
                                      .ta = trans_a[tr],
                                      .tb = trans_b[tr],
                                      .m = shapes[s][0],
                                      .n = shapes[s][1],
                                      .k = shapes[s][2],
                                      .alpha = alphas[1 + ab / 3 % 2],
                                      .beta = betas[ab % 3],
                                      .pad = (cnt + tr) % 2 ? 3 : 0,
                                      .nthreads = 1 + cnt % 3};
                check_case(&cs, &t);
            }
    }
    tally_report(&t);
}
PER_ISA(test_isa_edges)

/* The products of the seed network (N=64, D_in=1000, H=100, D_out=10), forward and
 * backward, as the tensor layer issues them: beta = 0 (fresh output) and beta = 1
 * (gradient accumulation), both dtypes, tight leading dimensions. */
static void test_seed_shapes_body(void) {
    static const struct {
        int64_t m, n, k;
        nb_trans ta, tb;
    } shapes[] = {
        {64, 100, 1000, NB_NO_TRANS, NB_NO_TRANS}, /* h = x w1 */
        {64, 10, 100, NB_NO_TRANS, NB_NO_TRANS},   /* y = h w2 */
        {100, 10, 64, NB_TRANS, NB_NO_TRANS},      /* dw2 = h^T dy */
        {64, 100, 10, NB_NO_TRANS, NB_TRANS},      /* dh = dy w2^T */
        {1000, 100, 64, NB_TRANS, NB_NO_TRANS},    /* dw1 = x^T dh */
    };
    tally t = tally_new("seed shapes");
    for (int d = 0; d < 2; ++d)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
            for (int beta = 0; beta < 2; ++beta)
                for (int nth = 1; nth <= 2; ++nth) {
                    const gemm_case cs = {.dt = (dtype)d,
                                          .ta = shapes[s].ta,
                                          .tb = shapes[s].tb,
                                          .m = shapes[s].m,
                                          .n = shapes[s].n,
                                          .k = shapes[s].k,
                                          .alpha = 1,
                                          .beta = beta,
                                          .pad = 0,
                                          .nthreads = nth};
                    check_case(&cs, &t);
                }
    tally_report(&t);
}
PER_ISA(test_seed_shapes)

/* The contract's special cases on one mid-size shape, named so that a failure says which
 * rule broke: beta == 0 with C full of NaN, k == 0 (C = beta * C), alpha == 0 (C = beta * C,
 * A and B not needed). check_case demands exact beta * C in the last two. */
static void test_special_cases_body(void) {
    tally nan_c = tally_new("beta == 0 over NaN C"), k0 = tally_new("k == 0"), a0 = tally_new("alpha == 0");
    for (int d = 0; d < 2; ++d)
        for (int tr = 0; tr < 4; ++tr)
            for (int i = 0; i < 3; ++i) {
                gemm_case cs = {.dt = (dtype)d,
                                .ta = trans_a[tr],
                                .tb = trans_b[tr],
                                .m = 37,
                                .n = 41,
                                .k = 300,
                                .alpha = alphas[i],
                                .beta = 0,
                                .pad = i == 1 ? 3 : 0,
                                .nthreads = 2};
                check_case(&cs, &nan_c);
                cs.k = 0, cs.alpha = 0.7, cs.beta = betas[i];
                check_case(&cs, &k0);
                cs.k = 300, cs.alpha = 0;
                check_case(&cs, &a0);
            }
    tally_report(&nan_c);
    tally_report(&k0);
    tally_report(&a0);
}
PER_ISA(test_special_cases)

/* Every thread-invariant kernel gives the same bytes of C for 1, 2 and 3 threads, on shapes
 * that span several MC, KC or NC blocks, and on products the direct small path takes and openmp
 * shares between threads on its tiles (the seed's, and awkward sizes with edge vectors, edge
 * row tiles and k chunks, every transpose); a threaded kernel that is not (blas: OpenBLAS's own
 * threading) gives the same bytes when called twice with the same thread count. beta is 1.3,
 * so a piece of C computed twice, or a k-sum split between threads, changes the bytes, and a
 * piece computed by no thread keeps its old value. */
static void test_threads_bit_identical_body(void) {
    static const struct {
        int64_t m, n, k;
        nb_trans ta, tb;
    } shapes[] = {
        {300, 130, 300, NB_NO_TRANS, NB_NO_TRANS},
        {290, 70, 520, NB_TRANS, NB_TRANS},
        {150, 4100, 40, NB_NO_TRANS, NB_TRANS},
        /* the small path (m*n*k <= 2^23), above openmp's threshold for sharing it */
        {64, 100, 1000, NB_NO_TRANS, NB_NO_TRANS},
        {1000, 100, 64, NB_TRANS, NB_NO_TRANS},
        {64, 1000, 100, NB_NO_TRANS, NB_TRANS},
        {64, 100, 1000, NB_NO_TRANS, NB_TRANS},
        {100, 1000, 64, NB_TRANS, NB_NO_TRANS},
        {63, 97, 301, NB_NO_TRANS, NB_NO_TRANS},
        {63, 97, 301, NB_NO_TRANS, NB_TRANS},
        {63, 97, 301, NB_TRANS, NB_NO_TRANS},
        {63, 97, 301, NB_TRANS, NB_TRANS},
        {9, 1000, 70, NB_NO_TRANS, NB_TRANS},
        {1000, 5, 200, NB_TRANS, NB_NO_TRANS},
        {200, 30, 100, NB_TRANS, NB_TRANS},
        /* ... and below it (serial) */
        {64, 10, 100, NB_NO_TRANS, NB_NO_TRANS},
        {100, 10, 64, NB_TRANS, NB_NO_TRANS},
        {64, 100, 10, NB_NO_TRANS, NB_TRANS},
    };
    long compared = 0, differed = 0;
    for (int ki = 0; ki < nb_kernel_count(); ++ki) {
        const nb_kernel *kn = nb_kernel_at(ki);
        if (!kn->threaded) continue;
        /* thread counts compared with the first run: 2 and 3, or 2 again */
        const int first = kn->thread_invariant ? 1 : 2, last = kn->thread_invariant ? 3 : 2;
        for (int d = 0; d < 2; ++d)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
                const dtype dt = (dtype)d;
                const int64_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
                const int64_t lda = shapes[s].ta == NB_NO_TRANS ? k : m;
                const int64_t ldb = shapes[s].tb == NB_NO_TRANS ? n : k;
                const size_t na = (size_t)(m * k), nb = (size_t)(k * n), nc = (size_t)(m * n);
                double *a = dalloc(na), *b = dalloc(nb), *c = dalloc(nc);
                for (size_t i = 0; i < na; ++i) a[i] = rng_uniform();
                for (size_t i = 0; i < nb; ++i) b[i] = rng_uniform();
                for (size_t i = 0; i < nc; ++i) c[i] = rng_uniform();
                void *ta = typed_from(dt, a, na), *tb = typed_from(dt, b, nb);
                void *c1 = typed_from(dt, c, nc), *cx = typed_from(dt, c, nc);
                call_kernel(kn, dt, shapes[s].ta, shapes[s].tb, m, n, k, 0.7, ta, lda, tb, ldb, 1.3, c1, n, first);
                /* openmp is blocked's driver on a team: the same bits as blocked itself */
                const nb_kernel *serial = strcmp(kn->name, "openmp") == 0 ? nb_kernel_find("blocked") : NULL;
                if (serial) {
                    void *cb = typed_from(dt, c, nc);
                    call_kernel(serial, dt, shapes[s].ta, shapes[s].tb, m, n, k, 0.7, ta, lda, tb, ldb, 1.3, cb, n, 1);
                    compared++;
                    if (cb == NULL || memcmp(c1, cb, nc * dtype_size(dt)) != 0) {
                        printf("\n    FAIL threads [isa %s]: openmp %s m=%lld n=%lld k=%lld "
                               "differs from blocked",
                               nb_cpu_isa_name(current_isa), dtype_name(dt), (long long)m, (long long)n, (long long)k);
                        differed++;
                    }
                    free(cb);
                }
                for (int nth = kn->thread_invariant ? 2 : first; nth <= last; ++nth) {
                    /* refill cx from the original C; c1 keeps the 1-thread result */
                    for (size_t i = 0; i < nc; ++i) {
                        if (dt == F32)
                            ((float *)cx)[i] = (float)c[i];
                        else
                            ((double *)cx)[i] = c[i];
                    }
                    call_kernel(kn, dt, shapes[s].ta, shapes[s].tb, m, n, k, 0.7, ta, lda, tb, ldb, 1.3, cx, n, nth);
                    compared++;
                    if (memcmp(c1, cx, nc * dtype_size(dt)) != 0) {
                        size_t i = 0;
                        while (typed_get(dt, c1, i) == typed_get(dt, cx, i)) ++i;
                        printf("\n    FAIL threads [isa %s]: kernel=%s %s %s m=%lld n=%lld k=%lld: "
                               "nthreads=%d differs from nthreads=%d first at C[%zu][%zu] (%.17g vs %.17g)",
                               nb_cpu_isa_name(current_isa), kn->name, dtype_name(dt),
                               trans_name(shapes[s].ta, shapes[s].tb), (long long)m, (long long)n, (long long)k, nth,
                               first, i / (size_t)n, i % (size_t)n, typed_get(dt, cx, i), typed_get(dt, c1, i));
                        differed++;
                    }
                }
                free(a), free(b), free(c), free(ta), free(tb), free(c1), free(cx);
            }
    }
    printf("\n    threads [isa %s]: %ld comparisons, %ld differed\n", nb_cpu_isa_name(current_isa), compared, differed);
    CU_ASSERT(compared > 0);
    CU_ASSERT_EQUAL(differed, 0);
}
PER_ISA(test_threads_bit_identical)

/* block_invariant kernels: C computed as rectangles, each a call of its own on the operands'
 * sub-blocks, has the bits of the whole call. The shapes straddle the small path's limit
 * (NB_SMALL_MAX_MNK: 64x256x1024 is packed whole, small in halves) and the transposed-B rule
 * (a band of fewer than NB_SMALL_MIN_M_TRANS_B rows is declined), so a kernel whose two paths
 * rounded differently fails here; beta 0, 1 and 1.3 cover every epilogue. */
static void test_blocks_bit_identical_body(void) {
    static const struct {
        int64_t m, n, k;
        nb_trans ta, tb;
        int64_t rcut, ccut; /* the grid: rows [0, rcut) [rcut, m), columns [0, ccut) [ccut, n) */
    } shapes[] = {
        {64, 256, 1024, NB_NO_TRANS, NB_NO_TRANS, 32, 128}, {64, 256, 1024, NB_TRANS, NB_TRANS, 7, 100},
        {64, 100, 1000, NB_NO_TRANS, NB_NO_TRANS, 64, 48},  {64, 100, 1000, NB_NO_TRANS, NB_TRANS, 5, 50},
        {1000, 100, 64, NB_TRANS, NB_NO_TRANS, 500, 64},    {100, 10, 64, NB_TRANS, NB_NO_TRANS, 50, 10},
        {33, 300, 517, NB_TRANS, NB_NO_TRANS, 13, 161},
    };
    static const double betas_here[3] = {0, 1, 1.3};
    long compared = 0, differed = 0;
    for (int ki = 0; ki < nb_kernel_count(); ++ki) {
        const nb_kernel *kn = nb_kernel_at(ki);
        if (!kn->block_invariant) continue;
        for (int d = 0; d < 2; ++d)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
                for (int bi = 0; bi < 3; ++bi) {
                    const dtype dt = (dtype)d;
                    const int64_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
                    const nb_trans ta = shapes[s].ta, tb = shapes[s].tb;
                    const int64_t lda = ta == NB_NO_TRANS ? k : m, ldb = tb == NB_NO_TRANS ? n : k;
                    const size_t na = (size_t)(m * k), nb = (size_t)(k * n), nc = (size_t)(m * n);
                    const size_t es = dtype_size(dt);
                    double *a = dalloc(na), *b = dalloc(nb), *c = dalloc(nc);
                    for (size_t i = 0; i < na; ++i) a[i] = rng_uniform();
                    for (size_t i = 0; i < nb; ++i) b[i] = rng_uniform();
                    for (size_t i = 0; i < nc; ++i) c[i] = rng_uniform();
                    char *pa = typed_from(dt, a, na), *pb = typed_from(dt, b, nb);
                    char *whole = typed_from(dt, c, nc), *parts = typed_from(dt, c, nc);
                    const double beta = betas_here[bi];
                    call_kernel(kn, dt, ta, tb, m, n, k, 0.7, pa, lda, pb, ldb, beta, whole, n, 1);
                    const int64_t rows[3] = {0, shapes[s].rcut, m}, cols[3] = {0, shapes[s].ccut, n};
                    for (int r = 0; r < 2; ++r)
                        for (int q = 0; q < 2; ++q) {
                            const int64_t r0 = rows[r], c0 = cols[q];
                            const int64_t mr = rows[r + 1] - r0, nq = cols[q + 1] - c0;
                            /* op(A)'s rows r0.., op(B)'s columns c0.., C's block at (r0, c0) */
                            const char *sa = pa + (size_t)(ta == NB_NO_TRANS ? r0 * lda : r0) * es;
                            const char *sb = pb + (size_t)(tb == NB_NO_TRANS ? c0 : c0 * ldb) * es;
                            call_kernel(kn, dt, ta, tb, mr, nq, k, 0.7, sa, lda, sb, ldb, beta,
                                        parts + (size_t)(r0 * n + c0) * es, n, 1);
                        }
                    compared++;
                    if (memcmp(whole, parts, nc * es) != 0) {
                        size_t i = 0;
                        while (typed_get(dt, whole, i) == typed_get(dt, parts, i)) ++i;
                        printf("\n    FAIL blocks [isa %s]: kernel=%s %s %s m=%lld n=%lld k=%lld beta=%g: C[%zu][%zu] "
                               "%.17g whole, %.17g in blocks",
                               nb_cpu_isa_name(current_isa), kn->name, dtype_name(dt), trans_name(ta, tb), (long long)m,
                               (long long)n, (long long)k, beta, i / (size_t)n, i % (size_t)n, typed_get(dt, whole, i),
                               typed_get(dt, parts, i));
                        differed++;
                    }
                    free(a), free(b), free(c), free(pa), free(pb), free(whole), free(parts);
                }
    }
    printf("\n    blocks [isa %s]: %ld comparisons, %ld differed\n", nb_cpu_isa_name(current_isa), compared, differed);
    CU_ASSERT(compared > 0);
    CU_ASSERT_EQUAL(differed, 0);
}
PER_ISA(test_blocks_bit_identical)

/* Kernels with a k chunk: the chunks computed as calls of their own (beta 0, into scratch) and
 * added in k order (nb_gemm_sum_chunks_*) give the whole call's bits, on both sides of the small
 * path's limit. */
static void test_k_chunks_bit_identical_body(void) {
    static const struct {
        int64_t m, n, k;
        nb_trans ta, tb;
    } shapes[] = {
        {64, 100, 1000, NB_NO_TRANS, NB_NO_TRANS},  {64, 100, 1000, NB_TRANS, NB_TRANS},
        {64, 256, 1024, NB_NO_TRANS, NB_TRANS},     {33, 70, 517, NB_TRANS, NB_NO_TRANS},
        {512, 300, 1100, NB_NO_TRANS, NB_NO_TRANS},
    };
    static const double betas_here[3] = {0, 1, 1.3};
    long compared = 0, differed = 0;
    for (int ki = 0; ki < nb_kernel_count(); ++ki) {
        const nb_kernel *kn = nb_kernel_at(ki);
        if (!kn->k_chunk) continue;
        CU_ASSERT(kn->block_invariant);
        for (int d = 0; d < 2; ++d)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
                for (int bi = 0; bi < 3; ++bi) {
                    const dtype dt = (dtype)d;
                    const int64_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
                    const int64_t kc = kn->k_chunk(dt == F32 ? NB_GEMM_F32 : NB_GEMM_F64);
                    CU_ASSERT_FATAL(kc >= 1);
                    const nb_trans ta = shapes[s].ta, tb = shapes[s].tb;
                    const int64_t lda = ta == NB_NO_TRANS ? k : m, ldb = tb == NB_NO_TRANS ? n : k;
                    const size_t na = (size_t)(m * k), nb = (size_t)(k * n), nc = (size_t)(m * n);
                    const size_t es = dtype_size(dt);
                    double *a = dalloc(na), *b = dalloc(nb), *c = dalloc(nc);
                    for (size_t i = 0; i < na; ++i) a[i] = rng_uniform();
                    for (size_t i = 0; i < nb; ++i) b[i] = rng_uniform();
                    for (size_t i = 0; i < nc; ++i) c[i] = rng_uniform();
                    char *pa = typed_from(dt, a, na), *pb = typed_from(dt, b, nb);
                    const int nchunks = (int)((k + kc - 1) / kc);
                    char *whole = typed_from(dt, c, nc), *summed = typed_from(dt, c, nc);
                    char *parts = malloc((size_t)nchunks * nc * es);
                    const double beta = betas_here[bi];
                    call_kernel(kn, dt, ta, tb, m, n, k, 0.7, pa, lda, pb, ldb, beta, whole, n, 1);
                    for (int64_t k0 = 0; k0 < k; k0 += kc) {
                        const int64_t kk = k - k0 < kc ? k - k0 : kc;
                        /* op(A)'s columns k0.., op(B)'s rows k0.. */
                        const char *sa = pa + (size_t)(ta == NB_NO_TRANS ? k0 : k0 * lda) * es;
                        const char *sb = pb + (size_t)(tb == NB_NO_TRANS ? k0 * ldb : k0) * es;
                        call_kernel(kn, dt, ta, tb, m, n, kk, 0.7, sa, lda, sb, ldb, 0.0,
                                    parts + (size_t)(k0 / kc) * nc * es, n, 1);
                    }
                    if (dt == F32)
                        nb_gemm_sum_chunks_f32(m, n, (const float *)parts, nchunks, (float)beta, (float *)summed, n, 0,
                                               m);
                    else
                        nb_gemm_sum_chunks_f64(m, n, (const double *)parts, nchunks, beta, (double *)summed, n, 0, m);
                    compared++;
                    if (memcmp(whole, summed, nc * es) != 0) {
                        size_t i = 0;
                        while (typed_get(dt, whole, i) == typed_get(dt, summed, i)) ++i;
                        printf("\n    FAIL k chunks [isa %s]: kernel=%s %s %s m=%lld n=%lld k=%lld kc=%lld beta=%g: "
                               "C[%zu] %.17g whole, %.17g from chunks",
                               nb_cpu_isa_name(current_isa), kn->name, dtype_name(dt), trans_name(ta, tb), (long long)m,
                               (long long)n, (long long)k, (long long)kc, beta, i, typed_get(dt, whole, i),
                               typed_get(dt, summed, i));
                        differed++;
                    }
                    free(a), free(b), free(c), free(pa), free(pb), free(whole), free(summed), free(parts);
                }
    }
    printf("\n    k chunks [isa %s]: %ld comparisons, %ld differed\n", nb_cpu_isa_name(current_isa), compared,
           differed);
    CU_ASSERT(compared > 0);
    CU_ASSERT_EQUAL(differed, 0);
}
PER_ISA(test_k_chunks_bit_identical)

/* The table, the lookups and the selection order --kernel > NABLA_KERNEL > default. */
static void test_registry(void) {
    const int count = nb_kernel_count();
    CU_ASSERT_FATAL(count >= 1 && count <= MAX_KERNELS);
    CU_ASSERT_STRING_EQUAL(nb_kernel_at(0)->name, "naive");
    CU_ASSERT_PTR_NULL(nb_kernel_at(-1));
    CU_ASSERT_PTR_NULL(nb_kernel_at(count));
    char joined[512] = "";
    for (int i = 0; i < count; ++i) {
        const nb_kernel *kn = nb_kernel_at(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(kn);
        CU_ASSERT(kn->name && kn->name[0] && kn->description && kn->description[0]);
        CU_ASSERT(kn->sgemm != NULL && kn->dgemm != NULL);
        /* every row declares how it rounds the k-sum (verify's f32 tolerance keys on it), and a
         * concrete one: only auto dispatches */
        if (kn->summation <= NB_GEMM_SUM_UNDECLARED || kn->summation >= NB_GEMM_SUM_COUNT ||
            kn->summation == NB_GEMM_SUM_DISPATCH)
            FAILF("kernel %s declares summation %d, not a concrete nb_gemm_summation", kn->name, (int)kn->summation);
        CU_ASSERT_PTR_EQUAL(nb_kernel_find(kn->name), kn); /* names are unique */
        CU_ASSERT_PTR_EQUAL(nb_kernel_find_concrete(kn->name), kn);
        if (i) strcat(joined, ", ");
        strcat(joined, kn->name);
    }
    for (const char *want = "naive blocked openmp blas"; *want;) {
        char name[32];
        size_t len = strcspn(want, " ");
        memcpy(name, want, len), name[len] = '\0';
        CU_ASSERT_PTR_NOT_NULL(nb_kernel_find(name));
        want += len + (want[len] == ' ');
    }
    CU_ASSERT_EQUAL(nb_kernel_auto()->summation, NB_GEMM_SUM_DISPATCH);
    CU_ASSERT_PTR_EQUAL(nb_kernel_find("auto"), nb_kernel_auto());
    CU_ASSERT_PTR_NULL(nb_kernel_find_concrete("auto")); /* the registry holds concrete kernels only */
    CU_ASSERT_PTR_NULL(nb_kernel_find("no-such-kernel"));
    CU_ASSERT_PTR_NULL(nb_kernel_find(NULL));
    CU_ASSERT_PTR_NULL(nb_kernel_find_concrete(NULL));
    CU_ASSERT_PTR_EQUAL(nb_kernel_find_concrete(NB_KERNEL_DEFAULT_NAME), nb_kernel_default());
    CU_ASSERT_PTR_NOT_NULL_FATAL(nb_kernel_default());
    CU_ASSERT_STRING_EQUAL(nb_kernel_default()->name, "blas");

    /* names: joined by ", ", truncated and NUL-terminated, size 0 writes nothing */
    char buf[512];
    nb_kernel_names(buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, joined);
    nb_kernel_names(buf, 8);
    CU_ASSERT(strlen(buf) == 7 && strncmp(buf, joined, 7) == 0);
    nb_kernel_names(buf, 1);
    CU_ASSERT_STRING_EQUAL(buf, "");
    buf[0] = 'x';
    nb_kernel_names(buf, 0);
    CU_ASSERT_EQUAL(buf[0], 'x');

    /* every name --kernel accepts: the concrete kernels, then auto; any size gives a
     * NUL-terminated prefix of the whole list, size 0 writes nothing */
    char choices[sizeof joined + 8];
    snprintf(choices, sizeof choices, "%s, auto", joined);
    nb_kernel_choice_names(buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, choices);
    for (size_t size = 1; size <= strlen(choices) + 1; size++) {
        memset(buf, 'x', sizeof buf);
        nb_kernel_choice_names(buf, size);
        if (strlen(buf) != size - 1 || strncmp(buf, choices, size - 1) != 0)
            FAILF("nb_kernel_choice_names(buf, %zu) wrote '%s'", size, buf);
    }
    buf[0] = 'x';
    nb_kernel_choice_names(buf, 0);
    CU_ASSERT_EQUAL(buf[0], 'x');

    /* selection: requested, then NABLA_KERNEL when set and non-empty, then the default */
    const char *saved = getenv("NABLA_KERNEL");
    char *saved_copy = saved ? strdup(saved) : NULL;
    const char *chosen = NULL;
    unsetenv("NABLA_KERNEL");
    CU_ASSERT_PTR_EQUAL(nb_kernel_select(NULL, &chosen), nb_kernel_default());
    CU_ASSERT(chosen && strcmp(chosen, "blas") == 0);
    setenv("NABLA_KERNEL", "", 1);
    CU_ASSERT_PTR_EQUAL(nb_kernel_select(NULL, NULL), nb_kernel_default());
    setenv("NABLA_KERNEL", "naive", 1);
    CU_ASSERT_PTR_EQUAL(nb_kernel_select(NULL, &chosen), nb_kernel_find("naive"));
    CU_ASSERT(chosen && strcmp(chosen, "naive") == 0);
    CU_ASSERT_PTR_EQUAL(nb_kernel_select("openmp", &chosen), nb_kernel_find("openmp"));
    CU_ASSERT(chosen && strcmp(chosen, "openmp") == 0);
    CU_ASSERT_PTR_NULL(nb_kernel_select("bogus", &chosen));
    CU_ASSERT(chosen && strcmp(chosen, "bogus") == 0);
    setenv("NABLA_KERNEL", "bogus-env", 1);
    CU_ASSERT_PTR_NULL(nb_kernel_select(NULL, &chosen));
    CU_ASSERT(chosen && strcmp(chosen, "bogus-env") == 0);
    CU_ASSERT_PTR_EQUAL(nb_kernel_select("blocked", NULL), nb_kernel_find("blocked"));
    if (saved_copy)
        setenv("NABLA_KERNEL", saved_copy, 1);
    else
        unsetenv("NABLA_KERNEL");
    free(saved_copy);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"registry", test_registry},
        {"small triples, all transposes, alphas, betas", test_small_triples},
        {"one dimension at a block edge", test_one_large_dim},
        {"large triples across blocks", test_large_triples},
        {"block edges of every ISA's tiles and blocks", test_isa_edges},
        {"seed network shapes", test_seed_shapes},
        {"beta == 0, k == 0, alpha == 0", test_special_cases},
        {"threaded kernels reproducible, own kernels bit-identical for 1-3 threads", test_threads_bit_identical},
        {"k_chunk kernels: the k chunks as calls of their own, added in k order, give the whole call's bits",
         test_k_chunks_bit_identical},
        {"block_invariant kernels: any rectangle of C as its own call gives the whole call's bits",
         test_blocks_bit_identical},
    };
    return nb_test_run("gemm", tests, sizeof tests / sizeof tests[0]);
}
