/* tests/fuzz/fuzz_tune.c — libFuzzer target for the tuning table reader (nb_tune_parse, what
 * nb_tune_read runs on the file). Invariants: a table read is consistent (at most
 * NB_TUNE_MAX_ENTRIES entries, no two for one product, each winner one of the context's
 * kernels with a positive time, an overlap of none, found or unknown, and names of the
 * overlapping runs only with found), and formatting it (nb_tune_format, the table part of what
 * nb_tune_write writes) and reading that back gives the same table, field by field; a
 * failure leaves an empty table and a one-line message naming the file. */
#include <float.h>
#include <math.h>

#include "fuzz.h"
#include "harness/tune.h"

#define NAME "fuzz-tune.json"

static bool same_context(const nb_tune_context *a, const nb_tune_context *b) {
    if (strcmp(a->cpu_model, b->cpu_model) || a->online_cpus != b->online_cpus ||
        strcmp(a->openblas_coretype, b->openblas_coretype) || strcmp(a->nabla_version, b->nabla_version) ||
        strcmp(a->kernels_revision, b->kernels_revision) || a->kernel_count != b->kernel_count)
        return false;
    for (int i = 0; i < a->kernel_count; i++)
        if (strcmp(a->kernels[i], b->kernels[i])) return false;
    return !nb_tune_context_stale(a, b, NULL, 0);
}

static bool same_entry(const nb_tune_entry *a, const nb_tune_entry *b, int kernels) {
    if (a->dtype != b->dtype || a->threads != b->threads || a->winner != b->winner || a->shape.m != b->shape.m ||
        a->shape.n != b->shape.n || a->shape.k != b->shape.k || a->shape.ta != b->shape.ta ||
        a->shape.tb != b->shape.tb || a->overlap != b->overlap || strcmp(a->overlapped_by, b->overlapped_by))
        return false;
    /* cJSON prints a double with 15 significant digits when that reads back within its own
     * relative tolerance of 1 DBL_EPSILON (print_number), else 17: a time can come back 1 ulp
     * off (found by this target: 0.7138554695004131). Harmless for a timing; allow it. */
    for (int i = 0; i < kernels; i++)
        if (fabs(a->seconds[i] - b->seconds[i]) > 2 * DBL_EPSILON * fabs(a->seconds[i])) return false;
    return true;
}

static void check_table(const nb_tune_table *t) {
    const nb_tune_context *c = &t->context;
    const char *strings[] = {c->cpu_model, c->openblas_coretype, c->nabla_version, c->kernels_revision};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) fuzz_check_one_line(strings[i]);
    for (int i = 0; i < c->kernel_count; i++) fuzz_check_one_line(c->kernels[i]);
    FUZZ_CHECK(t->count >= 0 && t->count <= NB_TUNE_MAX_ENTRIES, "%d entries", t->count);
    FUZZ_CHECK(c->kernel_count >= 1 && c->kernel_count <= NB_TUNE_MAX_KERNELS, "%d kernels", c->kernel_count);
    for (int i = 0; i < t->count; i++) {
        const nb_tune_entry *e = &t->entries[i];
        FUZZ_CHECK(e->winner >= 0 && e->winner < c->kernel_count && e->seconds[e->winner] > 0, "entry %d winner", i);
        FUZZ_CHECK(e->shape.m >= 1 && e->shape.n >= 1 && e->shape.k >= 1 && e->threads >= 1, "entry %d shape", i);
        FUZZ_CHECK(nb_tune_entry_runner_up(e, c) != e->winner, "entry %d runner-up", i);
        FUZZ_CHECK(e->overlap == NB_OVERLAP_NONE || e->overlap == NB_OVERLAP_FOUND || e->overlap == NB_OVERLAP_UNKNOWN,
                   "entry %d overlap %d", i, (int)e->overlap);
        FUZZ_CHECK(e->overlap == NB_OVERLAP_FOUND || !e->overlapped_by[0], "entry %d overlapped_by without overlap", i);
        FUZZ_CHECK(!e->measured_now, "entry %d read as measured now", i);
        fuzz_check_one_line(e->overlapped_by);
        for (int j = 0; j < i; j++) {
            const nb_tune_entry *f = &t->entries[j];
            FUZZ_CHECK(!(e->dtype == f->dtype && e->threads == f->threads && e->shape.m == f->shape.m &&
                         e->shape.n == f->shape.n && e->shape.k == f->shape.k && e->shape.ta == f->shape.ta &&
                         e->shape.tb == f->shape.tb),
                       "entries %d and %d are one product", j, i);
        }
    }
    FUZZ_CHECK(nb_tune_table_count_for(t, NB_F32, 1) <= t->count, "count_for");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t live = fuzz_live_blocks();
    nb_tune_table t;
    nb_status st = nb_tune_parse((const char *)data, size, NAME, &t);
    if (st != NB_OK) {
        FUZZ_CHECK(st == NB_ERR_FORMAT || st == NB_ERR_NOMEM, "status %s", nb_status_name(st));
        fuzz_check_message(NAME);
        FUZZ_CHECK(t.count == 0 && t.entries == NULL, "a failed read left entries");
        FUZZ_CHECK(fuzz_live_blocks() == live, "leak");
        return 0;
    }
    check_table(&t);
    char *text = NULL;
    FUZZ_CHECK(nb_tune_format(&t, &text) == NB_OK, "format: %s", nb_last_error());
    nb_tune_table back;
    FUZZ_CHECK(nb_tune_parse(text, strlen(text), "formatted", &back) == NB_OK, "the formatted table: %s\n%s",
               nb_last_error(), text);
    FUZZ_CHECK(same_context(&t.context, &back.context), "the context reads back changed");
    FUZZ_CHECK(back.count == t.count, "%d entries read back as %d", t.count, back.count);
    for (int i = 0; i < t.count; i++)
        FUZZ_CHECK(same_entry(&t.entries[i], &back.entries[i], t.context.kernel_count), "entry %d reads back changed",
                   i);
    free(text);
    nb_tune_table_free(&back);
    nb_tune_table_free(&t);
    FUZZ_CHECK(fuzz_live_blocks() == live, "leak");
    return 0;
}
