/* src/verify/gradcheck.c — central finite differences and tensor comparisons behind every
 * row `nabla verify` prints. */
#include "verify/gradcheck.h"

#include <math.h>
#include <string.h>

/* Accumulates one element's comparison into a row. A NaN on either side fails. */
static void row_add(nb_check_row *row, double got, double want) {
    double err = fabs(got - want);
    bool ok = err <= row->atol + row->rtol * fabs(want); /* false for NaN */
    if (isnan(err)) err = INFINITY;
    row->checked++;
    if (!ok) row->failed++;
    if (err > row->max_abs) row->max_abs = err;
    if (want != 0 && err / fabs(want) > row->max_rel) row->max_rel = err / fabs(want);
}

void nb_check_row_init(nb_check_row *row, const char *what, double atol, double rtol) {
    memset(row, 0, sizeof *row);
    snprintf(row->what, sizeof row->what, "%s", what);
    row->atol = atol;
    row->rtol = rtol;
    snprintf(row->tolerance, sizeof row->tolerance, "%.0e+%.0e*|x|", atol, rtol);
}

nb_status nb_gradcheck(nb_eval_fn *eval, void *ctx, nb_grad_entry *entries, int nentries, const char *label,
                       nb_check_row *rows, int *nrows) {
    *nrows = 0;
    double loss;
    NB_TRY(eval(ctx, true, &loss));
    /* The analytic gradients, copied: later evaluations may overwrite the grads. */
    nb_tensor *analytic[NB_MAX_GRAD_ENTRIES] = {0};
    nb_status st = NB_OK;
    for (int e = 0; e < nentries && st == NB_OK; e++) {
        if (!entries[e].grad) continue;
        if (entries[e].value->dtype != NB_F64 || !nb_tensor_is_contiguous(entries[e].value))
            st = nb_error(NB_ERR_ARG, "gradcheck: %s must be a contiguous f64 tensor", entries[e].name);
        else if (!(analytic[e] = nb_tensor_clone(entries[e].grad)))
            st = nb_last_status();
    }
    for (int e = 0; e < nentries && st == NB_OK; e++) {
        if (!analytic[e]) continue;
        nb_check_row *row = &rows[(*nrows)++];
        char what[128];
        snprintf(what, sizeof what, "%s %s", label, entries[e].name);
        nb_check_row_init(row, what, NB_GRADCHECK_ATOL, NB_GRADCHECK_RTOL);
        double *v = nb_tensor_data(entries[e].value);
        const double *g = nb_tensor_data(analytic[e]);
        double largest = 0; /* of the numeric gradient */
        for (int64_t j = 0; j < nb_tensor_numel(entries[e].value) && st == NB_OK; j++) {
            const double saved = v[j];
            double plus = 0, minus = 0; /* read below even when eval failed */
            v[j] = saved + NB_GRADCHECK_EPS;
            st = eval(ctx, false, &plus);
            v[j] = saved - NB_GRADCHECK_EPS;
            if (st == NB_OK) st = eval(ctx, false, &minus);
            v[j] = saved;
            double numeric = (plus - minus) / (2 * NB_GRADCHECK_EPS);
            if (st == NB_OK) row_add(row, g[j], numeric);
            largest = fmax(largest, fabs(numeric));
        }
        /* An all-zero gradient (every ReLU dead, say) would pass any comparison and prove
         * nothing: such a check is a failure of the check's design, reported as one. */
        if (largest == 0) {
            strncat(row->what, " (all-zero gradient)", sizeof row->what - strlen(row->what) - 1);
            row->failed = row->checked;
        }
        row->ok = row->failed == 0 && row->checked > 0;
    }
    for (int e = 0; e < nentries; e++) nb_tensor_free(analytic[e]);
    return st;
}

void nb_compare_tensors(const nb_tensor *got, const nb_tensor *want, double atol, double rtol, const char *what,
                        nb_check_row *row) {
    nb_check_row_init(row, what, atol, rtol);
    if (!got || !want || !nb_tensor_same_shape(got, want)) {
        row->failed = 1;
        row->max_abs = INFINITY;
        return;
    }
    int64_t n = nb_tensor_numel(want);
    nb_tensor *g = nb_tensor_to_dtype(got, NB_F64), *w = nb_tensor_to_dtype(want, NB_F64);
    if (!g || !w) {
        row->failed = 1;
    } else {
        const double *gp = nb_tensor_data(g), *wp = nb_tensor_data(w);
        for (int64_t i = 0; i < n; i++) row_add(row, gp[i], wp[i]);
    }
    nb_tensor_free(g);
    nb_tensor_free(w);
    row->ok = row->failed == 0 && row->checked > 0;
}

void nb_check_print_header(FILE *out) {
    fprintf(out, "%-58s %8s %11s %11s %18s  %s\n", "checked tensor", "elements", "max_abs", "max_rel", "tolerance",
            "result");
}

void nb_check_print_row(FILE *out, const nb_check_row *r) {
    fprintf(out, "%-58s %8lld %11.3e %11.3e %18s  %s\n", r->what, (long long)r->checked, r->max_abs, r->max_rel,
            r->tolerance, r->ok ? "OK" : "FAIL");
    if (!r->ok && r->detail[0]) fprintf(out, "    %s\n", r->detail);
}
