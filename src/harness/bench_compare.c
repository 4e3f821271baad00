/* src/harness/bench_compare.c — see bench_compare.h: a bench.json's cases and samples read
 * back for `nabla bench --compare`, every field checked before it is used. */
#include "harness/bench_compare.h"

#include "harness/commands.h"
#include "harness/stats.h"

#include <cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

nb_status nb_bench_json_parse(const char *text, size_t len, const char *path, nb_bench_saved_case **cases,
                              int *count) {
    *cases = NULL;
    *count = 0;
    if (!path) path = "(buffer)";
    if (!text && len) return nb_error(NB_ERR_ARG, "%s: bench_json_parse: text is NULL", path);
    if (len > NB_BENCH_MAX_JSON_BYTES) return nb_error(NB_ERR_FORMAT, "%s: larger than 4 MiB, not a bench.json", path);
    /* cJSON wants a terminated string; the caller's bytes need not be one. */
    char *copy = malloc(len + 1);
    if (!copy) return nb_error(NB_ERR_NOMEM, "out of memory reading %s", path);
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    cJSON *doc = cJSON_Parse(copy);
    free(copy);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(doc);
        return nb_error(NB_ERR_FORMAT, "%s: not a nabla bench.json (no \"cases\" list)", path);
    }
    int n = cJSON_GetArraySize(list);
    *cases = calloc(n > 0 ? (size_t)n : 1, sizeof **cases);
    if (!*cases) {
        cJSON_Delete(doc);
        return nb_error(NB_ERR_NOMEM, "out of memory reading %s", path);
    }
    const cJSON *c;
    nb_status st = NB_OK;
    cJSON_ArrayForEach(c, list) {
        const cJSON *variant = cJSON_GetObjectItemCaseSensitive(c, "variant");
        const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(c, "kernel");
        const cJSON *threads = cJSON_GetObjectItemCaseSensitive(c, "threads");
        const cJSON *samples = cJSON_GetObjectItemCaseSensitive(c, "samples_s");
        if (!cJSON_IsString(variant) || !cJSON_IsString(kernel) || !cJSON_IsNumber(threads) || !cJSON_IsArray(samples)) {
            st = nb_error(NB_ERR_FORMAT, "%s: case %d lacks variant, kernel, threads or samples_s", path, *count);
            break;
        }
        /* The key is printed as one row of --compare's table. */
        if (has_control(variant->valuestring) || has_control(kernel->valuestring)) {
            st = nb_error(NB_ERR_FORMAT, "%s: case %d has a control character in its variant or kernel", path, *count);
            break;
        }
        nb_bench_saved_case *s = &(*cases)[(*count)++];
        snprintf(s->key, sizeof s->key, "%s %s %d", variant->valuestring, kernel->valuestring, threads->valueint);
        const cJSON *x;
        cJSON_ArrayForEach(x, samples) {
            if (!cJSON_IsNumber(x) || !(x->valuedouble > 0) || s->n == NB_BENCH_MAX_SAMPLES) {
                st = nb_error(NB_ERR_FORMAT, "%s: case %s has a bad sample", path, s->key);
                break;
            }
            s->samples[s->n++] = x->valuedouble;
        }
        if (st != NB_OK) break;
    }
    cJSON_Delete(doc);
    if (st != NB_OK) {
        free(*cases);
        *cases = NULL;
        *count = 0;
    }
    return st;
}

nb_status nb_bench_json_load(const char *path, nb_bench_saved_case **cases, int *count) {
    *cases = NULL;
    *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nb_error(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    /* One byte more than the limit tells a file that is too large. */
    char *text = malloc(NB_BENCH_MAX_JSON_BYTES + 1);
    if (!text) {
        fclose(f);
        return nb_error(NB_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t len = fread(text, 1, NB_BENCH_MAX_JSON_BYTES + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    nb_status st =
        failed ? nb_error(NB_ERR_IO, "%s: read error", path) : nb_bench_json_parse(text, len, path, cases, count);
    free(text);
    return st;
}

/* ---- --compare OLD.json NEW.json ------------------------------------------------------------- */

/* A bench.json read back (harness/bench_compare.c): its cases' keys and timing samples. */
typedef nb_bench_saved_case saved_case;

/* Per case: old and new medians, the change, and whether the samples differ significantly
 * (Mann-Whitney U, p < 0.05; with fewer than 9 samples a side the test has little power, as
 * Google Benchmark's compare.py warns). Then the geometric mean of new/old. */
int nb_bench_compare_files(const char *old_path, const char *new_path) {
    saved_case *old = NULL, *new = NULL;
    int nold = 0, nnew = 0;
    if (nb_bench_json_load(old_path, &old, &nold) != NB_OK || nb_bench_json_load(new_path, &new, &nnew) != NB_OK) {
        free(old);
        return nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());
    }
    printf("%-34s %10s %10s %8s %8s  %s\n", "case", "old_ms", "new_ms", "change", "p", "");
    double ratios[NB_BENCH_MAX_CASES];
    int nratios = 0, few = 0;
    for (int i = 0; i < nnew; i++) {
        const saved_case *b = &new[i], *a = NULL;
        for (int j = 0; j < nold && !a; j++)
            if (!strcmp(old[j].key, b->key)) a = &old[j];
        if (!a || !a->n || !b->n) continue;
        double ma = nb_stats_of(a->samples, a->n).median, mb = nb_stats_of(b->samples, b->n).median;
        double p = nb_mann_whitney_p(a->samples, a->n, b->samples, b->n);
        if (nratios < NB_BENCH_MAX_CASES) ratios[nratios++] = mb / ma;
        few += a->n < 9 || b->n < 9;
        printf("%-34s %10.3f %10.3f %+7.1f%% %8.4f  %s\n", b->key, ma * 1e3, mb * 1e3, (mb / ma - 1) * 100, p,
               p < 0.05 ? (mb < ma ? "faster" : "slower") : "no significant change");
    }
    if (nratios)
        printf("geometric mean of new/old: %.3f over %d cases\n", nb_geometric_mean(ratios, nratios), nratios);
    else
        printf("no case appears in both files\n");
    if (few) printf("note: %d cases have fewer than 9 samples a side; the test has little power there\n", few);
    free(old);
    free(new);
    return NB_EXIT_OK;
}

