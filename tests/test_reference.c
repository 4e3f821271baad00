/* tests/test_reference.c — the PyTorch reference fixtures as nabla reads them: a committed
 * case loads and passes; every kind of broken fixture (missing, truncated, wrong dtype,
 * wrong shape, wrong torch version, NaN-bearing, bad JSON) is refused with a message that
 * names the file and says to run `make reference`; a wrong kernel fails the case. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* scratch/case <- a fresh copy of the original case */
static char *fresh_copy(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "%s/case", scratch);
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
    };
    return nb_test_run_with_hooks("reference", suite_init, suite_cleanup, tests, sizeof tests / sizeof tests[0]);
}
