/* src/graph/lower.c — from a graph to the plan's values and instructions, once: topological
 * order, the backward derived in the dynamic engine's order and with its formulas, the fusions
 * (the sum-of-squares loss with its backward, clamp with a byte mask, the SGD update), and the
 * update. Memory (memory.c) and the loops (resolve.c) come after; docs/static-graph.md says why. */
#include "graph/graph_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the compile context ----------------------------------------------------------------- */

typedef struct compile_ctx {
    nb_plan *p;
    nb_graph *g;
    nb_gnode *loss;
    int n;          /* graph nodes */
    bool *reach;    /* the loss depends on it */
    bool *req;      /* on a path from a kept gradient to the loss: needs a gradient */
    bool *target;   /* parameters and wrt nodes */
    int *consumers; /* uses by reachable nodes */
    int *forward;   /* post-order from the loss over every input */
    int nforward;
    int *backward; /* the dynamic engine's post-order (inputs that need a gradient) */
    int nbackward;
    int *grad;           /* node id -> its gradient's value, -1 until one is needed */
    bool *written;       /* node id -> its gradient has had its first contribution */
    int *mask;           /* node id -> the mask value of a fused clamp */
    bool *fuse_mask;     /* clamp_min/relu nodes compiled with a mask */
    bool fuse_loss;      /* the loss is sub-square-sum (or mse sum), fused */
    int loss_members[3]; /* the nodes the fused loss stands for (-1 when absent) */
    int *stack;
    bool *mark;
    bool nomem;       /* a value or instruction could not be added */
    nb_instr scratch; /* what instr_new hands out once nomem is set */
} compile_ctx;

#define NODE(c, id) ((c)->g->nodes[id])

/* ---- values and instructions ------------------------------------------------------------------ */

/* Grows an array of `size`-byte items to hold one more (doubling); false when out of memory. */
static bool reserve_one(void **items, int count, int *cap, size_t size) {
    if (count < *cap) return true;
    int want = *cap ? 2 * *cap : 64;
    void *grown = realloc(*items, (size_t)want * size);
    if (!grown) return false;
    memset((char *)grown + (size_t)*cap * size, 0, (size_t)(want - *cap) * size);
    *items = grown;
    *cap = want;
    return true;
}

/* The arrays grow as lowering goes. A growth that fails is remembered (c->nomem) and reported
 * once lowering ends; until then the new value or instruction is a scratch one, so the emitters
 * need no error paths of their own. */
static int value_new(compile_ctx *c, nb_vkind kind, int ndim, const int64_t *shape, int node, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int value_new(compile_ctx *c, nb_vkind kind, int ndim, const int64_t *shape, int node, const char *fmt, ...) {
    nb_plan *p = c->p;
    if (c->nomem || !reserve_one((void **)&p->values, p->nvalues, &p->values_cap, sizeof *p->values)) {
        c->nomem = true;
        return 0; /* lower() reserved room for one value before any emitter ran */
    }
    nb_pvalue *v = &p->values[p->nvalues];
    *v = (nb_pvalue){.kind = kind, .ndim = ndim, .view_of = -1, .node = node, .def = -1, .last = -1, .took_over = -1};
    for (int d = 0; d < NB_MAX_DIMS; d++) v->shape[d] = d < ndim ? shape[d] : 1;
    v->numel = nb_graph_numel(ndim, shape);
    size_t esize = kind == NB_VAL_MASK ? 1 : nb_dtype_size(p->dtype);
    size_t raw = (size_t)v->numel * esize;
    v->bytes = (raw + NB_GRAPH_ALIGN - 1) / NB_GRAPH_ALIGN * NB_GRAPH_ALIGN;
    if (v->bytes == 0) v->bytes = NB_GRAPH_ALIGN;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->name, sizeof v->name, fmt, ap);
    va_end(ap);
    return p->nvalues++;
}

static nb_instr *instr_new(compile_ctx *c, nb_ikind kind, nb_plan_stage stage, int node) {
    nb_plan *p = c->p;
    nb_instr *ins = &c->scratch;
    if (!c->nomem && reserve_one((void **)&p->instrs, p->ninstrs, &p->instrs_cap, sizeof *p->instrs))
        ins = &p->instrs[p->ninstrs++];
    else
        c->nomem = true;
    *ins = (nb_instr){.kind = kind, .stage = stage, .node = node};
    for (int i = 0; i < NB_INSTR_MAX_OUT; i++) ins->out[i] = -1;
    for (int i = 0; i < NB_INSTR_MAX_IN; i++) ins->in[i] = -1;
    return ins;
}

/* An instruction o = kind(x, y) with a scalar; x, y -1 when absent. */
static nb_instr *io(compile_ctx *c, nb_ikind kind, nb_plan_stage stage, int node, int out, int x, int y, double s) {
    nb_instr *ins = instr_new(c, kind, stage, node);
    ins->out[0] = out;
    ins->in[0] = x;
    ins->in[1] = y;
    ins->scalar = s;
    return ins;
}

/* An elementwise instruction o = op(x, y, s) of the tensor layer. */
static nb_instr *ew(compile_ctx *c, nb_ew_op op, nb_plan_stage stage, int node, int out, int x, int y, double s) {
    nb_instr *ins = io(c, NB_I_EW, stage, node, out, x, y, s);
    ins->ew = op;
    return ins;
}

static int value_of(compile_ctx *c, const nb_gnode *n) { return c->p->node_value[n->id]; }

static int temp_like(compile_ctx *c, const nb_gnode *n, const char *what) {
    return value_new(c, NB_VAL_TEMP, n->ndim, n->shape, -1, "%s(%s)", what, n->name);
}

/* The gradient value of node n, made on first use; a kept gradient (a target's) stays live
 * to the end of the schedule. */
static int grad_of(compile_ctx *c, const nb_gnode *n) {
    if (c->grad[n->id] < 0) {
        int v = value_new(c, NB_VAL_TEMP, n->ndim, n->shape, n->id, "d%s", n->name);
        c->p->values[v].is_grad = true;
        c->p->values[v].keep = c->target[n->id];
        c->grad[n->id] = v;
    }
    return c->grad[n->id];
}

/* Marks n's gradient written; returns whether this contribution is its first. */
static bool first_contribution(compile_ctx *c, const nb_gnode *n) {
    bool first = !c->written[n->id];
    c->written[n->id] = true;
    return first;
}

/* dn (+)= x @ y, the transposes as flags: the first contribution writes (beta 0), which
 * gives the bits the dynamic engine's beta 1 on a zeroed gradient gives (docs/static-graph.md). */
static void contribute_mm(compile_ctx *c, const nb_gnode *n, int x, bool xt, int y, bool yt, int node) {
    int d = grad_of(c, n);
    nb_instr *ins = instr_new(c, NB_I_MM, NB_PLAN_GRADIENTS, node);
    ins->out[0] = d;
    ins->in[0] = x;
    ins->in_t[0] = xt;
    ins->in[1] = y;
    ins->in_t[1] = yt;
    ins->first = first_contribution(c, n);
}

/* dn += alpha * src summed down to n's shape: the dynamic engine's add_sum_to_ into a zeroed
 * gradient, the zero read as a constant on the first contribution. */
static void contribute_sum_to(compile_ctx *c, const nb_gnode *n, int src, bool src_t, double alpha, int node) {
    int d = grad_of(c, n);
    nb_instr *ins = io(c, NB_I_ACC_SUM_TO, NB_PLAN_GRADIENTS, node, d, src, -1, alpha);
    ins->in_t[0] = src_t;
    ins->first = first_contribution(c, n);
}

/* ---- ordering and analysis -------------------------------------------------------------------- */

/* Post-order of the nodes reachable from root, iteratively (a long chain cannot overflow the
 * C stack). grad_only follows, as autograd's topo_sort does, only inputs that are ops needing a
 * gradient; otherwise every input. Returns the count written to order. */
static int post_order(compile_ctx *c, const nb_gnode *root, bool grad_only, int *order) {
    memset(c->mark, 0, (size_t)c->n * sizeof *c->mark);
    int top = 0, count = 0;
    c->mark[root->id] = true;
    c->stack[top++] = root->id;
    while (top > 0) {
        const nb_gnode *n = NODE(c, c->stack[top - 1]);
        bool pushed = false;
        for (int i = 0; i < n->ninputs && !pushed; i++) {
            const nb_gnode *child = n->inputs[i];
            bool follow = grad_only ? c->req[child->id] && child->ninputs > 0 : true;
            if (follow && !c->mark[child->id]) {
                c->mark[child->id] = true;
                c->stack[top++] = child->id;
                pushed = true;
            }
        }
        if (!pushed) order[count++] = c->stack[--top];
    }
    return count;
}

/* A node whose value a flat loop may visit in order: everything but a transposed view
 * (placeholders, parameters and computed values are contiguous). */
static bool flat_node(const nb_gnode *n) { return n->op != NB_OP_T; }

static bool same_shape(const nb_gnode *a, const nb_gnode *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

/* loss = sum(pow(sub(a, b), 2)) or mse_loss(a, b, sum), the intermediates used by nothing
 * else, a and b distinct, of one shape and contiguous: then one pass computes the loss and,
 * from the seed 1, the gradients of a and b. */
static void analyse_loss(compile_ctx *c) {
    const nb_gnode *l = c->loss, *sub = NULL;
    c->loss_members[0] = c->loss_members[1] = c->loss_members[2] = -1;
    if (l->op == NB_OP_SUM) {
        const nb_gnode *pw = l->inputs[0];
        if (pw->op != NB_OP_POW || pw->scalar != 2.0 || c->consumers[pw->id] != 1) return;
        sub = pw->inputs[0];
        if (sub->op != NB_OP_SUB || c->consumers[sub->id] != 1) return;
        c->loss_members[1] = pw->id;
        c->loss_members[2] = sub->id;
    } else if (l->op == NB_OP_MSE_LOSS && l->reduction == NB_REDUCTION_SUM) {
        sub = l;
    } else {
        return;
    }
    const nb_gnode *a = sub->inputs[0], *b = sub->inputs[1];
    if (a == b || !same_shape(a, b) || !same_shape(a, sub) || !flat_node(a) || !flat_node(b)) {
        c->loss_members[1] = c->loss_members[2] = -1;
        return;
    }
    c->loss_members[0] = l->id;
    c->fuse_loss = true;
}

static bool in_fused_loss(const compile_ctx *c, int id) {
    return c->fuse_loss && (id == c->loss_members[0] || id == c->loss_members[1] || id == c->loss_members[2]);
}

/* The operands of the fused loss: the sub node (the mse node itself for mse). */
static const nb_gnode *fused_loss_sub(const compile_ctx *c) {
    return c->loss_members[2] >= 0 ? NODE(c, c->loss_members[2]) : c->loss;
}

/* ---- forward ----------------------------------------------------------------------------------- */

/* A contiguous version of value v for a reduction: v itself, or a copy of a transposed view. */
static int contiguous_input(compile_ctx *c, const nb_gnode *n, int node) {
    int v = value_of(c, n);
    if (c->p->values[v].kind != NB_VAL_VIEW) return v;
    int copy = temp_like(c, n, "contiguous");
    ew(c, NB_EW_COPY, NB_PLAN_FORWARD, node, copy, v, -1, 0.0);
    return copy;
}

static void emit_forward(compile_ctx *c, const nb_gnode *n) {
    const int v = value_of(c, n);
    const nb_gnode *a = n->ninputs > 0 ? n->inputs[0] : NULL, *b = n->ninputs > 1 ? n->inputs[1] : NULL;
    const nb_plan_stage F = NB_PLAN_FORWARD;
    if (in_fused_loss(c, n->id)) {
        if (n->id != c->loss_members[0]) return; /* sub and pow live inside the fused loss */
        const nb_gnode *sub = fused_loss_sub(c), *x = sub->inputs[0], *y = sub->inputs[1];
        nb_instr *ins = instr_new(c, NB_I_SQDIFF_SUM, F, n->id);
        ins->out[0] = v;
        ins->in[0] = value_of(c, x);
        ins->in[1] = value_of(c, y);
        /* the loss's backward starts from the seed 1, so its gradients are known here; this is
         * the last forward instruction, before any backward one, so they are the first
         * contributions to both gradients: it writes them */
        ins->first = true;
        if (c->req[x->id]) {
            ins->out[1] = grad_of(c, x);
            bool first = first_contribution(c, x);
            NB_ASSERT(first);
        }
        if (c->req[y->id]) {
            ins->out[2] = grad_of(c, y);
            bool first = first_contribution(c, y);
            NB_ASSERT(first);
        }
        ins->fused = n->op == NB_OP_MSE_LOSS ? "mse_loss(sum) + its backward from the seed 1"
                                             : "sub, pow 2, sum + their backward from the seed 1";
        return;
    }
    switch (n->op) {
    case NB_GOP_PLACEHOLDER:
    case NB_GOP_PARAMETER:
    case NB_OP_T: /* a view: no instruction, its readers take the transpose as a flag */ return;
    case NB_OP_MM: {
        nb_instr *ins = io(c, NB_I_MM, F, n->id, v, value_of(c, a), value_of(c, b), 0.0);
        ins->first = true;
        return;
    }
    case NB_OP_ADD: ew(c, NB_EW_ADD, F, n->id, v, value_of(c, a), value_of(c, b), 0.0); return;
    case NB_OP_SUB: ew(c, NB_EW_SUB, F, n->id, v, value_of(c, a), value_of(c, b), 0.0); return;
    case NB_OP_MUL: ew(c, NB_EW_MUL, F, n->id, v, value_of(c, a), value_of(c, b), 0.0); return;
    case NB_OP_ADD_SCALAR: ew(c, NB_EW_ADD_S, F, n->id, v, value_of(c, a), -1, n->scalar); return;
    case NB_OP_MUL_SCALAR: ew(c, NB_EW_MUL_S, F, n->id, v, value_of(c, a), -1, n->scalar); return;
    case NB_OP_POW:
        ew(c, n->scalar == 2.0 ? NB_EW_SQUARE : NB_EW_POW_S, F, n->id, v, value_of(c, a), -1, n->scalar);
        return;
    case NB_OP_CLAMP_MIN:
    case NB_OP_RELU:
        if (c->fuse_mask[n->id]) {
            nb_instr *ins = io(c, NB_I_CLAMP_MASK, F, n->id, v, value_of(c, a), -1, n->scalar);
            ins->out[1] = c->mask[n->id];
            ins->strict = n->op == NB_OP_RELU;
            ins->fused = n->op == NB_OP_RELU ? "relu + the mask relu's backward (where_gt) reads"
                                             : "clamp_min + the mask clamp's backward (where_ge) reads";
        } else {
            ew(c, NB_EW_CLAMP_MIN, F, n->id, v, value_of(c, a), -1, n->scalar);
        }
        return;
    case NB_OP_SUM:
    case NB_OP_MEAN:
        io(c, n->op == NB_OP_SUM ? NB_I_SUM : NB_I_MEAN, F, n->id, v, contiguous_input(c, a, n->id), -1, 0.0);
        return;
    case NB_OP_MSE_LOSS:
        /* as the dynamic op: (pred - target), squared in place, then reduced */
        if (n->reduction == NB_REDUCTION_NONE) {
            ew(c, NB_EW_SUB, F, n->id, v, value_of(c, a), value_of(c, b), 0.0);
            ew(c, NB_EW_SQUARE, F, n->id, v, v, -1, 2.0);
        } else {
            int sq = temp_like(c, a, "sq");
            ew(c, NB_EW_SUB, F, n->id, sq, value_of(c, a), value_of(c, b), 0.0);
            ew(c, NB_EW_SQUARE, F, n->id, sq, sq, -1, 2.0);
            io(c, n->reduction == NB_REDUCTION_SUM ? NB_I_SUM : NB_I_MEAN, F, n->id, v, sq, -1, 0.0);
        }
        return;
    default: break;
    }
    NB_ASSERT(!"unknown graph op");
}

/* ---- backward: each op's recipe from the derivatives table ---------------------------------- */

/* The value a recipe step or form reads (tmp: the recipe's temporary). */
static int recipe_value(compile_ctx *c, const nb_gnode *n, nb_dref r, int go, int tmp) {
    switch (r) {
    case NB_DREF_DOUT: return go;
    case NB_DREF_IN0: return value_of(c, n->inputs[0]);
    case NB_DREF_IN1: return value_of(c, n->inputs[1]);
    case NB_DREF_TMP: return tmp;
    }
    return -1;
}

/* The node whose shape a step's x operand has: the temporary takes it. */
static const nb_gnode *recipe_node(const nb_gnode *n, nb_dref r) {
    return r == NB_DREF_IN0 ? n->inputs[0] : r == NB_DREF_IN1 ? n->inputs[1] : n;
}

/* relu/clamp compiled with a mask: where_gt/where_ge and the accumulation from the byte. */
static void emit_mask_backward(compile_ctx *c, const nb_gnode *n, int go) {
    const nb_gnode *a = n->inputs[0];
    nb_instr *ins = io(c, NB_I_MASK_BWD, NB_PLAN_GRADIENTS, n->id, grad_of(c, a), go, c->mask[n->id], 0.0);
    ins->first = first_contribution(c, a);
    ins->fused = n->op == NB_OP_RELU ? "where_gt(dout, a, 0) + its accumulation, from the mask"
                                     : "where_ge(dout, a, min) + its accumulation, from the mask";
}

static void emit_backward(compile_ctx *c, const nb_gnode *n) {
    if (in_fused_loss(c, n->id) || n->ninputs == 0) return; /* the fused loss did it; leaves have none */
    const int go = c->grad[n->id];
    NB_ASSERT(go >= 0);
    const nb_plan_stage B = NB_PLAN_GRADIENTS;
    const nb_op_args args = {.scalar = n->scalar,
                             .reduction = n->reduction,
                             .numel = nb_graph_numel(n->inputs[0]->ndim, n->inputs[0]->shape)};
    int tmp0 = -1; /* input 0's temporary, which a shared recipe's input 1 reads */
    for (int i = 0; i < n->ninputs; i++) {
        const nb_gnode *in = n->inputs[i];
        if (!c->req[in->id]) continue;
        if (i == 0 && c->fuse_mask[n->id]) {
            emit_mask_backward(c, n, go);
            continue;
        }
        const nb_grad_recipe r = nb_derivative((nb_op)n->op, i, &args);
        switch (r.form) {
        case NB_GRAD_GEMM:
            contribute_mm(c, in, recipe_value(c, n, r.a, go, -1), r.a_t, recipe_value(c, n, r.b, go, -1), r.b_t, n->id);
            break;
        case NB_GRAD_ITEM: {
            nb_instr *ins = io(c, NB_I_ACC_SCALAR, B, n->id, grad_of(c, in), go, -1, r.divisor);
            ins->first = first_contribution(c, in);
            break;
        }
        case NB_GRAD_ZEROS: {
            int g = temp_like(c, in, "g");
            ew(c, NB_EW_FILL, B, n->id, g, -1, -1, 0.0);
            contribute_sum_to(c, in, g, false, 1.0, n->id);
            break;
        }
        case NB_GRAD_SUM_TO: {
            int src = go;
            if (r.nsteps > 0 && r.same_tmp_as_input0 && tmp0 >= 0) {
                src = tmp0;
            } else if (r.nsteps > 0) {
                src = temp_like(c, recipe_node(n, r.steps[0].x), "g");
                for (int k = 0; k < r.nsteps; k++) {
                    const nb_dstep *st = &r.steps[k];
                    bool unary = st->y == st->x; /* a unary op names its input twice */
                    ew(c, st->op, B, n->id, src, recipe_value(c, n, st->x, go, src),
                       unary ? -1 : recipe_value(c, n, st->y, go, src), st->scalar);
                }
                if (i == 0) tmp0 = src;
            }
            contribute_sum_to(c, in, src, r.src_t, r.alpha, n->id);
            break;
        }
        }
    }
}

/* ---- the update ------------------------------------------------------------------------------- */

static void emit_update(compile_ctx *c, const nb_gnode *param) {
    const int w = value_of(c, param), g = grad_of(c, param);
    const double lr = c->p->opts.lr;
    if (!c->p->opts.no_fusion) {
        nb_instr *ins = io(c, NB_I_SGD, NB_PLAN_STEP, param->id, w, g, -1, lr);
        ins->fused = "mul_scalar(d, lr), sub, assign: w = w - (lr * dw) in one pass";
        return;
    }
    /* with torch.no_grad(): w -= lr * w.grad, one op at a time */
    int scaled = temp_like(c, param, "lr*d");
    int updated = temp_like(c, param, "new");
    ew(c, NB_EW_MUL_S, NB_PLAN_STEP, param->id, scaled, g, -1, lr);
    ew(c, NB_EW_SUB, NB_PLAN_STEP, param->id, updated, w, scaled, 0.0);
    ew(c, NB_EW_COPY, NB_PLAN_STEP, param->id, w, updated, -1, 0.0);
}

static void ctx_free(compile_ctx *c) {
    free(c->reach);
    free(c->req);
    free(c->target);
    free(c->consumers);
    free(c->forward);
    free(c->backward);
    free(c->grad);
    free(c->written);
    free(c->mask);
    free(c->fuse_mask);
    free(c->stack);
    free(c->mark);
}

static nb_status lower(compile_ctx *c, nb_gnode *const *params, int nparams, const nb_graph_options *o) {
    nb_plan *p = c->p;
    const int n = c->n;
    c->reach = calloc((size_t)n, sizeof *c->reach);
    c->req = calloc((size_t)n, sizeof *c->req);
    c->target = calloc((size_t)n, sizeof *c->target);
    c->consumers = calloc((size_t)n, sizeof *c->consumers);
    c->forward = malloc((size_t)n * sizeof *c->forward);
    c->backward = malloc((size_t)n * sizeof *c->backward);
    c->grad = malloc((size_t)n * sizeof *c->grad);
    c->written = calloc((size_t)n, sizeof *c->written);
    c->mask = malloc((size_t)n * sizeof *c->mask);
    c->fuse_mask = calloc((size_t)n, sizeof *c->fuse_mask);
    c->stack = malloc((size_t)n * sizeof *c->stack);
    c->mark = calloc((size_t)n, sizeof *c->mark);
    p->node_value = malloc((size_t)n * sizeof *p->node_value);
    p->node_grad = malloc((size_t)n * sizeof *p->node_grad);
    const int targets = nparams + o->nwrt;
    if (!reserve_one((void **)&p->values, 0, &p->values_cap, sizeof *p->values) ||
        !reserve_one((void **)&p->instrs, 0, &p->instrs_cap, sizeof *p->instrs))
        return nb_error(NB_ERR_NOMEM, "out of memory compiling a graph");
    if (!c->reach || !c->req || !c->target || !c->consumers || !c->forward || !c->backward || !c->grad || !c->written ||
        !c->mask || !c->fuse_mask || !c->stack || !c->mark || !p->node_value || !p->node_grad)
        return nb_error(NB_ERR_NOMEM, "out of memory compiling a graph");
    for (int i = 0; i < n; i++) c->grad[i] = c->mask[i] = p->node_value[i] = p->node_grad[i] = -1;

    /* what the loss needs, in topological order */
    c->nforward = post_order(c, c->loss, false, c->forward);
    for (int k = 0; k < c->nforward; k++) {
        const nb_gnode *node = NODE(c, c->forward[k]);
        c->reach[node->id] = true;
        for (int i = 0; i < node->ninputs; i++) c->consumers[node->inputs[i]->id]++;
        if (node->ninputs > 0) p->forward_nodes++;
    }
    for (int i = 0; i < targets; i++) c->target[(i < nparams ? params[i] : o->wrt[i - nparams])->id] = true;
    /* forward order visits inputs first, so one pass propagates "needs a gradient" */
    for (int k = 0; k < c->nforward; k++) {
        const nb_gnode *node = NODE(c, c->forward[k]);
        bool r = c->target[node->id];
        for (int i = 0; i < node->ninputs; i++) r = r || c->req[node->inputs[i]->id];
        c->req[node->id] = r;
    }

    /* values: every placeholder (so any may be fed), then the reachable nodes */
    for (int i = 0; i < n; i++) {
        const nb_gnode *node = NODE(c, i);
        if (node->op == NB_GOP_PLACEHOLDER)
            p->node_value[i] = value_new(c, NB_VAL_INPUT, node->ndim, node->shape, i, "%s", node->name);
    }
    if (!o->no_fusion) analyse_loss(c);
    for (int k = 0; k < c->nforward; k++) {
        const nb_gnode *node = NODE(c, c->forward[k]);
        int id = node->id;
        if (node->op == NB_GOP_PLACEHOLDER || (in_fused_loss(c, id) && id != c->loss_members[0])) continue;
        if (node->op == NB_GOP_PARAMETER) {
            int v = value_new(c, NB_VAL_PARAM, node->ndim, node->shape, id, "%s", node->name);
            p->values[v].t = node->param;
            p->node_value[id] = v;
        } else if (node->op == NB_OP_T) {
            int v = value_new(c, NB_VAL_VIEW, node->ndim, node->shape, id, "%s", node->name);
            p->values[v].view_of = p->node_value[node->inputs[0]->id];
            p->node_value[id] = v;
        } else {
            p->node_value[id] = value_new(c, NB_VAL_TEMP, node->ndim, node->shape, id, "%s", node->name);
        }
        /* relu/clamp whose input needs a gradient: keep a byte mask instead of the input */
        if ((node->op == NB_OP_CLAMP_MIN || node->op == NB_OP_RELU) && !o->no_fusion && c->req[node->inputs[0]->id] &&
            flat_node(node->inputs[0])) {
            c->fuse_mask[id] = true;
            c->mask[id] = value_new(c, NB_VAL_MASK, node->ndim, node->shape, id, "mask(%s)", node->name);
        }
    }
    p->loss = p->node_value[c->loss->id];
    p->values[p->loss].keep = true;

    /* forward */
    for (int k = 0; k < c->nforward; k++) emit_forward(c, NODE(c, c->forward[k]));
    p->stage_end[NB_PLAN_FORWARD] = p->ninstrs;

    /* backward, in the dynamic engine's order: the seed, then each node once, consumers first */
    if (c->req[c->loss->id]) {
        c->nbackward = post_order(c, c->loss, true, c->backward);
        if (!c->fuse_loss) {
            int seed = grad_of(c, c->loss);
            ew(c, NB_EW_FILL, NB_PLAN_GRADIENTS, c->loss->id, seed, -1, -1, 1.0);
            c->written[c->loss->id] = true;
        }
        for (int k = c->nbackward - 1; k >= 0; k--) emit_backward(c, NODE(c, c->backward[k]));
    }
    /* a target the loss does not depend on has a zero gradient, as a .grad nothing reached */
    for (int i = 0; i < targets; i++) {
        const nb_gnode *t = i < nparams ? params[i] : o->wrt[i - nparams];
        int d = grad_of(c, t);
        if (!c->written[t->id]) ew(c, NB_EW_FILL, NB_PLAN_GRADIENTS, t->id, d, -1, -1, 0.0);
        c->written[t->id] = true;
        p->node_grad[t->id] = d;
    }
    p->stage_end[NB_PLAN_GRADIENTS] = p->ninstrs;

    /* the update; a parameter the loss does not reach is still "updated" by a zero gradient */
    if (o->update == NB_GRAPH_UPDATE_SGD)
        for (int i = 0; i < nparams; i++) {
            if (p->node_value[params[i]->id] < 0) {
                int v =
                    value_new(c, NB_VAL_PARAM, params[i]->ndim, params[i]->shape, params[i]->id, "%s", params[i]->name);
                p->values[v].t = params[i]->param;
                p->node_value[params[i]->id] = v;
            }
            emit_update(c, params[i]);
        }
    p->stage_end[NB_PLAN_STEP] = p->ninstrs;
    return c->nomem ? nb_error(NB_ERR_NOMEM, "out of memory compiling a graph") : NB_OK;
}

nb_status nb_plan_lower(nb_plan *p, nb_gnode *loss, nb_gnode *const *params, int nparams, const nb_graph_options *o) {
    compile_ctx c = {.p = p, .g = p->graph, .loss = loss, .n = p->graph->count};
    nb_status st = lower(&c, params, nparams, o);
    ctx_free(&c);
    return st;
}
