/* src/graph/run.c — replaying a plan: feeds, then the precomputed instructions in order, each
 * a GEMM call, an elementwise loop, a sum or a fused loop over fixed pointers into the arena.
 * Nothing here allocates, and nothing here computes: every loop is the tensor layer's
 * (tensor/loops.h), so the numbers are the dynamic engine's by construction. */
#include "graph/graph_impl.h"

#include <math.h>

#include "tensor/anomaly.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

static void store_one(void *out, nb_dtype dt, double value) {
    if (dt == NB_F32)
        *(float *)out = (float)value;
    else
        *(double *)out = value;
}

static double load_one(const void *p, nb_dtype dt) {
    return dt == NB_F32 ? (double)*(const float *)p : *(const double *)p;
}

void nb_instr_exec(const nb_plan *p, const nb_instr *ins) {
    const nb_dtype dt = p->dtype;
    switch (ins->kind) {
    case NB_I_MM: nb_gemm_call_run(&ins->gemm); return;
    case NB_I_SUM:
    case NB_I_MEAN: {
        double total = nb_sum_contiguous(ins->x[0], dt, ins->n);
        if (ins->kind == NB_I_MEAN) total = ins->n > 0 ? total / (double)ins->n : NAN; /* as PyTorch */
        store_one(ins->o[0], dt, total);
        return;
    }
    case NB_I_ACC_SCALAR: {
        /* sum_mean_backward: dout.item(), divided in the dtype for a mean, then added */
        double g = load_one(ins->x[0], dt);
        if (ins->scalar != 1.0) g = dt == NB_F32 ? (double)((float)g / (float)ins->scalar) : g / ins->scalar;
        nb_ew_loop loop = ins->loop;
        loop.scalar = g;
        nb_ew_loop_run(&loop);
        return;
    }
    case NB_I_ACC_SUM_TO:
        if (ins->sum_dst)
            nb_sum_to_run(ins->sum_dst, ins->sum_src, ins->scalar, ins->first);
        else
            nb_ew_loop_run(&ins->loop);
        return;
    case NB_I_SQDIFF_SUM:
        store_one(ins->o[0], dt, nb_fused_sqdiff_sum(dt, ins->n, ins->x[0], ins->x[1], ins->o[1], ins->o[2]));
        return;
    case NB_I_CLAMP_MASK:
        nb_fused_clamp_mask(dt, ins->n, ins->o[0], ins->o[1], ins->x[0], ins->scalar, ins->strict);
        return;
    case NB_I_MASK_BWD: nb_fused_mask_backward(dt, ins->n, ins->o[0], ins->x[0], ins->x[1], ins->first); return;
    default: /* EW and SGD */ nb_ew_loop_run(&ins->loop); return;
    }
}

/* The placeholder value of node n in plan p, or -1 with a message. */
static int input_value(const nb_plan *p, const nb_gnode *n, const char *what) {
    if (!n) {
        nb_error(NB_ERR_ARG, "plan %s: the placeholder is NULL", what);
        return -1;
    }
    if (n->graph != p->graph || n->id >= p->nnodes || n->op != NB_GOP_PLACEHOLDER || p->node_value[n->id] < 0) {
        nb_error(NB_ERR_ARG, "plan %s: %s is not a placeholder of this plan's graph", what, n->name);
        return -1;
    }
    return p->node_value[n->id];
}

nb_status nb_plan_run(nb_plan *p, nb_plan_stage upto, const nb_feed *feeds, int nfeeds, double *loss) {
    if (!p) return nb_error(NB_ERR_ARG, "plan run: plan is NULL");
    if (upto != NB_PLAN_FORWARD && upto != NB_PLAN_GRADIENTS && upto != NB_PLAN_STEP)
        return nb_error(NB_ERR_ARG, "plan run: unknown stage %d", (int)upto);
    if (nfeeds < 0 || (nfeeds > 0 && !feeds)) return nb_error(NB_ERR_ARG, "plan run: bad feed list");
    /* every feed is checked before any is copied: a bad one leaves the inputs untouched */
    for (int f = 0; f < nfeeds; f++) {
        int v = input_value(p, feeds[f].placeholder, "run");
        if (v < 0) return nb_last_status();
        const nb_tensor *t = feeds[f].value, *ph = p->values[v].t;
        if (!t) return nb_error(NB_ERR_ARG, "plan run: the value fed to %s is NULL", p->values[v].name);
        if (t->dtype != ph->dtype || !nb_tensor_same_shape(t, ph)) {
            char dt[64], dp[64];
            return nb_error(NB_ERR_SHAPE, "plan run: %s fed to placeholder %s %s", nb_tensor_describe(t, dt, sizeof dt),
                            p->values[v].name, nb_tensor_describe(ph, dp, sizeof dp));
        }
    }
    for (int f = 0; f < nfeeds; f++) {
        nb_tensor *ph = p->values[p->node_value[feeds[f].placeholder->id]].t;
        if (feeds[f].value != ph) NB_TRY(nb_copy_(ph, feeds[f].value));
    }
    /* With threads, by the per-thread schedule (schedule.c): the same bits, a few phases a step.
     * The profiler and --detect-anomaly look at one instruction at a time, so they run the plan
     * that way; so does a schedule that could not be built (memory), with the same results. */
    const int threads = nb_runtime_threads();
    if (threads > 1 && !nb_profile_enabled() && !nb_anomaly_active) {
        const nb_kernel *kernel = nb_runtime_kernel();
        if (p->sched && (nb_schedule_members(p->sched) != threads || nb_schedule_kernel(p->sched) != kernel)) {
            nb_schedule_free(p->sched);
            p->sched = NULL;
        }
        if (!p->sched && threads <= NB_PLAN_SCHEDULE_MAX_MEMBERS &&
            nb_schedule_build(p, threads, kernel, NULL, &p->sched) != NB_OK)
            p->sched = NULL;
        if (p->sched) {
            nb_schedule_run(p, p->sched, p->stage_end[upto]);
            if (loss) *loss = load_one(nb_tensor_data(p->values[p->loss].t), p->dtype);
            return NB_OK;
        }
    }
    /* `nabla profile` sees each instruction as an op of its stage (one branch when it is off) */
    nb_phase saved = nb_profile_set_phase(NB_PHASE_FORWARD);
    for (int i = 0; i < p->stage_end[upto]; i++) {
        if (i == p->stage_end[NB_PLAN_FORWARD]) nb_profile_set_phase(NB_PHASE_BACKWARD);
        if (i == p->stage_end[NB_PLAN_GRADIENTS]) nb_profile_set_phase(NB_PHASE_UPDATE);
        const nb_instr *ins = &p->instrs[i];
        double t0 = nb_profile_start();
        nb_instr_exec(p, ins);
        nb_profile_record(nb_instr_name(ins), t0, ins->flops, ins->bytes);
        /* --detect-anomaly: each instruction's outputs, in its stage (one branch when off) */
        for (int j = 0; nb_anomaly_active && j < NB_INSTR_MAX_OUT; j++)
            if (ins->out[j] >= 0 && nb_anomaly_check(nb_instr_name(ins), p->values[ins->out[j]].t) != NB_OK) {
                nb_profile_set_phase(saved);
                return nb_last_status();
            }
    }
    nb_profile_set_phase(saved);
    if (loss) *loss = load_one(nb_tensor_data(p->values[p->loss].t), p->dtype);
    return NB_OK;
}

nb_status nb_plan_run_step(nb_plan *p, const nb_feed *feeds, int nfeeds, double *loss) {
    return nb_plan_run(p, NB_PLAN_STEP, feeds, nfeeds, loss);
}

nb_tensor *nb_plan_input(nb_plan *p, const nb_gnode *placeholder) {
    if (!p) {
        nb_error(NB_ERR_ARG, "plan input: plan is NULL");
        return NULL;
    }
    int v = input_value(p, placeholder, "input");
    return v < 0 ? NULL : p->values[v].t;
}

const nb_tensor *nb_plan_grad(const nb_plan *p, const nb_gnode *node) {
    if (!p || !node) {
        nb_error(NB_ERR_ARG, "plan grad: %s is NULL", p ? "node" : "plan");
        return NULL;
    }
    if (node->graph != p->graph || node->id >= p->nnodes || p->node_grad[node->id] < 0) {
        nb_error(NB_ERR_ARG, "plan grad: the plan keeps no gradient for %s (only parameters and wrt nodes)",
                 node->name);
        return NULL;
    }
    return p->values[p->node_grad[node->id]].t;
}
