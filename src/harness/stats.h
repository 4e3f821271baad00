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

#endif
