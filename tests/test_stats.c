/* tests/test_stats.c — the statistics behind nabla bench: median and spread of timings, the
 * Mann-Whitney U p-values (checked against scipy.stats.mannwhitneyu on the same samples) and
 * the geometric mean of ratios. */
#include <math.h>

#include "harness/stats.h"
#include "test_util.h"

static void test_summary(void) {
    double odd[5] = {5, 1, 4, 2, 3}, even[4] = {4, 1, 3, 2};
    nb_stats s = nb_stats_of(odd, 5);
    CU_ASSERT_EQUAL(s.median, 3);
    CU_ASSERT_EQUAL(s.min, 1);
    CU_ASSERT_EQUAL(s.max, 5);
    CU_ASSERT_EQUAL(s.mean, 3);
    CU_ASSERT_DOUBLE_EQUAL(s.stddev, sqrt(2.5), 1e-15); /* sample (n - 1) deviation */
    CU_ASSERT_DOUBLE_EQUAL(s.cv, sqrt(2.5) / 3, 1e-15);
    CU_ASSERT_EQUAL(odd[0], 5); /* the input is not sorted in place */
    CU_ASSERT_EQUAL(nb_stats_of(even, 4).median, 2.5);
    nb_stats one = nb_stats_of(odd, 1);
    CU_ASSERT_EQUAL(one.stddev, 0);
    CU_ASSERT_FALSE(nb_stats_noisy(&one));
    double noisy[3] = {1, 1.2, 0.8};
    nb_stats n = nb_stats_of(noisy, 3);
    CU_ASSERT_TRUE(nb_stats_noisy(&n));
}

/* p-values from scipy 1.10 (python3-scipy on Debian), mannwhitneyu(a, b) two-sided. */
static void test_mann_whitney_matches_scipy(void) {
    double a[5] = {1, 2, 3, 4, 5}, b[5] = {6, 7, 8, 9, 10}, c[5] = {1.5, 2.5, 3.5, 4.5, 5.5};
    CU_ASSERT_DOUBLE_EQUAL(nb_mann_whitney_p(a, 5, b, 5), 0.007936507936507936, 1e-12); /* exact */
    CU_ASSERT_DOUBLE_EQUAL(nb_mann_whitney_p(a, 5, c, 5), 0.6904761904761905, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(nb_mann_whitney_p(b, 5, a, 5), 0.007936507936507936, 1e-12); /* symmetric */
    double d[3] = {1, 1, 2}, e[3] = {1, 2, 2};
    CU_ASSERT_DOUBLE_EQUAL(nb_mann_whitney_p(d, 3, e, 3), 0.6192567541768621, 1e-12); /* ties: normal */
    CU_ASSERT_EQUAL(nb_mann_whitney_p(a, 0, b, 5), 1.0);
}

static void test_geometric_mean(void) {
    double r[3] = {0.5, 2, 4};
    CU_ASSERT_DOUBLE_EQUAL(nb_geometric_mean(r, 3), cbrt(4.0), 1e-15); /* (0.5 * 2 * 4)^(1/3) */
    CU_ASSERT_TRUE(isnan(nb_geometric_mean(r, 0)));
}

int main(void) {
    static const nb_test_case tests[] = {
        {"median, spread and cv", test_summary},
        {"Mann-Whitney U matches scipy", test_mann_whitney_matches_scipy},
        {"geometric mean", test_geometric_mean},
    };
    return nb_test_run("stats", tests, sizeof tests / sizeof tests[0]);
}
