/* src/harness/kernels_cmd.c — `nabla kernels`: lists the registry, and with --bench times
 * GEMM kernels side by side on given shapes (interleaved repeats, medians, ratio to blas),
 * calling the kernels directly so no tensor overhead is measured. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/gemm_timing.h"
#include "harness/stats.h"
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
    nb_gemm_shape shapes[MAX_SHAPES];
    for (int i = 0; i < nshapes; i++)
        if (nb_gemm_shape_parse(shape_items[i], &shapes[i]) != NB_OK) {
            char message[300];
            snprintf(message, sizeof message, "nabla kernels: %s", nb_last_error());
            return nb_cmd_fail(NB_EXIT_USAGE, "kernels", message);
        }

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
    nb_gemm_timing timing = {.dtype = dtype, .threads = threads, .repeats = (int)o->repeats, .min_time = o->min_time};
    for (int si = 0; si < nshapes; si++) {
        const nb_gemm_shape *s = &shapes[si];
        nb_stats stats[64];
        if (nb_gemm_time_kernels(s, kernels, nkernels, &timing, stats) != NB_OK)
            return nb_cmd_fail(NB_EXIT_FAILURE, "kernels", nb_last_error());
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
        NB_OPT_INT_ROW("repeats", &o.repeats, "R", "timed samples per kernel and shape (default 5)", 1, NB_GEMM_MAX_REPEATS),
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
