/* src/variants/optim.c — the tutorial's "PyTorch: optim": the nn program's model and loss,
 * updated by torch.optim.Adam. */
#include "variants/module_net.h"

nb_module *nb_two_layer_sequential(const nb_train_config *cfg, nb_rng *rng); /* nn.c */
extern const char *const nb_two_layer_sequential_names[];

/* optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate) */
static nb_optimizer *adam(nb_var *const *params, int nparams, double lr) {
    return nb_adam_new(params, nparams, nb_adam_defaults(lr));
}

/* Adam keeps two moments per parameter, exp_avg and exp_avg_sq, made at its first step. */
static bool optim_footprint(const nb_train_config *cfg, int64_t *bytes) {
    return nb_two_layer_footprint(cfg, 2, bytes);
}

static const nb_module_net_spec optim_spec = {
    .build = nb_two_layer_sequential,
    .optimizer = adam,
    .param_names = nb_two_layer_sequential_names,
};

static nb_status optim_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_module_net_create(&optim_spec, cfg, lr, state);
}

const nb_variant nb_variant_optim = {
    .name = "optim",
    .description = "the nn model trained by torch.optim.Adam",
    .default_lr = 1e-4,
    .create = optim_create,
    .step = nb_module_net_step,
    .destroy = nb_module_net_destroy,
    .loss_and_grad = nb_module_net_loss_and_grad,
    .grad_entries = nb_module_net_grad_entries,
    .footprint = optim_footprint,
};
