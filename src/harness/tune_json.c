/* src/harness/tune_json.c — the tuning table's file format (tune.h): the table written as JSON,
 * with or without the report context, and read back with every field checked, so a broken or
 * hand-edited file is refused with the field it got wrong, never installed half-read. Where the
 * file lives, its lock and its merge are tune.c's. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "harness/report.h"
#include "harness/tune.h"
#include "harness/tune_impl.h"
#include "tensor/runtime.h"

#define HINT "(run 'nabla tune' to measure a new table)"
#define MAX_FILE_BYTES (8u << 20)

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
     * leaves them out: it is the table alone, the same text for the same measurements) */
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
nb_status nb_tune_write_file(const char *path, const nb_tune_table *t) {
    char *text = table_text(t, true);
    if (!text) return nb_error(NB_ERR_NOMEM, "out of memory writing the tuning table %s", path);
    size_t len = strlen(text);
    char *with_newline = malloc(len + 2);
    nb_status st = NB_OK;
    if (with_newline) {
        memcpy(with_newline, text, len);
        memcpy(with_newline + len, "\n", 2);
        st = nb_file_write_text_atomic(path, with_newline);
    } else {
        st = nb_error(NB_ERR_NOMEM, "out of memory writing the tuning table %s", path);
    }
    free(with_newline);
    cJSON_free(text);
    return st;
}

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
        if (i < 0)
            return bad(r, "\"seconds\" has a time for '%s', which is not one of the context's kernels", s->string);
        if (!cJSON_IsNumber(s) || !isfinite(s->valuedouble) || !(s->valuedouble > 0))
            return bad(r, "\"seconds\" for '%s' is not a positive number", s->string);
        if (e->seconds[i] > 0) return bad(r, "\"seconds\" has two times for '%s'", s->string);
        e->seconds[i] = s->valuedouble;
    }
    if (!(e->seconds[e->winner] > 0))
        return bad(r, "\"seconds\" has no time for the winner '%s'", c->kernels[e->winner]);
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
        if (nb_tune_table_find(t, &e)) return bad(r, "the same product as an earlier entry");
        NB_TRY(nb_tune_table_put(t, &e));
    }
    return NB_OK;
}

nb_status nb_tune_parse(const char *text, size_t len, const char *path, nb_tune_table *t) {
    memset(t, 0, sizeof *t);
    if (!path) path = "(buffer)";
    if (!text && len) return nb_error(NB_ERR_ARG, "%s: tune_parse: text is NULL", path);
    if (len > MAX_FILE_BYTES)
        return nb_error(NB_ERR_FORMAT, "%s: larger than %u MiB, not a tuning table %s", path, MAX_FILE_BYTES >> 20,
                        HINT);
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
