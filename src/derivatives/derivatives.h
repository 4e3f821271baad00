/* src/derivatives/derivatives.h — the derivative of every differentiable op, written once (the
 * role of PyTorch's derivatives.yaml). Both engines read it: autograd runs a node's recipe on
 * tensors when backward reaches it (autograd/ops.c), the static graph lowers the same recipe to
 * instructions once (graph/lower.c). A recipe says, for one input of one op, how its gradient
 * is computed from the output's gradient and the op's inputs, in PyTorch's order of operations
 * where that decides the bits; how the gradient then enters its target (written, or added to
 * what is there) is each engine's business. */
#ifndef NB_DERIVATIVES_DERIVATIVES_H
#define NB_DERIVATIVES_DERIVATIVES_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/loops.h"
#include "tensor/tensor.h"

/* The differentiable ops both engines share (the static graph builds all but linear). */
typedef enum nb_op {
    NB_OP_MM,         /* a (m, k) @ b (k, n) -> (m, n) */
    NB_OP_T,          /* a (m, n) -> (n, m), a view */
    NB_OP_ADD,        /* a + b, broadcasting */
    NB_OP_SUB,        /* a - b, broadcasting */
    NB_OP_MUL,        /* a * b, broadcasting */
    NB_OP_ADD_SCALAR, /* a + s */
    NB_OP_MUL_SCALAR, /* a * s */
    NB_OP_POW,        /* a ^ e */
    NB_OP_CLAMP_MIN,  /* max(a, min): the gradient passes at the kink */
    NB_OP_RELU,       /* max(a, 0): the gradient stops at the kink */
    NB_OP_SUM,        /* sum(a) -> () */
    NB_OP_MEAN,       /* mean(a) -> () */
    NB_OP_MSE_LOSS,   /* (pred - target)^2, reduced (none, mean or sum) */
    NB_OP_LINEAR,     /* x (N, in) @ w (out, in)^T + b (out) -> (N, out) */
    NB_OP_COUNT
} nb_op;

extern const char *const nb_op_names[NB_OP_COUNT];

/* What a recipe step reads: the output's gradient, an input's value, or the recipe's temporary. */
typedef enum nb_dref { NB_DREF_DOUT, NB_DREF_IN0, NB_DREF_IN1, NB_DREF_TMP } nb_dref;

/* tmp = op(x, y, scalar) elementwise (loops.h). tmp takes x's shape (y broadcasts onto it); a
 * unary op leaves y unused. */
typedef struct nb_dstep {
    nb_ew_op op;
    nb_dref x, y;
    double scalar;
} nb_dstep;

typedef enum nb_grad_form {
    NB_GRAD_SUM_TO, /* d += alpha * sum_to(src): src summed down to the input's shape */
    NB_GRAD_GEMM,   /* d += a @ b, each operand possibly transposed (a flag, never a copy) */
    NB_GRAD_ITEM,   /* d += item(dout) / divisor at every element, divided in the dtype */
    NB_GRAD_ZEROS   /* d += 0: the input does not move the output (pow with exponent 0) */
} nb_grad_form;

#define NB_DSTEPS_MAX 2

typedef struct nb_grad_recipe {
    nb_grad_form form;
    int nsteps; /* steps computing tmp, in order, before the form */
    nb_dstep steps[NB_DSTEPS_MAX];
    bool same_tmp_as_input0; /* the steps are input 0's: reuse its tmp when it has one */
    nb_dref src;             /* SUM_TO: DOUT or TMP */
    bool src_t;              /* SUM_TO: src read transposed */
    double alpha;            /* SUM_TO: +1 or -1 */
    nb_dref a, b;            /* GEMM */
    bool a_t, b_t;
    double divisor; /* ITEM */
} nb_grad_recipe;

/* The op's parameter and what its recipe may depend on. */
typedef struct nb_op_args {
    double scalar;          /* pow's exponent, clamp's min, add/mul_scalar's s */
    nb_reduction reduction; /* mse_loss */
    int64_t numel;          /* elements of input 0 (mean, mse_loss with mean) */
} nb_op_args;

/* The recipe of input `input`'s gradient for op `op`: its number of inputs is nb_op_arity. */
nb_grad_recipe nb_derivative(nb_op op, int input, const nb_op_args *args);
int nb_op_arity(nb_op op);

#endif
