/* src/optim/optimizer.c — the part of torch.optim.Optimizer that SGD and Adam share: the
 * borrowed param array, the checked three-pass step, zero_grad and free. The update rules
 * are in sgd.c and adam.c. */
#include "optim/optim_impl.h"
#include "tensor/anomaly.h"
#include "tensor/runtime.h"

#include <string.h>

#include "base/alloc.h"

nb_status nb_optimizer_init(nb_optimizer *opt, const nb_optimizer_vtable *vtable, nb_var *const *params, int nparams) {
    const char *name = vtable->name;
    if (nparams <= 0) return nb_error(NB_ERR_ARG, "%s: got an empty parameter list (nparams = %d)", name, nparams);
    if (!params) return nb_error(NB_ERR_ARG, "%s: params is NULL", name);
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) return nb_error(NB_ERR_ARG, "%s: param %d is NULL", name, i);
        if (!nb_var_is_leaf(params[i]))
            return nb_error(NB_ERR_ARG, "%s: can't optimize a non-leaf var (param %d)", name, i);
        /* torch warns and then steps such a param twice per step; here it is an error. */
        for (int j = 0; j < i; j++)
            if (params[j] == params[i])
                return nb_error(NB_ERR_ARG, "%s: params %d and %d are the same var", name, j, i);
    }
    opt->params = nb_alloc((size_t)nparams * sizeof *opt->params);
    if (!opt->params) return nb_error(NB_ERR_NOMEM, "%s: out of memory", name);
    memcpy(opt->params, params, (size_t)nparams * sizeof *opt->params);
    opt->nparams = nparams;
    opt->vtable = vtable;
    return NB_OK;
}

/* A param the update loops can run over: value and grad contiguous, same dtype and shape. */
static nb_status check_param(const nb_optimizer *opt, int i) {
    const nb_var *p = opt->params[i];
    if (!p->value) return nb_error(NB_ERR_ARG, "%s step: param %d has no value", opt->vtable->name, i);
    const nb_tensor *v = p->value, *g = p->grad;
    if (g->dtype != v->dtype || !nb_tensor_same_shape(g, v)) {
        char dv[64], dg[64];
        return nb_error(NB_ERR_SHAPE, "%s step: param %d is %s but its grad is %s", opt->vtable->name, i,
                        nb_tensor_describe(v, dv, sizeof dv), nb_tensor_describe(g, dg, sizeof dg));
    }
    if (!nb_tensor_is_contiguous(v) || !nb_tensor_is_contiguous(g))
        return nb_error(NB_ERR_ARG, "%s step: param %d or its grad is not contiguous", opt->vtable->name, i);
    return NB_OK;
}

nb_status nb_optimizer_step(nb_optimizer *opt) {
    if (!opt) return nb_error(NB_ERR_ARG, "optimizer step: optimizer is NULL");
    /* Params without a grad are skipped, as torch skips p.grad is None. */
    for (int i = 0; i < opt->nparams; i++)
        if (opt->params[i]->grad) NB_TRY(check_param(opt, i));
    for (int i = 0; i < opt->nparams; i++)
        if (opt->params[i]->grad) NB_TRY(opt->vtable->prepare(opt, i));
    /* The updates write raw data and record nothing: no-grad by construction. */
    for (int i = 0; i < opt->nparams; i++)
        if (opt->params[i]->grad) opt->vtable->update(opt, i);
    /* --detect-anomaly: the updated params, named by the optimizer (one branch when off) */
    for (int i = 0; nb_anomaly_active && i < opt->nparams; i++)
        if (opt->params[i]->grad) NB_TRY(nb_anomaly_check(opt->vtable->name, opt->params[i]->value));
    return NB_OK;
}

void nb_optimizer_zero_grad(nb_optimizer *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->nparams; i++) nb_var_zero_grad(opt->params[i]);
}

void nb_optimizer_free(nb_optimizer *opt) {
    if (!opt) return;
    if (opt->vtable && opt->vtable->destroy) opt->vtable->destroy(opt);
    nb_free(opt->params);
    nb_free(opt);
}
