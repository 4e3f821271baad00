/* src/harness/bench_cmd.c — `nabla bench`: the matrix busy neighbours x network sizes x
 * variants x kernels x thread counts, each training loop warmed up and then timed R times,
 * interleaved round by round with the PyTorch twins (timed in-process by the twin, same loop,
 * matched thread counts, the same sizes and neighbours; a twin is a fresh process per sample,
 * so it has nothing to warm up and skips the warm-up). Reports median/min/max/mean/stddev/cv,
 * GFLOP/s, speedups against naive and against PyTorch's best thread count; writes JSON, CSV
 * and Markdown after every round, atomically. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/timer.h"
#include "harness/bench_compare.h"
#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/dims.h"
#include "harness/env.h"
#include "harness/footprint.h"
#include "harness/interrupt.h"
#include "harness/neighbours.h"
#include "harness/overlap.h"
#include "base/file.h"
#include "harness/report.h"
#include "harness/stats.h"
#include "harness/train.h"
#include "harness/tune.h"
#include "tensor/runtime.h"

#define MAX_CASES NB_BENCH_MAX_CASES
#define MAX_REPEATS NB_BENCH_MAX_SAMPLES
#define TORCH_PYTHON "/usr/bin/python3"
/* the most values a list flag takes (--threads, --neighbours, each size) */
#define MAX_LIST 16
#define LIST_BYTES 256

typedef struct bench_case {
    const nb_variant *variant;
    const nb_kernel *kernel; /* NULL: the PyTorch twin */
    int threads;
    int neighbours;                /* busy neighbours running while it is timed (neighbours.h) */
    int64_t sizes[NB_BENCH_SIZES]; /* batch, d_in, hidden, d_out */
    double samples[MAX_REPEATS];   /* loop seconds */
    int done;
    uint64_t flops; /* per loop, from the dispatcher (twins: the same count) */
    char torch_version[32];
    char error[200]; /* the case could not run: why */
} bench_case;

typedef struct bench_options {
    const char *variants, *kernels, *threads, *dtype_name, *out_dir;
    const char *neighbours;            /* --neighbours LIST */
    const char *sizes[NB_BENCH_SIZES]; /* --batch, --d-in, --hidden, --d-out LISTs */
    int64_t repeats, warmup, iters;
    bool repeats_given, warmup_given, iters_given; /* --quick never overrides a flag given */
    bool quick, no_torch;
    char data_dir[PATH_MAX];         /* holds reference/, the twins */
    nb_overlap *overlap;             /* this run in the registry of measurements (overlap.h) */
    int64_t overlap_since;           /* when it began, nb_overlap_clock */
    nb_overlap_report overlap_final; /* once it has ended (overlap NULL): what the end saw */
    nb_dtype dtype;
    int64_t seed_sizes[NB_BENCH_SIZES]; /* the seed network's: a case of other sizes says so in its key */
    char neighbours_list[LIST_BYTES];   /* the counts as parsed, "0,1", for the config */
    nb_neighbours *busy;                /* the neighbours running now, and what all of them used */
    double loadavg[3];                  /* when the run began */
    bool have_loadavg;
} bench_options;

/* ---- the matrix ------------------------------------------------------------------------------ */

/* The size flags, in the order of bench_case.sizes, with `nabla train`'s metavariables. */
static const char *const size_flags[NB_BENCH_SIZES] = {"batch", "d-in", "hidden", "d-out"};
static const char *const size_metavars[NB_BENCH_SIZES] = {"N", "D", "H", "O"};

/* Parses "1,2" into thread counts; NB_ERR_ARG on anything else. */
static nb_status parse_threads(const char *text, int *out, int *count) {
    *count = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > NB_MAX_THREADS || *count == 16)
            return nb_error(NB_ERR_ARG, "nabla bench: --threads wants up to 16 counts in 1..%d, got '%s'",
                            NB_MAX_THREADS, tok);
        out[(*count)++] = (int)v;
    }
    return *count ? NB_OK : nb_error(NB_ERR_ARG, "nabla bench: --threads is empty");
}

/* Parses a list of integers (--neighbours 0,2; --hidden 100,1024): no empty entry, at most
 * MAX_LIST values, none twice (two cases would share a key), each checked by the parser every
 * flag goes through, as one `--flag=value` within [min, max]: `nabla bench --hidden 0` is
 * refused as `nabla train --hidden 0` is, in the same words. */
static nb_status parse_list(const char *flag, const char *metavar, const char *text, int64_t min, int64_t max,
                            int64_t *out, int *count) {
    *count = 0;
    NB_TRY(nb_cli_check_list("nabla bench", flag, text, LIST_BYTES));
    char buf[LIST_BYTES];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*count == MAX_LIST) return nb_error(NB_ERR_ARG, "nabla bench: --%s takes up to %d values", flag, MAX_LIST);
        int64_t v = 0;
        const nb_option row = NB_OPT_INT_ROW(flag, &v, metavar, "", min, max);
        char arg[LIST_BYTES + 32];
        snprintf(arg, sizeof arg, "--%s=%s", flag, tok);
        char *argv[] = {arg};
        bool help = false;
        NB_TRY(nb_cli_parse("nabla bench", 1, argv, &row, 1, &help));
        for (int i = 0; i < *count; i++)
            if (out[i] == v) return nb_error(NB_ERR_ARG, "nabla bench: --%s lists %lld twice", flag, (long long)v);
        out[(*count)++] = v;
    }
    return NB_OK;
}

static nb_status check_names(const char *flag, const char *list, bool variants) {
    if (!list) return NB_OK;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (variants ? !nb_variant_find(tok) : !nb_kernel_find(tok))
            return nb_error(NB_ERR_ARG, "nabla bench: unknown %s '%s' in --%s", variants ? "variant" : "kernel", tok,
                            flag);
    return NB_OK;
}

/* ---- running one sample -------------------------------------------------------------------- */

/* The run of one variant at the given sizes (NULL: the seed network's). */
static nb_train_config case_config(const bench_options *o, const nb_variant *v, const int64_t *sizes) {
    nb_train_config cfg;
    nb_train_config_default(&cfg);
    cfg.variant = v->name;
    cfg.dtype = o->dtype;
    cfg.iters = o->iters;
    if (sizes) {
        cfg.batch = sizes[0];
        cfg.d_in = sizes[1];
        cfg.hidden = sizes[2];
        cfg.d_out = sizes[3];
    }
    return cfg;
}

/* " +1nb H1024": what sets the case apart from the seed network run alone (nb_bench_case_suffix). */
static void case_suffix(const bench_options *o, const bench_case *c, char *buf, size_t size) {
    nb_bench_case_suffix(c->neighbours, c->sizes, o->seed_sizes, buf, size);
}

static nb_status run_nabla(const bench_options *o, bench_case *c, double *seconds) {
    nb_runtime_set_kernel(c->kernel);
    NB_TRY(nb_runtime_set_threads(c->threads));
    nb_train_config cfg = case_config(o, c->variant, c->sizes);
    nb_train_result r;
    nb_status st = nb_train_run(c->variant, &cfg, NULL, NULL, &r);
    *seconds = r.loop_seconds;
    c->flops = r.flops;
    nb_train_result_free(&r);
    return st;
}

/* "exit status 3", "killed by SIGTERM": what a wait status says, in words. */
static void describe_wait_status(int status, char *buf, size_t size) {
    if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, size, "wait status %d", status);
}

/* Runs argv[0] with its stdout and stderr into `out` (NUL-terminated, cut at `size` - 1
 * bytes) and returns its wait status in *status. The child is registered with
 * harness/interrupt.h, so a stop request reaches it too (SIGTERM): a twin never outlives
 * nabla as an orphan. */
static nb_status run_child(char *const argv[], char *out, size_t size, int *status) {
    int fds[2];
    if (pipe(fds) != 0) return nb_error(NB_ERR_IO, "cannot run %s: %s", argv[0], strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return nb_error(NB_ERR_IO, "cannot run %s: %s", argv[0], strerror(errno));
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        dprintf(STDOUT_FILENO, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    nb_interrupt_set_child(pid);
    /* a request that came between fork and registration must still reach the child */
    if (nb_interrupted()) kill(pid, SIGTERM);
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fds[0], out + len, len + 1 < size ? size - 1 - len : 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            /* the buffer is full: drain the rest so the child never blocks on a full pipe */
            char sink[4096];
            if (n == 0 && len + 1 >= size && read(fds[0], sink, sizeof sink) > 0) continue;
            break;
        }
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    nb_interrupt_set_child(0);
    return NB_OK;
}

/* The twin prints one JSON object; its timing.loop_seconds is measured inside Python around
 * the same loop nabla times. OMP and OpenBLAS thread counts are matched by the twin itself. */
static nb_status run_torch(const bench_options *o, bench_case *c, double *seconds) {
    char script[PATH_MAX + 64], iters[32], threads[16], sizes[NB_BENCH_SIZES][24];
    int len = snprintf(script, sizeof script, "%s/reference/", o->data_dir);
    for (const char *p = c->variant->name; *p && len < (int)sizeof script - 4; p++)
        script[len++] = *p == '-' ? '_' : *p;
    snprintf(script + len, sizeof script - len, ".py");
    snprintf(iters, sizeof iters, "%lld", (long long)o->iters);
    snprintf(threads, sizeof threads, "%d", c->threads);
    for (int i = 0; i < NB_BENCH_SIZES; i++) snprintf(sizes[i], sizeof sizes[i], "%lld", (long long)c->sizes[i]);
    /* the twins take `nabla train`'s flags (reference/twin.py), sizes included */
    char *const argv[] = {TORCH_PYTHON,    script,   "--iters", iters,
                          "--threads",     threads,  "--dtype", (char *)nb_dtype_name(o->dtype),
                          "--batch",       sizes[0], "--d-in",  sizes[1],
                          "--hidden",      sizes[2], "--d-out", sizes[3],
                          "--print-every", "0",      "--json",  NULL};
    static char out[1 << 20];
    int rc = 0;
    NB_TRY(run_child(argv, out, sizeof out, &rc));
    cJSON *doc = rc == 0 ? cJSON_Parse(out) : NULL;
    const cJSON *timing = cJSON_GetObjectItemCaseSensitive(doc, "timing");
    const cJSON *loop = cJSON_GetObjectItemCaseSensitive(timing, "loop_seconds");
    const cJSON *flops = cJSON_GetObjectItemCaseSensitive(timing, "matmul_flops");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "version");
    nb_status st = NB_OK;
    if (!cJSON_IsNumber(loop)) {
        char how[96];
        describe_wait_status(rc, how, sizeof how);
        /* a traceback's last line says why; its first says only "Traceback" */
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = '\0';
        const char *last = strrchr(out, '\n');
        st = nb_error(NB_ERR_IO, "the PyTorch twin %s failed (%s): %.160s", script, how, last ? last + 1 : out);
    } else {
        *seconds = loop->valuedouble;
        c->flops = cJSON_IsNumber(flops) ? (uint64_t)flops->valuedouble : 0;
        if (cJSON_IsString(version)) snprintf(c->torch_version, sizeof c->torch_version, "%s", version->valuestring);
    }
    cJSON_Delete(doc);
    return st;
}

static void run_sample(const bench_options *o, bench_case *c, bool timed) {
    if (c->error[0]) return;
    double seconds = 0;
    nb_status st = c->kernel ? run_nabla(o, c, &seconds) : run_torch(o, c, &seconds);
    /* Interrupted: a nabla loop that stopped early, or a twin that may have had the same SIGINT
     * (a terminal sends it to the whole process group), is no sample and no error either. A
     * nabla loop that finished before the signal is a whole sample and is kept. */
    if (nb_interrupted() && (st != NB_OK || !c->kernel)) return;
    if (st != NB_OK) {
        snprintf(c->error, sizeof c->error, "%s", nb_last_error());
        return;
    }
    if (timed) c->samples[c->done++] = seconds;
}

/* ---- reports -------------------------------------------------------------------------------- */

static const char *case_kernel(const bench_case *c) { return c->kernel ? c->kernel->name : "torch"; }

/* Whether two cases ran the same network under the same load: only such are compared. */
static bool same_setting(const bench_case *a, const bench_case *b) {
    return a->variant == b->variant && a->neighbours == b->neighbours && !memcmp(a->sizes, b->sizes, sizeof a->sizes);
}

/* The median of the same variant, sizes, neighbours and threads with the naive kernel, and
 * PyTorch's best median over thread counts for them; NAN when not measured. */
static double baseline(const bench_case *cases, int n, const bench_case *c, bool torch_best) {
    double best = NAN;
    for (int i = 0; i < n; i++) {
        const bench_case *b = &cases[i];
        if (!same_setting(b, c) || !b->done || b->error[0]) continue;
        if (torch_best && !b->kernel) {
            double m = nb_stats_of(b->samples, b->done).median;
            if (isnan(best) || m < best) best = m;
        } else if (!torch_best && b->kernel && !strcmp(b->kernel->name, "naive") && b->threads == c->threads) {
            best = nb_stats_of(b->samples, b->done).median;
        }
    }
    return best;
}

typedef struct row_view {
    nb_stats s;
    double gflops, vs_naive, vs_torch;
} row_view;

static row_view view_of(const bench_case *cases, int n, const bench_case *c) {
    row_view r = {.s = nb_stats_of(c->samples, c->done)};
    r.gflops = r.s.median > 0 ? (double)c->flops / r.s.median * 1e-9 : 0;
    r.vs_naive = baseline(cases, n, c, false) / r.s.median;
    r.vs_torch = baseline(cases, n, c, true) / r.s.median;
    return r;
}

/* Which of the optional columns bench.md needs: a neighbours column when some case ran with
 * neighbours, a sizes column when some case is not the seed network. Neither for the seed
 * alone, whose table keeps the layout it had before they existed. */
static void optional_columns(const bench_options *o, const bench_case *cases, int n, bool *neighbours, bool *sizes) {
    *neighbours = *sizes = false;
    for (int i = 0; i < n; i++) {
        *neighbours |= cases[i].neighbours > 0;
        *sizes |= memcmp(cases[i].sizes, o->seed_sizes, sizeof o->seed_sizes) != 0;
    }
}

/* "N512 D2048 H1024 O100" or "seed": bench.md's sizes cell. */
static void sizes_cell(const bench_options *o, const bench_case *c, char *buf, size_t size) {
    char suffix[128];
    nb_bench_case_suffix(0, c->sizes, o->seed_sizes, suffix, sizeof suffix);
    snprintf(buf, size, "%s", suffix[0] ? suffix + 1 : "seed");
}

static nb_status write_reports(const bench_options *o, const bench_case *cases, int n, int rounds_done,
                               bool interrupted) {
    cJSON *doc = cJSON_CreateObject();
    cJSON *ctx = cJSON_AddObjectToObject(doc, "context");
    nb_report_context(ctx);
    /* the machine's load as the run began: other work the samples shared the CPUs with, besides
     * the neighbours the run started itself */
    if (o->have_loadavg)
        cJSON_AddItemToObject(ctx, "loadavg_start", cJSON_CreateDoubleArray(o->loadavg, 3));
    else
        cJSON_AddNullToObject(ctx, "loadavg_start");
    /* The torch the twins ran, from their own JSON; null until a twin has reported (or with
     * --no-torch), so readers find the key either way. */
    const char *torch_version = NULL;
    for (int i = 0; i < n && !torch_version; i++)
        if (cases[i].torch_version[0]) torch_version = cases[i].torch_version;
    if (torch_version)
        cJSON_AddStringToObject(ctx, "torch_version", torch_version);
    else
        cJSON_AddNullToObject(ctx, "torch_version");
    cJSON *cfg = cJSON_AddObjectToObject(doc, "config");
    cJSON_AddStringToObject(cfg, "dtype", nb_dtype_name(o->dtype));
    cJSON_AddNumberToObject(cfg, "iters", (double)o->iters);
    cJSON_AddNumberToObject(cfg, "repeats", (double)o->repeats);
    cJSON_AddNumberToObject(cfg, "warmup", (double)o->warmup);
    cJSON_AddNumberToObject(cfg, "rounds_done", rounds_done);
    /* stopped by SIGINT: every sample listed is whole, but cases may have unequal counts */
    cJSON_AddBoolToObject(cfg, "interrupted", interrupted);
    /* the busy neighbours: the counts measured, how many processes were started, and the CPU
     * they got (the proof that they ran, and how much of the machine they took) */
    cJSON_AddStringToObject(cfg, "neighbours", o->neighbours_list);
    cJSON_AddNumberToObject(cfg, "neighbours_started", (double)o->busy->started);
    cJSON_AddNumberToObject(cfg, "neighbours_cpu_s", o->busy->cpu_seconds);
    /* other nabla measurements that ran while this one did ("unknown" when that cannot be told):
     * their load is in these samples */
    nb_overlap_report overlap = o->overlap_final;
    if (o->overlap) nb_overlap_check(o->overlap, o->overlap_since, &overlap);
    cJSON_AddItemToObject(ctx, "overlapped_by", nb_overlap_json(&overlap));
    /* The rest of what decides what one sample measures, so that --compare (bench_compare.c)
     * can refuse two runs that differ in it: the network and its data (bench takes the seed
     * program's, but a changed default would change every loop), each variant's learning rate
     * (a changed default changes the numbers computed, subnormals and all), and the variables
     * besides context.environment that change a loop's time: OpenMP's waiting and binding,
     * nabla's allocation cache, the test-only GEMM perturbation. The sizes are the seed
     * network's: a case of other sizes records its own, and its key says so. */
    nb_train_config workload = case_config(o, cases[0].variant, NULL); /* n >= 1: an empty matrix never runs */
    cJSON_AddNumberToObject(cfg, "batch", (double)workload.batch);
    cJSON_AddNumberToObject(cfg, "d_in", (double)workload.d_in);
    cJSON_AddNumberToObject(cfg, "hidden", (double)workload.hidden);
    cJSON_AddNumberToObject(cfg, "d_out", (double)workload.d_out);
    cJSON_AddNumberToObject(cfg, "seed", (double)workload.seed);
    cJSON *lr = cJSON_AddObjectToObject(cfg, "lr");
    for (int i = 0; i < n; i++) {
        const nb_variant *v = cases[i].variant;
        if (cJSON_GetObjectItemCaseSensitive(lr, v->name)) continue;
        nb_train_config vc = case_config(o, v, NULL);
        cJSON_AddNumberToObject(lr, v->name, nb_variant_lr(v, &vc));
    }
    static const char *const timing_env[] = {"OMP_WAIT_POLICY",   "GOMP_SPINCOUNT",         "OMP_PROC_BIND",
                                             "OMP_PLACES",        "GOMP_CPU_AFFINITY",      "OMP_DYNAMIC",
                                             "NABLA_ALLOC_CACHE", "NABLA_TEST_PERTURB_GEMM"};
    cJSON *timing = cJSON_AddObjectToObject(cfg, "environment");
    for (size_t i = 0; i < sizeof timing_env / sizeof timing_env[0]; i++) {
        const char *v = getenv(timing_env[i]);
        if (v)
            cJSON_AddStringToObject(timing, timing_env[i], v);
        else
            cJSON_AddNullToObject(timing, timing_env[i]);
    }
    cJSON *list = cJSON_AddArrayToObject(doc, "cases");
    size_t csv_cap = 512 + (size_t)n * 512, md_cap = csv_cap; /* a row is under 300 bytes */
    char *csv = malloc(csv_cap), *md = malloc(md_cap);
    if (!csv || !md) {
        free(csv);
        free(md);
        cJSON_Delete(doc);
        return nb_error(NB_ERR_NOMEM, "out of memory writing the bench report");
    }
    size_t cl = (size_t)snprintf(csv, csv_cap,
                                 "variant,kernel,threads,samples,median_s,min_s,max_s,mean_s,stddev_s,cv,gflops,vs_"
                                 "naive,vs_torch_best,neighbours,batch,d_in,hidden,d_out\n");
    bool nb_column, sizes_column;
    optional_columns(o, cases, n, &nb_column, &sizes_column);
    size_t ml = (size_t)snprintf(
        md, md_cap,
        "| variant | kernel | threads |%s%s median ms | min ms | max ms | cv | GFLOP/s | vs naive | vs "
        "PyTorch best |\n|---|---|---|%s%s---|---|---|---|---|---|---|\n",
        nb_column ? " neighbours |" : "", sizes_column ? " sizes |" : "", nb_column ? "---|" : "",
        sizes_column ? "---|" : "");
    for (int i = 0; i < n; i++) {
        const bench_case *c = &cases[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "variant", c->variant->name);
        cJSON_AddStringToObject(j, "kernel", case_kernel(c));
        cJSON_AddNumberToObject(j, "threads", c->threads);
        cJSON_AddNumberToObject(j, "neighbours", c->neighbours);
        cJSON_AddNumberToObject(j, "batch", (double)c->sizes[0]);
        cJSON_AddNumberToObject(j, "d_in", (double)c->sizes[1]);
        cJSON_AddNumberToObject(j, "hidden", (double)c->sizes[2]);
        cJSON_AddNumberToObject(j, "d_out", (double)c->sizes[3]);
        if (c->torch_version[0]) cJSON_AddStringToObject(j, "torch_version", c->torch_version);
        if (c->error[0]) cJSON_AddStringToObject(j, "error", c->error);
        cJSON_AddItemToObject(j, "samples_s", cJSON_CreateDoubleArray(c->samples, c->done));
        if (c->done > 0) {
            row_view r = view_of(cases, n, c);
            cJSON_AddNumberToObject(j, "median_s", r.s.median);
            cJSON_AddNumberToObject(j, "min_s", r.s.min);
            cJSON_AddNumberToObject(j, "max_s", r.s.max);
            cJSON_AddNumberToObject(j, "mean_s", r.s.mean);
            cJSON_AddNumberToObject(j, "stddev_s", r.s.stddev);
            cJSON_AddNumberToObject(j, "cv", r.s.cv);
            cJSON_AddBoolToObject(j, "noisy", nb_stats_noisy(&r.s));
            cJSON_AddNumberToObject(j, "matmul_flops", (double)c->flops);
            cJSON_AddNumberToObject(j, "gflops", r.gflops);
            if (!isnan(r.vs_naive)) cJSON_AddNumberToObject(j, "speedup_vs_naive", r.vs_naive);
            if (!isnan(r.vs_torch)) cJSON_AddNumberToObject(j, "speedup_vs_torch_best", r.vs_torch);
            cl += (size_t)snprintf(csv + cl, csv_cap - cl,
                                   "%s,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.3g,%.3g,%.4g,%.4g,%.4g,%d,%lld,%lld,%lld,%lld\n",
                                   c->variant->name, case_kernel(c), c->threads, c->done, r.s.median, r.s.min, r.s.max,
                                   r.s.mean, r.s.stddev, r.s.cv, r.gflops, r.vs_naive, r.vs_torch, c->neighbours,
                                   (long long)c->sizes[0], (long long)c->sizes[1], (long long)c->sizes[2],
                                   (long long)c->sizes[3]);
            char vs_naive[16] = "-", vs_torch[16] = "-";
            if (!isnan(r.vs_naive)) snprintf(vs_naive, sizeof vs_naive, "%.2fx", r.vs_naive);
            if (!isnan(r.vs_torch)) snprintf(vs_torch, sizeof vs_torch, "%.2fx", r.vs_torch);
            char extra[160] = "", sizes[128];
            if (nb_column) snprintf(extra, sizeof extra, " %d |", c->neighbours);
            if (sizes_column) {
                sizes_cell(o, c, sizes, sizeof sizes);
                size_t el = strlen(extra);
                snprintf(extra + el, sizeof extra - el, " %s |", sizes);
            }
            ml += (size_t)snprintf(
                md + ml, md_cap - ml, "| %s | %s | %d |%s %.2f | %.2f | %.2f | %.3f%s | %.1f | %s | %s |\n",
                c->variant->name, case_kernel(c), c->threads, extra, r.s.median * 1e3, r.s.min * 1e3, r.s.max * 1e3,
                r.s.cv, nb_stats_noisy(&r.s) ? " (noisy)" : "", r.gflops, vs_naive, vs_torch);
        }
        cJSON_AddItemToArray(list, j);
    }
    char *json = cJSON_Print(doc);
    char path[1024];
    nb_status st = json ? NB_OK : nb_error(NB_ERR_NOMEM, "out of memory printing the bench JSON");
    if (st == NB_OK) {
        snprintf(path, sizeof path, "%s/bench.json", o->out_dir);
        st = nb_file_write_text_atomic(path, json);
    }
    if (st == NB_OK) {
        snprintf(path, sizeof path, "%s/bench.csv", o->out_dir);
        st = nb_file_write_text_atomic(path, csv);
    }
    if (st == NB_OK) {
        snprintf(path, sizeof path, "%s/bench.md", o->out_dir);
        st = nb_file_write_text_atomic(path, md);
    }
    free(json);
    free(csv);
    free(md);
    cJSON_Delete(doc);
    return st;
}

/* The rows name a case as --compare's keys do: variant, kernel, threads, then after the
 * numbers whatever else sets it apart (" +1nb H1024"). */
static void print_table(const bench_options *o, const bench_case *cases, int n) {
    printf("\n%-16s %-8s %3s %10s %10s %10s %7s %8s %9s %9s\n", "variant", "kernel", "thr", "median_ms", "min_ms",
           "max_ms", "cv", "GFLOP/s", "vs_naive", "vs_torch");
    for (int i = 0; i < n; i++) {
        const bench_case *c = &cases[i];
        char suffix[128];
        case_suffix(o, c, suffix, sizeof suffix);
        if (c->error[0]) {
            printf("%-16s %-8s %3d%s  error: %s\n", c->variant->name, case_kernel(c), c->threads, suffix, c->error);
            continue;
        }
        if (!c->done) continue;
        row_view r = view_of(cases, n, c);
        char vs_naive[16] = "-", vs_torch[16] = "-";
        if (!isnan(r.vs_naive)) snprintf(vs_naive, sizeof vs_naive, "%.2fx", r.vs_naive);
        if (!isnan(r.vs_torch)) snprintf(vs_torch, sizeof vs_torch, "%.2fx", r.vs_torch);
        printf("%-16s %-8s %3d %10.2f %10.2f %10.2f %6.1f%%%s %8.1f %9s %9s%s\n", c->variant->name, case_kernel(c),
               c->threads, r.s.median * 1e3, r.s.min * 1e3, r.s.max * 1e3, r.s.cv * 100,
               nb_stats_noisy(&r.s) ? "!" : " ", r.gflops, vs_naive, vs_torch, suffix);
    }
    printf("(! marks a coefficient of variation above %.0f%%: rerun on a quieter machine before trusting it)\n",
           NB_STATS_NOISY_CV * 100);
}

/* ---- the command ---------------------------------------------------------------------------- */

/* Appends one case at cases[*n] (cases NULL: only counts it). */
static void add_case(bench_case *cases, int *n, const nb_variant *variant, const nb_kernel *kernel, int threads,
                     int neighbours, const int64_t *sizes) {
    if (cases) {
        cases[*n] = (bench_case){.variant = variant, .kernel = kernel, .threads = threads, .neighbours = neighbours};
        memcpy(cases[*n].sizes, sizes, sizeof cases[*n].sizes);
    }
    (*n)++;
}

/* The cases of one neighbour count and one network: variants x threads x kernels, then each
 * variant's twin per thread count, appended at cases (NULL: only counted). Returns how many. */
static int matrix_block(const bench_options *o, bool torch, const int *threads, int nthreads, int neighbours,
                        const int64_t *sizes, bench_case *cases) {
    int n = 0;
    for (int v = 0; v < nb_variant_count(); v++) {
        const nb_variant *variant = nb_variant_at(v);
        if (!nb_cli_list_contains(o->variants, variant->name)) continue;
        for (int t = 0; t < nthreads; t++) {
            /* the concrete kernels, then auto only when --kernels names it (it is a choice among them) */
            for (int k = 0; k <= nb_kernel_count(); k++) {
                const nb_kernel *kernel = k < nb_kernel_count() ? nb_kernel_at(k) : nb_kernel_auto();
                bool wanted = kernel == nb_kernel_auto() ? o->kernels && nb_cli_list_contains(o->kernels, "auto")
                                                         : nb_cli_list_contains(o->kernels, kernel->name);
                /* --quick leaves naive out of the default matrix, never out of a --kernels list */
                if (!wanted || (o->quick && !o->kernels && !strcmp(kernel->name, "naive"))) continue;
                add_case(cases, &n, variant, kernel, threads[t], neighbours, sizes);
            }
            if (torch) add_case(cases, &n, variant, NULL, threads[t], neighbours, sizes);
        }
    }
    return n;
}

/* The sizes of network `index` of the cartesian product of the size lists, the last flag
 * (--d-out) varying fastest. */
static void combo_sizes(int64_t lists[NB_BENCH_SIZES][MAX_LIST], const int counts[NB_BENCH_SIZES], int index,
                        int64_t out[NB_BENCH_SIZES]) {
    for (int i = NB_BENCH_SIZES - 1; i >= 0; i--) {
        out[i] = lists[i][index % counts[i]];
        index /= counts[i];
    }
}

int nb_cmd_bench(int argc, char **argv) {
    /* OLD NEW [--force]: the argument checks (wrong count: exit 2) are bench_compare.c's */
    if (argc >= 1 && !strcmp(argv[0], "--compare")) return nb_bench_compare_command(argc - 1, argv + 1);
    bench_options o = {
        .dtype_name = "f32", .out_dir = "bench/results", .repeats = 5, .warmup = 1, .iters = 500, .neighbours = "0"};
    bool help = false;
    const nb_option options[] = {
        NB_OPT_STRING_ROW("variants", &o.variants, "LIST", "comma-separated variants (default: all)"),
        NB_OPT_STRING_ROW("kernels", &o.kernels, "LIST", "comma-separated kernels (default: $NABLA_KERNEL, else all)"),
        NB_OPT_STRING_ROW("threads", &o.threads, "LIST",
                          "thread counts (default: 1 and $OMP_NUM_THREADS or the usable CPUs)"),
        NB_OPT_STRING_ROW("neighbours", &o.neighbours, "LIST",
                          "busy processes spinning beside each case while it runs, counts (default 0)"),
        NB_OPT_STRING_ROW("batch", &o.sizes[0], "LIST", "batch sizes (default 64)"),
        NB_OPT_STRING_ROW("d-in", &o.sizes[1], "LIST", "input features (default 1000)"),
        NB_OPT_STRING_ROW("hidden", &o.sizes[2], "LIST", "hidden units (default 100)"),
        NB_OPT_STRING_ROW("d-out", &o.sizes[3], "LIST", "output features (default 10)"),
        NB_OPT_INT_ROW_SEEN("repeats", &o.repeats, "R", "timed loops per case (default 5)", 1, MAX_REPEATS,
                            &o.repeats_given),
        NB_OPT_INT_ROW_SEEN("warmup", &o.warmup, "W", "untimed loops per nabla case first (default 1)", 0, 100,
                            &o.warmup_given),
        NB_OPT_INT_ROW_SEEN("iters", &o.iters, "I", "training steps per loop (default 500)", 1, 1000000,
                            &o.iters_given),
        NB_OPT_STRING_ROW("dtype", &o.dtype_name, "f32|f64", "element type (default f32)"),
        NB_OPT_STRING_ROW("out", &o.out_dir, "DIR",
                          "where bench.json, .csv and .md go, created with its parents (default bench/results)"),
        NB_OPT_FLAG_ROW("no-torch", &o.no_torch, "leave out the PyTorch twins"),
        NB_OPT_FLAG_ROW("quick", &o.quick, "a smoke run: 50 steps, 2 repeats, no warm-up, no naive (flags given win)"),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    if (nb_cli_parse("nabla bench", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
    if (help) {
        printf("usage: nabla bench [flags]\n\n"
               "Times every training variant with every kernel and thread count (and the PyTorch twins,\n"
               "timed inside Python around the same loop, threads matched), interleaved round by round.\n"
               "Reports median/min/max/cv of the loop's wall time, GFLOP/s, and speedups against naive and\n"
               "against PyTorch's best thread count. Writes bench.json, bench.csv, bench.md after every round.\n"
               "--neighbours 0,2 times every case alone and again beside 2 busy processes (spinning, not\n"
               "pinned, started before the cases of that count run and killed after): a noisy shared machine.\n"
               "--batch, --d-in, --hidden and --d-out take lists, limited as `nabla train` limits one value;\n"
               "the matrix holds their cartesian product, and a case that is not the seed network (64, 1000,\n"
               "100, 10) names the sizes that differ (\"H1024\"), as one with neighbours names them (\"+2nb\").\n"
               "`nabla bench --compare OLD.json NEW.json [--force]` compares two runs case by case (Mann-Whitney U)\n"
               "and prints the geometric mean of the change; it refuses runs whose settings or machine differ\n"
               "unless --force is given (`nabla bench --compare --help`).\n\nflags:\n");
        nb_cli_print_options(stdout, options, count);
        return NB_EXIT_OK;
    }
    /* the machine's load before this run adds its own */
    o.have_loadavg = nb_report_loadavg(o.loadavg);
    /* one rule for every command: a flag given wins over NABLA_KERNEL and over --quick */
    if (nb_env_kernels("nabla bench", o.kernels, &o.kernels) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
    char default_threads[32];
    if (!o.threads) {
        int t = 1;
        if (nb_env_default_threads("nabla bench", &t, NULL) != NB_OK)
            return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
        snprintf(default_threads, sizeof default_threads, t > 1 ? "1,%d" : "%d", t);
        o.threads = default_threads;
    }
    int threads[MAX_LIST], nthreads = 0;
    /* the lists are copied into 256- and 512-byte buffers below */
    if (nb_cli_check_list("nabla bench", "threads", o.threads, LIST_BYTES) != NB_OK ||
        nb_cli_check_list("nabla bench", "variants", o.variants, 512) != NB_OK ||
        nb_cli_check_list("nabla bench", "kernels", o.kernels, 512) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
    if (parse_threads(o.threads, threads, &nthreads) != NB_OK || check_names("variants", o.variants, true) != NB_OK ||
        check_names("kernels", o.kernels, false) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
    /* the neighbour counts, and the sizes: each flag not given is the seed network's one value */
    int64_t loads[MAX_LIST], sizes[NB_BENCH_SIZES][MAX_LIST];
    int nloads = 0, nsizes[NB_BENCH_SIZES];
    if (parse_list("neighbours", "LIST", o.neighbours, 0, NB_NEIGHBOURS_MAX, loads, &nloads) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
    nb_train_config seed;
    nb_train_config_default(&seed);
    const int64_t seed_sizes[NB_BENCH_SIZES] = {seed.batch, seed.d_in, seed.hidden, seed.d_out};
    memcpy(o.seed_sizes, seed_sizes, sizeof o.seed_sizes);
    for (int i = 0; i < NB_BENCH_SIZES; i++) {
        if (!o.sizes[i]) {
            sizes[i][0] = seed_sizes[i];
            nsizes[i] = 1;
        } else if (parse_list(size_flags[i], size_metavars[i], o.sizes[i], 1, NB_DIM_MAX, sizes[i], &nsizes[i]) !=
                   NB_OK) {
            return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
        }
    }
    for (int i = 0, len = 0; i < nloads; i++)
        len += snprintf(o.neighbours_list + len, sizeof o.neighbours_list - (size_t)len, "%s%lld", i ? "," : "",
                        (long long)loads[i]);
    if (nb_dtype_parse(o.dtype_name, &o.dtype) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", "nabla bench: --dtype must be f32 or f64");
    if (o.quick) {
        if (!o.iters_given) o.iters = 50;
        if (!o.repeats_given) o.repeats = 2;
        if (!o.warmup_given) o.warmup = 0;
    }

    /* Neighbour counts outermost, so the cases of one count are contiguous (the rounds below
     * run them as a block under their neighbours); then each network of the size product. The
     * matrix is counted first: one too large is refused, not cut. */
    bool torch = !o.no_torch && access(TORCH_PYTHON, X_OK) == 0;
    int combos = 1;
    for (int i = 0; i < NB_BENCH_SIZES; i++) combos *= nsizes[i];
    const int block = matrix_block(&o, torch, threads, nthreads, 0, seed_sizes, NULL);
    if (block == 0) return nb_cmd_fail(NB_EXIT_USAGE, "bench", "nabla bench: the filters leave no case to run");
    if ((int64_t)block * combos * nloads > MAX_CASES) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "nabla bench: the matrix holds %lld cases, more than %d: narrow --variants, --kernels, --threads, "
                 "--neighbours or the size lists",
                 (long long)block * combos * nloads, MAX_CASES);
        return nb_cmd_fail(NB_EXIT_USAGE, "bench", msg);
    }
    /* each network's memory, per variant, as `nabla train` checks one (footprint.h) */
    for (int s = 0; s < combos; s++) {
        int64_t net[NB_BENCH_SIZES];
        combo_sizes(sizes, nsizes, s, net);
        for (int v = 0; v < nb_variant_count(); v++) {
            const nb_variant *variant = nb_variant_at(v);
            if (!nb_cli_list_contains(o.variants, variant->name)) continue;
            nb_train_config cfg = case_config(&o, variant, net);
            if (nb_footprint_check("bench", variant, &cfg) != NB_OK)
                return nb_cmd_fail(NB_EXIT_USAGE, "bench", nb_last_error());
        }
    }
    static bench_case cases[MAX_CASES];
    int n = 0;
    for (int g = 0; g < nloads; g++)
        for (int s = 0; s < combos; s++) {
            int64_t net[NB_BENCH_SIZES];
            combo_sizes(sizes, nsizes, s, net);
            n += matrix_block(&o, torch, threads, nthreads, (int)loads[g], net, cases + n);
        }
    const int per_load = n / nloads; /* the cases of one neighbour count */
    /* --out is checked (created with its parents, and given room) only now that the flags are
     * known to be good, and before anything runs: a bad one costs a moment, not a suite */
    if (nb_report_prepare_dir(o.out_dir) != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());
    /* the twins live in reference/ beside the fixtures: found once, before anything is timed */
    if (torch && nb_env_data_dir(o.data_dir, sizeof o.data_dir) != NB_OK)
        return nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());
    /* the CPUs the neighbours may use: read before auto's tuning below runs parallel code, which
     * may bind this thread (OMP_PROC_BIND) */
    static nb_neighbours busy;
    nb_neighbours_init(&busy);
    o.busy = &busy;
    /* auto reads its tuning table (re-tuning a missing or stale one) before anything is timed */
    if (o.kernels && nb_cli_list_contains(o.kernels, "auto"))
        for (int t = 0; t < nthreads; t++)
            if (nb_tune_ensure(NULL, o.dtype, threads[t], stderr) != NB_OK)
                return nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());

    bool tty = isatty(STDOUT_FILENO);
    double start = nb_now_seconds();
    /* The twins skip the warm-up rounds: each sample is a fresh Python process that times its
     * own loop, so an untimed run first would warm nothing that is measured, and at ~1.5 s of
     * torch import per run it is the costliest part of the matrix. */
    int ntorch = 0;
    for (int i = 0; i < n; i++) ntorch += !cases[i].kernel;
    int total = (n - ntorch) * (int)(o.warmup + o.repeats) + ntorch * (int)o.repeats, finished = 0;
    nb_interrupt_catch();
    /* flushed: once this line is out, SIGINT, SIGTERM and SIGHUP are caught (tests/interrupt_bench.sh waits for it) */
    printf("nabla bench: %d cases x (%lld warm-up%s + %lld timed loops of %lld steps), %s%s%s\n", n,
           (long long)o.warmup, ntorch && o.warmup ? " (not the twins)" : "", (long long)o.repeats, (long long)o.iters,
           nb_dtype_name(o.dtype), strcmp(o.neighbours_list, "0") ? ", busy neighbours " : "",
           strcmp(o.neighbours_list, "0") ? o.neighbours_list : "");
    fflush(stdout);
    bool interrupted = false, failed = false;
    int rounds_done = 0;
    o.overlap_since = nb_overlap_clock();
    o.overlap = nb_overlap_begin("nabla bench");
    for (int round = 0; round < o.warmup + o.repeats && !interrupted && !failed; round++) {
        bool timed = round >= o.warmup;
        /* one neighbour count after the other, which goes first rotating like the cases below */
        for (int gi = 0; gi < nloads && !interrupted && !failed; gi++) {
            const int g = (gi + round) % nloads;
            bench_case *group = &cases[g * per_load];
            bool any = timed;
            for (int j = 0; j < per_load && !any; j++) any = group[j].kernel != NULL;
            if (!any) continue; /* a warm-up round of twins only: nothing runs */
            /* started before the count's first loop (warm-up included), stopped after its last,
             * on every way out: a neighbour never outlives the cases it loads */
            if (loads[g] > 0 && nb_neighbours_start(&busy, (int)loads[g]) != NB_OK) {
                failed = true;
                break;
            }
            for (int j = 0; j < per_load; j++) {
                /* rotate who goes first each round, so drift in the machine's load hits every case alike */
                bench_case *c = &group[(j + round) % per_load];
                if (!timed && !c->kernel) continue;
                run_sample(&o, c, timed);
                if ((interrupted = nb_interrupted())) break;
                finished++;
                double elapsed = nb_now_seconds() - start;
                double left = elapsed / finished * (total - finished);
                char suffix[128];
                case_suffix(&o, c, suffix, sizeof suffix);
                if (tty)
                    printf("\r  %d/%d  %s %s %dT%s  elapsed %.0f s, about %.0f s left   ", finished, total,
                           c->variant->name, case_kernel(c), c->threads, suffix, elapsed, left);
                fflush(stdout);
            }
            nb_neighbours_stop(&busy);
        }
        if (interrupted || failed) break;
        if (!tty) {
            double elapsed = nb_now_seconds() - start;
            printf("  round %d/%lld done, elapsed %.0f s, about %.0f s left\n", round + 1,
                   (long long)(o.warmup + o.repeats), elapsed,
                   finished ? elapsed / finished * (total - finished) : 0.0);
            fflush(stdout);
        }
        if (timed) rounds_done = round + 1 - (int)o.warmup;
        if (timed && write_reports(&o, cases, n, rounds_done, false) != NB_OK) failed = true;
    }
    nb_interrupt_release();
    if (failed) {
        /* the neighbours are stopped: the reports of the rounds done stay as written */
        nb_overlap_end(o.overlap, NULL);
        if (tty) printf("\n");
        fflush(stdout);
        return nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());
    }
    nb_overlap_end(o.overlap, &o.overlap_final);
    o.overlap = NULL;
    nb_overlap_warn(stderr, "nabla bench", &o.overlap_final);
    if (tty) printf("\n");
    if (interrupted) {
        /* Keep every whole sample: the finished rounds and the cases of the cut round that
         * completed. With none at all, the files of an earlier run are left as they were. */
        int samples = 0;
        for (int i = 0; i < n; i++) samples += cases[i].done;
        printf("\ninterrupted: %d timed loop%s kept (%d complete round%s of %lld); partial results:\n", samples,
               samples == 1 ? "" : "s", rounds_done, rounds_done == 1 ? "" : "s", (long long)o.repeats);
        print_table(&o, cases, n);
        if (samples > 0 && write_reports(&o, cases, n, rounds_done, true) != NB_OK)
            return nb_cmd_fail(NB_EXIT_FAILURE, "bench", nb_last_error());
        if (samples > 0) printf("wrote %s/bench.json, bench.csv, bench.md (partial)\n", o.out_dir);
        fflush(stdout);
        fprintf(stderr, "nabla bench: interrupted by %s\n", nb_interrupt_signal_name());
        return nb_interrupt_exit_code();
    }
    print_table(&o, cases, n);
    printf("wrote %s/bench.json, bench.csv, bench.md\n", o.out_dir);
    for (int i = 0; i < n; i++)
        if (cases[i].error[0]) return NB_EXIT_FAILURE;
    return NB_EXIT_OK;
}
