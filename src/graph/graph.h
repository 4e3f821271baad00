/* src/graph/graph.h — static graphs, the tutorial's TensorFlow contrast: define the
 * computation once from placeholders and parameters, compile it once (topological order, the
 * backward derived symbolically, elementwise chains fused, buffers planned by liveness over
 * one arena), then replay it every step, feeding new data, without building or allocating.
 *
 *   nb_graph *g = nb_graph_new(NB_F32);
 *   nb_gnode *x = nb_graph_placeholder(g, "x", 2, (int64_t[]){N, D_in});
 *   nb_gnode *y = nb_graph_placeholder(g, "y", 2, (int64_t[]){N, D_out});
 *   nb_gnode *w1 = nb_graph_parameter(g, "w1", w1_tensor);   // updated in place by steps
 *   nb_gnode *w2 = nb_graph_parameter(g, "w2", w2_tensor);
 *   nb_gnode *y_pred = nb_graph_mm(nb_graph_relu(nb_graph_mm(x, w1)), w2);
 *   nb_gnode *loss = nb_graph_sum(nb_graph_pow(nb_graph_sub(y_pred, y), 2.0));
 *   nb_plan *plan = nb_graph_compile(g, loss, (nb_gnode *[]){w1, w2}, 2,
 *                                    &(nb_graph_options){.update = NB_GRAPH_UPDATE_SGD, .lr = 1e-6});
 *   for (t = 0; t < 500; t++)
 *       nb_plan_run_step(plan, (nb_feed[]){{x, x_value}, {y, y_value}}, 2, &loss_value);
 *   nb_plan_free(plan);
 *   nb_graph_free(g);
 *
 * The graph layer sits on the tensor layer and knows nothing of autograd: it derives the
 * backward itself, op by op, with the same formulas and the same order of roundings as
 * src/autograd, so a plan reproduces the dynamic engine's numbers bit for bit with the same
 * kernel and dtype (docs/static-graph.md says how, fusions included).
 *
 * Ownership: nodes belong to their graph. A plan holds a reference to its graph, so
 * nb_graph_free may come before or after nb_plan_free. A parameter keeps a view of the
 * caller's tensor (shared storage): steps update it in place, visible through the caller's
 * header. The tensors a plan hands out (nb_plan_input, nb_plan_grad) belong to the plan.
 *
 * Errors: builders return NULL on bad input (shape, dtype, a node of another graph) with
 * nb_last_error set, and accept NULL inputs by returning NULL, so an expression is checked
 * once at its end. Compile and run return NULL or a status with a message. Nothing here
 * exits or aborts on bad input. */
#ifndef NB_GRAPH_GRAPH_H
#define NB_GRAPH_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "tensor/tensor.h"

typedef struct nb_graph nb_graph; /* private: graph_impl.h */
typedef struct nb_gnode nb_gnode; /* a symbolic value: an op, a placeholder or a parameter */
typedef struct nb_plan nb_plan;   /* a compiled graph */

/* ---- building ---------------------------------------------------------------------------- */

/* An empty graph whose values all have `dtype`. NULL when out of memory. */
nb_graph *nb_graph_new(nb_dtype dtype);
/* Drops the caller's reference: the graph goes when no plan holds it either. NULL is fine. */
void nb_graph_free(nb_graph *g);

/* An input fed at run time (tf.placeholder): rank 0..4, sizes >= 1. The plan owns its storage;
 * it keeps its last fed value between runs. */
nb_gnode *nb_graph_placeholder(nb_graph *g, const char *name, int ndim, const int64_t *shape);
/* A trainable tensor (tf.Variable): must be contiguous and of the graph's dtype. The graph
 * keeps a view of it (shared storage), so the caller's header may be freed at any time. */
nb_gnode *nb_graph_parameter(nb_graph *g, const char *name, const nb_tensor *value);
/* Names a node for dumps (copied, truncated to 31 characters). Returns n. */
nb_gnode *nb_graph_name(nb_gnode *n, const char *name);

/* Ops, shapes as in tensor.h. */
nb_gnode *nb_graph_mm(nb_gnode *a, nb_gnode *b);  /* (m, k) @ (k, n) -> (m, n) */
nb_gnode *nb_graph_t(nb_gnode *a);                /* (m, n) -> (n, m), a view */
nb_gnode *nb_graph_add(nb_gnode *a, nb_gnode *b); /* broadcasting */
nb_gnode *nb_graph_sub(nb_gnode *a, nb_gnode *b); /* broadcasting */
nb_gnode *nb_graph_mul(nb_gnode *a, nb_gnode *b); /* broadcasting */
nb_gnode *nb_graph_add_scalar(nb_gnode *a, double s);
nb_gnode *nb_graph_mul_scalar(nb_gnode *a, double s);
nb_gnode *nb_graph_pow(nb_gnode *a, double exponent);
nb_gnode *nb_graph_clamp_min(nb_gnode *a, double min); /* gradient passes where a >= min */
nb_gnode *nb_graph_relu(nb_gnode *a);                  /* gradient passes where a > 0 */
nb_gnode *nb_graph_sum(nb_gnode *a);                   /* -> () */
nb_gnode *nb_graph_mean(nb_gnode *a);                  /* -> () */

/* torch.nn.functional.mse_loss: (pred - target)^2 reduced; pred and target of one shape. */
nb_gnode *nb_graph_mse_loss(nb_gnode *pred, nb_gnode *target, nb_reduction reduction);

/* Introspection, for messages and tests. */
int nb_gnode_ndim(const nb_gnode *n);
const int64_t *nb_gnode_shape(const nb_gnode *n);
const char *nb_gnode_name(const nb_gnode *n);

/* ---- compiling ------------------------------------------------------------------------------ */

typedef enum nb_graph_update {
    NB_GRAPH_UPDATE_NONE, /* a step stops after the backward */
    NB_GRAPH_UPDATE_SGD   /* then w -= lr * dw for every parameter, the product rounded first */
} nb_graph_update;

typedef struct nb_graph_options {
    nb_graph_update update;
    double lr; /* SGD's learning rate: finite, >= 0 */
    /* More nodes whose gradient the plan keeps (placeholders or parameters that are not
     * updated), e.g. the input x for gradient checks. */
    nb_gnode *const *wrt;
    int nwrt;
    bool no_fusion; /* every op on its own, as the dynamic engine runs them */
    bool no_reuse;  /* one buffer per value instead of the liveness plan */
} nb_graph_options;

/* Compiles the graph that computes `loss` (one element, made by an op) for training the
 * `params` (parameters of g; their gradients are computed and, with SGD, applied). opts NULL:
 * no update, no extra gradients, fusion and buffer reuse on. NULL with a message on bad input.
 * Everything a run needs is allocated here, once. */
nb_plan *nb_graph_compile(nb_graph *g, nb_gnode *loss, nb_gnode *const *params, int nparams,
                          const nb_graph_options *opts);
void nb_plan_free(nb_plan *p); /* NULL is fine */

/* ---- running -------------------------------------------------------------------------------- */

/* A value for a placeholder: copied into the plan's storage before the run (feed_dict). Its
 * shape and dtype must be the placeholder's. */
typedef struct nb_feed {
    const nb_gnode *placeholder;
    const nb_tensor *value;
} nb_feed;

typedef enum nb_plan_stage {
    NB_PLAN_FORWARD,   /* the loss */
    NB_PLAN_GRADIENTS, /* the loss and every kept gradient */
    NB_PLAN_STEP       /* the loss, the gradients, then the update */
} nb_plan_stage;

/* Feeds, then runs the compiled schedule through `upto`; *loss (may be NULL) is the loss of
 * this run's forward pass. Allocates nothing (the GEMM kernels reuse their packing buffers;
 * OpenBLAS and the OpenMP runtime manage their own memory). */
nb_status nb_plan_run(nb_plan *p, nb_plan_stage upto, const nb_feed *feeds, int nfeeds, double *loss);
/* nb_plan_run(p, NB_PLAN_STEP, ...). */
nb_status nb_plan_run_step(nb_plan *p, const nb_feed *feeds, int nfeeds, double *loss);

/* The placeholder's storage in the plan (writing into it feeds without a copy), or NULL
 * with a message when `placeholder` is not one of this plan's placeholders. */
nb_tensor *nb_plan_input(nb_plan *p, const nb_gnode *placeholder);
/* d loss / d node after a GRADIENTS or STEP run, for a parameter or a wrt node; NULL with a
 * message for any other node. Contiguous, in the plan's arena; zeros before the first run. */
const nb_tensor *nb_plan_grad(const nb_plan *p, const nb_gnode *node);

/* ---- inspecting ----------------------------------------------------------------------------- */

typedef struct nb_plan_memory {
    size_t arena_bytes;     /* the one allocation: inputs + planned */
    size_t input_bytes;     /* placeholders (live for the plan's life) */
    size_t planned_bytes;   /* peak of the buffers placed by liveness */
    size_t per_value_bytes; /* the same values with one buffer each */
    int values;             /* values that have a buffer in the arena (placeholders excluded) */
} nb_plan_memory;

typedef struct nb_plan_info {
    int graph_nodes; /* ops in the forward graph the plan computes */
    int steps;       /* instructions in a training step */
    int fused;       /* of which fused */
    int gemms;       /* of which GEMM calls */
    nb_plan_memory memory;
} nb_plan_info;

nb_plan_info nb_plan_describe(const nb_plan *p);

/* The compiled graph in text: values (shape, buffer offset and size, live range), the
 * schedule (one line per instruction, fused groups named with the ops they replace), and the
 * memory plan against one buffer per value. */
void nb_plan_dump(const nb_plan *p, FILE *out);
/* The per-thread schedule a run of the plan on `threads` threads (2..64) with the runtime's
 * kernel follows (src/graph/schedule.c): its phases, serial or parallel, and how each
 * instruction is cut (whole, by rows, by columns of its output). NB_ERR_ARG for a thread count
 * outside 2..64, NB_ERR_NOMEM. */
nb_status nb_plan_print_schedule(const nb_plan *p, int threads, FILE *out);
/* The same as Graphviz DOT: instructions as boxes (fused ones filled), values as ellipses
 * labelled with shape and buffer, one cluster per stage. NB_ERR_IO when the file cannot be
 * written. */
nb_status nb_plan_write_dot(const nb_plan *p, const char *path);

#endif
