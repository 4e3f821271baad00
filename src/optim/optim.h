/* src/optim/optim.h — torch.optim for nabla: SGD (momentum, dampening, weight decay,
 * Nesterov) and Adam (betas, eps, weight decay, bias correction) with PyTorch 1.13's
 * single-tensor semantics and rounding, stepping the .grad of a list of leaf vars. */
#ifndef NB_OPTIM_OPTIM_H
#define NB_OPTIM_OPTIM_H

#include "autograd/autograd.h"

typedef struct nb_optimizer nb_optimizer;

typedef struct nb_sgd_options {
    double lr;
    double momentum; /* 0: plain SGD */
    double dampening;
    double weight_decay;
    bool nesterov; /* needs momentum > 0 and dampening == 0, as in PyTorch */
} nb_sgd_options;

typedef struct nb_adam_options {
    double lr;           /* PyTorch's default 1e-3 */
    double beta1, beta2; /* 0.9, 0.999 */
    double eps;          /* 1e-8 */
    double weight_decay; /* 0 */
} nb_adam_options;

nb_sgd_options nb_sgd_defaults(double lr);
nb_adam_options nb_adam_defaults(double lr);

/* The optimizer borrows the params (they must outlive it) and owns its state (momentum
 * buffers, Adam moments). Invalid options (negative lr, betas outside [0, 1), Nesterov
 * without momentum...) return NULL with a message, as PyTorch raises ValueError; so do an
 * empty list, a NULL or non-leaf param, and (where torch only warns) a param listed twice
 * and a NaN option. A step that fails (a grad whose shape or dtype differs from its param's)
 * changes nothing. */
nb_optimizer *nb_sgd_new(nb_var *const *params, int nparams, nb_sgd_options options);
nb_optimizer *nb_adam_new(nb_var *const *params, int nparams, nb_adam_options options);

/* optimizer.step(): updates every param whose .grad is set (others are skipped, as in
 * PyTorch), under no-grad. */
nb_status nb_optimizer_step(nb_optimizer *opt);
void nb_optimizer_zero_grad(nb_optimizer *opt); /* set_to_none=False: grads zeroed */
void nb_optimizer_free(nb_optimizer *opt);

#endif
