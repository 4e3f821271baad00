/* src/harness/profile_cmd.c — `nabla profile`: runs one variant's training loop with the
 * op profiler on and prints where the time goes. It shows one row per op and phase (calls,
 * total ms, share of the loop, GFLOP/s for matmuls, GB/s for the rest), subtotals per phase,
 * and the time spent outside ops (graph bookkeeping, allocation, Python-free glue). With
 * --kernel auto it then shows which kernel auto chose for each product. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/env.h"
#include "harness/footprint.h"
#include "harness/interrupt.h"
#include "harness/train.h"
#include "harness/tune.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

static int compare_rows(const void *a, const void *b) {
    const nb_profile_row *x = a, *y = b;
    if (x->phase != y->phase) return (int)x->phase - (int)y->phase;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds); /* slowest first */
}

static void print_profile(const nb_train_result *r) {
    const nb_profile_row *rows;
    int n = nb_profile_rows(&rows);
    nb_profile_row *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted) return;
    memcpy(sorted, rows, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_rows);
    const double loop = r->loop_seconds > 0 ? r->loop_seconds : 1e-12;
    printf("%-12s %-9s %8s %10s %7s %10s %10s\n", "op", "phase", "calls", "total_ms", "%loop", "GFLOP/s", "GB/s");
    double in_ops = 0, phase_total[3] = {0};
    for (int i = 0; i < n; i++) {
        const nb_profile_row *p = &sorted[i];
        in_ops += p->seconds;
        phase_total[p->phase] += p->seconds;
        char gflops[16] = "", gbps[16] = "";
        if (p->flops) snprintf(gflops, sizeof gflops, "%.1f", (double)p->flops / p->seconds * 1e-9);
        if (p->bytes && !p->flops) snprintf(gbps, sizeof gbps, "%.1f", (double)p->bytes / p->seconds * 1e-9);
        printf("%-12s %-9s %8llu %10.3f %6.1f%% %10s %10s\n", p->op, nb_phase_name(p->phase),
               (unsigned long long)p->calls, p->seconds * 1e3, p->seconds / loop * 100, gflops, gbps);
    }
    printf("\n");
    for (int ph = 0; ph < 3; ph++)
        if (phase_total[ph] > 0)
            printf("%-22s %10.3f ms %6.1f%%\n", nb_phase_name((nb_phase)ph), phase_total[ph] * 1e3,
                   phase_total[ph] / loop * 100);
    printf("%-22s %10.3f ms %6.1f%%\n", "outside ops", (r->loop_seconds - in_ops) * 1e3,
           (r->loop_seconds - in_ops) / loop * 100);
    printf("%-22s %10.3f ms (%lld steps, %.3f ms/step)\n", "training loop", r->loop_seconds * 1e3, (long long)r->steps,
           r->steps ? r->loop_seconds * 1e3 / (double)r->steps : 0.0);
    free(sorted);
}

/* auto's record: one row per product the loop issued, with the kernel it ran on. */
static void print_auto_choices(void) {
    const nb_auto_decision *rows;
    int n = nb_auto_decisions(&rows);
    printf("\nauto's choices (from the tuning table):\n");
    printf("%-18s %-5s %3s %-8s %8s\n", "product", "dtype", "thr", "kernel", "calls");
    for (int i = 0; i < n; i++) {
        const nb_auto_entry *c = &rows[i].choice;
        char label[64];
        nb_gemm_shape shape = {c->m, c->n, c->k, c->ta, c->tb};
        nb_gemm_shape_label(&shape, label, sizeof label);
        printf("%-18s %-5s %3d %-8s %8llu\n", label, c->dtype == NB_GEMM_F64 ? "f64" : "f32", c->nthreads,
               c->kernel->name, (unsigned long long)rows[i].calls);
    }
    if (nb_auto_unrecorded_calls())
        printf("(and %llu calls of further products, past the %d the record keeps)\n",
               (unsigned long long)nb_auto_unrecorded_calls(), NB_AUTO_MAX_DECISIONS);
}

int nb_cmd_profile(int argc, char **argv) {
    nb_train_config cfg;
    nb_train_config_default(&cfg);
    const char *kernel_name = NULL, *dtype_name = "f32";
    int default_threads = 1;
    if (nb_env_default_threads("nabla profile", &default_threads, NULL) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", nb_last_error());
    int64_t threads = default_threads;
    bool help = false;
    const nb_option options[] = {
        NB_OPT_STRING_ROW("variant", &cfg.variant, "NAME", "training variant (default tensors)"),
        NB_OPT_STRING_ROW("kernel", &kernel_name, "NAME",
                          "matmul kernel (default: $NABLA_KERNEL, else blas); auto: per product, from 'nabla tune'"),
        NB_OPT_INT_ROW("threads", &threads, "T", "threads (default: $OMP_NUM_THREADS, else the usable CPUs)", 1,
                       NB_MAX_THREADS),
        NB_OPT_INT_ROW("iters", &cfg.iters, "I", "training steps (default 500)", 1, 1000000),
        NB_OPT_STRING_ROW("dtype", &dtype_name, "f32|f64", "element type (default f32)"),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    if (nb_cli_parse("nabla profile", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", nb_last_error());
    if (help) {
        printf("usage: nabla profile [flags]\n\n"
               "Runs one training loop at the seed's dimensions with the op profiler on and prints, per op\n"
               "and phase (forward, backward, update): calls, total time, share of the loop, GFLOP/s for\n"
               "matmuls, bytes moved per second for the rest, and the time spent outside ops. With\n"
               "--kernel auto, also the kernel auto chose for each product, and how often it ran.\n\nflags:\n");
        nb_cli_print_options(stdout, options, count);
        return NB_EXIT_OK;
    }
    const nb_variant *variant = nb_variant_find(cfg.variant);
    const char *chosen = NULL;
    if (nb_env_kernels("nabla profile", kernel_name, &chosen) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", nb_last_error());
    const nb_kernel *kernel = nb_kernel_select(chosen, &chosen);
    char names[256];
    if (!variant) {
        nb_variant_names(names, sizeof names);
        nb_error(NB_ERR_ARG, "nabla profile: unknown variant '%s' (expected one of: %s)", cfg.variant, names);
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", nb_last_error());
    }
    if (!kernel) {
        nb_kernel_choice_names(names, sizeof names);
        nb_error(NB_ERR_ARG, "nabla profile: unknown kernel '%s' (expected one of: %s)", chosen ? chosen : "", names);
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", nb_last_error());
    }
    if (nb_dtype_parse(dtype_name, &cfg.dtype) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", "nabla profile: --dtype must be f32 or f64");
    /* the seed's dimensions always fit; the check stays in case they become flags */
    if (nb_footprint_check("profile", variant, &cfg) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "profile", nb_last_error());
    nb_runtime_set_kernel(kernel);
    nb_runtime_set_threads((int)threads);
    const bool is_auto = kernel == nb_kernel_auto();
    if (is_auto && nb_tune_ensure(NULL, cfg.dtype, (int)threads, stderr) != NB_OK)
        return nb_cmd_fail(NB_EXIT_FAILURE, "profile", nb_last_error());
    nb_profile_reset();
    nb_profile_enable(true);
    nb_train_result r;
    nb_interrupt_catch(); /* SIGINT, SIGTERM, SIGHUP: stop the loop, say so, 128 + the signal */
    nb_status st = nb_train_run(variant, &cfg, NULL, NULL, &r);
    nb_interrupt_release();
    nb_profile_enable(false);
    if (r.interrupted) {
        nb_auto_clear();
        nb_train_result_free(&r);
        fprintf(stderr, "nabla profile: interrupted by %s\n", nb_interrupt_signal_name());
        return nb_interrupt_exit_code();
    }
    if (st != NB_OK) {
        nb_auto_clear();
        nb_train_result_free(&r);
        return nb_cmd_fail(NB_EXIT_FAILURE, "profile", nb_last_error());
    }
    printf("nabla profile: variant=%s kernel=%s threads=%lld dtype=%s steps=%lld\n\n", variant->name, kernel->name,
           (long long)threads, nb_dtype_name(cfg.dtype), (long long)cfg.iters);
    print_profile(&r);
    if (is_auto) print_auto_choices();
    nb_auto_clear();
    nb_train_result_free(&r);
    return NB_EXIT_OK;
}
