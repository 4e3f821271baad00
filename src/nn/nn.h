/* src/nn/nn.h — torch.nn for nabla: modules with parameters (Linear, ReLU, Sequential, and
 * user-defined ones such as the tutorial's TwoLayerNet) on top of autograd.
 *
 * A module is a struct whose first member is an nb_module, dispatching through a vtable
 * (forward, parameters, destroy). A user writes a module the same way the built-ins are
 * written: see src/variants/module.c for TwoLayerNet. The struct comes from nb_alloc_zeroed
 * (base/alloc.h), since nb_module_free gives it back with nb_free.
 *
 * Ownership: a module owns its parameters (leaf vars with requires_grad) and its children;
 * nb_module_free releases them. forward returns a var owned like any op's result (by the
 * open scope, else by the caller). Call the forward of a module that composes several ops
 * (a user module such as TwoLayerNet) inside an nb_scope: its intermediates belong to the
 * scope. The built-ins manage their own. */
#ifndef NB_NN_NN_H
#define NB_NN_NN_H

#include "autograd/autograd.h"
#include "base/alloc.h"
#include "tensor/rng.h"

typedef struct nb_module nb_module;

/* A growable list of borrowed parameter pointers, in registration order (PyTorch's
 * model.parameters() order: each Linear's weight then bias, children in order). */
typedef struct nb_param_list {
    nb_var **items;
    int count;
    int capacity;
} nb_param_list;

nb_status nb_param_list_push(nb_param_list *list, nb_var *param);
void nb_param_list_free(nb_param_list *list); /* frees the array, not the vars */

typedef struct nb_module_vtable {
    const char *type; /* "Linear", "ReLU", "Sequential", "TwoLayerNet", ... */
    nb_var *(*forward)(nb_module *self, nb_var *x);
    /* Appends the module's parameters (and its children's) to list. */
    nb_status (*parameters)(nb_module *self, nb_param_list *list);
    void (*destroy)(nb_module *self); /* frees what the module owns, not the struct itself */
} nb_module_vtable;

struct nb_module {
    const nb_module_vtable *vtable;
};

nb_var *nb_module_forward(nb_module *m, nb_var *x); /* model(x); NULL x -> NULL */
nb_status nb_module_parameters(nb_module *m, nb_param_list *list);
nb_status nb_module_zero_grad(nb_module *m); /* model.zero_grad() */
void nb_module_free(nb_module *m);           /* destroy + free; NULL is fine */

/* nn.Linear(in_features, out_features, bias): weight (out, in) and bias (out), initialised
 * as PyTorch 1.13 does (kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(in), 1/sqrt(in))
 * for the bias, weight first), drawing from rng (NULL: the default generator). */
nb_module *nb_linear_new(int64_t in_features, int64_t out_features, bool bias, nb_dtype dtype, nb_rng *rng);
nb_var *nb_linear_weight(nb_module *linear); /* borrowed */
nb_var *nb_linear_bias(nb_module *linear);   /* borrowed; NULL without bias */

nb_module *nb_relu_new(void); /* nn.ReLU() */

/* nn.Sequential(*modules): takes ownership of the n modules (also on failure). n >= 1 and
 * the modules distinct: unlike torch, an empty Sequential is refused (its forward would have
 * to return its input, which breaks the ownership of forward's result). forward owns and
 * drops the vars between children (they stay alive in the graph for backward), so a forward
 * with or without an open scope leaks nothing. */
nb_module *nb_sequential_new(nb_module **modules, int n);

/* nn.MSELoss(reduction=...) has no state: it is nb_ag_mse_loss (autograd.h). */

#endif
