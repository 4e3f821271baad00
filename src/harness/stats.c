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
