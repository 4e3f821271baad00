/* src/verify/verify.h — the checks `nabla verify` runs, one row per checked tensor:
 * every differentiable op against finite differences (f64), every variant's loss gradient
 * with respect to its input and parameters against finite differences (f64, reduced
 * dimensions), and every variant's float32 gradients against its float64 ones. Each runs
 * with the kernel set in the runtime; the caller loops over kernels. */
#ifndef NB_VERIFY_VERIFY_H
#define NB_VERIFY_VERIFY_H

#include "autograd/autograd.h"
#include "verify/gradcheck.h"

/* Receives every row as soon as it is computed. */
typedef void nb_row_sink(void *ctx, const nb_check_row *row);

/* The op-level finite-difference checks, labelled with `label` (e.g. the kernel's name). */
nb_status nb_verify_ops(const char *label, nb_row_sink *sink, void *ctx);

/* The model-level finite-difference checks of one variant at reduced dimensions. */
nb_status nb_verify_variant_f64(const nb_variant *variant, const char *label, nb_row_sink *sink, void *ctx);

/* float32 gradients of one variant against float64 gradients of the same (float32-valued)
 * inputs, within the tolerance measured for the kernel in use. */
nb_status nb_verify_variant_f32(const nb_variant *variant, const char *label, nb_row_sink *sink, void *ctx);

/* The op-level check of one user function of one input (used by the tests to show that a
 * wrong backward is caught): f64 input of `shape`, kept at least 0.1 away from `kink`. */
nb_status nb_verify_function(const nb_function *fn, int ndim, const int64_t *shape, double kink, const char *label,
                             nb_row_sink *sink, void *ctx);

#endif
