/* src/variants/autograd_net.h — the tutorial's two-layer network on autograd with raw
 * weight tensors (x.mm(w1) -> ReLU -> .mm(w2), sum-of-squares loss, manual SGD under
 * no_grad), shared by the `autograd` and `custom-function` variants, which differ only in
 * how the ReLU is applied. */
#ifndef NB_VARIANTS_AUTOGRAD_NET_H
#define NB_VARIANTS_AUTOGRAD_NET_H

#include "autograd/autograd.h"
#include "variants/variant.h"

/* h (N, H) -> relu(h), recorded in the graph. */
typedef nb_var *nb_relu_fn(nb_var *h);

nb_status nb_autograd_net_create(const nb_train_config *cfg, double lr, nb_relu_fn *relu, void **state);
nb_status nb_autograd_net_step(void *state, int64_t t, double *loss);
void nb_autograd_net_destroy(void *state);
nb_status nb_autograd_net_loss_and_grad(void *state, bool want_grad, double *loss);
int nb_autograd_net_grad_entries(void *state, nb_grad_entry *entries);
/* The footprint (nb_variant.footprint) of the network with a ReLU whose backward allocates
 * `relu_temps` more (N, H) tensors than the built-in clamp's (which writes in place). */
bool nb_autograd_net_footprint(const nb_train_config *cfg, int relu_temps, int64_t *bytes);

#endif
