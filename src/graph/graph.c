/* src/graph/graph.c — building a static graph: placeholders, parameters and ops become
 * symbolic nodes with their shapes checked as they are recorded (nothing is computed here),
 * and the graph's lifetime, shared with the plans compiled from it. */
#include "graph/graph_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nb_gop_name(nb_gop op) {
    if (op == NB_GOP_PLACEHOLDER) return "placeholder";
    if (op == NB_GOP_PARAMETER) return "parameter";
    return op >= 0 && op < NB_OP_COUNT ? nb_op_names[op] : "?";
}

/* ---- the graph ----------------------------------------------------------------------------- */

nb_graph *nb_graph_new(nb_dtype dtype) {
    if (dtype != NB_F32 && dtype != NB_F64) {
        nb_error(NB_ERR_ARG, "graph: unknown dtype %d", (int)dtype);
        return NULL;
    }
    nb_graph *g = calloc(1, sizeof *g);
    if (!g) {
        nb_error(NB_ERR_NOMEM, "out of memory creating a graph");
        return NULL;
    }
    g->dtype = dtype;
    g->refcount = 1;
    return g;
}

void nb_graph_release(nb_graph *g) {
    if (!g || --g->refcount > 0) return;
    for (int i = 0; i < g->count; i++) {
        nb_tensor_free(g->nodes[i]->param);
        free(g->nodes[i]);
    }
    free(g->nodes);
    free(g);
}

void nb_graph_free(nb_graph *g) { nb_graph_release(g); }

/* ---- nodes ----------------------------------------------------------------------------------- */

static void describe_shape(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < size) snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
}

/* Appends a node with the given op, inputs and shape; NULL when out of memory. */
static nb_gnode *node_new(nb_graph *g, nb_gop op, nb_gnode *const *inputs, int ninputs, int ndim,
                          const int64_t *shape) {
    if (g->count == g->capacity) {
        int cap = g->capacity ? 2 * g->capacity : 16;
        nb_gnode **grown = realloc(g->nodes, (size_t)cap * sizeof *grown);
        if (!grown) {
            nb_error(NB_ERR_NOMEM, "out of memory growing a graph");
            return NULL;
        }
        g->nodes = grown;
        g->capacity = cap;
    }
    nb_gnode *n = calloc(1, sizeof *n);
    if (!n) {
        nb_error(NB_ERR_NOMEM, "out of memory adding a graph node");
        return NULL;
    }
    n->graph = g;
    n->id = g->count;
    n->op = op;
    n->ninputs = ninputs;
    for (int i = 0; i < ninputs; i++) n->inputs[i] = inputs[i];
    n->ndim = ndim;
    for (int d = 0; d < NB_MAX_DIMS; d++) n->shape[d] = d < ndim ? shape[d] : 1;
    snprintf(n->name, sizeof n->name, "%s%d", nb_gop_name(op), n->id);
    g->nodes[g->count++] = n;
    return n;
}

static nb_status check_shape(const char *what, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        return nb_error(NB_ERR_ARG, "graph %s: rank %d is not 0..%d", what, ndim, NB_MAX_DIMS);
    if (ndim > 0 && !shape) return nb_error(NB_ERR_ARG, "graph %s: shape is NULL", what);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1)
            return nb_error(NB_ERR_ARG, "graph %s: size %lld of dim %d is not >= 1", what, (long long)shape[d], d);
        if (__builtin_mul_overflow(numel, shape[d], &numel) || numel > ((int64_t)1 << 40))
            return nb_error(NB_ERR_ARG, "graph %s: more than 2^40 elements", what);
    }
    return NB_OK;
}

nb_gnode *nb_graph_placeholder(nb_graph *g, const char *name, int ndim, const int64_t *shape) {
    if (!g) {
        nb_error(NB_ERR_ARG, "graph placeholder: graph is NULL");
        return NULL;
    }
    if (check_shape("placeholder", ndim, shape) != NB_OK) return NULL;
    nb_gnode *n = node_new(g, NB_GOP_PLACEHOLDER, NULL, 0, ndim, shape);
    return n && name ? nb_graph_name(n, name) : n;
}

nb_gnode *nb_graph_parameter(nb_graph *g, const char *name, const nb_tensor *value) {
    if (!g || !value) {
        nb_error(NB_ERR_ARG, "graph parameter: %s is NULL", g ? "value" : "graph");
        return NULL;
    }
    char d[64];
    if (value->dtype != g->dtype) {
        nb_error(NB_ERR_SHAPE, "graph parameter %s: %s is not of the graph's dtype %s", name ? name : "",
                 nb_tensor_describe(value, d, sizeof d), nb_dtype_name(g->dtype));
        return NULL;
    }
    /* Steps update parameters with flat loops, and gradients are contiguous. */
    if (!nb_tensor_is_contiguous(value)) {
        nb_error(NB_ERR_ARG, "graph parameter %s: %s is not contiguous", name ? name : "",
                 nb_tensor_describe(value, d, sizeof d));
        return NULL;
    }
    if (check_shape("parameter", value->ndim, value->shape) != NB_OK) return NULL;
    nb_tensor *view = nb_tensor_view(value);
    if (!view) return NULL;
    nb_gnode *n = node_new(g, NB_GOP_PARAMETER, NULL, 0, value->ndim, value->shape);
    if (!n) {
        nb_tensor_free(view);
        return NULL;
    }
    n->param = view;
    return name ? nb_graph_name(n, name) : n;
}

nb_gnode *nb_graph_name(nb_gnode *n, const char *name) {
    if (n && name) snprintf(n->name, sizeof n->name, "%s", name);
    return n;
}

int nb_gnode_ndim(const nb_gnode *n) { return n ? n->ndim : -1; }
const int64_t *nb_gnode_shape(const nb_gnode *n) { return n ? n->shape : NULL; }
const char *nb_gnode_name(const nb_gnode *n) { return n ? n->name : ""; }

/* Both inputs must come from one graph (callers have already turned NULL into NULL). */
static bool same_graph(const char *op, const nb_gnode *a, const nb_gnode *b) {
    if (b->graph == a->graph) return true;
    nb_error(NB_ERR_ARG, "graph %s: %s and %s belong to different graphs", op, a->name, b->name);
    return false;
}

nb_gnode *nb_graph_mm(nb_gnode *a, nb_gnode *b) {
    if (!a || !b || !same_graph("mm", a, b)) return NULL;
    char da[48], db[48];
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0]) {
        describe_shape(a->ndim, a->shape, da, sizeof da);
        describe_shape(b->ndim, b->shape, db, sizeof db);
        nb_error(NB_ERR_SHAPE, "graph mm: %s %s times %s %s: needs (m, k) @ (k, n)", a->name, da, b->name, db);
        return NULL;
    }
    return node_new(a->graph, NB_OP_MM, (nb_gnode *[]){a, b}, 2, 2, (int64_t[]){a->shape[0], b->shape[1]});
}

nb_gnode *nb_graph_t(nb_gnode *a) {
    if (!a) return NULL;
    if (a->ndim != 2) {
        char da[48];
        describe_shape(a->ndim, a->shape, da, sizeof da);
        nb_error(NB_ERR_SHAPE, "graph t: %s %s is not rank 2", a->name, da);
        return NULL;
    }
    return node_new(a->graph, NB_OP_T, &a, 1, 2, (int64_t[]){a->shape[1], a->shape[0]});
}

/* NumPy broadcasting: shapes aligned from the right, a size of 1 stretches. */
static nb_gnode *binary(nb_gop op, nb_gnode *a, nb_gnode *b) {
    if (!a || !b || !same_graph(nb_gop_name(op), a, b)) return NULL;
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[NB_MAX_DIMS];
    for (int i = 0; i < nd; i++) { /* i counts from the right */
        int64_t sa = i < a->ndim ? a->shape[a->ndim - 1 - i] : 1;
        int64_t sb = i < b->ndim ? b->shape[b->ndim - 1 - i] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char da[48], db[48];
            describe_shape(a->ndim, a->shape, da, sizeof da);
            describe_shape(b->ndim, b->shape, db, sizeof db);
            nb_error(NB_ERR_SHAPE, "graph %s: shapes %s and %s do not broadcast", nb_gop_name(op), da, db);
            return NULL;
        }
        shape[nd - 1 - i] = sa == 1 ? sb : sa;
    }
    return node_new(a->graph, op, (nb_gnode *[]){a, b}, 2, nd, shape);
}

nb_gnode *nb_graph_add(nb_gnode *a, nb_gnode *b) { return binary(NB_OP_ADD, a, b); }
nb_gnode *nb_graph_sub(nb_gnode *a, nb_gnode *b) { return binary(NB_OP_SUB, a, b); }
nb_gnode *nb_graph_mul(nb_gnode *a, nb_gnode *b) { return binary(NB_OP_MUL, a, b); }

/* An op of a and a scalar with a's shape; NaN is refused where the tensor layer refuses it. */
static nb_gnode *unary(nb_gop op, nb_gnode *a, double s) {
    if (!a) return NULL;
    if (isnan(s) && (op == NB_OP_POW || op == NB_OP_CLAMP_MIN)) {
        nb_error(NB_ERR_NUMERIC, "graph %s: the scalar is NaN", nb_gop_name(op));
        return NULL;
    }
    nb_gnode *n = node_new(a->graph, op, &a, 1, a->ndim, a->shape);
    if (n) n->scalar = s;
    return n;
}

nb_gnode *nb_graph_add_scalar(nb_gnode *a, double s) { return unary(NB_OP_ADD_SCALAR, a, s); }
nb_gnode *nb_graph_mul_scalar(nb_gnode *a, double s) { return unary(NB_OP_MUL_SCALAR, a, s); }
nb_gnode *nb_graph_pow(nb_gnode *a, double exponent) { return unary(NB_OP_POW, a, exponent); }
nb_gnode *nb_graph_clamp_min(nb_gnode *a, double min) { return unary(NB_OP_CLAMP_MIN, a, min); }
nb_gnode *nb_graph_relu(nb_gnode *a) { return unary(NB_OP_RELU, a, 0.0); }

nb_gnode *nb_graph_sum(nb_gnode *a) { return a ? node_new(a->graph, NB_OP_SUM, &a, 1, 0, NULL) : NULL; }
nb_gnode *nb_graph_mean(nb_gnode *a) { return a ? node_new(a->graph, NB_OP_MEAN, &a, 1, 0, NULL) : NULL; }

nb_gnode *nb_graph_mse_loss(nb_gnode *pred, nb_gnode *target, nb_reduction reduction) {
    if (!pred || !target || !same_graph("mse_loss", pred, target)) return NULL;
    bool same = pred->ndim == target->ndim;
    for (int d = 0; d < pred->ndim && same; d++) same = pred->shape[d] == target->shape[d];
    if (!same) {
        char dp[48], dt[48];
        describe_shape(pred->ndim, pred->shape, dp, sizeof dp);
        describe_shape(target->ndim, target->shape, dt, sizeof dt);
        nb_error(NB_ERR_SHAPE, "graph mse_loss: prediction %s and target %s differ in shape", dp, dt);
        return NULL;
    }
    if (reduction != NB_REDUCTION_NONE && reduction != NB_REDUCTION_MEAN && reduction != NB_REDUCTION_SUM) {
        nb_error(NB_ERR_ARG, "graph mse_loss: unknown reduction %d", (int)reduction);
        return NULL;
    }
    bool reduced = reduction != NB_REDUCTION_NONE;
    nb_gnode *n =
        node_new(pred->graph, NB_OP_MSE_LOSS, (nb_gnode *[]){pred, target}, 2, reduced ? 0 : pred->ndim, pred->shape);
    if (n) n->reduction = reduction;
    return n;
}
