/* src/harness/tune.c — see tune.h: the tuning table's path, context and staleness, its JSON
 * file (merged with the file on disk under a lock and written atomically, read back with every
 * field checked), the measurements that fill it, and nb_tune_ensure, which makes `--kernel auto`
 * ready before a run. */
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

#include "harness/report.h"
#include "harness/stats.h"
#include "nabla_build_info.h"
#include "tensor/runtime.h"

#define HINT "(run 'nabla tune' to measure a new table)"
#define MAX_FILE_BYTES (8u << 20)

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

/* mkdir -p of the directory `path` is in. */
static nb_status make_parent_dirs(const char *path) {
    char dir[NB_TUNE_PATH_MAX];
    if (strlen(path) >= sizeof dir)
        return nb_error(NB_ERR_ARG, "the path %.40s... is longer than %zu characters", path, sizeof dir - 1);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return NB_OK; /* the current directory, or / */
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return nb_error(NB_ERR_IO, "cannot create the directory %s: %s", dir, strerror(errno));
            if (end) break;
            *p = '/';
        }
    }
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

void nb_tune_table_init(nb_tune_table *t, const nb_tune_context *ctx) {
    *t = (nb_tune_table){.context = *ctx};
}

void nb_tune_table_free(nb_tune_table *t) {
    free(t->entries);
    t->entries = NULL;
    t->count = t->capacity = 0;
}

static bool same_key(const nb_tune_entry *a, const nb_tune_entry *b) {
    return a->dtype == b->dtype && a->threads == b->threads && a->shape.m == b->shape.m && a->shape.n == b->shape.n &&
           a->shape.k == b->shape.k && a->shape.ta == b->shape.ta && a->shape.tb == b->shape.tb;
}

static nb_tune_entry *find_entry(nb_tune_table *t, const nb_tune_entry *key) {
    for (int i = 0; i < t->count; i++)
        if (same_key(&t->entries[i], key)) return &t->entries[i];
    return NULL;
}

nb_status nb_tune_table_put(nb_tune_table *t, const nb_tune_entry *e) {
    nb_tune_entry *old = find_entry(t, e);
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

/* ---- writing ----------------------------------------------------------------------------------- */

/* Sets obj[key] to item, replacing what nb_report_context put there. */
static void set_item(cJSON *obj, const char *key, cJSON *item) {
    if (cJSON_HasObjectItem(obj, key))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
    else
        cJSON_AddItemToObject(obj, key, item);
}

static cJSON *context_json(const nb_tune_context *c, bool report_context) {
    cJSON *ctx = cJSON_CreateObject();
    if (!ctx) return NULL;
    /* compiler, flags, build type, date...: for the reader, not for staleness (nb_tune_format
     * leaves them out: it is the table alone, and nb_report_context runs git) */
    if (report_context) nb_report_context(ctx);
    set_item(ctx, "cpu_model", cJSON_CreateString(c->cpu_model));
    set_item(ctx, "online_cpus", cJSON_CreateNumber(c->online_cpus));
    cJSON *env = cJSON_GetObjectItemCaseSensitive(ctx, "environment");
    if (!cJSON_IsObject(env)) {
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, "environment");
        env = cJSON_AddObjectToObject(ctx, "environment");
    }
    if (env)
        set_item(env, "OPENBLAS_CORETYPE",
                 *c->openblas_coretype ? cJSON_CreateString(c->openblas_coretype) : cJSON_CreateNull());
    set_item(ctx, "nabla_version", cJSON_CreateString(c->nabla_version));
    set_item(ctx, "kernels_revision", cJSON_CreateString(c->kernels_revision));
    cJSON *names = cJSON_CreateArray();
    for (int i = 0; names && i < c->kernel_count; i++) cJSON_AddItemToArray(names, cJSON_CreateString(c->kernels[i]));
    set_item(ctx, "kernels", names);
    return ctx;
}

static cJSON *entry_json(const nb_tune_entry *e, const nb_tune_context *c) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "dtype", nb_dtype_name(e->dtype));
    cJSON_AddNumberToObject(j, "threads", e->threads);
    cJSON_AddNumberToObject(j, "m", (double)e->shape.m);
    cJSON_AddNumberToObject(j, "n", (double)e->shape.n);
    cJSON_AddNumberToObject(j, "k", (double)e->shape.k);
    cJSON_AddBoolToObject(j, "ta", e->shape.ta == NB_TRANS);
    cJSON_AddBoolToObject(j, "tb", e->shape.tb == NB_TRANS);
    cJSON_AddStringToObject(j, "kernel", c->kernels[e->winner]);
    cJSON *secs = cJSON_AddObjectToObject(j, "seconds"); /* median per call; untimed kernels left out */
    for (int i = 0; secs && i < c->kernel_count; i++)
        if (e->seconds[i] > 0) cJSON_AddNumberToObject(secs, c->kernels[i], e->seconds[i]);
    /* null: not known (the runtime directory was unusable, or an older nabla measured it) */
    if (e->overlap == NB_OVERLAP_UNKNOWN)
        cJSON_AddNullToObject(j, "overlapped");
    else
        cJSON_AddBoolToObject(j, "overlapped", e->overlap == NB_OVERLAP_FOUND);
    if (e->overlap == NB_OVERLAP_FOUND && e->overlapped_by[0])
        cJSON_AddStringToObject(j, "overlapped_by", e->overlapped_by);
    return j;
}

/* The table's text, cJSON_Print'ed (cJSON_free it), or NULL when out of memory. */
static char *table_text(const nb_tune_table *t, bool report_context) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok) {
        cJSON_AddStringToObject(root, "format", NB_TUNE_FORMAT);
        cJSON_AddNumberToObject(root, "version", NB_TUNE_VERSION);
        cJSON *ctx = context_json(&t->context, report_context);
        ok = ctx != NULL;
        if (ok) cJSON_AddItemToObject(root, "context", ctx);
        cJSON *list = ok ? cJSON_AddArrayToObject(root, "entries") : NULL;
        ok = list != NULL;
        for (int i = 0; ok && i < t->count; i++) {
            cJSON *e = entry_json(&t->entries[i], &t->context);
            ok = e != NULL;
            if (ok) cJSON_AddItemToArray(list, e);
        }
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

nb_status nb_tune_format(const nb_tune_table *t, char **text) {
    *text = NULL;
    char *json = table_text(t, false);
    if (!json) return nb_error(NB_ERR_NOMEM, "out of memory formatting the tuning table");
    /* cJSON_free and free are the same allocator only by default: hand back a malloc'd copy. */
    *text = strdup(json);
    cJSON_free(json);
    return *text ? NB_OK : nb_error(NB_ERR_NOMEM, "out of memory formatting the tuning table");
}

/* The table's text as nb_tune_write writes it, with the final newline. */
static nb_status write_table_file(const char *path, const nb_tune_table *t) {
    char *text = table_text(t, true);
    if (!text) return nb_error(NB_ERR_NOMEM, "out of memory writing the tuning table %s", path);
    size_t len = strlen(text);
    char *with_newline = malloc(len + 2);
    nb_status st = NB_OK;
    if (with_newline) {
        memcpy(with_newline, text, len);
        memcpy(with_newline + len, "\n", 2);
        st = nb_report_write_atomically(path, with_newline);
    } else {
        st = nb_error(NB_ERR_NOMEM, "out of memory writing the tuning table %s", path);
    }
    free(with_newline);
    cJSON_free(text);
    return st;
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
        const nb_tune_entry *old = find_entry(disk, e);
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
    if (write_table_file(aside, t) != NB_OK) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", nb_last_error());
        return nb_error(why, "this run's %d entries could not be written, neither to the broken table nor aside "
                             "(%s): %s", t->count, reason, problem);
    }
    return nb_error(why, "this run's %d entries went to %s, not to the broken table (fix or remove it, or move "
                         "that file over it): %s", t->count, aside, problem);
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
        st = write_table_file(path, t);
        info->written = t->count;
        return st;
    }
    disk.context = t->context; /* the same in every staleness field: the kernel indices agree */
    st = merge_into(&disk, t, &info->kept);
    if (st == NB_OK) st = write_table_file(path, &disk);
    info->written = disk.count;
    nb_tune_table_free(&disk);
    return st;
}

nb_status nb_tune_save(const char *path, const nb_tune_table *t, bool replace_broken, nb_tune_save_info *info) {
    nb_tune_save_info local;
    if (!info) info = &local;
    *info = (nb_tune_save_info){0};
    NB_TRY(make_parent_dirs(path));
    int lock;
    NB_TRY(lock_table(path, &lock, NULL));
    nb_status st = save_locked(path, t, replace_broken, info);
    unlock_table(lock);
    return st;
}

nb_status nb_tune_write(const char *path, const nb_tune_table *t) { return nb_tune_save(path, t, false, NULL); }

/* ---- reading ------------------------------------------------------------------------------------ */

/* Where a check is, for messages: the file, and "context" or "entry 3". */
typedef struct reader {
    const char *path;
    char where[32];
} reader;

static nb_status bad(const reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static nb_status bad(const reader *r, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* `what` may quote the file's own text (a key, a name): keep the message one line. */
    for (char *c = what; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return nb_error(NB_ERR_FORMAT, "%s: %s%s%s %s", r->path, r->where, *r->where ? ": " : "", what, HINT);
}

/* The bytes of the file (at most MAX_FILE_BYTES + 1 of them: one more tells a file that is
 * too large), malloc'd in *out. */
static nb_status read_text(const char *path, char **out, size_t *len, bool *missing) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (missing) *missing = errno == ENOENT;
        if (errno == ENOENT) return nb_error(NB_ERR_IO, "%s: no tuning table there %s", path, HINT);
        return nb_error(NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char *text = malloc(MAX_FILE_BYTES + 1);
    if (!text) {
        fclose(f);
        return nb_error(NB_ERR_NOMEM, "%s: out of memory reading it", path);
    }
    *len = fread(text, 1, MAX_FILE_BYTES + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(text);
        return nb_error(NB_ERR_IO, "%s: read error", path);
    }
    *out = text;
    return NB_OK;
}

static bool has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

static nb_status get_item(const reader *r, const cJSON *obj, const char *key, const cJSON **out) {
    *out = cJSON_GetObjectItemCaseSensitive(obj, key);
    return *out ? NB_OK : bad(r, "\"%s\" is missing", key);
}

/* A string of at most size - 1 bytes, copied to out. */
static nb_status get_string(const reader *r, const cJSON *obj, const char *key, char *out, size_t size) {
    const cJSON *v;
    NB_TRY(get_item(r, obj, key, &v));
    if (!cJSON_IsString(v)) return bad(r, "\"%s\" is not a string", key);
    if (strlen(v->valuestring) >= size) return bad(r, "\"%s\" is longer than %zu characters", key, size - 1);
    /* The context's strings are quoted in staleness notes and reports, one line each. */
    if (has_control(v->valuestring)) return bad(r, "\"%s\" holds a control character", key);
    snprintf(out, size, "%s", v->valuestring);
    return NB_OK;
}

/* An integer in [lo, hi]: JSON numbers are doubles, so it must also be exactly integral. */
static nb_status get_int(const reader *r, const cJSON *obj, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const cJSON *v;
    NB_TRY(get_item(r, obj, key, &v));
    if (!cJSON_IsNumber(v)) return bad(r, "\"%s\" is not a number", key);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
        return bad(r, "\"%s\" is %g, not an integer in %lld..%lld", key, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return NB_OK;
}

static nb_status get_bool(const reader *r, const cJSON *obj, const char *key, bool *out) {
    const cJSON *v;
    NB_TRY(get_item(r, obj, key, &v));
    if (!cJSON_IsBool(v)) return bad(r, "\"%s\" is not true or false", key);
    *out = cJSON_IsTrue(v);
    return NB_OK;
}

static int kernel_index(const nb_tune_context *c, const char *name) {
    for (int i = 0; i < c->kernel_count; i++)
        if (!strcmp(c->kernels[i], name)) return i;
    return -1;
}

static nb_status read_context(reader *r, const cJSON *root, nb_tune_context *c) {
    snprintf(r->where, sizeof r->where, "context");
    const cJSON *ctx;
    NB_TRY(get_item(r, root, "context", &ctx));
    if (!cJSON_IsObject(ctx)) return bad(r, "not an object");
    NB_TRY(get_string(r, ctx, "cpu_model", c->cpu_model, sizeof c->cpu_model));
    int64_t cpus;
    NB_TRY(get_int(r, ctx, "online_cpus", 1, 1 << 20, &cpus));
    c->online_cpus = (int)cpus;
    const cJSON *env, *coretype;
    NB_TRY(get_item(r, ctx, "environment", &env));
    if (!cJSON_IsObject(env)) return bad(r, "\"environment\" is not an object");
    NB_TRY(get_item(r, env, "OPENBLAS_CORETYPE", &coretype));
    if (cJSON_IsNull(coretype))
        c->openblas_coretype[0] = '\0';
    else
        NB_TRY(get_string(r, env, "OPENBLAS_CORETYPE", c->openblas_coretype, sizeof c->openblas_coretype));
    NB_TRY(get_string(r, ctx, "nabla_version", c->nabla_version, sizeof c->nabla_version));
    NB_TRY(get_string(r, ctx, "kernels_revision", c->kernels_revision, sizeof c->kernels_revision));
    const cJSON *names, *name;
    NB_TRY(get_item(r, ctx, "kernels", &names));
    if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) < 1 || cJSON_GetArraySize(names) > NB_TUNE_MAX_KERNELS)
        return bad(r, "\"kernels\" is not a list of 1 to %d names", NB_TUNE_MAX_KERNELS);
    cJSON_ArrayForEach(name, names) {
        if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof c->kernels[0] ||
            has_control(name->valuestring))
            return bad(r, "\"kernels\" holds something other than a kernel name");
        if (kernel_index(c, name->valuestring) >= 0) return bad(r, "\"kernels\" names '%s' twice", name->valuestring);
        snprintf(c->kernels[c->kernel_count++], sizeof c->kernels[0], "%s", name->valuestring);
    }
    return NB_OK;
}

static nb_status read_entry(const reader *r, const cJSON *j, const nb_tune_context *c, nb_tune_entry *e) {
    if (!cJSON_IsObject(j)) return bad(r, "not an object");
    char text[32];
    int64_t v;
    memset(e, 0, sizeof *e);
    NB_TRY(get_string(r, j, "dtype", text, sizeof text));
    if (!strcmp(text, "f32"))
        e->dtype = NB_F32;
    else if (!strcmp(text, "f64"))
        e->dtype = NB_F64;
    else
        return bad(r, "\"dtype\" is '%s', not f32 or f64", text);
    NB_TRY(get_int(r, j, "threads", 1, NB_MAX_THREADS, &v));
    e->threads = (int)v;
    NB_TRY(get_int(r, j, "m", 1, NB_GEMM_MAX_DIM, &e->shape.m));
    NB_TRY(get_int(r, j, "n", 1, NB_GEMM_MAX_DIM, &e->shape.n));
    NB_TRY(get_int(r, j, "k", 1, NB_GEMM_MAX_DIM, &e->shape.k));
    bool ta, tb;
    NB_TRY(get_bool(r, j, "ta", &ta));
    NB_TRY(get_bool(r, j, "tb", &tb));
    e->shape.ta = ta ? NB_TRANS : NB_NO_TRANS;
    e->shape.tb = tb ? NB_TRANS : NB_NO_TRANS;
    NB_TRY(get_string(r, j, "kernel", text, sizeof text));
    e->winner = kernel_index(c, text);
    if (e->winner < 0) return bad(r, "\"kernel\" '%s' is not one of the context's kernels", text);
    const cJSON *secs, *s;
    NB_TRY(get_item(r, j, "seconds", &secs));
    if (!cJSON_IsObject(secs)) return bad(r, "\"seconds\" is not an object");
    cJSON_ArrayForEach(s, secs) {
        int i = kernel_index(c, s->string);
        if (i < 0) return bad(r, "\"seconds\" has a time for '%s', which is not one of the context's kernels", s->string);
        if (!cJSON_IsNumber(s) || !isfinite(s->valuedouble) || !(s->valuedouble > 0))
            return bad(r, "\"seconds\" for '%s' is not a positive number", s->string);
        if (e->seconds[i] > 0) return bad(r, "\"seconds\" has two times for '%s'", s->string);
        e->seconds[i] = s->valuedouble;
    }
    if (!(e->seconds[e->winner] > 0)) return bad(r, "\"seconds\" has no time for the winner '%s'", c->kernels[e->winner]);
    /* Optional: tables written before nabla recorded overlap lack both (unknown). */
    const cJSON *overlapped = cJSON_GetObjectItemCaseSensitive(j, "overlapped");
    if (!overlapped || cJSON_IsNull(overlapped))
        e->overlap = NB_OVERLAP_UNKNOWN;
    else if (cJSON_IsBool(overlapped))
        e->overlap = cJSON_IsTrue(overlapped) ? NB_OVERLAP_FOUND : NB_OVERLAP_NONE;
    else
        return bad(r, "\"overlapped\" is not true, false or null");
    if (cJSON_GetObjectItemCaseSensitive(j, "overlapped_by")) {
        if (e->overlap != NB_OVERLAP_FOUND) return bad(r, "\"overlapped_by\" without \"overlapped\": true");
        NB_TRY(get_string(r, j, "overlapped_by", e->overlapped_by, sizeof e->overlapped_by));
    }
    return NB_OK;
}

static nb_status read_table(reader *r, const cJSON *root, nb_tune_table *t) {
    if (!cJSON_IsObject(root)) return bad(r, "not a JSON object");
    char format[32];
    int64_t version;
    NB_TRY(get_string(r, root, "format", format, sizeof format));
    if (strcmp(format, NB_TUNE_FORMAT) != 0) return bad(r, "\"format\" is '%s', not '%s'", format, NB_TUNE_FORMAT);
    NB_TRY(get_int(r, root, "version", 0, INT32_MAX, &version));
    if (version != NB_TUNE_VERSION)
        return bad(r, "version %lld, but this nabla reads version %d", (long long)version, NB_TUNE_VERSION);
    nb_tune_context ctx = {0};
    NB_TRY(read_context(r, root, &ctx));
    nb_tune_table_init(t, &ctx);
    snprintf(r->where, sizeof r->where, "%s", "");
    const cJSON *list, *j;
    NB_TRY(get_item(r, root, "entries", &list));
    if (!cJSON_IsArray(list)) return bad(r, "\"entries\" is not a list");
    if (cJSON_GetArraySize(list) > NB_TUNE_MAX_ENTRIES) return bad(r, "more than %d entries", NB_TUNE_MAX_ENTRIES);
    int index = 0;
    cJSON_ArrayForEach(j, list) {
        snprintf(r->where, sizeof r->where, "entry %d", index++);
        nb_tune_entry e;
        NB_TRY(read_entry(r, j, &t->context, &e));
        if (find_entry(t, &e)) return bad(r, "the same product as an earlier entry");
        NB_TRY(nb_tune_table_put(t, &e));
    }
    return NB_OK;
}

nb_status nb_tune_parse(const char *text, size_t len, const char *path, nb_tune_table *t) {
    memset(t, 0, sizeof *t);
    if (!path) path = "(buffer)";
    if (!text && len) return nb_error(NB_ERR_ARG, "%s: tune_parse: text is NULL", path);
    if (len > MAX_FILE_BYTES)
        return nb_error(NB_ERR_FORMAT, "%s: larger than %u MiB, not a tuning table %s", path, MAX_FILE_BYTES >> 20, HINT);
    if (len && memchr(text, '\0', len))
        return nb_error(NB_ERR_FORMAT, "%s: contains a NUL byte, not a tuning table %s", path, HINT);
    /* cJSON wants a terminated string, and the caller's bytes need not be one. */
    char *copy = malloc(len + 1);
    if (!copy) return nb_error(NB_ERR_NOMEM, "%s: out of memory reading it", path);
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    /* Require the text to end after the JSON value: a file with two tables glued together, or
     * junk after the table, is as broken as a truncated one. */
    cJSON *root = cJSON_ParseWithOpts(copy, NULL, true);
    free(copy);
    reader r = {.path = path};
    nb_status st = root ? read_table(&r, root, t) : bad(&r, "not valid JSON (truncated or damaged)");
    cJSON_Delete(root);
    if (st != NB_OK) nb_tune_table_free(t);
    return st;
}

nb_status nb_tune_read(const char *path, nb_tune_table *t, bool *missing) {
    memset(t, 0, sizeof *t);
    if (missing) *missing = false;
    char *text;
    size_t len = 0;
    NB_TRY(read_text(path, &text, &len, missing));
    nb_status st = nb_tune_parse(text, len, path, t);
    free(text);
    return st;
}

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
        all[i] = nb_kernel_find(c->kernels[i]);
        if (!all[i] || all[i] == nb_kernel_auto())
            return nb_error(NB_ERR_ARG, "tuning: '%s' is not a kernel of this build", c->kernels[i]);
    }
    const nb_gemm_timing timing = {.dtype = dtype, .threads = threads, .repeats = settings->repeats,
                                   .min_time = settings->min_time};
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
        nb_tune_entry e = {.dtype = dtype, .threads = threads, .shape = *shape, .winner = index[0],
                           .overlap = overlap.status, .measured_now = true};
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
        const nb_kernel *kernel = nb_kernel_find(t->context.kernels[e->winner]);
        if (!kernel || kernel == nb_kernel_auto())
            st = nb_error(NB_ERR_ARG, "tuning table: '%s' is not a kernel of this build", t->context.kernels[e->winner]);
        entries[i] = (nb_auto_entry){.dtype = e->dtype == NB_F64 ? NB_GEMM_F64 : NB_GEMM_F32, .nthreads = e->threads,
                                     .ta = e->shape.ta, .tb = e->shape.tb, .m = e->shape.m, .n = e->shape.n,
                                     .k = e->shape.k, .kernel = kernel};
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
    note(notes, "nabla: %s; measuring the seed's products for %s at %d thread%s\n", why, nb_dtype_name(dtype),
         threads, threads == 1 ? "" : "s");
    if (*unsaved) note(notes, "nabla: warning: cannot save the tuning table %s (%s); measuring for this run only\n", path,
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
        note(notes, "nabla: warning: could not save the tuning table %s (%s); this run uses what it measured, the next "
                    "measures again\n", path, nb_last_error());
    unlock_table(lock);
    if (st == NB_OK) st = nb_tune_install(&t);
    nb_tune_table_free(&t);
    return st;
}

void nb_tune_kernel_choices(char *buf, size_t size) {
    if (!buf || size == 0) return;
    nb_kernel_names(buf, size);
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, ", %s", nb_kernel_auto()->name);
}
