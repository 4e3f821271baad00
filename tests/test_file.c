/* tests/test_file.c — base/file.h: an atomic write leaves the old file or the new one, never
 * half of one and never a temporary file, when the writer fails midway or the disk is "full"
 * (a file-size limit, RLIMIT_FSIZE, stands in for a full disk: the same EFBIG path through
 * write, fflush and fclose); and the up-front directory check refuses such a place at once. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/file.h"
#include "test_util.h"

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/nabla-test-file-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
}

/* The whole content of path in buf (NUL-terminated); -1 when it cannot be read. */
static long read_all(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* The number of entries in dir other than "." and "..". */
static int entries(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

static void cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_write_and_replace(void) {
    make_dir();
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    CU_ASSERT_EQUAL(nb_file_write_text_atomic(path, "first\n"), NB_OK);
    CU_ASSERT_EQUAL(read_all(path, buf, sizeof buf), 6);
    CU_ASSERT_STRING_EQUAL(buf, "first\n");
    CU_ASSERT_EQUAL(nb_file_write_text_atomic(path, "second, longer\n"), NB_OK);
    read_all(path, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "second, longer\n");
    CU_ASSERT_EQUAL(entries(), 1); /* no temporary file left */
    cleanup();
}

/* A writer that writes half, then reports a failure of its own. */
static bool half_then_fail(FILE *f, void *ctx) {
    (void)ctx;
    fputs("half of a new", f);
    nb_error(NB_ERR_FORMAT, "the writer gave up");
    return false;
}

static void test_writer_failure_keeps_old_file(void) {
    make_dir();
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    CU_ASSERT_EQUAL(nb_file_write_text_atomic(path, "old\n"), NB_OK);
    CU_ASSERT_EQUAL(nb_file_write_atomic(path, half_then_fail, NULL), NB_ERR_FORMAT);
    CU_ASSERT_STRING_EQUAL(nb_last_error(), "the writer gave up"); /* its own message is kept */
    read_all(path, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "old\n");
    CU_ASSERT_EQUAL(entries(), 1);
    cleanup();
}

static void test_full_disk_keeps_old_file(void) {
    make_dir();
    char path[128], buf[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    CU_ASSERT_EQUAL(nb_file_write_text_atomic(path, "old\n"), NB_OK);
    /* 64 KiB of text against a 16 KiB file-size limit; SIGXFSZ ignored, as nabla's main does */
    size_t big = 64 << 10;
    char *text = malloc(big + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memset(text, 'x', big);
    text[big] = '\0';
    struct rlimit old, small = {.rlim_cur = 16 << 10};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
    nb_status st = nb_file_write_text_atomic(path, text);
    char message[256];
    snprintf(message, sizeof message, "%s", nb_last_error());
    nb_status probe = nb_file_check_writable_dir(dir, 1 << 20);
    nb_status probe_small = nb_file_check_writable_dir(dir, 1 << 10);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, previous);
    free(text);
    CU_ASSERT_EQUAL(st, NB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "out.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(message, "File too large"));
    read_all(path, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "old\n");
    CU_ASSERT_EQUAL(entries(), 1);
    CU_ASSERT_EQUAL(probe, NB_ERR_IO);   /* a place that cannot take 1 MiB is refused up front */
    CU_ASSERT_EQUAL(probe_small, NB_OK); /* ... and one that can take what is asked is not */
    cleanup();
}

static void test_check_dir(void) {
    make_dir();
    CU_ASSERT_EQUAL(nb_file_check_writable_dir(dir, 1 << 20), NB_OK);
    CU_ASSERT_EQUAL(entries(), 0); /* the probe is gone */
    CU_ASSERT_EQUAL(nb_file_check_writable_dir("/nonexistent-nabla-dir", 0), NB_ERR_IO);
    CU_ASSERT_EQUAL(nb_file_check_writable_dir("/proc", 0), NB_ERR_IO); /* refused even to root */
    CU_ASSERT_EQUAL(nb_file_write_text_atomic("/proc/nabla-test", "x"), NB_ERR_IO);
    cleanup();
}

int main(void) {
    static const nb_test_case tests[] = {
        {"write, then replace", test_write_and_replace},
        {"a failing writer leaves the old file", test_writer_failure_keeps_old_file},
        {"a full disk leaves the old file, and is refused up front", test_full_disk_keeps_old_file},
        {"the directory check", test_check_dir},
    };
    return nb_test_run("file", tests, sizeof tests / sizeof tests[0]);
}
