/* src/variants/nn.c — the tutorial's "PyTorch: nn": nn.Sequential(Linear, ReLU, Linear)
 * with MSELoss(reduction='sum'), and the update written by hand over model.parameters(). */
#include "variants/module_net.h"

/* model = torch.nn.Sequential(Linear(D_in, H), ReLU(), Linear(H, D_out)) */
nb_module *nb_two_layer_sequential(const nb_train_config *cfg, nb_rng *rng) {
    nb_module *layers[3] = {
        nb_linear_new(cfg->d_in, cfg->hidden, true, cfg->dtype, rng),
        nb_relu_new(),
        NULL,
    };
    if (layers[0] && layers[1]) layers[2] = nb_linear_new(cfg->hidden, cfg->d_out, true, cfg->dtype, rng);
    if (!layers[0] || !layers[1] || !layers[2]) {
        for (int i = 0; i < 3; i++) nb_module_free(layers[i]);
        return NULL;
    }
    return nb_sequential_new(layers, 3);
}

const char *const nb_two_layer_sequential_names[] = {"0.weight", "0.bias", "2.weight", "2.bias"};

static const nb_module_net_spec nn_spec = {
    .build = nb_two_layer_sequential,
    .optimizer = NULL, /* param -= learning_rate * param.grad */
    .param_names = nb_two_layer_sequential_names,
};

static nb_status nn_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_module_net_create(&nn_spec, cfg, lr, state);
}

const nb_variant nb_variant_nn = {
    .name = "nn",
    .description = "nn.Sequential(Linear, ReLU, Linear), MSELoss(sum), manual update",
    .default_lr = 1e-4,
    .create = nn_create,
    .step = nb_module_net_step,
    .destroy = nb_module_net_destroy,
    .loss_and_grad = nb_module_net_loss_and_grad,
    .grad_entries = nb_module_net_grad_entries,
};
