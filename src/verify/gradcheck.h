/* src/verify/gradcheck.h — gradient checks: analytic gradients against central finite
 * differences (torch.autograd.gradcheck's rule), and float32 gradients against float64
 * ones, over any function that can evaluate a loss and fill gradients. `nabla verify` and
 * tests/test_gradcheck.c are built on it. */
#ifndef NB_VERIFY_GRADCHECK_H
#define NB_VERIFY_GRADCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "variants/variant.h"

/* Evaluates the loss at the entries' current values; when want_grad, also leaves
 * d loss / d value in every entry's grad. Must not change anything else between calls. */
typedef nb_status nb_eval_fn(void *ctx, bool want_grad, double *loss);

/* torch.autograd.gradcheck's defaults: eps 1e-6, pass when
 * |analytic - numeric| <= atol + rtol * |numeric|. */
#define NB_GRADCHECK_EPS 1e-6
#define NB_GRADCHECK_ATOL 1e-5
#define NB_GRADCHECK_RTOL 1e-3

/* One row of a check table: one checked tensor. */
typedef struct nb_check_row {
    char what[128];  /* "op mm(a, b^T) input b", "variant nn kernel blas f64 0.weight" */
    int64_t checked; /* elements compared */
    int64_t failed;  /* elements over the tolerance */
    double max_abs;  /* max |got - want| */
    double max_rel;  /* max |got - want| / |want| over elements with want != 0 */
    double atol, rtol;
    char tolerance[40]; /* as printed: "1e-05+1e-03*|x|" unless a check says otherwise */
    char detail[200];   /* for a failure: where it first went wrong ("" when nothing to add) */
    bool ok;
} nb_check_row;

/* Finite differences, f64: for every entry with a grad, every element perturbed by +-eps.
 * Writes one row per checked entry into rows (room for NB_MAX_GRAD_ENTRIES) with `label`
 * as prefix; *nrows gets the count. The values are restored afterwards. */
nb_status nb_gradcheck(nb_eval_fn *eval, void *ctx, nb_grad_entry *entries, int nentries, const char *label,
                       nb_check_row *rows, int *nrows);

/* Compares got (e.g. float32 gradients) with want (float64 ones of the same inputs),
 * elementwise: |got - want| <= atol + rtol * |want|. Fills one row. */
void nb_compare_tensors(const nb_tensor *got, const nb_tensor *want, double atol, double rtol, const char *what,
                        nb_check_row *row);

/* A passing-so-far row for `what` with the tolerance atol + rtol * |x|. */
void nb_check_row_init(nb_check_row *row, const char *what, double atol, double rtol);

/* Prints the table header and rows (aligned columns), e.g. for `nabla verify`. */
void nb_check_print_header(FILE *out);
void nb_check_print_row(FILE *out, const nb_check_row *row);

#endif
