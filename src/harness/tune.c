/* src/harness/tune.c — see tune.h: the tuning table's path, context and staleness, its saving
 * (merged with the file on disk under a lock, written atomically), the measurements that fill
 * it, and nb_tune_ensure, which makes `--kernel auto` ready before a run. The file's JSON format,
 * written and read, is tune_json.c's. */
#include "harness/tune.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "harness/report.h"
#include "harness/stats.h"
#include "harness/tune_impl.h"
#include "nabla_build_info.h"
#include "tensor/runtime.h"

/* ---- the path -------------------------------------------------------------------------------- */

nb_status nb_tune_path(char *buf, size_t size) {
    const char *file = getenv("NABLA_TUNE_FILE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (file && *file)
        n = snprintf(buf, size, "%s", file);
    else if (xdg && xdg[0] == '/') /* the XDG spec: a relative path is invalid and ignored */
        n = snprintf(buf, size, "%s/nabla/tune.json", xdg);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.cache/nabla/tune.json", home);
    else
        return nb_error(NB_ERR_ARG, "no place for the tuning table: set NABLA_TUNE_FILE (or HOME)");
    if (n < 0 || (size_t)n >= size || (size_t)n >= NB_TUNE_PATH_MAX)
        return nb_error(NB_ERR_ARG, "the tuning table's path is longer than %d characters", NB_TUNE_PATH_MAX - 1);
    return NB_OK;
}

/* ---- context and staleness ------------------------------------------------------------------ */

/* The last commit that touched kernels/ ("-dirty" with uncommitted changes there), captured
 * at build time (cmake/build_info.cmake): the kernels' fingerprint. It changes when a kernel
 * does, and not on the many commits elsewhere in the tree, which a whole-tree revision would
 * turn into a re-tune each; and an installed binary needs no source tree to know it. */
static void kernels_revision(nb_tune_context *ctx) {
    snprintf(ctx->kernels_revision, sizeof ctx->kernels_revision, "%s", NABLA_KERNELS_REVISION);
}

void nb_tune_context_current(nb_tune_context *ctx) {
    memset(ctx, 0, sizeof *ctx);
    /* The CPU model as every nabla report states it. */
    cJSON *report = cJSON_CreateObject();
    if (report) nb_report_context(report);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(report, "cpu_model");
    snprintf(ctx->cpu_model, sizeof ctx->cpu_model, "%s", cJSON_IsString(model) ? model->valuestring : "unknown");
    cJSON_Delete(report);
    ctx->online_cpus = nb_runtime_online_cpus();
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    snprintf(ctx->openblas_coretype, sizeof ctx->openblas_coretype, "%s", coretype ? coretype : "");
    snprintf(ctx->nabla_version, sizeof ctx->nabla_version, "%s", NABLA_VERSION);
    kernels_revision(ctx);
    for (int i = 0; i < nb_kernel_count() && ctx->kernel_count < NB_TUNE_MAX_KERNELS; i++)
        snprintf(ctx->kernels[ctx->kernel_count++], sizeof ctx->kernels[0], "%s", nb_kernel_at(i)->name);
}

static void join_kernels(const nb_tune_context *ctx, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ctx->kernel_count && used + 1 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? "," : "", ctx->kernels[i]);
        if (w < 0) break;
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
    }
}

static bool set_reason(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool set_reason(char *why, size_t size, const char *fmt, ...) {
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return true;
}

/* 'value' in quotes, or unset (an empty OPENBLAS_CORETYPE is the same as none to OpenBLAS). */
static const char *quoted_or_unset(const char *value, char *buf, size_t size) {
    if (!*value) return "unset";
    snprintf(buf, size, "'%s'", value);
    return buf;
}

bool nb_tune_context_stale(const nb_tune_context *table, const nb_tune_context *now, char *why, size_t size) {
    if (strcmp(table->cpu_model, now->cpu_model) != 0)
        return set_reason(why, size, "the CPU changed from '%s' to '%s'", table->cpu_model, now->cpu_model);
    if (table->online_cpus != now->online_cpus)
        return set_reason(why, size, "the online CPU count changed from %d to %d", table->online_cpus,
                          now->online_cpus);
    if (strcmp(table->openblas_coretype, now->openblas_coretype) != 0) {
        char was[sizeof table->openblas_coretype + 2], is[sizeof now->openblas_coretype + 2];
        return set_reason(why, size, "OPENBLAS_CORETYPE changed from %s to %s",
                          quoted_or_unset(table->openblas_coretype, was, sizeof was),
                          quoted_or_unset(now->openblas_coretype, is, sizeof is));
    }
    char a[NB_TUNE_MAX_KERNELS * 33], b[NB_TUNE_MAX_KERNELS * 33];
    join_kernels(table, a, sizeof a);
    join_kernels(now, b, sizeof b);
    if (strcmp(a, b) != 0) return set_reason(why, size, "the kernels changed from %s to %s", a, b);
    if (strcmp(table->nabla_version, now->nabla_version) != 0)
        return set_reason(why, size, "nabla's version changed from %s to %s", table->nabla_version, now->nabla_version);
    if (strcmp(table->kernels_revision, now->kernels_revision) != 0)
        return set_reason(why, size, "kernels/ changed (revision %.12s, now %.12s)", table->kernels_revision,
                          now->kernels_revision);
    return false;
}

/* ---- the table ----------------------------------------------------------------------------------- */

void nb_tune_table_init(nb_tune_table *t, const nb_tune_context *ctx) { *t = (nb_tune_table){.context = *ctx}; }

void nb_tune_table_free(nb_tune_table *t) {
    free(t->entries);
    t->entries = NULL;
    t->count = t->capacity = 0;
}

static bool same_key(const nb_tune_entry *a, const nb_tune_entry *b) {
    return a->dtype == b->dtype && a->threads == b->threads && a->shape.m == b->shape.m && a->shape.n == b->shape.n &&
           a->shape.k == b->shape.k && a->shape.ta == b->shape.ta && a->shape.tb == b->shape.tb;
}

nb_tune_entry *nb_tune_table_find(nb_tune_table *t, const nb_tune_entry *key) {
    for (int i = 0; i < t->count; i++)
        if (same_key(&t->entries[i], key)) return &t->entries[i];
    return NULL;
}

nb_status nb_tune_table_put(nb_tune_table *t, const nb_tune_entry *e) {
    nb_tune_entry *old = nb_tune_table_find(t, e);
    if (old) {
        *old = *e;
        return NB_OK;
    }
    if (t->count == NB_TUNE_MAX_ENTRIES)
        return nb_error(NB_ERR_ARG, "the tuning table is full (%d entries)", NB_TUNE_MAX_ENTRIES);
    if (t->count == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 32;
        nb_tune_entry *grown = realloc(t->entries, (size_t)cap * sizeof *grown);
        if (!grown) return nb_error(NB_ERR_NOMEM, "out of memory growing the tuning table");
        t->entries = grown;
        t->capacity = cap;
    }
    t->entries[t->count++] = *e;
    return NB_OK;
}

int nb_tune_table_count_for(const nb_tune_table *t, nb_dtype dtype, int threads) {
    int n = 0;
    for (int i = 0; i < t->count; i++) n += t->entries[i].dtype == dtype && t->entries[i].threads == threads;
    return n;
}

int nb_tune_entry_runner_up(const nb_tune_entry *e, const nb_tune_context *ctx) {
    int best = -1;
    for (int i = 0; i < ctx->kernel_count; i++)
        if (i != e->winner && e->seconds[i] > 0 && (best < 0 || e->seconds[i] < e->seconds[best])) best = i;
    return best;
}

/* ---- the lock and the merge ------------------------------------------------------------------------ */

/* Takes LOCK_EX on `<path>.lock` (created if missing); *fd gets the descriptor to unlock_table.
 * Blocks: writers hold it for the milliseconds of a write, auto's tuning for its second or so
 * of measuring. When another process holds it, one line on `notes` (if non-NULL) says so. */
static nb_status lock_table(const char *path, int *fd, FILE *notes) {
    char lock[NB_TUNE_PATH_MAX + 8];
    *fd = -1;
    if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
        return nb_error(NB_ERR_ARG, "the tuning table's path is too long: %.40s...", path);
    int f = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return nb_error(NB_ERR_IO, "cannot lock the tuning table: cannot open %s: %s", lock, strerror(errno));
    int rc = flock(f, LOCK_EX | LOCK_NB);
    if (rc != 0 && errno == EWOULDBLOCK) {
        if (notes) {
            fprintf(notes, "nabla: another nabla run is tuning %s; waiting for it\n", path);
            fflush(notes);
        }
        while ((rc = flock(f, LOCK_EX)) != 0 && errno == EINTR) {}
    }
    if (rc != 0) {
        int err = errno;
        close(f);
        return nb_error(NB_ERR_IO, "cannot lock %s: %s", lock, strerror(err));
    }
    *fd = f;
    return NB_OK;
}

/* Closing drops the lock; the file stays (see nb_tune_save). */
static void unlock_table(int fd) {
    if (fd >= 0) close(fd);
}

/* t merged into the file's current table `disk` (same context): the file's entries in its
 * order, t's entries measured now replacing theirs, then t's entries the file lacks. An entry
 * of t not measured now is a copy of an earlier read, so the file's own entry, maybe newer,
 * stays. *kept: the file's entries that stay. */
static nb_status merge_into(nb_tune_table *disk, const nb_tune_table *t, int *kept) {
    const int on_disk = disk->count;
    int replaced = 0;
    for (int i = 0; i < t->count; i++) {
        const nb_tune_entry *e = &t->entries[i];
        const nb_tune_entry *old = nb_tune_table_find(disk, e);
        if (old && !e->measured_now) continue;
        if (old) replaced++; /* t has no product twice, so old is one of the file's */
        NB_TRY(nb_tune_table_put(disk, e));
    }
    *kept = on_disk - replaced;
    return NB_OK;
}

/* The file on disk is broken: t goes beside it. The message says where first: messages are
 * cut at 512 bytes, and `problem` (naming the file) may be long. */
static nb_status write_aside(const char *path, const nb_tune_table *t, nb_status why, const char *problem) {
    char aside[NB_TUNE_PATH_MAX + 32];
    snprintf(aside, sizeof aside, "%s.aside-%ld", path, (long)getpid());
    if (nb_tune_write_file(aside, t) != NB_OK) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", nb_last_error());
        return nb_error(why,
                        "this run's %d entries could not be written, neither to the broken table nor aside "
                        "(%s): %s",
                        t->count, reason, problem);
    }
    return nb_error(why,
                    "this run's %d entries went to %s, not to the broken table (fix or remove it, or move "
                    "that file over it): %s",
                    t->count, aside, problem);
}

/* nb_tune_save's work, with the lock held. */
static nb_status save_locked(const char *path, const nb_tune_table *t, bool replace_broken, nb_tune_save_info *info) {
    nb_tune_table disk;
    bool missing = false;
    nb_status st = nb_tune_read(path, &disk, &missing);
    if (st == NB_ERR_NOMEM) return st;
    if (st != NB_OK && !missing) {
        char problem[sizeof info->moved_broken + 600];
        snprintf(problem, sizeof problem, "%s", nb_last_error());
        if (!replace_broken) return write_aside(path, t, st, problem);
        snprintf(info->moved_broken, sizeof info->moved_broken, "%s.broken", path);
        if (rename(path, info->moved_broken) != 0)
            return nb_error(NB_ERR_IO, "cannot move the unreadable tuning table %s aside to %s: %s", path,
                            info->moved_broken, strerror(errno));
    }
    if (st == NB_OK) info->dropped_stale = nb_tune_context_stale(&disk.context, &t->context, NULL, 0);
    if (st != NB_OK || info->dropped_stale) {
        /* nothing on disk worth keeping: t is the table (a stale one was measured elsewhere;
         * the writer's context wins, as when one run replaces a stale table by itself) */
        nb_tune_table_free(&disk);
        st = nb_tune_write_file(path, t);
        info->written = t->count;
        return st;
    }
    disk.context = t->context; /* the same in every staleness field: the kernel indices agree */
    st = merge_into(&disk, t, &info->kept);
    if (st == NB_OK) st = nb_tune_write_file(path, &disk);
    info->written = disk.count;
    nb_tune_table_free(&disk);
    return st;
}

nb_status nb_tune_save(const char *path, const nb_tune_table *t, bool replace_broken, nb_tune_save_info *info) {
    nb_tune_save_info local;
    if (!info) info = &local;
    *info = (nb_tune_save_info){0};
    NB_TRY(nb_file_make_parent_dirs(path));
    int lock;
    NB_TRY(lock_table(path, &lock, NULL));
    nb_status st = save_locked(path, t, replace_broken, info);
    unlock_table(lock);
    return st;
}

nb_status nb_tune_write(const char *path, const nb_tune_table *t) { return nb_tune_save(path, t, false, NULL); }

/* ---- measuring ----------------------------------------------------------------------------------- */

/* Every product the variants issue at the seed's sizes (N 64, D_in 1000, H 100, D_out 10), as
 * M x N x K with the transposes the dispatcher passes (kernels/README.md lists which variant
 * issues which):
 *   tensors, autograd, custom-function, static-graph: x w1, h w2 (nn); d w2 = h^T dy and
 *     d w1 = x^T dh (tn); dh = dy w2^T (nt)
 *   nn, optim, module, dynamic (nn.Linear keeps W as (out, in)): x W^T (nt); dx = dy W (nn);
 *     dW = dy^T x (tn)
 *   dynamic also reuses its middle (H, H) layer: 64x100x100 nt, nn and 100x100x64 tn. */
static const nb_gemm_shape seed_shapes[] = {
    {64, 100, 1000, NB_NO_TRANS, NB_NO_TRANS}, /* h = x w1 */
    {64, 10, 100, NB_NO_TRANS, NB_NO_TRANS},   /* y_pred = h_relu w2 */
    {100, 10, 64, NB_TRANS, NB_NO_TRANS},      /* d w2 = h_relu^T d y_pred */
    {64, 100, 10, NB_NO_TRANS, NB_TRANS},      /* d h_relu = d y_pred w2^T */
    {1000, 100, 64, NB_TRANS, NB_NO_TRANS},    /* d w1 = x^T d h */
    {64, 100, 1000, NB_NO_TRANS, NB_TRANS},    /* Linear(1000, 100): x W1^T */
    {64, 10, 100, NB_NO_TRANS, NB_TRANS},      /* Linear(100, 10): h W2^T */
    {64, 100, 10, NB_NO_TRANS, NB_NO_TRANS},   /* d h = d y W2 */
    {10, 100, 64, NB_TRANS, NB_NO_TRANS},      /* d W2 = d y^T h */
    {100, 1000, 64, NB_TRANS, NB_NO_TRANS},    /* d W1 = d h^T x */
    {64, 100, 100, NB_NO_TRANS, NB_TRANS},     /* dynamic: Linear(100, 100) */
    {64, 100, 100, NB_NO_TRANS, NB_NO_TRANS},  /* dynamic: its d x */
    {100, 100, 64, NB_TRANS, NB_NO_TRANS},     /* dynamic: its d W */
};

static const nb_gemm_shape square_shapes[] = {
    {64, 64, 64, NB_NO_TRANS, NB_NO_TRANS},       {128, 128, 128, NB_NO_TRANS, NB_NO_TRANS},
    {256, 256, 256, NB_NO_TRANS, NB_NO_TRANS},    {512, 512, 512, NB_NO_TRANS, NB_NO_TRANS},
    {1024, 1024, 1024, NB_NO_TRANS, NB_NO_TRANS},
};

int nb_tune_seed_shapes(const nb_gemm_shape **shapes) {
    *shapes = seed_shapes;
    return (int)(sizeof seed_shapes / sizeof seed_shapes[0]);
}

int nb_tune_square_shapes(const nb_gemm_shape **shapes) {
    *shapes = square_shapes;
    return (int)(sizeof square_shapes / sizeof square_shapes[0]);
}

nb_status nb_tune_measure(nb_tune_table *t, const nb_gemm_shape *shapes, int count, nb_dtype dtype, int threads,
                          const nb_tune_settings *settings, nb_tune_observer *observer, void *observer_ctx) {
    const nb_tune_context *c = &t->context;
    const nb_kernel *all[NB_TUNE_MAX_KERNELS];
    for (int i = 0; i < c->kernel_count; i++) {
        all[i] = nb_kernel_find_concrete(c->kernels[i]);
        if (!all[i]) return nb_error(NB_ERR_ARG, "tuning: '%s' is not a kernel of this build", c->kernels[i]);
    }
    const nb_gemm_timing timing = {
        .dtype = dtype, .threads = threads, .repeats = settings->repeats, .min_time = settings->min_time};
    for (int s = 0; s < count; s++) {
        const nb_gemm_shape *shape = &shapes[s];
        const nb_kernel *timed[NB_TUNE_MAX_KERNELS];
        int index[NB_TUNE_MAX_KERNELS], n = 0;
        bool large = shape->m * shape->n * shape->k > NB_TUNE_NAIVE_MAX_MACS;
        for (int i = 0; i < c->kernel_count; i++)
            if (!(large && !strcmp(c->kernels[i], "naive"))) timed[n] = all[i], index[n++] = i;
        if (n == 0) return nb_error(NB_ERR_ARG, "tuning: no kernel to time");
        nb_stats stats[NB_TUNE_MAX_KERNELS];
        const int64_t since = nb_overlap_clock();
        NB_TRY(nb_gemm_time_kernels(shape, timed, n, &timing, stats));
        /* per product, not per run: a product timed before another run began is clean */
        nb_overlap_report overlap;
        nb_overlap_check(settings->overlap, since, &overlap);
        nb_tune_entry e = {.dtype = dtype,
                           .threads = threads,
                           .shape = *shape,
                           .winner = index[0],
                           .overlap = overlap.status,
                           .measured_now = true};
        if (overlap.status == NB_OVERLAP_FOUND) nb_overlap_describe(&overlap, e.overlapped_by, sizeof e.overlapped_by);
        for (int i = 0; i < n; i++) {
            /* a median of 0 would read as "not timed": the clock cannot resolve less than 1 ns */
            e.seconds[index[i]] = fmax(stats[i].median, 1e-9);
            if (e.seconds[index[i]] < e.seconds[e.winner]) e.winner = index[i];
        }
        NB_TRY(nb_tune_table_put(t, &e));
        if (observer) observer(observer_ctx, t, &e);
    }
    return NB_OK;
}

/* ---- using it ------------------------------------------------------------------------------------- */

nb_status nb_tune_install(const nb_tune_table *t) {
    nb_auto_entry *entries = malloc((size_t)(t->count > 0 ? t->count : 1) * sizeof *entries);
    if (!entries) return nb_error(NB_ERR_NOMEM, "out of memory installing the tuning table");
    nb_status st = NB_OK;
    for (int i = 0; i < t->count && st == NB_OK; i++) {
        const nb_tune_entry *e = &t->entries[i];
        const nb_kernel *kernel = nb_kernel_find_concrete(t->context.kernels[e->winner]);
        if (!kernel)
            st =
                nb_error(NB_ERR_ARG, "tuning table: '%s' is not a kernel of this build", t->context.kernels[e->winner]);
        entries[i] = (nb_auto_entry){.dtype = e->dtype == NB_F64 ? NB_GEMM_F64 : NB_GEMM_F32,
                                     .nthreads = e->threads,
                                     .ta = e->shape.ta,
                                     .tb = e->shape.tb,
                                     .m = e->shape.m,
                                     .n = e->shape.n,
                                     .k = e->shape.k,
                                     .kernel = kernel};
    }
    if (st == NB_OK && !nb_auto_install(entries, t->count))
        st = nb_error(NB_ERR_NOMEM, "out of memory installing the tuning table");
    free(entries);
    return st;
}

/* Whether t, as read from `path` (empty when missing), must be measured for dtype at `threads`
 * threads: *why says why, "" when not. A stale table is emptied: it was measured elsewhere, and
 * none of it is kept. */
static void needs_measuring(const char *path, nb_tune_table *t, bool missing, const nb_tune_context *now,
                            nb_dtype dtype, int threads, char *why, size_t size) {
    char reason[300];
    why[0] = '\0';
    if (missing) {
        snprintf(why, size, "no tuning table at %s", path);
        nb_tune_table_init(t, now);
    } else if (nb_tune_context_stale(&t->context, now, reason, sizeof reason)) {
        snprintf(why, size, "the tuning table %s is stale: %s", path, reason);
        nb_tune_table_free(t);
        nb_tune_table_init(t, now);
    } else if (nb_tune_table_count_for(t, dtype, threads) == 0) {
        snprintf(why, size, "the tuning table %s has nothing for %s at %d thread%s", path, nb_dtype_name(dtype),
                 threads, threads == 1 ? "" : "s");
    }
}

/* nb_tune_read for nb_tune_ensure: a missing file is an empty table, a broken one the error. */
static nb_status read_for_ensure(const char *path, const nb_tune_context *now, nb_dtype dtype, int threads,
                                 nb_tune_table *t, char *why, size_t size) {
    bool missing = false;
    nb_status st = nb_tune_read(path, t, &missing);
    if (st != NB_OK && !missing) return st; /* broken: the user decides, never overwritten here */
    needs_measuring(path, t, missing, now, dtype, threads, why, size);
    return NB_OK;
}

static void note(FILE *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(FILE *notes, const char *fmt, ...) {
    if (!notes) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(notes, fmt, ap);
    va_end(ap);
    fflush(notes);
}

nb_status nb_tune_ensure(const char *path, nb_dtype dtype, int threads, FILE *notes) {
    char default_path[NB_TUNE_PATH_MAX];
    if (!path) {
        NB_TRY(nb_tune_path(default_path, sizeof default_path));
        path = default_path;
    }
    nb_tune_context now;
    nb_tune_context_current(&now);
    nb_tune_table t;
    char why[NB_TUNE_PATH_MAX + 400];
    NB_TRY(read_for_ensure(path, &now, dtype, threads, &t, why, sizeof why));
    if (!*why) { /* current and complete: the common case takes no lock */
        nb_status st = nb_tune_install(&t);
        nb_tune_table_free(&t);
        return st;
    }

    /* It measures. First, in a moment rather than after the measurement, whether the table can
     * be saved: when not, this run still measures and uses the table, unsaved. Then the lock,
     * held through the measurement: runs needing the same entries wait for the first, which
     * saves them, then read them instead of timing each other. */
    char unsaved[NB_TUNE_PATH_MAX + 400] = "";
    int lock = -1;
    if (nb_report_prepare_file(path) != NB_OK || lock_table(path, &lock, notes) != NB_OK)
        snprintf(unsaved, sizeof unsaved, "%s", nb_last_error());
    if (lock >= 0) {
        nb_tune_table_free(&t); /* what the file holds now, under the lock */
        nb_status st = read_for_ensure(path, &now, dtype, threads, &t, why, sizeof why);
        if (st != NB_OK || !*why) { /* broken meanwhile, or measured by the run we waited for */
            unlock_table(lock);
            if (st == NB_OK) st = nb_tune_install(&t);
            nb_tune_table_free(&t);
            return st;
        }
    }
    note(notes, "nabla: %s; measuring the seed's products for %s at %d thread%s\n", why, nb_dtype_name(dtype), threads,
         threads == 1 ? "" : "s");
    if (*unsaved)
        note(notes, "nabla: warning: cannot save the tuning table %s (%s); measuring for this run only\n", path,
             unsaved);

    const nb_gemm_shape *shapes;
    int count = nb_tune_seed_shapes(&shapes);
    nb_tune_settings quick = NB_TUNE_QUICK_SETTINGS;
    quick.overlap = nb_overlap_begin("nabla tune (--kernel auto)");
    nb_status st = nb_tune_measure(&t, shapes, count, dtype, threads, &quick, NULL, NULL);
    nb_overlap_report overlap;
    nb_overlap_end(quick.overlap, &overlap);
    nb_overlap_warn(notes, "nabla", &overlap);
    if (st == NB_OK && lock >= 0 && save_locked(path, &t, false, &(nb_tune_save_info){0}) != NB_OK)
        note(notes,
             "nabla: warning: could not save the tuning table %s (%s); this run uses what it measured, the next "
             "measures again\n",
             path, nb_last_error());
    unlock_table(lock);
    if (st == NB_OK) st = nb_tune_install(&t);
    nb_tune_table_free(&t);
    return st;
}
