/* tests/test_autograd.c — the autograd engine: the tutorial's autograd step gives the manual
 * backward's gradients bit for bit; accumulation, no-grad, detach, graph freeing, shared
 * inputs, broadcasting, the losses, Linear, custom functions and the error paths. Gradients
 * against finite differences are the gradcheck suite's job. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/autograd.h"
#include "test_util.h"

static nb_rng rng;

static nb_var *randn_var(nb_dtype dt, int64_t rows, int64_t cols, bool requires_grad) {
    return nb_var_new(nb_tensor_randn(&rng, dt, 2, (int64_t[]){rows, cols}), requires_grad);
}

static bool bits_equal(const nb_tensor *a, const nb_tensor *b) {
    if (!a || !b || !nb_tensor_same_shape(a, b) || a->dtype != b->dtype) return false;
    return memcmp(nb_tensor_data(a), nb_tensor_data(b), (size_t)nb_tensor_numel(a) * nb_dtype_size(a->dtype)) == 0;
}

static double get2(const nb_tensor *t, int64_t i, int64_t j) { return nb_tensor_get(t, (int64_t[]){i, j}); }

/* y_pred = x.mm(w1).clamp(min=0).mm(w2); loss = (y_pred - y).pow(2).sum(); loss.backward()
 * must give what the seed's manual backward computes, bit for bit. */
static void test_tutorial_step_matches_manual_backward(void) {
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        nb_rng_seed(&rng, 11);
        nb_var *x = randn_var(dtype, 16, 30, false), *y = randn_var(dtype, 16, 5, false);
        nb_var *w1 = randn_var(dtype, 30, 12, true), *w2 = randn_var(dtype, 12, 5, true);
        nb_scope *scope = nb_scope_begin();
        nb_var *h = nb_ag_mm(x, w1);
        nb_var *y_pred = nb_ag_mm(nb_ag_clamp_min(h, 0.0), w2);
        nb_var *loss = nb_ag_sum(nb_ag_pow(nb_ag_sub(y_pred, y), 2.0));
        CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
        CU_ASSERT_EQUAL(nb_backward(loss), NB_OK);

        /* the manual program on plain tensors */
        nb_tensor *h_relu = nb_clamp_min(h->value, 0.0);
        nb_tensor *diff = nb_sub(y_pred->value, y->value);
        nb_tensor *grad_y_pred = nb_mul_scalar(diff, 2.0);
        nb_tensor *h_relu_t = nb_tensor_t(h_relu), *w2_t = nb_tensor_t(w2->value), *x_t = nb_tensor_t(x->value);
        nb_tensor *grad_w2 = nb_mm(h_relu_t, grad_y_pred);
        nb_tensor *grad_h = nb_mm(grad_y_pred, w2_t);
        nb_tensor *neg = nb_lt_scalar(h->value, 0.0);
        nb_masked_fill_(grad_h, neg, 0.0);
        nb_tensor *grad_w1 = nb_mm(x_t, grad_h);
        CU_ASSERT_TRUE(bits_equal(w1->grad, grad_w1));
        CU_ASSERT_TRUE(bits_equal(w2->grad, grad_w2));
        CU_ASSERT_PTR_NULL(x->grad); /* requires_grad false: no gradient */
        nb_tensor *tmp[] = {h_relu, diff, grad_y_pred, h_relu_t, w2_t, x_t, grad_w2, grad_h, neg, grad_w1};
        for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) nb_tensor_free(tmp[i]);

        /* the graph is freed: a second backward through it is refused */
        CU_ASSERT_EQUAL(nb_backward(loss), NB_ERR_ARG);
        CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "second time"));
        nb_scope_end(scope);
        nb_var *all[] = {x, y, w1, w2};
        for (int i = 0; i < 4; i++) nb_var_release(all[i]);
    }
}

/* .grad accumulates over backward calls until zeroed; a var used twice gets both paths. */
static void test_accumulation_and_shared_inputs(void) {
    nb_var *a = nb_var_new(nb_tensor_from_data(NB_F64, 1, (int64_t[]){3}, (double[]){1, -2, 3}), true);
    for (int round = 0; round < 2; round++) {
        nb_scope *s = nb_scope_begin();
        nb_var *loss = nb_ag_sum(nb_ag_mul(a, a)); /* d/da sum(a*a) = 2a */
        CU_ASSERT_EQUAL(nb_backward(loss), NB_OK);
        nb_scope_end(s);
    }
    CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){1}), 2 * 2 * -2.0);
    nb_var_zero_grad(a);
    CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){2}), 0.0);
    /* weight sharing: loss = sum(a * 3) + sum(a^2) -> 3 + 2a */
    nb_scope *s = nb_scope_begin();
    nb_var *loss = nb_ag_add(nb_ag_sum(nb_ag_mul_scalar(a, 3.0)), nb_ag_sum(nb_ag_pow(a, 2.0)));
    CU_ASSERT_EQUAL(nb_backward(loss), NB_OK);
    CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){0}), 3 + 2 * 1.0);
    CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){1}), 3 + 2 * -2.0);
    nb_scope_end(s);
    nb_var_release(a);
}

static void test_no_grad_and_detach(void) {
    nb_var *w = nb_var_new(nb_tensor_ones(NB_F32, 2, (int64_t[]){2, 2}), true);
    nb_no_grad_begin();
    CU_ASSERT_FALSE(nb_grad_enabled());
    nb_var *y = nb_ag_mul_scalar(w, 2.0);
    CU_ASSERT_FALSE(y->requires_grad);
    CU_ASSERT_PTR_NULL(y->grad_fn);
    nb_no_grad_end();
    CU_ASSERT_TRUE(nb_grad_enabled());
    nb_var *z = nb_ag_mul_scalar(w, 2.0);
    CU_ASSERT_TRUE(z->requires_grad);
    CU_ASSERT_PTR_NOT_NULL(z->grad_fn);
    CU_ASSERT_FALSE(nb_var_is_leaf(z));
    nb_var *d = nb_var_detach(z);
    CU_ASSERT_FALSE(d->requires_grad);
    CU_ASSERT_TRUE(nb_var_is_leaf(d));
    CU_ASSERT_EQUAL(nb_tensor_data(d->value), nb_tensor_data(z->value)); /* shares storage */
    nb_var *not_grad = nb_ag_sum(d);
    CU_ASSERT_EQUAL(nb_backward(not_grad), NB_ERR_ARG);
    nb_var *vs[] = {w, y, z, d, not_grad};
    for (int i = 0; i < 5; i++) nb_var_release(vs[i]);
}

/* Broadcast bias add: the bias gradient sums over the batch; mean divides by numel. */
static void test_broadcast_and_mean(void) {
    nb_var *x = nb_var_new(nb_tensor_from_data(NB_F64, 2, (int64_t[]){3, 2}, (double[]){1, 2, 3, 4, 5, 6}), true);
    nb_var *b = nb_var_new(nb_tensor_from_data(NB_F64, 1, (int64_t[]){2}, (double[]){10, 20}), true);
    nb_scope *s = nb_scope_begin();
    nb_var *out = nb_ag_mul(nb_ag_add(x, b), x); /* (x + b) * x: dx = 2x + b, db = sum_n x */
    nb_var *loss = nb_ag_mean(out);
    CU_ASSERT_EQUAL(nb_backward(loss), NB_OK);
    CU_ASSERT_DOUBLE_EQUAL(get2(x->grad, 2, 1), (2 * 6 + 20) / 6.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(nb_tensor_get(b->grad, (int64_t[]){0}), (1 + 3 + 5) / 6.0, 1e-15);
    nb_scope_end(s);
    /* sub's second input gets the negated gradient; sum_dim broadcasts back */
    nb_var_zero_grad(x);
    nb_var_zero_grad(b);
    s = nb_scope_begin();
    loss = nb_ag_sum(nb_ag_mul(nb_ag_sum_dim(nb_ag_sub(x, b), 0, false), b)); /* sum_j b_j * sum_i (x_ij - b_j) */
    CU_ASSERT_EQUAL(nb_backward(loss), NB_OK);
    CU_ASSERT_EQUAL(get2(x->grad, 1, 1), 20.0);
    /* d/db_j = sum_i (x_ij - b_j) - 3 b_j */
    CU_ASSERT_EQUAL(nb_tensor_get(b->grad, (int64_t[]){0}), (1 + 3 + 5 - 3 * 10.0) - 3 * 10.0);
    nb_scope_end(s);
    nb_var_release(x);
    nb_var_release(b);
}

/* MSELoss in each reduction, against its definition. */
static void test_mse_loss(void) {
    double pv[4] = {1, 2, 3, 5}, tv[4] = {0, 2, 5, 1};
    nb_reduction reductions[3] = {NB_REDUCTION_SUM, NB_REDUCTION_MEAN, NB_REDUCTION_NONE};
    for (int r = 0; r < 3; r++) {
        nb_var *p = nb_var_new(nb_tensor_from_data(NB_F64, 2, (int64_t[]){2, 2}, pv), true);
        nb_var *t = nb_var_new(nb_tensor_from_data(NB_F64, 2, (int64_t[]){2, 2}, tv), false);
        nb_scope *s = nb_scope_begin();
        nb_var *l = nb_ag_mse_loss(p, t, reductions[r]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(l);
        double sum_sq = 1 + 0 + 4 + 16;
        if (reductions[r] == NB_REDUCTION_NONE) {
            CU_ASSERT_EQUAL(get2(l->value, 1, 1), 16.0);
            l = nb_ag_sum(l);
        } else {
            double v;
            nb_tensor_item(l->value, &v);
            CU_ASSERT_EQUAL(v, reductions[r] == NB_REDUCTION_SUM ? sum_sq : sum_sq / 4);
        }
        CU_ASSERT_EQUAL(nb_backward(l), NB_OK);
        double scale = reductions[r] == NB_REDUCTION_MEAN ? 2.0 / 4 : 2.0;
        CU_ASSERT_EQUAL(get2(p->grad, 1, 0), scale * (3 - 5));
        CU_ASSERT_EQUAL(get2(p->grad, 1, 1), scale * (5 - 1));
        nb_scope_end(s);
        nb_var_release(p);
        nb_var_release(t);
    }
}

/* linear(x, w, b) equals the composite x @ w^T + b, forward and backward. */
static void test_linear_matches_composite(void) {
    nb_rng_seed(&rng, 5);
    nb_var *x = randn_var(NB_F64, 7, 4, true), *w = randn_var(NB_F64, 3, 4, true);
    nb_var *b = nb_var_new(nb_tensor_randn(&rng, NB_F64, 1, (int64_t[]){3}), true);
    nb_var *r = randn_var(NB_F64, 7, 3, false); /* a random projection makes the loss scalar */
    nb_tensor *grads[2][3];
    for (int form = 0; form < 2; form++) {
        nb_scope *s = nb_scope_begin();
        nb_var *out = form ? nb_ag_add(nb_ag_mm(x, nb_ag_t(w)), b) : nb_ag_linear(x, w, b);
        CU_ASSERT_EQUAL(nb_backward(nb_ag_sum(nb_ag_mul(out, r))), NB_OK);
        nb_var *ps[3] = {x, w, b};
        for (int i = 0; i < 3; i++) {
            grads[form][i] = nb_tensor_clone(ps[i]->grad);
            nb_var_zero_grad(ps[i]);
        }
        nb_scope_end(s);
    }
    for (int i = 0; i < 3; i++) {
        double diff = 1;
        nb_max_abs_diff(grads[0][i], grads[1][i], &diff, NULL);
        CU_ASSERT(diff < 1e-14);
        nb_tensor_free(grads[0][i]);
        nb_tensor_free(grads[1][i]);
    }
    nb_scope *s = nb_scope_begin(); /* owns the transposed view */
    CU_ASSERT_PTR_NULL(nb_ag_linear(x, nb_ag_t(w), b));
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "do not fit"));
    nb_scope_end(s);
    nb_var *vs[] = {x, w, b, r};
    for (int i = 0; i < 4; i++) nb_var_release(vs[i]);
}

/* ---- custom functions: the tutorial's MyReLU --------------------------------------------- */

static nb_tensor *my_relu_forward(nb_fn_ctx *ctx, const nb_tensor *const *in, int n) {
    (void)n;
    if (nb_ctx_save_for_backward(ctx, in[0]) != NB_OK) return NULL;
    return nb_clamp_min(in[0], 0.0);
}

static nb_status my_relu_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    const nb_tensor *input = nb_ctx_saved(ctx, 0);
    din[0] = nb_tensor_clone(dout);
    nb_tensor *neg = nb_lt_scalar(input, 0.0);
    nb_status st = din[0] && neg ? nb_masked_fill_(din[0], neg, 0.0) : nb_last_status();
    nb_tensor_free(neg);
    return st;
}

static nb_status wrong_shape_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    (void)ctx;
    din[0] = nb_tensor_zeros(dout->dtype, 1, (int64_t[]){1});
    return NB_OK;
}

static const nb_function my_relu = {"MyReLU", my_relu_forward, my_relu_backward};
static const nb_function bad_relu = {"BadReLU", my_relu_forward, wrong_shape_backward};

static void test_custom_function(void) {
    nb_var *a = nb_var_new(nb_tensor_from_data(NB_F32, 1, (int64_t[]){4}, (float[]){-1, 2, -3, 4}), true);
    nb_scope *s = nb_scope_begin();
    nb_var *out = nb_function_apply(&my_relu, (nb_var *[]){a}, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(nb_tensor_get(out->value, (int64_t[]){0}), 0.0);
    CU_ASSERT_STRING_EQUAL(out->grad_fn ? "recorded" : "", "recorded");
    CU_ASSERT_EQUAL(nb_backward(nb_ag_sum(nb_ag_mul_scalar(out, 3.0))), NB_OK);
    float expect[4] = {0, 3, 0, 3};
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(a->grad), expect, sizeof expect), 0);
    nb_var *bad = nb_function_apply(&bad_relu, (nb_var *[]){a}, 1);
    CU_ASSERT_EQUAL(nb_backward(nb_ag_sum(bad)), NB_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "BadReLU.backward returned a gradient (1) f32 for input 0"));
    CU_ASSERT_PTR_NULL(nb_function_apply(&my_relu, (nb_var *[]){a}, 0));
    nb_scope_end(s);
    nb_var_release(a);
}

/* The gradient modes (autograd_impl.h): a zeroed .grad is written by the GEMMs instead of
 * added to, a missing one is created and written, an intermediate's first gradient is
 * written in place. Each must give the bits of the old path, zeros plus the gradient, and a
 * later backward must still accumulate. Checked against the same products on plain tensors. */
static void test_gradient_modes_match_accumulation(void) {
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        nb_rng_seed(&rng, 5);
        nb_var *x = randn_var(dtype, 9, 13, false), *y = randn_var(dtype, 9, 4, false);
        nb_var *w1 = randn_var(dtype, 13, 7, true), *w2 = randn_var(dtype, 7, 4, true);
        CU_ASSERT_PTR_NULL(w1->grad); /* first backward: SET */
        nb_tensor *ref1 = nb_tensor_zeros(dtype, 2, w1->value->shape),
                  *ref2 = nb_tensor_zeros(dtype, 2, w2->value->shape);
        for (int round = 0; round < 4; round++) {
            /* rounds 0 and 2 start from no grad / zeroed grad; 1 and 3 accumulate */
            if (round == 2) {
                nb_var_zero_grad(w1);
                nb_var_zero_grad(w2);
                CU_ASSERT_TRUE(w1->grad_zeroed);
                nb_zero_(ref1);
                nb_zero_(ref2);
            }
            nb_scope *scope = nb_scope_begin();
            nb_var *h = nb_ag_mm(x, w1);
            nb_var *y_pred = nb_ag_mm(nb_ag_relu(h), w2);
            nb_var *loss = nb_ag_sum(nb_ag_pow(nb_ag_sub(y_pred, y), 2.0));
            CU_ASSERT_EQUAL_FATAL(nb_backward(loss), NB_OK);
            CU_ASSERT_FALSE(w1->grad_zeroed);
            /* the old path: every gradient in a temporary, added into zeros or the sum so far */
            nb_tensor *diff = nb_sub(y_pred->value, y->value);
            nb_tensor *g = nb_pow_scalar(diff, 1.0);
            nb_mul_scalar_(g, 2.0);
            nb_tensor *ones = nb_tensor_ones(dtype, 2, g->shape);
            nb_mul_out(g, g, ones);
            nb_tensor *relu = nb_relu(h->value), *relu_t = nb_tensor_t(relu), *w2_t = nb_tensor_t(w2->value);
            nb_tensor *x_t = nb_tensor_t(x->value);
            nb_tensor *dh = nb_mm(g, w2_t), *dh_masked = nb_tensor_empty(dtype, 2, dh->shape);
            nb_where_gt_out(dh_masked, dh, h->value, 0.0);
            nb_addmm_(ref2, relu_t, g, 1.0, 1.0);
            nb_addmm_(ref1, x_t, dh_masked, 1.0, 1.0);
            if (!bits_equal(w1->grad, ref1) || !bits_equal(w2->grad, ref2))
                FAILF("%s round %d: the gradients differ from the accumulating path", nb_dtype_name(dtype), round);
            nb_tensor *tmp[] = {diff, g, ones, relu, relu_t, w2_t, x_t, dh, dh_masked};
            for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) nb_tensor_free(tmp[i]);
            nb_scope_end(scope);
        }
        nb_tensor_free(ref1);
        nb_tensor_free(ref2);
        nb_var *all[] = {x, y, w1, w2};
        for (int i = 0; i < 4; i++) nb_var_release(all[i]);
    }
}

/* One var as both operands of a GEMM (a @ a) after zero_grad: both products must land in
 * .grad; a backward that let each of them overwrite would keep only the second. */
static void test_repeated_input_after_zero_grad(void) {
    nb_var *a = nb_var_new(nb_tensor_from_data(NB_F64, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4}), true);
    a->grad = nb_tensor_full(NB_F64, 2, (int64_t[]){2, 2}, 99.0);
    nb_var_zero_grad(a);
    nb_scope *s = nb_scope_begin();
    CU_ASSERT_EQUAL(nb_backward(nb_ag_sum(nb_ag_mm(a, a))), NB_OK);
    nb_scope_end(s);
    /* d sum(A A) / dA = 1 A^T (row sums 3, 7 across) + A^T 1 (column sums 4, 6 down) */
    CU_ASSERT_EQUAL(get2(a->grad, 0, 0), 7.0);
    CU_ASSERT_EQUAL(get2(a->grad, 0, 1), 11.0);
    CU_ASSERT_EQUAL(get2(a->grad, 1, 0), 9.0);
    CU_ASSERT_EQUAL(get2(a->grad, 1, 1), 13.0);
    nb_var_release(a);
}

/* A zeroed .grad that an elementwise gradient reaches: 0 + g, so a -0.0 comes out +0.0 as
 * in PyTorch's grad += g; a missing .grad takes g as it is (PyTorch steals it): -0.0. */
static void test_signed_zero_gradients(void) {
    for (int zeroed = 0; zeroed < 2; zeroed++) {
        nb_var *a = nb_var_new(nb_tensor_from_data(NB_F32, 1, (int64_t[]){2}, (float[]){-0.0f, 1.0f}), true);
        if (zeroed) {
            a->grad = nb_tensor_full(NB_F32, 1, (int64_t[]){2}, 5.0);
            nb_var_zero_grad(a);
        }
        nb_scope *s = nb_scope_begin();
        CU_ASSERT_EQUAL(nb_backward(nb_ag_sum(nb_ag_pow(a, 2.0))), NB_OK); /* 2a: -0.0 and 2 */
        nb_scope_end(s);
        double g0 = nb_tensor_get(a->grad, (int64_t[]){0});
        CU_ASSERT_EQUAL(g0, 0.0);
        CU_ASSERT_EQUAL(signbit(g0) != 0, !zeroed);
        CU_ASSERT_EQUAL(nb_tensor_get(a->grad, (int64_t[]){1}), 2.0);
        nb_var_release(a);
    }
}

static void test_errors_propagate(void) {
    nb_var *a = nb_var_new(nb_tensor_zeros(NB_F32, 2, (int64_t[]){2, 3}), true);
    nb_var *b = nb_var_new(nb_tensor_zeros(NB_F32, 2, (int64_t[]){2, 3}), true);
    nb_scope *s = nb_scope_begin();
    nb_var *bad = nb_ag_sum(nb_ag_relu(nb_ag_mm(a, b))); /* (2,3) @ (2,3): fails, NULL flows */
    CU_ASSERT_PTR_NULL(bad);
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "mm: a (2, 3) f32 times b (2, 3) f32"));
    CU_ASSERT_EQUAL(nb_backward(NULL), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_backward(a), NB_ERR_SHAPE); /* not one element */
    CU_ASSERT_PTR_NULL(nb_ag_mse_loss(a, nb_ag_t(b), NB_REDUCTION_SUM));
    nb_scope_end(s);
    nb_var_release(a);
    nb_var_release(b);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"the tutorial's autograd step equals the manual backward", test_tutorial_step_matches_manual_backward},
        {"accumulation and shared inputs", test_accumulation_and_shared_inputs},
        {"no-grad and detach", test_no_grad_and_detach},
        {"broadcasting, sum_dim and mean", test_broadcast_and_mean},
        {"MSELoss in each reduction", test_mse_loss},
        {"linear equals its composite", test_linear_matches_composite},
        {"custom functions (MyReLU)", test_custom_function},
        {"errors propagate as NULL", test_errors_propagate},
        {"gradient modes give the accumulating path's bits", test_gradient_modes_match_accumulation},
        {"a repeated input after zero_grad", test_repeated_input_after_zero_grad},
        {"signed zeros: grad += g or a stolen g", test_signed_zero_gradients},
    };
    return nb_test_run("autograd", tests, sizeof tests / sizeof tests[0]);
}
