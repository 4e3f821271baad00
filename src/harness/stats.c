/* src/harness/stats.c — median, spread and variation of a sample of timings. */
#include "harness/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

nb_stats nb_stats_of(const double *samples, int n) {
    nb_stats s = {.n = n};
    if (n < 1) return s;
    double sorted_small[64], *sorted = n <= 64 ? sorted_small : malloc((size_t)n * sizeof *sorted);
    if (!sorted) return s; /* out of memory: an all-zero summary, n set */
    memcpy(sorted, samples, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    s.min = sorted[0];
    s.max = sorted[n - 1];
    s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += sorted[i];
    s.mean = sum / n;
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (sorted[i] - s.mean) * (sorted[i] - s.mean);
    s.stddev = n > 1 ? sqrt(ss / (n - 1)) : 0;
    s.cv = s.mean > 0 ? s.stddev / s.mean : 0;
    if (sorted != sorted_small) free(sorted);
    return s;
}

bool nb_stats_noisy(const nb_stats *s) { return s->cv > NB_STATS_NOISY_CV; }

/* ---- Mann-Whitney U --------------------------------------------------------------------- */

/* U of a against b: pairs (x in a, y in b) with x > y, ties counting one half; *tied says
 * whether any value occurs in both samples or twice in one. */
static double u_statistic(const double *a, int na, const double *b, int nb, bool *tied) {
    double u = 0;
    *tied = false;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) {
            if (a[i] > b[j])
                u += 1;
            else if (a[i] == b[j]) {
                u += 0.5;
                *tied = true;
            }
        }
    for (int i = 0; i < na && !*tied; i++)
        for (int j = i + 1; j < na; j++) *tied = *tied || a[i] == a[j];
    for (int i = 0; i < nb && !*tied; i++)
        for (int j = i + 1; j < nb; j++) *tied = *tied || b[i] == b[j];
    return u;
}

/* P(U <= u) under the null hypothesis, exactly: count the arrangements with each U by the
 * recursion f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u), over C(m + n, m). */
static double exact_cdf(int na, int nb, int u) {
    enum { MAX = 20 };
    static double f[MAX + 1][MAX + 1][MAX * MAX + 1];
    for (int m = 0; m <= na; m++)
        for (int n = 0; n <= nb; n++)
            for (int k = 0; k <= m * n; k++) {
                if (m == 0 || n == 0)
                    f[m][n][k] = k == 0;
                else
                    f[m][n][k] = (k >= n ? f[m - 1][n][k - n] : 0) + (k <= m * (n - 1) ? f[m][n - 1][k] : 0);
            }
    double total = 0, below = 0;
    for (int k = 0; k <= na * nb; k++) {
        total += f[na][nb][k];
        if (k <= u) below += f[na][nb][k];
    }
    return below / total;
}

double nb_mann_whitney_p(const double *a, int na, const double *b, int nb) {
    if (na < 1 || nb < 1) return 1.0;
    bool tied;
    double u = u_statistic(a, na, b, nb, &tied);
    if (!tied && na <= 20 && nb <= 20) {
        /* two-sided: twice the smaller tail, U and na*nb - U being symmetric */
        double lo = exact_cdf(na, nb, (int)u), hi = 1.0 - exact_cdf(na, nb, (int)u - 1);
        double p = 2 * fmin(lo, hi);
        return p > 1 ? 1 : p;
    }
    /* normal approximation; ties shrink the variance (ranks over the pooled sample) */
    int n = na + nb;
    double *all = malloc((size_t)n * sizeof *all);
    if (!all) return NAN;
    memcpy(all, a, (size_t)na * sizeof *all);
    memcpy(all + na, b, (size_t)nb * sizeof *all);
    qsort(all, (size_t)n, sizeof *all, compare_double);
    double tie_term = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && all[j] == all[i]) j++;
        double t = j - i;
        tie_term += t * t * t - t;
        i = j;
    }
    free(all);
    double mean = na * nb / 2.0;
    double var = na * nb / 12.0 * ((n + 1) - tie_term / ((double)n * (n - 1)));
    if (var <= 0) return 1.0;
    double z = (fabs(u - mean) - 0.5) / sqrt(var); /* continuity correction */
    if (z < 0) z = 0;
    return erfc(z / sqrt(2.0));
}

double nb_geometric_mean(const double *ratios, int n) {
    if (n < 1) return NAN;
    double log_sum = 0;
    for (int i = 0; i < n; i++) log_sum += log(ratios[i]);
    return exp(log_sum / n);
}
