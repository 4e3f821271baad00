/* tests/test_gradcheck.c — the gradient checker itself: it passes a correct backward, and
 * it catches wrong ones (a ReLU backward that lets every gradient through, one that drops a
 * factor, one with a wrong sign), and an all-zero gradient is never a pass. */
#include <CUnit/CUnit.h>
#include <stdio.h>

#include "test_util.h"
#include "verify/verify.h"

typedef struct tally {
    int rows, failed;
} tally;

static void count_row(void *opaque, const nb_check_row *row) {
    tally *t = opaque;
    t->rows++;
    if (!row->ok) t->failed++;
    nb_check_print_row(stdout, row);
}

static nb_tensor *relu_forward(nb_fn_ctx *ctx, const nb_tensor *const *in, int n) {
    (void)n;
    if (nb_ctx_save_for_backward(ctx, in[0]) != NB_OK) return NULL;
    return nb_clamp_min(in[0], 0.0);
}

static nb_status relu_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    din[0] = nb_tensor_empty(dout->dtype, dout->ndim, dout->shape);
    return din[0] ? nb_where_ge_out(din[0], dout, nb_ctx_saved(ctx, 0), 0.0) : nb_last_status();
}

/* The deliberate bug of the issue: every gradient passes, as if ReLU were the identity. */
static nb_status leaky_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    (void)ctx;
    din[0] = nb_tensor_clone(dout);
    return din[0] ? NB_OK : nb_last_status();
}

/* Right mask, gradient halved: a missing factor. */
static nb_status halved_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    NB_TRY(relu_backward(ctx, dout, din));
    return nb_mul_scalar_(din[0], 0.5);
}

/* Right mask, wrong sign. */
static nb_status negated_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    NB_TRY(relu_backward(ctx, dout, din));
    return nb_mul_scalar_(din[0], -1.0);
}

/* Gradient zero everywhere: the forward is constant, so the numeric gradient is zero too. */
static nb_tensor *zero_forward(nb_fn_ctx *ctx, const nb_tensor *const *in, int n) {
    (void)ctx, (void)n;
    return nb_tensor_zeros(in[0]->dtype, in[0]->ndim, in[0]->shape);
}
static nb_status zero_backward(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **din) {
    (void)ctx;
    din[0] = nb_tensor_zeros(dout->dtype, dout->ndim, dout->shape);
    return din[0] ? NB_OK : nb_last_status();
}

static tally check(const nb_function *fn) {
    tally t = {0};
    CU_ASSERT_EQUAL(nb_verify_function(fn, 2, (int64_t[]){6, 5}, 0.0, "test", count_row, &t), NB_OK);
    CU_ASSERT_EQUAL(t.rows, 1);
    return t;
}

static void test_correct_backward_passes(void) {
    static const nb_function f = {"ReLU", relu_forward, relu_backward};
    CU_ASSERT_EQUAL(check(&f).failed, 0);
}

static void test_wrong_backwards_are_caught(void) {
    static const nb_function leaky = {"ReLU-passes-everything", relu_forward, leaky_backward};
    static const nb_function halved = {"ReLU-halved", relu_forward, halved_backward};
    static const nb_function negated = {"ReLU-negated", relu_forward, negated_backward};
    CU_ASSERT_EQUAL(check(&leaky).failed, 1);
    CU_ASSERT_EQUAL(check(&halved).failed, 1);
    CU_ASSERT_EQUAL(check(&negated).failed, 1);
}

static void test_all_zero_gradient_is_not_a_pass(void) {
    static const nb_function zero = {"Zero", zero_forward, zero_backward};
    CU_ASSERT_EQUAL(check(&zero).failed, 1);
}

/* Every op of `nabla verify` passes with the naive kernel (the others run in ctest verify). */
static void test_every_op_passes(void) {
    tally t = {0};
    CU_ASSERT_EQUAL(nb_verify_ops("default-kernel", count_row, &t), NB_OK);
    CU_ASSERT(t.rows >= 40);
    CU_ASSERT_EQUAL(t.failed, 0);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"a correct backward passes", test_correct_backward_passes},
        {"wrong backwards are caught", test_wrong_backwards_are_caught},
        {"an all-zero gradient is not a pass", test_all_zero_gradient_is_not_a_pass},
        {"every op passes", test_every_op_passes},
    };
    return nb_test_run("gradcheck", tests, sizeof tests / sizeof tests[0]);
}
