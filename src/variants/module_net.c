/* src/variants/module_net.c — the training loop shared by the nn-based variants: forward
 * through the model, MSELoss(sum), zero_grad, backward, then optimizer.step() or the manual
 * update, one autograd scope per step. */
#include "variants/module_net.h"

#include "base/alloc.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

typedef struct module_net {
    const nb_module_net_spec *spec;
    nb_rng rng;
    double lr;
    bool grad_check;
    nb_var *x; /* (N, D_in); requires grad only for gradient checks */
    nb_var *y; /* (N, D_out) */
    nb_module *model;
    nb_param_list params;
    nb_optimizer *optimizer; /* NULL: manual update */
} module_net;

void nb_module_net_destroy(void *opaque) {
    module_net *s = opaque;
    if (!s) return;
    nb_optimizer_free(s->optimizer);
    nb_param_list_free(&s->params);
    nb_module_free(s->model);
    nb_var_release(s->x);
    nb_var_release(s->y);
    nb_free(s);
}

nb_status nb_module_net_create(const nb_module_net_spec *spec, const nb_train_config *cfg, double lr, void **out) {
    module_net *s = nb_alloc_zeroed(sizeof *s);
    if (!s) return nb_error(NB_ERR_NOMEM, "out of memory creating the %s variant", cfg->variant);
    s->spec = spec;
    s->lr = lr;
    s->grad_check = cfg->grad_check;
    nb_rng_seed(&s->rng, cfg->seed);
    nb_status st = NB_OK;
    /* x = torch.randn(N, D_in); y = torch.randn(N, D_out); then the model's layers */
    s->x = nb_var_new(nb_tensor_randn(&s->rng, cfg->dtype, 2, (int64_t[]){cfg->batch, cfg->d_in}), cfg->grad_check);
    s->y =
        s->x ? nb_var_new(nb_tensor_randn(&s->rng, cfg->dtype, 2, (int64_t[]){cfg->batch, cfg->d_out}), false) : NULL;
    s->model = s->y ? spec->build(cfg, &s->rng) : NULL;
    if (!s->model || nb_module_parameters(s->model, &s->params) != NB_OK) st = nb_last_status();
    /* .grad exists from the start (zeros), so checks can point at it before any backward */
    if (st == NB_OK && cfg->grad_check && !(s->x->grad = nb_tensor_zeros(cfg->dtype, 2, s->x->value->shape)))
        st = nb_last_status();
    for (int i = 0; i < s->params.count && st == NB_OK; i++) {
        nb_var *p = s->params.items[i];
        if (!p->grad && !(p->grad = nb_tensor_zeros(p->value->dtype, p->value->ndim, p->value->shape)))
            st = nb_last_status();
    }
    if (st == NB_OK && spec->optimizer && !(s->optimizer = spec->optimizer(s->params.items, s->params.count, lr)))
        st = nb_last_status();
    if (st != NB_OK) {
        nb_module_net_destroy(s);
        return st;
    }
    *out = s;
    return NB_OK;
}

/* y_pred = model(x); loss = loss_fn(y_pred, y); model.zero_grad(); loss.backward() */
static nb_status forward_backward(module_net *s, bool want_grad, double *loss) {
    nb_scope *scope = nb_scope_begin();
    if (!scope) return nb_last_status();
    nb_var *y_pred = nb_module_forward(s->model, s->x); /* (N, D_out) */
    nb_var *l = nb_ag_mse_loss(y_pred, s->y, NB_REDUCTION_SUM);
    nb_status st = l ? nb_tensor_item(l->value, loss) : nb_last_status();
    if (st == NB_OK && want_grad) {
        if (s->optimizer)
            nb_optimizer_zero_grad(s->optimizer);
        else
            st = nb_module_zero_grad(s->model);
        nb_var_zero_grad(s->x);
        if (st == NB_OK) st = nb_backward(l);
    }
    nb_scope_end(scope);
    return st;
}

nb_status nb_module_net_step(void *opaque, int64_t t, double *loss) {
    (void)t;
    module_net *s = opaque;
    NB_TRY(forward_backward(s, true, loss));
    nb_phase phase = nb_profile_set_phase(NB_PHASE_UPDATE);
    nb_status st = NB_OK;
    if (s->optimizer) {
        st = nb_optimizer_step(s->optimizer);
    } else {
        /* with torch.no_grad(): for param in model.parameters(): param -= learning_rate * param.grad */
        nb_no_grad_begin();
        for (int i = 0; i < s->params.count && st == NB_OK; i++)
            st = nb_sub_scaled_(s->params.items[i]->value, s->lr, s->params.items[i]->grad);
        nb_no_grad_end();
    }
    nb_profile_set_phase(phase);
    return st;
}

nb_status nb_module_net_loss_and_grad(void *opaque, bool want_grad, double *loss) {
    module_net *s = opaque;
    /* A model that draws in its forward (DynamicNet) must draw the same at every call, and
     * the same as the next training step will: evaluate on a copy of the generator. */
    nb_rng saved = s->rng;
    nb_status st = forward_backward(s, want_grad, loss);
    s->rng = saved;
    return st;
}

int nb_module_net_grad_entries(void *opaque, nb_grad_entry *e) {
    module_net *s = opaque;
    int n = 0;
    e[n++] = (nb_grad_entry){"x", s->x->value, s->x->requires_grad ? s->x->grad : NULL};
    e[n++] = (nb_grad_entry){"y", s->y->value, NULL};
    for (int i = 0; i < s->params.count && n < NB_MAX_GRAD_ENTRIES; i++)
        e[n++] = (nb_grad_entry){s->spec->param_names[i], s->params.items[i]->value, s->params.items[i]->grad};
    return n;
}

nb_rng *nb_module_net_rng(void *state) { return &((module_net *)state)->rng; }
bool nb_module_net_grad_check(void *state) { return ((module_net *)state)->grad_check; }

void nb_module_net_footprint_begin(nb_fp *f, const nb_train_config *cfg) {
    nb_fp_begin(f, cfg);
    nb_fp_tensors(f, cfg->grad_check ? 2 : 1, cfg->batch, cfg->d_in); /* x, x.grad */
    nb_fp_tensors(f, 1, cfg->batch, cfg->d_out);                      /* y */
}

void nb_fp_linear(nb_fp *f, int64_t in, int64_t out, int state_per_param) {
    nb_fp_tensors(f, 2 + state_per_param, out, in); /* weight, its .grad, its state */
    nb_fp_tensors(f, 2 + state_per_param, 1, out);  /* bias, likewise */
}
