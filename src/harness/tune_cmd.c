/* src/harness/tune_cmd.c — `nabla tune`: times every concrete kernel on the products the
 * training variants issue (and some squares), per dtype and thread count, and merges the
 * winners into the tuning table that `--kernel auto` reads, warning when another nabla
 * measurement ran at the same time; --show prints the table instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timer.h"
#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/env.h"
#include "harness/interrupt.h"
#include "harness/report.h"
#include "harness/tune.h"
#include "tensor/runtime.h"

#define MAX_SHAPES 64
#define MAX_THREAD_COUNTS 16

typedef struct tune_options {
    const char *threads, *dtypes, *shapes, *out;
    int64_t repeats; /* 0: the default (or --quick's) */
    double min_time;
    bool min_time_given, quick, show;
} tune_options;

/* What the lists on the command line resolve to. */
typedef struct tune_plan {
    int threads[MAX_THREAD_COUNTS], nthreads;
    nb_dtype dtypes[2];
    int ndtypes;
    nb_gemm_shape shapes[MAX_SHAPES];
    int nshapes;
    nb_tune_settings settings;
    char path[NB_TUNE_PATH_MAX];
} tune_plan;

/* ---- the flags ----------------------------------------------------------------------------------- */

static nb_status parse_threads(const char *text, tune_plan *p) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || end == tok || v < 1 || v > NB_MAX_THREADS || p->nthreads == MAX_THREAD_COUNTS)
            return nb_error(NB_ERR_ARG, "nabla tune: --threads wants up to %d counts in 1..%d, got '%s'",
                            MAX_THREAD_COUNTS, NB_MAX_THREADS, tok);
        bool seen = false;
        for (int i = 0; i < p->nthreads; i++) seen |= p->threads[i] == (int)v;
        if (!seen) p->threads[p->nthreads++] = (int)v;
    }
    return p->nthreads ? NB_OK : nb_error(NB_ERR_ARG, "nabla tune: --threads is empty");
}

static nb_status parse_dtypes(const char *text, tune_plan *p) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        nb_dtype d;
        if ((strcmp(tok, "f32") && strcmp(tok, "f64")) || nb_dtype_parse(tok, &d) != NB_OK)
            return nb_error(NB_ERR_ARG, "nabla tune: --dtypes wants f32 and/or f64, got '%s'", tok);
        bool seen = false;
        for (int i = 0; i < p->ndtypes; i++) seen |= p->dtypes[i] == d;
        if (!seen) p->dtypes[p->ndtypes++] = d;
    }
    return p->ndtypes ? NB_OK : nb_error(NB_ERR_ARG, "nabla tune: --dtypes is empty");
}

static nb_status parse_shapes(const char *text, tune_plan *p) {
    char buf[2048];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return nb_error(NB_ERR_ARG, "nabla tune: --shapes is longer than %zu characters", sizeof buf - 1);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (p->nshapes == MAX_SHAPES)
            return nb_error(NB_ERR_ARG, "nabla tune: --shapes takes up to %d shapes", MAX_SHAPES);
        if (nb_gemm_shape_parse(tok, &p->shapes[p->nshapes]) != NB_OK) {
            char message[512];
            snprintf(message, sizeof message, "nabla tune: %s", nb_last_error());
            return nb_error(NB_ERR_ARG, "%s", message);
        }
        p->nshapes++;
    }
    return p->nshapes ? NB_OK : nb_error(NB_ERR_ARG, "nabla tune: --shapes is empty");
}

/* The seed's products, plus the squares unless --quick. */
static void default_shapes(const tune_options *o, tune_plan *p) {
    const nb_gemm_shape *list;
    int n = nb_tune_seed_shapes(&list);
    for (int i = 0; i < n && p->nshapes < MAX_SHAPES; i++) p->shapes[p->nshapes++] = list[i];
    if (o->quick) return;
    n = nb_tune_square_shapes(&list);
    for (int i = 0; i < n && p->nshapes < MAX_SHAPES; i++) p->shapes[p->nshapes++] = list[i];
}

static nb_status make_plan(const tune_options *o, tune_plan *p) {
    *p = (tune_plan){0};
    if (o->show && (o->threads || o->dtypes || o->shapes || o->repeats || o->min_time_given || o->quick))
        return nb_error(NB_ERR_ARG, "nabla tune: --show measures nothing: it takes --out FILE only");
    char online[32];
    int default_threads = 1;
    NB_TRY(nb_env_default_threads("nabla tune", &default_threads, NULL));
    snprintf(online, sizeof online, default_threads > 1 ? "1,%d" : "%d", default_threads);
    /* the lists are copied into fixed buffers by the parsers */
    NB_TRY(nb_cli_check_list("nabla tune", "threads", o->threads, 256));
    NB_TRY(nb_cli_check_list("nabla tune", "dtypes", o->dtypes, 64));
    NB_TRY(nb_cli_check_list("nabla tune", "shapes", o->shapes, 2048));
    NB_TRY(parse_threads(o->threads ? o->threads : online, p));
    NB_TRY(parse_dtypes(o->dtypes ? o->dtypes : "f32,f64", p));
    if (o->shapes)
        NB_TRY(parse_shapes(o->shapes, p));
    else
        default_shapes(o, p);
    p->settings = o->quick ? NB_TUNE_QUICK_SETTINGS : NB_TUNE_DEFAULT_SETTINGS;
    if (o->repeats) p->settings.repeats = (int)o->repeats;
    if (o->min_time_given) p->settings.min_time = o->min_time;
    if (o->out) {
        if (!*o->out || strlen(o->out) >= sizeof p->path)
            return nb_error(NB_ERR_ARG, "nabla tune: --out wants a path of 1 to %zu characters", sizeof p->path - 1);
        snprintf(p->path, sizeof p->path, "%s", o->out);
        return NB_OK;
    }
    if (nb_tune_path(p->path, sizeof p->path) != NB_OK) {
        char message[512];
        snprintf(message, sizeof message, "nabla tune: %s", nb_last_error());
        return nb_error(NB_ERR_ARG, "%s", message);
    }
    return NB_OK;
}

/* ---- output ------------------------------------------------------------------------------------------ */

static void print_header(void) {
    printf("%-18s %-5s %3s %-8s %12s %-9s %7s %s\n", "shape", "dtype", "thr", "winner", "median_us", "runner_up",
           "ratio", "overlap");
}

static const char *overlap_word(nb_overlap_status s) {
    return s == NB_OVERLAP_FOUND ? "yes" : s == NB_OVERLAP_NONE ? "no" : "?";
}

/* One row: the winner, its median, the runner-up and how much slower it is, and whether another
 * nabla measurement ran while it was timed (yes, no, ? for unknown). */
static void print_entry(void *opaque, const nb_tune_table *t, const nb_tune_entry *e) {
    (void)opaque;
    char label[64], ratio[16] = "-";
    nb_gemm_shape_label(&e->shape, label, sizeof label);
    int r = nb_tune_entry_runner_up(e, &t->context);
    if (r >= 0) snprintf(ratio, sizeof ratio, "%.2f", e->seconds[r] / e->seconds[e->winner]);
    printf("%-18s %-5s %3d %-8s %12.1f %-9s %7s %s\n", label, nb_dtype_name(e->dtype), e->threads,
           t->context.kernels[e->winner], e->seconds[e->winner] * 1e6, r >= 0 ? t->context.kernels[r] : "-", ratio,
           overlap_word(e->overlap));
    fflush(stdout);
}

static int show(const tune_plan *p) {
    nb_tune_table t;
    bool missing = false;
    if (nb_tune_read(p->path, &t, &missing) != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "tune", nb_last_error());
    nb_tune_context now;
    nb_tune_context_current(&now);
    char why[300];
    bool stale = nb_tune_context_stale(&t.context, &now, why, sizeof why);
    const nb_tune_context *c = &t.context;
    printf("tuning table %s: %d entries\n", p->path, t.count);
    printf("measured on: %s, %d online CPUs, OPENBLAS_CORETYPE %s, nabla %s, kernels/ at %.12s\n", c->cpu_model,
           c->online_cpus, *c->openblas_coretype ? c->openblas_coretype : "unset", c->nabla_version,
           c->kernels_revision);
    if (stale)
        printf("status: stale, %s (the next --kernel auto run or 'nabla tune' measures it again)\n\n", why);
    else
        printf("status: current\n\n");
    print_header();
    int overlapped = 0;
    for (int i = 0; i < t.count; i++) {
        print_entry(NULL, &t, &t.entries[i]);
        overlapped += t.entries[i].overlap == NB_OVERLAP_FOUND;
    }
    if (overlapped)
        printf("\n%d of the %d entries were timed while another nabla measurement ran (overlap yes): run 'nabla "
               "tune' again on a quiet machine to trust them\n",
               overlapped, t.count);
    nb_tune_table_free(&t);
    return NB_EXIT_OK;
}

/* Starts from the table at the path when it is current (so tuning some products keeps the
 * others; the save merges again with what the file holds then), else from an empty one,
 * saying why. Returns whether the file was unreadable: this run was told to replace it. */
static bool start_table(const tune_plan *p, const nb_tune_context *now, nb_tune_table *t) {
    bool missing = false;
    char why[300];
    if (nb_tune_read(p->path, t, &missing) != NB_OK) {
        if (!missing) printf("note: replacing the unreadable table: %s\n", nb_last_error());
        nb_tune_table_init(t, now);
        return !missing;
    } else if (nb_tune_context_stale(&t->context, now, why, sizeof why)) {
        printf("note: replacing the stale table %s: %s\n", p->path, why);
        nb_tune_table_free(t);
        nb_tune_table_init(t, now);
    } else if (t->count) {
        printf("note: updating the current table %s (%d entries)\n", p->path, t->count);
    }
    return false;
}

static int tune(const tune_plan *p) {
    /* a table that cannot be written is refused before minutes of measuring */
    if (nb_report_prepare_file(p->path) != NB_OK) {
        char message[NB_TUNE_PATH_MAX + 600];
        snprintf(message, sizeof message, "cannot write the tuning table %s: %s", p->path, nb_last_error());
        return nb_cmd_fail(NB_EXIT_FAILURE, "tune", message);
    }
    nb_tune_context now;
    nb_tune_context_current(&now);
    nb_tune_table t;
    bool replace_broken = start_table(p, &now, &t);
    printf("nabla tune: %d products x %d dtypes x %d thread counts; %d repeats of >= %g s; naive only up to %lld "
           "multiply-adds\n\n",
           p->nshapes, p->ndtypes, p->nthreads, p->settings.repeats, p->settings.min_time,
           (long long)NB_TUNE_NAIVE_MAX_MACS);
    print_header();
    double start = nb_now_seconds();
    nb_tune_settings settings = p->settings;
    settings.overlap = nb_overlap_begin("nabla tune");
    nb_status st = NB_OK;
    /* SIGINT, SIGTERM, SIGHUP stop the measuring between two samples; the products finished
     * by then are saved (merged like any other write), and the exit code says which signal */
    nb_interrupt_catch();
    for (int d = 0; d < p->ndtypes && st == NB_OK; d++)
        for (int i = 0; i < p->nthreads && st == NB_OK; i++)
            st = nb_tune_measure(&t, p->shapes, p->nshapes, p->dtypes[d], p->threads[i], &settings, print_entry, NULL);
    nb_interrupt_release();
    const bool interrupted = nb_interrupted();
    if (interrupted) st = NB_OK;
    nb_overlap_report overlap;
    nb_overlap_end(settings.overlap, &overlap);
    fflush(stdout);
    nb_overlap_warn(stderr, "nabla tune", &overlap);
    double seconds = nb_now_seconds() - start;
    nb_tune_save_info info = {0};
    /* merged with what the file holds now: a concurrent run's entries stay */
    if (st == NB_OK) st = nb_tune_save(p->path, &t, replace_broken, &info);
    if (st == NB_OK) {
        int measured = 0;
        for (int i = 0; i < t.count; i++) measured += t.entries[i].measured_now;
        printf("\nwrote %s: %d entries (%d measured now, %d kept from the file), measured in %.1f s\n", p->path,
               info.written, measured, info.kept, seconds);
        if (*info.moved_broken) printf("note: the unreadable table was moved to %s\n", info.moved_broken);
    }
    nb_tune_table_free(&t);
    if (st == NB_OK && interrupted) {
        fprintf(stderr, "nabla tune: interrupted by %s; the products measured before it were saved\n",
                nb_interrupt_signal_name());
        return nb_interrupt_exit_code();
    }
    return st == NB_OK ? NB_EXIT_OK : nb_cmd_fail(NB_EXIT_FAILURE, "tune", nb_last_error());
}

/* ---- the command --------------------------------------------------------------------------------------- */

int nb_cmd_tune(int argc, char **argv) {
    tune_options o = {0};
    bool help = false;
    const nb_option options[] = {
        NB_OPT_STRING_ROW("threads", &o.threads, "LIST",
                          "comma-separated thread counts (default: 1 and $OMP_NUM_THREADS, else the usable CPUs)"),
        NB_OPT_STRING_ROW("dtypes", &o.dtypes, "LIST", "f32, f64 or both (default f32,f64)"),
        NB_OPT_STRING_ROW("shapes", &o.shapes, "LIST",
                          "MxNxK[:nn|nt|tn|tt],... (default: the seed's products and squares 64..1024)"),
        NB_OPT_INT_ROW("repeats", &o.repeats, "R", "timed samples per kernel and product (default 5, --quick 2)", 1,
                       NB_GEMM_MAX_REPEATS),
        NB_OPT_DOUBLE_ROW("min-time", &o.min_time, "SEC",
                          "minimum duration of one sample (default 0.02, --quick 0.005)", 0, 10, &o.min_time_given),
        NB_OPT_FLAG_ROW("quick", &o.quick, "the seed's products only, 2 repeats, short samples (a few seconds)"),
        NB_OPT_STRING_ROW("out", &o.out, "FILE", "the table (default: $NABLA_TUNE_FILE, else the user cache)"),
        NB_OPT_FLAG_ROW("show", &o.show, "print the table and whether it is stale; measure nothing"),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    if (nb_cli_parse("nabla tune", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "tune", nb_last_error());
    if (help) {
        printf("usage: nabla tune [flags]\n\n"
               "Times every matmul kernel on the products the training variants issue at the seed's sizes\n"
               "(and squares 64..1024), per dtype and thread count, and writes the fastest per product to the\n"
               "tuning table that --kernel auto reads: $NABLA_TUNE_FILE, else $XDG_CACHE_HOME/nabla/tune.json,\n"
               "else ~/.cache/nabla/tune.json. The table records the machine and kernels it was measured\n"
               "with; when they change, --kernel auto measures the seed's products again by itself\n"
               "(kernels/README.md, \"auto\"). Naive is timed only up to %lld multiply-adds.\n"
               "Runs writing the table at once merge their entries under a lock (FILE.lock); a product timed\n"
               "while another nabla measurement ran is marked (overlap: yes) and the run warns on stderr.\n"
               "A location that cannot take the table is refused before anything is measured.\n\nflags:\n",
               (long long)NB_TUNE_NAIVE_MAX_MACS);
        nb_cli_print_options(stdout, options, count);
        return NB_EXIT_OK;
    }
    tune_plan p;
    if (make_plan(&o, &p) != NB_OK) return nb_cmd_fail(NB_EXIT_USAGE, "tune", nb_last_error());
    if (o.show) return show(&p);
    /* choosing among every kernel is tune's job: NABLA_KERNEL does not narrow it, and says so */
    nb_env_note_kernel_ignored("nabla tune");
    return tune(&p);
}
