/* src/harness/bench_compare.c — see bench_compare.h: a bench.json's cases, samples and
 * settings read back for `nabla bench --compare`, every field checked before it is used, and
 * the comparison, which refuses two runs that did not measure the same thing. */
#include "harness/bench_compare.h"

#include "harness/commands.h"
#include "harness/neighbours.h"
#include "harness/stats.h"
#include "tensor/runtime.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the settings a bench.json records -------------------------------------------------------- */

typedef enum value_type { TYPE_STRING, TYPE_STRING_OR_NULL, TYPE_INT, TYPE_BOOL } value_type;

/* Where a fixed setting lives in the file, what it must be, and what it is to a comparison. */
typedef struct setting_desc {
    const char *name;    /* as printed, and the key in its section */
    const char *section; /* "config", "context", or "env" for context.environment */
    value_type type;
    int64_t min, max; /* TYPE_INT */
    nb_bench_setting_kind kind;
    const char *why; /* NB_BENCH_NOTED: why a difference does not matter */
} setting_desc;

/* Counts travel as JSON numbers (doubles): past 2^53 they are no longer exact. */
#define EXACT ((int64_t)1 << 53)

static const setting_desc settings_table[] = {
    /* what one sample measures: the loop run (steps, element type, network, data, warm-up) */
    [NB_BENCH_DTYPE] = {"dtype", "config", TYPE_STRING, 0, 0, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_ITERS] = {"iters", "config", TYPE_INT, 1, EXACT, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_WARMUP] = {"warmup", "config", TYPE_INT, 0, EXACT, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_BATCH] = {"batch", "config", TYPE_INT, 1, EXACT, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_D_IN] = {"d_in", "config", TYPE_INT, 1, EXACT, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_HIDDEN] = {"hidden", "config", TYPE_INT, 1, EXACT, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_D_OUT] = {"d_out", "config", TYPE_INT, 1, EXACT, NB_BENCH_MEASURE, NULL},
    [NB_BENCH_SEED] = {"seed", "config", TYPE_INT, 0, EXACT, NB_BENCH_MEASURE, NULL},
    /* the machine and the build: the same code is faster elsewhere, which is no regression */
    [NB_BENCH_CPU_MODEL] = {"cpu_model", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_ONLINE_CPUS] = {"online_cpus", "context", TYPE_INT, 1, EXACT, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_USABLE_CPUS] = {"usable_cpus", "context", TYPE_INT, 1, EXACT, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_OPENBLAS_CORETYPE] = {"OPENBLAS_CORETYPE", "env", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_OPENBLAS_L2_SIZE] = {"OPENBLAS_L2_SIZE", "env", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_NABLA_ISA] = {"NABLA_ISA", "env", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_OPENBLAS_CONFIG] = {"openblas_config", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_OPENBLAS_CORE] = {"openblas_core", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_OPENBLAS_THREADING] = {"openblas_threading", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_COMPILER] = {"compiler", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_C_FLAGS] = {"c_flags", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    [NB_BENCH_BUILD_TYPE] = {"build_type", "context", TYPE_STRING, 0, 0, NB_BENCH_MACHINE, NULL},
    /* the twins' build; null when no twin ran, which matches anything (diff_fixed) */
    [NB_BENCH_TORCH_VERSION] = {"torch_version", "context", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_MACHINE, NULL},
    /* free to differ */
    [NB_BENCH_REPEATS] = {"repeats", "config", TYPE_INT, 1, NB_BENCH_MAX_SAMPLES, NB_BENCH_NOTED,
                          "allowed: the number of samples changes only the test's power"},
    /* like a thread count, a neighbour count is a dimension of the matrix: each case records
     * its own and has its own key, so cases pair only with cases measured under the same load */
    [NB_BENCH_NEIGHBOURS] = {"neighbours", "config", TYPE_STRING, 0, 0, NB_BENCH_NOTED,
                             "allowed: each case records its own count, and only cases of equal counts are paired"},
    /* each case records its thread count, and nabla sets OpenMP's and OpenBLAS's from it */
    [NB_BENCH_OMP_NUM_THREADS] = {"OMP_NUM_THREADS", "env", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_NOTED,
                                  "allowed: it picks the default --threads, and each case records its own"},
    [NB_BENCH_OPENBLAS_NUM_THREADS] = {"OPENBLAS_NUM_THREADS", "env", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_NOTED,
                                       "allowed: nabla sets OpenBLAS's thread count from each case's"},
    [NB_BENCH_NABLA_KERNEL] = {"NABLA_KERNEL", "env", TYPE_STRING_OR_NULL, 0, 0, NB_BENCH_NOTED,
                               "allowed: it picks the kernels, and each case records its own"},
    [NB_BENCH_NABLA_VERSION] = {"nabla_version", "context", TYPE_STRING, 0, 0, NB_BENCH_HEADER, NULL},
    [NB_BENCH_GIT_REVISION] = {"git_revision", "context", TYPE_STRING, 0, 0, NB_BENCH_HEADER, NULL},
    [NB_BENCH_GIT_DIRTY] = {"git_dirty", "context", TYPE_BOOL, 0, 0, NB_BENCH_HEADER, NULL},
    [NB_BENCH_DATE] = {"date", "context", TYPE_STRING, 0, 0, NB_BENCH_HEADER, NULL},
    [NB_BENCH_ROUNDS_DONE] = {"rounds_done", "config", TYPE_INT, 0, NB_BENCH_MAX_SAMPLES, NB_BENCH_RUN, NULL},
    [NB_BENCH_INTERRUPTED] = {"interrupted", "config", TYPE_BOOL, 0, 0, NB_BENCH_RUN, NULL},
};
_Static_assert(sizeof settings_table / sizeof settings_table[0] == NB_BENCH_SETTING_COUNT,
               "settings_table needs one row per nb_bench_setting_id");

const char *nb_bench_setting_name(nb_bench_setting_id id) {
    return id >= 0 && id < NB_BENCH_SETTING_COUNT ? settings_table[id].name : NULL;
}

nb_bench_setting_kind nb_bench_setting_kind_of(nb_bench_setting_id id) {
    NB_ASSERT(id >= 0 && id < NB_BENCH_SETTING_COUNT);
    return settings_table[id].kind;
}

/* ---- reading -------------------------------------------------------------------------------- */

static bool has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

/* A string the comparison prints and compares: one line, short enough to keep whole. */
static bool printable(const char *s, size_t max) { return s && strlen(s) < max && !has_control(s); }

static void clear_settings(nb_bench_settings *s) {
    memset(s, 0, sizeof *s);
    s->lr.count = s->environment.count = -1;
    s->repeats = s->rounds_done = -1;
    s->interrupted = -1;
    s->overlapped = -1;
}

/* context.overlapped_by: an array of run descriptions, or the string "unknown"; absent in
 * files from before it was recorded. */
static nb_status read_overlap(const cJSON *context, const char *path, nb_bench_settings *s) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(context, "overlapped_by");
    if (!o || (cJSON_IsString(o) && !strcmp(o->valuestring, "unknown"))) return NB_OK;
    if (!cJSON_IsArray(o))
        return nb_error(NB_ERR_FORMAT, "%s: context.overlapped_by is neither a list nor \"unknown\"", path);
    size_t used = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, o) {
        if (!cJSON_IsString(x) || !printable(x->valuestring, NB_BENCH_MAX_VALUE))
            return nb_error(NB_ERR_FORMAT, "%s: context.overlapped_by holds something other than a run's name", path);
        /* listed while they fit; the count of runs matters less than that there were any */
        int w =
            snprintf(s->overlapped_by + used, sizeof s->overlapped_by - used, "%s%s", used ? "; " : "", x->valuestring);
        if (w > 0 && used + (size_t)w < sizeof s->overlapped_by)
            used += (size_t)w;
        else
            s->overlapped_by[used] = '\0';
    }
    s->overlapped = cJSON_GetArraySize(o) > 0;
    return NB_OK;
}

/* The text of a number that reads back to the same double (what cJSON itself prints), so one
 * value has one text whichever file it came from. */
static void format_number(double x, char *out, size_t size) {
    snprintf(out, size, "%.15g", x);
    if (strtod(out, NULL) != x) snprintf(out, size, "%.17g", x);
}

/* An object member of the document: NB_OK with *out NULL when absent, NB_ERR_FORMAT when it
 * is there but not an object. */
static nb_status object_of(const cJSON *parent, const char *key, const char *where, const char *path,
                           const cJSON **out) {
    *out = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (*out && !cJSON_IsObject(*out)) return nb_error(NB_ERR_FORMAT, "%s: %s is not an object", path, where);
    return NB_OK;
}

static nb_status read_setting(const cJSON *section, const char *section_name, nb_bench_setting_id id, const char *path,
                              nb_bench_value *v) {
    const setting_desc *d = &settings_table[id];
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(section, d->name);
    if (!x) return NB_OK; /* not recorded: an older bench.json */
    switch (d->type) {
    case TYPE_STRING_OR_NULL:
        if (cJSON_IsNull(x)) {
            v->known = v->is_null = true;
            snprintf(v->text, sizeof v->text, "unset");
            return NB_OK;
        }
        /* fall through */
    case TYPE_STRING:
        if (!cJSON_IsString(x) || !printable(x->valuestring, sizeof v->text))
            return nb_error(NB_ERR_FORMAT, "%s: %s.%s must be a string of one line under %d bytes%s", path,
                            section_name, d->name, NB_BENCH_MAX_VALUE,
                            d->type == TYPE_STRING_OR_NULL ? ", or null" : "");
        snprintf(v->text, sizeof v->text, "%s", x->valuestring);
        break;
    case TYPE_INT: {
        double n = cJSON_IsNumber(x) ? x->valuedouble : NAN;
        if (!(n >= (double)d->min && n <= (double)d->max) || n != floor(n))
            return nb_error(NB_ERR_FORMAT, "%s: %s.%s must be an integer in %lld..%lld", path, section_name, d->name,
                            (long long)d->min, (long long)d->max);
        snprintf(v->text, sizeof v->text, "%lld", (long long)n);
        break;
    }
    case TYPE_BOOL:
        if (!cJSON_IsBool(x))
            return nb_error(NB_ERR_FORMAT, "%s: %s.%s must be true or false", path, section_name, d->name);
        snprintf(v->text, sizeof v->text, "%s", cJSON_IsTrue(x) ? "true" : "false");
        break;
    }
    v->known = true;
    return NB_OK;
}

/* config.lr (numbers) or config.environment (strings or null): every name one line, once. */
static nb_status read_named(const cJSON *obj, const char *where, bool numbers, const char *path,
                            nb_bench_named_list *list) {
    if (!obj) return NB_OK;
    list->count = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, obj) {
        if (list->count == NB_BENCH_MAX_NAMED)
            return nb_error(NB_ERR_FORMAT, "%s: %s has more than %d entries", path, where, NB_BENCH_MAX_NAMED);
        if (!printable(x->string, NB_BENCH_MAX_NAME) || !x->string[0])
            return nb_error(NB_ERR_FORMAT, "%s: %s has a name that is empty, longer than %d bytes or not one line",
                            path, where, NB_BENCH_MAX_NAME - 1);
        for (int i = 0; i < list->count; i++)
            if (!strcmp(list->item[i].name, x->string))
                return nb_error(NB_ERR_FORMAT, "%s: %s names %s twice", path, where, x->string);
        nb_bench_named *e = &list->item[list->count];
        snprintf(e->name, sizeof e->name, "%s", x->string);
        if (numbers) {
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
                return nb_error(NB_ERR_FORMAT, "%s: %s.%s must be a finite number", path, where, e->name);
            format_number(x->valuedouble, e->text, sizeof e->text);
        } else if (cJSON_IsNull(x)) {
            e->is_null = true;
            snprintf(e->text, sizeof e->text, "unset");
        } else if (cJSON_IsString(x) && printable(x->valuestring, sizeof e->text)) {
            snprintf(e->text, sizeof e->text, "%s", x->valuestring);
        } else {
            return nb_error(NB_ERR_FORMAT, "%s: %s.%s must be null or a string of one line under %d bytes", path, where,
                            e->name, NB_BENCH_MAX_VALUE);
        }
        list->count++;
    }
    return NB_OK;
}

static nb_status read_settings(const cJSON *doc, const char *path, nb_bench_settings *s) {
    const cJSON *context, *config, *env, *lr, *config_env;
    NB_TRY(object_of(doc, "context", "context", path, &context));
    NB_TRY(object_of(doc, "config", "config", path, &config));
    NB_TRY(object_of(context, "environment", "context.environment", path, &env));
    NB_TRY(object_of(config, "lr", "config.lr", path, &lr));
    NB_TRY(object_of(config, "environment", "config.environment", path, &config_env));
    for (int id = 0; id < NB_BENCH_SETTING_COUNT; id++) {
        const char *section = settings_table[id].section;
        const cJSON *obj = !strcmp(section, "config") ? config : !strcmp(section, "context") ? context : env;
        NB_TRY(read_setting(obj, !strcmp(section, "env") ? "context.environment" : section, (nb_bench_setting_id)id,
                            path, &s->value[id]));
    }
    NB_TRY(read_named(lr, "config.lr", true, path, &s->lr));
    NB_TRY(read_named(config_env, "config.environment", false, path, &s->environment));
    NB_TRY(read_overlap(context, path, s));
    /* the three the comparison reasons about, as numbers (already range-checked above) */
    const nb_bench_value *v = s->value;
    if (v[NB_BENCH_REPEATS].known) s->repeats = strtoll(v[NB_BENCH_REPEATS].text, NULL, 10);
    if (v[NB_BENCH_ROUNDS_DONE].known) s->rounds_done = strtoll(v[NB_BENCH_ROUNDS_DONE].text, NULL, 10);
    if (v[NB_BENCH_INTERRUPTED].known) s->interrupted = !strcmp(v[NB_BENCH_INTERRUPTED].text, "true");
    if (s->repeats >= 0 && s->rounds_done > s->repeats)
        return nb_error(NB_ERR_FORMAT, "%s: config.rounds_done %lld is more than config.repeats %lld", path,
                        (long long)s->rounds_done, (long long)s->repeats);
    return NB_OK;
}

void nb_bench_case_suffix(int64_t neighbours, const int64_t sizes[NB_BENCH_SIZES], const int64_t seed[NB_BENCH_SIZES],
                          char *buf, size_t size) {
    static const char letter[NB_BENCH_SIZES] = {'N', 'D', 'H', 'O'};
    size_t len = 0;
    buf[0] = '\0';
    if (neighbours > 0) len += (size_t)snprintf(buf + len, size - len, " +%lldnb", (long long)neighbours);
    for (int i = 0; i < NB_BENCH_SIZES && len < size; i++)
        if (sizes[i] != seed[i])
            len += (size_t)snprintf(buf + len, size - len, " %c%lld", letter[i], (long long)sizes[i]);
}

/* A case's size fields (config holds the seed network's under the same names), in the order
 * of nb_bench_case_suffix. */
static const char *const size_names[NB_BENCH_SIZES] = {"batch", "d_in", "hidden", "d_out"};

/* A whole number within [min, max] as JSON holds it (a double). */
static bool whole_in(const cJSON *x, double min, double max) {
    return cJSON_IsNumber(x) && x->valuedouble >= min && x->valuedouble <= max &&
           x->valuedouble == floor(x->valuedouble);
}

/* The seed network's sizes (config.batch, ...), which a case's sizes are told apart from; -1
 * where the file records none that is valid (read_settings then says what is wrong). */
static void seed_sizes(const cJSON *doc, int64_t seed[NB_BENCH_SIZES]) {
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc, "config");
    for (int i = 0; i < NB_BENCH_SIZES; i++) {
        const cJSON *x = cJSON_IsObject(config) ? cJSON_GetObjectItemCaseSensitive(config, size_names[i]) : NULL;
        seed[i] = whole_in(x, 1, (double)EXACT) ? (int64_t)x->valuedouble : -1;
    }
}

/* A case's neighbours and sizes, each optional (files from before they existed have none: no
 * neighbours, the seed's sizes), each a whole number in range when present. */
static nb_status read_dimensions(const cJSON *c, const char *path, int index, const int64_t seed[NB_BENCH_SIZES],
                                 int64_t *neighbours, int64_t sizes[NB_BENCH_SIZES]) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(c, "neighbours");
    if (x && !whole_in(x, 0, NB_NEIGHBOURS_MAX))
        return nb_error(NB_ERR_FORMAT, "%s: case %d has neighbours that is not an integer in 0..%d", path, index,
                        NB_NEIGHBOURS_MAX);
    *neighbours = x ? (int64_t)x->valuedouble : 0;
    for (int i = 0; i < NB_BENCH_SIZES; i++) {
        x = cJSON_GetObjectItemCaseSensitive(c, size_names[i]);
        if (x && !whole_in(x, 1, (double)EXACT))
            return nb_error(NB_ERR_FORMAT, "%s: case %d has %s that is not a positive integer", path, index,
                            size_names[i]);
        sizes[i] = x ? (int64_t)x->valuedouble : seed[i];
    }
    return NB_OK;
}

static nb_status read_cases(const cJSON *list, const char *path, const int64_t seed[NB_BENCH_SIZES],
                            nb_bench_saved_case *cases, int *count) {
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        const cJSON *variant = cJSON_GetObjectItemCaseSensitive(c, "variant");
        const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(c, "kernel");
        const cJSON *threads = cJSON_GetObjectItemCaseSensitive(c, "threads");
        const cJSON *samples = cJSON_GetObjectItemCaseSensitive(c, "samples_s");
        if (!cJSON_IsString(variant) || !cJSON_IsString(kernel) || !cJSON_IsNumber(threads) || !cJSON_IsArray(samples))
            return nb_error(NB_ERR_FORMAT, "%s: case %d lacks variant, kernel, threads or samples_s", path, *count);
        /* The key is printed as one row of --compare's table, and must be whole: two names
         * cut to fit could make two cases one. */
        if (!printable(variant->valuestring, NB_BENCH_MAX_NAME) || !printable(kernel->valuestring, NB_BENCH_MAX_NAME))
            return nb_error(NB_ERR_FORMAT, "%s: case %d has a variant or kernel that is not one line under %d bytes",
                            path, *count, NB_BENCH_MAX_NAME);
        double t = threads->valuedouble;
        if (!(t >= 1 && t <= NB_MAX_THREADS) || t != floor(t))
            return nb_error(NB_ERR_FORMAT, "%s: case %d has threads that is not an integer in 1..%d", path, *count,
                            NB_MAX_THREADS);
        int64_t neighbours = 0, sizes[NB_BENCH_SIZES] = {0};
        NB_TRY(read_dimensions(c, path, *count, seed, &neighbours, sizes));
        char suffix[128];
        nb_bench_case_suffix(neighbours, sizes, seed, suffix, sizeof suffix);
        nb_bench_saved_case *s = &cases[*count];
        snprintf(s->key, sizeof s->key, "%s %s %d%s", variant->valuestring, kernel->valuestring, (int)t, suffix);
        /* one case per key: --compare pairs cases by key */
        for (int j = 0; j < *count; j++)
            if (!strcmp(cases[j].key, s->key))
                return nb_error(NB_ERR_FORMAT, "%s: case %s appears twice", path, s->key);
        (*count)++;
        const cJSON *x;
        cJSON_ArrayForEach(x, samples) {
            if (!cJSON_IsNumber(x) || !(x->valuedouble > 0) || !isfinite(x->valuedouble) ||
                s->n == NB_BENCH_MAX_SAMPLES)
                return nb_error(NB_ERR_FORMAT, "%s: case %s has a bad sample", path, s->key);
            s->samples[s->n++] = x->valuedouble;
        }
    }
    return NB_OK;
}

nb_status nb_bench_json_parse(const char *text, size_t len, const char *path, nb_bench_saved_case **cases, int *count,
                              nb_bench_settings *settings) {
    *cases = NULL;
    *count = 0;
    clear_settings(settings);
    if (!path) path = "(buffer)";
    if (!text && len) return nb_error(NB_ERR_ARG, "%s: bench_json_parse: text is NULL", path);
    if (len > NB_BENCH_MAX_JSON_BYTES) return nb_error(NB_ERR_FORMAT, "%s: larger than 4 MiB, not a bench.json", path);
    /* cJSON wants a terminated string; the caller's bytes need not be one. */
    char *copy = malloc(len + 1);
    if (!copy) return nb_error(NB_ERR_NOMEM, "out of memory reading %s", path);
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    cJSON *doc = cJSON_Parse(copy);
    free(copy);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(doc);
        return nb_error(NB_ERR_FORMAT, "%s: not a nabla bench.json (no \"cases\" list)", path);
    }
    /* bench never writes more; checked before calloc, so a file of 4 MiB of "{}," cannot ask
     * for a gigabyte */
    int n = cJSON_GetArraySize(list);
    if (n > NB_BENCH_MAX_CASES) {
        cJSON_Delete(doc);
        return nb_error(NB_ERR_FORMAT, "%s: more than %d cases, not a nabla bench.json", path, NB_BENCH_MAX_CASES);
    }
    *cases = calloc(n > 0 ? (size_t)n : 1, sizeof **cases);
    if (!*cases) {
        cJSON_Delete(doc);
        return nb_error(NB_ERR_NOMEM, "out of memory reading %s", path);
    }
    int64_t seed[NB_BENCH_SIZES];
    seed_sizes(doc, seed);
    nb_status st = read_cases(list, path, seed, *cases, count);
    if (st == NB_OK) st = read_settings(doc, path, settings);
    cJSON_Delete(doc);
    if (st != NB_OK) {
        free(*cases);
        *cases = NULL;
        *count = 0;
        clear_settings(settings);
    }
    return st;
}

nb_status nb_bench_json_load(const char *path, nb_bench_saved_case **cases, int *count, nb_bench_settings *settings) {
    *cases = NULL;
    *count = 0;
    clear_settings(settings);
    FILE *f = fopen(path, "rb");
    if (!f) return nb_error(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    /* One byte more than the limit tells a file that is too large. */
    char *text = malloc(NB_BENCH_MAX_JSON_BYTES + 1);
    if (!text) {
        fclose(f);
        return nb_error(NB_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t len = fread(text, 1, NB_BENCH_MAX_JSON_BYTES + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    nb_status st = failed ? nb_error(NB_ERR_IO, "%s: read error", path)
                          : nb_bench_json_parse(text, len, path, cases, count, settings);
    free(text);
    return st;
}

/* ---- the settings of two runs ----------------------------------------------------------------- */

static bool same_value(const nb_bench_value *a, const nb_bench_value *b) {
    return a->is_null == b->is_null && !strcmp(a->text, b->text);
}

static void add(nb_bench_difference *out, int *n, nb_bench_setting_kind kind, const char *name, const char *qualifier,
                const char *old_text, const char *new_text) {
    NB_ASSERT(*n < NB_BENCH_MAX_DIFFERENCES);
    out[(*n)++] = (nb_bench_difference){kind, name, qualifier, old_text, new_text};
}

static const nb_bench_named *find_named(const nb_bench_named_list *list, const char *name) {
    for (int i = 0; i < list->count; i++)
        if (!strcmp(list->item[i].name, name)) return &list->item[i];
    return NULL;
}

/* config.environment: every variable either side records is a MEASURE setting; one the other
 * side's list lacks (an older nabla recorded fewer) is unknown there. */
static void diff_environment(const nb_bench_settings *old, const nb_bench_settings *new, nb_bench_difference *out,
                             int *n) {
    const nb_bench_named_list *a = &old->environment, *b = &new->environment;
    if (a->count < 0 || b->count < 0) {
        add(out, n, NB_BENCH_MEASURE, "environment", NULL, a->count < 0 ? NULL : "", b->count < 0 ? NULL : "");
        return;
    }
    for (int i = 0; i < a->count; i++) {
        const nb_bench_named *x = &a->item[i], *y = find_named(b, x->name);
        if (!y || x->is_null != y->is_null || strcmp(x->text, y->text))
            add(out, n, NB_BENCH_MEASURE, x->name, NULL, x->text, y ? y->text : NULL);
    }
    for (int i = 0; i < b->count; i++)
        if (!find_named(a, b->item[i].name))
            add(out, n, NB_BENCH_MEASURE, b->item[i].name, NULL, NULL, b->item[i].text);
}

int nb_bench_settings_diff(const nb_bench_settings *old, const nb_bench_settings *new, nb_bench_difference *out) {
    int n = 0;
    for (int id = 0; id < NB_BENCH_SETTING_COUNT; id++) {
        const setting_desc *d = &settings_table[id];
        if (d->kind == NB_BENCH_HEADER || d->kind == NB_BENCH_RUN) continue;
        const nb_bench_value *a = &old->value[id], *b = &new->value[id];
        /* NOTED settings matter too little to warn that an older file lacks them */
        if (!a->known || !b->known) {
            if (d->kind != NB_BENCH_NOTED)
                add(out, &n, d->kind, d->name, NULL, a->known ? a->text : NULL, b->known ? b->text : NULL);
            continue;
        }
        /* null: no twin ran on that side, so there is no twin's time to compare */
        if (id == NB_BENCH_TORCH_VERSION && (a->is_null || b->is_null)) continue;
        if (!same_value(a, b)) add(out, &n, d->kind, d->name, NULL, a->text, b->text);
    }
    /* lr: a variant only one side ran has no case to compare, so only shared ones count */
    if (old->lr.count < 0 || new->lr.count < 0) {
        add(out, &n, NB_BENCH_MEASURE, "lr", NULL, old->lr.count < 0 ? NULL : "", new->lr.count < 0 ? NULL : "");
    } else {
        for (int i = 0; i < old->lr.count; i++) {
            const nb_bench_named *x = &old->lr.item[i], *y = find_named(&new->lr, x->name);
            if (y && strcmp(x->text, y->text)) add(out, &n, NB_BENCH_MEASURE, "lr", x->name, x->text, y->text);
        }
    }
    diff_environment(old, new, out, &n);
    return n;
}

bool nb_bench_difference_refuses(const nb_bench_difference *d) {
    return (d->kind == NB_BENCH_MEASURE || d->kind == NB_BENCH_MACHINE) && d->old_text && d->new_text;
}

/* ---- --compare OLD.json NEW.json ------------------------------------------------------------- */

typedef struct run_file {
    const char *label; /* "OLD", "NEW" */
    const char *path;
    nb_bench_saved_case *cases;
    int n;
    nb_bench_settings settings;
} run_file;

static const char *value_or(const nb_bench_settings *s, nb_bench_setting_id id, const char *unknown) {
    return s->value[id].known ? s->value[id].text : unknown;
}

/* "old: nabla 0.1.0, rev 1f1ce40 (dirty), 2026-11-27T16:24:11Z, /tmp/a/bench.json": what is
 * expected to differ between two runs one compares, printed and never checked. */
static void print_identity(const char *side, const run_file *f) {
    const nb_bench_settings *s = &f->settings;
    printf("%s: nabla %s, rev %s%s, %s, %s\n", side, value_or(s, NB_BENCH_NABLA_VERSION, "?"),
           value_or(s, NB_BENCH_GIT_REVISION, "?"),
           s->value[NB_BENCH_GIT_DIRTY].known && !strcmp(s->value[NB_BENCH_GIT_DIRTY].text, "true") ? " (dirty)" : "",
           value_or(s, NB_BENCH_DATE, "date unknown"), f->path);
}

static void print_difference(FILE *out, const char *indent, const nb_bench_difference *d) {
    fprintf(out, "%s%s%s%s: %s vs %s\n", indent, d->name, d->qualifier ? " " : "", d->qualifier ? d->qualifier : "",
            d->old_text, d->new_text);
}

/* One warning line per side naming the settings that side does not record. */
static void warn_unknown(const run_file *f, bool old_side, const nb_bench_difference *diffs, int ndiffs) {
    bool any = false;
    for (int i = 0; i < ndiffs; i++) {
        const nb_bench_difference *d = &diffs[i];
        if ((old_side ? d->old_text : d->new_text) != NULL) continue;
        printf("%s%s", any ? ", " : "warning: ", d->name);
        if (!any) any = true;
    }
    if (any) printf(" not recorded in %s (%s, an older bench.json?): not checked\n", f->label, f->path);
}

/* Whether the run finished all its rounds; if not, a warning saying how far it got. */
static bool warn_incomplete(const run_file *f) {
    const nb_bench_settings *s = &f->settings;
    bool short_of_rounds = s->rounds_done >= 0 && s->repeats >= 1 && s->rounds_done < s->repeats;
    if (s->interrupted != 1 && !short_of_rounds) return false;
    printf("warning: %s %s", f->label,
           s->interrupted == 1 ? "was interrupted" : "stopped before its last round (killed, or still running)");
    if (s->rounds_done >= 0 && s->repeats >= 1)
        printf(" after %lld of %lld rounds", (long long)s->rounds_done, (long long)s->repeats);
    printf(": its cases may hold unequal numbers of samples (marked * below where the two sides differ)\n");
    return true;
}

/* Whether other nabla measurements ran during the run: a warning naming them. */
static void warn_overlapped(const run_file *f) {
    if (f->settings.overlapped == 1)
        printf("warning: %s was measured while other nabla measurements ran (%s): its samples include their load\n",
               f->label, f->settings.overlapped_by[0] ? f->settings.overlapped_by : "not named");
}

/* Keys of `in` absent from `other` (or present there with no samples), on one line. */
static void list_unmatched(const run_file *in, const run_file *other) {
    bool any = false;
    for (int i = 0; i < in->n; i++) {
        bool found = false;
        for (int j = 0; j < other->n && !found; j++) found = !strcmp(in->cases[i].key, other->cases[j].key);
        if (found) continue;
        printf("%s%s", any ? ", " : "", any ? "" : "only in ");
        if (!any) printf("%s: ", in->label);
        printf("%s", in->cases[i].key);
        any = true;
    }
    if (any) printf("\n");
}

/* Cases both files list of which one holds no sample (it failed, or the run stopped first). */
static void list_empty(const run_file *old, const run_file *new) {
    bool any = false;
    for (int i = 0; i < new->n; i++) {
        const nb_bench_saved_case *b = &new->cases[i];
        for (int j = 0; j < old->n; j++) {
            const nb_bench_saved_case *a = &old->cases[j];
            if (strcmp(a->key, b->key) || (a->n && b->n)) continue;
            printf("%s%s (%s)", any ? ", " : "no samples to compare (the case failed or was not reached): ", b->key,
                   !a->n && !b->n ? "both"
                   : !a->n        ? old->label
                                  : new->label);
            any = true;
        }
    }
    if (any) printf("\n");
}

static void print_table(const run_file *old, const run_file *new) {
    double ratios[NB_BENCH_MAX_CASES];
    int nratios = 0, few = 0, unequal = 0;
    for (int i = 0; i < new->n; i++) {
        const nb_bench_saved_case *b = &new->cases[i], *a = NULL;
        for (int j = 0; j < old->n && !a; j++)
            if (!strcmp(old->cases[j].key, b->key)) a = &old->cases[j];
        if (!a || !a->n || !b->n) continue;
        if (!nratios) printf("%-34s %10s %10s %8s %8s %8s\n", "case", "old_ms", "new_ms", "change", "p", "samples");
        double ma = nb_stats_of(a->samples, a->n).median, mb = nb_stats_of(b->samples, b->n).median;
        double p = nb_mann_whitney_p(a->samples, a->n, b->samples, b->n);
        ratios[nratios++] = mb / ma; /* at most NB_BENCH_MAX_CASES: the reader's limit */
        few += a->n < 9 || b->n < 9;
        unequal += a->n != b->n;
        char counts[24];
        snprintf(counts, sizeof counts, "%d/%d%s", a->n, b->n, a->n != b->n ? "*" : "");
        printf("%-34s %10.3f %10.3f %+7.1f%% %8.4f %8s  %s\n", b->key, ma * 1e3, mb * 1e3, (mb / ma - 1) * 100, p,
               counts, p < 0.05 ? (mb < ma ? "faster" : "slower") : "no significant change");
    }
    list_unmatched(old, new);
    list_unmatched(new, old);
    list_empty(old, new);
    if (nratios)
        printf("geometric mean of new/old: %.3f over %d cases\n", nb_geometric_mean(ratios, nratios), nratios);
    else
        printf("no case appears in both files\n");
    if (unequal) printf("note: %d cases marked * have unequal sample counts (old/new)\n", unequal);
    if (few) printf("note: %d cases have fewer than 9 samples a side; the test has little power there\n", few);
}

/* Per case: old and new medians, the change, and whether the samples differ significantly
 * (Mann-Whitney U, p < 0.05; with fewer than 9 samples a side the test has little power, as
 * Google Benchmark's compare.py warns). Then the geometric mean of new/old. Only runs that
 * measured the same thing on the same machine and build are compared: a 50-step loop against
 * a 20-step one, or f32 against f64, is no change of the code. */
int nb_bench_compare_files(const char *old_path, const char *new_path, bool force) {
    run_file *f = calloc(2, sizeof *f);
    nb_bench_difference *diffs = calloc(NB_BENCH_MAX_DIFFERENCES, sizeof *diffs);
    if (!f || !diffs) {
        free(f);
        free(diffs);
        return nb_cmd_fail(NB_EXIT_FAILURE, "bench", "out of memory comparing the bench files");
    }
    run_file *old = &f[0], *new = &f[1];
    *old = (run_file){.label = "OLD", .path = old_path};
    *new = (run_file){.label = "NEW", .path = new_path};
    int code = NB_EXIT_OK;
    if (nb_bench_json_load(old_path, &old->cases, &old->n, &old->settings) != NB_OK ||
        nb_bench_json_load(new_path, &new->cases, &new->n, &new->settings) != NB_OK) {
        code = nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());
        goto done;
    }
    print_identity("old", old);
    print_identity("new", new);
    /* A run stopped in its first timed round holds at most one sample a case, and only for
     * the cases that round reached: no --force makes that a measurement. */
    for (int i = 0; i < 2; i++)
        if (f[i].settings.rounds_done == 0) {
            char msg[1200];
            snprintf(
                msg, sizeof msg,
                "%s (%s) holds no complete round (rounds_done 0: stopped in its first timed round): nothing to compare",
                f[i].label, f[i].path);
            code = nb_cmd_fail(NB_EXIT_FAILURE, "bench", msg);
            goto done;
        }
    int ndiffs = nb_bench_settings_diff(&old->settings, &new->settings, diffs);
    int refusing = 0, measure = 0;
    for (int i = 0; i < ndiffs; i++)
        if (nb_bench_difference_refuses(&diffs[i])) {
            refusing++;
            measure += diffs[i].kind == NB_BENCH_MEASURE;
        }
    if (refusing && !force) {
        /* exit 1, not 2: the command line is right and the files are sound; what they hold
         * cannot be compared, which commands.h calls a failure of the data */
        fflush(stdout);
        for (int i = 0; i < ndiffs; i++)
            if (nb_bench_difference_refuses(&diffs[i])) print_difference(stderr, "", &diffs[i]);
        char msg[300];
        snprintf(msg, sizeof msg,
                 "OLD and NEW %s (%d setting%s above): not comparable; rerun one like the other, or pass --force to "
                 "see the table anyway",
                 measure == refusing ? "did not measure the same thing"
                 : measure           ? "did not measure the same thing, and ran on a different machine or build"
                                     : "ran on a different machine or build, which is no regression",
                 refusing, refusing == 1 ? "" : "s");
        code = nb_cmd_fail(NB_EXIT_FAILURE, "bench", msg);
        goto done;
    }
    if (refusing) {
        printf("--force: compared although these settings differ, so the changes below are not the code's alone:\n");
        for (int i = 0; i < ndiffs; i++)
            if (nb_bench_difference_refuses(&diffs[i])) print_difference(stdout, "  ", &diffs[i]);
    }
    for (int i = 0; i < ndiffs; i++)
        if (diffs[i].kind == NB_BENCH_NOTED && diffs[i].old_text && diffs[i].new_text) {
            printf("note: %s: %s vs %s (", diffs[i].name, diffs[i].old_text, diffs[i].new_text);
            for (int id = 0; id < NB_BENCH_SETTING_COUNT; id++)
                if (settings_table[id].name == diffs[i].name) printf("%s", settings_table[id].why);
            printf(")\n");
        }
    warn_unknown(old, true, diffs, ndiffs);
    warn_unknown(new, false, diffs, ndiffs);
    warn_incomplete(old);
    warn_incomplete(new);
    warn_overlapped(old);
    warn_overlapped(new);
    print_table(old, new);
done:
    free(old->cases);
    free(new->cases);
    free(f);
    free(diffs);
    return code;
}

int nb_bench_compare_command(int argc, char **argv) {
    const char *files[2];
    int nfiles = 0;
    bool force = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: nabla bench --compare OLD.json NEW.json [--force]\n\n"
                   "Compares two bench.json files case by case (variant, kernel, threads, busy neighbours,\n"
                   "sizes): medians, the change, the Mann-Whitney U p-value, and the geometric mean of new/old.\n"
                   "Refuses (exit 1), naming each difference, two runs that measured different things (iters,\n"
                   "dtype, warm-up, seed network sizes, seed, learning rates, timing environment) or ran on a\n"
                   "different machine or build (CPU, OpenBLAS, compiler, flags, build type); --force prints the\n"
                   "table anyway under a list of the differences. A file that holds no complete round is always\n"
                   "refused. Revision, version and date are printed, never checked; repeats and the neighbours\n"
                   "list may differ (cases pair only with cases of the same neighbours and sizes). Settings an\n"
                   "older bench.json does not record are warned about, not checked.\n");
            return NB_EXIT_OK;
        }
        if (!strcmp(argv[i], "--force")) {
            force = true;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            /* a file whose name starts with "--" can still be named ./--file */
            char msg[200];
            snprintf(msg, sizeof msg, "nabla bench: --compare takes two files and --force, not '%.60s'", argv[i]);
            return nb_cmd_fail(NB_EXIT_USAGE, "bench", msg);
        } else if (nfiles < 2) {
            files[nfiles++] = argv[i];
        } else {
            nfiles++;
        }
    }
    if (nfiles != 2)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench",
                           "nabla bench: --compare takes two files: OLD.json NEW.json [--force]");
    return nb_bench_compare_files(files[0], files[1], force);
}
