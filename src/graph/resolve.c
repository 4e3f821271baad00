/* src/graph/resolve.c — the last step of compiling: every instruction gets its fixed pointers,
 * the tensor layer's loop (tensor/loops.h) planned over its buffers, or its GEMM call, and the
 * work the op profiler counts for it. From here on a run only dispatches. */
#include "graph/graph_impl.h"

/* ---- headers, loops and GEMM calls --------------------------------------------------------------- */

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

/* The tensor-layer loop an elementwise instruction runs: the op, its operands (out, a, b; b may
 * be NULL) and scalar. Accumulations read their output as an operand, or, for a first
 * contribution, zero as a constant (the ZERO_* ops). */
static nb_status make_loop(nb_plan *p, nb_instr *ins) {
    nb_tensor *out = (nb_tensor *)nb_plan_header(p, ins->out[0], false);
    const nb_tensor *x = ins->in[0] >= 0 ? nb_plan_header(p, ins->in[0], ins->in_t[0]) : NULL;
    const nb_tensor *y = ins->in[1] >= 0 ? nb_plan_header(p, ins->in[1], ins->in_t[1]) : NULL;
    const char *name = nb_instr_name(ins);
    switch (ins->kind) {
    case NB_I_EW: /* an op without inputs (fill) runs over out alone */
        return nb_ew_loop_init(&ins->loop, name, ins->ew, out, x ? x : out, y, ins->scalar);
    case NB_I_ACC_SUM_TO: /* same shapes: o - (-alpha * x), add_sum_to_'s sub_scaled_ */
        return ins->first ? nb_ew_loop_init(&ins->loop, name, NB_EW_ZERO_SUB_SCALED, out, x, x, -ins->scalar)
                          : nb_ew_loop_init(&ins->loop, name, NB_EW_SUB_SCALED, out, out, x, -ins->scalar);
    case NB_I_ACC_SCALAR: /* o = o + v, v read at run time */
        return nb_ew_loop_init(&ins->loop, name, ins->first ? NB_EW_ZERO_PLUS_S : NB_EW_ADD_S, out, out, NULL, 0.0);
    case NB_I_SGD: /* w = w - lr * g */
        return nb_ew_loop_init(&ins->loop, name, NB_EW_SUB_SCALED, out, out, x, ins->scalar);
    default: NB_ASSERT(!"not an elementwise instruction"); return NB_ERR_ARG;
    }
}

/* The GEMM call: the graph's operands are contiguous or transposed views of contiguous
 * buffers, which the mapping takes as flags, so a call never needs a copy (a copy made now
 * would be a stale snapshot at run time). */
static nb_status make_gemm(nb_plan *p, nb_instr *ins) {
    nb_tensor *out = (nb_tensor *)nb_plan_header(p, ins->out[0], false);
    const nb_tensor *a = nb_plan_header(p, ins->in[0], ins->in_t[0]), *b = nb_plan_header(p, ins->in[1], ins->in_t[1]);
    NB_TRY(nb_gemm_call_init(&ins->gemm, out, a, b, 1.0, ins->first ? 0.0 : 1.0));
    NB_ASSERT(!ins->gemm.copies[0] && !ins->gemm.copies[1]);
    return NB_OK;
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

static nb_status resolve(nb_plan *p, nb_instr *ins) {
    switch (ins->kind) {
    case NB_I_MM: return make_gemm(p, ins);
    case NB_I_SUM:
    case NB_I_MEAN:
    case NB_I_SQDIFF_SUM:
    case NB_I_CLAMP_MASK:
    case NB_I_MASK_BWD:
        for (int k = 0; k < NB_INSTR_MAX_OUT; k++) ins->o[k] = value_data(p, ins->out[k]);
        for (int k = 0; k < NB_INSTR_MAX_IN; k++) ins->x[k] = value_data(p, ins->in[k]);
        ins->n = p->values[nb_plan_root(p, ins->in[0])].numel;
        return NB_OK;
    case NB_I_ACC_SUM_TO: {
        nb_tensor *dst = (nb_tensor *)nb_plan_header(p, ins->out[0], false);
        const nb_tensor *src = nb_plan_header(p, ins->in[0], ins->in_t[0]);
        if (!nb_tensor_same_shape(dst, src)) {
            ins->sum_dst = dst;
            ins->sum_src = src;
            return NB_OK;
        }
        return make_loop(p, ins);
    }
    case NB_I_ACC_SCALAR: ins->x[0] = value_data(p, ins->in[0]); return make_loop(p, ins);
    default: return make_loop(p, ins);
    }
}

nb_status nb_plan_resolve(nb_plan *p) {
    NB_TRY(make_transposes(p));
    for (int i = 0; i < p->ninstrs; i++) {
        NB_TRY(resolve(p, &p->instrs[i]));
        count_work(p, &p->instrs[i]);
    }
    return NB_OK;
}
