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

/* The two-layer model on module_net's loop (nn, optim, and module's TwoLayerNet, the same
 * layers), with `state_per_param` optimizer buffers per parameter:
 *   x, y (and x.grad for gradient checks)       module_net
 *   Linear(D_in, H), Linear(H, D_out)           weights, biases, their .grad and state
 * A step's graph, freed when its scope ends:
 *   forward  the first linear's output and the ReLU's (N, H); the second linear's output
 *            and MSELoss's squares (N, D_out; the squares go when summed); the loss ()
 *   backward the seed (); the douts of the second linear (N, D_out), of the ReLU and the
 *            first linear (N, H); the parameters' gradients go into their .grad
 * counted as all live at once (an upper bound of what the allocator's cache keeps). */
bool nb_two_layer_footprint(const nb_train_config *cfg, int state_per_param, int64_t *bytes) {
    const int64_t n = cfg->batch, h = cfg->hidden, d_out = cfg->d_out;
    nb_fp f;
    nb_module_net_footprint_begin(&f, cfg);
    nb_fp_linear(&f, cfg->d_in, h, state_per_param);
    nb_fp_linear(&f, h, d_out, state_per_param);
    nb_fp_tensors(&f, 4, n, h);
    nb_fp_tensors(&f, 3, n, d_out);
    nb_fp_tensors(&f, 2, 1, 1);
    return nb_fp_end(&f, bytes);
}

/* The manual update allocates nothing. */
static bool nn_footprint(const nb_train_config *cfg, int64_t *bytes) { return nb_two_layer_footprint(cfg, 0, bytes); }

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
    .footprint = nn_footprint,
};
