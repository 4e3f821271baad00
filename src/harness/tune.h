/* src/harness/tune.h — the tuning table behind `--kernel auto`: which concrete kernel was
 * fastest for each product (dtype, threads, shape), measured by `nabla tune` and kept in a JSON
 * file with the context it was measured in, so a table from another machine, environment or
 * kernel revision is recognised as stale and measured again. Concurrent writers merge under a
 * lock file instead of overwriting each other. kernels/README.md describes the file, its path,
 * the staleness rule and the locking. */
#ifndef NB_HARNESS_TUNE_H
#define NB_HARNESS_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"
#include "harness/gemm_timing.h"
#include "harness/overlap.h"
#include "kernels/gemm.h"
#include "tensor/tensor.h"

#define NB_TUNE_FORMAT "nabla-tune"
#define NB_TUNE_VERSION 1
#define NB_TUNE_MAX_KERNELS 16
#define NB_TUNE_MAX_ENTRIES 4096
#define NB_TUNE_PATH_MAX 1024
#define NB_TUNE_OVERLAP_MAX 128

/* Naive is timed only up to this many multiply-adds (m * n * k, 256^3): there one call lasts
 * tens of milliseconds. Above it a call lasts from a quarter of a second to seconds and naive is
 * about 20x slower than blocked (kernels/README.md has the figures), so it is not timed. */
#define NB_TUNE_NAIVE_MAX_MACS ((int64_t)1 << 24)

/* What a table's measurements depend on; a table is stale when any of it differs from now.
 * Build type, compiler and flags are recorded in the file but are not in here: several builds
 * of one checkout (release, debug, sanitizers) share the cache file, and making them stale for
 * each other would re-measure on every switch. */
typedef struct nb_tune_context {
    char cpu_model[128];
    int online_cpus;
    char openblas_coretype[64]; /* "" when OPENBLAS_CORETYPE is unset */
    char nabla_version[32];
    char kernels_revision[64];             /* the last commit that touched kernels/, "unknown" without git */
    char kernels[NB_TUNE_MAX_KERNELS][32]; /* the registry's concrete kernels, in its order */
    int kernel_count;
} nb_tune_context;

/* One measured product: every kernel's median seconds per call, and the winner. */
typedef struct nb_tune_entry {
    nb_dtype dtype;
    int threads;
    nb_gemm_shape shape;
    int winner;                          /* index into the table's context.kernels */
    double seconds[NB_TUNE_MAX_KERNELS]; /* per context.kernels; 0 when not timed */
    /* Whether another nabla measurement ran while this product was timed (overlap.h); a table
     * written before nabla recorded it reads as unknown. overlapped_by names the runs when found
     * ("nabla bench (pid 1234)"), else is empty. Saved as "overlapped" and "overlapped_by". */
    nb_overlap_status overlap;
    char overlapped_by[NB_TUNE_OVERLAP_MAX];
    /* Measured by this process (nb_tune_measure), not read from the file; not saved. When the
     * table is written, these replace the file's entry for the same product, and the others
     * (copies of what the file held earlier) yield to what it holds now. */
    bool measured_now;
} nb_tune_entry;

typedef struct nb_tune_table {
    nb_tune_context context;
    nb_tune_entry *entries;
    int count, capacity;
} nb_tune_table;

/* How long to measure: nb_gemm_timing's repeats and min_time; and the registered run
 * (nb_overlap_begin) each product's overlap is checked against, NULL: recorded as unknown. */
typedef struct nb_tune_settings {
    int repeats;
    double min_time;
    nb_overlap *overlap;
} nb_tune_settings;

/* `nabla tune`'s defaults, and --quick's (also what an automatic re-tune uses). */
#define NB_TUNE_DEFAULT_SETTINGS ((nb_tune_settings){.repeats = 5, .min_time = 0.02})
#define NB_TUNE_QUICK_SETTINGS ((nb_tune_settings){.repeats = 2, .min_time = 0.005})

/* ---- where the table lives -------------------------------------------------------------------- */

/* $NABLA_TUNE_FILE when set and non-empty, else $XDG_CACHE_HOME/nabla/tune.json (when that is
 * an absolute path, as the XDG spec requires), else $HOME/.cache/nabla/tune.json. NB_ERR_ARG
 * when none applies or the path does not fit NB_TUNE_PATH_MAX. */
nb_status nb_tune_path(char *buf, size_t size);

/* ---- context and staleness ---------------------------------------------------------------- */

/* The context of this process now. */
void nb_tune_context_current(nb_tune_context *ctx);

/* Whether a table measured in `table` is stale now (`now`); when it is, *why (if non-NULL)
 * gets a short reason naming both values, e.g. "the CPU changed from 'A' to 'B'". */
bool nb_tune_context_stale(const nb_tune_context *table, const nb_tune_context *now, char *why, size_t size);

/* ---- the table ------------------------------------------------------------------------------- */

/* An empty table measured in `ctx`. */
void nb_tune_table_init(nb_tune_table *t, const nb_tune_context *ctx);
void nb_tune_table_free(nb_tune_table *t);

/* Adds e, replacing an entry for the same dtype, threads and shape. */
nb_status nb_tune_table_put(nb_tune_table *t, const nb_tune_entry *e);
/* How many entries the table has for dtype at `threads` threads. */
int nb_tune_table_count_for(const nb_tune_table *t, nb_dtype dtype, int threads);
/* The entry's runner-up (the second-fastest timed kernel), -1 when only one was timed. */
int nb_tune_entry_runner_up(const nb_tune_entry *e, const nb_tune_context *ctx);

/* Reads and checks the file. Every field is validated (types, ranges, known kernel names, no
 * duplicate entries); NB_ERR_FORMAT names the file and the problem and says to run `nabla
 * tune`. A missing file is NB_ERR_IO with *missing set (if non-NULL), so callers can tell it
 * from an unreadable or broken one. On failure *t is left empty. */
nb_status nb_tune_read(const char *path, nb_tune_table *t, bool *missing);

/* nb_tune_read's checks on the `len` bytes of a file's contents in memory (no terminating NUL
 * needed), messages naming `path` (NULL: "(buffer)"). On failure *t is left empty. */
nb_status nb_tune_parse(const char *text, size_t len, const char *path, nb_tune_table *t);

/* The table as nb_tune_parse reads it, without the report context nb_tune_write adds (the
 * staleness fields only), in a malloc'd string (*text, free() it). */
nb_status nb_tune_format(const nb_tune_table *t, char **text);

/* What nb_tune_save did. */
typedef struct nb_tune_save_info {
    int written;                              /* entries in the file written */
    int kept;                                 /* of them, the file's entries (not replaced by t's measured now) */
    bool dropped_stale;                       /* the file on disk was stale for t's context: its entries went */
    char moved_broken[NB_TUNE_PATH_MAX + 16]; /* replace_broken: where the broken file went, else "" */
} nb_tune_save_info;

/* Saves t to `path`, merged with what the file holds now, so that concurrent runs keep each
 * other's results. Under an exclusive flock(2) on `<path>.lock` (created if missing, never
 * removed: a lock file deleted while another process waits on it would let two writers in), it
 * reads the file again and merges: t's entries with measured_now replace the file's entry for
 * the same product, the file's other entries are kept when its context is current for t's (not
 * stale), and t's remaining entries fill in what the file lacks; a stale file's entries are
 * dropped. Then it writes the result atomically (nb_file_write_text_atomic: a temporary file
 * in the same directory, fsync, rename; readers need no lock), creating the parent directories,
 * and unlocks. The file's context is this run's report context (nb_report_context: compiler,
 * flags, date...) with t's staleness fields.
 * A file on disk that is broken (or unreadable) is never replaced silently: with replace_broken
 * (`nabla tune`, whose user was told) it is renamed to `<path>.broken` first; without, t is
 * written to `<path>.aside-<pid>` instead and the status is NB_ERR_FORMAT (or NB_ERR_IO), the
 * message naming both files. `info` may be NULL. */
nb_status nb_tune_save(const char *path, const nb_tune_table *t, bool replace_broken, nb_tune_save_info *info);

/* nb_tune_save without replace_broken. */
nb_status nb_tune_write(const char *path, const nb_tune_table *t);

/* ---- measuring --------------------------------------------------------------------------------- */

/* The products the training variants issue at the seed's sizes (batch 64, D_in 1000, H 100,
 * D_out 10): what `nabla tune --quick` and an automatic re-tune measure. */
int nb_tune_seed_shapes(const nb_gemm_shape **shapes);
/* The squares 64, 128, ..., 1024 that `nabla tune` adds by default. */
int nb_tune_square_shapes(const nb_gemm_shape **shapes);

/* Called after each product is measured, with the entry just put into the table. */
typedef void nb_tune_observer(void *ctx, const nb_tune_table *t, const nb_tune_entry *e);

/* Times every concrete kernel of the table's context (naive only up to NB_TUNE_NAIVE_MAX_MACS)
 * on each shape with nb_gemm_time_kernels, and puts the winners into t, marked measured_now,
 * each with whether another run overlapped its timing (settings->overlap). The table's context
 * must be the current one: its kernel list is the registry's. */
nb_status nb_tune_measure(nb_tune_table *t, const nb_gemm_shape *shapes, int count, nb_dtype dtype, int threads,
                          const nb_tune_settings *settings, nb_tune_observer *observer, void *observer_ctx);

/* ---- using it --------------------------------------------------------------------------------- */

/* Hands the table's winners to the auto kernel (nb_auto_install). */
nb_status nb_tune_install(const nb_tune_table *t);

/* Makes auto ready for dtype at `threads` threads, from the table at `path` (NULL: nb_tune_path):
 * loads it; when it is missing, stale, or has no entry for dtype and threads, it measures the
 * seed's products for dtype and threads with NB_TUNE_QUICK_SETTINGS (a stale table's entries
 * are dropped, a fresh one's kept) and saves them (nb_tune_save); then installs the table.
 * Before measuring it checks that the file's directory takes a file, and takes the table's lock
 * for the measurement and the save, so that concurrent runs needing the same entries measure
 * them once (a waiting run reads what the first saved) and never time each other.
 * On `notes` (if non-NULL), one line each: why it measures; a warning when the table cannot be
 * saved (found before measuring, or when the save fails), after which it still measures and
 * installs the table for this run; a warning when another nabla measurement overlapped. Only a
 * broken file (an error, never replaced) or a failure to measure or install fails it. */
nb_status nb_tune_ensure(const char *path, nb_dtype dtype, int threads, FILE *notes);

#endif
