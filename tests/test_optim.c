/* tests/test_optim.c — CUnit suite for src/optim: replays the SGD and Adam trajectories
 * PyTorch recorded in tests/data/nn_optim_torch.txt (reference/nn_optim_fixture.py) and
 * compares every param after every step bit for bit, in f32 and f64; plus skipped params,
 * per-param state, atomic failing steps, zero_grad and the rejected options. */
#include "optim/optim.h"

#include <CUnit/CUnit.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/runtime.h"
#include "test_util.h"

#ifndef NABLA_TEST_DATA_DIR
#error "NABLA_TEST_DATA_DIR must point at tests/data (tests/CMakeLists.txt sets it)"
#endif
#define FIXTURE_PATH NABLA_TEST_DATA_DIR "/nn_optim_torch.txt"

/* ---------------------------------------------------------------------------------------
 * The fixture's stream and optim_case blocks (the format is at the top of
 * reference/nn_optim_fixture.py); linear_case blocks belong to test_nn.c and are skipped.
 * ------------------------------------------------------------------------------------- */

enum { MAX_PARAMS = 4, MAX_STEPS = 16, MAX_VALUES = 32, MAX_BLOCKS = 32 };

typedef struct {
    bool present; /* false: p.grad was None */
    int ndim;
    int64_t shape[4];
    size_t n;
    uint64_t bits[MAX_VALUES];
} fx_vals;

typedef struct {
    char name[64];
    nb_dtype dtype;
    int nparams, nsteps;
    fx_vals params[MAX_PARAMS];
    fx_vals grads[MAX_STEPS][MAX_PARAMS];
} fx_stream;

typedef struct {
    char name[64];
    const fx_stream *stream;
    bool adam;
    double opt[5]; /* sgd: lr momentum dampening weight_decay nesterov; adam: lr b1 b2 eps wd */
    fx_vals after[MAX_STEPS][MAX_PARAMS];
    int line;
} fx_optcase;

typedef struct {
    bool tried, ok;
    char error[400];
    fx_stream streams[4];
    int nstreams;
    fx_optcase cases[MAX_BLOCKS];
    int ncases;
} fixture;

static fixture *fx;

/* `<n> <hex>...` to the end of the line. */
static bool parse_values(nb_test_fixture *rd, nb_dtype dt, fx_vals *v) {
    if (!nb_test_fixture_bits(rd, MAX_VALUES, dt == NB_F32 ? 8 : 16, v->bits, &v->n)) return false;
    v->present = v->n > 0;
    return nb_test_fixture_token(rd) == NULL;
}

static const fx_stream *find_stream(const char *name) {
    for (int i = 0; i < fx->nstreams; i++)
        if (strcmp(fx->streams[i].name, name) == 0) return &fx->streams[i];
    return NULL;
}

static bool parse_fixture(nb_test_fixture *rd) {
    enum { NONE, SKIP, STREAM, OPTIM } block = NONE;
    fx_stream *st = NULL;
    fx_optcase *oc = NULL;
    for (const char *word; (word = nb_test_fixture_next(rd));) {
        if (strcmp(word, "end") == 0) {
            if (block == NONE) return nb_test_fixture_error(rd, "'end' outside a block");
            if (block == STREAM) {
                for (int s = 0; s < st->nsteps; s++)
                    for (int i = 0; i < st->nparams; i++)
                        if (st->grads[s][i].present && st->grads[s][i].n != st->params[i].n)
                            return nb_test_fixture_error(rd, "stream %s: grad %d/%d has the wrong size", st->name, s,
                                                         i);
                fx->nstreams++;
            }
            if (block == OPTIM) {
                for (int s = 0; s < oc->stream->nsteps; s++)
                    for (int i = 0; i < oc->stream->nparams; i++)
                        if (oc->after[s][i].n != oc->stream->params[i].n)
                            return nb_test_fixture_error(rd, "case %s: missing 'after %d %d'", oc->name, s, i);
                fx->ncases++;
            }
            block = NONE;
            continue;
        }
        if (block == SKIP) continue;
        if (strcmp(word, "linear_case") == 0) {
            if (block != NONE) return nb_test_fixture_error(rd, "block inside a block");
            block = SKIP;
        } else if (strcmp(word, "stream") == 0) {
            if (block != NONE) return nb_test_fixture_error(rd, "block inside a block");
            if (fx->nstreams == (int)(sizeof fx->streams / sizeof fx->streams[0]))
                return nb_test_fixture_error(rd, "too many streams");
            st = &fx->streams[fx->nstreams];
            const char *name = nb_test_fixture_token(rd), *dt = nb_test_fixture_token(rd);
            int64_t np, ns;
            if (!name || !dt || (strcmp(dt, "f32") && strcmp(dt, "f64")) ||
                !nb_test_parse_i64(nb_test_fixture_token(rd), 1, MAX_PARAMS, &np) ||
                !nb_test_parse_i64(nb_test_fixture_token(rd), 1, MAX_STEPS, &ns))
                return nb_test_fixture_error(rd, "bad stream line");
            snprintf(st->name, sizeof st->name, "%s", name);
            st->dtype = strcmp(dt, "f32") == 0 ? NB_F32 : NB_F64;
            st->nparams = (int)np;
            st->nsteps = (int)ns;
            block = STREAM;
        } else if (strcmp(word, "param") == 0 && block == STREAM) {
            int64_t i, nd, dim;
            if (!nb_test_parse_i64(nb_test_fixture_token(rd), 0, st->nparams - 1, &i) ||
                !nb_test_parse_i64(nb_test_fixture_token(rd), 1, 4, &nd))
                return nb_test_fixture_error(rd, "bad param line");
            fx_vals *v = &st->params[i];
            v->ndim = (int)nd;
            int64_t numel = 1;
            for (int64_t d = 0; d < nd; d++) {
                if (!nb_test_parse_i64(nb_test_fixture_token(rd), 1, MAX_VALUES, &dim))
                    return nb_test_fixture_error(rd, "bad param shape");
                v->shape[d] = dim;
                numel *= dim;
            }
            if (!parse_values(rd, st->dtype, v) || (int64_t)v->n != numel)
                return nb_test_fixture_error(rd, "bad param values");
        } else if (strcmp(word, "grad") == 0 && block == STREAM) {
            int64_t s, i;
            if (!nb_test_parse_i64(nb_test_fixture_token(rd), 0, st->nsteps - 1, &s) ||
                !nb_test_parse_i64(nb_test_fixture_token(rd), 0, st->nparams - 1, &i) ||
                !parse_values(rd, st->dtype, &st->grads[s][i]))
                return nb_test_fixture_error(rd, "bad grad line");
        } else if (strcmp(word, "optim_case") == 0) {
            if (block != NONE) return nb_test_fixture_error(rd, "block inside a block");
            if (fx->ncases == MAX_BLOCKS) return nb_test_fixture_error(rd, "too many optim cases");
            oc = &fx->cases[fx->ncases];
            oc->line = rd->line;
            const char *name = nb_test_fixture_token(rd), *stream = nb_test_fixture_token(rd);
            const char *kind = nb_test_fixture_token(rd);
            if (!name || !stream || !kind) return nb_test_fixture_error(rd, "bad optim_case line");
            snprintf(oc->name, sizeof oc->name, "%s", name);
            if (!(oc->stream = find_stream(stream))) return nb_test_fixture_error(rd, "unknown stream '%s'", stream);
            if (strcmp(kind, "sgd") && strcmp(kind, "adam"))
                return nb_test_fixture_error(rd, "unknown optimizer '%s'", kind);
            oc->adam = strcmp(kind, "adam") == 0;
            for (int k = 0; k < 5; k++)
                if (!nb_test_parse_f64(nb_test_fixture_token(rd), &oc->opt[k]))
                    return nb_test_fixture_error(rd, "bad option %d", k);
            block = OPTIM;
        } else if (strcmp(word, "after") == 0 && block == OPTIM) {
            int64_t s, i;
            if (!nb_test_parse_i64(nb_test_fixture_token(rd), 0, oc->stream->nsteps - 1, &s) ||
                !nb_test_parse_i64(nb_test_fixture_token(rd), 0, oc->stream->nparams - 1, &i) ||
                !parse_values(rd, oc->stream->dtype, &oc->after[s][i]))
                return nb_test_fixture_error(rd, "bad after line");
        } else {
            return nb_test_fixture_error(rd, "unexpected line '%s'", word);
        }
    }
    if (block != NONE) return nb_test_fixture_error(rd, "last block has no 'end'");
    if (fx->ncases == 0) return nb_test_fixture_error(rd, "no optim cases");
    return true;
}

/* Loads the fixture once; on failure every fixture test reports the same clear message. */
static bool load_fixture(void) {
    if (fx && fx->tried) return fx->ok;
    if (!fx && !(fx = calloc(1, sizeof *fx))) return false;
    fx->tried = true;
    nb_test_fixture rd;
    if (!nb_test_fixture_open(&rd, FIXTURE_PATH, "nabla-nn-optim", "reference/nn_optim_fixture.py", fx->error,
                              sizeof fx->error))
        return false;
    fx->ok = parse_fixture(&rd);
    nb_test_fixture_close(&rd);
    return fx->ok;
}

/* ---- helpers --------------------------------------------------------------------------- */

/* The tensor of shape (ndim, shape) holding v's bit patterns. */
static nb_tensor *tensor_from_bits(nb_dtype dt, int ndim, const int64_t *shape, const fx_vals *v) {
    double d[MAX_VALUES];
    float f[MAX_VALUES];
    for (size_t k = 0; k < v->n; k++) {
        if (dt == NB_F32) {
            uint32_t b = (uint32_t)v->bits[k];
            memcpy(&f[k], &b, 4);
        } else {
            memcpy(&d[k], &v->bits[k], 8);
        }
    }
    return nb_tensor_from_data(dt, ndim, shape, dt == NB_F32 ? (void *)f : (void *)d);
}

/* Sets v.grad to a copy of `values` (p.grad = g.clone()), or drops it (p.grad = None). */
static void set_grad(nb_var *v, const fx_vals *values) {
    nb_tensor_free(v->grad);
    v->grad = values->present ? tensor_from_bits(v->value->dtype, v->value->ndim, v->value->shape, values) : NULL;
}

static void set_grad_values(nb_var *v, const double *values) {
    nb_tensor_free(v->grad);
    v->grad = nb_tensor_from_data(NB_F64, v->value->ndim, v->value->shape, values);
}

static nb_var *var_f64(int64_t n, const double *values) {
    return nb_var_new(nb_tensor_from_data(NB_F64, 1, (int64_t[]){n}, values), true);
}

static nb_optimizer *make_case_optimizer(const fx_optcase *c, nb_var **params, int n) {
    if (c->adam) {
        nb_adam_options o = {
            .lr = c->opt[0], .beta1 = c->opt[1], .beta2 = c->opt[2], .eps = c->opt[3], .weight_decay = c->opt[4]};
        return nb_adam_new(params, n, o);
    }
    nb_sgd_options o = {.lr = c->opt[0],
                        .momentum = c->opt[1],
                        .dampening = c->opt[2],
                        .weight_decay = c->opt[3],
                        .nesterov = c->opt[4] != 0};
    return nb_sgd_new(params, n, o);
}

/* Replays one case; returns the number of differing elements (reporting the first). */
static int replay_case(const fx_optcase *c) {
    const fx_stream *s = c->stream;
    nb_var *params[MAX_PARAMS] = {0};
    int bad = 0;
    for (int i = 0; i < s->nparams; i++) {
        const fx_vals *p0 = &s->params[i];
        params[i] = nb_var_new(tensor_from_bits(s->dtype, p0->ndim, p0->shape, p0), true);
        if (!params[i]) {
            FAILF("%s: cannot make param %d: %s", c->name, i, nb_last_error());
            bad++;
        }
    }
    nb_optimizer *opt = bad ? NULL : make_case_optimizer(c, params, s->nparams);
    if (!bad && !opt) {
        FAILF("%s: optimizer rejected the options: %s", c->name, nb_last_error());
        bad++;
    }
    for (int step = 0; opt && step < s->nsteps; step++) {
        for (int i = 0; i < s->nparams; i++) set_grad(params[i], &s->grads[step][i]);
        nb_status st = nb_optimizer_step(opt);
        if (st != NB_OK) {
            FAILF("%s: step %d failed: %s", c->name, step, nb_last_error());
            bad++;
            break;
        }
        for (int i = 0; i < s->nparams; i++) {
            const fx_vals *want = &c->after[step][i];
            for (size_t k = 0; k < want->n; k++) {
                const nb_tensor *v = params[i]->value;
                uint64_t got = nb_test_element_bits(nb_tensor_data(v), nb_dtype_size(v->dtype), k);
                if (got == want->bits[k]) continue;
                if (bad++ == 0)
                    FAILF("%s (fixture line %d): step %d param %d element %zu is %0*" PRIx64 ", torch has %0*" PRIx64,
                          c->name, c->line, step, i, k, s->dtype == NB_F32 ? 8 : 16, got, s->dtype == NB_F32 ? 8 : 16,
                          want->bits[k]);
            }
        }
    }
    nb_optimizer_free(opt);
    for (int i = 0; i < s->nparams; i++) nb_var_release(params[i]);
    return bad;
}

static void replay_kind(bool adam) {
    if (!load_fixture()) {
        FAILF("%s", fx ? fx->error : "out of memory");
        return;
    }
    int ran = 0;
    for (int i = 0; i < fx->ncases; i++) {
        if (fx->cases[i].adam != adam) continue;
        int bad = replay_case(&fx->cases[i]);
        CU_ASSERT_EQUAL(bad, 0);
        if (bad) fprintf(stderr, "    %s: %d elements differ\n", fx->cases[i].name, bad);
        ran++;
    }
    /* Both dtypes, every option set of the script: 7 SGD and 3 Adam configurations. */
    CU_ASSERT_EQUAL(ran, adam ? 6 : 14);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_sgd_torch(void) { replay_kind(false); }
static void test_adam_torch(void) { replay_kind(true); }

/* The fixture's streams hold grads that are None at some steps: check the data is what the
 * replays rely on, so a regenerated fixture cannot silently drop that coverage. */
static void test_fixture_covers_skips(void) {
    if (!load_fixture()) {
        FAILF("%s", fx ? fx->error : "out of memory");
        return;
    }
    for (int s = 0; s < fx->nstreams; s++) {
        const fx_stream *st = &fx->streams[s];
        int never = 0, sometimes = 0;
        for (int i = 0; i < st->nparams; i++) {
            int with = 0;
            for (int k = 0; k < st->nsteps; k++) with += st->grads[k][i].present;
            never += with == 0;
            sometimes += with > 0 && with < st->nsteps;
        }
        CU_ASSERT_TRUE(never >= 1);
        CU_ASSERT_TRUE(sometimes >= 1);
        CU_ASSERT_TRUE(st->nsteps >= 10);
    }
}

/* SGD by hand with exact binary values (lr 0.5, momentum 0.5, dampening 0.5, wd 0.25):
 *   step 1: d = g + wd p = 1 + 0.25*2 = 1.5; buf = d (no dampening on the first step);
 *           p = 2 - 0.5*1.5 = 1.25
 *   step 2: g = 2: d = 2 + 0.25*1.25 = 2.3125; buf = 0.5*1.5 + 0.5*2.3125 = 1.90625;
 *           p = 1.25 - 0.5*1.90625 = 0.296875
 * With nesterov (dampening 0): step 1 d = 1.5, buf = 1.5, d = 1.5 + 0.5*1.5 = 2.25,
 * p = 2 - 1.125 = 0.875. */
static void test_sgd_by_hand(void) {
    nb_var *p = var_f64(1, (double[]){2.0});
    nb_sgd_options o = {.lr = 0.5, .momentum = 0.5, .dampening = 0.5, .weight_decay = 0.25};
    nb_optimizer *opt = nb_sgd_new(&p, 1, o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    set_grad_values(p, (double[]){1.0});
    CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
    CU_ASSERT_EQUAL(nb_tensor_get(p->value, (int64_t[]){0}), 1.25);
    set_grad_values(p, (double[]){2.0});
    CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
    CU_ASSERT_EQUAL(nb_tensor_get(p->value, (int64_t[]){0}), 0.296875);
    nb_optimizer_free(opt);

    nb_tensor_set(p->value, (int64_t[]){0}, 2.0);
    o.dampening = 0;
    o.nesterov = true;
    opt = nb_sgd_new(&p, 1, o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    set_grad_values(p, (double[]){1.0});
    CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
    CU_ASSERT_EQUAL(nb_tensor_get(p->value, (int64_t[]){0}), 0.875);
    nb_optimizer_free(opt);
    nb_var_release(p);
}

/* Adam's first step moves every element by lr * g / (|g| + eps') ~ lr * sign(g): a simple
 * property a wrong bias correction breaks (without it the step is lr * 0.1/sqrt(0.001)). */
static void test_adam_first_step(void) {
    nb_var *p = var_f64(3, (double[]){1.0, -2.0, 0.5});
    nb_optimizer *opt = nb_adam_new(&p, 1, nb_adam_defaults(0.01));
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    set_grad_values(p, (double[]){4.0, -0.5, 1e-3});
    CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
    CU_ASSERT_DOUBLE_EQUAL(nb_tensor_get(p->value, (int64_t[]){0}), 0.99, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nb_tensor_get(p->value, (int64_t[]){1}), -1.99, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(nb_tensor_get(p->value, (int64_t[]){2}), 0.49, 1e-6);
    nb_optimizer_free(opt);
    nb_var_release(p);
}

/* Params without a grad are not touched, and Adam counts steps per param: a param that first
 * gets a grad at the optimizer's third step takes a first step (bias corrections for t=1),
 * exactly as a fresh optimizer's first step. */
static void test_skip_and_per_param_state(void) {
    for (int adam = 0; adam < 2; adam++) {
        nb_var *a = var_f64(2, (double[]){1.0, 2.0});
        nb_var *late = var_f64(2, (double[]){-1.0, 0.25});
        nb_var *twin = var_f64(2, (double[]){-1.0, 0.25});
        nb_var *params[2] = {a, late};
        nb_sgd_options so = {.lr = 0.1, .momentum = 0.9, .dampening = 0.2};
        nb_optimizer *opt = adam ? nb_adam_new(params, 2, nb_adam_defaults(0.1)) : nb_sgd_new(params, 2, so);
        nb_optimizer *fresh = adam ? nb_adam_new(&twin, 1, nb_adam_defaults(0.1)) : nb_sgd_new(&twin, 1, so);
        CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
        for (int step = 0; step < 2; step++) {
            set_grad_values(a, (double[]){0.5, -0.25});
            CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
        }
        CU_ASSERT_EQUAL(nb_tensor_get(late->value, (int64_t[]){0}), -1.0);
        CU_ASSERT_EQUAL(nb_tensor_get(late->value, (int64_t[]){1}), 0.25);
        CU_ASSERT_NOT_EQUAL(nb_tensor_get(a->value, (int64_t[]){0}), 1.0);
        set_grad_values(late, (double[]){0.3, -0.7});
        set_grad_values(twin, (double[]){0.3, -0.7});
        CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
        CU_ASSERT_EQUAL(nb_optimizer_step(fresh), NB_OK);
        for (int64_t k = 0; k < 2; k++) CU_ASSERT_EQUAL(nb_tensor_get(late->value, &k), nb_tensor_get(twin->value, &k));
        nb_optimizer_free(opt);
        nb_optimizer_free(fresh);
        nb_var_release(a);
        nb_var_release(late);
        nb_var_release(twin);
    }
}

/* A step that cannot run changes nothing, not even the params checked before the bad one. */
static void test_failed_step_changes_nothing(void) {
    nb_var *good = var_f64(2, (double[]){1.0, 2.0});
    nb_var *bad = var_f64(2, (double[]){3.0, 4.0});
    nb_var *params[2] = {good, bad};
    nb_optimizer *opts[2] = {nb_sgd_new(params, 2, nb_sgd_defaults(0.5)),
                             nb_adam_new(params, 2, nb_adam_defaults(0.5))};
    for (int k = 0; k < 2; k++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(opts[k]);
        set_grad_values(good, (double[]){1.0, 1.0});
        nb_tensor_free(bad->grad);
        bad->grad = nb_tensor_zeros(NB_F64, 1, (int64_t[]){3}); /* wrong shape */
        CU_ASSERT_EQUAL(nb_optimizer_step(opts[k]), NB_ERR_SHAPE);
        CU_ASSERT_TRUE(nb_test_error_mentions("param 1"));
        nb_tensor_free(bad->grad);
        bad->grad = nb_tensor_zeros(NB_F32, 1, (int64_t[]){2}); /* wrong dtype */
        CU_ASSERT_EQUAL(nb_optimizer_step(opts[k]), NB_ERR_SHAPE);
        CU_ASSERT_EQUAL(nb_tensor_get(good->value, (int64_t[]){0}), 1.0);
        CU_ASSERT_EQUAL(nb_tensor_get(bad->value, (int64_t[]){0}), 3.0);
    }
    /* Adam then starts from scratch: its first real step is a t=1 step (~lr * sign). */
    set_grad_values(bad, (double[]){1.0, 1.0});
    CU_ASSERT_EQUAL(nb_optimizer_step(opts[1]), NB_OK);
    CU_ASSERT_DOUBLE_EQUAL(nb_tensor_get(good->value, (int64_t[]){0}), 0.5, 1e-7);
    CU_ASSERT_EQUAL(nb_optimizer_step(NULL), NB_ERR_ARG);
    nb_optimizer_free(opts[0]);
    nb_optimizer_free(opts[1]);
    nb_var_release(good);
    nb_var_release(bad);
}

static void test_zero_grad(void) {
    nb_var *a = var_f64(2, (double[]){1.0, 2.0});
    nb_var *b = var_f64(1, (double[]){3.0});
    nb_var *params[2] = {a, b};
    nb_optimizer *opt = nb_sgd_new(params, 2, nb_sgd_defaults(0.1));
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    set_grad_values(a, (double[]){5.0, -6.0});
    nb_optimizer_zero_grad(opt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a->grad); /* set_to_none=False: zeroed, kept */
    CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){0}), 0.0);
    CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){1}), 0.0);
    CU_ASSERT_PTR_NULL(b->grad);
    /* A zero grad is still a grad: the step runs (and with plain SGD changes nothing). */
    CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
    CU_ASSERT_EQUAL(nb_tensor_get(a->value, (int64_t[]){1}), 2.0);
    nb_optimizer_zero_grad(NULL);
    nb_optimizer_free(opt);
    nb_var_release(a);
    nb_var_release(b);
}

static void test_defaults(void) {
    nb_sgd_options s = nb_sgd_defaults(0.25);
    CU_ASSERT_EQUAL(s.lr, 0.25);
    CU_ASSERT_TRUE(s.momentum == 0 && s.dampening == 0 && s.weight_decay == 0 && !s.nesterov);
    nb_adam_options a = nb_adam_defaults(1e-3);
    CU_ASSERT_EQUAL(a.lr, 1e-3);
    CU_ASSERT_EQUAL(a.beta1, 0.9);
    CU_ASSERT_EQUAL(a.beta2, 0.999);
    CU_ASSERT_EQUAL(a.eps, 1e-8);
    CU_ASSERT_EQUAL(a.weight_decay, 0.0);
}

/* torch's ValueErrors (and NaN, which nabla rejects everywhere). */
static void test_invalid_options(void) {
    nb_var *p = var_f64(1, (double[]){1.0});
    const struct {
        nb_sgd_options o;
        const char *msg;
    } sgd_bad[] = {
        {{.lr = -1e-3}, "learning rate"},
        {{.lr = NAN}, "learning rate"},
        {{.lr = 0.1, .momentum = -0.5}, "momentum"},
        {{.lr = 0.1, .weight_decay = -1e-4}, "weight_decay"},
        {{.lr = 0.1, .dampening = NAN}, "dampening"},
        {{.lr = 0.1, .nesterov = true}, "Nesterov"},
        {{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}, "Nesterov"},
    };
    for (size_t i = 0; i < sizeof sgd_bad / sizeof sgd_bad[0]; i++) {
        nb_clear_error();
        nb_optimizer *opt = nb_sgd_new(&p, 1, sgd_bad[i].o);
        CU_ASSERT_PTR_NULL(opt);
        nb_optimizer_free(opt);
        CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_ARG);
        CU_ASSERT_TRUE(nb_test_error_mentions(sgd_bad[i].msg));
    }
    nb_adam_options d = nb_adam_defaults(1e-3);
    nb_adam_options adam_bad[7];
    const char *adam_msg[7] = {"learning rate", "learning rate", "epsilon",     "index 0",
                               "index 0",       "index 1",       "weight_decay"};
    for (int i = 0; i < 7; i++) adam_bad[i] = d;
    adam_bad[0].lr = -1;
    adam_bad[1].lr = NAN;
    adam_bad[2].eps = -1e-8;
    adam_bad[3].beta1 = 1.0;
    adam_bad[4].beta1 = -0.1;
    adam_bad[5].beta2 = 1.0;
    adam_bad[6].weight_decay = -0.01;
    for (int i = 0; i < 7; i++) {
        nb_clear_error();
        nb_optimizer *opt = nb_adam_new(&p, 1, adam_bad[i]);
        CU_ASSERT_PTR_NULL(opt);
        nb_optimizer_free(opt);
        CU_ASSERT_TRUE(nb_test_error_mentions(adam_msg[i]));
    }
    /* The edges torch accepts. */
    nb_adam_options edge = d;
    edge.lr = 0;
    edge.eps = 0;
    edge.beta1 = 0;
    edge.beta2 = 0;
    nb_optimizer *ok = nb_adam_new(&p, 1, edge);
    CU_ASSERT_PTR_NOT_NULL(ok);
    nb_optimizer_free(ok);
    nb_sgd_options sedge = {.lr = 0, .momentum = 0.9, .dampening = -1.0};
    ok = nb_sgd_new(&p, 1, sedge); /* torch checks no range for dampening */
    CU_ASSERT_PTR_NOT_NULL(ok);
    nb_optimizer_free(ok);
    nb_var_release(p);
}

static void test_invalid_params(void) {
    nb_var *p = var_f64(2, (double[]){1.0, 2.0});
    nb_var *two[2] = {p, p};
    nb_var *with_null[2] = {p, NULL};
    CU_ASSERT_PTR_NULL(nb_sgd_new(&p, 0, nb_sgd_defaults(0.1)));
    CU_ASSERT_TRUE(nb_test_error_mentions("empty parameter list"));
    CU_ASSERT_PTR_NULL(nb_adam_new(NULL, 1, nb_adam_defaults(0.1)));
    CU_ASSERT_PTR_NULL(nb_adam_new(with_null, 2, nb_adam_defaults(0.1)));
    CU_ASSERT_TRUE(nb_test_error_mentions("param 1 is NULL"));
    CU_ASSERT_PTR_NULL(nb_sgd_new(two, 2, nb_sgd_defaults(0.1)));
    CU_ASSERT_TRUE(nb_test_error_mentions("same var"));
    nb_var *derived = nb_ag_mul_scalar(p, 2.0); /* has a grad_fn: not a leaf */
    CU_ASSERT_PTR_NOT_NULL_FATAL(derived);
    CU_ASSERT_PTR_NULL(nb_sgd_new(&derived, 1, nb_sgd_defaults(0.1)));
    CU_ASSERT_TRUE(nb_test_error_mentions("non-leaf"));
    nb_var_release(derived);
    nb_var_release(p);
}

/* A training loop through autograd: loss = sum((p - target)^2) with SGD must converge, and the
 * grads the engine leaves behind are what the optimizer consumes. */
static void test_with_autograd(void) {
    nb_var *p = var_f64(3, (double[]){0.0, 0.0, 0.0});
    nb_var *target = nb_var_new(nb_tensor_from_data(NB_F64, 1, (int64_t[]){3}, (double[]){1.0, -2.0, 0.5}), false);
    nb_sgd_options o = {.lr = 0.1, .momentum = 0.5};
    nb_optimizer *opt = nb_sgd_new(&p, 1, o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    for (int t = 0; t < 100; t++) {
        nb_scope *scope = nb_scope_begin();
        nb_var *loss = nb_ag_sum(nb_ag_pow(nb_ag_sub(p, target), 2.0));
        nb_optimizer_zero_grad(opt);
        CU_ASSERT_EQUAL_FATAL(nb_backward(loss), NB_OK);
        CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
        nb_scope_end(scope);
    }
    CU_ASSERT_DOUBLE_EQUAL(nb_tensor_get(p->value, (int64_t[]){1}), -2.0, 1e-9);
    nb_optimizer_free(opt);
    nb_var_release(p);
    nb_var_release(target);
}

/* ---- the vectorised, thread-split update loops ------------------------------------------
 * A param past NB_PARALLEL_GRAIN is updated in one contiguous part per thread, each part by a
 * vectorised loop. Every element must come out as the same element alone (a 1-element param:
 * the scalar path) would: a part cut wrong skips or repeats elements, a lane that rounds
 * differently changes bits. Two steps, so momentum and Adam's moments are read back too. */
enum { BIG_N = 3 * NB_PARALLEL_GRAIN + 7 };

static nb_var *big_var(nb_dtype dt, int64_t n, uint64_t seed, bool grad) {
    nb_tensor *t = nb_tensor_empty(dt, 1, (int64_t[]){n});
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) { /* a fixed pseudo-random fill, both signs */
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        double x = (double)(seed >> 11) / 9007199254740992.0 * 4.0 - 2.0;
        nb_tensor_set(t, (int64_t[]){i}, x);
    }
    return nb_var_new(t, grad);
}

static nb_optimizer *make_optimizer(int kind, nb_var **params, int n) {
    switch (kind) {
    case 0: return nb_sgd_new(params, n, nb_sgd_defaults(0.01)); /* the tutorial's */
    case 1:
        return nb_sgd_new(params, n,
                          (nb_sgd_options){.lr = 0.01, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
    case 2: return nb_adam_new(params, n, nb_adam_defaults(1e-3));
    default: {
        nb_adam_options o = nb_adam_defaults(1e-3);
        o.weight_decay = 0.05;
        return nb_adam_new(params, n, o);
    }
    }
}

static void test_big_params_match_scalar_updates(void) {
    static const int64_t probes[] = {0,
                                     1,
                                     15,
                                     16,
                                     17,
                                     NB_PARALLEL_GRAIN - 1,
                                     NB_PARALLEL_GRAIN,
                                     NB_PARALLEL_GRAIN + 1,
                                     BIG_N / 3,
                                     BIG_N / 3 + 1,
                                     2 * BIG_N / 3,
                                     2 * BIG_N / 3 + 1,
                                     BIG_N - 2,
                                     BIG_N - 1};
    const int nprobes = (int)(sizeof probes / sizeof probes[0]);
    const int saved_threads = nb_runtime_threads();
    for (int dt_i = 0; dt_i < 2; dt_i++) {
        const nb_dtype dt = dt_i ? NB_F64 : NB_F32;
        for (int kind = 0; kind < 4; kind++) {
            for (int threads = 1; threads <= 3; threads += 2) {
                nb_runtime_set_threads(threads);
                nb_var *big = big_var(dt, BIG_N, 7, true);
                CU_ASSERT_PTR_NOT_NULL_FATAL(big);
                nb_var *one[nprobes];
                nb_optimizer *opt_one[nprobes];
                for (int i = 0; i < nprobes; i++) {
                    one[i] = nb_var_new(nb_tensor_empty(dt, 1, (int64_t[]){1}), true);
                    CU_ASSERT_PTR_NOT_NULL_FATAL(one[i]);
                    nb_tensor_set(one[i]->value, (int64_t[]){0}, nb_tensor_get(big->value, (int64_t[]){probes[i]}));
                    opt_one[i] = make_optimizer(kind, &one[i], 1);
                    CU_ASSERT_PTR_NOT_NULL_FATAL(opt_one[i]);
                }
                nb_optimizer *opt = make_optimizer(kind, &big, 1);
                CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
                int mismatches = 0;
                for (int step = 0; step < 2; step++) {
                    nb_var *g = big_var(dt, BIG_N, 100 + (uint64_t)step, false);
                    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
                    nb_tensor_free(big->grad);
                    big->grad = nb_tensor_clone(g->value);
                    CU_ASSERT_EQUAL(nb_optimizer_step(opt), NB_OK);
                    for (int i = 0; i < nprobes; i++) {
                        nb_tensor_free(one[i]->grad);
                        one[i]->grad = nb_tensor_empty(dt, 1, (int64_t[]){1});
                        nb_tensor_set(one[i]->grad, (int64_t[]){0}, nb_tensor_get(g->value, (int64_t[]){probes[i]}));
                        CU_ASSERT_EQUAL(nb_optimizer_step(opt_one[i]), NB_OK);
                        double want = nb_tensor_get(one[i]->value, (int64_t[]){0});
                        double got = nb_tensor_get(big->value, (int64_t[]){probes[i]});
                        if (memcmp(&want, &got, sizeof want) != 0 && mismatches++ == 0)
                            fprintf(stderr,
                                    "\n  %s kind %d threads %d step %d element %" PRId64 ": %.17g, alone %.17g\n",
                                    dt == NB_F32 ? "f32" : "f64", kind, threads, step, probes[i], got, want);
                    }
                    nb_var_release(g);
                }
                CU_ASSERT_EQUAL(mismatches, 0);
                for (int i = 0; i < nprobes; i++) {
                    nb_optimizer_free(opt_one[i]);
                    nb_var_release(one[i]);
                }
                nb_optimizer_free(opt);
                nb_var_release(big);
            }
        }
    }
    nb_runtime_set_threads(saved_threads);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"SGD trajectories equal torch's bit for bit", test_sgd_torch},
        {"Adam trajectories equal torch's bit for bit", test_adam_torch},
        {"the fixture covers skipped params", test_fixture_covers_skips},
        {"SGD by hand: first-step buffer, dampening, nesterov", test_sgd_by_hand},
        {"Adam's first step is about lr * sign(g)", test_adam_first_step},
        {"params without grad are skipped; state is per param", test_skip_and_per_param_state},
        {"a failing step changes nothing", test_failed_step_changes_nothing},
        {"zero_grad zeroes and keeps grads", test_zero_grad},
        {"defaults are torch's", test_defaults},
        {"invalid options are rejected", test_invalid_options},
        {"invalid param lists are rejected", test_invalid_params},
        {"SGD drives an autograd loss to its minimum", test_with_autograd},
        {"big params, 1 and 3 threads: each element as if updated alone", test_big_params_match_scalar_updates},
    };
    int status = nb_test_run("optim", tests, sizeof tests / sizeof tests[0]);
    free(fx);
    return status;
}
