/* src/variants/autograd.c — the tutorial's "PyTorch: Tensors and autograd": the two-layer
 * network's forward written with autograd ops, loss.backward() instead of a hand-written
 * backward. */
#include "variants/autograd_net.h"

/* x.mm(w1).clamp(min=0): clamp's backward lets the gradient through where h >= 0. */
static nb_var *clamp_relu(nb_var *h) { return nb_ag_clamp_min(h, 0.0); }

static nb_status autograd_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_autograd_net_create(cfg, lr, clamp_relu, state);
}

/* clamp's backward writes the gradient into its target: no temporaries. */
static bool autograd_footprint(const nb_train_config *cfg, int64_t *bytes) {
    return nb_autograd_net_footprint(cfg, 0, bytes);
}

const nb_variant nb_variant_autograd = {
    .name = "autograd",
    .description = "autograd ops and loss.backward(), manual update under no_grad",
    .default_lr = 1e-6,
    .create = autograd_create,
    .step = nb_autograd_net_step,
    .destroy = nb_autograd_net_destroy,
    .loss_and_grad = nb_autograd_net_loss_and_grad,
    .grad_entries = nb_autograd_net_grad_entries,
    .footprint = autograd_footprint,
};
