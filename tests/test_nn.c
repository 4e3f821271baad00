/* tests/test_nn.c — CUnit suite for src/nn: nn.Linear's initialisation against the draws
 * PyTorch recorded in tests/data/nn_optim_torch.txt (reference/nn_optim_fixture.py), bit for
 * bit; Linear, ReLU and Sequential forward/backward on hand-checkable values; parameter order,
 * zero_grad, ownership of forward's results, and the error paths. */
#include "nn/nn.h"

#include <CUnit/CUnit.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifndef NABLA_TEST_DATA_DIR
#error "NABLA_TEST_DATA_DIR must point at tests/data (tests/CMakeLists.txt sets it)"
#endif
#define FIXTURE_PATH NABLA_TEST_DATA_DIR "/nn_optim_torch.txt"

/* ---------------------------------------------------------------------------------------
 * The fixture's linear_case blocks (format at the top of reference/nn_optim_fixture.py),
 * replayed while they are read: each line is one draw or one layer. Other blocks belong to
 * test_optim.c and are skipped.
 * ------------------------------------------------------------------------------------- */

enum { EDGE_MAX = 32 };

/* `<ndim> <shape...> <fnv1a64> <nhead> <hex>... <ntail> <hex>...` */
typedef struct {
    int ndim;
    int64_t shape[4];
    uint64_t hash;
    size_t nhead, ntail;
    uint64_t head[EDGE_MAX], tail[EDGE_MAX];
} fx_record;

static bool parse_record(nb_test_fixture *rd, nb_dtype dt, fx_record *r) {
    int64_t ndim;
    memset(r, 0, sizeof *r);
    if (!nb_test_parse_i64(nb_test_fixture_token(rd), 1, 4, &ndim)) return false;
    r->ndim = (int)ndim;
    for (int d = 0; d < r->ndim; d++)
        if (!nb_test_parse_i64(nb_test_fixture_token(rd), 1, INT64_MAX, &r->shape[d])) return false;
    if (!nb_test_parse_u64(nb_test_fixture_token(rd), 16, &r->hash)) return false;
    size_t digits = dt == NB_F32 ? 8 : 16;
    return nb_test_fixture_bits(rd, EDGE_MAX, digits, r->head, &r->nhead) &&
           nb_test_fixture_bits(rd, EDGE_MAX, digits, r->tail, &r->ntail) && nb_test_fixture_token(rd) == NULL;
}

/* The fixture's hash of a whole tensor. */
static uint64_t fnv1a64(const nb_tensor *t) {
    uint64_t h = NB_TEST_FNV1A64_BASIS;
    size_t n = (size_t)nb_tensor_numel(t), width = nb_dtype_size(t->dtype);
    for (size_t k = 0; k < n; k++) h = nb_test_fnv1a64_add(h, nb_test_element_bits(nb_tensor_data(t), width, k), width);
    return h;
}

/* Compares t with a record; reports the first difference under `label`. */
static bool check_record(const nb_tensor *t, const fx_record *r, const char *label, int line) {
    if (!t) {
        FAILF("line %d %s: no tensor (%s)", line, label, nb_last_error());
        return false;
    }
    if (t->ndim != r->ndim || memcmp(t->shape, r->shape, (size_t)r->ndim * sizeof r->shape[0])) {
        char d[64];
        FAILF("line %d %s: shape %s differs from torch's", line, label, nb_tensor_describe(t, d, sizeof d));
        return false;
    }
    size_t n = (size_t)nb_tensor_numel(t);
    int digits = t->dtype == NB_F32 ? 8 : 16;
    for (size_t i = 0; i < r->nhead + r->ntail; i++) {
        size_t k = i < r->nhead ? i : n - r->ntail + (i - r->nhead);
        uint64_t want = i < r->nhead ? r->head[i] : r->tail[i - r->nhead];
        uint64_t got = nb_test_element_bits(nb_tensor_data(t), nb_dtype_size(t->dtype), k);
        if (got != want) {
            FAILF("line %d %s: element %zu is %0*" PRIx64 ", torch drew %0*" PRIx64, line, label, k, digits, got,
                  digits, want);
            return false;
        }
    }
    uint64_t h = fnv1a64(t);
    if (h != r->hash) {
        FAILF("line %d %s: hash %016" PRIx64 " differs from torch's %016" PRIx64, line, label, h, r->hash);
        return false;
    }
    return true;
}

enum { MAX_LAYERS = 8 };

typedef struct {
    char name[64];
    nb_dtype dtype;
    nb_rng rng;
    nb_module *layers[MAX_LAYERS];
    bool has_bias[MAX_LAYERS];
    int nlayers;
    int checked; /* records compared */
} replay_case;

/* After a case: the layers chained into Sequential(l0, ReLU, l1, ...) list their params in
 * torch's model.parameters() order (each layer's weight, then its bias); then free. */
static void finish_case(replay_case *c) {
    nb_var *expect[2 * MAX_LAYERS];
    int nexpect = 0;
    nb_module *mods[2 * MAX_LAYERS];
    int nmods = 0;
    for (int i = 0; i < c->nlayers; i++) {
        expect[nexpect++] = nb_linear_weight(c->layers[i]);
        if (c->has_bias[i]) expect[nexpect++] = nb_linear_bias(c->layers[i]);
        if (i > 0) mods[nmods++] = nb_relu_new();
        mods[nmods++] = c->layers[i];
    }
    if (nmods == 0) return;
    nb_module *seq = nb_sequential_new(mods, nmods);
    CU_ASSERT_PTR_NOT_NULL_FATAL(seq);
    nb_param_list list = {0};
    CU_ASSERT_EQUAL(nb_module_parameters(seq, &list), NB_OK);
    CU_ASSERT_EQUAL(list.count, nexpect);
    for (int i = 0; i < nexpect && i < list.count; i++) CU_ASSERT_PTR_EQUAL(list.items[i], expect[i]);
    nb_param_list_free(&list);
    nb_module_free(seq);
    c->nlayers = 0;
}

/* Replays every linear_case of the fixture; returns the number of cases run, -1 when a line
 * cannot be read. FAILF reports each problem at its fixture line. */
static int replay_linear_cases(nb_test_fixture *rd) {
    replay_case c = {0};
    bool in_case = false, skip = false;
    int ncases = 0;
    nb_module *pending = NULL; /* the last layer, whose weight/bias lines follow */
    for (const char *word; (word = nb_test_fixture_next(rd));) {
        if (strcmp(word, "end") == 0) {
            if (in_case) {
                finish_case(&c);
                ncases++;
            }
            in_case = skip = false;
            pending = NULL;
            continue;
        }
        if (skip) continue;
        if (strcmp(word, "stream") == 0 || strcmp(word, "optim_case") == 0) {
            skip = true;
            continue;
        }
        if (strcmp(word, "linear_case") == 0) {
            const char *name = nb_test_fixture_token(rd);
            const char *dt = nb_test_fixture_token(rd);
            const char *seed = nb_test_fixture_token(rd);
            if (!name || !dt || !seed || (strcmp(dt, "f32") && strcmp(dt, "f64"))) {
                FAILF("%s:%d: bad linear_case line", rd->path, rd->line);
                goto fail;
            }
            memset(&c, 0, sizeof c);
            snprintf(c.name, sizeof c.name, "%s", name);
            c.dtype = strcmp(dt, "f32") == 0 ? NB_F32 : NB_F64;
            nb_rng_seed(&c.rng, strtoull(seed, NULL, 10)); /* torch.manual_seed(seed) */
            in_case = true;
            continue;
        }
        if (!in_case) {
            FAILF("%s:%d: '%s' outside a block", rd->path, rd->line, word);
            goto fail;
        }
        char label[128];
        snprintf(label, sizeof label, "%s %s", c.name, word);
        fx_record r;
        if (strcmp(word, "randn") == 0) {
            if (!parse_record(rd, c.dtype, &r)) {
                FAILF("%s:%d: bad randn line", rd->path, rd->line);
                goto fail;
            }
            nb_tensor *t = nb_tensor_randn(&c.rng, c.dtype, r.ndim, r.shape);
            c.checked += check_record(t, &r, label, rd->line);
            nb_tensor_free(t);
        } else if (strcmp(word, "linear") == 0) {
            const char *in = nb_test_fixture_token(rd);
            const char *out = nb_test_fixture_token(rd);
            const char *bias = nb_test_fixture_token(rd);
            if (!in || !out || !bias || c.nlayers == MAX_LAYERS) {
                FAILF("%s:%d: bad linear line", rd->path, rd->line);
                goto fail;
            }
            bool b = strcmp(bias, "1") == 0;
            pending = nb_linear_new(atoll(in), atoll(out), b, c.dtype, &c.rng);
            if (!pending) {
                FAILF("%s:%d: nb_linear_new failed: %s", rd->path, rd->line, nb_last_error());
                goto fail;
            }
            c.has_bias[c.nlayers] = b;
            c.layers[c.nlayers++] = pending;
        } else if (strcmp(word, "weight") == 0 || strcmp(word, "bias") == 0) {
            if (!pending || !parse_record(rd, c.dtype, &r)) {
                FAILF("%s:%d: bad %s line", rd->path, rd->line, word);
                goto fail;
            }
            nb_var *v = word[0] == 'w' ? nb_linear_weight(pending) : nb_linear_bias(pending);
            c.checked += check_record(v ? v->value : NULL, &r, label, rd->line);
        } else {
            FAILF("%s:%d: unexpected line '%s'", rd->path, rd->line, word);
            goto fail;
        }
    }
    if (in_case) {
        FAILF("%s: last block has no 'end'", rd->path);
        finish_case(&c);
    }
    return ncases;
fail:
    for (int i = 0; i < c.nlayers; i++) nb_module_free(c.layers[i]);
    return -1;
}

/* ---- helpers --------------------------------------------------------------------------- */

static nb_tensor *tensor2(nb_dtype dt, int64_t r, int64_t c, const double *values) {
    nb_tensor *t = nb_tensor_from_data(NB_F64, 2, (int64_t[]){r, c}, values);
    nb_tensor *out = t ? nb_tensor_to_dtype(t, dt) : NULL;
    nb_tensor_free(t);
    return out;
}

/* Copies exact values into a param (in whatever dtype it has). */
static void set_values(nb_var *v, const double *values) {
    int64_t n = nb_tensor_numel(v->value);
    for (int64_t k = 0; k < n; k++) {
        if (v->value->dtype == NB_F32)
            ((float *)nb_tensor_data(v->value))[k] = (float)values[k];
        else
            ((double *)nb_tensor_data(v->value))[k] = values[k];
    }
}

/* Every element of t equals expect (row-major), exactly: all test values are binary-exact. */
static void expect_values(const nb_tensor *t, const double *expect, int64_t n, const char *what) {
    if (!t) {
        FAILF("%s: missing (%s)", what, nb_last_error());
        return;
    }
    CU_ASSERT_EQUAL(nb_tensor_numel(t), n);
    nb_tensor *d = nb_tensor_to_dtype(t, NB_F64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    const double *v = nb_tensor_data(d);
    for (int64_t k = 0; k < n && k < nb_tensor_numel(t); k++)
        if (v[k] != expect[k]) FAILF("%s[%lld] is %g, expected %g", what, (long long)k, v[k], expect[k]);
    nb_tensor_free(d);
}

/* loss = sum(out * c): d loss / d out = c, so the backward is driven by a chosen dout. The
 * vars made here belong to a scope of their own, whoever owns `out`. */
static nb_status backward_weighted(nb_var *out, const double *c, nb_dtype dt) {
    nb_scope *scope = nb_scope_begin();
    nb_var *cv = nb_var_new(tensor2(dt, out->value->shape[0], out->value->shape[1], c), false);
    nb_var *loss = nb_ag_sum(nb_ag_mul(out, cv));
    nb_status st = loss ? nb_backward(loss) : nb_last_status();
    nb_scope_end(scope);
    return st;
}

static const double W1[] = {1, -2, 0.5, 0, 3, -1}; /* (2, 3) */
static const double B1[] = {0.25, -1};
static const double X[] = {1, 2, 3, -1, 0.5, 2}; /* (2, 3) */

/* ---- tests ------------------------------------------------------------------------------ */

static void test_linear_init_torch(void) {
    char error[400];
    nb_test_fixture rd;
    if (!nb_test_fixture_open(&rd, FIXTURE_PATH, "nabla-nn-optim", "reference/nn_optim_fixture.py", error,
                              sizeof error)) {
        FAILF("%s", error);
        return;
    }
    int ncases = replay_linear_cases(&rd);
    nb_test_fixture_close(&rd);
    /* tutorial and small, in f32 and f64 */
    CU_ASSERT_EQUAL(ncases, 4);
}

/* rng NULL draws from the process-wide generator, the way nn.Linear draws from torch's. */
static void test_linear_default_generator(void) {
    nb_rng mine;
    nb_rng_seed(&mine, 7);
    nb_rng_seed(nb_rng_default(), 7);
    nb_module *a = nb_linear_new(3, 2, true, NB_F32, &mine);
    nb_module *b = nb_linear_new(3, 2, true, NB_F32, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(nb_linear_weight(a)->value), nb_tensor_data(nb_linear_weight(b)->value),
                           6 * sizeof(float)),
                    0);
    CU_ASSERT_EQUAL(
        memcmp(nb_tensor_data(nb_linear_bias(a)->value), nb_tensor_data(nb_linear_bias(b)->value), 2 * sizeof(float)),
        0);
    /* Parameters are leaves that require grad, named for messages. */
    nb_var *w = nb_linear_weight(a);
    CU_ASSERT_TRUE(w->requires_grad && nb_var_is_leaf(w) && w->grad == NULL);
    CU_ASSERT_STRING_EQUAL(w->name, "weight");
    CU_ASSERT_EQUAL(w->value->shape[0], 2);
    CU_ASSERT_EQUAL(w->value->shape[1], 3);
    nb_module_free(a);
    nb_module_free(b);
}

/* y = x W^T + b with W (2, 3), x (2, 3); loss = sum(y * c), c = [[1, 2], [3, 4]]:
 *   y   = [[-1.25, 2], [-0.75, -1.5]]
 *   dW = c^T x = [[-2, 3.5, 9], [-2, 6, 14]], db = [4, 6]
 *   dx = c W = [[1, 4, -1.5], [3, 6, -2.5]] */
static void test_linear_forward_backward(void) {
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        nb_module *lin = nb_linear_new(3, 2, true, dtype, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(lin);
        set_values(nb_linear_weight(lin), W1);
        set_values(nb_linear_bias(lin), B1);
        nb_var *x = nb_var_new(tensor2(dtype, 2, 3, X), true);
        nb_var *y = nb_module_forward(lin, x);
        CU_ASSERT_PTR_NOT_NULL_FATAL(y);
        CU_ASSERT_EQUAL(y->value->dtype, dtype);
        expect_values(y->value, (double[]){-1.25, 2, -0.75, -1.5}, 4, "linear y");
        CU_ASSERT_EQUAL(backward_weighted(y, (double[]){1, 2, 3, 4}, dtype), NB_OK);
        expect_values(nb_linear_weight(lin)->grad, (double[]){-2, 3.5, 9, -2, 6, 14}, 6, "dW");
        expect_values(nb_linear_bias(lin)->grad, (double[]){4, 6}, 2, "db");
        expect_values(x->grad, (double[]){1, 4, -1.5, 3, 6, -2.5}, 6, "dx");
        nb_var_release(y);
        nb_var_release(x);
        nb_module_free(lin);
    }
}

static void test_linear_without_bias(void) {
    nb_module *lin = nb_linear_new(3, 2, false, NB_F64, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lin);
    nb_clear_error();
    CU_ASSERT_PTR_NULL(nb_linear_bias(lin)); /* no bias is not an error */
    CU_ASSERT_EQUAL(nb_last_status(), NB_OK);
    set_values(nb_linear_weight(lin), W1);
    nb_var *x = nb_var_new(tensor2(NB_F64, 2, 3, X), false);
    nb_var *y = nb_module_forward(lin, x);
    expect_values(y ? y->value : NULL, (double[]){-1.5, 3, -1, -0.5}, 4, "y without bias");
    nb_param_list list = {0};
    CU_ASSERT_EQUAL(nb_module_parameters(lin, &list), NB_OK);
    CU_ASSERT_EQUAL(list.count, 1);
    nb_param_list_free(&list);
    nb_var_release(y);
    nb_var_release(x);
    nb_module_free(lin);
}

static void test_relu_module(void) {
    nb_module *relu = nb_relu_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(relu);
    nb_var *x = nb_var_new(tensor2(NB_F32, 1, 4, (double[]){-2, 0.5, -0.25, 3}), true);
    nb_var *y = nb_module_forward(relu, x);
    expect_values(y ? y->value : NULL, (double[]){0, 0.5, 0, 3}, 4, "relu");
    CU_ASSERT_EQUAL(backward_weighted(y, (double[]){1, 2, 3, 4}, NB_F32), NB_OK);
    expect_values(x->grad, (double[]){0, 2, 0, 4}, 4, "relu dx");
    nb_param_list list = {0};
    CU_ASSERT_EQUAL(nb_module_parameters(relu, &list), NB_OK);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_EQUAL(nb_module_zero_grad(relu), NB_OK);
    nb_param_list_free(&list);
    nb_var_release(y);
    nb_var_release(x);
    nb_module_free(relu);
}

/* Sequential(Linear(3, 2), ReLU(), Linear(2, 1)) on x (2, 3); loss = sum(out * [3, -2]):
 *   h = [[-1.25, 2], [-0.75, -1.5]], r = relu(h) = [[0, 2], [0, 0]]
 *   out = r [2, -0.5]^T + 0.5 = [-0.5, 0.5]
 *   dW2 = [0, 6], db2 = [1]; dr = [[6, -1.5], [-4, 1]]; dh = dr * (h > 0) = [[0, -1.5], [0, 0]]
 *   dW1 = dh^T x = [[0, 0, 0], [-1.5, -3, -4.5]], db1 = [0, -1.5]
 *   dx = dh W1 = [[0, -4.5, 1.5], [0, 0, 0]] */
static nb_module *small_net(nb_dtype dt) {
    nb_module *l1 = nb_linear_new(3, 2, true, dt, NULL);
    nb_module *l2 = nb_linear_new(2, 1, true, dt, NULL);
    if (l1) {
        set_values(nb_linear_weight(l1), W1);
        set_values(nb_linear_bias(l1), B1);
    }
    if (l2) {
        set_values(nb_linear_weight(l2), (double[]){2, -0.5});
        set_values(nb_linear_bias(l2), (double[]){0.5});
    }
    return nb_sequential_new((nb_module *[]){l1, nb_relu_new(), l2}, 3);
}

static void check_small_net_grads(nb_param_list *p, nb_var *x) {
    expect_values(p->items[0]->grad, (double[]){0, 0, 0, -1.5, -3, -4.5}, 6, "dW1");
    expect_values(p->items[1]->grad, (double[]){0, -1.5}, 2, "db1");
    expect_values(p->items[2]->grad, (double[]){0, 6}, 2, "dW2");
    expect_values(p->items[3]->grad, (double[]){1}, 1, "db2");
    expect_values(x->grad, (double[]){0, -4.5, 1.5, 0, 0, 0}, 6, "dx");
}

static void test_sequential_forward_backward(void) {
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        nb_module *net = small_net(dtype);
        CU_ASSERT_PTR_NOT_NULL_FATAL(net);
        nb_param_list p = {0};
        CU_ASSERT_EQUAL(nb_module_parameters(net, &p), NB_OK);
        CU_ASSERT_EQUAL_FATAL(p.count, 4);
        /* No scope open: the caller owns the result; the intermediates live in its graph. */
        nb_var *x = nb_var_new(tensor2(dtype, 2, 3, X), true);
        nb_var *out = nb_module_forward(net, x);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        CU_ASSERT_EQUAL(out->refcount, 1);
        expect_values(out->value, (double[]){-0.5, 0.5}, 2, "sequential out");
        CU_ASSERT_EQUAL(backward_weighted(out, (double[]){3, -2}, dtype), NB_OK);
        check_small_net_grads(&p, x);
        nb_var_release(out);
        CU_ASSERT_EQUAL(x->refcount, 1); /* the whole graph went with out */

        /* In a scope: the scope owns the result, and backward again accumulates. */
        nb_scope *scope = nb_scope_begin();
        out = nb_module_forward(net, x);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        CU_ASSERT_EQUAL(backward_weighted(out, (double[]){3, -2}, dtype), NB_OK);
        nb_scope_end(scope);
        CU_ASSERT_EQUAL(x->refcount, 1);
        expect_values(p.items[2]->grad, (double[]){0, 12}, 2, "dW2 accumulated");

        /* model.zero_grad(): every grad zeroed and kept. */
        CU_ASSERT_EQUAL(nb_module_zero_grad(net), NB_OK);
        for (int i = 0; i < p.count; i++) {
            CU_ASSERT_PTR_NOT_NULL(p.items[i]->grad);
            CU_ASSERT_TRUE(nb_tensor_all_finite(p.items[i]->grad));
            nb_tensor *s = nb_sum(p.items[i]->grad);
            double v = -1;
            nb_tensor_item(s, &v);
            CU_ASSERT_EQUAL(v, 0.0);
            nb_tensor_free(s);
        }
        nb_var_release(x);
        nb_param_list_free(&p);
        nb_module_free(net);
    }
}

/* Parameters in registration order through nesting: Sequential(Sequential(a, ReLU), b, c). */
static void test_parameter_order(void) {
    nb_module *a = nb_linear_new(4, 3, true, NB_F32, NULL);
    nb_module *b = nb_linear_new(3, 2, false, NB_F32, NULL);
    nb_module *c = nb_linear_new(2, 1, true, NB_F32, NULL);
    nb_var *expect[] = {nb_linear_weight(a), nb_linear_bias(a), nb_linear_weight(b), nb_linear_weight(c),
                        nb_linear_bias(c)};
    nb_module *inner = nb_sequential_new((nb_module *[]){a, nb_relu_new()}, 2);
    nb_module *outer = nb_sequential_new((nb_module *[]){inner, b, c}, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(outer);
    nb_param_list list = {0};
    nb_var *sentinel = expect[0];
    CU_ASSERT_EQUAL(nb_param_list_push(&list, sentinel), NB_OK); /* parameters appends */
    CU_ASSERT_EQUAL(nb_module_parameters(outer, &list), NB_OK);
    CU_ASSERT_EQUAL_FATAL(list.count, 6);
    for (int i = 0; i < 5; i++) CU_ASSERT_PTR_EQUAL(list.items[i + 1], expect[i]);
    nb_param_list_free(&list);
    CU_ASSERT_PTR_NULL(list.items);
    CU_ASSERT_EQUAL(list.count, 0);
    nb_param_list_free(&list); /* twice is fine */
    /* A forward through the nest: x (5, 4) -> (5, 1). */
    nb_var *x = nb_var_new(nb_tensor_ones(NB_F32, 2, (int64_t[]){5, 4}), false);
    nb_var *y = nb_module_forward(outer, x);
    CU_ASSERT_PTR_NOT_NULL(y);
    if (y) CU_ASSERT_TRUE(y->value->shape[0] == 5 && y->value->shape[1] == 1);
    nb_var_release(y);
    nb_var_release(x);
    nb_module_free(outer);
}

static void test_param_list_growth(void) {
    nb_var *vars[100];
    nb_param_list list = {0};
    for (int i = 0; i < 100; i++) {
        vars[i] = nb_var_new(nb_tensor_scalar(NB_F64, i), true);
        CU_ASSERT_EQUAL(nb_param_list_push(&list, vars[i]), NB_OK);
    }
    CU_ASSERT_EQUAL(list.count, 100);
    CU_ASSERT_TRUE(list.capacity >= 100);
    for (int i = 0; i < 100; i++) CU_ASSERT_PTR_EQUAL(list.items[i], vars[i]);
    CU_ASSERT_EQUAL(nb_param_list_push(&list, NULL), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_param_list_push(NULL, vars[0]), NB_ERR_ARG);
    CU_ASSERT_EQUAL(list.count, 100);
    nb_param_list_free(&list);
    nb_param_list_free(NULL);
    for (int i = 0; i < 100; i++) nb_var_release(vars[i]);
}

static void test_zero_grad_before_backward(void) {
    nb_module *net = small_net(NB_F64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(net);
    CU_ASSERT_EQUAL(nb_module_zero_grad(net), NB_OK);
    nb_param_list p = {0};
    CU_ASSERT_EQUAL(nb_module_parameters(net, &p), NB_OK);
    for (int i = 0; i < p.count; i++) CU_ASSERT_PTR_NULL(p.items[i]->grad); /* none made */
    nb_param_list_free(&p);
    CU_ASSERT_EQUAL(nb_module_zero_grad(NULL), NB_ERR_ARG);
    nb_module_free(net);
}

static void test_errors(void) {
    /* sizes */
    const int64_t bad[][2] = {{0, 3}, {3, 0}, {-1, 2}, {2, -5}, {INT64_MAX, 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nb_clear_error();
        nb_module *m = nb_linear_new(bad[i][0], bad[i][1], true, NB_F32, NULL);
        CU_ASSERT_PTR_NULL(m);
        nb_module_free(m);
        CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_ARG);
    }
    nb_linear_new(0, 3, true, NB_F32, NULL);
    CU_ASSERT_TRUE(nb_test_error_mentions("in_features and out_features must be >= 1, got 0 and 3"));
    CU_ASSERT_PTR_NULL(nb_linear_new(2, 2, true, (nb_dtype)7, NULL));
    CU_ASSERT_TRUE(nb_test_error_mentions("dtype"));

    /* forward: NULL module, NULL input (propagates, keeps the earlier message), bad shape */
    nb_module *lin = nb_linear_new(3, 2, true, NB_F32, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lin);
    nb_var *x4 = nb_var_new(nb_tensor_zeros(NB_F32, 2, (int64_t[]){2, 4}), false);
    CU_ASSERT_PTR_NULL(nb_module_forward(NULL, x4));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_ARG);
    nb_error(NB_ERR_SHAPE, "an earlier op failed");
    CU_ASSERT_PTR_NULL(nb_module_forward(lin, NULL));
    CU_ASSERT_TRUE(nb_test_error_mentions("an earlier op failed"));
    CU_ASSERT_PTR_NULL(nb_module_forward(lin, x4));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_SHAPE);
    CU_ASSERT_TRUE(nb_test_error_mentions("linear"));

    /* a Sequential failing in the middle returns NULL and leaks nothing (valgrind) */
    nb_module *mismatched = nb_sequential_new((nb_module *[]){nb_linear_new(4, 3, true, NB_F32, NULL), nb_relu_new(),
                                                              nb_linear_new(5, 1, true, NB_F32, NULL), nb_relu_new()},
                                              4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mismatched);
    CU_ASSERT_PTR_NULL(nb_module_forward(mismatched, x4));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_SHAPE);
    CU_ASSERT_EQUAL(x4->refcount, 1);
    nb_module *fails_last =
        nb_sequential_new((nb_module *[]){nb_relu_new(), nb_linear_new(3, 1, true, NB_F32, NULL)}, 2);
    CU_ASSERT_PTR_NULL(nb_module_forward(fails_last, x4));
    CU_ASSERT_EQUAL(x4->refcount, 1);
    nb_module_free(fails_last);
    nb_module_free(mismatched);

    /* Sequential construction: NULL member (message keeps the constructor's), empty, repeats */
    nb_module *s = nb_sequential_new((nb_module *[]){nb_relu_new(), nb_linear_new(0, 1, true, NB_F32, NULL)}, 2);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_TRUE(nb_test_error_mentions("module 1 is NULL"));
    CU_ASSERT_TRUE(nb_test_error_mentions("in_features"));
    CU_ASSERT_PTR_NULL(nb_sequential_new((nb_module *[]){NULL}, 0));
    CU_ASSERT_TRUE(nb_test_error_mentions("at least one module"));
    CU_ASSERT_PTR_NULL(nb_sequential_new(NULL, 2));
    nb_module *relu = nb_relu_new();
    CU_ASSERT_PTR_NULL(nb_sequential_new((nb_module *[]){relu, relu}, 2)); /* frees it once */
    CU_ASSERT_TRUE(nb_test_error_mentions("same module"));

    /* accessors and list arguments */
    relu = nb_relu_new();
    CU_ASSERT_PTR_NULL(nb_linear_weight(relu));
    CU_ASSERT_TRUE(nb_test_error_mentions("ReLU, not a Linear"));
    CU_ASSERT_PTR_NULL(nb_linear_bias(NULL));
    CU_ASSERT_EQUAL(nb_module_parameters(lin, NULL), NB_ERR_ARG);
    nb_param_list list = {0};
    CU_ASSERT_EQUAL(nb_module_parameters(NULL, &list), NB_ERR_ARG);
    nb_module_free(relu);
    nb_module_free(NULL);
    nb_var_release(x4);
    nb_module_free(lin);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"Linear init equals torch's bit for bit", test_linear_init_torch},
        {"Linear with no generator uses the default one", test_linear_default_generator},
        {"Linear forward and backward by hand", test_linear_forward_backward},
        {"Linear without bias", test_linear_without_bias},
        {"ReLU module", test_relu_module},
        {"Sequential forward, backward, ownership, zero_grad", test_sequential_forward_backward},
        {"parameters in registration order", test_parameter_order},
        {"param list growth", test_param_list_growth},
        {"zero_grad before any backward", test_zero_grad_before_backward},
        {"error paths", test_errors},
    };
    return nb_test_run("nn", tests, sizeof tests / sizeof tests[0]);
}
