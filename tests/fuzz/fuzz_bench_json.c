/* tests/fuzz/fuzz_bench_json.c — libFuzzer target for the bench.json reader behind `nabla
 * bench --compare` (nb_bench_json_parse, what nb_bench_json_load runs on the file), the
 * statistics --compare then takes of what it read, and the comparison of its settings.
 * Invariants: every case read has a unique key and 0..NB_BENCH_MAX_SAMPLES positive samples;
 * its median lies between its min and max; the Mann-Whitney p of two cases is a probability;
 * every setting kept is one line, and the numbers kept agree with their text; a run compared
 * with itself differs in nothing, and against a file that records nothing differs only in
 * unknowns; a failure leaves no cases, no settings and a one-line message naming the file. */
#include <math.h>

#include "fuzz.h"
#include "harness/bench_compare.h"
#include "harness/stats.h"

#define NAME "fuzz-bench.json"

static void check_settings_empty(const nb_bench_settings *s) {
    for (int i = 0; i < NB_BENCH_SETTING_COUNT; i++) FUZZ_CHECK(!s->value[i].known, "setting %d left known", i);
    FUZZ_CHECK(s->lr.count == -1 && s->environment.count == -1, "lists left");
    FUZZ_CHECK(s->repeats == -1 && s->rounds_done == -1 && s->interrupted == -1, "run state left");
}

static void check_list(const nb_bench_named_list *l) {
    FUZZ_CHECK(l->count >= -1 && l->count <= NB_BENCH_MAX_NAMED, "list count %d", l->count);
    for (int i = 0; i < l->count; i++) {
        FUZZ_CHECK(memchr(l->item[i].name, '\0', sizeof l->item[i].name) && l->item[i].name[0], "name %d", i);
        FUZZ_CHECK(memchr(l->item[i].text, '\0', sizeof l->item[i].text) != NULL, "text %d unterminated", i);
        fuzz_check_one_line(l->item[i].name);
        fuzz_check_one_line(l->item[i].text);
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(l->item[i].name, l->item[j].name), "name %s twice", l->item[i].name);
    }
}

static void check_settings(const nb_bench_settings *s) {
    for (int i = 0; i < NB_BENCH_SETTING_COUNT; i++) {
        const nb_bench_value *v = &s->value[i];
        FUZZ_CHECK(memchr(v->text, '\0', sizeof v->text) != NULL, "setting %d unterminated", i);
        FUZZ_CHECK(v->known || (!v->text[0] && !v->is_null), "unknown setting %d has a value", i);
        fuzz_check_one_line(v->text);
    }
    check_list(&s->lr);
    check_list(&s->environment);
    FUZZ_CHECK(s->repeats == -1 || (s->repeats >= 1 && s->repeats <= NB_BENCH_MAX_SAMPLES), "repeats %lld",
               (long long)s->repeats);
    FUZZ_CHECK(s->rounds_done >= -1 && s->rounds_done <= NB_BENCH_MAX_SAMPLES, "rounds_done %lld",
               (long long)s->rounds_done);
    FUZZ_CHECK(s->repeats < 0 || s->rounds_done <= s->repeats, "rounds_done %lld > repeats %lld",
               (long long)s->rounds_done, (long long)s->repeats);
    FUZZ_CHECK(s->interrupted >= -1 && s->interrupted <= 1, "interrupted %d", s->interrupted);
    FUZZ_CHECK((s->repeats >= 0) == s->value[NB_BENCH_REPEATS].known, "repeats known");

    /* --compare of the file against itself: nothing differs, only unknowns are listed */
    static nb_bench_difference diffs[NB_BENCH_MAX_DIFFERENCES];
    int n = nb_bench_settings_diff(s, s, diffs);
    FUZZ_CHECK(n >= 0 && n <= NB_BENCH_MAX_DIFFERENCES, "%d differences", n);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(!nb_bench_difference_refuses(&diffs[i]), "a file differs from itself in %s", diffs[i].name);
        FUZZ_CHECK(!diffs[i].old_text && !diffs[i].new_text, "%s listed though both sides record it", diffs[i].name);
    }
    /* against a file that records nothing (an old one): never a refusal */
    static nb_bench_settings none;
    static nb_bench_saved_case *no_cases;
    int no_count;
    nb_status st = nb_bench_json_parse("{\"cases\": []}", 13, "none", &no_cases, &no_count, &none);
    FUZZ_CHECK(st == NB_OK && no_count == 0, "the empty file");
    free(no_cases);
    n = nb_bench_settings_diff(&none, s, diffs);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(!nb_bench_difference_refuses(&diffs[i]), "%s refuses against an empty file", diffs[i].name);
        FUZZ_CHECK(diffs[i].name && (!diffs[i].qualifier || diffs[i].qualifier[0]), "difference %d unnamed", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_bench_saved_case *cases = (nb_bench_saved_case *)&cases; /* a sentinel: a failure must reset it */
    int n = -1;
    static nb_bench_settings settings;        /* ~60 KiB: not on libFuzzer's stack */
    memset(&settings, 0x5a, sizeof settings); /* a failure and a success must both overwrite it */
    nb_status st = nb_bench_json_parse((const char *)data, size, NAME, &cases, &n, &settings);
    if (st != NB_OK) {
        FUZZ_CHECK(st == NB_ERR_FORMAT || st == NB_ERR_NOMEM, "status %s", nb_status_name(st));
        FUZZ_CHECK(cases == NULL && n == 0, "a failed read left cases");
        check_settings_empty(&settings);
        fuzz_check_message(NAME);
        return 0;
    }
    FUZZ_CHECK(cases != NULL && n >= 0 && n <= NB_BENCH_MAX_CASES, "cases");
    check_settings(&settings);
    for (int i = 0; i < n; i++) {
        const nb_bench_saved_case *c = &cases[i];
        FUZZ_CHECK(c->n >= 0 && c->n <= NB_BENCH_MAX_SAMPLES, "case %d has %d samples", i, c->n);
        FUZZ_CHECK(memchr(c->key, '\0', sizeof c->key) != NULL, "case %d key unterminated", i);
        fuzz_check_one_line(c->key);
        for (int j = 0; j < i; j++) FUZZ_CHECK(strcmp(c->key, cases[j].key), "case %s twice", c->key);
        for (int j = 0; j < c->n; j++)
            FUZZ_CHECK(c->samples[j] > 0 && isfinite(c->samples[j]), "case %d sample %d", i, j);
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
