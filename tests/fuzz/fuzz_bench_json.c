/* tests/fuzz/fuzz_bench_json.c — libFuzzer target for the bench.json reader behind `nabla
 * bench --compare` (nb_bench_json_parse, what nb_bench_json_load runs on the file), and the
 * statistics --compare then takes of what it read. Invariants: every case read has a key and
 * 0..NB_BENCH_MAX_SAMPLES positive samples; its median lies between its min and max; the
 * Mann-Whitney p of two cases is a probability; a failure leaves no cases and a one-line
 * message naming the file. */
#include <math.h>

#include "fuzz.h"
#include "harness/bench_compare.h"
#include "harness/stats.h"

#define NAME "fuzz-bench.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_bench_saved_case *cases = (nb_bench_saved_case *)&cases; /* a sentinel: a failure must reset it */
    int n = -1;
    nb_status st = nb_bench_json_parse((const char *)data, size, NAME, &cases, &n);
    if (st != NB_OK) {
        FUZZ_CHECK(st == NB_ERR_FORMAT || st == NB_ERR_NOMEM, "status %s", nb_status_name(st));
        FUZZ_CHECK(cases == NULL && n == 0, "a failed read left cases");
        fuzz_check_message(NAME);
        return 0;
    }
    FUZZ_CHECK(cases != NULL && n >= 0, "cases");
    for (int i = 0; i < n; i++) {
        const nb_bench_saved_case *c = &cases[i];
        FUZZ_CHECK(c->n >= 0 && c->n <= NB_BENCH_MAX_SAMPLES, "case %d has %d samples", i, c->n);
        FUZZ_CHECK(memchr(c->key, '\0', sizeof c->key) != NULL, "case %d key unterminated", i);
        fuzz_check_one_line(c->key);
        for (int j = 0; j < c->n; j++) FUZZ_CHECK(c->samples[j] > 0, "case %d sample %d", i, j);
        if (!c->n) continue;
        nb_stats s = nb_stats_of(c->samples, c->n);
        FUZZ_CHECK(s.n == c->n && s.min <= s.median && s.median <= s.max, "case %d stats: %g <= %g <= %g", i, s.min,
                   s.median, s.max);
        /* --compare's test against the previous case (or itself). */
        const nb_bench_saved_case *o = i > 0 && cases[i - 1].n ? &cases[i - 1] : c;
        double p = nb_mann_whitney_p(o->samples, o->n, c->samples, c->n);
        FUZZ_CHECK(p >= 0 && p <= 1, "case %d: p = %g", i, p);
    }
    free(cases);
    return 0;
}
