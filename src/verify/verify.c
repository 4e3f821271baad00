/* src/verify/verify.c — what `nabla verify` checks: the table of op-level gradient checks
 * (each op on random f64 inputs whose shapes include 1 and odd sizes, reduced to a scalar
 * by a fixed random projection so every output element counts), and the model-level checks
 * of every variant in f64 (finite differences) and f32 (against f64). */
#include "verify/verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/runtime.h"
#include "variants/custom_function.h"

/* ---- op-level checks ------------------------------------------------------------------ */

#define OP_MAX_INPUTS 3

typedef struct op_case {
    const char *name;
    int ninputs;
    int ndim[OP_MAX_INPUTS];
    int64_t shape[OP_MAX_INPUTS][NB_MAX_DIMS];
    bool no_grad[OP_MAX_INPUTS]; /* inputs checked without a gradient (none so far but data) */
    double kink;                 /* keep inputs at least 0.1 away from it (NAN: no kink) */
    nb_var *(*build)(nb_var *const *in);
    const nb_function *fn; /* when set, build applies it to in[0] */
} op_case;

static nb_var *op_mm(nb_var *const *in) { return nb_ag_mm(in[0], in[1]); }
static nb_var *op_mm_ta(nb_var *const *in) { return nb_ag_mm(nb_ag_t(in[0]), in[1]); }
static nb_var *op_mm_tb(nb_var *const *in) { return nb_ag_mm(in[0], nb_ag_t(in[1])); }
static nb_var *op_mm_tt(nb_var *const *in) { return nb_ag_mm(nb_ag_t(in[0]), nb_ag_t(in[1])); }
static nb_var *op_t(nb_var *const *in) { return nb_ag_t(in[0]); }
static nb_var *op_add(nb_var *const *in) { return nb_ag_add(in[0], in[1]); }
static nb_var *op_sub(nb_var *const *in) { return nb_ag_sub(in[0], in[1]); }
static nb_var *op_mul(nb_var *const *in) { return nb_ag_mul(in[0], in[1]); }
static nb_var *op_add_scalar(nb_var *const *in) { return nb_ag_add_scalar(in[0], 0.25); }
static nb_var *op_mul_scalar(nb_var *const *in) { return nb_ag_mul_scalar(in[0], 0.7); }
static nb_var *op_pow2(nb_var *const *in) { return nb_ag_pow(in[0], 2.0); }
static nb_var *op_pow3(nb_var *const *in) { return nb_ag_pow(in[0], 3.0); }
static nb_var *op_clamp(nb_var *const *in) { return nb_ag_clamp_min(in[0], 0.3); }
static nb_var *op_relu(nb_var *const *in) { return nb_ag_relu(in[0]); }
static nb_var *op_sum(nb_var *const *in) { return nb_ag_sum(in[0]); }
static nb_var *op_mean(nb_var *const *in) { return nb_ag_mean(in[0]); }
static nb_var *op_sum_dim0(nb_var *const *in) { return nb_ag_sum_dim(in[0], 0, false); }
static nb_var *op_sum_dim1_keep(nb_var *const *in) { return nb_ag_sum_dim(in[0], 1, true); }
static nb_var *op_mse_sum(nb_var *const *in) { return nb_ag_mse_loss(in[0], in[1], NB_REDUCTION_SUM); }
static nb_var *op_mse_mean(nb_var *const *in) { return nb_ag_mse_loss(in[0], in[1], NB_REDUCTION_MEAN); }
static nb_var *op_mse_none(nb_var *const *in) { return nb_ag_mse_loss(in[0], in[1], NB_REDUCTION_NONE); }
static nb_var *op_linear(nb_var *const *in) { return nb_ag_linear(in[0], in[1], in[2]); }
static nb_var *op_linear_nobias(nb_var *const *in) { return nb_ag_linear(in[0], in[1], NULL); }

/* a braced initialiser in a macro, kept on one line */
// clang-format off
#define S2(a, b) {a, b}
#define S1(a) {a}
// clang-format on
static const op_case op_cases[] = {
    {"mm (3,4)@(4,5)", 2, {2, 2}, {S2(3, 4), S2(4, 5)}, {0}, NAN, op_mm, NULL},
    {"mm (1,4)@(4,1)", 2, {2, 2}, {S2(1, 4), S2(4, 1)}, {0}, NAN, op_mm, NULL},
    {"mm a^T (4,3)^T@(4,5)", 2, {2, 2}, {S2(4, 3), S2(4, 5)}, {0}, NAN, op_mm_ta, NULL},
    {"mm b^T (3,4)@(5,4)^T", 2, {2, 2}, {S2(3, 4), S2(5, 4)}, {0}, NAN, op_mm_tb, NULL},
    {"mm a^T b^T (4,3)^T@(5,4)^T", 2, {2, 2}, {S2(4, 3), S2(5, 4)}, {0}, NAN, op_mm_tt, NULL},
    {"t (3,5)", 1, {2}, {S2(3, 5)}, {0}, NAN, op_t, NULL},
    {"add (3,5)+(3,5)", 2, {2, 2}, {S2(3, 5), S2(3, 5)}, {0}, NAN, op_add, NULL},
    {"add bias (4,5)+(5)", 2, {2, 1}, {S2(4, 5), S1(5)}, {0}, NAN, op_add, NULL},
    {"sub (3,1)-(1,4)", 2, {2, 2}, {S2(3, 1), S2(1, 4)}, {0}, NAN, op_sub, NULL},
    {"mul (2,3,4)*(3,1)", 2, {3, 2}, {{2, 3, 4}, S2(3, 1)}, {0}, NAN, op_mul, NULL},
    {"add_scalar (3,4)+0.25", 1, {2}, {S2(3, 4)}, {0}, NAN, op_add_scalar, NULL},
    {"mul_scalar (3,4)*0.7", 1, {2}, {S2(3, 4)}, {0}, NAN, op_mul_scalar, NULL},
    {"pow (3,4)^2", 1, {2}, {S2(3, 4)}, {0}, NAN, op_pow2, NULL},
    {"pow (1,7)^3", 1, {2}, {S2(1, 7)}, {0}, NAN, op_pow3, NULL},
    {"clamp_min (5,3) min=0.3", 1, {2}, {S2(5, 3)}, {0}, 0.3, op_clamp, NULL},
    {"relu (5,3)", 1, {2}, {S2(5, 3)}, {0}, 0.0, op_relu, NULL},
    {"sum (3,4)", 1, {2}, {S2(3, 4)}, {0}, NAN, op_sum, NULL},
    {"mean (5,3)", 1, {2}, {S2(5, 3)}, {0}, NAN, op_mean, NULL},
    {"sum_dim (4,3) dim=0", 1, {2}, {S2(4, 3)}, {0}, NAN, op_sum_dim0, NULL},
    {"sum_dim (4,3) dim=1 keepdim", 1, {2}, {S2(4, 3)}, {0}, NAN, op_sum_dim1_keep, NULL},
    {"mse_loss sum (4,3)", 2, {2, 2}, {S2(4, 3), S2(4, 3)}, {0}, NAN, op_mse_sum, NULL},
    {"mse_loss mean (4,3)", 2, {2, 2}, {S2(4, 3), S2(4, 3)}, {0}, NAN, op_mse_mean, NULL},
    {"mse_loss none (1,5)", 2, {2, 2}, {S2(1, 5), S2(1, 5)}, {0}, NAN, op_mse_none, NULL},
    {"linear x(5,4) w(3,4) b(3)", 3, {2, 2, 1}, {S2(5, 4), S2(3, 4), S1(3)}, {0}, NAN, op_linear, NULL},
    {"linear x(1,7) w(1,7) no bias", 2, {2, 2}, {S2(1, 7), S2(1, 7)}, {0}, NAN, op_linear_nobias, NULL},
    {"custom MyReLU (5,3)", 1, {2}, {S2(5, 3)}, {0}, 0.0, NULL, &nb_my_relu},
};

/* The state an op check evaluates: its inputs (leaves) and the fixed projection. */
typedef struct op_eval {
    const op_case *c;
    nb_var *in[OP_MAX_INPUTS];
    nb_tensor *projection; /* the output's shape, drawn once */
    nb_rng rng;
} op_eval;

static nb_var *op_build(const op_eval *ev) {
    if (ev->c->fn) return nb_function_apply(ev->c->fn, ev->in, 1);
    return ev->c->build(ev->in);
}

/* loss = sum(op(inputs) * projection). */
static nb_status op_eval_fn(void *opaque, bool want_grad, double *loss) {
    op_eval *ev = opaque;
    for (int i = 0; i < ev->c->ninputs; i++) nb_var_zero_grad(ev->in[i]);
    nb_scope *scope = nb_scope_begin();
    if (!scope) return nb_last_status();
    nb_status st = NB_OK;
    nb_var *out = op_build(ev);
    if (out && !ev->projection) {
        ev->projection = nb_tensor_randn(&ev->rng, NB_F64, out->value->ndim, out->value->shape);
        if (!ev->projection) st = nb_last_status();
    }
    nb_var *proj = st == NB_OK && out ? nb_var_new(nb_tensor_view(ev->projection), false) : NULL;
    nb_var *l = nb_ag_sum(nb_ag_mul(out, proj));
    if (st == NB_OK) st = l ? nb_tensor_item(l->value, loss) : nb_last_status();
    if (st == NB_OK && want_grad) st = nb_backward(l);
    nb_scope_end(scope);
    return st;
}

/* Random inputs in [-1, 1) (randn would put a few near a kink), pushed away from the kink. */
static nb_var *op_input(nb_rng *rng, int ndim, const int64_t *shape, double kink, bool requires_grad) {
    nb_tensor *t = nb_tensor_empty(NB_F64, ndim, shape);
    if (!t || nb_uniform_(t, rng, -1.0, 1.0) != NB_OK) {
        nb_tensor_free(t);
        return NULL;
    }
    double *p = nb_tensor_data(t);
    for (int64_t j = 0; !isnan(kink) && j < nb_tensor_numel(t); j++)
        if (fabs(p[j] - kink) < 0.1) p[j] = kink + (p[j] >= kink ? 0.1 : -0.1);
    nb_var *v = nb_var_new(t, requires_grad);
    if (v && requires_grad && !(v->grad = nb_tensor_zeros(NB_F64, ndim, shape))) {
        nb_var_release(v);
        return NULL;
    }
    return v;
}

static nb_status run_op_case(const op_case *c, const char *label, nb_row_sink *sink, void *ctx) {
    op_eval ev = {.c = c};
    nb_rng_seed(&ev.rng, 1234);
    nb_status st = NB_OK;
    nb_grad_entry entries[OP_MAX_INPUTS];
    static const char *const names[OP_MAX_INPUTS] = {"input 0", "input 1", "input 2"};
    for (int i = 0; i < c->ninputs && st == NB_OK; i++) {
        ev.in[i] = op_input(&ev.rng, c->ndim[i], c->shape[i], c->kink, !c->no_grad[i]);
        if (!ev.in[i])
            st = nb_last_status();
        else
            entries[i] = (nb_grad_entry){names[i], ev.in[i]->value, ev.in[i]->grad};
    }
    nb_check_row rows[NB_MAX_GRAD_ENTRIES];
    int nrows = 0;
    char what[96];
    snprintf(what, sizeof what, "op %s %s f64", c->name, label);
    if (st == NB_OK) st = nb_gradcheck(op_eval_fn, &ev, entries, c->ninputs, what, rows, &nrows);
    for (int r = 0; r < nrows; r++) sink(ctx, &rows[r]);
    for (int i = 0; i < c->ninputs; i++) nb_var_release(ev.in[i]);
    nb_tensor_free(ev.projection);
    return st;
}

nb_status nb_verify_ops(const char *label, nb_row_sink *sink, void *ctx) {
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++)
        NB_TRY(run_op_case(&op_cases[i], label, sink, ctx));
    return NB_OK;
}

nb_status nb_verify_function(const nb_function *fn, int ndim, const int64_t *shape, double kink, const char *label,
                             nb_row_sink *sink, void *ctx) {
    op_case c = {.name = fn->name, .ninputs = 1, .ndim = {ndim}, .kink = kink, .fn = fn};
    memcpy(c.shape[0], shape, (size_t)ndim * sizeof *shape);
    return run_op_case(&c, label, sink, ctx);
}

/* ---- model-level checks --------------------------------------------------------------------- */

/* Reduced workloads: odd sizes, and one with sizes of 1. */
static const int64_t model_dims[][4] = {{5, 7, 6, 3}, {1, 3, 8, 1}};

static nb_train_config model_config(const nb_variant *v, const int64_t *dims, nb_dtype dtype) {
    nb_train_config cfg;
    nb_train_config_default(&cfg);
    cfg.variant = v->name;
    cfg.dtype = dtype;
    cfg.seed = 7;
    cfg.batch = dims[0];
    cfg.d_in = dims[1];
    cfg.hidden = dims[2];
    cfg.d_out = dims[3];
    cfg.grad_check = true;
    return cfg;
}

typedef struct variant_eval {
    const nb_variant *v;
    void *state;
} variant_eval;

static nb_status variant_eval_fn(void *opaque, bool want_grad, double *loss) {
    variant_eval *ev = opaque;
    return ev->v->loss_and_grad(ev->state, want_grad, loss);
}

nb_status nb_verify_variant_f64(const nb_variant *v, const char *label, nb_row_sink *sink, void *ctx) {
    for (size_t d = 0; d < sizeof model_dims / sizeof model_dims[0]; d++) {
        nb_train_config cfg = model_config(v, model_dims[d], NB_F64);
        variant_eval ev = {.v = v};
        NB_TRY(v->create(&cfg, nb_variant_lr(v, &cfg), &ev.state));
        nb_grad_entry entries[NB_MAX_GRAD_ENTRIES];
        int n = v->grad_entries(ev.state, entries);
        nb_check_row rows[NB_MAX_GRAD_ENTRIES];
        int nrows = 0;
        char what[96];
        snprintf(what, sizeof what, "model %s %s f64 N%lld D%lld H%lld O%lld", v->name, label, (long long)cfg.batch,
                 (long long)cfg.d_in, (long long)cfg.hidden, (long long)cfg.d_out);
        nb_status st = nb_gradcheck(variant_eval_fn, &ev, entries, n, what, rows, &nrows);
        for (int r = 0; r < nrows; r++) sink(ctx, &rows[r]);
        v->destroy(ev.state);
        NB_TRY(st);
    }
    return NB_OK;
}

/* float32 gradients against float64 gradients at the same float32 values, elementwise
 * |g32 - g64| <= atol + rtol * |g64|. The kernels differ only in how they order and round the
 * k-sum, which each declares (nb_kernel.summation, kernels/gemm.h), so the tolerance is keyed
 * on that, not on the kernel's name: a new kernel gets the tolerance of the order it declares.
 * The tolerances were measured with `nabla verify --dtype f32 --models-only` over every
 * variant at model_dims[0] (largest errors in the comments) and set about ten times above
 * them. */
typedef struct f32_tolerance {
    double atol, rtol;
} f32_tolerance;

/* Indexed by nb_gemm_summation; NB_GEMM_SUM_UNDECLARED and NB_GEMM_SUM_DISPATCH have no row
 * (an undeclared kernel is an error, a dispatching one takes the loosest concrete row). */
static const f32_tolerance f32_tolerances[] = {
    [NB_GEMM_SUM_SEQUENTIAL] = {6e-5, 2e-4}, /* naive: measured max abs 5.7e-6, max rel 1.9e-5 */
    /* blocked, openmp: max over NABLA_ISA none / avx2 / avx512 (the SIMD micro-kernels sum
     * with FMA): max abs 9.6e-6 (avx2, avx512; 5.7e-6 none), max rel 1.9e-5 (none; 5.3e-6
     * avx2, avx512) */
    [NB_GEMM_SUM_BLOCKED_FMA] = {1e-4, 2e-4},
    [NB_GEMM_SUM_LIBRARY] = {1e-4, 1e-4}, /* blas: measured max abs 9.6e-6, max rel 5.3e-6 */
    [NB_GEMM_SUM_DISPATCH] = {0, 0},      /* never read: see f32_tolerance_of */
};
_Static_assert(sizeof f32_tolerances / sizeof f32_tolerances[0] == NB_GEMM_SUM_COUNT,
               "one f32 tolerance per nb_gemm_summation");

static f32_tolerance f32_tolerance_of(const nb_kernel *kernel) {
    nb_gemm_summation sum = kernel->summation;
    NB_ASSERT(sum > NB_GEMM_SUM_UNDECLARED && sum < NB_GEMM_SUM_COUNT);
    if (sum != NB_GEMM_SUM_DISPATCH) {
        NB_ASSERT(f32_tolerances[sum].rtol > 0); /* a summation added without a row */
        return f32_tolerances[sum];
    }
    /* auto: each product is rounded by one of the registry's kernels, so the loosest of theirs */
    f32_tolerance loosest = {0, 0};
    for (int i = 0; i < nb_kernel_count(); i++) {
        NB_ASSERT(nb_kernel_at(i)->summation != NB_GEMM_SUM_DISPATCH); /* the rows are concrete */
        f32_tolerance t = f32_tolerance_of(nb_kernel_at(i));
        loosest.atol = fmax(loosest.atol, t.atol);
        loosest.rtol = fmax(loosest.rtol, t.rtol);
    }
    return loosest;
}

nb_status nb_verify_variant_f32(const nb_variant *v, const char *label, nb_row_sink *sink, void *ctx) {
    const int64_t *dims = model_dims[0];
    nb_train_config c32 = model_config(v, dims, NB_F32), c64 = model_config(v, dims, NB_F64);
    void *s32 = NULL, *s64 = NULL;
    NB_TRY(v->create(&c32, nb_variant_lr(v, &c32), &s32));
    nb_status st = v->create(&c64, nb_variant_lr(v, &c64), &s64);
    nb_grad_entry e32[NB_MAX_GRAD_ENTRIES], e64[NB_MAX_GRAD_ENTRIES];
    int n = 0;
    if (st == NB_OK) {
        n = v->grad_entries(s32, e32);
        NB_ASSERT(n == v->grad_entries(s64, e64));
        /* the f64 model takes the f32 model's values, so both see the same numbers */
        for (int i = 0; i < n && st == NB_OK; i++) {
            nb_tensor *widened = nb_tensor_to_dtype(e32[i].value, NB_F64);
            st = widened ? nb_copy_(e64[i].value, widened) : nb_last_status();
            nb_tensor_free(widened);
        }
    }
    double l32, l64;
    if (st == NB_OK) st = v->loss_and_grad(s32, true, &l32);
    if (st == NB_OK) st = v->loss_and_grad(s64, true, &l64);
    for (int i = 0; i < n && st == NB_OK; i++) {
        if (!e32[i].grad) continue;
        char what[128];
        snprintf(what, sizeof what, "model %s %s f32~f64 %s", v->name, label, e32[i].name);
        nb_check_row row;
        f32_tolerance tol = f32_tolerance_of(nb_runtime_kernel());
        nb_compare_tensors(e32[i].grad, e64[i].grad, tol.atol, tol.rtol, what, &row);
        sink(ctx, &row);
    }
    v->destroy(s32);
    if (s64) v->destroy(s64);
    return st;
}
