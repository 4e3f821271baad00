/* tests/test_tune.c — `--kernel auto` and its tuning table: auto's lookup (exact, nearest by
 * log-size distance, same transposes preferred, the default when nothing fits) and that it gives
 * the chosen kernel's bits; the table file's round trip, its staleness reasons, and the refusal
 * of every kind of broken file with a message naming it; concurrent writers merging under the
 * table's lock; overlap detection between runs (harness/overlap.h); nb_tune_ensure end to end,
 * also where the table cannot be saved. Every file lives in a temporary directory;
 * NABLA_TUNE_FILE and XDG_RUNTIME_DIR point there so nothing touches ~/.cache, and no other
 * nabla run on the machine shows up as an overlap. */
#define _GNU_SOURCE
/* cJSON reaches this suite only as nabla_harness's link dependency, not its include path. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/tune.h"
#include "tensor/rng.h"
#include "tensor/runtime.h"
#include "test_util.h"

static char tmp_dir[] = "/tmp/nabla-test-tune-XXXXXX";

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static char run_dir[512]; /* XDG_RUNTIME_DIR for this suite */

static int suite_init(void) {
    if (!mkdtemp(tmp_dir)) return 1;
    char guard[512];
    snprintf(guard, sizeof guard, "%s/default-tune.json", tmp_dir);
    snprintf(run_dir, sizeof run_dir, "%s/run", tmp_dir);
    if (mkdir(run_dir, 0700) != 0) return 1;
    /* overlaps are with this suite's own runs only, whatever else the machine runs */
    if (setenv("XDG_RUNTIME_DIR", run_dir, 1) != 0) return 1;
    return setenv("NABLA_TUNE_FILE", guard, 1); /* nothing below may reach the real cache */
}

static int suite_cleanup(void) {
    nb_auto_clear();
    return nftw(tmp_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmp_path(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", tmp_dir, name); }

static const nb_kernel *K(const char *name) {
    const nb_kernel *k = nb_kernel_find(name);
    if (!k) FAILF("no kernel '%s' in the registry", name);
    return k;
}

static nb_auto_entry entry(nb_gemm_dtype dtype, int threads, int64_t m, int64_t n, int64_t k, nb_trans ta, nb_trans tb,
                           const char *kernel) {
    return (nb_auto_entry){
        .dtype = dtype, .nthreads = threads, .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .kernel = K(kernel)};
}

#define NN NB_NO_TRANS, NB_NO_TRANS
#define TN NB_TRANS, NB_NO_TRANS
#define TT NB_TRANS, NB_TRANS
#define F32 NB_GEMM_F32
#define F64 NB_GEMM_F64

/* ---- auto's lookup ----------------------------------------------------------------------------- */

static void test_registry_finds_auto_but_does_not_list_it(void) {
    const nb_kernel *a = nb_kernel_auto();
    CU_ASSERT_STRING_EQUAL(a->name, "auto");
    CU_ASSERT_PTR_EQUAL(nb_kernel_find("auto"), a);
    CU_ASSERT_PTR_EQUAL(nb_kernel_select("auto", NULL), a);
    CU_ASSERT_TRUE(a->threaded);
    CU_ASSERT_FALSE(a->thread_invariant);
    for (int i = 0; i < nb_kernel_count(); i++) CU_ASSERT_PTR_NOT_EQUAL(nb_kernel_at(i), a);
    char names[256];
    nb_kernel_names(names, sizeof names);
    CU_ASSERT_PTR_NULL(strstr(names, "auto"));
    CU_ASSERT_PTR_NULL(nb_kernel_find_concrete("auto"));
    nb_kernel_choice_names(names, sizeof names);
    CU_ASSERT_PTR_NOT_NULL(strstr(names, "blas, auto"));
}

static void test_lookup_empty_gives_default(void) {
    nb_auto_clear();
    CU_ASSERT_EQUAL(nb_auto_table_size(), 0);
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, NN, 64, 100, 1000), nb_kernel_default());
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F64, 7, TT, 0, 0, 0), nb_kernel_default());
}

static void test_lookup_exact(void) {
    nb_auto_entry t[] = {
        entry(F32, 1, 64, 100, 1000, NN, "naive"),  entry(F32, 1, 64, 100, 1000, TN, "blocked"),
        entry(F32, 2, 64, 100, 1000, NN, "openmp"), entry(F64, 1, 64, 100, 1000, NN, "blas"),
        entry(F32, 1, 64, 100, 1001, NN, "openmp"),
    };
    CU_ASSERT_FATAL(nb_auto_install(t, 5));
    CU_ASSERT_EQUAL(nb_auto_table_size(), 5);
    /* each of the seven fields tells the entries apart */
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, NN, 64, 100, 1000), K("naive"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, TN, 64, 100, 1000), K("blocked"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 2, NN, 64, 100, 1000), K("openmp"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F64, 1, NN, 64, 100, 1000), K("blas"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, NN, 64, 100, 1001), K("openmp"));
    nb_auto_clear();
}

/* Each group (a thread count of its own, so the groups do not see each other) is built so that
 * a wrong metric would pick another entry. */
static void test_lookup_nearest(void) {
    nb_auto_entry t[] = {
        /* 1 thread, sizes as ratios: 400 is 2.5x from 1000 but 4x from 100, though nearer 100 by
         * difference */
        entry(F32, 1, 100, 100, 100, NN, "naive"),
        entry(F32, 1, 1000, 1000, 1000, NN, "blocked"),
        /* 3 threads, per dimension, not by volume: both hold 2^24 multiply-adds, and 256^3, listed
         * first, would win a volume metric's tie */
        entry(F32, 3, 256, 256, 256, NN, "openmp"),
        entry(F32, 3, 64, 64, 4096, NN, "blas"),
        /* 4 threads, same transposes first: 300^3 tn is exact in size but not in transposes */
        entry(F32, 4, 300, 300, 300, TN, "naive"),
        entry(F32, 4, 256, 256, 256, NN, "openmp"),
        entry(F32, 4, 1000, 1000, 1000, NN, "blocked"),
        /* another dtype, and another thread count, exact in every size: never considered */
        entry(F64, 1, 400, 400, 400, NN, "naive"),
        entry(F32, 2, 400, 400, 400, NN, "naive"),
    };
    CU_ASSERT_FATAL(nb_auto_install(t, (int)(sizeof t / sizeof t[0])));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, NN, 400, 400, 400), K("blocked"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, NN, 0, 100, 100), K("naive")); /* a zero size counts as 1 */
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 3, NN, 64, 64, 2048), K("blas"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 4, NN, 300, 300, 300), K("openmp"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 4, TN, 1000, 1000, 1000), K("naive")); /* the only tn entry */
    /* no tt entry at all: the nearest of any transposes */
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 4, TT, 290, 300, 310), K("naive"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 4, TT, 900, 1100, 1000), K("blocked"));
    /* a dtype and thread count with one entry: that entry, however far */
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F64, 1, TT, 1, 1, 1), K("naive"));
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 2, TN, 9999, 1, 3), K("naive"));
    /* no entry for the thread count: the default */
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 5, NN, 400, 400, 400), nb_kernel_default());
    CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F64, 3, NN, 256, 256, 256), nb_kernel_default());
    nb_auto_clear();
}

static void test_install_refuses_bad_entries(void) {
    nb_auto_entry good = entry(F32, 1, 8, 8, 8, NN, "naive");
    CU_ASSERT_FATAL(nb_auto_install(&good, 1));
    nb_auto_entry bad[6];
    for (int i = 0; i < 6; i++) bad[i] = good;
    bad[0].kernel = nb_kernel_auto(); /* auto calling itself */
    bad[1].kernel = NULL;
    bad[2].nthreads = 0;
    bad[3].m = -1;
    bad[4].dtype = (nb_gemm_dtype)7;
    static const nb_kernel stranger = {.name = "stranger"};
    bad[5].kernel = &stranger;
    for (int i = 0; i < 6; i++) {
        if (nb_auto_install(&bad[i], 1)) FAILF("bad entry %d was installed", i);
        /* the old table stays */
        CU_ASSERT_PTR_EQUAL(nb_auto_lookup(F32, 1, NN, 8, 8, 8), K("naive"));
    }
    CU_ASSERT_FALSE(nb_auto_install(NULL, 1));
    CU_ASSERT_EQUAL(nb_auto_table_size(), 1);
    nb_auto_clear();
}

/* ---- auto runs the chosen kernel ---------------------------------------------------------------- */

/* C = op(A) op(B) with op(A) (m, k) stored transposed, op(B) (k, n) as is, through auto and
 * through `kernel` directly: the bits must agree, and auto must record its choice. */
static void check_same_bits(nb_gemm_dtype dtype, const nb_kernel *kernel) {
    const int64_t m = 37, n = 29, k = 53;
    const int threads = 2;
    nb_auto_entry e = {.dtype = dtype,
                       .nthreads = threads,
                       .ta = NB_TRANS,
                       .tb = NB_NO_TRANS,
                       .m = m,
                       .n = n,
                       .k = k,
                       .kernel = kernel};
    CU_ASSERT_FATAL(nb_auto_install(&e, 1));
    const nb_dtype dt = dtype == F64 ? NB_F64 : NB_F32;
    nb_rng rng;
    nb_rng_seed(&rng, 3);
    nb_tensor *a = nb_tensor_randn(&rng, dt, 2, (int64_t[]){k, m});
    nb_tensor *b = nb_tensor_randn(&rng, dt, 2, (int64_t[]){k, n});
    nb_tensor *c0 = nb_tensor_randn(&rng, dt, 2, (int64_t[]){m, n});
    nb_tensor *c1 = c0 ? nb_tensor_clone(c0) : NULL;
    CU_ASSERT_FATAL(a && b && c0 && c1);
    const nb_kernel *autok = nb_kernel_auto();
    if (dt == NB_F32) {
        autok->sgemm(NB_TRANS, NB_NO_TRANS, m, n, k, 0.7f, nb_tensor_data(a), m, nb_tensor_data(b), n, 1.3f,
                     nb_tensor_data(c0), n, threads);
        kernel->sgemm(NB_TRANS, NB_NO_TRANS, m, n, k, 0.7f, nb_tensor_data(a), m, nb_tensor_data(b), n, 1.3f,
                      nb_tensor_data(c1), n, threads);
    } else {
        autok->dgemm(NB_TRANS, NB_NO_TRANS, m, n, k, 0.7, nb_tensor_data(a), m, nb_tensor_data(b), n, 1.3,
                     nb_tensor_data(c0), n, threads);
        kernel->dgemm(NB_TRANS, NB_NO_TRANS, m, n, k, 0.7, nb_tensor_data(a), m, nb_tensor_data(b), n, 1.3,
                      nb_tensor_data(c1), n, threads);
    }
    if (memcmp(nb_tensor_data(c0), nb_tensor_data(c1), (size_t)(m * n) * nb_dtype_size(dt)) != 0)
        FAILF("auto and %s (%s) differ", kernel->name, nb_dtype_name(dt));
    const nb_auto_decision *rows;
    CU_ASSERT_EQUAL_FATAL(nb_auto_decisions(&rows), 1);
    CU_ASSERT_PTR_EQUAL(rows[0].choice.kernel, kernel);
    CU_ASSERT_EQUAL(rows[0].calls, 1);
    CU_ASSERT(rows[0].choice.m == m && rows[0].choice.n == n && rows[0].choice.k == k);
    CU_ASSERT(rows[0].choice.ta == NB_TRANS && rows[0].choice.tb == NB_NO_TRANS && rows[0].choice.nthreads == threads);
    CU_ASSERT_EQUAL(rows[0].choice.dtype, dtype);
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_tensor_free(c0);
    nb_tensor_free(c1);
}

static void test_auto_gives_the_chosen_kernels_bits(void) {
    for (int i = 0; i < nb_kernel_count(); i++) {
        check_same_bits(F32, nb_kernel_at(i));
        check_same_bits(F64, nb_kernel_at(i));
    }
    nb_auto_clear();
}

/* The record: one row per product in first-call order, calls counted; installing or resetting
 * forgets it; beyond NB_AUTO_MAX_DECISIONS products calls are only counted. */
static void test_decision_record(void) {
    nb_auto_entry e = entry(F32, 1, 4, 4, 4, NN, "blocked");
    CU_ASSERT_FATAL(nb_auto_install(&e, 1));
    float a[128] = {0}, b[128] = {0}, c[128];
    const nb_kernel *autok = nb_kernel_auto();
    for (int rep = 0; rep < 3; rep++) autok->sgemm(NB_NO_TRANS, NB_NO_TRANS, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4, 1);
    autok->sgemm(NB_NO_TRANS, NB_NO_TRANS, 2, 3, 4, 1, a, 4, b, 3, 0, c, 3, 1);
    const nb_auto_decision *rows;
    CU_ASSERT_EQUAL_FATAL(nb_auto_decisions(&rows), 2);
    CU_ASSERT(rows[0].choice.m == 4 && rows[0].calls == 3 && rows[0].choice.kernel == K("blocked"));
    CU_ASSERT(rows[1].choice.m == 2 && rows[1].choice.n == 3 && rows[1].calls == 1);
    CU_ASSERT_PTR_EQUAL(rows[1].choice.kernel, K("blocked")); /* nearest: the only f32 entry */
    nb_auto_reset_decisions();
    CU_ASSERT_EQUAL(nb_auto_decisions(NULL), 0);
    for (int i = 1; i <= NB_AUTO_MAX_DECISIONS + 5; i++) /* distinct (m, k): m 1..9, k 1..8 */
        autok->sgemm(NB_NO_TRANS, NB_NO_TRANS, i / 8 + 1, 1, i % 8 + 1, 1, a, 8, b, 1, 0, c, 1, 1);
    CU_ASSERT_EQUAL(nb_auto_decisions(NULL), NB_AUTO_MAX_DECISIONS);
    CU_ASSERT_EQUAL(nb_auto_unrecorded_calls(), 5);
    CU_ASSERT_FATAL(nb_auto_install(&e, 1));
    CU_ASSERT_EQUAL(nb_auto_decisions(NULL), 0);
    CU_ASSERT_EQUAL(nb_auto_unrecorded_calls(), 0);
    nb_auto_clear();
}

/* ---- the table file ------------------------------------------------------------------------------ */

/* A context unlike this machine's in every field, so a round trip cannot pass by accident. */
static nb_tune_context fake_context(void) {
    nb_tune_context c = {.online_cpus = 96, .kernel_count = 3};
    snprintf(c.cpu_model, sizeof c.cpu_model, "Imaginary CPU @ 9.9GHz \"quoted\"");
    snprintf(c.openblas_coretype, sizeof c.openblas_coretype, "SkylakeX");
    snprintf(c.nabla_version, sizeof c.nabla_version, "9.8.7");
    snprintf(c.kernels_revision, sizeof c.kernels_revision, "0123456789abcdef0123456789abcdef01234567");
    snprintf(c.kernels[0], sizeof c.kernels[0], "naive");
    snprintf(c.kernels[1], sizeof c.kernels[1], "blocked");
    snprintf(c.kernels[2], sizeof c.kernels[2], "blas");
    return c;
}

static nb_tune_table fake_table(void) {
    nb_tune_context c = fake_context();
    nb_tune_table t;
    nb_tune_table_init(&t, &c);
    nb_tune_entry a = {.dtype = NB_F32,
                       .threads = 1,
                       .shape = {64, 100, 1000, NB_NO_TRANS, NB_TRANS},
                       .winner = 2,
                       .seconds = {7.1e-3, 8.53e-4, 1.4141816670113866e-4}};
    nb_tune_entry b = {.dtype = NB_F64,
                       .threads = 96,
                       .shape = {1000, 100, 64, NB_TRANS, NB_NO_TRANS},
                       .winner = 1,
                       .seconds = {0, 1.0 / 3, 0.5}}; /* naive not timed */
    CU_ASSERT_EQUAL(nb_tune_table_put(&t, &a), NB_OK);
    CU_ASSERT_EQUAL(nb_tune_table_put(&t, &b), NB_OK);
    return t;
}

static void test_table_put_replaces_same_product(void) {
    nb_tune_table t = fake_table();
    nb_tune_entry again = t.entries[0];
    again.winner = 0;
    CU_ASSERT_EQUAL(nb_tune_table_put(&t, &again), NB_OK);
    CU_ASSERT_EQUAL(t.count, 2);
    CU_ASSERT_EQUAL(t.entries[0].winner, 0);
    CU_ASSERT_EQUAL(nb_tune_table_count_for(&t, NB_F32, 1), 1);
    CU_ASSERT_EQUAL(nb_tune_table_count_for(&t, NB_F64, 96), 1);
    CU_ASSERT_EQUAL(nb_tune_table_count_for(&t, NB_F64, 1), 0);
    CU_ASSERT_EQUAL(nb_tune_entry_runner_up(&t.entries[1], &t.context), 2); /* blas; naive untimed */
    nb_tune_table_free(&t);
}

static void test_table_round_trip(void) {
    char path[512];
    tmp_path(path, sizeof path, "deep/er/round.json"); /* the directories are created */
    nb_tune_table t = fake_table();
    CU_ASSERT_EQUAL_FATAL(nb_tune_write(path, &t), NB_OK);
    nb_tune_table back;
    bool missing = true;
    if (nb_tune_read(path, &back, &missing) != NB_OK) {
        FAILF("reading back %s: %s", path, nb_last_error());
        nb_tune_table_free(&t);
        return;
    }
    CU_ASSERT_FALSE(missing);
    CU_ASSERT_EQUAL(memcmp(&back.context, &t.context, sizeof t.context), 0);
    CU_ASSERT_FALSE(nb_tune_context_stale(&back.context, &t.context, NULL, 0));
    CU_ASSERT_EQUAL_FATAL(back.count, t.count);
    for (int i = 0; i < t.count; i++) {
        const nb_tune_entry *x = &t.entries[i], *y = &back.entries[i];
        CU_ASSERT(x->dtype == y->dtype && x->threads == y->threads && x->winner == y->winner);
        CU_ASSERT(x->shape.m == y->shape.m && x->shape.n == y->shape.n && x->shape.k == y->shape.k);
        CU_ASSERT(x->shape.ta == y->shape.ta && x->shape.tb == y->shape.tb);
        for (int k = 0; k < NB_TUNE_MAX_KERNELS; k++)
            if (x->seconds[k] != y->seconds[k])
                FAILF("entry %d kernel %d: %.17g came back as %.17g", i, k, x->seconds[k], y->seconds[k]);
    }
    nb_tune_table_free(&back);
    nb_tune_table_free(&t);
}

static void test_missing_file(void) {
    char path[512];
    tmp_path(path, sizeof path, "no-such.json");
    nb_tune_table t;
    bool missing = false;
    CU_ASSERT_EQUAL(nb_tune_read(path, &t, &missing), NB_ERR_IO);
    CU_ASSERT_TRUE(missing);
    CU_ASSERT_TRUE(nb_test_error_mentions(path));
    CU_ASSERT_EQUAL(t.count, 0);
}

/* ---- staleness --------------------------------------------------------------------------------- */

static void expect_stale(const nb_tune_context *table, const nb_tune_context *now, const char *why_part) {
    char why[300] = "";
    if (!nb_tune_context_stale(table, now, why, sizeof why))
        FAILF("not stale, expected a reason with '%s'", why_part);
    else if (!strstr(why, why_part))
        FAILF("stale because '%s', expected a reason with '%s'", why, why_part);
}

static void test_stale_reasons(void) {
    nb_tune_context now;
    nb_tune_context_current(&now);
    CU_ASSERT_FALSE(nb_tune_context_stale(&now, &now, NULL, 0));
    CU_ASSERT_EQUAL(now.kernel_count, nb_kernel_count());
    CU_ASSERT(now.online_cpus >= 1 && now.cpu_model[0] && now.kernels_revision[0]);

    nb_tune_context t = now;
    snprintf(t.cpu_model, sizeof t.cpu_model, "Other CPU");
    expect_stale(&t, &now, "the CPU changed from 'Other CPU'");
    t = now;
    t.online_cpus = now.online_cpus + 1;
    expect_stale(&t, &now, "online CPU count");
    t = now;
    snprintf(t.openblas_coretype, sizeof t.openblas_coretype, "%s", now.openblas_coretype[0] ? "" : "Prescott");
    expect_stale(&t, &now, "OPENBLAS_CORETYPE changed");
    expect_stale(&t, &now, "unset");
    t = now;
    t.kernel_count--; /* a kernel added since */
    expect_stale(&t, &now, "the kernels changed");
    t = now;
    snprintf(t.kernels[0], sizeof t.kernels[0], "retired");
    expect_stale(&t, &now, "retired");
    t = now;
    snprintf(t.nabla_version, sizeof t.nabla_version, "0.0.1");
    expect_stale(&t, &now, "version changed from 0.0.1");
    t = now;
    snprintf(t.kernels_revision, sizeof t.kernels_revision, "feedface");
    expect_stale(&t, &now, "kernels/ changed");
    /* what the build was is recorded, not compared: nothing else can make it stale */
}

/* ---- broken files ---------------------------------------------------------------------------------- */

/* The fake table, written and parsed back as a cJSON tree to break. */
static cJSON *valid_doc(void) {
    char path[512];
    tmp_path(path, sizeof path, "valid.json");
    nb_tune_table t = fake_table();
    nb_status st = nb_tune_write(path, &t);
    nb_tune_table_free(&t);
    FILE *f = st == NB_OK ? fopen(path, "rb") : NULL;
    if (!f) return NULL;
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    return cJSON_Parse(text);
}

static void write_text(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len) FAILF("cannot write %s", path);
    if (f) fclose(f);
}

/* Writes `text` and expects nb_tune_read to refuse it with a message naming the file, the
 * problem (`problem`) and the remedy. */
static void expect_refused_text(const char *label, const char *text, size_t len, const char *problem) {
    char path[512];
    tmp_path(path, sizeof path, "broken.json");
    write_text(path, text, len);
    nb_tune_table t;
    bool missing = true;
    nb_status st = nb_tune_read(path, &t, &missing);
    if (st == NB_OK) {
        FAILF("%s: a broken file was accepted", label);
        nb_tune_table_free(&t);
        return;
    }
    CU_ASSERT_FALSE(missing);
    CU_ASSERT_EQUAL(t.count, 0);
    if (!strstr(nb_last_error(), path) || !strstr(nb_last_error(), problem) || !strstr(nb_last_error(), "nabla tune"))
        FAILF("%s: message '%s' lacks the file, '%s' or the remedy", label, nb_last_error(), problem);
}

typedef void doc_edit(cJSON *doc);

static cJSON *ctx_of(cJSON *d) { return cJSON_GetObjectItemCaseSensitive(d, "context"); }
static cJSON *entry0(cJSON *d) { return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "entries"), 0); }
static void set(cJSON *obj, const char *key, cJSON *v) { cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v); }

static void e_no_format(cJSON *d) { cJSON_DeleteItemFromObject(d, "format"), cJSON_DeleteItemFromObject(d, "version"); }
static void e_format(cJSON *d) { set(d, "format", cJSON_CreateString("nabla-bench")); }
static void e_version(cJSON *d) { set(d, "version", cJSON_CreateNumber(2)); }
static void e_no_context(cJSON *d) { cJSON_DeleteItemFromObject(d, "context"); }
static void e_cpu_type(cJSON *d) { set(ctx_of(d), "cpu_model", cJSON_CreateNumber(3)); }
static void e_cpus_zero(cJSON *d) { set(ctx_of(d), "online_cpus", cJSON_CreateNumber(0)); }
static void e_cpus_frac(cJSON *d) { set(ctx_of(d), "online_cpus", cJSON_CreateNumber(1.5)); }
static void e_no_coretype(cJSON *d) {
    cJSON_DeleteItemFromObject(cJSON_GetObjectItemCaseSensitive(ctx_of(d), "environment"), "OPENBLAS_CORETYPE");
}
static void e_no_revision(cJSON *d) { cJSON_DeleteItemFromObject(ctx_of(d), "kernels_revision"); }
static void e_kernels_type(cJSON *d) { set(ctx_of(d), "kernels", cJSON_CreateString("naive,blas")); }
static void e_kernels_twice(cJSON *d) {
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(ctx_of(d), "kernels"), cJSON_CreateString("naive"));
}
static void e_entries_type(cJSON *d) { set(d, "entries", cJSON_CreateObject()); }
static void e_no_kernel(cJSON *d) { cJSON_DeleteItemFromObject(entry0(d), "kernel"); }
static void e_unknown_kernel(cJSON *d) { set(entry0(d), "kernel", cJSON_CreateString("turbo")); }
static void e_dtype(cJSON *d) { set(entry0(d), "dtype", cJSON_CreateString("f16")); }
static void e_threads_string(cJSON *d) { set(entry0(d), "threads", cJSON_CreateString("2")); }
static void e_m_zero(cJSON *d) { set(entry0(d), "m", cJSON_CreateNumber(0)); }
static void e_n_negative(cJSON *d) { set(entry0(d), "n", cJSON_CreateNumber(-64)); }
static void e_k_huge(cJSON *d) { set(entry0(d), "k", cJSON_CreateNumber(1e9)); }
static void e_ta_string(cJSON *d) { set(entry0(d), "ta", cJSON_CreateString("n")); }
static void e_no_tb(cJSON *d) { cJSON_DeleteItemFromObject(entry0(d), "tb"); }
static void e_seconds_negative(cJSON *d) {
    set(cJSON_GetObjectItemCaseSensitive(entry0(d), "seconds"), "naive", cJSON_CreateNumber(-1));
}
static void e_seconds_stranger(cJSON *d) {
    cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(entry0(d), "seconds"), "turbo", 1e-3);
}
static void e_winner_untimed(cJSON *d) {
    cJSON_DeleteItemFromObject(cJSON_GetObjectItemCaseSensitive(entry0(d), "seconds"), "blas");
}
static void e_duplicate(cJSON *d) {
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(d, "entries"), cJSON_Duplicate(entry0(d), true));
}
static void e_entry_not_object(cJSON *d) {
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(d, "entries"), cJSON_CreateNumber(1));
}

static void test_broken_files_are_refused(void) {
    static const struct {
        const char *label;
        doc_edit *edit;
        const char *problem;
    } cases[] = {
        {"no format", e_no_format, "\"format\" is missing"},
        {"another format", e_format, "not 'nabla-tune'"},
        {"another version", e_version, "version 2"},
        {"no context", e_no_context, "\"context\" is missing"},
        {"cpu_model a number", e_cpu_type, "\"cpu_model\" is not a string"},
        {"online_cpus 0", e_cpus_zero, "\"online_cpus\" is 0"},
        {"online_cpus 1.5", e_cpus_frac, "\"online_cpus\" is 1.5"},
        {"no OPENBLAS_CORETYPE", e_no_coretype, "\"OPENBLAS_CORETYPE\" is missing"},
        {"no kernels_revision", e_no_revision, "\"kernels_revision\" is missing"},
        {"kernels a string", e_kernels_type, "\"kernels\" is not a list"},
        {"kernels twice", e_kernels_twice, "names 'naive' twice"},
        {"entries an object", e_entries_type, "\"entries\" is not a list"},
        {"entry without kernel", e_no_kernel, "entry 0: \"kernel\" is missing"},
        {"unknown kernel", e_unknown_kernel, "'turbo' is not one of the context's kernels"},
        {"dtype f16", e_dtype, "'f16', not f32 or f64"},
        {"threads a string", e_threads_string, "\"threads\" is not a number"},
        {"m 0", e_m_zero, "\"m\" is 0"},
        {"n negative", e_n_negative, "\"n\" is -64"},
        {"k 1e9", e_k_huge, "\"k\" is 1e+09"},
        {"ta a string", e_ta_string, "\"ta\" is not true or false"},
        {"no tb", e_no_tb, "\"tb\" is missing"},
        {"negative seconds", e_seconds_negative, "not a positive number"},
        {"seconds of a stranger", e_seconds_stranger, "'turbo', which is not one of the context's kernels"},
        {"winner untimed", e_winner_untimed, "no time for the winner 'blas'"},
        {"duplicate entry", e_duplicate, "entry 2: the same product as an earlier entry"},
        {"entry a number", e_entry_not_object, "entry 2: not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *doc = valid_doc();
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        cases[i].edit(doc);
        char *text = cJSON_Print(doc);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        expect_refused_text(cases[i].label, text, strlen(text), cases[i].problem);
        cJSON_free(text);
        cJSON_Delete(doc);
    }
    /* the text itself broken */
    cJSON *doc = valid_doc();
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    char *text = cJSON_Print(doc);
    cJSON_Delete(doc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t len = strlen(text);
    expect_refused_text("empty", "", 0, "not valid JSON");
    expect_refused_text("truncated", text, len / 2, "not valid JSON");
    expect_refused_text("garbage", "this is not json\n", 17, "not valid JSON");
    expect_refused_text("a list", "[1, 2]", 6, "not a JSON object");
    char *twice = malloc(2 * len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(twice);
    memcpy(twice, text, len);
    memcpy(twice + len, text, len + 1);
    expect_refused_text("two tables glued", twice, 2 * len, "not valid JSON");
    free(twice);
    text[len / 3] = '\0';
    expect_refused_text("a NUL byte", text, len, "NUL byte");
    cJSON_free(text);
}

/* ---- the path --------------------------------------------------------------------------------- */

static void test_path(void) {
    char *saved[3];
    const char *names[3] = {"NABLA_TUNE_FILE", "XDG_CACHE_HOME", "HOME"};
    for (int i = 0; i < 3; i++) saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    char path[NB_TUNE_PATH_MAX];
    setenv("NABLA_TUNE_FILE", "/x/t.json", 1);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    setenv("HOME", "/home/me", 1);
    CU_ASSERT(nb_tune_path(path, sizeof path) == NB_OK && !strcmp(path, "/x/t.json"));
    setenv("NABLA_TUNE_FILE", "", 1); /* empty counts as unset */
    CU_ASSERT(nb_tune_path(path, sizeof path) == NB_OK && !strcmp(path, "/xdg/nabla/tune.json"));
    setenv("XDG_CACHE_HOME", "relative", 1); /* invalid by the XDG spec: ignored */
    CU_ASSERT(nb_tune_path(path, sizeof path) == NB_OK && !strcmp(path, "/home/me/.cache/nabla/tune.json"));
    unsetenv("XDG_CACHE_HOME");
    CU_ASSERT(nb_tune_path(path, sizeof path) == NB_OK && !strcmp(path, "/home/me/.cache/nabla/tune.json"));
    unsetenv("HOME");
    CU_ASSERT_EQUAL(nb_tune_path(path, sizeof path), NB_ERR_ARG);
    CU_ASSERT_TRUE(nb_test_error_mentions("NABLA_TUNE_FILE"));
    char tiny[8];
    setenv("NABLA_TUNE_FILE", "/a/rather/long/path.json", 1);
    CU_ASSERT_EQUAL(nb_tune_path(tiny, sizeof tiny), NB_ERR_ARG);
    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(names[i], saved[i], 1);
        else
            unsetenv(names[i]);
        free(saved[i]);
    }
}

/* ---- nb_tune_ensure, end to end ------------------------------------------------------------------- */

/* Runs nb_tune_ensure and returns what it wrote to its notes stream (one line or nothing). */
static nb_status ensure(const char *path, nb_dtype dtype, int threads, char *notes, size_t size) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    nb_status st = nb_tune_ensure(path, dtype, threads, f);
    fclose(f);
    snprintf(notes, size, "%s", buf ? buf : "");
    free(buf);
    return st;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_ensure(void) {
    char path[512], notes[2048];
    tmp_path(path, sizeof path, "cache/nabla/tune.json");
    const nb_gemm_shape *seed;
    const int nseed = nb_tune_seed_shapes(&seed);

    /* missing: measured, written, installed, with one line saying why */
    nb_auto_clear();
    CU_ASSERT_EQUAL_FATAL(ensure(path, NB_F32, 1, notes, sizeof notes), NB_OK);
    CU_ASSERT(strstr(notes, "no tuning table at") && strstr(notes, path) && count_lines(notes) == 1);
    CU_ASSERT_EQUAL(nb_auto_table_size(), nseed);
    nb_tune_table t;
    CU_ASSERT_EQUAL_FATAL(nb_tune_read(path, &t, NULL), NB_OK);
    CU_ASSERT_EQUAL(nb_tune_table_count_for(&t, NB_F32, 1), nseed);
    nb_tune_table_free(&t);

    /* current and complete: used as it is, silently */
    struct stat before, after;
    CU_ASSERT_EQUAL(stat(path, &before), 0);
    nb_auto_clear();
    CU_ASSERT_EQUAL(ensure(path, NB_F32, 1, notes, sizeof notes), NB_OK);
    CU_ASSERT_STRING_EQUAL(notes, "");
    CU_ASSERT_EQUAL(nb_auto_table_size(), nseed);
    CU_ASSERT_EQUAL(stat(path, &after), 0);
    CU_ASSERT(before.st_ino == after.st_ino && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);

    /* another dtype: measured and added, the old entries kept */
    CU_ASSERT_EQUAL(ensure(path, NB_F64, 1, notes, sizeof notes), NB_OK);
    CU_ASSERT(strstr(notes, "has nothing for f64 at 1 thread;") && count_lines(notes) == 1);
    CU_ASSERT_EQUAL(nb_auto_table_size(), 2 * nseed);

    /* stale: measured again from scratch */
    CU_ASSERT_EQUAL_FATAL(nb_tune_read(path, &t, NULL), NB_OK);
    snprintf(t.context.cpu_model, sizeof t.context.cpu_model, "Some Other CPU");
    CU_ASSERT_EQUAL(nb_tune_write(path, &t), NB_OK);
    nb_tune_table_free(&t);
    CU_ASSERT_EQUAL(ensure(path, NB_F32, 1, notes, sizeof notes), NB_OK);
    CU_ASSERT(strstr(notes, "is stale: the CPU changed from 'Some Other CPU'") && count_lines(notes) == 1);
    CU_ASSERT_EQUAL(nb_auto_table_size(), nseed); /* the f64 entries went with the old context */
    CU_ASSERT_EQUAL_FATAL(nb_tune_read(path, &t, NULL), NB_OK);
    nb_tune_context now;
    nb_tune_context_current(&now);
    CU_ASSERT_FALSE(nb_tune_context_stale(&t.context, &now, NULL, 0));
    nb_tune_table_free(&t);

    /* broken: an error naming the file, and the file left as it was */
    const char junk[] = "{\"format\": \"nabla-tune\", \"version\": 1, \"context\": ";
    write_text(path, junk, sizeof junk - 1);
    nb_auto_clear();
    CU_ASSERT_EQUAL(ensure(path, NB_F32, 1, notes, sizeof notes), NB_ERR_FORMAT);
    CU_ASSERT_TRUE(nb_test_error_mentions(path));
    CU_ASSERT_STRING_EQUAL(notes, "");
    CU_ASSERT_EQUAL(nb_auto_table_size(), 0);
    FILE *f = fopen(path, "rb");
    char back[128] = "";
    size_t got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    CU_ASSERT(got == sizeof junk - 1 && memcmp(back, junk, got) == 0);
}

/* ---- concurrent writers: the lock and the merge --------------------------------------------------- */

/* An entry of the fake context (naive, blocked, blas) for product m x 100 x 1000. */
static nb_tune_entry fake_entry(nb_dtype dtype, int threads, int64_t m, int winner, bool measured_now) {
    return (nb_tune_entry){.dtype = dtype,
                           .threads = threads,
                           .shape = {m, 100, 1000, NB_NO_TRANS, NB_NO_TRANS},
                           .winner = winner,
                           .seconds = {3e-3, 2e-3, 1e-3},
                           .measured_now = measured_now};
}

static nb_tune_table table_of(const nb_tune_entry *entries, int n) {
    nb_tune_context c = fake_context();
    nb_tune_table t;
    nb_tune_table_init(&t, &c);
    for (int i = 0; i < n; i++) CU_ASSERT_EQUAL(nb_tune_table_put(&t, &entries[i]), NB_OK);
    return t;
}

/* The file's entry for (dtype, threads, m), or NULL. */
static const nb_tune_entry *entry_for(const nb_tune_table *t, nb_dtype dtype, int threads, int64_t m) {
    for (int i = 0; i < t->count; i++)
        if (t->entries[i].dtype == dtype && t->entries[i].threads == threads && t->entries[i].shape.m == m)
            return &t->entries[i];
    return NULL;
}

static bool read_ok(const char *path, nb_tune_table *t) {
    if (nb_tune_read(path, t, NULL) == NB_OK) return true;
    FAILF("reading %s: %s", path, nb_last_error());
    return false;
}

static void test_save_merges_concurrent_writers(void) {
    char path[512], lock[600];
    tmp_path(path, sizeof path, "merge/tune.json");
    snprintf(lock, sizeof lock, "%s.lock", path);
    const nb_tune_entry a[] = {fake_entry(NB_F32, 1, 64, 2, true), fake_entry(NB_F32, 1, 128, 2, true)};
    const nb_tune_entry b[] = {fake_entry(NB_F64, 1, 64, 1, true)};
    nb_tune_table ta = table_of(a, 2), tb = table_of(b, 1), back;
    nb_tune_save_info info;

    /* two runs' tables written in turn: the file holds both */
    CU_ASSERT_EQUAL_FATAL(nb_tune_write(path, &ta), NB_OK);
    CU_ASSERT_EQUAL_FATAL(nb_tune_save(path, &tb, false, &info), NB_OK);
    CU_ASSERT(info.written == 3 && info.kept == 2 && !info.dropped_stale);
    if (read_ok(path, &back)) {
        CU_ASSERT_EQUAL(back.count, 3);
        CU_ASSERT_PTR_NOT_NULL(entry_for(&back, NB_F32, 1, 64));
        CU_ASSERT_PTR_NOT_NULL(entry_for(&back, NB_F32, 1, 128));
        CU_ASSERT_PTR_NOT_NULL(entry_for(&back, NB_F64, 1, 64));
        nb_tune_table_free(&back);
    }
    struct stat st;
    CU_ASSERT_EQUAL(stat(lock, &st), 0); /* the lock file stays */

    /* a newer measurement of a product replaces the file's */
    const nb_tune_entry c[] = {fake_entry(NB_F32, 1, 64, 0, true)};
    nb_tune_table tc = table_of(c, 1);
    CU_ASSERT_EQUAL(nb_tune_write(path, &tc), NB_OK);
    if (read_ok(path, &back)) {
        CU_ASSERT_EQUAL(back.count, 3);
        const nb_tune_entry *e = entry_for(&back, NB_F32, 1, 64);
        CU_ASSERT(e && e->winner == 0);
        nb_tune_table_free(&back);
    }

    /* a copy read earlier (not measured now) yields to the file's entry, and fills what the
     * file lacks */
    const nb_tune_entry d[] = {fake_entry(NB_F32, 1, 64, 1, false), fake_entry(NB_F32, 2, 64, 1, false)};
    nb_tune_table td = table_of(d, 2);
    CU_ASSERT_EQUAL(nb_tune_save(path, &td, false, &info), NB_OK);
    CU_ASSERT(info.written == 4 && info.kept == 3);
    if (read_ok(path, &back)) {
        CU_ASSERT_EQUAL(back.count, 4);
        const nb_tune_entry *e = entry_for(&back, NB_F32, 1, 64);
        CU_ASSERT(e && e->winner == 0);
        CU_ASSERT_PTR_NOT_NULL(entry_for(&back, NB_F32, 2, 64));
        nb_tune_table_free(&back);
    }

    /* a table measured in another context replaces a stale file: nothing of it is kept */
    nb_tune_table te = table_of(b, 1);
    snprintf(te.context.cpu_model, sizeof te.context.cpu_model, "Another CPU");
    CU_ASSERT_EQUAL(nb_tune_save(path, &te, false, &info), NB_OK);
    CU_ASSERT(info.dropped_stale && info.written == 1 && info.kept == 0);
    if (read_ok(path, &back)) {
        CU_ASSERT(back.count == 1 && !strcmp(back.context.cpu_model, "Another CPU"));
        nb_tune_table_free(&back);
    }
    nb_tune_table_free(&ta);
    nb_tune_table_free(&tb);
    nb_tune_table_free(&tc);
    nb_tune_table_free(&td);
    nb_tune_table_free(&te);
}

/* A child takes the table's lock, and while holding it writes a table of its own (as a writer in
 * its critical section does). The parent's write must wait for it, then merge with what the
 * child wrote: without the lock, or without reading the file again under it, one of the two
 * tables would be lost. */
static void test_save_waits_for_the_lock(void) {
    char path[512], lock[600];
    tmp_path(path, sizeof path, "lock/tune.json");
    snprintf(lock, sizeof lock, "%s.lock", path);
    const nb_tune_entry first[] = {fake_entry(NB_F32, 1, 64, 2, true)};
    nb_tune_table t = table_of(first, 1);
    CU_ASSERT_EQUAL_FATAL(nb_tune_write(path, &t), NB_OK);
    nb_tune_table_free(&t);
    /* the child's table: the first entry and one of its own; formatted before the fork */
    const nb_tune_entry childs[] = {fake_entry(NB_F32, 1, 64, 2, true), fake_entry(NB_F64, 1, 64, 1, true)};
    t = table_of(childs, 2);
    char *text = NULL;
    CU_ASSERT_EQUAL_FATAL(nb_tune_format(&t, &text), NB_OK);
    nb_tune_table_free(&t);
    int ready[2];
    CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) { /* system calls only, then _exit: nothing of the parent's state runs here */
        int fd = open(lock, O_RDWR);
        int ok = fd >= 0 && flock(fd, LOCK_EX) == 0;
        (void)!write(ready[1], ok ? "y" : "n", 1);
        struct timespec pause = {0, 400 * 1000 * 1000};
        nanosleep(&pause, NULL);
        int out = open(path, O_WRONLY | O_TRUNC);
        size_t len = strlen(text);
        ok = ok && out >= 0 && write(out, text, len) == (ssize_t)len;
        if (out >= 0) close(out);
        _exit(ok ? 0 : 1); /* exiting drops the lock */
    }
    free(text);
    char c = 'n';
    CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
    CU_ASSERT_EQUAL(c, 'y');
    close(ready[0]);
    close(ready[1]);
    const nb_tune_entry parents[] = {fake_entry(NB_F32, 4, 64, 1, true)};
    t = table_of(parents, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(nb_tune_write(path, &t), NB_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nb_tune_table_free(&t);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (waited < 0.3) FAILF("the write took %.3f s: it did not wait for the lock the child held", waited);
    nb_tune_table back;
    if (read_ok(path, &back)) {
        if (back.count != 3) FAILF("%d entries, expected the child's 2 and the parent's 1", back.count);
        CU_ASSERT_PTR_NOT_NULL(entry_for(&back, NB_F64, 1, 64)); /* the child's */
        CU_ASSERT_PTR_NOT_NULL(entry_for(&back, NB_F32, 4, 64)); /* the parent's */
        nb_tune_table_free(&back);
    }
}

static bool same_file(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "rb");
    char back[512];
    size_t got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    return got == len && memcmp(back, text, len) == 0;
}

/* A broken file on disk is never replaced silently: the new table goes aside (and the error
 * says where), unless the caller was told it replaces it, and then the broken file is kept. */
static void test_save_never_loses_a_broken_table(void) {
    char dir[512], path[512], aside[600], moved[600];
    tmp_path(dir, sizeof dir, "broken-save");
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    tmp_path(path, sizeof path, "broken-save/tune.json");
    snprintf(aside, sizeof aside, "%s.aside-%ld", path, (long)getpid());
    snprintf(moved, sizeof moved, "%s.broken", path);
    const char junk[] = "{\"format\": \"nabla-tune\", \"version\": 1, \"context\": ";
    write_text(path, junk, sizeof junk - 1);
    const nb_tune_entry a[] = {fake_entry(NB_F32, 1, 64, 2, true)};
    nb_tune_table t = table_of(a, 1), back;
    CU_ASSERT_EQUAL(nb_tune_write(path, &t), NB_ERR_FORMAT);
    CU_ASSERT_TRUE(nb_test_error_mentions("not valid JSON"));
    CU_ASSERT_TRUE(nb_test_error_mentions(aside));
    CU_ASSERT_TRUE(same_file(path, junk, sizeof junk - 1));
    if (read_ok(aside, &back)) { /* the measurements are not lost */
        CU_ASSERT(back.count == 1 && entry_for(&back, NB_F32, 1, 64));
        nb_tune_table_free(&back);
    }
    nb_tune_save_info info;
    CU_ASSERT_EQUAL(nb_tune_save(path, &t, true, &info), NB_OK);
    CU_ASSERT_STRING_EQUAL(info.moved_broken, moved);
    CU_ASSERT_TRUE(same_file(moved, junk, sizeof junk - 1));
    if (read_ok(path, &back)) {
        CU_ASSERT_EQUAL(back.count, 1);
        nb_tune_table_free(&back);
    }
    nb_tune_table_free(&t);
}

/* ---- overlap between runs -------------------------------------------------------------------------- */

static void expect_overlap(const nb_overlap_report *r, const char *what) {
    if (r->status != NB_OVERLAP_FOUND || r->count != 1) {
        FAILF("expected an overlap with '%s', got status %d with %d runs", what, (int)r->status, r->count);
        return;
    }
    CU_ASSERT_STRING_EQUAL(r->runs[0].what, what);
    CU_ASSERT_EQUAL(r->runs[0].pid, (long)getpid());
}

static void test_overlap_between_runs(void) {
    nb_overlap_report r;
    nb_overlap *a = nb_overlap_begin("run A");
    nb_overlap *b = nb_overlap_begin("run B");
    CU_ASSERT_FATAL(a && b);
    nb_overlap_end(b, &r);
    expect_overlap(&r, "run A");
    /* a check of a window that began after B ended: nothing */
    int64_t since = nb_overlap_clock();
    nb_overlap_check(a, since, &r);
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_NONE);
    nb_overlap_end(a, &r);
    expect_overlap(&r, "run B"); /* B ended before A, but after A began */

    /* what a command prints and records */
    char text[256], *buf = NULL;
    size_t len = 0;
    nb_overlap_describe(&r, text, sizeof text);
    char expected[256];
    snprintf(expected, sizeof expected, "run B (pid %ld)", (long)getpid());
    CU_ASSERT_STRING_EQUAL(text, expected);
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(nb_overlap_warn(f, "nabla tune", &r));
    fclose(f);
    snprintf(expected, sizeof expected,
             "nabla tune: another nabla measurement ran at the same time (run B, pid %ld): these timings measured "
             "each other\n",
             (long)getpid());
    CU_ASSERT_STRING_EQUAL(buf, expected);
    free(buf);
    cJSON *json = nb_overlap_json(&r);
    CU_ASSERT(cJSON_IsArray(json) && cJSON_GetArraySize(json) == 1 && cJSON_IsString(cJSON_GetArrayItem(json, 0)) &&
              strstr(cJSON_GetArrayItem(json, 0)->valuestring, "run B (pid "));
    cJSON_Delete(json);

    /* a run that began after the others ended overlapped nothing */
    nb_overlap *c = nb_overlap_begin("run C");
    nb_overlap_end(c, &r);
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_NONE);
    CU_ASSERT_EQUAL(r.count, 0);
    json = nb_overlap_json(&r);
    CU_ASSERT(cJSON_IsArray(json) && cJSON_GetArraySize(json) == 0);
    cJSON_Delete(json);
    nb_overlap_describe(&r, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "none");
}

/* A run killed while this one ran never writes its end: seen alive by an earlier check, it still
 * counts at the end. */
static void test_overlap_with_a_killed_run(void) {
    int ready[2], go[2];
    CU_ASSERT_FATAL(pipe(ready) == 0 && pipe(go) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        nb_overlap *k = nb_overlap_begin("killed run");
        (void)!write(ready[1], k ? "y" : "n", 1);
        char c;
        (void)!read(go[0], &c, 1);
        _exit(0); /* no nb_overlap_end: its lock goes with the process, its end is never written */
    }
    char c = 'n';
    CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
    nb_overlap *a = nb_overlap_begin("run A");
    nb_overlap_report r;
    nb_overlap_check(a, nb_overlap_clock(), &r); /* the killed run is alive now */
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_FOUND);
    (void)!write(go[1], "x", 1);
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    nb_overlap_end(a, &r);
    if (r.status != NB_OVERLAP_FOUND || r.count != 1 || strcmp(r.runs[0].what, "killed run") || r.runs[0].pid != pid)
        FAILF("the killed run (pid %ld) was not reported: status %d, %d runs", (long)pid, (int)r.status, r.count);
    for (int i = 0; i < 2; i++) close(ready[i]), close(go[i]);
}

/* Files of runs that no live run can have overlapped are removed by whoever scans. */
static void test_overlap_removes_old_runs(void) {
    char dir[512], file[700];
    CU_ASSERT_EQUAL_FATAL(nb_overlap_dir(dir, sizeof dir), NB_OK);
    nb_overlap_end(nb_overlap_begin("creates the directory"), NULL);
    const int64_t now = nb_overlap_clock(), s = 1000000000;
    struct {
        long pid;
        int64_t start, end; /* end 0: none (crashed) */
        bool kept;
    } runs[] = {
        {11, now - 7200 * s, now - 7000 * s, false}, /* finished two hours ago */
        {12, now - 7200 * s, 0, false},              /* crashed two hours ago */
        {13, now - 10 * s, now - 5 * s, true},       /* finished 5 s ago: within the grace period */
        {14, now - 60 * s, 0, true},                 /* crashed a minute ago */
    };
    const int n = (int)(sizeof runs / sizeof runs[0]);
    for (int i = 0; i < n; i++) {
        snprintf(file, sizeof file, "%s/%ld-%lld.run", dir, runs[i].pid, (long long)runs[i].start);
        char text[128];
        int len = snprintf(text, sizeof text, "nabla-run 1\nwhat old run\n");
        if (runs[i].end) len += snprintf(text + len, sizeof text - (size_t)len, "end %lld\n", (long long)runs[i].end);
        write_text(file, text, (size_t)len);
    }
    nb_overlap *a = nb_overlap_begin("scanner");
    nb_overlap_report r;
    nb_overlap_end(a, &r);
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_NONE); /* none of them was alive in the window */
    for (int i = 0; i < n; i++) {
        snprintf(file, sizeof file, "%s/%ld-%lld.run", dir, runs[i].pid, (long long)runs[i].start);
        bool exists = access(file, F_OK) == 0;
        if (exists != runs[i].kept) FAILF("run %ld: %s", runs[i].pid, exists ? "not removed" : "removed");
        if (exists) unlink(file);
    }
}

/* An unusable runtime directory makes the answer unknown; nothing fails, and the caller's last
 * error is left alone. */
static void test_overlap_unknown_never_fails(void) {
    char *saved = strdup(getenv("XDG_RUNTIME_DIR"));
    setenv("XDG_RUNTIME_DIR", "/proc/nabla-no", 1); /* not even root can create anything there */
    nb_error(NB_ERR_ARG, "the caller's own error");
    nb_overlap *a = nb_overlap_begin("run A");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    nb_overlap_report r;
    nb_overlap_check(a, 0, &r);
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_UNKNOWN);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.why, "/proc/nabla-no"));
    nb_overlap_end(a, &r);
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_UNKNOWN);
    char text[64];
    nb_overlap_describe(&r, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "unknown");
    CU_ASSERT_FALSE(nb_overlap_warn(stderr, "nabla tune", &r));
    cJSON *json = nb_overlap_json(&r);
    CU_ASSERT(cJSON_IsString(json) && !strcmp(json->valuestring, "unknown"));
    cJSON_Delete(json);
    CU_ASSERT_STRING_EQUAL(nb_last_error(), "the caller's own error");
    nb_overlap_end(NULL, &r); /* what an allocation failure in begin leaves */
    CU_ASSERT_EQUAL(r.status, NB_OVERLAP_UNKNOWN);
    setenv("XDG_RUNTIME_DIR", saved, 1);
    free(saved);
}

/* The table records, per product, whether another run overlapped its timing; a table from
 * before that reads as unknown. */
static void test_table_records_overlap(void) {
    char path[512];
    tmp_path(path, sizeof path, "overlap/tune.json");
    nb_tune_entry e[] = {fake_entry(NB_F32, 1, 64, 2, true), fake_entry(NB_F32, 1, 128, 2, true),
                         fake_entry(NB_F32, 1, 256, 2, true)};
    e[0].overlap = NB_OVERLAP_FOUND;
    snprintf(e[0].overlapped_by, sizeof e[0].overlapped_by, "nabla bench (pid 1234)");
    e[2].overlap = NB_OVERLAP_UNKNOWN;
    nb_tune_table t = table_of(e, 3), back;
    CU_ASSERT_EQUAL_FATAL(nb_tune_write(path, &t), NB_OK);
    nb_tune_table_free(&t);
    if (read_ok(path, &back)) {
        const nb_tune_entry *x = entry_for(&back, NB_F32, 1, 64), *y = entry_for(&back, NB_F32, 1, 128),
                            *z = entry_for(&back, NB_F32, 1, 256);
        CU_ASSERT_FATAL(x && y && z);
        CU_ASSERT(x->overlap == NB_OVERLAP_FOUND && !strcmp(x->overlapped_by, "nabla bench (pid 1234)"));
        CU_ASSERT(y->overlap == NB_OVERLAP_NONE && !*y->overlapped_by);
        CU_ASSERT(z->overlap == NB_OVERLAP_UNKNOWN);
        CU_ASSERT(!x->measured_now && !y->measured_now); /* not saved: a file's entries are old news */
        nb_tune_table_free(&back);
    }
    /* nb_tune_measure marks what it measures, with the overlap it saw (none: this suite's runtime
     * directory holds only its own runs) */
    nb_tune_context now;
    nb_tune_context_current(&now);
    nb_tune_table m;
    nb_tune_table_init(&m, &now);
    const nb_gemm_shape shape = {16, 16, 16, NB_NO_TRANS, NB_NO_TRANS};
    nb_tune_settings settings = {.repeats = 1, .min_time = 0.0005, .overlap = nb_overlap_begin("nabla tune")};
    CU_ASSERT_EQUAL(nb_tune_measure(&m, &shape, 1, NB_F32, 1, &settings, NULL, NULL), NB_OK);
    nb_overlap_end(settings.overlap, NULL);
    CU_ASSERT(m.count == 1 && m.entries[0].measured_now && m.entries[0].overlap == NB_OVERLAP_NONE);
    settings.overlap = NULL; /* no registered run: unknown */
    CU_ASSERT_EQUAL(nb_tune_measure(&m, &shape, 1, NB_F32, 1, &settings, NULL, NULL), NB_OK);
    CU_ASSERT(m.count == 1 && m.entries[0].overlap == NB_OVERLAP_UNKNOWN);
    nb_tune_table_free(&m);
    /* a table written before overlap was recorded, and the new fields checked */
    const char *old_entry = "{\"dtype\": \"f32\", \"threads\": 1, \"m\": 8, \"n\": 8, \"k\": 8, \"ta\": false, "
                            "\"tb\": false, \"kernel\": \"blas\", \"seconds\": {\"blas\": 1e-6}";
    const char *ctx = "{\"format\": \"nabla-tune\", \"version\": 1, \"context\": {\"cpu_model\": \"x\", "
                      "\"online_cpus\": 1, \"environment\": {\"OPENBLAS_CORETYPE\": null}, \"nabla_version\": "
                      "\"0\", \"kernels_revision\": \"r\", \"kernels\": [\"blas\"]}, \"entries\": [";
    const char *tails[] = {"}]}", ", \"overlapped\": \"yes\"}]}",
                           ", \"overlapped\": false, \"overlapped_by\": \"x\"}]}"};
    for (int i = 0; i < 3; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s%s", ctx, old_entry, tails[i]);
        nb_status st = nb_tune_parse(text, strlen(text), "old.json", &back);
        if (i == 0) {
            CU_ASSERT(st == NB_OK && back.count == 1 && back.entries[0].overlap == NB_OVERLAP_UNKNOWN);
            nb_tune_table_free(&back);
        } else {
            CU_ASSERT_EQUAL(st, NB_ERR_FORMAT);
            CU_ASSERT_TRUE(nb_test_error_mentions("overlapped"));
        }
    }
}

/* Whether a registered run whose file says `what` is alive (its lock is held) in `dir`. */
static bool run_alive(const char *dir, const char *what) {
    DIR *d = opendir(dir);
    bool found = false;
    const struct dirent *de;
    while (d && !found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY);
        char text[256] = "";
        if (fd < 0) continue;
        ssize_t n = read(fd, text, sizeof text - 1);
        text[n > 0 ? n : 0] = '\0';
        found = strstr(text, what) && flock(fd, LOCK_SH | LOCK_NB) != 0;
        close(fd);
    }
    if (d) closedir(d);
    return found;
}

/* Item 8: --kernel auto where the table cannot be saved still measures, installs and goes on,
 * with one warning line naming the file: found before measuring (an impossible directory), or
 * only by the save (here a child breaks the file while the parent measures, as an editor that
 * ignores the lock would: the save refuses to replace it and puts the measurements aside). */
static void test_ensure_without_saving(void) {
    char notes[4096];
    const nb_gemm_shape *seed;
    const int nseed = nb_tune_seed_shapes(&seed);
    const char *nowhere = "/proc/nabla-no/tune.json";
    nb_auto_clear();
    CU_ASSERT_EQUAL(ensure(nowhere, NB_F32, 1, notes, sizeof notes), NB_OK);
    CU_ASSERT_EQUAL(nb_auto_table_size(), nseed);
    CU_ASSERT_EQUAL(count_lines(notes), 2);
    const char *warning = strstr(notes, "nabla: warning: cannot save the tuning table /proc/nabla-no/tune.json (");
    if (!warning || !strstr(notes, "no tuning table at") || strstr(warning + strlen("nabla: warning"), "warning"))
        FAILF("expected one warning naming the file, got: %s", notes);

    char path[512], runs[512], aside[600];
    tmp_path(path, sizeof path, "save-fails/tune.json");
    snprintf(aside, sizeof aside, "%s.aside-%ld", path, (long)getpid());
    CU_ASSERT_EQUAL_FATAL(nb_overlap_dir(runs, sizeof runs), NB_OK);
    const char junk[] = "not a table";
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) { /* waits (up to 20 s) for the parent's measurement to start, then breaks the file */
        struct timespec tick = {0, 2 * 1000 * 1000};
        for (int i = 0; i < 10000 && !run_alive(runs, "what nabla tune (--kernel auto)"); i++) nanosleep(&tick, NULL);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        bool ok = fd >= 0 && write(fd, junk, sizeof junk - 1) == (ssize_t)(sizeof junk - 1);
        if (fd >= 0) close(fd);
        _exit(ok ? 0 : 1);
    }
    nb_auto_clear();
    CU_ASSERT_EQUAL(ensure(path, NB_F64, 1, notes, sizeof notes), NB_OK);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(nb_auto_table_size(), nseed);
    CU_ASSERT_EQUAL(count_lines(notes), 2);
    char expected[700];
    snprintf(expected, sizeof expected, "nabla: warning: could not save the tuning table %s (", path);
    if (!strstr(notes, expected) || !strstr(notes, aside)) FAILF("expected '%s...%s', got: %s", expected, aside, notes);
    CU_ASSERT_TRUE(same_file(path, junk, sizeof junk - 1));
    nb_tune_table back;
    if (read_ok(aside, &back)) {
        CU_ASSERT_EQUAL(nb_tune_table_count_for(&back, NB_F64, 1), nseed);
        nb_tune_table_free(&back);
    }
    nb_auto_clear();
}

int main(void) {
    const nb_test_case tests[] = {
        {"the registry finds auto but does not list it", test_registry_finds_auto_but_does_not_list_it},
        {"lookup: an empty table gives the default", test_lookup_empty_gives_default},
        {"lookup: exact match on all seven fields", test_lookup_exact},
        {"lookup: nearest by log size, same transposes first", test_lookup_nearest},
        {"install refuses bad entries and keeps the table", test_install_refuses_bad_entries},
        {"auto gives the chosen kernel's bits", test_auto_gives_the_chosen_kernels_bits},
        {"auto records its choices", test_decision_record},
        {"table: put replaces the same product", test_table_put_replaces_same_product},
        {"table: write and read back", test_table_round_trip},
        {"table: a missing file is told apart", test_missing_file},
        {"staleness: every reason", test_stale_reasons},
        {"broken files are refused, naming the file", test_broken_files_are_refused},
        {"the table's path", test_path},
        {"ensure: measure, reuse, extend, re-measure, refuse", test_ensure},
        {"save: concurrent writers merge, newer entries win", test_save_merges_concurrent_writers},
        {"save: the write waits for the lock, then merges", test_save_waits_for_the_lock},
        {"save: a broken table is never lost, nor the new one", test_save_never_loses_a_broken_table},
        {"overlap: runs see each other, in both orders", test_overlap_between_runs},
        {"overlap: a killed run still counts", test_overlap_with_a_killed_run},
        {"overlap: old runs' files are removed", test_overlap_removes_old_runs},
        {"overlap: an unusable directory is unknown, never a failure", test_overlap_unknown_never_fails},
        {"table: overlap recorded per entry, old tables read", test_table_records_overlap},
        {"ensure: a table that cannot be saved is used unsaved", test_ensure_without_saving},
    };
    return nb_test_run_with_hooks("tune", suite_init, suite_cleanup, tests, sizeof tests / sizeof tests[0]);
}
