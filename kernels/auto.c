/* kernels/auto.c — the `auto` kernel: per product, the concrete kernel a higher layer measured
 * fastest (gemm.h states the lookup), plus the record of what it chose for `nabla profile`.
 * It holds the table only; src/harness/tune.c measures it, stores it in a file and installs it.
 * It uses the registry (registry.c) and nothing above it; select.c makes the name "auto" findable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_impl.h"

/* The installed table and the decision record: plain globals, used from one thread at a time
 * (gemm.h says why that holds in nabla). */
static nb_auto_entry *auto_table;
static int auto_table_count;
static nb_auto_decision auto_record[NB_AUTO_MAX_DECISIONS];
static int auto_record_count;
static uint64_t auto_unrecorded;

static bool is_concrete(const nb_kernel *kernel) {
    for (int i = 0; i < nb_kernel_count(); i++)
        if (nb_kernel_at(i) == kernel) return true;
    return false;
}

static bool entry_ok(const nb_auto_entry *e) {
    return (e->dtype == NB_GEMM_F32 || e->dtype == NB_GEMM_F64) && e->nthreads >= 1 &&
           (e->ta == NB_NO_TRANS || e->ta == NB_TRANS) && (e->tb == NB_NO_TRANS || e->tb == NB_TRANS) && e->m >= 0 &&
           e->n >= 0 && e->k >= 0 && is_concrete(e->kernel);
}

void nb_auto_reset_decisions(void) {
    auto_record_count = 0;
    auto_unrecorded = 0;
}

bool nb_auto_install(const nb_auto_entry *entries, int count) {
    if (count < 0 || (count > 0 && entries == NULL)) return false;
    for (int i = 0; i < count; i++)
        if (!entry_ok(&entries[i])) return false;
    nb_auto_entry *copy = NULL;
    if (count > 0) {
        copy = malloc((size_t)count * sizeof *copy);
        if (!copy) return false;
        memcpy(copy, entries, (size_t)count * sizeof *copy);
    }
    free(auto_table);
    auto_table = copy;
    auto_table_count = count;
    nb_auto_reset_decisions(); /* the record is also the cache of choices from the old table */
    return true;
}

void nb_auto_clear(void) { nb_auto_install(NULL, 0); }

int nb_auto_table_size(void) { return auto_table_count; }

/* ln of a size, with sizes below 1 counted as 1 (a product with a zero dimension does no
 * arithmetic; any entry serves it). */
static double log_size(int64_t x) { return log(x > 1 ? (double)x : 1.0); }

static bool same_product(const nb_auto_entry *e, nb_gemm_dtype dtype, int nthreads, nb_trans ta, nb_trans tb, int64_t m,
                         int64_t n, int64_t k) {
    return e->dtype == dtype && e->nthreads == nthreads && e->ta == ta && e->tb == tb && e->m == m && e->n == n &&
           e->k == k;
}

const nb_kernel *nb_auto_lookup(nb_gemm_dtype dtype, int nthreads, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                                int64_t k) {
    const double lm = log_size(m), ln = log_size(n), lk = log_size(k);
    /* One pass keeps the nearest entry of each kind: same transposes, and any transposes. */
    const nb_auto_entry *near_same = NULL, *near_any = NULL;
    double d_same = INFINITY, d_any = INFINITY;
    for (int i = 0; i < auto_table_count; i++) {
        const nb_auto_entry *e = &auto_table[i];
        if (same_product(e, dtype, nthreads, ta, tb, m, n, k)) return e->kernel;
        if (e->dtype != dtype || e->nthreads != nthreads) continue;
        double dm = log_size(e->m) - lm, dn = log_size(e->n) - ln, dk = log_size(e->k) - lk;
        double d = dm * dm + dn * dn + dk * dk;
        if (d < d_any) d_any = d, near_any = e;
        if (e->ta == ta && e->tb == tb && d < d_same) d_same = d, near_same = e;
    }
    if (near_same) return near_same->kernel;
    if (near_any) return near_any->kernel;
    /* the default by its name, not nb_kernel_default(): that is select.c's, a layer above this */
    return nb_kernel_find_concrete(NB_KERNEL_DEFAULT_NAME);
}

/* The kernel for one call: from the record when the product was seen before, else looked up
 * and, while there is room, recorded. */
static const nb_kernel *choose(nb_gemm_dtype dtype, int nthreads, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                               int64_t k) {
    for (int i = 0; i < auto_record_count; i++) {
        nb_auto_decision *d = &auto_record[i];
        if (same_product(&d->choice, dtype, nthreads, ta, tb, m, n, k)) {
            d->calls++;
            return d->choice.kernel;
        }
    }
    const nb_kernel *kernel = nb_auto_lookup(dtype, nthreads, ta, tb, m, n, k);
    if (auto_record_count < NB_AUTO_MAX_DECISIONS)
        auto_record[auto_record_count++] = (nb_auto_decision){
            .choice =
                {.dtype = dtype, .nthreads = nthreads, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .kernel = kernel},
            .calls = 1,
        };
    else
        auto_unrecorded++;
    return kernel;
}

int nb_auto_decisions(const nb_auto_decision **rows) {
    if (rows) *rows = auto_record;
    return auto_record_count;
}

uint64_t nb_auto_unrecorded_calls(void) { return auto_unrecorded; }

static void auto_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nthreads) {
    choose(NB_GEMM_F32, nthreads, ta, tb, m, n, k)
        ->sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads);
}

static void auto_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                       int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int nthreads) {
    choose(NB_GEMM_F64, nthreads, ta, tb, m, n, k)
        ->dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nthreads);
}

/* Kept out of the registry's table on purpose: nb_kernel_count/at list only kernels that do
 * the arithmetic, so a sweep or a tuning run never times auto against itself. */
static const nb_kernel auto_kernel = {
    .name = "auto",
    .description = "per product, the kernel `nabla tune` measured fastest (else the default)",
    .sgemm = auto_sgemm,
    .dgemm = auto_dgemm,
    .threaded = true,
    .thread_invariant = false,
    /* auto does no arithmetic of its own: each product is rounded as the concrete kernel it
     * goes to rounds it, so whatever tolerance auto is held to is the loosest of theirs
     * (src/verify/verify.c takes the maximum over the registry's rows). */
    .summation = NB_GEMM_SUM_DISPATCH,
};

const nb_kernel *nb_kernel_auto(void) { return &auto_kernel; }
