/* tests/fuzz/fuzz.h — what the fuzz targets share: FUZZ_CHECK, an invariant that aborts (so
 * libFuzzer, and the replay driver under ctest, report the input that broke it), and the
 * check that an input left none of nabla's allocations behind. Header-only: each target is
 * one .c file built both for libFuzzer (clang) and for replay.c (any compiler). */
#ifndef NB_TESTS_FUZZ_H
#define NB_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the reader under test: on failure print what broke and abort (libFuzzer
 * saves the input as a crash; replay.c names the file). */
#define FUZZ_CHECK(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s: ", __FILE__, __LINE__, #cond);                          \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* nb_alloc blocks live now: an input must leave as many as it found (ASan's leak checker
 * sees malloc; this sees nabla's own allocator, whose cache may hide a leak from it). */
static inline size_t fuzz_live_blocks(void) {
    nb_alloc_counts c;
    nb_alloc_stats(&c);
    return c.live_blocks;
}

/* A string the reader kept, which messages and reports quote: no control characters. */
static inline void fuzz_check_one_line(const char *s) {
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        FUZZ_CHECK(*c >= 0x20 && *c != 0x7f, "'%s' holds byte 0x%02x", s, *c);
}

/* A failed read leaves a one-line message that starts with the name it was given. */
static inline void fuzz_check_message(const char *name) {
    const char *msg = nb_last_error();
    FUZZ_CHECK(msg && strncmp(msg, name, strlen(name)) == 0, "message '%s' does not start with '%s'", msg, name);
    fuzz_check_one_line(msg);
}

#endif
