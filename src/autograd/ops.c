/* src/autograd/ops.c — the differentiable ops: each forward computes its value with the
 * tensor layer and records a node; its backward runs the op's recipe from the derivatives
 * table (src/derivatives, which the static graph reads too) into the targets the engine hands
 * it, writing or adding as each target's mode says, with mm's transposes as flags. */
#include <math.h>

#include "autograd/autograd_impl.h"
#include "derivatives/derivatives.h"
#include "tensor/loops.h"

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
#define NB_ALL_INPUTS(...)                                                                                             \
    do {                                                                                                               \
        nb_var *inputs_[] = {__VA_ARGS__};                                                                             \
        for (size_t i_ = 0; i_ < sizeof inputs_ / sizeof inputs_[0]; i_++)                                             \
            if (!inputs_[i_]) return NULL;                                                                             \
    } while (0)

/* ---- the derivative recipes (derivatives.h), run on tensors --------------------------------- */

/* What a recipe step or form reads. */
static const nb_tensor *recipe_operand(const nb_node *n, nb_dref r, const nb_tensor *dout, const nb_tensor *tmp) {
    switch (r) {
    case NB_DREF_DOUT: return dout;
    case NB_DREF_IN0: return n->inputs[0]->value;
    case NB_DREF_IN1: return n->inputs[1]->value;
    case NB_DREF_TMP: return tmp;
    }
    return NULL;
}

/* d (+)= a @ b with the transposes as views (flags to the kernel, never copies): beta 0 writes
 * a SET or ZERO target (a GEMM never yields -0.0: autograd_impl.h), 1 adds. */
static nb_status run_gemm(const nb_node *n, const nb_grad_recipe *r, const nb_tensor *dout, nb_grad_target *d) {
    const nb_tensor *a = recipe_operand(n, r->a, dout, NULL), *b = recipe_operand(n, r->b, dout, NULL);
    nb_tensor *a_t = r->a_t ? nb_tensor_t(a) : NULL, *b_t = r->b_t ? nb_tensor_t(b) : NULL;
    nb_status st = (r->a_t && !a_t) || (r->b_t && !b_t) ? nb_last_status() : NB_OK;
    if (st == NB_OK) st = nb_addmm_(d->t, a_t ? a_t : a, b_t ? b_t : b, 1.0, gemm_beta(d));
    nb_tensor_free(a_t);
    nb_tensor_free(b_t);
    return st;
}

/* d (+)= dout.item() / divisor at every element, divided in the dtype as PyTorch's grad / numel
 * is; PyTorch expands the gradient, so a SET target is filled. */
static nb_status run_item(const nb_grad_recipe *r, const nb_tensor *dout, nb_grad_target *d) {
    double g;
    NB_TRY(nb_tensor_item(dout, &g));
    if (r->divisor != 1.0) g = dout->dtype == NB_F32 ? (double)((float)g / (float)r->divisor) : g / r->divisor;
    if (writes(d)) return nb_fill_(d->t, g);
    NB_TRY(nb_grad_target_to_add(d));
    return nb_add_scalar_out(d->t, d->t, g);
}

/* The recipe's steps into tmp, in order. */
static nb_status run_steps(const nb_node *n, const nb_grad_recipe *r, const nb_tensor *dout, nb_tensor *tmp) {
    for (int k = 0; k < r->nsteps; k++) {
        const nb_dstep *st = &r->steps[k];
        NB_TRY(nb_ew_out(tmp, st->op, recipe_operand(n, st->x, dout, tmp), recipe_operand(n, st->y, dout, tmp),
                         st->scalar));
    }
    return NB_OK;
}

/* d (+)= alpha * sum_to(src), src being dout (maybe transposed) or the steps' tmp. The steps
 * run straight in a SET target when they give its shape and alpha is 1 (no temporary, no add
 * pass); input 1 of a shared recipe (mse_loss) reads input 0's tmp. *tmp0 keeps input 0's tmp
 * for that, *tmp0_owned whether it must be freed. */
static nb_status run_sum_to(const nb_node *n, int input, const nb_grad_recipe *r, const nb_tensor *dout,
                            nb_grad_target *d, nb_tensor **tmp0, bool *tmp0_owned) {
    nb_tensor *view = NULL, *own = NULL;
    const nb_tensor *src = dout;
    if (r->nsteps > 0 && r->same_tmp_as_input0 && *tmp0) {
        src = *tmp0;
    } else if (r->nsteps > 0) {
        const nb_tensor *shape = recipe_operand(n, r->steps[0].x, dout, NULL);
        bool direct = writes(d) && r->alpha == 1.0 && nb_tensor_same_shape(d->t, shape);
        nb_tensor *tmp = direct ? d->t : (own = empty_like(shape));
        nb_status st = tmp ? run_steps(n, r, dout, tmp) : nb_last_status();
        if (st != NB_OK || direct) {
            nb_tensor_free(own);
            if (st == NB_OK && input == 0) *tmp0 = tmp;
            return st;
        }
        src = tmp;
    } else if (r->src_t) {
        if (!(view = nb_tensor_t(dout))) return nb_last_status();
        src = view;
    }
    nb_status st = NB_OK;
    if (r->alpha == 1.0) {
        st = accumulate(d, src);
    } else {
        st = nb_grad_target_to_add(d);
        if (st == NB_OK) st = nb_add_sum_to_(d->t, src, r->alpha);
    }
    nb_tensor_free(view);
    if (own && input == 0 && st == NB_OK) {
        *tmp0 = own;
        *tmp0_owned = true;
    } else {
        nb_tensor_free(own);
    }
    return st;
}

/* d (+)= 0: zeros into a SET target, else zeros added (as PyTorch adds a zero gradient). */
static nb_status run_zeros(const nb_tensor *dout, nb_grad_target *d) {
    if (writes(d)) return nb_zero_(d->t);
    nb_tensor *zeros = nb_tensor_zeros(dout->dtype, d->t->ndim, d->t->shape);
    nb_status st = zeros ? accumulate(d, zeros) : nb_last_status();
    nb_tensor_free(zeros);
    return st;
}

/* The backward of every op in the derivatives table: each input's recipe, in input order. */
static nb_status recipe_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    const nb_op_args args = {
        .scalar = n->scalar, .reduction = n->reduction, .numel = nb_tensor_numel(n->inputs[0]->value)};
    nb_tensor *tmp0 = NULL;
    bool tmp0_owned = false;
    nb_status st = NB_OK;
    for (int i = 0; i < n->ninputs && st == NB_OK; i++) {
        if (!d[i].t) continue;
        nb_grad_recipe r = nb_derivative(n->rule, i, &args);
        switch (r.form) {
        case NB_GRAD_GEMM: st = run_gemm(n, &r, dout, &d[i]); break;
        case NB_GRAD_ITEM: st = run_item(&r, dout, &d[i]); break;
        case NB_GRAD_ZEROS: st = run_zeros(dout, &d[i]); break;
        case NB_GRAD_SUM_TO: st = run_sum_to(n, i, &r, dout, &d[i], &tmp0, &tmp0_owned); break;
        }
    }
    if (tmp0_owned) nb_tensor_free(tmp0);
    return st;
}

/* The var of an op whose backward is its recipe; the node keeps the op and its parameter. */
static nb_var *from_rule(nb_tensor *value, nb_op op, nb_var *const *inputs, int ninputs, double scalar,
                         nb_reduction reduction) {
    nb_node *n;
    nb_var *out = nb_var_from_op(value, nb_op_names[op], recipe_backward, inputs, ninputs, &n);
    if (n) {
        n->rule = op;
        n->scalar = scalar;
        n->reduction = reduction;
    }
    return out;
}

/* ---- the ops: forward with the tensor layer, backward by their recipe ----------------------- */

nb_var *nb_ag_mm(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    return from_rule(nb_mm(a->value, b->value), NB_OP_MM, (nb_var *[]){a, b}, 2, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_t(nb_var *a) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_tensor_t(a->value), NB_OP_T, (nb_var *[]){a}, 1, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_add(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    return from_rule(nb_add(a->value, b->value), NB_OP_ADD, (nb_var *[]){a, b}, 2, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_sub(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    return from_rule(nb_sub(a->value, b->value), NB_OP_SUB, (nb_var *[]){a, b}, 2, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_mul(nb_var *a, nb_var *b) {
    NB_ALL_INPUTS(a, b);
    return from_rule(nb_mul(a->value, b->value), NB_OP_MUL, (nb_var *[]){a, b}, 2, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_add_scalar(nb_var *a, double s) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_add_scalar(a->value, s), NB_OP_ADD_SCALAR, (nb_var *[]){a}, 1, s, NB_REDUCTION_NONE);
}

nb_var *nb_ag_mul_scalar(nb_var *a, double s) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_mul_scalar(a->value, s), NB_OP_MUL_SCALAR, (nb_var *[]){a}, 1, s, NB_REDUCTION_NONE);
}

nb_var *nb_ag_pow(nb_var *a, double exponent) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_pow_scalar(a->value, exponent), NB_OP_POW, (nb_var *[]){a}, 1, exponent, NB_REDUCTION_NONE);
}

nb_var *nb_ag_clamp_min(nb_var *a, double min) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_clamp_min(a->value, min), NB_OP_CLAMP_MIN, (nb_var *[]){a}, 1, min, NB_REDUCTION_NONE);
}

nb_var *nb_ag_relu(nb_var *a) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_relu(a->value), NB_OP_RELU, (nb_var *[]){a}, 1, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_sum(nb_var *a) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_sum(a->value), NB_OP_SUM, (nb_var *[]){a}, 1, 0.0, NB_REDUCTION_NONE);
}

nb_var *nb_ag_mean(nb_var *a) {
    NB_ALL_INPUTS(a);
    return from_rule(nb_mean(a->value), NB_OP_MEAN, (nb_var *[]){a}, 1, 0.0, NB_REDUCTION_NONE);
}

/* sum over one dim is autograd's alone (the static graph has no such op), so its backward is
 * written here, once: it puts the summed dim back rather than following a recipe. */
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
    nb_var *out =
        nb_var_from_op(nb_sum_dim(a->value, dim, keepdim), "sum_dim", sum_dim_backward, (nb_var *[]){a}, 1, &n);
    if (n) {
        n->dim = dim;
        n->flag = keepdim;
    }
    return out;
}

/* ---- losses and layers ------------------------------------------------------------------- */

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
    return from_rule(value, NB_OP_MSE_LOSS, (nb_var *[]){pred, target}, 2, 0.0, reduction);
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
    return from_rule(value, NB_OP_LINEAR, inputs, bias ? 3 : 2, 0.0, NB_REDUCTION_NONE);
}
