/* tests/test_compare.c — the bench.json reader and the settings check behind `nabla bench
 * --compare`: what a file records is read back exactly, what an older file lacks is unknown,
 * every malformed setting is a format error naming it, and which differences refuse. */
#include "harness/bench_compare.h"
#include "test_util.h"

/* A bench.json as this nabla writes it (trimmed to one case). */
static const char base_json[] =
    "{\"context\": {\"cpu_model\": \"AMD EPYC\", \"online_cpus\": 2, \"usable_cpus\": 2,"
    " \"environment\": {\"OPENBLAS_CORETYPE\": \"Haswell\", \"OPENBLAS_NUM_THREADS\": null,"
    " \"OPENBLAS_L2_SIZE\": \"512\", \"OMP_NUM_THREADS\": null, \"NABLA_KERNEL\": null, \"NABLA_ISA\": null,"
    " \"NABLA_DATA_DIR\": null},"
    " \"openblas_config\": \"OpenBLAS 0.3.21\", \"openblas_core\": \"Haswell\", \"openblas_threading\": \"openmp\","
    " \"compiler\": \"gcc 12.2.0\", \"c_flags\": \"-O2\", \"build_type\": \"Release\", \"nabla_version\": \"0.1.0\","
    " \"git_revision\": \"1f1ce40\", \"git_dirty\": false, \"date\": \"2026-11-27T16:24:11Z\", \"torch_version\": "
    "null},"
    " \"config\": {\"dtype\": \"f32\", \"iters\": 50, \"repeats\": 3, \"warmup\": 1, \"rounds_done\": 3,"
    " \"interrupted\": false, \"neighbours\": \"0\", \"batch\": 64, \"d_in\": 1000, \"hidden\": 100, \"d_out\": 10,"
    " \"seed\": 0,"
    " \"lr\": {\"tensors\": 1e-06, \"optim\": 0.0001},"
    " \"environment\": {\"OMP_WAIT_POLICY\": null, \"NABLA_ALLOC_CACHE\": \"0\"}},"
    " \"cases\": [{\"variant\": \"tensors\", \"kernel\": \"blocked\", \"threads\": 1,"
    " \"samples_s\": [0.0101, 0.0102, 0.0103]}]}";

/* An older bench.json: no sizes, seed, lr, config.environment, usable_cpus, NABLA_ISA. */
static const char old_json[] =
    "{\"context\": {\"cpu_model\": \"AMD EPYC\", \"online_cpus\": 2, \"environment\": {\"OPENBLAS_CORETYPE\": "
    "\"Haswell\"}, \"compiler\": \"gcc 12.2.0\", \"git_revision\": \"0000000\"},"
    " \"config\": {\"dtype\": \"f32\", \"iters\": 50, \"repeats\": 2, \"warmup\": 1, \"rounds_done\": 2},"
    " \"cases\": [{\"variant\": \"tensors\", \"kernel\": \"blocked\", \"threads\": 1, \"samples_s\": [0.01, 0.02]}]}";

static nb_bench_settings a, b; /* ~60 KiB each: static, not on the stack */
static nb_bench_difference diffs[NB_BENCH_MAX_DIFFERENCES];

/* base_json with its first `from` replaced by `to`, parsed into *s. */
static nb_status parse_edited(const char *from, const char *to, nb_bench_settings *s) {
    static char text[sizeof base_json + 512];
    const char *at = from ? strstr(base_json, from) : NULL;
    if (from && !at) {
        FAILF("'%s' is not in the base file", from);
        return NB_ERR_ARG;
    }
    if (at)
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - base_json), base_json, to, at + strlen(from));
    else
        snprintf(text, sizeof text, "%s", base_json);
    nb_bench_saved_case *cases = NULL;
    int n = 0;
    nb_status st = nb_bench_json_parse(text, strlen(text), "t.json", &cases, &n, s);
    free(cases);
    return st;
}

static void test_reads_every_setting(void) {
    nb_bench_saved_case *cases = NULL;
    int n = 0;
    CU_ASSERT_EQUAL_FATAL(nb_bench_json_parse(base_json, strlen(base_json), "t.json", &cases, &n, &a), NB_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_STRING_EQUAL(cases[0].key, "tensors blocked 1");
    CU_ASSERT_EQUAL(cases[0].n, 3);
    free(cases);
    for (int id = 0; id < NB_BENCH_SETTING_COUNT; id++)
        if (!a.value[id].known) FAILF("%s not read", nb_bench_setting_name((nb_bench_setting_id)id));
    CU_ASSERT_STRING_EQUAL(a.value[NB_BENCH_DTYPE].text, "f32");
    CU_ASSERT_STRING_EQUAL(a.value[NB_BENCH_ITERS].text, "50");
    CU_ASSERT_STRING_EQUAL(a.value[NB_BENCH_HIDDEN].text, "100");
    CU_ASSERT_STRING_EQUAL(a.value[NB_BENCH_OPENBLAS_CORETYPE].text, "Haswell");
    CU_ASSERT_TRUE(a.value[NB_BENCH_NABLA_ISA].is_null);
    CU_ASSERT_STRING_EQUAL(a.value[NB_BENCH_GIT_DIRTY].text, "false");
    CU_ASSERT_EQUAL(a.repeats, 3);
    CU_ASSERT_EQUAL(a.rounds_done, 3);
    CU_ASSERT_EQUAL(a.interrupted, 0);
    CU_ASSERT_EQUAL_FATAL(a.lr.count, 2);
    CU_ASSERT_STRING_EQUAL(a.lr.item[0].name, "tensors");
    CU_ASSERT_STRING_EQUAL(a.lr.item[0].text, "1e-06"); /* the shortest text that reads back */
    CU_ASSERT_STRING_EQUAL(a.lr.item[1].text, "0.0001");
    CU_ASSERT_EQUAL_FATAL(a.environment.count, 2);
    CU_ASSERT_TRUE(a.environment.item[0].is_null);
    CU_ASSERT_STRING_EQUAL(a.environment.item[1].text, "0");
    /* a file against itself: nothing */
    CU_ASSERT_EQUAL(nb_bench_settings_diff(&a, &a, diffs), 0);
}

static void test_older_file_is_unknown(void) {
    nb_bench_saved_case *cases = NULL;
    int n = 0;
    CU_ASSERT_EQUAL_FATAL(nb_bench_json_parse(old_json, strlen(old_json), "old.json", &cases, &n, &b), NB_OK);
    free(cases);
    CU_ASSERT_FALSE(b.value[NB_BENCH_BATCH].known);
    CU_ASSERT_FALSE(b.value[NB_BENCH_SEED].known);
    CU_ASSERT_FALSE(b.value[NB_BENCH_USABLE_CPUS].known);
    CU_ASSERT_EQUAL(b.lr.count, -1);
    CU_ASSERT_EQUAL(b.environment.count, -1);
    CU_ASSERT_EQUAL(b.interrupted, -1);
    CU_ASSERT_TRUE(b.value[NB_BENCH_ITERS].known);
    CU_ASSERT_EQUAL_FATAL(parse_edited(NULL, NULL, &a), NB_OK);
    int count = nb_bench_settings_diff(&b, &a, diffs);
    bool batch = false, lr = false;
    for (int i = 0; i < count; i++) {
        if (nb_bench_difference_refuses(&diffs[i])) FAILF("%s refuses against an older file", diffs[i].name);
        if (!strcmp(diffs[i].name, "batch")) batch = !diffs[i].old_text && diffs[i].new_text;
        if (!strcmp(diffs[i].name, "lr")) lr = !diffs[i].old_text && diffs[i].new_text;
        /* the NOTED and HEADER settings an older file lacks are not worth a warning */
        if (!strcmp(diffs[i].name, "OMP_NUM_THREADS") || !strcmp(diffs[i].name, "date"))
            FAILF("%s listed", diffs[i].name);
    }
    CU_ASSERT_TRUE(batch);
    CU_ASSERT_TRUE(lr);
}

/* One edit of base_json against base_json: `refusing` differences that stop the comparison,
 * the first of them named `name` with kind `kind`; `others` that do not. */
static void expect_diff(const char *from, const char *to, int refusing, const char *name, nb_bench_setting_kind kind,
                        int others) {
    if (parse_edited(NULL, NULL, &a) != NB_OK || parse_edited(from, to, &b) != NB_OK) {
        FAILF("%s -> %s: %s", from, to, nb_last_error());
        return;
    }
    int n = nb_bench_settings_diff(&a, &b, diffs), r = 0, o = 0;
    const nb_bench_difference *first = NULL;
    for (int i = 0; i < n; i++) {
        if (nb_bench_difference_refuses(&diffs[i])) {
            if (!r++) first = &diffs[i];
        } else {
            o++;
        }
    }
    if (r != refusing || o != others)
        FAILF("%s -> %s: %d refusing, %d others; expected %d, %d", from, to, r, o, refusing, others);
    if (refusing && first && (strcmp(first->name, name) || first->kind != kind))
        FAILF("%s -> %s: first difference %s (kind %d), expected %s (kind %d)", from, to, first->name, first->kind,
              name, kind);
}

static void test_which_differences_refuse(void) {
    expect_diff("\"iters\": 50", "\"iters\": 20", 1, "iters", NB_BENCH_MEASURE, 0);
    expect_diff("\"dtype\": \"f32\"", "\"dtype\": \"f64\"", 1, "dtype", NB_BENCH_MEASURE, 0);
    expect_diff("\"warmup\": 1", "\"warmup\": 0", 1, "warmup", NB_BENCH_MEASURE, 0);
    expect_diff("\"d_in\": 1000", "\"d_in\": 999", 1, "d_in", NB_BENCH_MEASURE, 0);
    expect_diff("\"seed\": 0", "\"seed\": 3", 1, "seed", NB_BENCH_MEASURE, 0);
    expect_diff("\"tensors\": 1e-06", "\"tensors\": 1e-05", 1, "lr", NB_BENCH_MEASURE, 0);
    expect_diff("\"OMP_WAIT_POLICY\": null", "\"OMP_WAIT_POLICY\": \"active\"", 1, "OMP_WAIT_POLICY", NB_BENCH_MEASURE,
                0);
    /* JSON null is not the string "unset" */
    expect_diff("\"OMP_WAIT_POLICY\": null", "\"OMP_WAIT_POLICY\": \"unset\"", 1, "OMP_WAIT_POLICY", NB_BENCH_MEASURE,
                0);
    expect_diff("\"cpu_model\": \"AMD EPYC\"", "\"cpu_model\": \"Intel\"", 1, "cpu_model", NB_BENCH_MACHINE, 0);
    expect_diff("\"online_cpus\": 2", "\"online_cpus\": 16", 1, "online_cpus", NB_BENCH_MACHINE, 0);
    expect_diff("\"OPENBLAS_CORETYPE\": \"Haswell\"", "\"OPENBLAS_CORETYPE\": null", 1, "OPENBLAS_CORETYPE",
                NB_BENCH_MACHINE, 0);
    expect_diff("\"c_flags\": \"-O2\"", "\"c_flags\": \"-O3\"", 1, "c_flags", NB_BENCH_MACHINE, 0);
    expect_diff("\"build_type\": \"Release\"", "\"build_type\": \"Debug\"", 1, "build_type", NB_BENCH_MACHINE, 0);
    expect_diff("\"compiler\": \"gcc 12.2.0\"", "\"compiler\": \"clang 14\"", 1, "compiler", NB_BENCH_MACHINE, 0);
    /* noted, not refused */
    expect_diff("\"repeats\": 3, \"warmup\": 1, \"rounds_done\": 3",
                "\"repeats\": 5, \"warmup\": 1, \"rounds_done\": 5", 0, NULL, NB_BENCH_NOTED, 1);
    expect_diff("\"OMP_NUM_THREADS\": null", "\"OMP_NUM_THREADS\": \"4\"", 0, NULL, NB_BENCH_NOTED, 1);
    /* like a thread list: each case carries its count in its key */
    expect_diff("\"neighbours\": \"0\"", "\"neighbours\": \"0,2\"", 0, NULL, NB_BENCH_NOTED, 1);
    /* printed only: never a difference */
    expect_diff("\"git_revision\": \"1f1ce40\"", "\"git_revision\": \"abcdef0\"", 0, NULL, NB_BENCH_HEADER, 0);
    expect_diff("\"date\": \"2026-11-27T16:24:11Z\"", "\"date\": \"2027-01-01T00:00:00Z\"", 0, NULL, NB_BENCH_HEADER,
                0);
    expect_diff("\"nabla_version\": \"0.1.0\"", "\"nabla_version\": \"0.2.0\"", 0, NULL, NB_BENCH_HEADER, 0);
    expect_diff("\"git_dirty\": false", "\"git_dirty\": true", 0, NULL, NB_BENCH_HEADER, 0);
    /* no twin on one side matches; two torches differ */
    expect_diff("\"torch_version\": null", "\"torch_version\": \"2.1.0\"", 0, NULL, NB_BENCH_MACHINE, 0);
    /* a variant one side did not run has no learning rate to compare */
    expect_diff(", \"optim\": 0.0001", "", 0, NULL, NB_BENCH_MEASURE, 0);
    /* a variable only the newer file records is unknown on the other side */
    expect_diff("\"NABLA_ALLOC_CACHE\": \"0\"", "\"NABLA_ALLOC_CACHE\": \"0\", \"GOMP_SPINCOUNT\": \"0\"", 0, NULL,
                NB_BENCH_MEASURE, 1);
}

static void test_torch_versions_differ(void) {
    CU_ASSERT_EQUAL_FATAL(parse_edited("\"torch_version\": null", "\"torch_version\": \"2.1.0\"", &a), NB_OK);
    CU_ASSERT_EQUAL_FATAL(parse_edited("\"torch_version\": null", "\"torch_version\": \"2.2.0\"", &b), NB_OK);
    CU_ASSERT_EQUAL_FATAL(nb_bench_settings_diff(&a, &b, diffs), 1);
    CU_ASSERT_STRING_EQUAL(diffs[0].name, "torch_version");
    CU_ASSERT_TRUE(nb_bench_difference_refuses(&diffs[0]));
}

/* Each edit makes the file malformed: NB_ERR_FORMAT naming `field`, nothing left behind. */
static void expect_format_error(const char *from, const char *to, const char *field) {
    memset(&b, 0x5a, sizeof b);
    nb_status st = parse_edited(from, to, &b);
    if (st != NB_ERR_FORMAT) {
        FAILF("%s -> %s: status %s, expected a format error", from, to, nb_status_name(st));
        return;
    }
    CU_ASSERT_TRUE(nb_test_error_mentions("t.json"));
    CU_ASSERT_TRUE(nb_test_error_mentions(field));
    CU_ASSERT_FALSE(b.value[NB_BENCH_ITERS].known);
    CU_ASSERT_EQUAL(b.lr.count, -1);
    CU_ASSERT_EQUAL(b.rounds_done, -1);
}

static void test_malformed_settings(void) {
    expect_format_error("\"iters\": 50", "\"iters\": \"50\"", "config.iters");
    expect_format_error("\"iters\": 50", "\"iters\": 0", "config.iters");
    expect_format_error("\"iters\": 50", "\"iters\": 2.5", "config.iters");
    expect_format_error("\"iters\": 50", "\"iters\": 1e300", "config.iters");
    expect_format_error("\"seed\": 0", "\"seed\": -1", "config.seed");
    expect_format_error("\"repeats\": 3", "\"repeats\": 101", "config.repeats");
    expect_format_error("\"rounds_done\": 3", "\"rounds_done\": 4", "rounds_done");
    expect_format_error("\"interrupted\": false", "\"interrupted\": 0", "config.interrupted");
    expect_format_error("\"cpu_model\": \"AMD EPYC\"", "\"cpu_model\": \"AMD\\nEPYC\"", "context.cpu_model");
    expect_format_error("\"cpu_model\": \"AMD EPYC\"", "\"cpu_model\": null", "context.cpu_model");
    expect_format_error("\"OPENBLAS_CORETYPE\": \"Haswell\"", "\"OPENBLAS_CORETYPE\": 3", "OPENBLAS_CORETYPE");
    expect_format_error("\"tensors\": 1e-06", "\"tensors\": \"fast\"", "config.lr.tensors");
    expect_format_error("\"optim\": 0.0001", "\"tensors\": 0.0001", "twice");
    expect_format_error("\"NABLA_ALLOC_CACHE\": \"0\"", "\"NABLA_ALLOC_CACHE\": 0", "config.environment");
    expect_format_error("\"NABLA_ALLOC_CACHE\"", "\"\"", "config.environment");
    expect_format_error("\"config\": {", "\"config\": [], \"x\": {", "config");
    expect_format_error("\"environment\": {\"OPENBLAS", "\"environment\": 1, \"e\": {\"OPENBLAS",
                        "context.environment");
    expect_format_error("\"threads\": 1", "\"threads\": 0", "threads");
    expect_format_error("\"threads\": 1", "\"threads\": 1.5", "threads");
    expect_format_error("\"samples_s\": [0.0101", "\"samples_s\": [-1", "bad sample");
    expect_format_error("\"variant\": \"tensors\"",
                        "\"variant\": \"a-variant-name-far-too-long-to-be-kept-whole-in-a-key-of-a-table-row\"",
                        "variant");
    expect_format_error("\"samples_s\": [0.0101, 0.0102, 0.0103]}]",
                        "\"samples_s\": [0.0101]}, {\"variant\": \"tensors\", \"kernel\": \"blocked\", \"threads\": 1,"
                        " \"samples_s\": [0.0102]}]",
                        "twice");
    /* a value of NB_BENCH_MAX_VALUE bytes or more is refused, never cut */
    static char huge[NB_BENCH_MAX_VALUE + 16];
    snprintf(huge, sizeof huge, "\"c_flags\": \"%0*d\"", NB_BENCH_MAX_VALUE, 0);
    static char text[sizeof base_json + sizeof huge];
    const char *at = strstr(base_json, "\"c_flags\": \"-O2\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - base_json), base_json, huge,
             at + strlen("\"c_flags\": \"-O2\""));
    nb_bench_saved_case *cases = (nb_bench_saved_case *)&cases;
    int n = -1;
    CU_ASSERT_EQUAL(nb_bench_json_parse(text, strlen(text), "t.json", &cases, &n, &b), NB_ERR_FORMAT);
    CU_ASSERT_TRUE(nb_test_error_mentions("context.c_flags"));
    CU_ASSERT_PTR_NULL(cases);
    CU_ASSERT_EQUAL(n, 0);
}

static void test_too_many_cases(void) {
    /* more cases than bench ever writes: refused before anything is allocated for them */
    size_t size = 32 + (NB_BENCH_MAX_CASES + 1) * 3;
    char *text = malloc(size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t len = (size_t)snprintf(text, size, "{\"cases\": [");
    for (int i = 0; i <= NB_BENCH_MAX_CASES; i++) len += (size_t)snprintf(text + len, size - len, i ? ",{}" : "{}");
    len += (size_t)snprintf(text + len, size - len, "]}");
    nb_bench_saved_case *cases = NULL;
    int n = 0;
    CU_ASSERT_EQUAL(nb_bench_json_parse(text, len, "t.json", &cases, &n, &b), NB_ERR_FORMAT);
    CU_ASSERT_TRUE(nb_test_error_mentions("more than 512 cases"));
    free(text);
}

/* The key of base_json's one case once `fields` are added to it (NULL: it failed to parse). */
static const char *key_with(const char *fields) {
    static char edit[256], key[sizeof((nb_bench_saved_case *)0)->key];
    snprintf(edit, sizeof edit, "\"threads\": 1, %s", fields);
    static char text[sizeof base_json + 512];
    const char *at = strstr(base_json, "\"threads\": 1,");
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - base_json), base_json, edit, at + strlen("\"threads\": 1,"));
    nb_bench_saved_case *cases = NULL;
    int n = 0;
    nb_status st = nb_bench_json_parse(text, strlen(text), "t.json", &cases, &n, &b);
    if (st == NB_OK) snprintf(key, sizeof key, "%s", cases[0].key);
    free(cases);
    return st == NB_OK ? key : NULL;
}

static void expect_key(const char *fields, const char *want) {
    const char *got = key_with(fields);
    if (!got || strcmp(got, want))
        FAILF("%s: key '%s', expected '%s' (%s)", fields, got ? got : "(none)", want, got ? "" : nb_last_error());
}

static void test_case_keys(void) {
    /* no neighbours and the config's sizes: the key of a file from before either existed */
    expect_key("\"neighbours\": 0, \"batch\": 64, \"d_in\": 1000, \"hidden\": 100, \"d_out\": 10,",
               "tensors blocked 1");
    expect_key("\"neighbours\": 3,", "tensors blocked 1 +3nb");
    expect_key("\"hidden\": 1024,", "tensors blocked 1 H1024");
    expect_key("\"d_out\": 100, \"neighbours\": 1, \"batch\": 512, \"d_in\": 2048,",
               "tensors blocked 1 +1nb N512 D2048 O100");
    /* each a whole number in range, or the file is refused */
    const char *bad[] = {"\"neighbours\": -1,",    "\"neighbours\": 1025,", "\"neighbours\": 0.5,",
                         "\"neighbours\": \"1\",", "\"batch\": 0,",         "\"hidden\": 1e300,",
                         "\"d_in\": null,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (key_with(bad[i]) || nb_last_status() != NB_ERR_FORMAT) FAILF("%s: not refused as a format error", bad[i]);
    /* the suffix itself: a seed size of -1 (not recorded) matches nothing */
    char buf[128];
    const int64_t seed[NB_BENCH_SIZES] = {64, 1000, 100, 10}, unknown[NB_BENCH_SIZES] = {-1, -1, -1, -1};
    nb_bench_case_suffix(0, seed, seed, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "");
    nb_bench_case_suffix(2, seed, unknown, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, " +2nb N64 D1000 H100 O10");
}

static void test_setting_names(void) {
    for (int i = 0; i < NB_BENCH_SETTING_COUNT; i++) {
        const char *name = nb_bench_setting_name((nb_bench_setting_id)i);
        if (!name || !*name) {
            FAILF("setting %d has no name", i);
            continue;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(name, nb_bench_setting_name((nb_bench_setting_id)j))) FAILF("%s named twice", name);
    }
    CU_ASSERT_PTR_NULL(nb_bench_setting_name(NB_BENCH_SETTING_COUNT));
    CU_ASSERT_EQUAL(nb_bench_setting_kind_of(NB_BENCH_ITERS), NB_BENCH_MEASURE);
    CU_ASSERT_EQUAL(nb_bench_setting_kind_of(NB_BENCH_CPU_MODEL), NB_BENCH_MACHINE);
    CU_ASSERT_EQUAL(nb_bench_setting_kind_of(NB_BENCH_REPEATS), NB_BENCH_NOTED);
    CU_ASSERT_EQUAL(nb_bench_setting_kind_of(NB_BENCH_GIT_REVISION), NB_BENCH_HEADER);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"every setting read back", test_reads_every_setting},
        {"an older file's missing settings are unknown", test_older_file_is_unknown},
        {"which differences refuse", test_which_differences_refuse},
        {"two torch versions refuse", test_torch_versions_differ},
        {"malformed settings are format errors", test_malformed_settings},
        {"more cases than bench writes", test_too_many_cases},
        {"case keys carry neighbours and sizes", test_case_keys},
        {"setting names", test_setting_names},
    };
    return nb_test_run("compare", tests, sizeof tests / sizeof tests[0]);
}
