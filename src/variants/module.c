/* src/variants/module.c — the tutorial's "PyTorch: Custom nn Modules": a user-defined
 * module, TwoLayerNet, written the way any nabla user writes one (a struct whose first
 * member is nb_module, a vtable with forward, parameters and destroy), trained with SGD. */
#include "base/alloc.h"
#include "variants/module_net.h"

typedef struct two_layer_net {
    nb_module base;     /* first: a two_layer_net * is an nb_module * */
    nb_module *linear1; /* Linear(D_in, H) */
    nb_module *linear2; /* Linear(H, D_out) */
} two_layer_net;

/* h_relu = self.linear1(x).clamp(min=0); y_pred = self.linear2(h_relu) */
static nb_var *two_layer_forward(nb_module *self, nb_var *x) {
    two_layer_net *net = (two_layer_net *)self;
    nb_var *h_relu = nb_ag_clamp_min(nb_module_forward(net->linear1, x), 0.0); /* (N, H) */
    return nb_module_forward(net->linear2, h_relu);                            /* (N, D_out) */
}

static nb_status two_layer_parameters(nb_module *self, nb_param_list *list) {
    two_layer_net *net = (two_layer_net *)self;
    NB_TRY(nb_module_parameters(net->linear1, list));
    return nb_module_parameters(net->linear2, list);
}

static void two_layer_destroy(nb_module *self) {
    two_layer_net *net = (two_layer_net *)self;
    nb_module_free(net->linear1);
    nb_module_free(net->linear2);
}

static const nb_module_vtable two_layer_vtable = {
    .type = "TwoLayerNet",
    .forward = two_layer_forward,
    .parameters = two_layer_parameters,
    .destroy = two_layer_destroy,
};

/* TwoLayerNet(D_in, H, D_out): the layers draw their weights in construction order. */
static nb_module *two_layer_net_new(const nb_train_config *cfg, nb_rng *rng) {
    two_layer_net *net = nb_alloc_zeroed(sizeof *net);
    if (!net) {
        nb_error(NB_ERR_NOMEM, "out of memory creating TwoLayerNet");
        return NULL;
    }
    net->base.vtable = &two_layer_vtable;
    net->linear1 = nb_linear_new(cfg->d_in, cfg->hidden, true, cfg->dtype, rng);
    net->linear2 = net->linear1 ? nb_linear_new(cfg->hidden, cfg->d_out, true, cfg->dtype, rng) : NULL;
    if (!net->linear2) {
        nb_module_free(&net->base);
        return NULL;
    }
    return &net->base;
}

static const char *const two_layer_names[] = {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"};

/* optimizer = torch.optim.SGD(model.parameters(), lr=1e-4) */
static nb_optimizer *sgd(nb_var *const *params, int nparams, double lr) {
    return nb_sgd_new(params, nparams, nb_sgd_defaults(lr));
}

/* TwoLayerNet holds the layers of nn's Sequential and runs the same ops; plain SGD (no
 * momentum) keeps no state. */
static bool module_footprint(const nb_train_config *cfg, int64_t *bytes) {
    return nb_two_layer_footprint(cfg, 0, bytes);
}

static const nb_module_net_spec module_spec = {
    .build = two_layer_net_new,
    .optimizer = sgd,
    .param_names = two_layer_names,
};

static nb_status module_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_module_net_create(&module_spec, cfg, lr, state);
}

const nb_variant nb_variant_module = {
    .name = "module",
    .description = "a user-defined module (TwoLayerNet) trained by torch.optim.SGD",
    .default_lr = 1e-4,
    .create = module_create,
    .step = nb_module_net_step,
    .destroy = nb_module_net_destroy,
    .loss_and_grad = nb_module_net_loss_and_grad,
    .grad_entries = nb_module_net_grad_entries,
    .footprint = module_footprint,
};
