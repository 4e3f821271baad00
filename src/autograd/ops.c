/* src/autograd/ops.c — the differentiable ops: each forward computes its value with the
 * tensor layer and records a node; each backward adds (+=) its inputs' gradients into the
 * targets the engine hands it, using the transpose flags of mm instead of copies. Gradients
 * follow PyTorch's formulas, in its order of operations where that decides the bits. */
#include <math.h>

#include "autograd/autograd_impl.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* A scratch tensor with t's dtype and shape. */
static nb_tensor *empty_like(const nb_tensor *t) { return nb_tensor_empty(t->dtype, t->ndim, t->shape); }

/* d gets the gradient `g` (already in the input's shape or broadcasting to it), as d's mode
 * says. A SET target of g's shape is a copy; anything else adds into zeros or gradients. */
static nb_status accumulate(nb_grad_target *d, const nb_tensor *g) {
    if (!d->t) return NB_OK;
    if (d->mode == NB_GRAD_SET && nb_tensor_same_shape(d->t, g)) return nb_copy_(d->t, g);
    NB_TRY(nb_grad_target_to_add(d));
    return nb_add_sum_to_(d->t, g, 1.0);
}

/* Whether the op may write its gradient straight into d (no temporary, no add pass): a SET
 * target, which is uninitialised. (ZERO targets get 0 + g, which only a GEMM may skip.) */
static bool writes(const nb_grad_target *d) { return d->t && d->mode == NB_GRAD_SET; }

/* The beta of a GEMM producing d's gradient: 0 writes it (SET; ZERO, since a GEMM never
 * yields -0.0: autograd_impl.h), 1 adds. */
static double gemm_beta(const nb_grad_target *d) { return d->mode == NB_GRAD_ADD ? 1.0 : 0.0; }

/* NULL in, NULL out: an expression is checked once, at its end. The error of the first
 * failure stays in nb_last_error. */
#define NB_ALL_INPUTS(...)                                                                    \
    do {                                                                                      \
        nb_var *inputs_[] = {__VA_ARGS__};                                                    \
        for (size_t i_ = 0; i_ < sizeof inputs_ / sizeof inputs_[0]; i_++)                    \
            if (!inputs_[i_]) return NULL;                                                    \
    } while (0)

/* out = (pow(a, e - 1) * e) * dout, e != 0: PyTorch's pow_backward, grad * (e * a^(e-1)),
 * rounded after each step. PyTorch's pow copies its input for an exponent of 1, and so does
 * powf (x^1 = x exactly), so the square's gradient skips the pow: one pass. */
static nb_status pow_grad_out(nb_tensor *out, const nb_tensor *a, double e, const nb_tensor *dout) {
    if (e - 1.0 == 1.0) return nb_mul_scalar_mul_out(out, a, e, dout);
    NB_TRY(nb_pow_scalar_out(out, a, e - 1.0));
    return nb_mul_scalar_mul_out(out, out, e, dout);
}

/* out = ((pred - target) * norm) * dout, PyTorch's mse_loss_backward, in two passes. */
static nb_status mse_grad_out(nb_tensor *out, const nb_tensor *pred, const nb_tensor *target, double norm,
                              const nb_tensor *dout) {
    NB_TRY(nb_sub_out(out, pred, target));
    return nb_mul_scalar_mul_out(out, out, norm, dout); /* dout is () or pred's shape */
}

/* ---- mm and transpose ---------------------------------------------------------------- */

/* out = a @ b: da += dout @ b^T, db += a^T @ dout (views, no copies). */
static nb_status mm_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    const nb_tensor *a = n->inputs[0]->value, *b = n->inputs[1]->value;
    nb_status st = NB_OK;
    if (d[0].t) {
        nb_tensor *b_t = nb_tensor_t(b);
        st = b_t ? nb_addmm_(d[0].t, dout, b_t, 1.0, gemm_beta(&d[0])) : nb_last_status(); /* (m, n) @ (n, k) */
        nb_tensor_free(b_t);
    }
    if (st == NB_OK && d[1].t) {
        nb_tensor *a_t = nb_tensor_t(a);
        st = a_t ? nb_addmm_(d[1].t, a_t, dout, 1.0, gemm_beta(&d[1])) : nb_last_status(); /* (k, m) @ (m, n) */
        nb_tensor_free(a_t);
    }
    return st;
}

nb_var *nb_ag_mm(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    return nb_var_from_op(nb_mm(a->value, b->value), "mm", mm_backward, (nb_var *[]){a, b}, 2, NULL);
}

/* out = a^T (a view): da += dout^T. */
static nb_status t_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    (void)n;
    if (!d[0].t) return NB_OK;
    nb_tensor *dout_t = nb_tensor_t(dout);
    nb_status st = dout_t ? accumulate(&d[0], dout_t) : nb_last_status();
    nb_tensor_free(dout_t);
    return st;
}

nb_var *nb_ag_t(nb_var *a) {
    NB_ALL_INPUTS(a);
    return nb_var_from_op(nb_tensor_t(a->value), "t", t_backward, (nb_var *[]){a}, 1, NULL);
}

/* ---- broadcasting binary ops ------------------------------------------------------------ */

/* out = a + b (or a - b): da += sum_to(dout), db += (or -=) sum_to(dout). */
static nb_status add_sub_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    NB_TRY(accumulate(&d[0], dout));
    if (!d[1].t) return NB_OK;
    NB_TRY(nb_grad_target_to_add(&d[1]));
    return nb_add_sum_to_(d[1].t, dout, n->scalar); /* scalar: +1 add, -1 sub */
}

nb_var *nb_ag_add(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_add(a->value, b->value), "add", add_sub_backward, (nb_var *[]){a, b}, 2, &n);
    if (n) n->scalar = 1.0;
    return out;
}

nb_var *nb_ag_sub(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_sub(a->value, b->value), "sub", add_sub_backward, (nb_var *[]){a, b}, 2, &n);
    if (n) n->scalar = -1.0;
    return out;
}

/* out = a * b: da += sum_to(dout * b), db += sum_to(dout * a). */
static nb_status mul_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    for (int i = 0; i < 2; i++) {
        if (!d[i].t) continue;
        const nb_tensor *other = n->inputs[1 - i]->value;
        /* dout * other has the output's shape: written in place when that is the input's */
        if (writes(&d[i]) && nb_tensor_same_shape(d[i].t, dout)) {
            NB_TRY(nb_mul_out(d[i].t, dout, other));
            continue;
        }
        nb_tensor *g = nb_mul(dout, other);
        nb_status st = g ? accumulate(&d[i], g) : nb_last_status();
        nb_tensor_free(g);
        NB_TRY(st);
    }
    return NB_OK;
}

nb_var *nb_ag_mul(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    return nb_var_from_op(nb_mul(a->value, b->value), "mul", mul_backward, (nb_var *[]){a, b}, 2, NULL);
}

/* ---- tensor-scalar ops ------------------------------------------------------------------ */

/* out = a + s: da += dout. */
static nb_status add_scalar_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    (void)n;
    return accumulate(&d[0], dout);
}

nb_var *nb_ag_add_scalar(nb_var *a, double s) {
    NB_ALL_INPUTS(a);
    return nb_var_from_op(nb_add_scalar(a->value, s), "add_scalar", add_scalar_backward, (nb_var *[]){a}, 1, NULL);
}

/* out = a * s: da += dout * s. */
static nb_status mul_scalar_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t) return NB_OK;
    if (writes(&d[0])) return nb_mul_scalar_out(d[0].t, dout, n->scalar);
    nb_tensor *g = nb_mul_scalar(dout, n->scalar);
    nb_status st = g ? accumulate(&d[0], g) : nb_last_status();
    nb_tensor_free(g);
    return st;
}

nb_var *nb_ag_mul_scalar(nb_var *a, double s) {
    NB_ALL_INPUTS(a);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_mul_scalar(a->value, s), "mul_scalar", mul_scalar_backward, (nb_var *[]){a}, 1, &n);
    if (n) n->scalar = s;
    return out;
}

/* out = a^e: da += dout * (e * a^(e-1)), PyTorch's pow_backward grouping. */
static nb_status pow_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t) return NB_OK;
    const double e = n->scalar;
    const nb_tensor *a = n->inputs[0]->value;
    if (writes(&d[0])) { /* the same three steps, in the target instead of a temporary */
        if (e == 0.0) return nb_zero_(d[0].t);
        NB_TRY(pow_grad_out(d[0].t, a, e, dout));
        return NB_OK;
    }
    nb_tensor *g = e == 0.0 ? nb_tensor_zeros(dout->dtype, dout->ndim, dout->shape) : nb_tensor_empty(a->dtype, a->ndim, a->shape);
    nb_status st = g ? NB_OK : nb_last_status();
    if (st == NB_OK && e != 0.0) st = pow_grad_out(g, a, e, dout);
    if (st == NB_OK) st = accumulate(&d[0], g);
    nb_tensor_free(g);
    return st;
}

nb_var *nb_ag_pow(nb_var *a, double exponent) {
    NB_ALL_INPUTS(a);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_pow_scalar(a->value, exponent), "pow", pow_backward, (nb_var *[]){a}, 1, &n);
    if (n) n->scalar = exponent;
    return out;
}

/* out = max(a, min): da += dout where a >= min (clamp_min's backward: the kink passes). */
static nb_status clamp_min_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t) return NB_OK;
    if (writes(&d[0])) return nb_where_ge_out(d[0].t, dout, n->inputs[0]->value, n->scalar); /* the masked copy itself */
    nb_tensor *g = empty_like(dout);
    nb_status st = g ? nb_where_ge_out(g, dout, n->inputs[0]->value, n->scalar) : nb_last_status();
    if (st == NB_OK) st = accumulate(&d[0], g);
    nb_tensor_free(g);
    return st;
}

nb_var *nb_ag_clamp_min(nb_var *a, double min) {
    NB_ALL_INPUTS(a);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_clamp_min(a->value, min), "clamp_min", clamp_min_backward, (nb_var *[]){a}, 1, &n);
    if (n) n->scalar = min;
    return out;
}

/* out = relu(a): da += dout where a > 0 (threshold_backward: the kink is blocked). */
static nb_status relu_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t) return NB_OK;
    if (writes(&d[0])) return nb_where_gt_out(d[0].t, dout, n->inputs[0]->value, 0.0); /* the masked copy itself */
    nb_tensor *g = empty_like(dout);
    nb_status st = g ? nb_where_gt_out(g, dout, n->inputs[0]->value, 0.0) : nb_last_status();
    if (st == NB_OK) st = accumulate(&d[0], g);
    nb_tensor_free(g);
    return st;
}

nb_var *nb_ag_relu(nb_var *a) {
    NB_ALL_INPUTS(a);
    return nb_var_from_op(nb_relu(a->value), "relu", relu_backward, (nb_var *[]){a}, 1, NULL);
}

/* ---- reductions --------------------------------------------------------------------------- */

/* out = sum(a) (or mean): da += dout (or dout / numel, rounded in the dtype as PyTorch's
 * grad / numel is), the same for every element. n->scalar is 1 for sum, numel for mean. */
static nb_status sum_mean_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t) return NB_OK;
    double g;
    NB_TRY(nb_tensor_item(dout, &g));
    if (n->scalar != 1.0) g = dout->dtype == NB_F32 ? (double)((float)g / (float)n->scalar) : g / n->scalar;
    if (writes(&d[0])) return nb_fill_(d[0].t, g); /* PyTorch expands the gradient */
    NB_TRY(nb_grad_target_to_add(&d[0]));
    return nb_add_scalar_out(d[0].t, d[0].t, g);
}

nb_var *nb_ag_sum(nb_var *a) {
    NB_ALL_INPUTS(a);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_sum(a->value), "sum", sum_mean_backward, (nb_var *[]){a}, 1, &n);
    if (n) n->scalar = 1.0;
    return out;
}

nb_var *nb_ag_mean(nb_var *a) {
    NB_ALL_INPUTS(a);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_mean(a->value), "mean", sum_mean_backward, (nb_var *[]){a}, 1, &n);
    if (n) n->scalar = (double)nb_tensor_numel(a->value);
    return out;
}

/* out = a summed over dim: da += dout with dim put back (size 1), broadcast over it. */
static nb_status sum_dim_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t) return NB_OK;
    const nb_tensor *a = n->inputs[0]->value;
    int64_t shape[NB_MAX_DIMS];
    for (int k = 0; k < a->ndim; k++) shape[k] = k == n->dim ? 1 : a->shape[k];
    nb_tensor *kept = nb_tensor_reshape(dout, a->ndim, shape); /* dout is contiguous */
    nb_status st = kept ? NB_OK : nb_last_status();
    if (st == NB_OK && writes(&d[0])) {
        st = nb_copy_(d[0].t, kept); /* broadcasts over dim */
    } else {
        if (st == NB_OK) st = nb_grad_target_to_add(&d[0]);
        if (st == NB_OK) st = nb_add_(d[0].t, kept);
    }
    nb_tensor_free(kept);
    return st;
}

nb_var *nb_ag_sum_dim(nb_var *a, int dim, bool keepdim) {
    NB_ALL_INPUTS(a);
    nb_node *n;
    nb_var *out = nb_var_from_op(nb_sum_dim(a->value, dim, keepdim), "sum_dim", sum_dim_backward, (nb_var *[]){a}, 1, &n);
    if (n) {
        n->dim = dim;
        n->flag = keepdim;
    }
    return out;
}

/* ---- losses and layers ------------------------------------------------------------------- */

/* PyTorch's mse_loss_backward: g = norm * (pred - target) * dout, norm = 2 (sum, none) or
 * 2 / numel (mean); dpred += g, dtarget -= g. */
static nb_status mse_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    if (!d[0].t && !d[1].t) return NB_OK;
    const nb_tensor *pred = n->inputs[0]->value, *target = n->inputs[1]->value;
    double norm = n->reduction == NB_REDUCTION_MEAN ? 2.0 / (double)nb_tensor_numel(pred) : 2.0;
    /* g is computed in pred's target when that is to be written, else in a temporary */
    bool in_place = writes(&d[0]);
    nb_tensor *g = in_place ? d[0].t : empty_like(pred);
    nb_status st = g ? mse_grad_out(g, pred, target, norm, dout) : nb_last_status();
    if (st == NB_OK && !in_place) st = accumulate(&d[0], g);
    if (st == NB_OK && d[1].t) st = nb_grad_target_to_add(&d[1]);
    if (st == NB_OK && d[1].t) st = nb_add_sum_to_(d[1].t, g, -1.0);
    if (!in_place) nb_tensor_free(g);
    return st;
}

nb_var *nb_ag_mse_loss(nb_var *pred, nb_var *target, nb_reduction reduction) {
    NB_ALL_INPUTS(pred, target);
    if (!nb_tensor_same_shape(pred->value, target->value)) {
        char dp[64], dt[64];
        nb_error(NB_ERR_SHAPE, "mse_loss: prediction %s and target %s differ in shape",
                 nb_tensor_describe(pred->value, dp, sizeof dp), nb_tensor_describe(target->value, dt, sizeof dt));
        return NULL;
    }
    if (reduction != NB_REDUCTION_NONE && reduction != NB_REDUCTION_MEAN && reduction != NB_REDUCTION_SUM) {
        nb_error(NB_ERR_ARG, "mse_loss: unknown reduction %d", (int)reduction);
        return NULL;
    }
    /* (pred - target)^2, then the reduction */
    nb_tensor *sq = nb_sub(pred->value, target->value);
    if (sq && nb_pow_scalar_out(sq, sq, 2.0) != NB_OK) {
        nb_tensor_free(sq);
        sq = NULL;
    }
    nb_tensor *value = sq;
    if (sq && reduction != NB_REDUCTION_NONE) {
        value = reduction == NB_REDUCTION_SUM ? nb_sum(sq) : nb_mean(sq);
        nb_tensor_free(sq);
    }
    nb_node *n;
    nb_var *out = nb_var_from_op(value, "mse_loss", mse_backward, (nb_var *[]){pred, target}, 2, &n);
    if (n) n->reduction = reduction;
    return out;
}

/* out = x @ w^T + b: dx += dout @ w, dw += dout^T @ x, db += dout summed over the batch. */
static nb_status linear_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    const nb_tensor *x = n->inputs[0]->value, *w = n->inputs[1]->value;
    if (d[0].t) NB_TRY(nb_addmm_(d[0].t, dout, w, 1.0, gemm_beta(&d[0]))); /* (N, out) @ (out, in) */
    if (d[1].t) {
        nb_tensor *dout_t = nb_tensor_t(dout);
        nb_status st = dout_t ? nb_addmm_(d[1].t, dout_t, x, 1.0, gemm_beta(&d[1])) : nb_last_status(); /* (out, N) @ (N, in) */
        nb_tensor_free(dout_t);
        NB_TRY(st);
    }
    if (n->ninputs < 3 || !d[2].t) return NB_OK;
    NB_TRY(nb_grad_target_to_add(&d[2]));
    return nb_add_sum_to_(d[2].t, dout, 1.0);
}

nb_var *nb_ag_linear(nb_var *x, nb_var *weight, nb_var *bias) {
    NB_ALL_INPUTS(x, weight);
    const nb_tensor *xv = x->value, *wv = weight->value;
    if (xv->ndim != 2 || wv->ndim != 2 || xv->shape[1] != wv->shape[1] ||
        (bias && (bias->value->ndim != 1 || bias->value->shape[0] != wv->shape[0]))) {
        char dx[64], dw[64], db[64] = "none";
        if (bias) nb_tensor_describe(bias->value, db, sizeof db);
        nb_error(NB_ERR_SHAPE, "linear: input %s, weight %s and bias %s do not fit (N, in), (out, in), (out)",
                 nb_tensor_describe(xv, dx, sizeof dx), nb_tensor_describe(wv, dw, sizeof dw), db);
        return NULL;
    }
    nb_tensor *w_t = nb_tensor_t(wv);
    nb_tensor *value = w_t ? nb_mm(xv, w_t) : NULL; /* (N, in) @ (in, out) */
    nb_tensor_free(w_t);
    if (value && bias && nb_add_(value, bias->value) != NB_OK) {
        nb_tensor_free(value);
        value = NULL;
    }
    nb_var *inputs[3] = {x, weight, bias};
    return nb_var_from_op(value, "linear", linear_backward, inputs, bias ? 3 : 2, NULL);
}
