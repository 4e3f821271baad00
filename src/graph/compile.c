/* src/graph/compile.c — nb_graph_compile: checks the request, then lowers the graph to values
 * and instructions (lower.c), plans their memory (memory.c) and resolves every instruction to
 * the tensor layer's loops and GEMM calls (resolve.c). Also the instruction names and the plan's
 * destructor. */
#include "graph/graph_impl.h"

#include <math.h>
#include <stdlib.h>

const char *const nb_ikind_names[NB_I_COUNT] = {
    [NB_I_EW] = "ew",
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

const char *nb_instr_name(const nb_instr *ins) {
    return ins->kind == NB_I_EW ? nb_ew_op_names[ins->ew] : nb_ikind_names[ins->kind];
}
/* No static assert on the count: the array's size comes from graph_impl.h's declaration, so
 * sizeof always says NB_I_COUNT and a kind left out would be a silent NULL. tests/test_graph.c
 * ("every name table is full") checks each entry 0..NB_I_COUNT-1 instead. */

static nb_status check_args(nb_graph *g, nb_gnode *loss, nb_gnode *const *params, int nparams,
                            const nb_graph_options *o) {
    if (!g) return nb_error(NB_ERR_ARG, "graph compile: graph is NULL");
    if (!loss) return nb_error(NB_ERR_ARG, "graph compile: loss is NULL");
    if (loss->graph != g) return nb_error(NB_ERR_ARG, "graph compile: loss %s belongs to another graph", loss->name);
    if (nb_graph_numel(loss->ndim, loss->shape) != 1 || loss->ninputs == 0)
        return nb_error(NB_ERR_SHAPE, "graph compile: the loss %s must be one element computed by an op", loss->name);
    if (nparams < 0 || (nparams > 0 && !params) || o->nwrt < 0 || (o->nwrt > 0 && !o->wrt))
        return nb_error(NB_ERR_ARG, "graph compile: bad parameter or wrt list");
    for (int i = 0; i < nparams + o->nwrt; i++) {
        const nb_gnode *n = i < nparams ? params[i] : o->wrt[i - nparams];
        if (!n || n->graph != g)
            return nb_error(NB_ERR_ARG, "graph compile: %s %d is NULL or of another graph",
                            i < nparams ? "parameter" : "wrt", i < nparams ? i : i - nparams);
        if (i < nparams && n->op != NB_GOP_PARAMETER)
            return nb_error(NB_ERR_ARG, "graph compile: %s is a %s, not a parameter", n->name, nb_gop_name(n->op));
        if (i >= nparams && n->op != NB_GOP_PARAMETER && n->op != NB_GOP_PLACEHOLDER)
            return nb_error(NB_ERR_ARG, "graph compile: wrt %s is a %s, not a placeholder or parameter", n->name,
                            nb_gop_name(n->op));
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
    nb_status st = nb_plan_lower(p, loss, params, nparams, &o);
    if (st == NB_OK) st = nb_plan_place(p);
    if (st == NB_OK) st = nb_plan_resolve(p);
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
    nb_schedule_free(p->sched);
    nb_tensor_free(p->arena);
    nb_graph_release(p->graph);
    free(p);
}
