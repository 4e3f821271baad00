/* tests/test_rng.c — CUnit suite for src/tensor/rng.c: replays every draw PyTorch recorded in
 * tests/data/rng_torch.txt (reference/rng_fixture.py) and compares bit patterns, plus
 * fixture-free checks of MT19937, reseeding, the normal cache and the draw counts. */
#include "tensor/rng.h"

#include <CUnit/CUnit.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifndef NABLA_TEST_DATA_DIR
#error "NABLA_TEST_DATA_DIR must point at tests/data (tests/CMakeLists.txt sets it)"
#endif

#define FIXTURE_PATH NABLA_TEST_DATA_DIR "/rng_torch.txt"
#define TORCH_DEFAULT_RNG_SEED UINT64_C(67280421310721)

/* ---------------------------------------------------------------------------------------
 * The fixture: header lines, then `case` blocks of `op` lines (reference/rng_fixture.py
 * documents the format).
 * ------------------------------------------------------------------------------------- */

enum { MAX_STORED = 64 };

typedef enum {
    OP_NORMAL,        /* normal_ on a contiguous tensor */
    OP_NORMAL_SERIAL, /* normal_ on a strided view: torch's per-element path at any size */
    OP_UNIFORM,
    OP_RANDINT,
    OP_LINEAR_WEIGHT,
    OP_LINEAR_BIAS
} op_kind;
typedef enum { DT_F32, DT_F64, DT_I64 } dtype;

typedef struct {
    op_kind kind;
    dtype dt;
    size_t n;
    double p1, p2;       /* mean/std, from/to, fan_in/bound */
    int64_t i1, i2;      /* randint low/high */
    uint64_t hash;       /* FNV-1a 64 of all element bit patterns */
    size_t nhead, ntail; /* stored bit patterns: the first nhead, the last ntail */
    uint64_t head[MAX_STORED], tail[MAX_STORED];
    int line;
} fx_op;

typedef struct {
    char name[96];
    bool fresh; /* a fresh torch.Generator(), not manual_seed */
    uint64_t seed;
    fx_op *ops;
    size_t nops;
    int line;
} fx_case;

typedef struct {
    bool tried, ok;
    char error[400];
    char torch_version[64], capability[32];
    fx_case *cases;
    size_t ncases;
} fixture;

static fixture fx;

static bool parse_size(const char *tok, size_t max, size_t *out) {
    uint64_t v;
    if (!nb_test_parse_u64(tok, 10, &v) || v > max) return false;
    *out = (size_t)v;
    return true;
}

static bool parse_op(nb_test_fixture *rd, fx_op *op) {
    const char *kind = nb_test_fixture_token(rd);
    const char *dt = nb_test_fixture_token(rd);
    const char *n = nb_test_fixture_token(rd);
    const char *p1 = nb_test_fixture_token(rd);
    const char *p2 = nb_test_fixture_token(rd);
    const char *hash = nb_test_fixture_token(rd);
    if (hash == NULL) return nb_test_fixture_error(rd, "op line too short");
    memset(op, 0, sizeof *op);
    op->line = rd->line;
    if (strcmp(kind, "normal") == 0)
        op->kind = OP_NORMAL;
    else if (strcmp(kind, "normal_serial") == 0)
        op->kind = OP_NORMAL_SERIAL;
    else if (strcmp(kind, "uniform") == 0)
        op->kind = OP_UNIFORM;
    else if (strcmp(kind, "randint") == 0)
        op->kind = OP_RANDINT;
    else if (strcmp(kind, "linear_weight") == 0)
        op->kind = OP_LINEAR_WEIGHT;
    else if (strcmp(kind, "linear_bias") == 0)
        op->kind = OP_LINEAR_BIAS;
    else
        return nb_test_fixture_error(rd, "unknown op kind '%s'", kind);
    if (strcmp(dt, "f32") == 0)
        op->dt = DT_F32;
    else if (strcmp(dt, "f64") == 0)
        op->dt = DT_F64;
    else if (strcmp(dt, "i64") == 0)
        op->dt = DT_I64;
    else
        return nb_test_fixture_error(rd, "unknown dtype '%s'", dt);
    if (op->dt == DT_I64 && op->kind != OP_RANDINT) return nb_test_fixture_error(rd, "%s cannot produce i64", kind);
    if (!parse_size(n, (size_t)1 << 28, &op->n)) return nb_test_fixture_error(rd, "bad element count '%s'", n);
    bool params_ok;
    if (op->kind == OP_RANDINT)
        params_ok = nb_test_parse_i64(p1, INT64_MIN, INT64_MAX, &op->i1) &&
                    nb_test_parse_i64(p2, INT64_MIN, INT64_MAX, &op->i2) && op->i1 < op->i2;
    else
        params_ok = nb_test_parse_f64(p1, &op->p1) && nb_test_parse_f64(p2, &op->p2);
    if (!params_ok) return nb_test_fixture_error(rd, "bad parameters '%s' '%s'", p1, p2);
    if (!nb_test_parse_u64(hash, 16, &op->hash)) return nb_test_fixture_error(rd, "bad hash '%s'", hash);
    const size_t digits = op->dt == DT_F32 ? 8 : 16;
    if (!nb_test_fixture_bits(rd, MAX_STORED, digits, op->head, &op->nhead) ||
        !nb_test_fixture_bits(rd, MAX_STORED, digits, op->tail, &op->ntail))
        return nb_test_fixture_error(rd, "bad or missing stored values");
    if (op->nhead + op->ntail > op->n) return nb_test_fixture_error(rd, "more stored values than elements");
    if (nb_test_fixture_token(rd) != NULL) return nb_test_fixture_error(rd, "trailing tokens");
    return true;
}

static bool parse_fixture(nb_test_fixture *rd) {
    fx_case *cur = NULL;
    for (const char *word; (word = nb_test_fixture_next(rd));) {
        if (strcmp(word, "op") == 0) { /* parse_op reads the rest of the line */
            if (cur == NULL) return nb_test_fixture_error(rd, "op outside a case");
            fx_op *grown = realloc(cur->ops, (cur->nops + 1) * sizeof *grown);
            if (grown == NULL) return nb_test_fixture_error(rd, "out of memory");
            cur->ops = grown;
            if (!parse_op(rd, &cur->ops[cur->nops])) return false;
            cur->nops++;
            continue;
        }
        const char *arg = nb_test_fixture_token(rd);
        const char *arg2 = nb_test_fixture_token(rd);
        if (strcmp(word, "case") == 0) {
            if (cur != NULL) return nb_test_fixture_error(rd, "case inside case '%s' (missing 'end')", cur->name);
            if (arg == NULL || arg2 == NULL) return nb_test_fixture_error(rd, "case line needs a name and a seed");
            fx_case *grown = realloc(fx.cases, (fx.ncases + 1) * sizeof *grown);
            if (grown == NULL) return nb_test_fixture_error(rd, "out of memory");
            fx.cases = grown;
            cur = &fx.cases[fx.ncases++];
            memset(cur, 0, sizeof *cur);
            cur->line = rd->line;
            snprintf(cur->name, sizeof cur->name, "%s", arg);
            cur->fresh = strcmp(arg2, "fresh") == 0;
            if (!cur->fresh && !nb_test_parse_u64(arg2, 10, &cur->seed))
                return nb_test_fixture_error(rd, "bad seed '%s'", arg2);
        } else if (strcmp(word, "end") == 0) {
            if (cur == NULL) return nb_test_fixture_error(rd, "'end' outside a case");
            if (cur->nops == 0) return nb_test_fixture_error(rd, "case '%s' has no ops", cur->name);
            cur = NULL;
        } else {
            return nb_test_fixture_error(rd, "unknown line '%s'", word);
        }
    }
    if (cur != NULL) return nb_test_fixture_error(rd, "case '%s' has no 'end'", cur->name);
    if (fx.ncases == 0) return nb_test_fixture_error(rd, "no cases");
    return true;
}

static void free_fixture(void) {
    for (size_t i = 0; i < fx.ncases; i++) free(fx.cases[i].ops);
    free(fx.cases);
    fx.cases = NULL;
    fx.ncases = 0;
}

/* Loads the fixture once; on failure every fixture test reports the same clear message. */
static bool load_fixture(void) {
    if (fx.tried) return fx.ok;
    fx.tried = true;
    nb_test_fixture rd;
    if (!nb_test_fixture_open(&rd, FIXTURE_PATH, "nabla-rng", "reference/rng_fixture.py", fx.error, sizeof fx.error))
        return false;
    snprintf(fx.torch_version, sizeof fx.torch_version, "%s", rd.torch_version);
    snprintf(fx.capability, sizeof fx.capability, "%s", rd.capability);
    fx.ok = parse_fixture(&rd);
    nb_test_fixture_close(&rd);
    if (!fx.ok) free_fixture();
    return fx.ok;
}

/* ---------------------------------------------------------------------------------------
 * Replaying a case.
 * ------------------------------------------------------------------------------------- */

static uint64_t bits_f32(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}
static uint64_t bits_f64(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* nn.Linear's bounds, computed as torch.nn.init does in Python doubles:
 * kaiming_uniform_(a = sqrt(5)): gain = sqrt(2 / (1 + a^2)), std = gain / sqrt(fan_in),
 * bound = sqrt(3) * std; the bias: 1 / sqrt(fan_in). */
static double linear_weight_bound(double fan_in) {
    const double a = sqrt(5.0);
    const double gain = sqrt(2.0 / (1.0 + a * a));
    return sqrt(3.0) * (gain / sqrt(fan_in));
}
static double linear_bias_bound(double fan_in) { return 1.0 / sqrt(fan_in); }

/* Runs one op on rng into a fresh buffer of bit patterns; false if it could not. */
static bool run_op(nb_rng *rng, const fx_case *c, size_t k, uint64_t *bits) {
    const fx_op *op = &c->ops[k];
    const size_t n = op->n;
    double lo = op->p1, hi = op->p2;
    if (op->kind == OP_LINEAR_WEIGHT || op->kind == OP_LINEAR_BIAS) {
        double bound = op->kind == OP_LINEAR_WEIGHT ? linear_weight_bound(op->p1) : linear_bias_bound(op->p1);
        if (bits_f64(bound) != bits_f64(op->p2)) {
            FAILF("case %s op %zu (line %d): bound %.17g differs from torch's %.17g", c->name, k, op->line, bound,
                  op->p2);
            return false;
        }
        lo = -bound;
        hi = bound;
    }
    void *buf = malloc((n ? n : 1) * 8);
    if (buf == NULL) {
        FAILF("case %s op %zu: out of memory for %zu elements", c->name, k, n);
        return false;
    }
    float *f = buf;
    double *d = buf;
    switch (op->kind) {
    case OP_NORMAL:
        if (op->dt == DT_F32)
            nb_rng_normal_f32(rng, f, n, op->p1, op->p2);
        else
            nb_rng_normal_f64(rng, d, n, op->p1, op->p2);
        break;
    case OP_NORMAL_SERIAL: /* one-element calls take the per-element path at any n */
        for (size_t i = 0; i < n; i++) {
            if (op->dt == DT_F32)
                nb_rng_normal_f32(rng, f + i, 1, op->p1, op->p2);
            else
                nb_rng_normal_f64(rng, d + i, 1, op->p1, op->p2);
        }
        break;
    case OP_UNIFORM:
    case OP_LINEAR_WEIGHT:
    case OP_LINEAR_BIAS:
        if (op->dt == DT_F32)
            nb_rng_uniform_f32(rng, f, n, lo, hi);
        else
            nb_rng_uniform_f64(rng, d, n, lo, hi);
        break;
    case OP_RANDINT:
        if (op->dt == DT_F32)
            nb_rng_randint_f32(rng, f, n, op->i1, op->i2);
        else if (op->dt == DT_F64)
            nb_rng_randint_f64(rng, d, n, op->i1, op->i2);
        else
            for (size_t i = 0; i < n; i++) bits[i] = (uint64_t)nb_rng_randint(rng, op->i1, op->i2);
        break;
    }
    if (op->dt == DT_F32)
        for (size_t i = 0; i < n; i++) bits[i] = bits_f32(f[i]);
    else if (op->dt == DT_F64)
        for (size_t i = 0; i < n; i++) bits[i] = bits_f64(d[i]);
    free(buf);
    return true;
}

/* Replays case c on rng (already seeded); returns the number of mismatching ops. */
static int replay_case(nb_rng *rng, const fx_case *c) {
    int bad = 0;
    for (size_t k = 0; k < c->nops; k++) {
        const fx_op *op = &c->ops[k];
        uint64_t *bits = malloc((op->n ? op->n : 1) * sizeof *bits);
        if (bits == NULL) {
            FAILF("case %s op %zu: out of memory", c->name, k);
            return bad + 1;
        }
        if (!run_op(rng, c, k, bits)) {
            free(bits);
            bad++;
            continue;
        }
        const unsigned width = op->dt == DT_F32 ? 4 : 8;
        uint64_t h = NB_TEST_FNV1A64_BASIS;
        for (size_t i = 0; i < op->n; i++) h = nb_test_fnv1a64_add(h, bits[i], width);
        /* The first differing stored element, else the hash of all of them. */
        size_t first = SIZE_MAX;
        uint64_t want = 0;
        for (size_t i = 0; i < op->nhead && first == SIZE_MAX; i++)
            if (bits[i] != op->head[i]) {
                first = i;
                want = op->head[i];
            }
        for (size_t i = 0; i < op->ntail && first == SIZE_MAX; i++) {
            size_t at = op->n - op->ntail + i;
            if (bits[at] != op->tail[i]) {
                first = at;
                want = op->tail[i];
            }
        }
        if (first != SIZE_MAX) {
            FAILF("case %s op %zu (line %d, n=%zu): first differing index %zu: "
                  "got %0*" PRIx64 ", torch %0*" PRIx64,
                  c->name, k, op->line, op->n, first, (int)(2 * width), bits[first], (int)(2 * width), want);
            bad++;
        } else if (h != op->hash) {
            FAILF("case %s op %zu (line %d, n=%zu): stored values match but the hash of all "
                  "elements differs: a mismatch in indices [%zu, %zu)",
                  c->name, k, op->line, op->n, op->nhead, op->n - op->ntail);
            bad++;
        }
        free(bits);
    }
    return bad;
}

static void test_fixture_cases(void) {
    if (!load_fixture()) {
        FAILF("fixture: %s", fx.error);
        return;
    }
    size_t ops = 0, bad_cases = 0;
    for (size_t i = 0; i < fx.ncases; i++) {
        const fx_case *c = &fx.cases[i];
        nb_rng rng;
        /* A fresh torch.Generator() is seeded with default_rng_seed_val. */
        nb_rng_seed(&rng, c->fresh ? TORCH_DEFAULT_RNG_SEED : c->seed);
        if (replay_case(&rng, c) != 0) bad_cases++;
        ops += c->nops;
    }
    CU_ASSERT_EQUAL(bad_cases, 0);
    printf("\n    %zu cases, %zu ops from torch %s (capability %s), %zu mismatching cases ", fx.ncases, ops,
           fx.torch_version, fx.capability, bad_cases);
}

/* nb_rng_default() must behave as a fresh torch generator: replay the 'fresh' cases on it.
 * This is the only test that touches the process-wide generator. */
static void test_default_generator(void) {
    nb_rng *g = nb_rng_default();
    CU_ASSERT_PTR_EQUAL(g, nb_rng_default());
    CU_ASSERT_EQUAL(g->seed, TORCH_DEFAULT_RNG_SEED);
    if (!load_fixture()) {
        FAILF("fixture: %s", fx.error);
        return;
    }
    size_t fresh = 0;
    for (size_t i = 0; i < fx.ncases; i++) {
        if (!fx.cases[i].fresh) continue;
        if (fresh++ > 0) /* a second fresh case starts from a fresh generator again */
            nb_rng_seed(g, TORCH_DEFAULT_RNG_SEED);
        CU_ASSERT_EQUAL(replay_case(g, &fx.cases[i]), 0);
    }
    CU_ASSERT(fresh > 0);
}

/* ---------------------------------------------------------------------------------------
 * Fixture-free checks.
 * ------------------------------------------------------------------------------------- */

/* The reference outputs of mt19937ar for init_genrand(5489) (std::mt19937's default), and
 * the 10000th output that the C++ standard requires of std::mt19937. */
static void test_mt19937_reference(void) {
    static const uint32_t first[] = {3499211612u, 581869302u,  3890346734u, 3586334585u,
                                     545404204u,  4161255391u, 3922919429u, 949333985u};
    nb_rng rng;
    nb_rng_seed(&rng, 5489);
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) CU_ASSERT_EQUAL(nb_rng_random(&rng), first[i]);
    nb_rng_seed(&rng, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = nb_rng_random(&rng);
    CU_ASSERT_EQUAL(v, 4123659995u);
}

/* random64 is (first << 32) | second. */
static void test_random64_order(void) {
    nb_rng a, b;
    nb_rng_seed(&a, 123);
    nb_rng_seed(&b, 123);
    for (int i = 0; i < 700; i++) { /* crosses a twist */
        uint64_t hi = nb_rng_random(&b);
        uint64_t lo = nb_rng_random(&b);
        CU_ASSERT_EQUAL(nb_rng_random64(&a), (hi << 32) | lo);
    }
}

/* Only the low 32 bits of the seed reach the state; the full seed is kept. */
static void test_seed_above_2_32(void) {
    nb_rng a, b;
    nb_rng_seed(&a, (UINT64_C(1) << 32) + 7);
    nb_rng_seed(&b, 7);
    CU_ASSERT_EQUAL(a.seed, (UINT64_C(1) << 32) + 7);
    bool same = true;
    for (int i = 0; i < 1000; i++) same = same && nb_rng_random(&a) == nb_rng_random(&b);
    CU_ASSERT(same);
}

/* Reseeding restarts the stream and drops the cached normal sample. */
static void test_reseed_restarts_and_clears_cache(void) {
    nb_rng rng;
    double first[3], again[3], one;
    nb_rng_seed(&rng, 42);
    nb_rng_normal_f64(&rng, first, 3, 0.0, 1.0); /* odd count: leaves a cached sample */
    CU_ASSERT(rng.has_cached_normal);
    nb_rng_seed(&rng, 42);
    CU_ASSERT(!rng.has_cached_normal);
    nb_rng_normal_f64(&rng, again, 3, 0.0, 1.0);
    CU_ASSERT_EQUAL(memcmp(first, again, sizeof first), 0);
    nb_rng_seed(&rng, 42);
    nb_rng_normal_f64(&rng, &one, 1, 0.0, 1.0);
    CU_ASSERT_EQUAL(bits_f64(one), bits_f64(first[0]));
}

/* The second Box-Muller sample waits in the generator across calls and dtypes, costs no
 * draw when used, and takes the mean/std of the call that uses it. */
static void test_normal_cache_carries(void) {
    nb_rng rng, twin;
    double pair[2], a, b;
    float bf;
    nb_rng_seed(&rng, 7);
    nb_rng_normal_f64(&rng, pair, 2, 0.0, 1.0);
    nb_rng_seed(&rng, 7);
    nb_rng_normal_f64(&rng, &a, 1, 0.0, 1.0);
    twin = rng;
    nb_rng_normal_f64(&rng, &b, 1, 0.0, 1.0);
    CU_ASSERT_EQUAL(bits_f64(a), bits_f64(pair[0]));
    CU_ASSERT_EQUAL(bits_f64(b), bits_f64(pair[1]));
    CU_ASSERT_EQUAL(nb_rng_random(&rng), nb_rng_random(&twin)); /* no draw was made */

    nb_rng_seed(&rng, 7);
    nb_rng_normal_f64(&rng, &a, 1, 0.0, 1.0);
    nb_rng_normal_f32(&rng, &bf, 1, 2.0, 3.0);
    CU_ASSERT_EQUAL(bits_f32(bf), bits_f32((float)(pair[1] * 3.0 + 2.0)));

    /* The 16-wide path neither consumes nor refreshes it. */
    nb_rng_seed(&rng, 7);
    double block[16];
    nb_rng_normal_f64(&rng, &a, 1, 0.0, 1.0);
    nb_rng_normal_f64(&rng, block, 16, 0.0, 1.0);
    CU_ASSERT(rng.has_cached_normal);
    nb_rng_normal_f64(&rng, &b, 1, 0.0, 1.0);
    CU_ASSERT_EQUAL(bits_f64(b), bits_f64(pair[1]));
}

/* How many 32-bit draws each path consumes (the fixture pins the values; this pins the
 * counts independently, so a wrong count reads as such). */
static size_t draws_used(const nb_rng *before, const nb_rng *after) {
    nb_rng probe = *before;
    for (size_t k = 0; k <= 10000; k++) {
        if (probe.left == after->left && probe.next == after->next &&
            memcmp(probe.state, after->state, sizeof probe.state) == 0)
            return k;
        (void)nb_rng_random(&probe);
    }
    return SIZE_MAX;
}

static void test_draw_counts(void) {
    nb_rng rng, before;
    float f[40];
    double d[40];
    nb_rng_seed(&rng, 99);

    before = rng;
    nb_rng_normal_f32(&rng, f, 32, 0.0, 1.0);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 32);
    before = rng;
    nb_rng_normal_f32(&rng, f, 17, 0.0, 1.0);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 17 + 16);
    before = rng;
    nb_rng_normal_f64(&rng, d, 17, 0.0, 1.0);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 2 * (17 + 16));
    before = rng;
    nb_rng_normal_f64(&rng, d, 3, 0.0, 1.0); /* pairs: 2 uniforms = 4 draws */
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 8);
    before = rng;
    nb_rng_normal_f32(&rng, f, 1, 0.0, 1.0); /* served from the cache */
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 0);
    before = rng;
    nb_rng_uniform_f32(&rng, f, 5, 0.0, 1.0);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 5);
    before = rng;
    nb_rng_uniform_f64(&rng, d, 5, 0.0, 1.0);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 10);
    before = rng;
    (void)nb_rng_randint(&rng, 0, 4);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 1);
    before = rng;
    (void)nb_rng_randint(&rng, -1, INT64_C(0xffffffff) - 1); /* 2^32 - 1 */
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 1);
    before = rng;
    (void)nb_rng_randint(&rng, -1, INT64_C(0xffffffff)); /* 2^32 */
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 2);
    before = rng;
    nb_rng_normal_f32(&rng, f, 0, 0.0, 1.0);
    CU_ASSERT_EQUAL(draws_used(&before, &rng), 0);
}

/* Fixed points of the transformations that need no torch to state. */
static void test_transform_edges(void) {
    nb_rng rng;
    nb_rng_seed(&rng, 1);
    float f[4];
    double d[4];
    nb_rng_uniform_f32(&rng, f, 4, 5.0, 5.0);
    nb_rng_uniform_f64(&rng, d, 4, -2.5, -2.5);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(f[i], 5.0f);
        CU_ASSERT_EQUAL(d[i], -2.5);
    }
    /* The full int64 range minus one: range = 2^64 - 1 as uint64, values wrap correctly. */
    for (int i = 0; i < 100; i++) {
        int64_t v = nb_rng_randint(&rng, INT64_MIN, INT64_MAX);
        CU_ASSERT(v >= INT64_MIN && v < INT64_MAX);
    }
    for (int i = 0; i < 1000; i++) {
        int64_t v = nb_rng_randint(&rng, -3, 2);
        CU_ASSERT(v >= -3 && v < 2);
    }
}

int main(void) {
    static const nb_test_case tests[] = {
        {"mt19937 reference outputs (seed 5489)", test_mt19937_reference},
        {"random64 = first << 32 | second", test_random64_order},
        {"seed above 2^32 uses its low 32 bits", test_seed_above_2_32},
        {"reseed restarts, clears the normal cache", test_reseed_restarts_and_clears_cache},
        {"normal cache carries across calls", test_normal_cache_carries},
        {"draw counts per path", test_draw_counts},
        {"transformation edge cases", test_transform_edges},
        {"default generator = fresh torch.Generator()", test_default_generator},
        {"torch fixture, bit for bit", test_fixture_cases},
    };
    int status = nb_test_run("rng", tests, sizeof tests / sizeof tests[0]);
    free_fixture();
    return status;
}
