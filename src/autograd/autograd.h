/* src/autograd/autograd.h — define-by-run reverse-mode autodiff over nabla tensors, as
 * PyTorch's autograd: every differentiable op records a node with its backward as it runs;
 * nb_backward from a scalar visits each node once in reverse topological order and
 * accumulates gradients into the leaves' .grad.
 *
 *   nb_var *w1 = nb_var_new(nb_tensor_randn(...), true);    // a leaf parameter, caller-owned
 *   for (int t = 0; t < steps; t++) {
 *       nb_scope *step = nb_scope_begin();                   // owns what the step creates
 *       nb_var *y_pred = nb_ag_mm(nb_ag_relu(nb_ag_mm(x, w1)), w2);
 *       nb_var *loss = nb_ag_sum(nb_ag_pow(nb_ag_sub(y_pred, y), 2.0));
 *       if (!loss || nb_backward(loss) != NB_OK) ...         // NULL propagates: check once
 *       nb_no_grad_begin(); nb_sub_scaled_(w1->value, lr, w1->grad); ...; nb_no_grad_end();
 *       nb_var_zero_grad(w1);
 *       nb_scope_end(step);                                  // the step's graph is freed
 *   }
 *
 * Ownership: vars are reference-counted. A var made while a scope is open belongs to the
 * innermost scope, which drops its reference at nb_scope_end; a var made with no scope
 * open belongs to the caller (nb_var_release). Nodes hold references to their inputs, so a
 * graph lives exactly as long as someone holds its output. nb_var_retain keeps a var past
 * its scope.
 *
 * Errors: ops return NULL on bad input (shape, dtype) with nb_last_error set, and accept
 * NULL inputs by returning NULL, so an expression is checked once at its end. */
#ifndef NB_AUTOGRAD_AUTOGRAD_H
#define NB_AUTOGRAD_AUTOGRAD_H

#include <stdbool.h>

#include "base/error.h"
#include "tensor/tensor.h"

typedef struct nb_node nb_node; /* private: autograd_impl.h */

typedef struct nb_var {
    nb_tensor *value; /* owned */
    nb_tensor *grad;  /* owned; NULL until a backward reaches this leaf; value's shape */
    nb_node *grad_fn; /* the op that made it (NULL for leaves), owned reference */
    bool requires_grad;
    /* Set by nb_var_zero_grad: .grad holds zeros, so the next backward may write the
     * gradient into it instead of adding it to zeros (the same bits: see nb_grad_mode in
     * autograd_impl.h). Whatever writes .grad by other means must clear it. */
    bool grad_zeroed;
    int refcount;
    const char *name; /* optional static label for messages and check tables */
} nb_var;

/* ---- vars --------------------------------------------------------------------------- */

/* A leaf wrapping `value` (ownership passes to the var; NULL value -> NULL). */
nb_var *nb_var_new(nb_tensor *value, bool requires_grad);
nb_var *nb_var_retain(nb_var *v);
void nb_var_release(nb_var *v); /* NULL is fine */
/* A leaf sharing v's storage, with no history and requires_grad false (tensor.detach()). */
nb_var *nb_var_detach(const nb_var *v);
/* .grad.zero_() when there is a grad (PyTorch 1.13's zero_grad(set_to_none=False)). */
void nb_var_zero_grad(nb_var *v);
bool nb_var_is_leaf(const nb_var *v);

/* ---- scopes ------------------------------------------------------------------------- */

typedef struct nb_scope nb_scope;
nb_scope *nb_scope_begin(void);     /* NULL when out of memory (then vars go to the caller) */
void nb_scope_end(nb_scope *scope); /* must be the innermost open scope */

/* ---- no-grad mode (torch.no_grad()) -------------------------------------------------- */

void nb_no_grad_begin(void);
void nb_no_grad_end(void);
bool nb_grad_enabled(void);

/* ---- backward ------------------------------------------------------------------------- */

/* loss.backward(): loss must have one element and a history (or requires_grad). Visits each
 * node once in reverse topological order, accumulating into the .grad of every leaf that
 * requires grad; then frees the graph's saved tensors, so a second backward through the same
 * graph is an error, as in PyTorch without retain_graph. */
nb_status nb_backward(nb_var *loss);

/* ---- differentiable ops (shapes as in tensor.h) ---------------------------------------- */

nb_var *nb_ag_mm(nb_var *a, nb_var *b);  /* (m, k) @ (k, n) -> (m, n) */
nb_var *nb_ag_t(nb_var *a);              /* (m, n) -> (n, m), a view */
nb_var *nb_ag_add(nb_var *a, nb_var *b); /* broadcasting */
nb_var *nb_ag_sub(nb_var *a, nb_var *b); /* broadcasting */
nb_var *nb_ag_mul(nb_var *a, nb_var *b); /* broadcasting */
nb_var *nb_ag_add_scalar(nb_var *a, double s);
nb_var *nb_ag_mul_scalar(nb_var *a, double s);
nb_var *nb_ag_pow(nb_var *a, double exponent);
nb_var *nb_ag_clamp_min(nb_var *a, double min); /* gradient 0 where a < min */
nb_var *nb_ag_relu(nb_var *a);                  /* clamp_min(a, 0) */
nb_var *nb_ag_sum(nb_var *a);                   /* -> () */
nb_var *nb_ag_mean(nb_var *a);                  /* -> () */
nb_var *nb_ag_sum_dim(nb_var *a, int dim, bool keepdim);

/* torch.nn.functional.mse_loss: (pred - target)^2, reduced; target gets no gradient. */
nb_var *nb_ag_mse_loss(nb_var *pred, nb_var *target, nb_reduction reduction);
/* x (N, in) @ weight (out, in)^T + bias (out) -> (N, out); bias may be NULL. */
nb_var *nb_ag_linear(nb_var *x, nb_var *weight, nb_var *bias);

/* ---- custom functions (torch.autograd.Function) ----------------------------------------- */

#define NB_FUNCTION_MAX_INPUTS 4
#define NB_FUNCTION_MAX_SAVED 4

typedef struct nb_fn_ctx nb_fn_ctx;

typedef struct nb_function {
    const char *name;
    /* Computes the output from the inputs' values (a new tensor, or NULL with an error). May
     * call nb_ctx_save_for_backward. Runs with gradient recording off. */
    nb_tensor *(*forward)(nb_fn_ctx *ctx, const nb_tensor *const *inputs, int ninputs);
    /* Given dout (the output's shape), sets dinputs[i] to a new tensor holding the gradient
     * for input i (input i's shape), or leaves it NULL when input i needs none
     * (nb_ctx_needs_input_grad). Returns NB_OK or an error. autograd accumulates and frees
     * the returned tensors. */
    nb_status (*backward)(nb_fn_ctx *ctx, const nb_tensor *dout, nb_tensor **dinputs);
} nb_function;

/* Function.apply(*inputs). */
nb_var *nb_function_apply(const nb_function *fn, nb_var *const *inputs, int ninputs);
/* ctx.save_for_backward(t): keeps a view of t (shares storage) until the graph is freed. */
nb_status nb_ctx_save_for_backward(nb_fn_ctx *ctx, const nb_tensor *t);
const nb_tensor *nb_ctx_saved(const nb_fn_ctx *ctx, int index); /* NULL when out of range */
bool nb_ctx_needs_input_grad(const nb_fn_ctx *ctx, int index);

#endif
