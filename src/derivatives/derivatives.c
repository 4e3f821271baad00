/* src/derivatives/derivatives.c — one backward formula per op and input. Each follows
 * PyTorch's formula and grouping (tools/autograd/derivatives.yaml, FunctionsManual.cpp), since
 * the grouping decides the rounding: pow_backward is grad * (e * a^(e-1)), mse_loss_backward
 * is norm * (pred - target) * grad, threshold_backward (relu) blocks the kink and clamp's
 * backward lets it through. */
#include "derivatives/derivatives.h"

#include "base/error.h"

const char *const nb_op_names[NB_OP_COUNT] = {
    [NB_OP_MM] = "mm",
    [NB_OP_T] = "t",
    [NB_OP_ADD] = "add",
    [NB_OP_SUB] = "sub",
    [NB_OP_MUL] = "mul",
    [NB_OP_ADD_SCALAR] = "add_scalar",
    [NB_OP_MUL_SCALAR] = "mul_scalar",
    [NB_OP_POW] = "pow",
    [NB_OP_CLAMP_MIN] = "clamp_min",
    [NB_OP_RELU] = "relu",
    [NB_OP_SUM] = "sum",
    [NB_OP_MEAN] = "mean",
    [NB_OP_MSE_LOSS] = "mse_loss",
    [NB_OP_LINEAR] = "linear",
};
/* tests/test_derivatives.c checks every entry is there: the array's declared size makes a
 * sizeof check always true. */

int nb_op_arity(nb_op op) {
    switch (op) {
    case NB_OP_MM:
    case NB_OP_ADD:
    case NB_OP_SUB:
    case NB_OP_MUL:
    case NB_OP_MSE_LOSS: return 2;
    case NB_OP_LINEAR: return 3;
    default: return 1;
    }
}

/* d += alpha * sum_to(src) */
static nb_grad_recipe sum_to(nb_dref src, bool src_t, double alpha) {
    return (nb_grad_recipe){.form = NB_GRAD_SUM_TO, .src = src, .src_t = src_t, .alpha = alpha};
}

/* tmp = op(x, y, s); d += sum_to(tmp) */
static nb_grad_recipe map(nb_ew_op op, nb_dref x, nb_dref y, double s) {
    nb_grad_recipe r = sum_to(NB_DREF_TMP, false, 1.0);
    r.nsteps = 1;
    r.steps[0] = (nb_dstep){op, x, y, s};
    return r;
}

/* d += a @ b */
static nb_grad_recipe gemm(nb_dref a, bool a_t, nb_dref b, bool b_t) {
    return (nb_grad_recipe){.form = NB_GRAD_GEMM, .a = a, .a_t = a_t, .b = b, .b_t = b_t};
}

nb_grad_recipe nb_derivative(nb_op op, int input, const nb_op_args *args) {
    NB_ASSERT(input >= 0 && input < nb_op_arity(op));
    const double s = args->scalar;
    switch (op) {
    case NB_OP_MM: /* da = dout @ b^T (m, n) @ (n, k); db = a^T @ dout (k, m) @ (m, n) */
        return input == 0 ? gemm(NB_DREF_DOUT, false, NB_DREF_IN1, true) : gemm(NB_DREF_IN0, true, NB_DREF_DOUT, false);
    case NB_OP_T: /* da = dout^T */ return sum_to(NB_DREF_DOUT, true, 1.0);
    case NB_OP_ADD: /* da = sum_to(dout), db = sum_to(dout) */
    case NB_OP_ADD_SCALAR: return sum_to(NB_DREF_DOUT, false, 1.0);
    case NB_OP_SUB: /* da = sum_to(dout), db = -sum_to(dout) */
        return sum_to(NB_DREF_DOUT, false, input == 0 ? 1.0 : -1.0);
    case NB_OP_MUL: /* da = sum_to(dout * b), db = sum_to(dout * a) */
        return map(NB_EW_MUL, NB_DREF_DOUT, input == 0 ? NB_DREF_IN1 : NB_DREF_IN0, 0.0);
    case NB_OP_MUL_SCALAR: /* da = dout * s */ return map(NB_EW_MUL_S, NB_DREF_DOUT, NB_DREF_DOUT, s);
    case NB_OP_POW: { /* da = (a^(e-1) * e) * dout, each step rounded; 0 for e = 0 */
        if (s == 0.0) return (nb_grad_recipe){.form = NB_GRAD_ZEROS};
        /* a^1 is a exactly (PyTorch's pow copies for 1, and so does powf): one pass fewer */
        if (s - 1.0 == 1.0) return map(NB_EW_MUL_S_MUL, NB_DREF_IN0, NB_DREF_DOUT, s);
        nb_grad_recipe r = map(s - 1.0 == 2.0 ? NB_EW_SQUARE : NB_EW_POW_S, NB_DREF_IN0, NB_DREF_IN0, s - 1.0);
        r.nsteps = 2;
        r.steps[1] = (nb_dstep){NB_EW_MUL_S_MUL, NB_DREF_TMP, NB_DREF_DOUT, s};
        return r;
    }
    case NB_OP_CLAMP_MIN: /* da = where(a >= min, dout, 0) */ return map(NB_EW_WHERE_GE, NB_DREF_DOUT, NB_DREF_IN0, s);
    case NB_OP_RELU: /* da = where(a > 0, dout, 0) */ return map(NB_EW_WHERE_GT, NB_DREF_DOUT, NB_DREF_IN0, 0.0);
    case NB_OP_SUM: /* da = dout at every element */ return (nb_grad_recipe){.form = NB_GRAD_ITEM, .divisor = 1.0};
    case NB_OP_MEAN: /* da = dout / numel at every element */
        return (nb_grad_recipe){.form = NB_GRAD_ITEM, .divisor = (double)args->numel};
    case NB_OP_MSE_LOSS: { /* g = ((pred - target) * norm) * dout; dpred = g, dtarget = -g */
        double norm = args->reduction == NB_REDUCTION_MEAN ? 2.0 / (double)args->numel : 2.0;
        nb_grad_recipe r = map(NB_EW_SUB, NB_DREF_IN0, NB_DREF_IN1, 0.0);
        r.nsteps = 2;
        r.steps[1] = (nb_dstep){NB_EW_MUL_S_MUL, NB_DREF_TMP, NB_DREF_DOUT, norm};
        r.alpha = input == 0 ? 1.0 : -1.0;
        r.same_tmp_as_input0 = input == 1;
        return r;
    }
    case NB_OP_LINEAR: /* dx = dout @ w (N, out) @ (out, in); dw = dout^T @ x; db = sum_to(dout) */
        if (input == 0) return gemm(NB_DREF_DOUT, false, NB_DREF_IN1, false);
        if (input == 1) return gemm(NB_DREF_DOUT, true, NB_DREF_IN0, false);
        return sum_to(NB_DREF_DOUT, false, 1.0);
    case NB_OP_COUNT: break;
    }
    NB_ASSERT(!"unknown op");
    return (nb_grad_recipe){.form = NB_GRAD_ZEROS};
}
