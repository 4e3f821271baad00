/* tests/test_reference.c — the PyTorch reference fixtures as nabla reads them: a committed
 * case loads and passes; every kind of broken fixture (missing, truncated, wrong dtype,
 * wrong shape, wrong torch version, NaN-bearing, bad JSON) is refused with a message that
 * names the file and says to run `make reference`; a wrong kernel fails the case. The list of
 * expected cases compiled in from reference/cases.txt is non-empty, well formed and the
 * committed fixtures; a missing, misnamed or unexpected case directory is told apart. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "tensor/runtime.h"
#include "test_util.h"
#include "verify/reference.h"

/* A small committed case, copied to a scratch directory and then broken in one way. */
#define CASE "autograd-f64-s1-7x13x5x3-i60"
static char fixtures[1024], original[1200], scratch[64];

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int rc = in && out ? 0 : -1;
    char buf[65536];
    for (size_t n; rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in) fclose(in);
    if (out) fclose(out);
    return rc;
}

/* dir <- a fresh copy of the original case; dir, or NULL on failure */
static char *copy_case_to(char *dir) {
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return NULL;
    DIR *d = opendir(original);
    if (!d) return NULL;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char from[1500], to[600];
        snprintf(from, sizeof from, "%s/%s", original, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        if (copy_file(from, to) != 0) {
            closedir(d);
            return NULL;
        }
    }
    closedir(d);
    return dir;
}

/* scratch/case <- a fresh copy of the original case */
static char *fresh_copy(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "%s/case", scratch);
    return copy_case_to(dir);
}

/* Loading `dir` must fail with `status`, naming `file` and giving the hint. */
static void expect_refused(const char *dir, nb_status status, const char *file, const char *what) {
    nb_ref_case c;
    nb_status st = nb_ref_case_load(dir, &c);
    const char *msg = nb_last_error();
    bool ok = st == status && strstr(msg, file) && strstr(msg, what) && strstr(msg, "make reference");
    if (!ok) printf("\n  status %d (want %d), message: %s\n", st, status, msg);
    CU_ASSERT_TRUE(ok);
    if (st == NB_OK) nb_ref_case_free(&c);
}

static void rewrite_text(const char *path, const char *find, const char *replace) {
    FILE *f = fopen(path, "rb");
    static char text[1 << 20];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    char *at = strstr(text, find);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    f = fopen(path, "wb");
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(replace, f);
    fputs(at + strlen(find), f);
    fclose(f);
}

typedef struct tally {
    int rows, failed;
} tally;
static void count_row(void *opaque, const nb_check_row *row) {
    tally *t = opaque;
    t->rows++;
    t->failed += !row->ok;
    nb_check_print_row(stdout, row);
}

static void test_committed_case_passes(void) {
    nb_ref_case c;
    CU_ASSERT_EQUAL_FATAL(nb_ref_case_load(original, &c), NB_OK);
    CU_ASSERT_STRING_EQUAL(c.cfg.variant, "autograd");
    CU_ASSERT_EQUAL(c.cfg.iters, 60);
    CU_ASSERT(c.ninitial >= 4 && c.ngrad0 >= 2 && c.nfinal >= 2);
    tally t = {0};
    for (int k = 0; k < nb_kernel_count(); k++) {
        nb_runtime_set_kernel(nb_kernel_at(k));
        CU_ASSERT_EQUAL(nb_verify_reference_case(&c, nb_kernel_at(k)->name, count_row, &t), NB_OK);
    }
    CU_ASSERT_EQUAL(t.rows, nb_kernel_count());
    CU_ASSERT_EQUAL(t.failed, 0);
    /* a kernel wrong by 1e-3 in one element of every product fails the case */
    nb_runtime_set_gemm_perturbation(1e-3);
    tally bad = {0};
    CU_ASSERT_EQUAL(nb_verify_reference_case(&c, "perturbed", count_row, &bad), NB_OK);
    nb_runtime_set_gemm_perturbation(0);
    nb_runtime_set_kernel(NULL);
    CU_ASSERT_EQUAL(bad.failed, 1);
    nb_ref_case_free(&c);
}

static void test_missing_files(void) {
    char *dir = fresh_copy(), path[600];
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    snprintf(path, sizeof path, "%s/final.w2.npy", dir);
    unlink(path);
    expect_refused(dir, NB_ERR_IO, "final.w2.npy", "cannot open");
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    unlink(path);
    expect_refused(dir, NB_ERR_IO, "manifest.json", "cannot open");
    expect_refused("/nonexistent/case", NB_ERR_IO, "/nonexistent/case/manifest.json", "cannot open");
}

static void test_truncated_tensor(void) {
    char *dir = fresh_copy(), path[600];
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    snprintf(path, sizeof path, "%s/initial.w1.npy", dir);
    CU_ASSERT_EQUAL(truncate(path, 200), 0);
    expect_refused(dir, NB_ERR_FORMAT, "initial.w1.npy", "truncated");
}

/* Replaces a case file with a tensor of another dtype, shape, or holding a NaN. */
static void write_npy(const char *dir, const char *file, nb_dtype dtype, int ndim, const int64_t *shape, double fill) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    nb_tensor *t = nb_tensor_full(dtype, ndim, shape, fill);
    CU_ASSERT_EQUAL(nb_npy_write(path, t), NB_OK);
    nb_tensor_free(t);
}

static void test_wrong_dtype_shape_nan(void) {
    char *dir = fresh_copy();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    write_npy(dir, "final.w2.npy", NB_F32, 2, (int64_t[]){5, 3}, 1.0); /* an f64 case */
    expect_refused(dir, NB_ERR_FORMAT, "final.w2.npy", "holds (5, 3) f32, the manifest says (5, 3) f64");
    dir = fresh_copy();
    write_npy(dir, "final.w2.npy", NB_F64, 2, (int64_t[]){3, 5}, 1.0);
    expect_refused(dir, NB_ERR_FORMAT, "final.w2.npy", "holds (3, 5) f64, the manifest says (5, 3) f64");
    dir = fresh_copy();
    write_npy(dir, "final.w2.npy", NB_F64, 2, (int64_t[]){5, 3}, 0.0 / 0.0);
    expect_refused(dir, NB_ERR_FORMAT, "final.w2.npy", "NaN");
}

static void test_bad_manifest(void) {
    char *dir = fresh_copy(), path[600];
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    rewrite_text(path, "1.13.0a0", "2.1.0");
    expect_refused(dir, NB_ERR_FORMAT, "manifest.json", "made by torch 2.1.0");
    dir = fresh_copy();
    rewrite_text(path, "\"default\"", "\"avx2\"");
    expect_refused(dir, NB_ERR_FORMAT, "manifest.json", "ATEN_CPU_CAPABILITY=avx2");
    dir = fresh_copy();
    rewrite_text(path, "{", "[");
    expect_refused(dir, NB_ERR_FORMAT, "manifest.json", "not valid JSON");
    dir = fresh_copy();
    rewrite_text(path, "\"iters\": 60", "\"iters\": 61");
    expect_refused(dir, NB_ERR_FORMAT, "manifest.json", "60 losses for 61 steps");
    dir = fresh_copy();
    rewrite_text(path, "\"variant\": \"autograd\"", "\"variant\": \"tensorflow\"");
    expect_refused(dir, NB_ERR_FORMAT, "manifest.json", "unknown variant");
}

/* <variant>-<f32|f64>-s<seed>-<N>x<D_in>x<H>x<D_out>-i<iters> with a known variant and numbers
 * written the one way generate.py writes them (no sign, no leading zero): printed back from
 * what was read, the name must come out the same. */
static bool well_formed(const char *name) {
    const char *f32 = strstr(name, "-f32-"), *f64 = strstr(name, "-f64-");
    const char *cut = f32 && (!f64 || f32 < f64) ? f32 : f64;
    if (!cut || cut == name || (size_t)(cut - name) >= 64) return false;
    char variant[64];
    snprintf(variant, sizeof variant, "%.*s", (int)(cut - name), name);
    if (!nb_variant_find(variant)) return false;
    uint64_t seed;
    int64_t n, d_in, h, d_out, iters;
    int used = -1;
    if (sscanf(cut + 5, "s%" SCNu64 "-%" SCNd64 "x%" SCNd64 "x%" SCNd64 "x%" SCNd64 "-i%" SCNd64 "%n", &seed, &n, &d_in,
               &h, &d_out, &iters, &used) != 6 ||
        used < 0 || cut[5 + used] != '\0')
        return false;
    char again[256];
    snprintf(again, sizeof again, "%s-%.3s-s%" PRIu64 "-%" PRId64 "x%" PRId64 "x%" PRId64 "x%" PRId64 "-i%" PRId64,
             variant, cut + 1, seed, n, d_in, h, d_out, iters);
    return !strcmp(again, name) && n > 0 && d_in > 0 && h > 0 && d_out > 0 && iters > 0;
}

/* The compiled-in list: non-empty, every name well formed and once, out-of-range indices NULL,
 * and exactly the committed fixtures, each of which loads as the case its name says. */
static void test_expected_list(void) {
    const int n = nb_ref_expected_count();
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_PTR_NULL(nb_ref_expected_at(-1));
    CU_ASSERT_PTR_NULL(nb_ref_expected_at(n));
    CU_ASSERT_TRUE(well_formed("custom-function-f64-s4294967301-1x3x8x1-i20"));
    for (const char *bad = "autograd-f16-s1-7x13x5x3-i60\0tensorflow-f64-s1-7x13x5x3-i60\0"
                           "autograd-f64-s01-7x13x5x3-i60\0autograd-f64-s1-7x13x5-i60\0"
                           "autograd-f64-s1-7x13x5x3-i60x\0-f64-s1-7x13x5x3-i60\0";
         *bad; bad += strlen(bad) + 1)
        if (well_formed(bad)) FAILF("the test's own check takes the malformed name %s", bad);
    for (int i = 0; i < n; i++) {
        const char *name = nb_ref_expected_at(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        if (!well_formed(name)) FAILF("expected case %d, '%s', is not a case name", i, name);
        for (int j = 0; j < i; j++)
            if (!strcmp(nb_ref_expected_at(j), name)) FAILF("expected case '%s' is listed twice", name);
        nb_ref_case c;
        if (nb_ref_expected_load(fixtures, name, &c) != NB_OK)
            FAILF("%s", nb_last_error());
        else
            nb_ref_case_free(&c);
    }
    /* The committed fixtures hold no other case. */
    char **extra = NULL;
    int nextra = -1;
    CU_ASSERT_EQUAL_FATAL(nb_ref_list_unexpected(fixtures, &extra, &nextra), NB_OK);
    for (int i = 0; i < nextra; i++) FAILF("%s/%s is not an expected case", fixtures, extra[i]);
    nb_ref_list_free(extra, nextra);
}

/* nb_ref_expected_load must fail with `status`, the message holding `a` and `b` and the hint. */
static void expect_expected_refused(const char *root, const char *name, nb_status status, const char *a,
                                    const char *b) {
    nb_ref_case c;
    nb_status st = nb_ref_expected_load(root, name, &c);
    const char *msg = nb_last_error();
    if (st != status || !strstr(msg, a) || !strstr(msg, b) || !strstr(msg, "make reference"))
        FAILF("%s: status %d (want %d), message: %s", name, st, status, msg);
    if (st == NB_OK) nb_ref_case_free(&c);
}

/* A case directory gone, its manifest gone, or a directory holding another case. */
static void test_expected_missing_or_misnamed(void) {
    char root[128], dir[400], path[500];
    snprintf(root, sizeof root, "%s/root", scratch);
    CU_ASSERT_EQUAL_FATAL(mkdir(root, 0755), 0);
    /* an intact copy under its own name loads */
    snprintf(dir, sizeof dir, "%s/%s", root, CASE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy_case_to(dir));
    nb_ref_case c;
    CU_ASSERT_EQUAL(nb_ref_expected_load(root, CASE, &c), NB_OK);
    nb_ref_case_free(&c);
    /* no directory at all */
    expect_expected_refused(root, "nn-f64-s1-7x13x5x3-i60", NB_ERR_IO,
                            "reference case nn-f64-s1-7x13x5x3-i60 is missing", "No such file");
    /* a file where the directory should be */
    snprintf(path, sizeof path, "%s/nn-f64-s1-7x13x5x3-i60", root);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    expect_expected_refused(root, "nn-f64-s1-7x13x5x3-i60", NB_ERR_IO, "nn-f64-s1-7x13x5x3-i60 is missing",
                            "not a directory");
    /* the same case under another seed's name: its manifest says which case it is */
    snprintf(dir, sizeof dir, "%s/autograd-f64-s2-7x13x5x3-i60", root);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy_case_to(dir));
    expect_expected_refused(root, "autograd-f64-s2-7x13x5x3-i60", NB_ERR_FORMAT, "\"case\" is " CASE,
                            "not autograd-f64-s2-7x13x5x3-i60");
    /* its "case" renamed too: the config still spells the original */
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    rewrite_text(path, "\"case\": \"" CASE "\"", "\"case\": \"autograd-f64-s2-7x13x5x3-i60\"");
    expect_expected_refused(root, "autograd-f64-s2-7x13x5x3-i60", NB_ERR_FORMAT, "\"config\" makes case " CASE,
                            "autograd-f64-s2-7x13x5x3-i60/manifest.json");
    /* the manifest gone */
    snprintf(path, sizeof path, "%s/%s/manifest.json", root, CASE);
    CU_ASSERT_EQUAL(unlink(path), 0);
    expect_expected_refused(root, CASE, NB_ERR_IO, CASE "/manifest.json", "cannot open");
}

/* Directories that are not expected cases are listed, sorted; expected ones, hidden ones and
 * plain files are not; an unreadable root is an error naming it. */
static void test_list_unexpected(void) {
    char root[128], path[400];
    snprintf(root, sizeof root, "%s/listing", scratch);
    CU_ASSERT_EQUAL_FATAL(mkdir(root, 0755), 0);
    const char *dirs[] = {CASE, "zz-not-a-case", ".tmp-autograd-f64-s1-x", "nn-f64-s9-7x13x5x3-i60"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
    }
    snprintf(path, sizeof path, "%s/notes.txt", root);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    char **names = NULL;
    int count = -1;
    CU_ASSERT_EQUAL_FATAL(nb_ref_list_unexpected(root, &names, &count), NB_OK);
    CU_ASSERT_EQUAL_FATAL(count, 2);
    CU_ASSERT_STRING_EQUAL(names[0], "nn-f64-s9-7x13x5x3-i60");
    CU_ASSERT_STRING_EQUAL(names[1], "zz-not-a-case");
    nb_ref_list_free(names, count);
    CU_ASSERT_EQUAL(nb_ref_list_unexpected("/nonexistent/fixtures", &names, &count), NB_ERR_IO);
    CU_ASSERT_PTR_NULL(names);
    CU_ASSERT_EQUAL(count, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "/nonexistent/fixtures"));
}

/* The scratch directory lives as long as the suite; a failure to make or remove it fails
 * the run (nb_test_run counts failed hooks). */
static int suite_init(void) {
    snprintf(fixtures, sizeof fixtures, "%s", NABLA_FIXTURES_DIR);
    snprintf(original, sizeof original, "%s/%s", fixtures, CASE);
    snprintf(scratch, sizeof scratch, "/tmp/nabla-test-reference-XXXXXX");
    return mkdtemp(scratch) ? 0 : 1;
}

static int suite_cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void) {
    static const nb_test_case tests[] = {
        {"a committed case passes with every kernel; a perturbed kernel fails", test_committed_case_passes},
        {"missing files", test_missing_files},
        {"a truncated tensor", test_truncated_tensor},
        {"wrong dtype, wrong shape, NaN", test_wrong_dtype_shape_nan},
        {"a bad manifest: torch version, capability, JSON, counts, variant", test_bad_manifest},
        {"the expected cases: non-empty, well formed, the committed fixtures", test_expected_list},
        {"an expected case missing, without its manifest, or holding another case", test_expected_missing_or_misnamed},
        {"directories that are not expected cases are listed", test_list_unexpected},
    };
    return nb_test_run_with_hooks("reference", suite_init, suite_cleanup, tests, sizeof tests / sizeof tests[0]);
}
