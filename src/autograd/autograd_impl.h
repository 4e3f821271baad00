/* src/autograd/autograd_impl.h — the graph node behind nb_var.grad_fn, shared by the engine
 * (autograd.c), the built-in ops (ops.c) and custom functions (function.c). */
#ifndef NB_AUTOGRAD_AUTOGRAD_IMPL_H
#define NB_AUTOGRAD_AUTOGRAD_IMPL_H

#include "autograd/autograd.h"
#include "derivatives/derivatives.h"

#define NB_NODE_MAX_INPUTS NB_FUNCTION_MAX_INPUTS

/* How a backward must put input i's gradient g into its target tensor t.
 *   ADD   t holds gradients already: t += g.
 *   SET   t is uninitialised: the first gradient to reach an intermediate, or a leaf without
 *         a .grad. t = g, as PyTorch's engine takes the first gradient of an input buffer and
 *         AccumulateGrad steals it when .grad is undefined (a -0.0 stays -0.0).
 *   ZERO  t holds zeros (a leaf after zero_grad): t = 0 + g, PyTorch's grad += g. That is g
 *         bit for bit except where g is -0.0 (0 + -0 = +0). A GEMM that starts its sums at
 *         +0, as every kernel in kernels/ does, never yields -0.0, so a GEMM may write g
 *         directly (beta 0); other producers add into the zeros.
 * Every backward either handles a mode itself or calls nb_grad_target_to_add first. */
typedef enum nb_grad_mode { NB_GRAD_ADD, NB_GRAD_SET, NB_GRAD_ZERO } nb_grad_mode;

typedef struct nb_grad_target {
    nb_tensor *t; /* NULL when input i needs no gradient */
    nb_grad_mode mode;
} nb_grad_target;

/* Turns a SET target into an ADD one by zeroing it (ZERO needs nothing): for the backward
 * paths that only know how to accumulate. The result is then 0 + g, as before the modes. */
nb_status nb_grad_target_to_add(nb_grad_target *d);

/* Puts the gradient of each input into d[i] as d[i].mode says, given dout, the gradient of
 * the node's output; d[i].t is NULL when input i needs no gradient. */
typedef nb_status nb_node_backward_fn(nb_node *node, const nb_tensor *dout, nb_grad_target *d);

struct nb_node {
    const char *op; /* "mm", "relu", or a custom function's name */
    nb_node_backward_fn *backward;
    int ninputs;
    nb_var *inputs[NB_NODE_MAX_INPUTS]; /* owned references: the graph's edges */
    nb_op rule;                         /* the op whose recipe is its backward (ops.c) */
    double scalar;                      /* the op's parameter: exponent, min, scale... */
    int dim;                            /* sum_dim's dim */
    bool flag;                          /* sum_dim's keepdim */
    nb_reduction reduction;             /* mse_loss */
    void *ctx;                          /* custom functions: their nb_fn_ctx */
    void (*ctx_free)(void *ctx);
    /* the output's layout, for allocating its gradient */
    nb_dtype out_dtype;
    int out_ndim;
    int64_t out_shape[NB_MAX_DIMS];
    nb_tensor *dout; /* d loss / d output, accumulated during backward */
    bool released;   /* backward ran and dropped the inputs */
    unsigned visit;  /* traversal mark of the engine */
    int refcount;    /* the output var, plus the engine during backward */
};

/* The result of an op: a var owning `value` (NULL value -> NULL). When gradients are being
 * recorded and some input requires one, it gets a node (op, backward) referencing the inputs;
 * *node_out (optional) then points at it so the op can fill in its parameters. */
nb_var *nb_var_from_op(nb_tensor *value, const char *op, nb_node_backward_fn *backward, nb_var *const *inputs,
                       int ninputs, nb_node **node_out);

#endif
