/* src/variants/module_net.h — what the tutorial's nn-based programs share (nn, optim,
 * module, dynamic): x and y drawn first, then a model built from nn modules (drawing its
 * initial weights in construction order), MSELoss(reduction='sum'), and an update by
 * optimizer or by hand. Each variant supplies the model and the update rule. */
#ifndef NB_VARIANTS_MODULE_NET_H
#define NB_VARIANTS_MODULE_NET_H

#include "nn/nn.h"
#include "optim/optim.h"
#include "variants/footprint_count.h"
#include "variants/variant.h"

typedef struct nb_module_net_spec {
    /* Builds the model from the generator (after x and y were drawn). */
    nb_module *(*build)(const nb_train_config *cfg, nb_rng *rng);
    /* Makes the optimizer over the model's parameters, or NULL with no error for the manual
     * update `param -= lr * param.grad` under no_grad. */
    nb_optimizer *(*optimizer)(nb_var *const *params, int nparams, double lr);
    /* Names of the parameters in model.parameters() order, for check tables. */
    const char *const *param_names;
} nb_module_net_spec;

nb_status nb_module_net_create(const nb_module_net_spec *spec, const nb_train_config *cfg, double lr, void **state);
nb_status nb_module_net_step(void *state, int64_t t, double *loss);
void nb_module_net_destroy(void *state);
nb_status nb_module_net_loss_and_grad(void *state, bool want_grad, double *loss);
int nb_module_net_grad_entries(void *state, nb_grad_entry *entries);
/* The generator the model draws from after creation (the dynamic net's depth). */
nb_rng *nb_module_net_rng(void *state);
bool nb_module_net_grad_check(void *state);

/* Footprints (nb_variant.footprint) of the variants on this loop, in two parts each variant
 * puts together. The first opens the count with what the loop itself holds: x (N, D_in) and,
 * for gradient checks, its .grad (N, D_in); y (N, D_out). */
void nb_module_net_footprint_begin(nb_fp *f, const nb_train_config *cfg);
/* A Linear(in, out) with a bias: weight (out, in) and bias (out), each with its .grad (made at
 * create) and `state_per_param` optimizer buffers of its shape (SGD's momentum: 1; Adam's
 * two moments: 2; none: 0). */
void nb_fp_linear(nb_fp *f, int64_t in, int64_t out, int state_per_param);
/* The whole footprint of the tutorial's two-layer model, Linear(D_in, H), ReLU,
 * Linear(H, D_out), with `state_per_param` optimizer buffers (nn.c; nn, optim and module). */
bool nb_two_layer_footprint(const nb_train_config *cfg, int state_per_param, int64_t *bytes);

#endif
