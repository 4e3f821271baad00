/* src/harness/kernels_cmd.c — `nabla kernels`: lists the registry, and with --bench times
 * GEMM kernels side by side on given shapes (interleaved repeats, medians, ratio to blas),
 * calling the kernels directly so no tensor overhead is measured. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timer.h"
#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/stats.h"
#include "tensor/runtime.h"
#include "tensor/tensor.h"

#define MAX_SHAPES 32

typedef struct gemm_shape {
    int64_t m, n, k;
    nb_trans ta, tb;
} gemm_shape;

/* "MxNxK" or "MxNxK:tn" (op(A) is m x k, op(B) is k x n; t = transposed operand). */
static nb_status parse_shape(const char *text, gemm_shape *s) {
    long long m, n, k;
    char flags[3] = "nn";
    int used = 0;
    if (sscanf(text, "%lldx%lldx%lld%n", &m, &n, &k, &used) != 3)
        return nb_error(NB_ERR_ARG, "nabla kernels: shape '%s' is not MxNxK[:nn|nt|tn|tt]", text);
    if (text[used] == ':') {
        if (strlen(text + used + 1) != 2) return nb_error(NB_ERR_ARG, "nabla kernels: bad transpose suffix in '%s'", text);
        memcpy(flags, text + used + 1, 2);
    } else if (text[used] != '\0') {
        return nb_error(NB_ERR_ARG, "nabla kernels: shape '%s' is not MxNxK[:nn|nt|tn|tt]", text);
    }
    for (int i = 0; i < 2; i++)
        if (flags[i] != 'n' && flags[i] != 't')
            return nb_error(NB_ERR_ARG, "nabla kernels: bad transpose suffix in '%s' (use n or t)", text);
    const long long max_dim = 1 << 15;
    if (m < 1 || n < 1 || k < 1 || m > max_dim || n > max_dim || k > max_dim)
        return nb_error(NB_ERR_ARG, "nabla kernels: sizes in '%s' must be within 1..%lld", text, max_dim);
    *s = (gemm_shape){m, n, k, flags[0] == 't' ? NB_TRANS : NB_NO_TRANS, flags[1] == 't' ? NB_TRANS : NB_NO_TRANS};
    return NB_OK;
}

/* Splits a comma-separated list in place. */
static int split_list(char *text, char **items, int max) {
    int count = 0;
    for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (count == max) return -1;
        items[count++] = tok;
    }
    return count;
}

/* The operands of one shape, stored as the transpose flags say, filled from the torch
 * generator so every run times the same numbers. */
typedef struct gemm_operands {
    nb_tensor *a, *b, *c;
    int64_t lda, ldb;
} gemm_operands;

static nb_status operands_init(gemm_operands *ops, const gemm_shape *s, nb_dtype dtype) {
    nb_rng rng;
    nb_rng_seed(&rng, 0);
    int64_t a_shape[2] = {s->ta ? s->k : s->m, s->ta ? s->m : s->k};
    int64_t b_shape[2] = {s->tb ? s->n : s->k, s->tb ? s->k : s->n};
    ops->a = nb_tensor_rand(&rng, dtype, 2, a_shape);
    ops->b = nb_tensor_rand(&rng, dtype, 2, b_shape);
    ops->c = nb_tensor_zeros(dtype, 2, (int64_t[]){s->m, s->n});
    ops->lda = a_shape[1];
    ops->ldb = b_shape[1];
    return ops->a && ops->b && ops->c ? NB_OK : nb_last_status();
}

static void operands_free(gemm_operands *ops) {
    nb_tensor_free(ops->a);
    nb_tensor_free(ops->b);
    nb_tensor_free(ops->c);
}

/* Seconds per call, averaged over `calls` back-to-back calls. */
static double time_calls(const nb_kernel *kernel, const gemm_shape *s, gemm_operands *ops, int threads, long calls) {
    double start = nb_now_seconds();
    for (long i = 0; i < calls; i++) {
        if (ops->c->dtype == NB_F32)
            kernel->sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, nb_tensor_data(ops->a), ops->lda,
                          nb_tensor_data(ops->b), ops->ldb, 0.0f, nb_tensor_data(ops->c), s->n, threads);
        else
            kernel->dgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0, nb_tensor_data(ops->a), ops->lda,
                          nb_tensor_data(ops->b), ops->ldb, 0.0, nb_tensor_data(ops->c), s->n, threads);
    }
    return (nb_now_seconds() - start) / (double)calls;
}

typedef struct bench_options {
    const char *shapes;
    const char *kernels;
    const char *dtype_name;
    int64_t threads;
    int64_t repeats;
    double min_time;
} bench_options;

static int run_bench(const bench_options *o) {
    char shapes_text[1024], kernels_text[512];
    char *shape_items[MAX_SHAPES], *kernel_items[64];
    snprintf(shapes_text, sizeof shapes_text, "%s", o->shapes);
    snprintf(kernels_text, sizeof kernels_text, "%s", o->kernels ? o->kernels : "");
    int nshapes = split_list(shapes_text, shape_items, MAX_SHAPES);
    if (nshapes <= 0) return nb_cmd_fail(NB_EXIT_USAGE, "kernels", "nabla kernels: --shapes needs 1 to 32 shapes");
    gemm_shape shapes[MAX_SHAPES];
    for (int i = 0; i < nshapes; i++)
        if (parse_shape(shape_items[i], &shapes[i]) != NB_OK) return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());

    const nb_kernel *kernels[64];
    int nkernels = 0;
    if (o->kernels) {
        nkernels = split_list(kernels_text, kernel_items, 64);
        for (int i = 0; i < nkernels; i++) {
            if (!(kernels[i] = nb_kernel_find(kernel_items[i]))) {
                char names[256];
                nb_kernel_names(names, sizeof names);
                nb_error(NB_ERR_ARG, "nabla kernels: unknown kernel '%s' (expected one of: %s)", kernel_items[i], names);
                return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
            }
        }
        if (nkernels <= 0) return nb_cmd_fail(NB_EXIT_USAGE, "kernels", "nabla kernels: --kernels needs a kernel name");
    } else {
        for (int i = 0; i < nb_kernel_count() && i < 64; i++) kernels[nkernels++] = nb_kernel_at(i);
    }
    nb_dtype dtype;
    if (nb_dtype_parse(o->dtype_name, &dtype) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", "nabla kernels: --dtype must be f32 or f64");

    const nb_kernel *blas = nb_kernel_find("blas");
    int threads = (int)o->threads;
    printf("GEMM %s, %d thread%s, median of %lld interleaved repeats (each >= %.0f ms of calls)\n",
           nb_dtype_name(dtype), threads, threads == 1 ? "" : "s", (long long)o->repeats, o->min_time * 1e3);
    printf("%-20s %-8s %12s %12s %10s %8s\n", "shape", "kernel", "median_us", "min_us", "GFLOP/s", "vs_blas");
    for (int si = 0; si < nshapes; si++) {
        const gemm_shape *s = &shapes[si];
        gemm_operands ops = {0};
        if (operands_init(&ops, s, dtype) != NB_OK) {
            operands_free(&ops);
            return nb_cmd_fail(NB_EXIT_FAILURE, "kernels", nb_last_error());
        }
        /* Calibrate: enough calls per sample that one sample lasts min_time. */
        long calls[64];
        double samples[64][64];
        for (int ki = 0; ki < nkernels; ki++) {
            double once = time_calls(kernels[ki], s, &ops, threads, 1); /* also the warm-up */
            double want = o->min_time / fmax(once, 1e-9);
            calls[ki] = want < 1 ? 1 : want > 1e6 ? 1000000 : (long)ceil(want);
        }
        /* Interleave kernels within each repeat, rotating who goes first, so drift in the
         * machine's load hits every kernel alike. */
        for (int r = 0; r < o->repeats; r++)
            for (int j = 0; j < nkernels; j++) {
                int ki = (j + r) % nkernels;
                samples[ki][r] = time_calls(kernels[ki], s, &ops, threads, calls[ki]);
            }
        double med[64], best[64], blas_med = NAN;
        for (int ki = 0; ki < nkernels; ki++) {
            nb_stats st = nb_stats_of(samples[ki], (int)o->repeats);
            med[ki] = st.median;
            best[ki] = st.min;
            if (kernels[ki] == blas) blas_med = med[ki];
        }
        double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
        char label[64];
        snprintf(label, sizeof label, "%lldx%lldx%lld:%c%c", (long long)s->m, (long long)s->n, (long long)s->k,
                 s->ta ? 't' : 'n', s->tb ? 't' : 'n');
        for (int ki = 0; ki < nkernels; ki++) {
            char ratio[16] = "-";
            if (!isnan(blas_med)) snprintf(ratio, sizeof ratio, "%.2fx", blas_med / med[ki]);
            printf("%-20s %-8s %12.1f %12.1f %10.2f %8s\n", label, kernels[ki]->name, med[ki] * 1e6, best[ki] * 1e6,
                   flops / med[ki] * 1e-9, ratio);
        }
        fflush(stdout);
        operands_free(&ops);
    }
    return NB_EXIT_OK;
}

static void list_kernels(void) {
    const nb_kernel *def = nb_kernel_default();
    for (int i = 0; i < nb_kernel_count(); i++) {
        const nb_kernel *k = nb_kernel_at(i);
        printf("%-8s %-12s %s%s\n", k->name, k->threaded ? "threaded" : "serial", k->description,
               k == def ? " (default)" : "");
    }
}

int nb_cmd_kernels(int argc, char **argv) {
    bool bench = false, help = false;
    bench_options o = {.shapes = "64x100x1000,1024x1024x1024", .dtype_name = "f32",
                       .threads = nb_runtime_default_threads(), .repeats = 5, .min_time = 0.05};
    const nb_option options[] = {
        NB_OPT_FLAG_ROW("bench", &bench, "time the kernels side by side instead of listing them"),
        NB_OPT_STRING_ROW("shapes", &o.shapes, "LIST", "MxNxK[:nn|nt|tn|tt],... (default 64x100x1000,1024x1024x1024)"),
        NB_OPT_STRING_ROW("kernels", &o.kernels, "LIST", "comma-separated kernel names (default: all)"),
        NB_OPT_INT_ROW("threads", &o.threads, "T", "threads per call (default: online CPUs)", 1, NB_MAX_THREADS),
        NB_OPT_STRING_ROW("dtype", &o.dtype_name, "f32|f64", "element type (default f32)"),
        NB_OPT_INT_ROW("repeats", &o.repeats, "R", "timed samples per kernel and shape (default 5)", 1, 64),
        NB_OPT_DOUBLE_ROW("min-time", &o.min_time, "SEC", "minimum duration of one sample (default 0.05)", 0, 60, NULL),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    if (nb_cli_parse("nabla kernels", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "kernels", nb_last_error());
    if (help) {
        printf("usage: nabla kernels [--bench [flags]]\n\n"
               "Lists the matmul kernels (the GEMM contract is in kernels/README.md). With --bench, times\n"
               "them side by side: a calibrated warm-up, then interleaved repeats; reports the median\n"
               "and minimum time per call, GFLOP/s of the median, and the speed relative to blas.\n\nflags:\n");
        nb_cli_print_options(stdout, options, count);
        return NB_EXIT_OK;
    }
    if (!bench) {
        list_kernels();
        return NB_EXIT_OK;
    }
    return run_bench(&o);
}
