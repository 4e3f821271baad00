/* src/harness/bench_compare.h — reading back a bench.json for `nabla bench --compare OLD NEW`:
 * each case's key ("variant kernel threads", plus its neighbours and sizes when they are not
 * the default: nb_bench_case_suffix) and timing samples, and the run's settings, so a
 * comparison can refuse two runs that did not measure the same thing. From a file or from
 * bytes in memory (the same checks; tests/fuzz/ feeds the latter arbitrary bytes). */
#ifndef NB_HARNESS_BENCH_COMPARE_H
#define NB_HARNESS_BENCH_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The most samples a case can hold: bench's --repeats limit (bench_cmd.c checks they agree). */
#define NB_BENCH_MAX_SAMPLES 100
/* The most cases a bench run holds (bench_cmd.c's matrix limit); a file with more is refused
 * before anything is allocated for them. */
#define NB_BENCH_MAX_CASES 512
/* The largest bench.json read: 4 MiB less the terminating NUL. */
#define NB_BENCH_MAX_JSON_BYTES (((size_t)1 << 22) - 1)
/* The longest setting value kept (a compiler's flags, a CPU's name), and the longest name in
 * the config's "lr" and "environment" objects; a longer one is a format error, never cut,
 * since two cut values could compare equal. */
#define NB_BENCH_MAX_VALUE 512
#define NB_BENCH_MAX_NAME 64
/* The most entries of config.lr (one per variant) or config.environment. */
#define NB_BENCH_MAX_NAMED 32

typedef struct nb_bench_saved_case {
    char key[256];                        /* "variant kernel threads", then nb_bench_case_suffix's */
    double samples[NB_BENCH_MAX_SAMPLES]; /* each > 0 */
    int n;
} nb_bench_saved_case;

/* The sizes of a case's network, in this order: --batch, --d-in, --hidden, --d-out. */
enum { NB_BENCH_SIZES = 4 };

/* What makes a case's key longer than "variant kernel threads" (bench writes it, --compare
 * pairs cases by it): " +Nnb" with N busy neighbours (N > 0), then each size that differs from
 * the run's seed network, "N" batch, "D" d_in, "H" hidden, "O" d_out: " +1nb N512 H1024". A
 * seed-sized case with no neighbours gets "", so it keeps the key it had before either
 * dimension existed. A seed size of -1 (not recorded) matches nothing. */
void nb_bench_case_suffix(int64_t neighbours, const int64_t sizes[NB_BENCH_SIZES], const int64_t seed[NB_BENCH_SIZES],
                          char *buf, size_t size);

/* What a setting is to a comparison. */
typedef enum nb_bench_setting_kind {
    NB_BENCH_MEASURE, /* changes what one sample measures (iters, dtype, sizes): must be equal */
    NB_BENCH_MACHINE, /* the machine or the build: must be equal too (another machine is no regression) */
    NB_BENCH_NOTED,   /* may differ without changing a sample (repeats): said when it does */
    NB_BENCH_HEADER,  /* differs between any two runs one compares (revision, date): printed, never checked */
    NB_BENCH_RUN      /* how far the run got (rounds_done, interrupted): checked on its own */
} nb_bench_setting_kind;

/* The fixed settings of a bench.json; nb_bench_setting_name and _kind describe each. */
typedef enum nb_bench_setting_id {
    NB_BENCH_DTYPE,
    NB_BENCH_ITERS,
    NB_BENCH_WARMUP,
    NB_BENCH_BATCH,
    NB_BENCH_D_IN,
    NB_BENCH_HIDDEN,
    NB_BENCH_D_OUT,
    NB_BENCH_SEED,
    NB_BENCH_CPU_MODEL,
    NB_BENCH_ONLINE_CPUS,
    NB_BENCH_USABLE_CPUS,
    NB_BENCH_OPENBLAS_CORETYPE,
    NB_BENCH_OPENBLAS_L2_SIZE,
    NB_BENCH_NABLA_ISA,
    NB_BENCH_OPENBLAS_CONFIG,
    NB_BENCH_OPENBLAS_CORE,
    NB_BENCH_OPENBLAS_THREADING,
    NB_BENCH_COMPILER,
    NB_BENCH_C_FLAGS,
    NB_BENCH_BUILD_TYPE,
    NB_BENCH_TORCH_VERSION,
    NB_BENCH_REPEATS,
    NB_BENCH_NEIGHBOURS,
    NB_BENCH_OMP_NUM_THREADS,
    NB_BENCH_OPENBLAS_NUM_THREADS,
    NB_BENCH_NABLA_KERNEL,
    NB_BENCH_NABLA_VERSION,
    NB_BENCH_GIT_REVISION,
    NB_BENCH_GIT_DIRTY,
    NB_BENCH_DATE,
    NB_BENCH_ROUNDS_DONE,
    NB_BENCH_INTERRUPTED,
    NB_BENCH_SETTING_COUNT
} nb_bench_setting_id;

/* "iters", "OPENBLAS_CORETYPE", ... (NULL out of range). */
const char *nb_bench_setting_name(nb_bench_setting_id id);
nb_bench_setting_kind nb_bench_setting_kind_of(nb_bench_setting_id id);

/* One setting as text, the same text for the same value in any file: integers in decimal,
 * other numbers in the shortest of %.15g / %.17g that reads back exactly, true / false, and
 * "unset" for an environment variable that was not set (JSON null). */
typedef struct nb_bench_value {
    bool known;   /* false: the file does not record it (an older bench.json) */
    bool is_null; /* JSON null (an unset variable, no twin): "unset" in text, yet never equal to a value "unset" */
    char text[NB_BENCH_MAX_VALUE];
} nb_bench_value;

typedef struct nb_bench_named {
    char name[NB_BENCH_MAX_NAME];
    bool is_null;
    char text[NB_BENCH_MAX_VALUE];
} nb_bench_named;

/* An object of the config whose keys are not fixed: "lr" (variant -> learning rate) and
 * "environment" (variable -> value or "unset"). count -1: the file has no such object. */
typedef struct nb_bench_named_list {
    int count;
    nb_bench_named item[NB_BENCH_MAX_NAMED];
} nb_bench_named_list;

/* A run's settings (about 60 KiB: allocate it, or keep it static). */
typedef struct nb_bench_settings {
    nb_bench_value value[NB_BENCH_SETTING_COUNT]; /* by nb_bench_setting_id */
    nb_bench_named_list lr;
    nb_bench_named_list environment;
    /* the same as value[] holds, as numbers, for the checks on them: -1 when not recorded */
    int64_t repeats, rounds_done;
    int interrupted; /* 1, 0, -1 */
    /* context.overlapped_by (harness/overlap.h): 1 when other nabla measurements ran during
     * the run (named in overlapped_by, "; "-separated), 0 when none did, -1 unknown or not
     * recorded. Not a setting: a warning, since such samples include another run's load. */
    int overlapped;
    char overlapped_by[NB_BENCH_MAX_VALUE];
} nb_bench_settings;

/* Parses the `len` bytes of a bench.json (no terminating NUL needed; as before, text after a
 * NUL byte is not read) into a calloc'd array (*cases, free() it) of *count cases and the
 * run's *settings (a setting the file lacks is left unknown; one it holds must have the right
 * type and range). Messages start with `path` (NULL: "(buffer)"). NB_ERR_FORMAT when there is
 * no "cases" list, more than NB_BENCH_MAX_CASES cases, a case that lacks a field, repeats a key
 * or has a sample that is not a positive number, or a setting of the wrong type or range; on
 * failure *cases is NULL, *count 0 and *settings all unknown. */
nb_status nb_bench_json_parse(const char *text, size_t len, const char *path, nb_bench_saved_case **cases, int *count,
                              nb_bench_settings *settings);

/* The same on the file at path: NB_ERR_IO when it cannot be read. */
nb_status nb_bench_json_load(const char *path, nb_bench_saved_case **cases, int *count, nb_bench_settings *settings);

/* One setting that differs between two runs, or that one of them does not record. The
 * pointers point into the two settings compared (and into a static name table). */
typedef struct nb_bench_difference {
    nb_bench_setting_kind kind;
    const char *name;      /* "iters", "lr", an environment variable */
    const char *qualifier; /* the variant for "lr", else NULL */
    const char *old_text;  /* NULL: OLD does not record it */
    const char *new_text;  /* NULL: NEW does not record it */
} nb_bench_difference;

/* Room for every difference two settings can have. */
#define NB_BENCH_MAX_DIFFERENCES (NB_BENCH_SETTING_COUNT + 4 * NB_BENCH_MAX_NAMED + 2)

/* The settings of kinds MEASURE, MACHINE and NOTED that differ between old and new, or that
 * one side (or both) does not record, into out (NB_BENCH_MAX_DIFFERENCES entries); returns
 * how many. Environment variables of config.environment are MEASURE; an "lr" entry counts
 * only for a variant both record; a torch_version of null (no twin ran) matches anything. */
int nb_bench_settings_diff(const nb_bench_settings *old, const nb_bench_settings *new, nb_bench_difference *out);

/* Whether a difference stops a comparison: a MEASURE or MACHINE setting both sides record. */
bool nb_bench_difference_refuses(const nb_bench_difference *d);

/* `nabla bench --compare OLD NEW [--force]`: prints the comparison and returns the exit code
 * (commands.h): 0 compared; 1 a file unreadable, holding no complete round, or measured under
 * other settings than the other (without force); 2 a usage error. */
int nb_bench_compare_files(const char *old_path, const char *new_path, bool force);

/* The arguments after `--compare` (OLD NEW, --force anywhere among them, or --help). */
int nb_bench_compare_command(int argc, char **argv);

#endif
