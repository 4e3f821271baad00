/* src/harness/kernels_cmd.c — `nabla kernels`: lists the registry; with --bench times GEMM
 * kernels side by side on given shapes (interleaved repeats, medians, ratio to blas); with
 * --peak prints the built-in FMA peak probe; with --sweep runs sweep.c's matrix of products,
 * dtypes and thread counts against that peak. The kernels are called directly, so no tensor
 * overhead is measured. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/env.h"
#include "harness/interrupt.h"
#include "harness/overlap.h"
#include "harness/gemm_timing.h"
#include "harness/stats.h"
#include "harness/sweep.h"
#include "harness/tune.h"
#include "kernels/cpu.h"
#include "kernels/peak.h"
#include "tensor/runtime.h"
#include "tensor/tensor.h"

#define MAX_SHAPES 32

/* Splits a comma-separated list in place. */
static int split_list(char *text, char **items, int max) {
    int count = 0;
    for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (count == max) return -1;
        items[count++] = tok;
    }
    return count;
}

/* Parses "1,2,2" into distinct integers in [min, max], in the order given. */
static nb_status parse_int_list(const char *flag, const char *what, const char *text, int64_t min, int64_t max,
                                int64_t *out, int capacity, int *count) {
    char buf[512], *items[64];
    *count = 0;
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return nb_error(NB_ERR_ARG, "nabla kernels: --%s is too long", flag);
    int n = split_list(buf, items, 64);
    if (n == 0) return nb_error(NB_ERR_ARG, "nabla kernels: --%s is empty", flag);
    if (n < 0) return nb_error(NB_ERR_ARG, "nabla kernels: --%s takes at most %d values", flag, capacity);
    for (int i = 0; i < n; i++) {
        char *end;
        long long v = strtoll(items[i], &end, 10);
        if (*end || end == items[i] || v < min || v > max)
            return nb_error(NB_ERR_ARG, "nabla kernels: --%s wants %s in %lld..%lld, got '%s'", flag, what,
                            (long long)min, (long long)max, items[i]);
        bool dup = false;
        for (int j = 0; j < *count; j++) dup = dup || out[j] == v;
        if (dup) continue;
        if (*count == capacity)
            return nb_error(NB_ERR_ARG, "nabla kernels: --%s takes at most %d values", flag, capacity);
        out[(*count)++] = v;
    }
    return NB_OK;
}

/* Parses "f32,f64" into distinct dtypes. */
static nb_status parse_dtypes(const char *text, nb_dtype *out, int *count) {
    char buf[256], *items[16];
    *count = 0;
    snprintf(buf, sizeof buf, "%s", text);
    int n = split_list(buf, items, 16);
    if (n <= 0) return nb_error(NB_ERR_ARG, "nabla kernels: --dtypes wants f32 and/or f64, got '%s'", text);
    for (int i = 0; i < n; i++) {
        nb_dtype d;
        if (nb_dtype_parse(items[i], &d) != NB_OK)
            return nb_error(NB_ERR_ARG, "nabla kernels: --dtypes wants f32 and/or f64, got '%s'", items[i]);
        if (*count == 0 || (out[0] != d && *count < 2)) out[(*count)++] = d;
    }
    return NB_OK;
}

/* Kernels named in `list` (NULL: the whole registry), distinct, in the order given. */
static nb_status parse_kernels(const char *list, const nb_kernel **out, int capacity, int *count) {
    *count = 0;
    if (!list) {
        for (int i = 0; i < nb_kernel_count() && *count < capacity; i++) out[(*count)++] = nb_kernel_at(i);
        return NB_OK;
    }
    char buf[512], *items[64];
    snprintf(buf, sizeof buf, "%s", list);
    int n = split_list(buf, items, 64);
    if (n <= 0) return nb_error(NB_ERR_ARG, "nabla kernels: --kernels needs a kernel name");
    for (int i = 0; i < n; i++) {
        const nb_kernel *k = nb_kernel_find(items[i]);
        if (!k) {
            char names[256];
            nb_kernel_names(names, sizeof names);
            return nb_error(NB_ERR_ARG, "nabla kernels: unknown kernel '%s' (expected one of: %s)", items[i], names);
        }
        bool dup = false;
        for (int j = 0; j < *count; j++) dup = dup || out[j] == k;
        if (!dup && *count < capacity) out[(*count)++] = k;
    }
    return NB_OK;
}

/* Everything `nabla kernels` accepts; strings left NULL and repeats 0 take the mode's default. */
typedef struct kernels_options {
    bool bench, sweep, peak;
    const char *shapes, *kernels, *dtype_name, *threads, *dtypes, *sizes, *out_dir;
    int64_t repeats;
    double min_time;
    bool min_time_seen;
    int64_t naive_max;
    bool no_seed, no_squares, quick, serial_all;
} kernels_options;

/* ---- --bench ------------------------------------------------------------------------------ */

static int run_bench(const kernels_options *o) {
    char shapes_text[1024];
    char *shape_items[MAX_SHAPES];
    snprintf(shapes_text, sizeof shapes_text, "%s", o->shapes ? o->shapes : "64x100x1000,1024x1024x1024");
    int nshapes = split_list(shapes_text, shape_items, MAX_SHAPES);
    if (nshapes <= 0) return nb_cmd_fail(NB_EXIT_USAGE, "kernels", "nabla kernels: --shapes needs 1 to 32 shapes");
    nb_gemm_shape shapes[MAX_SHAPES];
    for (int i = 0; i < nshapes; i++)
        if (nb_gemm_shape_parse(shape_items[i], &shapes[i]) != NB_OK) {
            char message[300];
            snprintf(message, sizeof message, "nabla kernels: %s", nb_last_error());
            return nb_cmd_fail(NB_EXIT_USAGE, "kernels", message);
        }
    const nb_kernel *kernels[64];
    int nkernels = 0;
    if (parse_kernels(o->kernels, kernels, 64, &nkernels) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    nb_dtype dtype;
    if (nb_dtype_parse(o->dtype_name ? o->dtype_name : "f32", &dtype) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", "nabla kernels: --dtype must be f32 or f64");
    int threads = 1;
    if (nb_env_default_threads("nabla kernels", &threads, NULL) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    if (o->threads) {
        int64_t list[NB_SWEEP_MAX_THREADS];
        int n = 0;
        if (parse_int_list("threads", "counts", o->threads, 1, NB_MAX_THREADS, list, NB_SWEEP_MAX_THREADS, &n) != NB_OK)
            return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
        if (n != 1)
            return nb_cmd_fail(NB_EXIT_USAGE, "kernels",
                               "nabla kernels: --bench takes one --threads count (--sweep takes a list)");
        threads = (int)list[0];
    }
    int repeats = o->repeats ? (int)o->repeats : 5;

    const nb_kernel *blas = nb_kernel_find("blas");
    printf("GEMM %s, %d thread%s, median of %d interleaved repeats (each >= %.0f ms of calls)\n", nb_dtype_name(dtype),
           threads, threads == 1 ? "" : "s", repeats, o->min_time * 1e3);
    printf("%-20s %-8s %12s %12s %10s %8s\n", "shape", "kernel", "median_us", "min_us", "GFLOP/s", "vs_blas");
    nb_gemm_timing timing = {.dtype = dtype, .threads = threads, .repeats = repeats, .min_time = o->min_time};
    /* registered as a measurement: one that overlapped another nabla measurement says so */
    nb_overlap *overlap = nb_overlap_begin("nabla kernels --bench");
    for (int si = 0; si < nshapes; si++) {
        const nb_gemm_shape *s = &shapes[si];
        nb_stats stats[64];
        if (nb_gemm_time_kernels(s, kernels, nkernels, &timing, stats) != NB_OK) {
            nb_overlap_end(overlap, NULL);
            if (!nb_interrupted()) return nb_cmd_fail(NB_EXIT_FAILURE, "kernels", nb_last_error());
            fprintf(stderr, "nabla kernels: interrupted by %s\n", nb_interrupt_signal_name());
            return nb_interrupt_exit_code();
        }
        double blas_med = NAN;
        for (int ki = 0; ki < nkernels; ki++)
            if (kernels[ki] == blas) blas_med = stats[ki].median;
        char label[64];
        nb_gemm_shape_label(s, label, sizeof label);
        for (int ki = 0; ki < nkernels; ki++) {
            char ratio[16] = "-";
            if (!isnan(blas_med)) snprintf(ratio, sizeof ratio, "%.2fx", blas_med / stats[ki].median);
            printf("%-20s %-8s %12.1f %12.1f %10.2f %8s\n", label, kernels[ki]->name, stats[ki].median * 1e6,
                   stats[ki].min * 1e6, nb_gemm_shape_flops(s) / stats[ki].median * 1e-9, ratio);
        }
        fflush(stdout);
    }
    nb_overlap_report rep;
    nb_overlap_end(overlap, &rep);
    nb_overlap_warn(stderr, "nabla kernels --bench", &rep);
    return NB_EXIT_OK;
}

/* ---- --peak and --sweep ------------------------------------------------------------------- */

/* --dtypes (default f32,f64) and --threads (default: `fallback`) for --peak and --sweep. */
static nb_status parse_dtypes_threads(const kernels_options *o, const char *fallback, nb_dtype *dtypes, int *ndtypes,
                                      int *threads, int *nthreads) {
    NB_TRY(parse_dtypes(o->dtypes ? o->dtypes : "f32,f64", dtypes, ndtypes));
    int64_t list[NB_SWEEP_MAX_THREADS];
    NB_TRY(parse_int_list("threads", "counts", o->threads ? o->threads : fallback, 1, NB_MAX_THREADS, list,
                          NB_SWEEP_MAX_THREADS, nthreads));
    for (int i = 0; i < *nthreads; i++) threads[i] = (int)list[i];
    return NB_OK;
}

/* ISA x dtype x threads 1..the default thread count (powers of two and the count itself
 * beyond 16). */
static int run_peak(const kernels_options *o) {
    int online = 1;
    if (nb_env_default_threads("nabla kernels", &online, NULL) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    char counts[256] = "";
    size_t len = 0;
    for (int t = 1; t <= online && len < sizeof counts - 16; t = online <= NB_SWEEP_MAX_THREADS ? t + 1 : t * 2)
        len += (size_t)snprintf(counts + len, sizeof counts - len, "%s%d", len ? "," : "", t);
    if (online > NB_SWEEP_MAX_THREADS) snprintf(counts + len, sizeof counts - len, ",%d", online);
    nb_dtype dtypes[2];
    int threads[NB_SWEEP_MAX_THREADS], ndtypes = 0, nthreads = 0;
    if (parse_dtypes_threads(o, counts, dtypes, &ndtypes, threads, &nthreads) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    nb_cpu_info cpu = nb_cpu_features();
    printf("CPU: avx2+fma %s, avx512f %s (best: %s), %d online CPU%s, %d usable\n", cpu.has_avx2_fma ? "yes" : "no",
           cpu.has_avx512f ? "yes" : "no", cpu.best_name, nb_runtime_online_cpus(),
           nb_runtime_online_cpus() == 1 ? "" : "s", nb_runtime_usable_cpus());
    nb_peak_row rows[NB_CPU_ISA_COUNT * 2 * NB_SWEEP_MAX_THREADS];
    int n = nb_sweep_probe_peaks(dtypes, ndtypes, threads, nthreads, rows, (int)(sizeof rows / sizeof rows[0]));
    if (n == 0) {
        printf("no AVX2 or AVX-512 here: nothing to probe\n");
        return NB_EXIT_OK;
    }
    printf("FMA peak probe: %d (AVX2) or %d (AVX-512) independent FMA chains in every thread, the best of %d "
           "rounds of %d runs\n",
           NB_PEAK_CHAINS_AVX2, NB_PEAK_CHAINS_AVX512, NB_SWEEP_PEAK_ROUNDS, NB_PEAK_REPEATS);
    printf("%-8s %-6s %7s %10s %11s\n", "isa", "dtype", "threads", "GFLOP/s", "per_thread");
    for (int i = 0; i < n; i++)
        printf("%-8s %-6s %7d %10.1f %11.1f\n", nb_cpu_isa_name(rows[i].isa), nb_dtype_name(rows[i].dtype),
               rows[i].threads, rows[i].gflops, rows[i].gflops / rows[i].threads);
    return NB_EXIT_OK;
}

static int run_sweep(const kernels_options *o) {
    nb_sweep_config cfg = {.repeats = (int)o->repeats,
                           .min_time = o->min_time,
                           .naive_max = o->naive_max,
                           .seed = !o->no_seed,
                           .squares = !o->no_squares,
                           .serial_all = o->serial_all,
                           .out_dir = o->out_dir ? o->out_dir : "bench/results"};
    /* --quick is a CI smoke run; every flag given explicitly still wins over it */
    const char *sizes = o->sizes ? o->sizes : o->quick ? "64,256" : "64,128,256,512,1024,2048";
    char online[32];
    int default_threads = 1;
    if (nb_env_default_threads("nabla kernels", &default_threads, NULL) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    snprintf(online, sizeof online, default_threads > 1 ? "1,%d" : "%d", default_threads);
    if (!cfg.repeats) cfg.repeats = o->quick ? 2 : 3;
    if (!o->min_time_seen) cfg.min_time = o->quick ? 0.01 : 0.05;
    int64_t list[NB_SWEEP_MAX_SIZES];
    if (parse_int_list("sizes", "sizes", sizes, 1, NB_GEMM_MAX_DIM, list, NB_SWEEP_MAX_SIZES, &cfg.nsizes) != NB_OK ||
        parse_dtypes_threads(o, o->quick ? "1" : online, cfg.dtypes, &cfg.ndtypes, cfg.threads, &cfg.nthreads) !=
            NB_OK ||
        parse_kernels(o->kernels, cfg.kernels, NB_SWEEP_MAX_KERNELS, &cfg.nkernels) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    for (int i = 0; i < cfg.nsizes; i++) cfg.sizes[i] = list[i];
    if (o->no_seed && o->no_squares)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels",
                           "nabla kernels: --no-seed and --no-squares leave nothing to sweep");
    if (nb_sweep_run(&cfg) != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "kernels", nb_last_error());
    return nb_interrupted() ? nb_interrupt_exit_code() : NB_EXIT_OK;
}

/* ---- the command -------------------------------------------------------------------------- */

/* The concrete kernels, then auto with the state of its tuning table: auto is a policy over
 * the others, so sweeps and matrices leave it out unless asked for by name. */
static void list_kernels(void) {
    const nb_kernel *def = nb_kernel_default();
    for (int i = 0; i < nb_kernel_count(); i++) {
        const nb_kernel *k = nb_kernel_at(i);
        printf("%-8s %-12s %s%s\n", k->name, k->threaded ? "threaded" : "serial", k->description,
               k == def ? " (default)" : "");
    }
    char path[1024], state[1400] = "no table path (set NABLA_TUNE_FILE or HOME)";
    if (nb_tune_path(path, sizeof path) == NB_OK) {
        nb_tune_table table;
        bool missing = false;
        if (nb_tune_read(path, &table, &missing) != NB_OK) {
            snprintf(state, sizeof state, "%s: %s", path,
                     missing ? "missing, `nabla tune` writes it" : "unreadable, rerun `nabla tune`");
        } else {
            nb_tune_context now;
            char why[200];
            nb_tune_context_current(&now);
            if (nb_tune_context_stale(&table.context, &now, why, sizeof why))
                snprintf(state, sizeof state, "%s: stale (%s)", path, why);
            else
                snprintf(state, sizeof state, "%s: %d products", path, table.count);
            nb_tune_table_free(&table);
        }
    }
    const nb_kernel *autok = nb_kernel_auto();
    printf("%-8s %-12s %s; table %s\n", autok->name, "dispatch", autok->description, state);
}

enum { MODE_LIST = 1, MODE_BENCH = 2, MODE_SWEEP = 4, MODE_PEAK = 8, MODE_ANY = 15 };

/* An option and the modes it belongs to: a flag of one mode given to another is an error
 * rather than silently ignored. */
typedef struct mode_option {
    nb_option opt;
    unsigned modes;
} mode_option;

static const char *mode_names(unsigned modes) {
    switch (modes) {
    case MODE_BENCH: return "--bench";
    case MODE_SWEEP: return "--sweep";
    case MODE_BENCH | MODE_SWEEP: return "--bench or --sweep";
    case MODE_SWEEP | MODE_PEAK: return "--sweep or --peak";
    default: return "--bench, --sweep or --peak";
    }
}

int nb_cmd_kernels(int argc, char **argv) {
    bool help = false;
    kernels_options o = {.min_time = 0.05, .naive_max = 512};
    const mode_option table[] = {
        {NB_OPT_FLAG_ROW("bench", &o.bench, "time the kernels side by side on --shapes"), MODE_ANY},
        {NB_OPT_FLAG_ROW("sweep", &o.sweep, "GFLOP/s and % of FMA peak on the seed products and squares"), MODE_ANY},
        {NB_OPT_FLAG_ROW("peak", &o.peak, "measure this CPU's FMA peak (AVX2, AVX-512) and print it"), MODE_ANY},
        {NB_OPT_STRING_ROW("shapes", &o.shapes, "LIST",
                           "bench: MxNxK[:nn|nt|tn|tt],... (default 64x100x1000,1024x1024x1024)"),
         MODE_BENCH},
        {NB_OPT_STRING_ROW("dtype", &o.dtype_name, "f32|f64", "bench: element type (default f32)"), MODE_BENCH},
        {NB_OPT_STRING_ROW("kernels", &o.kernels, "LIST", "comma-separated kernel names (default: all)"),
         MODE_BENCH | MODE_SWEEP},
        {NB_OPT_STRING_ROW("threads", &o.threads, "T|LIST",
                           "bench: one count (default: $OMP_NUM_THREADS, else the usable CPUs); sweep: a list "
                           "(default 1 and that count); peak: a list (default 1..that count)"),
         MODE_BENCH | MODE_SWEEP | MODE_PEAK},
        {NB_OPT_INT_ROW("repeats", &o.repeats, "R", "timed samples per kernel and shape (bench 5, sweep 3)", 1,
                        NB_GEMM_MAX_REPEATS),
         MODE_BENCH | MODE_SWEEP},
        {NB_OPT_DOUBLE_ROW("min-time", &o.min_time, "SEC", "minimum duration of one sample (default 0.05)", 0, 60,
                           &o.min_time_seen),
         MODE_BENCH | MODE_SWEEP},
        {NB_OPT_STRING_ROW("dtypes", &o.dtypes, "LIST", "sweep, peak: element types (default f32,f64)"),
         MODE_SWEEP | MODE_PEAK},
        {NB_OPT_STRING_ROW("sizes", &o.sizes, "LIST", "sweep: square sizes (default 64,128,256,512,1024,2048)"),
         MODE_SWEEP},
        {NB_OPT_INT_ROW("naive-max", &o.naive_max, "N", "sweep: naive only on squares up to N (default 512)", 0,
                        NB_GEMM_MAX_DIM),
         MODE_SWEEP},
        {NB_OPT_FLAG_ROW("no-seed", &o.no_seed, "sweep: leave out the seed step's six products"), MODE_SWEEP},
        {NB_OPT_FLAG_ROW("no-squares", &o.no_squares, "sweep: leave out the squares"), MODE_SWEEP},
        {NB_OPT_FLAG_ROW("serial-all-threads", &o.serial_all,
                         "sweep: time serial kernels at every thread count (default: the smallest only)"),
         MODE_SWEEP},
        {NB_OPT_FLAG_ROW("quick", &o.quick,
                         "sweep: a smoke run: squares 64,256, 1 thread, 2 repeats, min-time 0.01 (flags given win)"),
         MODE_SWEEP},
        {NB_OPT_STRING_ROW("out", &o.out_dir, "DIR",
                           "sweep: where sweep.json, .csv and .md go (default bench/results)"),
         MODE_SWEEP},
    };
    enum { COUNT = sizeof table / sizeof table[0] };
    nb_option options[COUNT];
    bool seen[COUNT] = {false};
    for (int i = 0; i < COUNT; i++) {
        options[i] = table[i].opt;
        if (!options[i].seen) options[i].seen = &seen[i];
    }
    if (nb_cli_parse("nabla kernels", argc, argv, options, COUNT, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    if (help) {
        printf("usage: nabla kernels [--bench | --sweep | --peak] [flags]\n\n"
               "Lists the matmul kernels (the GEMM contract is in kernels/README.md).\n"
               "--bench times them side by side on --shapes: a calibrated warm-up, then interleaved repeats;\n"
               "  reports the median and minimum time per call, GFLOP/s of the median, the speed relative to blas.\n"
               "--peak measures this CPU's FMA throughput with a built-in probe (independent FMA chains per\n"
               "  thread, AVX2 and AVX-512 where supported), per dtype and thread count.\n"
               "--sweep times every kernel, the same way as --bench, on the six GEMMs of a seed training step\n"
               "  (batch 64, D_in 1000, H 100, D_out 10, transposes as flags) and on squares, for each dtype and\n"
               "  thread count, as GFLOP/s, ratio to blas and %% of the probe's peak; naive is skipped on squares\n"
               "  above --naive-max, serial kernels at all but the smallest thread count. Writes sweep.json,\n"
               "  sweep.csv and sweep.md to --out after every product.\n"
               "  The default takes about a minute on 2 cores; --quick is a few seconds.\n\nflags:\n");
        nb_cli_print_options(stdout, options, COUNT);
        return NB_EXIT_OK;
    }
    if (o.bench + o.sweep + o.peak > 1)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", "nabla kernels: --bench, --sweep and --peak exclude each other");
    unsigned mode = o.bench ? MODE_BENCH : o.sweep ? MODE_SWEEP : o.peak ? MODE_PEAK : MODE_LIST;
    for (int i = 0; i < COUNT; i++)
        if (*options[i].seen && !(table[i].modes & mode)) {
            char message[160];
            snprintf(message, sizeof message, "nabla kernels: --%s goes with %s", options[i].name,
                     mode_names(table[i].modes));
            return nb_cmd_fail(NB_EXIT_USAGE, "kernels", message);
        }
    /* empty entries ("1,") would be skipped by the splitter; long lists would be cut short */
    if (nb_cli_check_list("nabla kernels", "shapes", o.shapes, 1024) != NB_OK ||
        nb_cli_check_list("nabla kernels", "kernels", o.kernels, 512) != NB_OK ||
        nb_cli_check_list("nabla kernels", "threads", o.threads, 512) != NB_OK ||
        nb_cli_check_list("nabla kernels", "dtypes", o.dtypes, 256) != NB_OK ||
        nb_cli_check_list("nabla kernels", "sizes", o.sizes, 512) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    /* comparing kernels is this command's job: NABLA_KERNEL does not narrow it, and says so */
    if ((mode == MODE_BENCH || mode == MODE_SWEEP) && !o.kernels) nb_env_note_kernel_ignored("nabla kernels");
    /* SIGINT, SIGTERM, SIGHUP stop the timing between two samples; a sweep keeps its finished rows */
    nb_interrupt_catch();
    int code = mode == MODE_BENCH   ? run_bench(&o)
               : mode == MODE_SWEEP ? run_sweep(&o)
               : mode == MODE_PEAK  ? run_peak(&o)
                                    : -1;
    nb_interrupt_release();
    if (code >= 0) return code;
    list_kernels();
    return NB_EXIT_OK;
}
