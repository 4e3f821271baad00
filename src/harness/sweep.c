/* src/harness/sweep.c — `nabla kernels --sweep` (see sweep.h): the list of products to time,
 * the FMA probe, one nb_gemm_time_kernels call per product, dtype and thread count, and the
 * reports (terminal table, sweep.json / .csv / .md rewritten after every product). */
#include "harness/sweep.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/timer.h"
#include "harness/gemm_timing.h"
#include "harness/interrupt.h"
#include "harness/overlap.h"
#include "base/file.h"
#include "harness/report.h"
#include "harness/stats.h"
#include "kernels/peak.h"

/* ---- what is timed ------------------------------------------------------------------------ */

/* The GEMMs of one training step of the seed network (N = 64, D_in = 1000, H = 100,
 * D_out = 10) as the manual-backprop variant issues them (src/variants/tensors.c): transposed
 * operands are passed as flags, never copied. Shapes are MxNxK: op(A) is (M, K), op(B) is
 * (K, N), C is (M, N). */
typedef struct seed_product {
    const char *name;
    nb_gemm_shape shape;
} seed_product;

static const seed_product seed_products[] = {
    /* x (N, D_in) @ w1 (D_in, H) -> (N, H) */
    {"h = x w1", {64, 100, 1000, NB_NO_TRANS, NB_NO_TRANS}},
    /* h_relu (N, H) @ w2 (H, D_out) -> (N, D_out) */
    {"y = h_relu w2", {64, 10, 100, NB_NO_TRANS, NB_NO_TRANS}},
    /* h_relu^T (H, N), stored (N, H), @ grad_y (N, D_out) -> (H, D_out) */
    {"grad_w2 = h_relu^T grad_y", {100, 10, 64, NB_TRANS, NB_NO_TRANS}},
    /* grad_y (N, D_out) @ w2^T (D_out, H), stored (H, D_out) -> (N, H) */
    {"grad_h_relu = grad_y w2^T", {64, 100, 10, NB_NO_TRANS, NB_TRANS}},
    /* x^T (D_in, N), stored (N, D_in), @ grad_h (N, H) -> (D_in, H) */
    {"grad_w1 = x^T grad_h", {1000, 100, 64, NB_TRANS, NB_NO_TRANS}},
    /* grad_h (N, H) @ w1^T (H, D_in), stored (D_in, H) -> (N, D_in): what a layer's backward
     * computes for its input; the tutorial skips it because x needs no gradient. */
    {"grad_x = grad_h w1^T", {64, 1000, 100, NB_NO_TRANS, NB_TRANS}},
};
#define SEED_PRODUCTS ((int)(sizeof seed_products / sizeof seed_products[0]))

/* One product at one dtype and thread count: one nb_gemm_time_kernels call. */
typedef struct sweep_cell {
    const char *group;   /* "seed" or "square" */
    const char *product; /* the seed product's name; "" for squares */
    nb_gemm_shape shape;
    nb_dtype dtype;
    int threads;
} sweep_cell;

/* One kernel's result on one cell. NAN marks what does not apply (null in JSON). */
typedef struct sweep_row {
    const sweep_cell *cell;
    const nb_kernel *kernel;
    nb_stats stats;
    double gflops;   /* of the median */
    double vs_blas;  /* blas median / this median: > 1 is faster than blas */
    double pct_peak; /* of the best ISA's probe, same dtype and threads */
    double pct_avx2; /* of the AVX2 probe, same dtype and threads */
} sweep_row;

#define MAX_PEAKS (NB_CPU_ISA_COUNT * 2 * NB_SWEEP_MAX_THREADS)

typedef struct sweep_state {
    const nb_sweep_config *cfg;
    nb_cpu_info cpu;
    nb_peak_row peaks[MAX_PEAKS];
    int npeaks;
    sweep_cell *cells;
    int ncells;
    sweep_row *rows;
    int nrows;
    cJSON *doc, *json_rows; /* the JSON report, grown row by row */
    int naive_skipped;      /* cells where naive was left out (--naive-max) */
    int min_threads;        /* the smallest swept thread count */
} sweep_state;

static bool is_naive(const nb_kernel *k) { return !strcmp(k->name, "naive"); }

/* ---- the FMA peak ------------------------------------------------------------------------- */

int nb_sweep_probe_peaks(const nb_dtype *dtypes, int ndtypes, const int *threads, int nthreads, nb_peak_row *rows,
                         int max) {
    int n = 0;
    /* Rounds over every configuration, each keeping its best: on a shared machine a burst of
     * load from another process then lowers one round's figure, not the ceiling itself. */
    for (int round = 0; round < NB_SWEEP_PEAK_ROUNDS; round++) {
        int i = 0;
        for (int isa = NB_CPU_ISA_AVX2; isa < NB_CPU_ISA_COUNT; isa++) {
            if (!nb_cpu_supports((nb_cpu_isa)isa)) continue;
            for (int d = 0; d < ndtypes; d++)
                for (int t = 0; t < nthreads && i < max; t++, i++) {
                    double g = 0;
                    nb_peak_dtype pd = dtypes[d] == NB_F64 ? NB_PEAK_F64 : NB_PEAK_F32;
                    if (!nb_peak_measure((nb_cpu_isa)isa, pd, threads[t], &g)) g = 0;
                    if (round == 0)
                        rows[i] = (nb_peak_row){(nb_cpu_isa)isa, dtypes[d], threads[t], g};
                    else if (g > rows[i].gflops)
                        rows[i].gflops = g;
                }
        }
        n = i;
    }
    /* drop what could not be measured (the CPU said yes, the probe found no time) */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].gflops > 0) rows[kept++] = rows[i];
    return kept;
}

/* The probe's figure for (isa, dtype, threads); NAN when it was not measured. */
static double peak_of(const sweep_state *s, nb_cpu_isa isa, nb_dtype dtype, int threads) {
    for (int i = 0; i < s->npeaks; i++)
        if (s->peaks[i].isa == isa && s->peaks[i].dtype == dtype && s->peaks[i].threads == threads)
            return s->peaks[i].gflops;
    return NAN;
}

static void print_peaks(const sweep_state *s) {
    const nb_sweep_config *cfg = s->cfg;
    if (s->npeaks == 0) {
        printf("FMA peak: no AVX2 or AVX-512 on this CPU, so no %% of peak\n");
        return;
    }
    printf("FMA peak (built-in probe, GFLOP/s):");
    for (int isa = NB_CPU_ISA_AVX2; isa < NB_CPU_ISA_COUNT; isa++)
        for (int d = 0; d < cfg->ndtypes; d++) {
            if (isnan(peak_of(s, (nb_cpu_isa)isa, cfg->dtypes[d], cfg->threads[0]))) continue;
            printf("\n  %-7s %s", nb_cpu_isa_name((nb_cpu_isa)isa), nb_dtype_name(cfg->dtypes[d]));
            for (int t = 0; t < cfg->nthreads; t++)
                printf("   %dT %7.1f", cfg->threads[t], peak_of(s, (nb_cpu_isa)isa, cfg->dtypes[d], cfg->threads[t]));
        }
    printf("\n");
}

/* ---- the plan ----------------------------------------------------------------------------- */

static nb_status plan_cells(sweep_state *s) {
    const nb_sweep_config *cfg = s->cfg;
    int per = (cfg->seed ? SEED_PRODUCTS : 0) + (cfg->squares ? cfg->nsizes : 0);
    int max = per * cfg->ndtypes * cfg->nthreads;
    s->cells = calloc(max > 0 ? (size_t)max : 1, sizeof *s->cells);
    s->rows = calloc(max > 0 ? (size_t)max * (size_t)cfg->nkernels : 1, sizeof *s->rows);
    if (!s->cells || !s->rows) return nb_error(NB_ERR_NOMEM, "out of memory planning the sweep");
    /* dtype outermost, then threads: a partial report holds whole blocks of the table */
    for (int d = 0; d < cfg->ndtypes; d++)
        for (int t = 0; t < cfg->nthreads; t++) {
            for (int p = 0; cfg->seed && p < SEED_PRODUCTS; p++)
                s->cells[s->ncells++] = (sweep_cell){"seed", seed_products[p].name, seed_products[p].shape,
                                                     cfg->dtypes[d], cfg->threads[t]};
            for (int i = 0; cfg->squares && i < cfg->nsizes; i++) {
                int64_t n = cfg->sizes[i];
                s->cells[s->ncells++] =
                    (sweep_cell){"square", "", {n, n, n, NB_NO_TRANS, NB_NO_TRANS}, cfg->dtypes[d], cfg->threads[t]};
            }
        }
    return NB_OK;
}

/* The kernels timed on `cell`: all of them, except naive on squares above naive_max (a
 * 2048^3 product takes it ~30 s a call), and serial kernels at any thread count but the
 * smallest (they ignore the count, so a second figure would only repeat the first at the
 * price of the sweep's slowest calls) unless serial_all. */
static int cell_kernels(const sweep_state *s, const sweep_cell *cell, const nb_kernel **out, bool *naive_skipped) {
    int n = 0;
    *naive_skipped = false;
    for (int i = 0; i < s->cfg->nkernels; i++) {
        const nb_kernel *k = s->cfg->kernels[i];
        if (!k->threaded && !s->cfg->serial_all && cell->threads != s->min_threads) continue;
        if (is_naive(k) && !strcmp(cell->group, "square") && cell->shape.m > s->cfg->naive_max) {
            *naive_skipped = true;
            continue;
        }
        out[n++] = k;
    }
    return n;
}

/* ---- reports ------------------------------------------------------------------------------ */

static void add_number_or_null(cJSON *obj, const char *key, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(obj, key, v);
    else
        cJSON_AddNullToObject(obj, key);
}

static cJSON *number_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* The parts of the JSON that do not change while the sweep runs. */
static nb_status start_json(sweep_state *s) {
    const nb_sweep_config *cfg = s->cfg;
    s->doc = cJSON_CreateObject();
    if (!s->doc) return nb_error(NB_ERR_NOMEM, "out of memory building the sweep report");
    nb_report_context(cJSON_AddObjectToObject(s->doc, "context"));
    cJSON *c = cJSON_AddObjectToObject(s->doc, "config");
    cJSON_AddNumberToObject(c, "repeats", cfg->repeats);
    cJSON_AddNumberToObject(c, "min_time_s", cfg->min_time);
    double values[NB_SWEEP_MAX_SIZES > NB_SWEEP_MAX_THREADS ? NB_SWEEP_MAX_SIZES : NB_SWEEP_MAX_THREADS];
    int nsizes = cfg->squares ? cfg->nsizes : 0;
    for (int i = 0; i < nsizes; i++) values[i] = (double)cfg->sizes[i];
    cJSON_AddItemToObject(c, "sizes", number_array(values, nsizes));
    cJSON *dtypes = cJSON_AddArrayToObject(c, "dtypes");
    for (int d = 0; d < cfg->ndtypes; d++)
        cJSON_AddItemToArray(dtypes, cJSON_CreateString(nb_dtype_name(cfg->dtypes[d])));
    for (int t = 0; t < cfg->nthreads; t++) values[t] = cfg->threads[t];
    cJSON_AddItemToObject(c, "threads", number_array(values, cfg->nthreads));
    cJSON_AddNumberToObject(c, "naive_max", (double)cfg->naive_max);
    /* beyond the fixed schema, for readers that want them: what was asked for */
    cJSON *kernels = cJSON_AddArrayToObject(c, "kernels");
    for (int k = 0; k < cfg->nkernels; k++) cJSON_AddItemToArray(kernels, cJSON_CreateString(cfg->kernels[k]->name));
    cJSON_AddBoolToObject(c, "seed", cfg->seed);
    cJSON_AddBoolToObject(c, "serial_all_threads", cfg->serial_all);
    cJSON *peak = cJSON_AddArrayToObject(s->doc, "peak");
    for (int i = 0; i < s->npeaks; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "isa", nb_cpu_isa_name(s->peaks[i].isa));
        cJSON_AddStringToObject(p, "dtype", nb_dtype_name(s->peaks[i].dtype));
        cJSON_AddNumberToObject(p, "threads", s->peaks[i].threads);
        cJSON_AddNumberToObject(p, "gflops", s->peaks[i].gflops);
        cJSON_AddItemToArray(peak, p);
    }
    s->json_rows = cJSON_AddArrayToObject(s->doc, "rows");
    /* false until the last product is in: a reader of a cut-off sweep can tell */
    cJSON_AddBoolToObject(s->doc, "complete", false);
    return s->json_rows ? NB_OK : nb_error(NB_ERR_NOMEM, "out of memory building the sweep report");
}

static const char *trans_name(nb_trans t) { return t == NB_TRANS ? "t" : "n"; }

static void json_add_row(sweep_state *s, const sweep_row *r) {
    const sweep_cell *c = r->cell;
    char label[64];
    nb_gemm_shape_label(&c->shape, label, sizeof label);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "group", c->group);
    cJSON_AddStringToObject(j, "product", c->product);
    cJSON_AddStringToObject(j, "shape", label);
    cJSON_AddNumberToObject(j, "m", (double)c->shape.m);
    cJSON_AddNumberToObject(j, "n", (double)c->shape.n);
    cJSON_AddNumberToObject(j, "k", (double)c->shape.k);
    cJSON_AddStringToObject(j, "ta", trans_name(c->shape.ta));
    cJSON_AddStringToObject(j, "tb", trans_name(c->shape.tb));
    cJSON_AddStringToObject(j, "dtype", nb_dtype_name(c->dtype));
    cJSON_AddNumberToObject(j, "threads", c->threads);
    cJSON_AddStringToObject(j, "kernel", r->kernel->name);
    cJSON_AddNumberToObject(j, "median_s", r->stats.median);
    cJSON_AddNumberToObject(j, "min_s", r->stats.min);
    cJSON_AddNumberToObject(j, "cv", r->stats.cv);
    cJSON_AddNumberToObject(j, "gflops", r->gflops);
    add_number_or_null(j, "vs_blas", r->vs_blas);
    add_number_or_null(j, "pct_peak", r->pct_peak);
    add_number_or_null(j, "pct_avx2_peak", r->pct_avx2);
    cJSON_AddItemToArray(s->json_rows, j);
}

/* "%.4g" of v, or an empty field for NAN. */
static const char *csv_num(double v, char *buf, size_t size) {
    if (isfinite(v))
        snprintf(buf, size, "%.6g", v);
    else
        buf[0] = '\0';
    return buf;
}

static const char *ratio_text(double v, char *buf, size_t size) {
    if (isfinite(v))
        snprintf(buf, size, "%.2fx", v);
    else
        snprintf(buf, size, "-");
    return buf;
}

static const char *pct_text(double v, char *buf, size_t size) {
    if (isfinite(v))
        snprintf(buf, size, "%.1f%%", v);
    else
        snprintf(buf, size, "-");
    return buf;
}

static void write_csv(const sweep_state *s, FILE *f) {
    fprintf(f, "group,product,shape,m,n,k,ta,tb,dtype,threads,kernel,median_s,min_s,cv,gflops,vs_blas,pct_peak,"
               "pct_avx2_peak\n");
    for (int i = 0; i < s->nrows; i++) {
        const sweep_row *r = &s->rows[i];
        const sweep_cell *c = r->cell;
        char label[64], a[32], b[32], p[32];
        nb_gemm_shape_label(&c->shape, label, sizeof label);
        fprintf(f, "%s,\"%s\",%s,%lld,%lld,%lld,%s,%s,%s,%d,%s,%.6g,%.6g,%.4g,%.6g,%s,%s,%s\n", c->group, c->product,
                label, (long long)c->shape.m, (long long)c->shape.n, (long long)c->shape.k, trans_name(c->shape.ta),
                trans_name(c->shape.tb), nb_dtype_name(c->dtype), c->threads, r->kernel->name, r->stats.median,
                r->stats.min, r->stats.cv, r->gflops, csv_num(r->vs_blas, a, sizeof a),
                csv_num(r->pct_peak, b, sizeof b), csv_num(r->pct_avx2, p, sizeof p));
    }
}

static const char *context_string(const sweep_state *s, const char *key) {
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(s->doc, "context");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

static void write_md(const sweep_state *s, FILE *f, bool complete) {
    const nb_sweep_config *cfg = s->cfg;
    fprintf(f, "# nabla kernels --sweep%s\n\n", complete ? "" : " (incomplete)");
    fprintf(f, "%s, %s, nabla %s, %s. Median of %d interleaved repeats, each at least %g s of calls.\n\n",
            context_string(s, "cpu_model"), context_string(s, "date"), context_string(s, "git_revision"),
            context_string(s, "compiler"), cfg->repeats, cfg->min_time);
    if (s->npeaks) {
        fprintf(f, "## FMA peak (built-in probe)\n\n| isa | dtype | threads | GFLOP/s |\n|---|---|---|---|\n");
        for (int i = 0; i < s->npeaks; i++)
            fprintf(f, "| %s | %s | %d | %.1f |\n", nb_cpu_isa_name(s->peaks[i].isa), nb_dtype_name(s->peaks[i].dtype),
                    s->peaks[i].threads, s->peaks[i].gflops);
        fprintf(f, "\n");
    }
    fprintf(f,
            "## GEMM\n\n%% of peak is of the %s probe at the same dtype and thread count. naive is left out on "
            "squares above %lld%s.\n\n",
            s->cpu.best_name, (long long)cfg->naive_max,
            cfg->nthreads > 1 && !cfg->serial_all ? "; serial kernels run at the smallest thread count only" : "");
    fprintf(f, "| group | product | shape | dtype | threads | kernel | median us | GFLOP/s | vs blas | %% peak | "
               "%% AVX2 peak |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < s->nrows; i++) {
        const sweep_row *r = &s->rows[i];
        const sweep_cell *c = r->cell;
        char label[64], v[32], p[32], a[32];
        nb_gemm_shape_label(&c->shape, label, sizeof label);
        fprintf(f, "| %s | %s | %s | %s | %d | %s | %.1f | %.2f | %s | %s | %s |\n", c->group, c->product, label,
                nb_dtype_name(c->dtype), c->threads, r->kernel->name, r->stats.median * 1e6, r->gflops,
                ratio_text(r->vs_blas, v, sizeof v), pct_text(r->pct_peak, p, sizeof p),
                pct_text(r->pct_avx2, a, sizeof a));
    }
}

/* Renders one report into a malloc'd string through a memory stream. */
static char *render(const sweep_state *s, bool complete, void (*fn)(const sweep_state *, FILE *, bool)) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fn(s, f, complete);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void write_csv_cb(const sweep_state *s, FILE *f, bool complete) {
    (void)complete;
    write_csv(s, f);
}

static nb_status write_reports(sweep_state *s, bool complete) {
    cJSON_ReplaceItemInObjectCaseSensitive(s->doc, "complete", cJSON_CreateBool(complete));
    const char *names[3] = {"sweep.json", "sweep.csv", "sweep.md"};
    char *texts[3] = {cJSON_Print(s->doc), render(s, complete, write_csv_cb), render(s, complete, write_md)};
    nb_status st = NB_OK;
    for (int i = 0; i < 3; i++) {
        if (!texts[i]) {
            if (st == NB_OK) st = nb_error(NB_ERR_NOMEM, "out of memory rendering %s", names[i]);
            continue;
        }
        char path[1100];
        snprintf(path, sizeof path, "%s/%s", s->cfg->out_dir, names[i]);
        if (st == NB_OK) st = nb_file_write_text_atomic(path, texts[i]);
    }
    for (int i = 0; i < 3; i++) free(texts[i]);
    return st;
}

/* ---- the terminal table ------------------------------------------------------------------- */

#define ROW_FORMAT "%-6s %-25s %-17s %-5s %3s %-8s %11s %9s %8s %7s %7s\n"

static void print_header(void) {
    printf(ROW_FORMAT, "group", "product", "shape", "dtype", "thr", "kernel", "median_us", "GFLOP/s", "vs_blas",
           "%peak", "%avx2");
}

static void print_row(const sweep_row *r) {
    const sweep_cell *c = r->cell;
    char label[64], thr[16], med[32], gf[32], v[32], p[32], a[32];
    nb_gemm_shape_label(&c->shape, label, sizeof label);
    snprintf(thr, sizeof thr, "%d", c->threads);
    /* a trailing "!" marks a sample spread above NB_STATS_NOISY_CV, as nabla bench does */
    snprintf(med, sizeof med, "%.1f%s", r->stats.median * 1e6, nb_stats_noisy(&r->stats) ? "!" : " ");
    snprintf(gf, sizeof gf, "%.2f", r->gflops);
    printf(ROW_FORMAT, c->group, c->product[0] ? c->product : "-", label, nb_dtype_name(c->dtype), thr, r->kernel->name,
           med, gf, ratio_text(r->vs_blas, v, sizeof v), pct_text(r->pct_peak, p, sizeof p),
           pct_text(r->pct_avx2, a, sizeof a));
}

/* ---- the run ------------------------------------------------------------------------------ */

/* Times every kernel on `cell` and appends their rows; *first gets the index of the first. */
static nb_status run_cell(sweep_state *s, const sweep_cell *cell, int *first) {
    const nb_sweep_config *cfg = s->cfg;
    const nb_kernel *kernels[NB_SWEEP_MAX_KERNELS];
    bool naive_skipped;
    int nk = cell_kernels(s, cell, kernels, &naive_skipped);
    *first = s->nrows;
    s->naive_skipped += naive_skipped;
    if (nk == 0) return NB_OK;
    nb_stats stats[NB_SWEEP_MAX_KERNELS];
    nb_gemm_timing timing = {
        .dtype = cell->dtype, .threads = cell->threads, .repeats = cfg->repeats, .min_time = cfg->min_time};
    NB_TRY(nb_gemm_time_kernels(&cell->shape, kernels, nk, &timing, stats));
    double blas_median = NAN;
    for (int i = 0; i < nk; i++)
        if (!strcmp(kernels[i]->name, "blas")) blas_median = stats[i].median;
    double peak = peak_of(s, s->cpu.best, cell->dtype, cell->threads);
    double avx2 = peak_of(s, NB_CPU_ISA_AVX2, cell->dtype, cell->threads);
    for (int i = 0; i < nk; i++) {
        sweep_row *r = &s->rows[s->nrows++];
        double gflops = nb_gemm_shape_flops(&cell->shape) / stats[i].median * 1e-9;
        *r = (sweep_row){.cell = cell,
                         .kernel = kernels[i],
                         .stats = stats[i],
                         .gflops = gflops,
                         .vs_blas = blas_median / stats[i].median,
                         .pct_peak = 100 * gflops / peak,
                         .pct_avx2 = 100 * gflops / avx2};
        json_add_row(s, r);
    }
    return NB_OK;
}

nb_status nb_sweep_run(const nb_sweep_config *cfg) {
    sweep_state s = {.cfg = cfg, .cpu = nb_cpu_features(), .min_threads = cfg->threads[0]};
    for (int t = 1; t < cfg->nthreads; t++)
        if (cfg->threads[t] < s.min_threads) s.min_threads = cfg->threads[t];
    bool tty = isatty(STDOUT_FILENO);
    double start = nb_now_seconds();
    /* created with its parents, and checked to take the results, before anything is timed */
    nb_status st = nb_report_prepare_dir(cfg->out_dir);
    /* registered as a measurement, so that one overlapping another (a bench, a tune) says so */
    nb_overlap *overlap = st == NB_OK ? nb_overlap_begin("nabla kernels --sweep") : NULL;
    int done = 0;
    if (st == NB_OK) st = plan_cells(&s);
    if (st == NB_OK && s.ncells == 0)
        st = nb_error(NB_ERR_ARG, "nothing to sweep: --no-seed and --no-squares together");
    if (st == NB_OK) {
        s.npeaks = nb_sweep_probe_peaks(cfg->dtypes, cfg->ndtypes, cfg->threads, cfg->nthreads, s.peaks, MAX_PEAKS);
        st = start_json(&s);
    }
    if (st == NB_OK) {
        printf("nabla kernels --sweep: %d product%s x %d kernel%s, median of %d interleaved repeats (each >= %g ms "
               "of calls)\n",
               s.ncells, s.ncells == 1 ? "" : "s", cfg->nkernels, cfg->nkernels == 1 ? "" : "s", cfg->repeats,
               cfg->min_time * 1e3);
        print_peaks(&s);
        printf("%%peak: of the %s probe at the same dtype and threads; %%avx2: of the AVX2 probe.\n"
               "naive is skipped on squares above %lld (--naive-max)",
               s.cpu.best_name, (long long)cfg->naive_max);
        if (cfg->nthreads > 1 && !cfg->serial_all)
            printf("; serial kernels run at %d thread%s only, since they ignore the count (--serial-all-threads)",
                   s.min_threads, s.min_threads == 1 ? "" : "s");
        printf(".\n");
        print_header();
        fflush(stdout);
    }
    /* a stop request (SIGINT, SIGTERM, SIGHUP) ends the sweep between two products; the files
     * hold every product finished before it */
    for (int i = 0; st == NB_OK && i < s.ncells && !nb_interrupted(); i++) {
        const sweep_cell *c = &s.cells[i];
        if (tty) {
            char label[64];
            nb_gemm_shape_label(&c->shape, label, sizeof label);
            printf("  [%d/%d] %s %s%s%s%s %s %dT, elapsed %.0f s ...", i + 1, s.ncells, c->group, c->product,
                   c->product[0] ? " (" : "", label, c->product[0] ? ")" : "", nb_dtype_name(c->dtype), c->threads,
                   nb_now_seconds() - start);
            fflush(stdout);
        }
        int first = 0;
        st = run_cell(&s, c, &first);
        if (st != NB_OK && nb_interrupted()) st = NB_OK; /* the cut product is not a row */
        if (tty) printf("\r\033[K");                     /* the rows of this product take the progress line's place */
        for (int r = first; r < s.nrows; r++) print_row(&s.rows[r]);
        if (st == NB_OK) st = write_reports(&s, false);
        if (st == NB_OK) done = i + 1;
        fflush(stdout);
    }
    /* whether another nabla measurement ran meanwhile: a warning and a field, then the final write */
    nb_overlap_report rep;
    nb_overlap_end(overlap, &rep);
    if (s.doc) {
        cJSON_DeleteItemFromObjectCaseSensitive(s.doc, "overlapped_by");
        cJSON_AddItemToObject(s.doc, "overlapped_by", nb_overlap_json(&rep));
    }
    if (st == NB_OK) {
        nb_overlap_warn(stderr, "nabla kernels --sweep", &rep);
        st = write_reports(&s, done == s.ncells);
    }
    if (st == NB_OK && nb_interrupted()) {
        printf("interrupted by %s: %s/sweep.json, sweep.csv, sweep.md hold the %d rows finished\n",
               nb_interrupt_signal_name(), cfg->out_dir, s.nrows);
    } else if (st == NB_OK) {
        if (s.naive_skipped)
            printf("naive left out of %d square product%s above %lld (--naive-max)\n", s.naive_skipped,
                   s.naive_skipped == 1 ? "" : "s", (long long)cfg->naive_max);
        printf("(! marks a coefficient of variation above %.0f%%: rerun on a quieter machine before trusting it)\n",
               NB_STATS_NOISY_CV * 100);
        printf("wrote %s/sweep.json, sweep.csv, sweep.md: %d rows in %.1f s\n", cfg->out_dir, s.nrows,
               nb_now_seconds() - start);
    }
    cJSON_Delete(s.doc);
    free(s.cells);
    free(s.rows);
    return st;
}
