/* src/autograd/autograd.c — the autograd engine: vars and their lifetime, scopes, no-grad
 * mode, graph nodes, and backward (a topological sort from the loss, then each node's
 * backward once, in reverse order, accumulating into the leaves' .grad). */
#include "autograd/autograd_impl.h"

#include <string.h>

#include "base/alloc.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

/* ---- no-grad mode and scopes (per thread, as PyTorch's grad mode) ------------------------ */

static _Thread_local int no_grad_depth;

void nb_no_grad_begin(void) { no_grad_depth++; }
void nb_no_grad_end(void) {
    NB_ASSERT(no_grad_depth > 0);
    no_grad_depth--;
}
bool nb_grad_enabled(void) { return no_grad_depth == 0; }

struct nb_scope {
    nb_var **vars;
    int count, capacity;
    nb_scope *outer;
};

static _Thread_local nb_scope *innermost_scope;

nb_scope *nb_scope_begin(void) {
    nb_scope *s = nb_alloc_zeroed(sizeof *s);
    if (!s) {
        nb_error(NB_ERR_NOMEM, "out of memory opening an autograd scope");
        return NULL;
    }
    s->outer = innermost_scope;
    innermost_scope = s;
    return s;
}

void nb_scope_end(nb_scope *scope) {
    if (!scope) return;
    NB_ASSERT(scope == innermost_scope);
    innermost_scope = scope->outer;
    /* Newest first: outputs go before the inputs they reference, which keeps the release
     * recursion shallow. */
    for (int i = scope->count - 1; i >= 0; i--) nb_var_release(scope->vars[i]);
    nb_free(scope->vars);
    nb_free(scope);
}

/* Hands a new var to the innermost scope. If the scope cannot grow, the var is released
 * and NULL returned, so no var is ever owned by nobody. */
static nb_var *scope_adopt(nb_var *v) {
    nb_scope *s = innermost_scope;
    if (!s || !v) return v;
    if (s->count == s->capacity) {
        int cap = s->capacity ? 2 * s->capacity : 64;
        nb_var **grown = nb_realloc(s->vars, (size_t)cap * sizeof *grown);
        if (!grown) {
            nb_var_release(v);
            nb_error(NB_ERR_NOMEM, "out of memory recording a var in its scope");
            return NULL;
        }
        s->vars = grown;
        s->capacity = cap;
    }
    s->vars[s->count++] = v;
    return v;
}

/* ---- nodes ------------------------------------------------------------------------------- */

static void node_drop_inputs(nb_node *n) {
    for (int i = 0; i < n->ninputs; i++) {
        nb_var_release(n->inputs[i]);
        n->inputs[i] = NULL;
    }
    n->ninputs = 0;
}

static void node_release(nb_node *n) {
    if (!n || --n->refcount > 0) return;
    node_drop_inputs(n);
    nb_tensor_free(n->dout);
    if (n->ctx_free) n->ctx_free(n->ctx);
    nb_free(n);
}

/* ---- vars --------------------------------------------------------------------------------- */

static nb_var *var_make(nb_tensor *value, bool requires_grad) {
    if (!value) return NULL;
    nb_var *v = nb_alloc_zeroed(sizeof *v);
    if (!v) {
        nb_tensor_free(value);
        nb_error(NB_ERR_NOMEM, "out of memory allocating a var");
        return NULL;
    }
    v->value = value;
    v->requires_grad = requires_grad;
    v->refcount = 1;
    return v;
}

nb_var *nb_var_new(nb_tensor *value, bool requires_grad) { return scope_adopt(var_make(value, requires_grad)); }

nb_var *nb_var_retain(nb_var *v) {
    if (v) v->refcount++;
    return v;
}

void nb_var_release(nb_var *v) {
    if (!v || --v->refcount > 0) return;
    node_release(v->grad_fn);
    nb_tensor_free(v->value);
    nb_tensor_free(v->grad);
    nb_free(v);
}

nb_var *nb_var_detach(const nb_var *v) {
    if (!v) return NULL;
    return nb_var_new(nb_tensor_view(v->value), false);
}

void nb_var_zero_grad(nb_var *v) {
    if (v && v->grad) v->grad_zeroed = nb_zero_(v->grad) == NB_OK;
}

bool nb_var_is_leaf(const nb_var *v) { return v && !v->grad_fn; }

nb_var *nb_var_from_op(nb_tensor *value, const char *op, nb_node_backward_fn *backward, nb_var *const *inputs,
                       int ninputs, nb_node **node_out) {
    if (node_out) *node_out = NULL;
    bool needs_grad = false;
    for (int i = 0; i < ninputs; i++) needs_grad = needs_grad || (inputs[i] && inputs[i]->requires_grad);
    needs_grad = needs_grad && nb_grad_enabled();
    nb_var *out = var_make(value, needs_grad);
    if (!out || !needs_grad) return scope_adopt(out);

    NB_ASSERT(ninputs <= NB_NODE_MAX_INPUTS);
    nb_node *n = nb_alloc_zeroed(sizeof *n);
    if (!n) {
        nb_var_release(out);
        nb_error(NB_ERR_NOMEM, "out of memory recording %s", op);
        return NULL;
    }
    n->op = op;
    n->backward = backward;
    n->ninputs = ninputs;
    for (int i = 0; i < ninputs; i++) n->inputs[i] = nb_var_retain(inputs[i]);
    n->out_dtype = value->dtype;
    n->out_ndim = value->ndim;
    memcpy(n->out_shape, value->shape, sizeof n->out_shape);
    n->refcount = 1;
    out->grad_fn = n;
    /* the node only once the var is kept: a scope that cannot record it releases the var, and
     * the node with it, and a caller must not then write into the node */
    nb_var *kept = scope_adopt(out);
    if (kept && node_out) *node_out = n;
    return kept;
}

/* ---- backward ----------------------------------------------------------------------------- */

typedef struct node_list {
    nb_node **items;
    int count, capacity;
} node_list;

static nb_status node_list_push(node_list *l, nb_node *n) {
    if (l->count == l->capacity) {
        int cap = l->capacity ? 2 * l->capacity : 64;
        nb_node **grown = nb_realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return nb_error(NB_ERR_NOMEM, "out of memory sorting the graph");
        l->items = grown;
        l->capacity = cap;
    }
    l->items[l->count++] = n;
    return NB_OK;
}

/* Post-order of the nodes reachable from root through inputs that require grad: every node
 * comes after all the nodes that feed it. Iterative (an explicit stack), so a long graph
 * cannot overflow the C stack. Each listed node gains a reference, held until backward ends. */
static nb_status topo_sort(nb_node *root, node_list *order) {
    static _Thread_local unsigned epoch;
    epoch++;
    node_list stack = {0};
    nb_status st = NB_OK;
    /* Depth first: a node is marked when pushed, and listed when popped, which happens
     * once all its unmarked inputs' nodes have been listed. */
    root->visit = epoch;
    if ((st = node_list_push(&stack, root)) != NB_OK) goto done;
    while (stack.count > 0) {
        nb_node *n = stack.items[stack.count - 1];
        bool pushed_child = false;
        for (int i = 0; i < n->ninputs && !pushed_child; i++) {
            nb_var *in = n->inputs[i];
            nb_node *child = in && in->requires_grad ? in->grad_fn : NULL;
            if (child && child->visit != epoch) {
                child->visit = epoch;
                if ((st = node_list_push(&stack, child)) != NB_OK) goto done;
                pushed_child = true;
            }
        }
        if (!pushed_child) {
            stack.count--;
            if ((st = node_list_push(order, n)) != NB_OK) goto done;
            n->refcount++;
        }
    }
done:
    nb_free(stack.items);
    return st;
}

nb_status nb_grad_target_to_add(nb_grad_target *d) {
    if (d->t && d->mode == NB_GRAD_SET) NB_TRY(nb_zero_(d->t));
    d->mode = NB_GRAD_ADD;
    return NB_OK;
}

/* The tensor input `in`'s gradient goes into, and how (nb_grad_mode): the producing node's
 * dout, or the leaf's .grad; created uninitialised on first use (SET: the op writes it
 * whole). t NULL (and NB_OK) when the input needs no gradient. */
static nb_status grad_target(nb_var *in, nb_grad_target *d) {
    d->t = NULL;
    d->mode = NB_GRAD_ADD;
    if (!in || !in->requires_grad) return NB_OK;
    nb_tensor **slot = in->grad_fn ? &in->grad_fn->dout : &in->grad;
    if (!*slot) {
        *slot = nb_tensor_empty(in->value->dtype, in->value->ndim, in->value->shape);
        if (!*slot) return nb_last_status();
        d->mode = NB_GRAD_SET;
    } else if (!in->grad_fn && in->grad_zeroed) {
        d->mode = NB_GRAD_ZERO;
    }
    d->t = *slot;
    return NB_OK;
}

/* After input i's backward ran: from now on its gradient accumulates. When the backward
 * failed, a target it was to write (SET) or overwrite (ZERO) may hold anything: an
 * intermediate's dout goes with the graph, a leaf's .grad goes back to what it was (none,
 * or zeros). */
static void grad_target_done(nb_var *in, const nb_grad_target *d, bool failed) {
    if (!d->t) return;
    if (in->grad_fn || !failed || d->mode == NB_GRAD_ADD) {
        if (!in->grad_fn) in->grad_zeroed = false;
        return;
    }
    if (d->mode == NB_GRAD_SET) {
        nb_tensor_free(in->grad);
        in->grad = NULL;
    } else if (nb_zero_(in->grad) != NB_OK) { /* cannot fail on a tensor nb_zero_ took before */
        in->grad_zeroed = false;
    }
}

nb_status nb_backward(nb_var *loss) {
    if (!loss) return nb_error(NB_ERR_ARG, "backward: loss is NULL");
    if (nb_tensor_numel(loss->value) != 1) {
        char d[64];
        return nb_error(NB_ERR_SHAPE, "backward: needs a one-element loss, got %s",
                        nb_tensor_describe(loss->value, d, sizeof d));
    }
    if (!loss->requires_grad)
        return nb_error(NB_ERR_ARG, "backward: the loss does not require grad and has no grad_fn");
    nb_tensor *seed = nb_tensor_ones(loss->value->dtype, loss->value->ndim, loss->value->shape);
    if (!seed) return nb_last_status();
    if (!loss->grad_fn) { /* a leaf loss: d loss / d loss = 1 */
        nb_grad_target target;
        nb_status st = grad_target(loss, &target);
        if (st == NB_OK) st = nb_grad_target_to_add(&target);
        if (st == NB_OK) st = nb_add_(target.t, seed);
        grad_target_done(loss, &target, st != NB_OK);
        nb_tensor_free(seed);
        return st;
    }
    nb_node *root = loss->grad_fn;
    if (root->released) {
        nb_tensor_free(seed);
        return nb_error(NB_ERR_ARG, "backward: trying to backward through the graph a second time "
                                    "(its intermediate values were freed after the first)");
    }
    nb_tensor_free(root->dout);
    root->dout = seed;

    node_list order = {0};
    nb_status st = topo_sort(root, &order);
    nb_phase phase = nb_profile_set_phase(NB_PHASE_BACKWARD);
    for (int k = order.count - 1; k >= 0 && st == NB_OK; k--) {
        nb_node *n = order.items[k];
        if (n->released) {
            st = nb_error(NB_ERR_ARG, "backward: part of this graph was already freed by an earlier backward");
            break;
        }
        nb_grad_target targets[NB_NODE_MAX_INPUTS] = {{0}};
        /* A node whose output no path to the loss used has no dout: nothing flows back. */
        if (n->dout) {
            for (int i = 0; i < n->ninputs && st == NB_OK; i++) {
                st = grad_target(n->inputs[i], &targets[i]);
                /* An input listed twice (x * x) shares one target: the first occurrence
                 * writes or adds as its mode says, the later ones add (backwards handle
                 * their inputs in order). */
                for (int j = 0; j < i; j++)
                    if (n->inputs[j] == n->inputs[i]) targets[i].mode = NB_GRAD_ADD;
            }
            if (st == NB_OK) st = n->backward(n, n->dout, targets);
            for (int i = 0; i < n->ninputs; i++) grad_target_done(n->inputs[i], &targets[i], st != NB_OK);
        }
        /* retain_graph=False: the step's intermediates go as soon as they are used. */
        nb_tensor_free(n->dout);
        n->dout = NULL;
        node_drop_inputs(n);
        n->released = true;
    }
    nb_profile_set_phase(phase);
    for (int k = 0; k < order.count; k++) node_release(order.items[k]);
    nb_free(order.items);
    return st;
}
