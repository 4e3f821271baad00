/* src/optim/optim_impl.h — what SGD and Adam share with the common optimizer code
 * (optimizer.c): the nb_optimizer header and the vtable a concrete optimizer fills in. */
#ifndef NB_OPTIM_OPTIM_IMPL_H
#define NB_OPTIM_OPTIM_IMPL_H

#include "optim/optim.h"

/* A step runs in three passes so that a failure changes nothing: optimizer.c checks every
 * param that has a grad, then `prepare` allocates missing state for each of them, and only
 * then `update` (which cannot fail) changes params and state. */
typedef struct nb_optimizer_vtable {
    const char *name; /* "SGD", "Adam": for messages */
    /* Makes sure param `index` has its state (momentum buffer, moments) allocated, and that
     * state fits the param. Must not change any value a later step reads. */
    nb_status (*prepare)(nb_optimizer *opt, int index);
    /* One param's update from its .grad; the param and grad were checked: same dtype and
     * shape, both contiguous. */
    void (*update)(nb_optimizer *opt, int index);
    void (*destroy)(nb_optimizer *opt); /* frees the state, not the struct */
} nb_optimizer_vtable;

/* The first member of a concrete optimizer (nb_sgd, nb_adam), whose struct comes from
 * nb_alloc_zeroed: nb_optimizer_free gives it back with nb_free. */
struct nb_optimizer {
    const nb_optimizer_vtable *vtable;
    nb_var **params; /* the array is ours, the vars are borrowed */
    int nparams;
};

/* Fills opt's header: checks the params as torch's Optimizer.__init__ does (non-empty, no
 * NULL, leaves only, and, where torch only warns, no duplicates) and copies the array. */
nb_status nb_optimizer_init(nb_optimizer *opt, const nb_optimizer_vtable *vtable, nb_var *const *params, int nparams);

#endif
