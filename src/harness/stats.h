/* src/harness/stats.h — summary statistics of repeated timings, as benchmark harnesses
 * report them (hyperfine, Google Benchmark): median, min, max, mean, standard deviation and
 * coefficient of variation. */
#ifndef NB_HARNESS_STATS_H
#define NB_HARNESS_STATS_H

#include <stdbool.h>

typedef struct nb_stats {
    int n;
    double median, min, max, mean;
    double stddev; /* sample standard deviation (n - 1); 0 for n < 2 */
    double cv;     /* stddev / mean */
} nb_stats;

/* Above this coefficient of variation a timing is marked noisy. */
#define NB_STATS_NOISY_CV 0.05

/* Summarises n >= 1 samples (the array is not modified). */
nb_stats nb_stats_of(const double *samples, int n);
bool nb_stats_noisy(const nb_stats *s);

/* Two-sided p-value of the Mann-Whitney U test that samples a and b come from the same
 * distribution (Google Benchmark's compare.py uses the same test). Exact for up to 20 samples
 * a side without ties, otherwise the normal approximation with tie correction. 1 when
 * either side is empty. */
double nb_mann_whitney_p(const double *a, int na, const double *b, int nb);

/* Geometric mean of n positive ratios (NAN when n == 0). */
double nb_geometric_mean(const double *ratios, int n);

#endif
