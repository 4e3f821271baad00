/* tests/test_util.h — what the CUnit suites of tests/ share: FAILF, a failure with a formatted
 * message; the check that nb_last_error() names something; nb_test_run, a suite's whole main;
 * and a reader for the line-oriented fixtures of tests/data/ (rng_torch.txt, nn_optim_torch.txt).
 * Header-only (static inline) so that each suite stays the one .c file nabla_add_test builds. */
#ifndef NB_TESTS_TEST_UTIL_H
#define NB_TESTS_TEST_UTIL_H

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* By a path relative to this file, not the include path: test_gemm links only the kernels,
 * whose include root is the project, not src/. A static inline function nothing calls is
 * never emitted, so the suites that do not check errors (gemm, rng) still do not need
 * nabla_base at link time. */
#include "../src/base/error.h"

/* ---- failures and error messages ---------------------------------------------------------- */

/* Records a CUnit failure with a printf-style message (CU_FAIL takes only a literal; CUnit
 * copies the text), echoed to stderr so the verbose log shows it next to the test name. Use
 * it through FAILF, which passes the caller's file and line. */
static inline void nb_test_fail_at(const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void nb_test_fail_at(const char *file, unsigned line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n    FAIL: %s\n", msg);
    CU_assertImplementation(CU_FALSE, line, msg, file, "", CU_FALSE);
}
#define FAILF(...) nb_test_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* Whether the last error's message contains `needle`. When it does not, both are printed:
 * CU_ASSERT_TRUE(nb_test_error_mentions(...)) alone would log only the call. */
static inline bool nb_test_error_mentions(const char *needle) {
    if (strstr(nb_last_error(), needle)) return true;
    fprintf(stderr, "\n    error '%s' does not mention '%s'\n", nb_last_error(), needle);
    return false;
}

/* ---- running a suite ---------------------------------------------------------------------- */

typedef struct nb_test_case {
    const char *name;
    void (*fn)(void);
} nb_test_case;

/* Registers `tests` as one suite with optional init/cleanup hooks (either may be NULL), runs
 * it in CUnit's verbose basic runner and returns main's exit status: the number of failed
 * assertions, plus one for each failed hook, capped at 255. 1 if registration fails. */
static inline int nb_test_run_with_hooks(const char *suite_name, CU_InitializeFunc init, CU_CleanupFunc cleanup,
                                         const nb_test_case *tests, size_t count) {
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "%s: cannot set up CUnit: %s\n", suite_name, CU_get_error_msg());
        return 1;
    }
    CU_pSuite suite = CU_add_suite(suite_name, init, cleanup);
    bool registered = suite != NULL;
    for (size_t i = 0; registered && i < count; i++)
        registered = CU_add_test(suite, tests[i].name, tests[i].fn) != NULL;
    if (!registered) {
        fprintf(stderr, "%s: cannot register the tests: %s\n", suite_name, CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests(); /* returns 0 even when tests failed: the counts tell */
    /* Read before CU_cleanup_registry, which resets them. A failed init hook skips every
     * test and a failed cleanup hook leaves its teardown undone; neither is an assertion, so
     * both are added here or the run would exit 0. */
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failures > 255 ? 255 : (int)failures; /* an exit status keeps 8 bits: 256 reads as 0 */
}

static inline int nb_test_run(const char *suite_name, const nb_test_case *tests, size_t count) {
    return nb_test_run_with_hooks(suite_name, NULL, NULL, tests, count);
}

/* ---- the fixtures of tests/data/ ---------------------------------------------------------
 * Written by scripts under reference/: '#' comments, blank lines, and lines of tokens split
 * by spaces or tabs (and the '\r' of a CRLF checkout). Three header lines come first:
 * `fixture <name> 1`, `torch <version>`, `capability <cpu capability>`. */

#define NB_TEST_FIXTURE_SPACE " \t\r"

typedef struct nb_test_fixture {
    const char *path;
    char *text;                             /* the whole file, malloc'd; cut into lines in place as they are read */
    char *rest;                             /* the line after the current one, NULL after the last */
    char *save;                             /* strtok_r's place in the current line */
    int line;                               /* the current line's number, comments and blank lines counted */
    char torch_version[64], capability[32]; /* from the header, for reports */
    char *error;                            /* where a failure's message goes */
    size_t error_size;
} nb_test_fixture;

/* Records "<path>:<line>: <message>" as the reader's error and returns false, so a parser
 * reads `return nb_test_fixture_error(rd, "bad op line");`. */
static inline bool nb_test_fixture_error(nb_test_fixture *rd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline bool nb_test_fixture_error(nb_test_fixture *rd, const char *fmt, ...) {
    int n = snprintf(rd->error, rd->error_size, "%s:%d: ", rd->path, rd->line);
    if (n >= 0 && (size_t)n < rd->error_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rd->error + n, rd->error_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The next token of the current line; NULL at its end. */
static inline const char *nb_test_fixture_token(nb_test_fixture *rd) {
    return strtok_r(NULL, NB_TEST_FIXTURE_SPACE, &rd->save);
}

/* The first word of the next line that is neither a comment nor blank, its other tokens left
 * for nb_test_fixture_token; NULL at the end of the file. The text is split by hand, since
 * strtok_r on "\n" would merge blank lines and lose the line numbers messages give. */
static inline const char *nb_test_fixture_next(nb_test_fixture *rd) {
    while (rd->rest) {
        char *line = rd->rest;
        char *nl = strchr(line, '\n');
        rd->rest = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        rd->line++;
        if (line[0] != '#' && line[strspn(line, NB_TEST_FIXTURE_SPACE)] != '\0')
            return strtok_r(line, NB_TEST_FIXTURE_SPACE, &rd->save);
    }
    return NULL;
}

static inline void nb_test_fixture_close(nb_test_fixture *rd) {
    free(rd->text);
    rd->text = rd->rest = NULL;
}

/* Reads the fixture at `path` whole and checks its header: `fixture <name> 1`, a torch
 * 1.13 release (torch promises no RNG stability across releases; nabla replicates 1.13) and
 * capability `default` (the scalar code path nabla replicates). On success the reader stands
 * before the first line after the header; close it with nb_test_fixture_close. On failure the
 * message is in `error`, naming `script` when the file is missing, and nothing is left open. */
static inline bool nb_test_fixture_open(nb_test_fixture *rd, const char *path, const char *name, const char *script,
                                        char *error, size_t error_size) {
    *rd = (nb_test_fixture){.path = path, .error = error, .error_size = error_size};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(error, error_size, "cannot open %s: %s (regenerate it with /usr/bin/python3 %s)", path,
                 strerror(errno), script);
        return false;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *grown = realloc(text, cap);
            if (!grown) {
                ok = false;
                break;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    ok = ok && !ferror(f) && text;
    fclose(f);
    if (!ok) {
        free(text);
        snprintf(error, error_size, "error reading %s", path);
        return false;
    }
    text[len] = '\0';
    rd->text = rd->rest = text;
    if (strlen(text) != len) { /* the line splitting would stop there, unnoticed */
        nb_test_fixture_close(rd);
        snprintf(error, error_size, "%s contains a NUL byte", path);
        return false;
    }
    static const char *const expect[3] = {"fixture", "torch", "capability"};
    for (int h = 0; h < 3; h++) {
        const char *word = nb_test_fixture_next(rd);
        const char *a = word ? nb_test_fixture_token(rd) : NULL;
        const char *b = a ? nb_test_fixture_token(rd) : NULL;
        if (!word || strcmp(word, expect[h]) != 0 || !a)
            ok = nb_test_fixture_error(rd, "expected the '%s' header line", expect[h]);
        else if (h == 0 && (strcmp(a, name) != 0 || !b || strcmp(b, "1") != 0))
            ok = nb_test_fixture_error(rd, "not a %s version 1 fixture", name);
        else if (h == 1 && strncmp(a, "1.13", 4) != 0)
            ok = nb_test_fixture_error(rd, "fixture comes from torch %s, not 1.13", a);
        else if (h == 2 && strcmp(a, "default") != 0)
            ok = nb_test_fixture_error(rd,
                                       "fixture was generated with capability '%s', not "
                                       "'default'",
                                       a);
        if (!ok) {
            nb_test_fixture_close(rd);
            return false;
        }
        if (h == 1) snprintf(rd->torch_version, sizeof rd->torch_version, "%s", a);
        if (h == 2) snprintf(rd->capability, sizeof rd->capability, "%s", a);
    }
    return true;
}

/* Whole-token numbers: NULL, empty, trailing characters, a sign where none belongs or
 * overflow is false. */
static inline bool nb_test_parse_i64(const char *tok, int64_t lo, int64_t hi, int64_t *out) {
    if (!tok || !*tok) return false;
    char *end;
    errno = 0;
    long long v = strtoll(tok, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static inline bool nb_test_parse_u64(const char *tok, int base, uint64_t *out) {
    if (!tok || !*tok || *tok == '-') return false; /* strtoull would negate it */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(tok, &end, base);
    if (errno || *end) return false;
    *out = v;
    return true;
}

/* The scripts write floats with float.hex(), which strtod reads back exactly. */
static inline bool nb_test_parse_f64(const char *tok, double *out) {
    if (!tok || !*tok) return false;
    char *end;
    errno = 0;
    double v = strtod(tok, &end);
    if (errno || *end) return false;
    *out = v;
    return true;
}

/* `<count> <hex>...` from the current line: count (at most max) element bit patterns of
 * exactly `digits` hex digits each, 8 for f32 and 16 for f64. */
static inline bool nb_test_fixture_bits(nb_test_fixture *rd, size_t max, size_t digits, uint64_t *vals, size_t *count) {
    int64_t n;
    if (!nb_test_parse_i64(nb_test_fixture_token(rd), 0, (int64_t)max, &n)) return false;
    *count = (size_t)n;
    for (size_t i = 0; i < *count; i++) {
        const char *t = nb_test_fixture_token(rd);
        if (!t || strlen(t) != digits || !nb_test_parse_u64(t, 16, &vals[i])) return false;
    }
    return true;
}

/* The fixtures' hash: FNV-1a 64 over the little-endian bytes of every element's bit pattern
 * (width 4 for f32, 8 for f64 and i64), as the scripts compute it. Fold the elements in one
 * call each, from NB_TEST_FNV1A64_BASIS. */
#define NB_TEST_FNV1A64_BASIS UINT64_C(0xcbf29ce484222325)

static inline uint64_t nb_test_fnv1a64_add(uint64_t h, uint64_t bits, size_t width) {
    for (size_t b = 0; b < width; b++) {
        h ^= (bits >> (8 * b)) & 0xffu;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* Element k's bit pattern in a contiguous buffer of `width`-byte floats (4: f32, 8: f64), the
 * form in which the fixtures store values. */
static inline uint64_t nb_test_element_bits(const void *data, size_t width, size_t k) {
    const unsigned char *p = (const unsigned char *)data + k * width;
    if (width == 4) {
        uint32_t b;
        memcpy(&b, p, 4);
        return b;
    }
    uint64_t b;
    memcpy(&b, p, 8);
    return b;
}

#endif
