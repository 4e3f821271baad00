/* src/harness/bench_compare.h — reading back a bench.json for `nabla bench --compare OLD NEW`:
 * each case's key ("variant kernel threads") and its timing samples. From a file or from
 * bytes in memory (the same checks; tests/fuzz/ feeds the latter arbitrary bytes). */
#ifndef NB_HARNESS_BENCH_COMPARE_H
#define NB_HARNESS_BENCH_COMPARE_H

#include <stddef.h>

#include "base/error.h"

/* The most samples a case can hold: bench's --repeats limit (bench_cmd.c checks they agree). */
#define NB_BENCH_MAX_SAMPLES 100
/* The most cases a bench run holds (bench_cmd.c's matrix limit). */
#define NB_BENCH_MAX_CASES 512
/* The largest bench.json read: 4 MiB less the terminating NUL. */
#define NB_BENCH_MAX_JSON_BYTES (((size_t)1 << 22) - 1)

typedef struct nb_bench_saved_case {
    char key[160]; /* "variant kernel threads" */
    double samples[NB_BENCH_MAX_SAMPLES]; /* each > 0 */
    int n;
} nb_bench_saved_case;

/* Parses the `len` bytes of a bench.json (no terminating NUL needed; as before, text after a
 * NUL byte is not read) into a calloc'd array (*cases, free() it) of *count cases. Messages
 * start with `path` (NULL: "(buffer)"). NB_ERR_FORMAT when there is no "cases" list or a case
 * lacks a field or has a sample that is not a positive number; *cases NULL on failure. */
nb_status nb_bench_json_parse(const char *text, size_t len, const char *path, nb_bench_saved_case **cases,
                              int *count);

/* The same on the file at path: NB_ERR_IO when it cannot be read. */
nb_status nb_bench_json_load(const char *path, nb_bench_saved_case **cases, int *count);

/* `nabla bench --compare OLD NEW`: prints the comparison and returns the exit code. */
int nb_bench_compare_files(const char *old_path, const char *new_path);

#endif
