/* src/graph/compile.c — from a graph to a plan, once: topological order, the backward derived
 * in the dynamic engine's order and with its formulas, the fusions, buffers placed by liveness
 * in one arena, every loop and GEMM call precomputed (docs/static-graph.md says why). */
#include "graph/graph_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const nb_ikind_names[NB_I_COUNT] = {
    [NB_I_ADD] = "add",
    [NB_I_SUB] = "sub",
    [NB_I_MUL] = "mul",
    [NB_I_ADD_S] = "add_scalar",
    [NB_I_MUL_S] = "mul_scalar",
    [NB_I_SQUARE] = "square",
    [NB_I_POW_S] = "pow",
    [NB_I_CLAMP_MIN] = "clamp_min",
    [NB_I_WHERE_GE] = "where_ge",
    [NB_I_WHERE_GT] = "where_gt",
    [NB_I_COPY] = "copy",
    [NB_I_ZERO] = "zero",
    [NB_I_FILL] = "fill",
    [NB_I_ACC_ADD] = "acc_add",
    [NB_I_ACC_SUM_TO] = "acc_sum_to",
    [NB_I_ACC_SCALAR] = "acc_scalar",
    [NB_I_SUM] = "sum",
    [NB_I_MEAN] = "mean",
    [NB_I_MM] = "mm",
    [NB_I_SQDIFF_SUM] = "sub_sq_sum",
    [NB_I_CLAMP_MASK] = "clamp_mask",
    [NB_I_MASK_BWD] = "mask_bwd",
    [NB_I_SGD] = "sgd_update",
};
_Static_assert(sizeof nb_ikind_names / sizeof nb_ikind_names[0] == NB_I_COUNT, "one name per instruction");

/* ---- the compile context ----------------------------------------------------------------- */

typedef struct compile_ctx {
    nb_plan *p;
    nb_graph *g;
    nb_gnode *loss;
    int n;              /* graph nodes */
    bool *reach;        /* the loss depends on it */
    bool *req;          /* on a path from a kept gradient to the loss: needs a gradient */
    bool *target;       /* parameters and wrt nodes */
    int *consumers;     /* uses by reachable nodes */
    int *forward;       /* post-order from the loss over every input */
    int nforward;
    int *backward;      /* the dynamic engine's post-order (inputs that need a gradient) */
    int nbackward;
    int *grad;          /* node id -> its gradient's value, -1 until one is needed */
    bool *written;      /* node id -> its gradient has had its first contribution */
    int *mask;          /* node id -> the mask value of a fused clamp */
    bool *fuse_mask;    /* clamp_min/relu nodes compiled with a mask */
    bool fuse_loss;     /* the loss is sub-square-sum (or mse sum), fused */
    int loss_members[3];/* the nodes the fused loss stands for (-1 when absent) */
    int *stack;
    bool *mark;
} compile_ctx;

#define NODE(c, id) ((c)->g->nodes[id])

/* ---- values and instructions ------------------------------------------------------------------ */

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* Capacity is reserved up front (compile never grows the arrays), so these cannot fail. */
static int value_new(nb_plan *p, nb_vkind kind, int ndim, const int64_t *shape, int node, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int value_new(nb_plan *p, nb_vkind kind, int ndim, const int64_t *shape, int node, const char *fmt, ...) {
    NB_ASSERT(p->nvalues < p->values_cap);
    nb_pvalue *v = &p->values[p->nvalues];
    *v = (nb_pvalue){.kind = kind, .ndim = ndim, .view_of = -1, .node = node, .def = -1, .last = -1, .took_over = -1};
    for (int d = 0; d < NB_MAX_DIMS; d++) v->shape[d] = d < ndim ? shape[d] : 1;
    v->numel = numel_of(ndim, shape);
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
    NB_ASSERT(p->ninstrs < p->instrs_cap);
    nb_instr *ins = &p->instrs[p->ninstrs++];
    *ins = (nb_instr){.kind = kind, .stage = stage, .node = node};
    for (int i = 0; i < NB_INSTR_MAX_OUT; i++) ins->out[i] = -1;
    for (int i = 0; i < NB_INSTR_MAX_IN; i++) ins->in[i] = -1;
    return ins;
}

/* An elementwise instruction o = op(x, y) with the op's scalar. */
static nb_instr *ew(compile_ctx *c, nb_ikind kind, nb_plan_stage stage, int node, int out, int x, int y, double s) {
    nb_instr *ins = instr_new(c, kind, stage, node);
    ins->out[0] = out;
    ins->in[0] = x;
    ins->in[1] = y;
    ins->scalar = s;
    return ins;
}

static int value_of(compile_ctx *c, const nb_gnode *n) { return c->p->node_value[n->id]; }

static int temp_like(compile_ctx *c, const nb_gnode *n, const char *what) {
    return value_new(c->p, NB_VAL_TEMP, n->ndim, n->shape, -1, "%s(%s)", what, n->name);
}

/* The gradient value of node n, made on first use; a kept gradient (a target's) stays live
 * to the end of the schedule. */
static int grad_of(compile_ctx *c, const nb_gnode *n) {
    if (c->grad[n->id] < 0) {
        int v = value_new(c->p, NB_VAL_TEMP, n->ndim, n->shape, n->id, "d%s", n->name);
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
    nb_instr *ins = ew(c, NB_I_ACC_SUM_TO, NB_PLAN_GRADIENTS, node, d, src, -1, alpha);
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
static bool flat_node(const nb_gnode *n) { return n->op != NB_GOP_T; }

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
    if (l->op == NB_GOP_SUM) {
        const nb_gnode *pw = l->inputs[0];
        if (pw->op != NB_GOP_POW || pw->scalar != 2.0 || c->consumers[pw->id] != 1) return;
        sub = pw->inputs[0];
        if (sub->op != NB_GOP_SUB || c->consumers[sub->id] != 1) return;
        c->loss_members[1] = pw->id;
        c->loss_members[2] = sub->id;
    } else if (l->op == NB_GOP_MSE && l->reduction == NB_GRAPH_REDUCTION_SUM) {
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
    ew(c, NB_I_COPY, NB_PLAN_FORWARD, node, copy, v, -1, 0.0);
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
        ins->fused = n->op == NB_GOP_MSE ? "mse_loss(sum) + its backward from the seed 1"
                                         : "sub, pow 2, sum + their backward from the seed 1";
        return;
    }
    switch (n->op) {
    case NB_GOP_PLACEHOLDER:
    case NB_GOP_PARAMETER:
    case NB_GOP_T: /* a view: no instruction, its readers take the transpose as a flag */
        return;
    case NB_GOP_MM: {
        nb_instr *ins = ew(c, NB_I_MM, F, n->id, v, value_of(c, a), value_of(c, b), 0.0);
        ins->first = true;
        return;
    }
    case NB_GOP_ADD: ew(c, NB_I_ADD, F, n->id, v, value_of(c, a), value_of(c, b), 0.0); return;
    case NB_GOP_SUB: ew(c, NB_I_SUB, F, n->id, v, value_of(c, a), value_of(c, b), 0.0); return;
    case NB_GOP_MUL: ew(c, NB_I_MUL, F, n->id, v, value_of(c, a), value_of(c, b), 0.0); return;
    case NB_GOP_ADD_SCALAR: ew(c, NB_I_ADD_S, F, n->id, v, value_of(c, a), -1, n->scalar); return;
    case NB_GOP_MUL_SCALAR: ew(c, NB_I_MUL_S, F, n->id, v, value_of(c, a), -1, n->scalar); return;
    case NB_GOP_POW:
        ew(c, n->scalar == 2.0 ? NB_I_SQUARE : NB_I_POW_S, F, n->id, v, value_of(c, a), -1, n->scalar);
        return;
    case NB_GOP_CLAMP_MIN:
    case NB_GOP_RELU:
        if (c->fuse_mask[n->id]) {
            nb_instr *ins = ew(c, NB_I_CLAMP_MASK, F, n->id, v, value_of(c, a), -1, n->scalar);
            ins->out[1] = c->mask[n->id];
            ins->strict = n->op == NB_GOP_RELU;
            ins->fused = n->op == NB_GOP_RELU ? "relu + the mask relu's backward (where_gt) reads"
                                              : "clamp_min + the mask clamp's backward (where_ge) reads";
        } else {
            ew(c, NB_I_CLAMP_MIN, F, n->id, v, value_of(c, a), -1, n->scalar);
        }
        return;
    case NB_GOP_SUM:
    case NB_GOP_MEAN:
        ew(c, n->op == NB_GOP_SUM ? NB_I_SUM : NB_I_MEAN, F, n->id, v, contiguous_input(c, a, n->id), -1, 0.0);
        return;
    case NB_GOP_MSE:
        /* as the dynamic op: (pred - target), squared in place, then reduced */
        if (n->reduction == NB_GRAPH_REDUCTION_NONE) {
            ew(c, NB_I_SUB, F, n->id, v, value_of(c, a), value_of(c, b), 0.0);
            ew(c, NB_I_SQUARE, F, n->id, v, v, -1, 2.0);
        } else {
            int sq = temp_like(c, a, "sq");
            ew(c, NB_I_SUB, F, n->id, sq, value_of(c, a), value_of(c, b), 0.0);
            ew(c, NB_I_SQUARE, F, n->id, sq, sq, -1, 2.0);
            ew(c, n->reduction == NB_GRAPH_REDUCTION_SUM ? NB_I_SUM : NB_I_MEAN, F, n->id, v, sq, -1, 0.0);
        }
        return;
    case NB_GOP_COUNT:
        break;
    }
    NB_ASSERT(!"unknown graph op");
}

/* ---- backward: ops.c's formulas, op by op ------------------------------------------------------ */

static void emit_backward(compile_ctx *c, const nb_gnode *n) {
    if (in_fused_loss(c, n->id)) return; /* done by the fused loss in the forward */
    const int go = c->grad[n->id];
    NB_ASSERT(go >= 0);
    const nb_gnode *a = n->ninputs > 0 ? n->inputs[0] : NULL, *b = n->ninputs > 1 ? n->inputs[1] : NULL;
    const bool need_a = a && c->req[a->id], need_b = b && c->req[b->id];
    const nb_plan_stage B = NB_PLAN_GRADIENTS;
    switch (n->op) {
    case NB_GOP_PLACEHOLDER:
    case NB_GOP_PARAMETER:
        return;
    case NB_GOP_MM: /* da += dout @ b^T, db += a^T @ dout */
        if (need_a) contribute_mm(c, a, go, false, value_of(c, b), true, n->id);
        if (need_b) contribute_mm(c, b, value_of(c, a), true, go, false, n->id);
        return;
    case NB_GOP_T: /* da += dout^T */
        if (need_a) {
            nb_instr *ins = ew(c, NB_I_ACC_ADD, B, n->id, grad_of(c, a), go, -1, 0.0);
            ins->in_t[0] = true;
            ins->first = first_contribution(c, a);
        }
        return;
    case NB_GOP_ADD:
    case NB_GOP_SUB: /* da += sum_to(dout), db += (or -=) sum_to(dout) */
        if (need_a) contribute_sum_to(c, a, go, false, 1.0, n->id);
        if (need_b) contribute_sum_to(c, b, go, false, n->op == NB_GOP_ADD ? 1.0 : -1.0, n->id);
        return;
    case NB_GOP_MUL: /* da += sum_to(dout * b), db += sum_to(dout * a) */
        for (int i = 0; i < 2; i++) {
            const nb_gnode *in = n->inputs[i], *other = n->inputs[1 - i];
            if (!c->req[in->id]) continue;
            int g = temp_like(c, n, "g");
            ew(c, NB_I_MUL, B, n->id, g, go, value_of(c, other), 0.0);
            contribute_sum_to(c, in, g, false, 1.0, n->id);
        }
        return;
    case NB_GOP_ADD_SCALAR:
        if (need_a) contribute_sum_to(c, a, go, false, 1.0, n->id);
        return;
    case NB_GOP_MUL_SCALAR:
        if (need_a) {
            int g = temp_like(c, n, "g");
            ew(c, NB_I_MUL_S, B, n->id, g, go, -1, n->scalar);
            contribute_sum_to(c, a, g, false, 1.0, n->id);
        }
        return;
    case NB_GOP_POW: /* da += dout * (e * a^(e-1)), PyTorch's grouping */
        if (need_a) {
            const double e = n->scalar;
            int g = temp_like(c, n, "g");
            if (e == 0.0) {
                ew(c, NB_I_ZERO, B, n->id, g, -1, -1, 0.0);
            } else {
                ew(c, e - 1.0 == 2.0 ? NB_I_SQUARE : NB_I_POW_S, B, n->id, g, value_of(c, a), -1, e - 1.0);
                ew(c, NB_I_MUL_S, B, n->id, g, g, -1, e);
            }
            ew(c, NB_I_MUL, B, n->id, g, g, go, 0.0);
            contribute_sum_to(c, a, g, false, 1.0, n->id);
        }
        return;
    case NB_GOP_CLAMP_MIN:
    case NB_GOP_RELU:
        if (!need_a) return;
        if (c->fuse_mask[n->id]) {
            nb_instr *ins = ew(c, NB_I_MASK_BWD, B, n->id, grad_of(c, a), go, c->mask[n->id], 0.0);
            ins->first = first_contribution(c, a);
            ins->fused = n->op == NB_GOP_RELU ? "where_gt(dout, a, 0) + its accumulation, from the mask"
                                              : "where_ge(dout, a, min) + its accumulation, from the mask";
        } else {
            int g = temp_like(c, n, "g");
            ew(c, n->op == NB_GOP_RELU ? NB_I_WHERE_GT : NB_I_WHERE_GE, B, n->id, g, go, value_of(c, a), n->scalar);
            contribute_sum_to(c, a, g, false, 1.0, n->id);
        }
        return;
    case NB_GOP_SUM:
    case NB_GOP_MEAN: /* da += dout (or dout / numel), the same for every element */
        if (need_a) {
            double divisor = n->op == NB_GOP_SUM ? 1.0 : (double)numel_of(a->ndim, a->shape);
            nb_instr *ins = ew(c, NB_I_ACC_SCALAR, B, n->id, grad_of(c, a), go, -1, divisor);
            ins->first = first_contribution(c, a);
        }
        return;
    case NB_GOP_MSE: /* g = norm * (pred - target) * dout; dpred += g, dtarget -= g */
        if (need_a || need_b) {
            double norm = n->reduction == NB_GRAPH_REDUCTION_MEAN ? 2.0 / (double)numel_of(a->ndim, a->shape) : 2.0;
            int g = temp_like(c, a, "g");
            ew(c, NB_I_SUB, B, n->id, g, value_of(c, a), value_of(c, b), 0.0);
            ew(c, NB_I_MUL_S, B, n->id, g, g, -1, norm);
            ew(c, NB_I_MUL, B, n->id, g, g, go, 0.0);
            if (need_a) contribute_sum_to(c, a, g, false, 1.0, n->id);
            if (need_b) contribute_sum_to(c, b, g, false, -1.0, n->id);
        }
        return;
    case NB_GOP_COUNT:
        break;
    }
    NB_ASSERT(!"unknown graph op");
}

/* ---- the update ------------------------------------------------------------------------------- */

static void emit_update(compile_ctx *c, const nb_gnode *param) {
    const int w = value_of(c, param), g = grad_of(c, param);
    const double lr = c->p->opts.lr;
    if (!c->p->opts.no_fusion) {
        nb_instr *ins = ew(c, NB_I_SGD, NB_PLAN_STEP, param->id, w, g, -1, lr);
        ins->fused = "mul_scalar(d, lr), sub, assign: w = w - (lr * dw) in one pass";
        return;
    }
    /* with torch.no_grad(): w -= lr * w.grad, one op at a time */
    int scaled = temp_like(c, param, "lr*d");
    int updated = temp_like(c, param, "new");
    ew(c, NB_I_MUL_S, NB_PLAN_STEP, param->id, scaled, g, -1, lr);
    ew(c, NB_I_SUB, NB_PLAN_STEP, param->id, updated, w, scaled, 0.0);
    ew(c, NB_I_COPY, NB_PLAN_STEP, param->id, w, updated, -1, 0.0);
}

/* ---- liveness and the memory plan ---------------------------------------------------------------- */

int nb_plan_root(const nb_plan *p, int v) {
    while (v >= 0 && p->values[v].kind == NB_VAL_VIEW) v = p->values[v].view_of;
    return v;
}

static void compute_liveness(nb_plan *p) {
    for (int i = 0; i < p->ninstrs; i++) {
        const nb_instr *ins = &p->instrs[i];
        for (int k = 0; k < NB_INSTR_MAX_IN; k++) {
            int r = nb_plan_root(p, ins->in[k]);
            if (r < 0) continue;
            nb_pvalue *v = &p->values[r];
            /* a temporary is always written before it is read */
            NB_ASSERT(v->def >= 0 || (v->kind != NB_VAL_TEMP && v->kind != NB_VAL_MASK));
            v->last = i;
        }
        for (int k = 0; k < NB_INSTR_MAX_OUT; k++) {
            int r = nb_plan_root(p, ins->out[k]);
            if (r < 0) continue;
            nb_pvalue *v = &p->values[r];
            if (v->def < 0) v->def = i;
            v->last = i;
        }
    }
    for (int i = 0; i < p->nvalues; i++)
        if (p->values[i].keep && p->values[i].def >= 0) p->values[i].last = p->ninstrs;
}

/* The one-op elementwise instructions come first in nb_ikind. */
static bool is_elementwise(nb_ikind k) { return k <= NB_I_COPY; }

/* Whether instruction i may write output slot `o` over the buffer of input slot `k`: an
 * elementwise pass reads element j of the input before it writes element j of the output,
 * so the two may share a buffer when the input dies here and has the output's layout. */
static bool inplace_allowed(const nb_plan *p, const nb_instr *ins, int o, int k) {
    if (ins->in[k] < 0 || ins->in_t[k]) return false;
    const nb_pvalue *out = &p->values[ins->out[o]], *in = &p->values[ins->in[k]];
    if (in->kind != NB_VAL_TEMP) return false; /* not a view, input, parameter or mask */
    bool shape_ok = out->ndim == in->ndim && out->numel == in->numel;
    for (int d = 0; d < out->ndim && shape_ok; d++) shape_ok = out->shape[d] == in->shape[d];
    if (!shape_ok) return false;
    /* another operand reading the same buffer transposed (b + b^T) would see it half written */
    for (int j = 0; j < NB_INSTR_MAX_IN; j++)
        if (j != k && ins->in[j] >= 0 && nb_plan_root(p, ins->in[j]) == ins->in[k] &&
            (ins->in_t[j] || p->values[ins->in[j]].kind == NB_VAL_VIEW))
            return false;
    switch (ins->kind) {
    case NB_I_CLAMP_MASK: return o == 0 && k == 0;
    case NB_I_MASK_BWD: return o == 0 && k == 0 && ins->first;
    case NB_I_SQDIFF_SUM: return (o == 1 && k == 0) || (o == 2 && k == 1);
    case NB_I_ACC_SUM_TO: return o == 0 && k == 0 && ins->first;
    default: return o == 0 && is_elementwise(ins->kind);
    }
}

/* A buffer of the plan: one value, or a chain of values each written in place over the one
 * before, alive from its first member's definition to its last member's last use. */
typedef struct chain {
    size_t bytes, offset;
    int lo, hi; /* instructions */
} chain;

static int by_size(const void *pa, const void *pb) {
    const chain *a = *(chain *const *)pa, *b = *(chain *const *)pb;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
    return (a->lo > b->lo) - (a->lo < b->lo); /* then earlier first: a deterministic order */
}

/* Greedy by size (TFLite's arena planner, XLA's heap simulator): the largest buffers first,
 * each at the lowest offset where it meets no placed buffer that is alive at the same time.
 * The largest buffers are the long-lived gradients, so the small ones fill around them. */
static void place_chains(chain *chains, int n, chain **sorted) {
    for (int i = 0; i < n; i++) sorted[i] = &chains[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_size);
    for (int i = 0; i < n; i++) {
        chain *c = sorted[i];
        size_t off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < i; j++) {
                const chain *o = sorted[j];
                bool same_time = c->lo <= o->hi && o->lo <= c->hi;
                if (same_time && o->offset < off + c->bytes && off < o->offset + o->bytes) {
                    off = o->offset + o->bytes;
                    moved = true;
                }
            }
        }
        c->offset = off;
    }
}

static nb_status plan_memory(nb_plan *p) {
    /* placeholders first: the front of the arena, for the plan's whole life */
    for (int i = 0; i < p->nvalues; i++) {
        nb_pvalue *v = &p->values[i];
        if (v->kind != NB_VAL_INPUT) continue;
        v->offset = p->input_bytes;
        p->input_bytes += v->bytes;
    }
    const bool reuse = !p->opts.no_reuse;
    /* in place: an output takes over an input that dies at its instruction (one output per
     * input), decided from liveness alone */
    bool *taken = calloc((size_t)p->nvalues, sizeof *taken);
    int *chain_of = malloc((size_t)p->nvalues * sizeof *chain_of);
    chain *chains = calloc((size_t)p->nvalues, sizeof *chains);
    chain **sorted = malloc((size_t)p->nvalues * sizeof *sorted);
    if (!taken || !chain_of || !chains || !sorted) {
        free(taken);
        free(chain_of);
        free(chains);
        free(sorted);
        return nb_error(NB_ERR_NOMEM, "out of memory planning a graph's buffers");
    }
    for (int i = 0; reuse && i < p->ninstrs; i++) {
        const nb_instr *ins = &p->instrs[i];
        for (int o = 0; o < NB_INSTR_MAX_OUT; o++) {
            int v = ins->out[o];
            if (v < 0 || p->values[v].kind != NB_VAL_TEMP || p->values[v].def != i) continue;
            for (int k = 0; k < NB_INSTR_MAX_IN && p->values[v].took_over < 0; k++) {
                if (!inplace_allowed(p, ins, o, k)) continue;
                int u = ins->in[k];
                if (p->values[u].last != i || p->values[u].keep || taken[u] || p->values[u].bytes != p->values[v].bytes)
                    continue;
                taken[u] = true;
                p->values[v].took_over = u;
            }
        }
    }
    /* chains, in value order: a value written in place joins the chain of the one it took over
     * (which comes first: it was defined earlier) */
    int nchains = 0;
    for (int i = 0; i < p->nvalues; i++) {
        nb_pvalue *v = &p->values[i];
        chain_of[i] = -1;
        if ((v->kind != NB_VAL_TEMP && v->kind != NB_VAL_MASK) || v->def < 0) continue;
        p->per_value_bytes += v->bytes;
        int c = v->took_over >= 0 ? chain_of[v->took_over] : -1;
        if (c < 0) {
            c = nchains++;
            chains[c] = (chain){.bytes = v->bytes, .lo = v->def, .hi = v->last};
        }
        chain_of[i] = c;
        if (v->def < chains[c].lo) chains[c].lo = v->def;
        if (v->last > chains[c].hi) chains[c].hi = v->last;
    }
    if (reuse) {
        place_chains(chains, nchains, sorted);
    } else { /* one buffer per value, in order */
        size_t bump = 0;
        for (int c = 0; c < nchains; c++) {
            chains[c].offset = bump;
            bump += chains[c].bytes;
        }
    }
    for (int c = 0; c < nchains; c++)
        if (chains[c].offset + chains[c].bytes > p->planned_bytes) p->planned_bytes = chains[c].offset + chains[c].bytes;
    for (int i = 0; i < p->nvalues; i++)
        if (chain_of[i] >= 0) p->values[i].offset = p->input_bytes + chains[chain_of[i]].offset;
    free(taken);
    free(chain_of);
    free(chains);
    free(sorted);
    return NB_OK;
}

nb_status nb_plan_check_memory(const nb_plan *p) {
    size_t size = p->input_bytes + p->planned_bytes;
    for (int i = 0; i < p->nvalues; i++) {
        const nb_pvalue *u = &p->values[i];
        bool placed_u = u->kind == NB_VAL_INPUT || ((u->kind == NB_VAL_TEMP || u->kind == NB_VAL_MASK) && u->def >= 0);
        if (!placed_u) continue;
        if (u->offset % NB_GRAPH_ALIGN || u->offset + u->bytes > size)
            return nb_error(NB_ERR_ARG, "plan: %s at %zu+%zu is misaligned or outside the arena (%zu bytes)", u->name,
                            u->offset, u->bytes, size);
        if (u->kind != NB_VAL_INPUT && u->offset < p->input_bytes)
            return nb_error(NB_ERR_ARG, "plan: %s overlaps the placeholders", u->name);
        for (int j = i + 1; j < p->nvalues; j++) {
            const nb_pvalue *v = &p->values[j];
            bool placed_v = v->kind == NB_VAL_INPUT || ((v->kind == NB_VAL_TEMP || v->kind == NB_VAL_MASK) && v->def >= 0);
            if (!placed_v) continue;
            bool bytes_meet = u->offset < v->offset + v->bytes && v->offset < u->offset + u->bytes;
            int64_t ulo = u->kind == NB_VAL_INPUT ? -1 : u->def, uhi = u->kind == NB_VAL_INPUT ? INT32_MAX : u->last;
            int64_t vlo = v->kind == NB_VAL_INPUT ? -1 : v->def, vhi = v->kind == NB_VAL_INPUT ? INT32_MAX : v->last;
            bool times_meet = ulo <= vhi && vlo <= uhi;
            if (!bytes_meet || !times_meet) continue;
            bool handed = (v->took_over == i && u->last == v->def) || (u->took_over == j && v->last == u->def);
            if (!handed)
                return nb_error(NB_ERR_ARG, "plan: %s [%d, %d] and %s [%d, %d] share bytes while both live", u->name,
                                u->def, u->last, v->name, v->def, v->last);
        }
    }
    return NB_OK;
}

/* ---- headers, loops and GEMM calls --------------------------------------------------------------- */

/* A header over the arena: contiguous, at byte offset `offset`. */
static nb_tensor *arena_header(nb_plan *p, const nb_pvalue *v) {
    nb_tensor *h = nb_tensor_view(p->arena);
    if (!h) return NULL;
    h->ndim = v->ndim;
    int64_t stride = 1;
    for (int d = NB_MAX_DIMS - 1; d >= 0; d--) {
        h->shape[d] = v->shape[d];
        h->strides[d] = d < v->ndim ? stride : 0;
        if (d < v->ndim) stride *= v->shape[d];
    }
    h->offset = (int64_t)(v->offset / nb_dtype_size(p->dtype));
    return h;
}

const nb_tensor *nb_plan_header(const nb_plan *p, int v, bool transposed) {
    for (; v >= 0 && p->values[v].kind == NB_VAL_VIEW; v = p->values[v].view_of) transposed = !transposed;
    if (v < 0 || p->values[v].kind == NB_VAL_MASK) return NULL;
    return transposed ? p->values[v].tt : p->values[v].t;
}

/* Makes the transposed header of every root an instruction reads transposed. */
static nb_status make_transposes(nb_plan *p) {
    for (int i = 0; i < p->ninstrs; i++)
        for (int k = 0; k < NB_INSTR_MAX_IN; k++) {
            int v = p->instrs[i].in[k];
            if (v < 0) continue;
            bool t = p->instrs[i].in_t[k];
            for (; p->values[v].kind == NB_VAL_VIEW; v = p->values[v].view_of) t = !t;
            if (t && !p->values[v].tt && !(p->values[v].tt = nb_tensor_t(p->values[v].t))) return nb_last_status();
        }
    return NB_OK;
}

/* The elementwise loop of an instruction: out's frame, inputs broadcast into it, dims merged
 * where every operand is contiguous across them (the tensor layer's planner, precomputed). */
static void make_loop(nb_plan *p, nb_instr *ins) {
    const nb_tensor *ops[4] = {nb_plan_header(p, ins->out[0], false)};
    for (int k = 0; k < 3; k++) ops[k + 1] = ins->in[k] >= 0 ? nb_plan_header(p, ins->in[k], ins->in_t[k]) : ops[0];
    /* ACC_SCALAR's input is one element read at run time, not an operand of the loop */
    if (ins->kind == NB_I_ACC_SCALAR) ops[1] = ops[0];
    int64_t shape4[4], st[4][4];
    nb_graph_layout4(ops[0], shape4, st[0]);
    for (int k = 1; k < 4; k++) {
        int64_t s4[4];
        nb_graph_layout4(ops[k], s4, st[k]);
        for (int d = 0; d < 4; d++) {
            NB_ASSERT(s4[d] == shape4[d] || s4[d] == 1);
            if (s4[d] != shape4[d]) st[k][d] = 0;
        }
    }
    nb_loop *l = &ins->loop;
    int nd = 0;
    for (int d = 0; d < 4; d++) {
        if (shape4[d] == 1) continue;
        bool merge = nd > 0;
        for (int k = 0; k < 4 && merge; k++) merge = st[k][d] * shape4[d] == l->stride[k][nd - 1];
        if (merge) {
            l->shape[nd - 1] *= shape4[d];
            for (int k = 0; k < 4; k++) l->stride[k][nd - 1] = st[k][d];
        } else {
            l->shape[nd] = shape4[d];
            for (int k = 0; k < 4; k++) l->stride[k][nd] = st[k][d];
            nd++;
        }
    }
    if (nd == 0) {
        l->shape[0] = 1;
        for (int k = 0; k < 4; k++) l->stride[k][0] = 1;
        nd = 1;
    }
    l->ndim = nd;
    l->numel = 1;
    for (int d = 0; d < nd; d++) l->numel *= l->shape[d];
    for (int k = 0; k < 4; k++) l->base[k] = nb_tensor_data(ops[k]);
}

/* matmul.c's mapping of a rank-2 operand to the GEMM contract: unit column stride is
 * NB_NO_TRANS with ld the row stride, unit row stride NB_TRANS with ld the column stride. The
 * graph's operands are contiguous or transposed-contiguous, so no copy is ever needed. */
static void gemm_operand(const nb_tensor *t, nb_trans *trans, int64_t *ld) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    bool rows_free = rows <= 1, cols_free = cols <= 1;
    int64_t min_plain = cols > 1 ? cols : 1, min_trans = rows > 1 ? rows : 1;
    if (cols_free || t->strides[1] == 1) {
        *trans = NB_NO_TRANS;
        *ld = rows_free ? min_plain : t->strides[0];
        if (*ld >= min_plain) return;
    }
    NB_ASSERT(rows_free || t->strides[0] == 1);
    *trans = NB_TRANS;
    *ld = cols_free ? min_trans : t->strides[1];
    NB_ASSERT(*ld >= min_trans);
}

static void make_gemm(nb_plan *p, nb_instr *ins) {
    const nb_tensor *out = nb_plan_header(p, ins->out[0], false);
    const nb_tensor *a = nb_plan_header(p, ins->in[0], ins->in_t[0]), *b = nb_plan_header(p, ins->in[1], ins->in_t[1]);
    NB_ASSERT(a->shape[1] == b->shape[0] && out->shape[0] == a->shape[0] && out->shape[1] == b->shape[1]);
    nb_gemm_call *g = &ins->gemm;
    g->m = a->shape[0];
    g->k = a->shape[1];
    g->n = b->shape[1];
    gemm_operand(a, &g->ta, &g->lda);
    gemm_operand(b, &g->tb, &g->ldb);
    g->a = nb_tensor_data(a);
    g->b = nb_tensor_data(b);
    g->c = nb_tensor_data(out);
    g->ldc = out->shape[0] <= 1 ? (g->n > 1 ? g->n : 1) : out->strides[0];
    g->beta = ins->first ? 0.0 : 1.0;
}

static void *value_data(const nb_plan *p, int v) {
    if (v < 0) return NULL;
    v = nb_plan_root(p, v);
    if (p->values[v].kind == NB_VAL_MASK) return p->arena_data + p->values[v].offset;
    return nb_tensor_data(p->values[v].t);
}

/* What the op profiler counts: 2mnk FLOPs and matmul.c's bytes for a GEMM; for the rest the
 * bytes of every distinct value read or written. */
static void count_work(const nb_plan *p, nb_instr *ins) {
    const uint64_t es = nb_dtype_size(p->dtype);
    if (ins->kind == NB_I_MM) {
        const nb_gemm_call *g = &ins->gemm;
        ins->flops = 2ull * (uint64_t)g->m * (uint64_t)g->n * (uint64_t)g->k;
        ins->bytes = (uint64_t)(g->m * g->k + g->k * g->n + 2 * g->m * g->n) * es;
        return;
    }
    int seen[NB_INSTR_MAX_IN + NB_INSTR_MAX_OUT], nseen = 0;
    for (int k = 0; k < NB_INSTR_MAX_IN + NB_INSTR_MAX_OUT; k++) {
        int v = nb_plan_root(p, k < NB_INSTR_MAX_IN ? ins->in[k] : ins->out[k - NB_INSTR_MAX_IN]);
        bool dup = v < 0;
        for (int j = 0; j < nseen && !dup; j++) dup = seen[j] == v;
        if (dup) continue;
        seen[nseen++] = v;
        ins->bytes += (uint64_t)p->values[v].numel * (p->values[v].kind == NB_VAL_MASK ? 1 : es);
    }
}

static void resolve(nb_plan *p, nb_instr *ins) {
    switch (ins->kind) {
    case NB_I_MM:
        make_gemm(p, ins);
        return;
    case NB_I_SUM:
    case NB_I_MEAN:
    case NB_I_SQDIFF_SUM:
    case NB_I_CLAMP_MASK:
    case NB_I_MASK_BWD:
    case NB_I_SGD:
        for (int k = 0; k < NB_INSTR_MAX_OUT; k++) ins->o[k] = value_data(p, ins->out[k]);
        for (int k = 0; k < NB_INSTR_MAX_IN; k++) ins->x[k] = value_data(p, ins->in[k]);
        ins->n = p->values[nb_plan_root(p, ins->in[0])].numel;
        return;
    case NB_I_ACC_SUM_TO: {
        const nb_tensor *dst = nb_plan_header(p, ins->out[0], false), *src = nb_plan_header(p, ins->in[0], ins->in_t[0]);
        if (!nb_tensor_same_shape(dst, src)) {
            ins->sum_dst = dst;
            ins->sum_src = src;
            return;
        }
        make_loop(p, ins);
        return;
    }
    case NB_I_ACC_SCALAR:
        ins->x[0] = value_data(p, ins->in[0]);
        make_loop(p, ins);
        return;
    default:
        make_loop(p, ins);
        return;
    }
}

/* ---- compile ---------------------------------------------------------------------------------- */

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

static nb_status check_args(nb_graph *g, nb_gnode *loss, nb_gnode *const *params, int nparams,
                            const nb_graph_options *o) {
    if (!g) return nb_error(NB_ERR_ARG, "graph compile: graph is NULL");
    if (!loss) return nb_error(NB_ERR_ARG, "graph compile: loss is NULL");
    if (loss->graph != g) return nb_error(NB_ERR_ARG, "graph compile: loss %s belongs to another graph", loss->name);
    if (numel_of(loss->ndim, loss->shape) != 1 || loss->ninputs == 0)
        return nb_error(NB_ERR_SHAPE, "graph compile: the loss %s must be one element computed by an op", loss->name);
    if (nparams < 0 || (nparams > 0 && !params) || o->nwrt < 0 || (o->nwrt > 0 && !o->wrt))
        return nb_error(NB_ERR_ARG, "graph compile: bad parameter or wrt list");
    for (int i = 0; i < nparams + o->nwrt; i++) {
        const nb_gnode *n = i < nparams ? params[i] : o->wrt[i - nparams];
        if (!n || n->graph != g)
            return nb_error(NB_ERR_ARG, "graph compile: %s %d is NULL or of another graph", i < nparams ? "parameter" : "wrt",
                            i < nparams ? i : i - nparams);
        if (i < nparams && n->op != NB_GOP_PARAMETER)
            return nb_error(NB_ERR_ARG, "graph compile: %s is a %s, not a parameter", n->name, nb_gop_names[n->op]);
        if (i >= nparams && n->op != NB_GOP_PARAMETER && n->op != NB_GOP_PLACEHOLDER)
            return nb_error(NB_ERR_ARG, "graph compile: wrt %s is a %s, not a placeholder or parameter", n->name,
                            nb_gop_names[n->op]);
        for (int j = 0; j < i; j++)
            if ((j < nparams ? params[j] : o->wrt[j - nparams]) == n)
                return nb_error(NB_ERR_ARG, "graph compile: %s is listed twice", n->name);
    }
    if (o->update != NB_GRAPH_UPDATE_NONE && o->update != NB_GRAPH_UPDATE_SGD)
        return nb_error(NB_ERR_ARG, "graph compile: unknown update rule %d", (int)o->update);
    if (o->update == NB_GRAPH_UPDATE_SGD && !(isfinite(o->lr) && o->lr >= 0))
        return nb_error(NB_ERR_ARG, "graph compile: the learning rate %g is not finite and >= 0", o->lr);
    return NB_OK;
}

static nb_status build(compile_ctx *c, nb_gnode *const *params, int nparams, const nb_graph_options *o) {
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
    /* every node adds at most 8 instructions and 6 values (an unfused mse's backward, a mul's
     * two temporaries, the gradient, a mask); every target 4 of each (zero, unfused update) */
    int targets = nparams + o->nwrt;
    p->instrs_cap = 10 * n + 4 * targets + 8;
    p->values_cap = 8 * n + 4 * targets + 8;
    p->instrs = calloc((size_t)p->instrs_cap, sizeof *p->instrs);
    p->values = calloc((size_t)p->values_cap, sizeof *p->values);
    if (!c->reach || !c->req || !c->target || !c->consumers || !c->forward || !c->backward || !c->grad ||
        !c->written || !c->mask || !c->fuse_mask || !c->stack || !c->mark || !p->node_value || !p->node_grad ||
        !p->instrs || !p->values)
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
            p->node_value[i] = value_new(p, NB_VAL_INPUT, node->ndim, node->shape, i, "%s", node->name);
    }
    if (!o->no_fusion) analyse_loss(c);
    for (int k = 0; k < c->nforward; k++) {
        const nb_gnode *node = NODE(c, c->forward[k]);
        int id = node->id;
        if (node->op == NB_GOP_PLACEHOLDER || (in_fused_loss(c, id) && id != c->loss_members[0])) continue;
        if (node->op == NB_GOP_PARAMETER) {
            int v = value_new(p, NB_VAL_PARAM, node->ndim, node->shape, id, "%s", node->name);
            p->values[v].t = node->param;
            p->node_value[id] = v;
        } else if (node->op == NB_GOP_T) {
            int v = value_new(p, NB_VAL_VIEW, node->ndim, node->shape, id, "%s", node->name);
            p->values[v].view_of = p->node_value[node->inputs[0]->id];
            p->node_value[id] = v;
        } else {
            p->node_value[id] = value_new(p, NB_VAL_TEMP, node->ndim, node->shape, id, "%s", node->name);
        }
        /* relu/clamp whose input needs a gradient: keep a byte mask instead of the input */
        if ((node->op == NB_GOP_CLAMP_MIN || node->op == NB_GOP_RELU) && !o->no_fusion && c->req[node->inputs[0]->id] &&
            flat_node(node->inputs[0])) {
            c->fuse_mask[id] = true;
            c->mask[id] = value_new(p, NB_VAL_MASK, node->ndim, node->shape, id, "mask(%s)", node->name);
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
            ew(c, NB_I_FILL, NB_PLAN_GRADIENTS, c->loss->id, seed, -1, -1, 1.0);
            c->written[c->loss->id] = true;
        }
        for (int k = c->nbackward - 1; k >= 0; k--) emit_backward(c, NODE(c, c->backward[k]));
    }
    /* a target the loss does not depend on has a zero gradient, as a .grad nothing reached */
    for (int i = 0; i < targets; i++) {
        const nb_gnode *t = i < nparams ? params[i] : o->wrt[i - nparams];
        int d = grad_of(c, t);
        if (!c->written[t->id]) ew(c, NB_I_ZERO, NB_PLAN_GRADIENTS, t->id, d, -1, -1, 0.0);
        c->written[t->id] = true;
        p->node_grad[t->id] = d;
    }
    p->stage_end[NB_PLAN_GRADIENTS] = p->ninstrs;

    /* the update; a parameter the loss does not reach is still "updated" by a zero gradient */
    if (o->update == NB_GRAPH_UPDATE_SGD)
        for (int i = 0; i < nparams; i++) {
            if (p->node_value[params[i]->id] < 0) {
                int v = value_new(p, NB_VAL_PARAM, params[i]->ndim, params[i]->shape, params[i]->id, "%s", params[i]->name);
                p->values[v].t = params[i]->param;
                p->node_value[params[i]->id] = v;
            }
            emit_update(c, params[i]);
        }
    p->stage_end[NB_PLAN_STEP] = p->ninstrs;

    /* memory: liveness, placement, the arena, the headers over it */
    compute_liveness(p);
    NB_TRY(plan_memory(p));
    size_t total = p->input_bytes + p->planned_bytes;
    if (total < NB_GRAPH_ALIGN) total = NB_GRAPH_ALIGN;
    /* zeros: a gradient read before the first run reads 0, and no byte is uninitialised */
    p->arena = nb_tensor_zeros(p->dtype, 1, (int64_t[]){(int64_t)(total / nb_dtype_size(p->dtype))});
    if (!p->arena) return nb_last_status();
    p->arena_data = nb_tensor_data(p->arena);
    for (int i = 0; i < p->nvalues; i++) {
        nb_pvalue *v = &p->values[i];
        bool placed = v->kind == NB_VAL_INPUT || (v->kind == NB_VAL_TEMP && v->def >= 0);
        if (!placed) continue;
        if (!(v->t = arena_header(p, v))) return nb_last_status();
        v->owns_t = true;
    }
    NB_TRY(make_transposes(p));
    for (int i = 0; i < p->ninstrs; i++) {
        resolve(p, &p->instrs[i]);
        count_work(p, &p->instrs[i]);
    }
    return NB_OK;
}

nb_plan *nb_graph_compile(nb_graph *g, nb_gnode *loss, nb_gnode *const *params, int nparams,
                          const nb_graph_options *opts) {
    nb_graph_options o = opts ? *opts : (nb_graph_options){0};
    if (check_args(g, loss, params, nparams, &o) != NB_OK) return NULL;
    nb_plan *p = calloc(1, sizeof *p);
    if (!p) {
        nb_error(NB_ERR_NOMEM, "out of memory compiling a graph");
        return NULL;
    }
    p->graph = g;
    g->refcount++;
    p->dtype = g->dtype;
    p->nnodes = g->count;
    p->loss = -1;
    p->opts = o;
    p->opts.wrt = NULL; /* the caller's array need not outlive the call */
    compile_ctx c = {.p = p, .g = g, .loss = loss, .n = g->count};
    nb_status st = build(&c, params, nparams, &o);
    ctx_free(&c);
    if (st != NB_OK) {
        nb_plan_free(p);
        return NULL;
    }
    return p;
}

void nb_plan_free(nb_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->nvalues; i++) {
        if (p->values[i].owns_t) nb_tensor_free(p->values[i].t);
        nb_tensor_free(p->values[i].tt);
    }
    free(p->values);
    free(p->instrs);
    free(p->node_value);
    free(p->node_grad);
    nb_tensor_free(p->arena);
    nb_graph_release(p->graph);
    free(p);
}
