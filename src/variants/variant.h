/* src/variants/variant.h — a training variant is one program of "Learning PyTorch with
 * Examples" rewritten on nabla's stack. Each lives in its own file and registers a row in
 * variants/registry.c; the harness creates one, times its steps and destroys it. */
#ifndef NB_VARIANTS_VARIANT_H
#define NB_VARIANTS_VARIANT_H

#include <stdint.h>

#include "base/error.h"
#include "tensor/tensor.h"

/* The workload, with the seed program's values as defaults (nb_train_config_default). */
typedef struct nb_train_config {
    const char *variant; /* registry name */
    nb_dtype dtype;
    uint64_t seed;   /* torch.manual_seed(seed) before the first draw */
    int64_t batch;   /* N */
    int64_t d_in;    /* D_in */
    int64_t hidden;  /* H */
    int64_t d_out;   /* D_out */
    int64_t iters;   /* training steps */
    double lr;       /* learning rate; < 0 means the variant's own default */
    bool grad_check; /* also track the input's gradient, for nb_variant.loss_and_grad */
} nb_train_config;

/* A tensor the loss depends on, for gradient checks: its value (which a checker may perturb
 * or overwrite in place) and where loss_and_grad leaves d loss / d value, NULL for data that
 * gets no gradient (the target y). Both borrowed from the state. */
typedef struct nb_grad_entry {
    const char *name; /* "x", "w1", "0.weight", ... */
    nb_tensor *value;
    const nb_tensor *grad;
} nb_grad_entry;

#define NB_MAX_GRAD_ENTRIES 16

void nb_train_config_default(nb_train_config *cfg);

/* A variant's state between create and destroy is its own (data, parameters, workspace). */
typedef struct nb_variant {
    const char *name;
    const char *description; /* one line, for `nabla train --help` */
    double default_lr;       /* the tutorial's learning rate for this program */
    /* Draws the data and parameters from a generator seeded with cfg->seed, in the order
     * the PyTorch program draws them, and allocates everything the steps need. */
    nb_status (*create)(const nb_train_config *cfg, double lr, void **state);
    /* One training step t (0-based): forward, loss, backward, update. *loss is the loss of
     * the forward pass of this step, before the update (what the tutorial prints). */
    nb_status (*step)(void *state, int64_t t, double *loss);
    void (*destroy)(void *state);
    /* For gradient checks (state created with cfg->grad_check): the loss at the current
     * values and, when want_grad, the gradient of that loss with respect to every entry,
     * without updating anything and without consuming randomness (a variant that draws in its
     * forward replays the same draw every call). */
    nb_status (*loss_and_grad)(void *state, bool want_grad, double *loss);
    /* The tensors the loss depends on: the input x (with a grad only when created with
     * cfg->grad_check), the target y (never a grad), then the parameters in
     * model.parameters() order. Returns the count (<= NB_MAX_GRAD_ENTRIES). */
    int (*grad_entries)(void *state, nb_grad_entry *entries);
    /* The most heap bytes a run of cfg holds at once, counted from the dimensions alone
     * (nothing is allocated), generously and never short: the data x and y, the parameters
     * and their gradients, the optimizer's state, the activations and their gradients of the
     * largest step, the static graph's arena, the loss history (cfg->iters doubles, which
     * the harness allocates), each buffer as the blocks the allocator takes for it, plus a
     * fixed allowance for bookkeeping (footprint_count.h). What the matmul kernels and the
     * libraries under them keep for themselves (packing buffers, BLAS's and OpenMP's own
     * memory) is not the variant's and is not counted. False when the count overflows int64
     * (then *bytes is INT64_MAX). tests/test_alloc.c holds every variant to it both ways. */
    bool (*footprint)(const nb_train_config *cfg, int64_t *bytes);
} nb_variant;

int nb_variant_count(void);
const nb_variant *nb_variant_at(int index);
const nb_variant *nb_variant_find(const char *name); /* NULL when unknown */
/* The variant names joined by ", " into buf (NUL-terminated, truncated to size). */
void nb_variant_names(char *buf, size_t size);

/* The learning rate a run uses: cfg->lr when it was given, else the variant's default. */
double nb_variant_lr(const nb_variant *variant, const nb_train_config *cfg);

extern const nb_variant nb_variant_tensors;
extern const nb_variant nb_variant_autograd;
extern const nb_variant nb_variant_custom_function;
extern const nb_variant nb_variant_static_graph;
extern const nb_variant nb_variant_nn;
extern const nb_variant nb_variant_optim;
extern const nb_variant nb_variant_module;
extern const nb_variant nb_variant_dynamic;

#endif
