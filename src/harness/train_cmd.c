/* src/harness/train_cmd.c — `nabla train`: parse the workload, pick kernel and threads,
 * run one variant's training loop, print its losses the way the tutorial prints them, then
 * a summary line (or one JSON object with --json). */
#include <float.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/env.h"
#include "harness/footprint.h"
#include "harness/format.h"
#include "harness/interrupt.h"
#include "harness/train.h"
#include "harness/tune.h"
#include "tensor/runtime.h"

/* No dimension of the seed network needs to be larger; beyond it the product checks below
 * would be the only guard. */
#define MAX_DIM ((int64_t)1 << 24)
#define MAX_ITERS ((int64_t)1 << 31)

typedef struct train_options {
    nb_train_config cfg;
    const char *kernel_name; /* NULL: NABLA_KERNEL, then the default; "auto": per product (tune.h) */
    const char *dtype_name;
    int64_t threads;
    int64_t print_every;
    double lr;
    bool lr_given;
    bool json;
    bool detect_anomaly;
} train_options;

static void print_help(const nb_option *options, int count) {
    char variants[256], kernels[256];
    nb_variant_names(variants, sizeof variants);
    nb_tune_kernel_choices(kernels, sizeof kernels);
    printf("usage: nabla train [flags]\n\n"
           "Trains the two-layer network of \"Learning PyTorch with Examples\" (N=64, D_in=1000,\n"
           "H=100, D_out=10, 500 steps, sum-of-squares loss) with one variant and one matmul kernel,\n"
           "printing the loss every K steps as the tutorial does, then one summary line.\n\n"
           "variants: %s\nkernels:  %s\n\nflags:\n",
           variants, kernels);
    nb_cli_print_options(stdout, options, count);
    printf("\nThe same seed, kernel, threads and dtype give the same losses bit for bit.\n"
           "A run stops with exit 1 when it diverges: when the loss is nan or inf, or more than %.0g times\n"
           "the first step's loss (normal runs of every variant stay below 1.5 times). With\n"
           "--detect-anomaly every op's output is checked as it is written (forward, backward, update),\n"
           "and the first nan or inf stops the run with the op, phase, step and shape that produced it.\n"
           "Dimensions whose run would need more than this machine's physical memory are refused before\n"
           "anything is allocated (exit 2), as is any bad flag or value: the count is the variant's own\n"
           "(data, parameters and their gradients, the optimizer's state, a step's activations and their\n"
           "gradients, the static graph's arena, the loss history).\n",
           NB_TRAIN_DIVERGENCE_FACTOR);
}

/* Resolves the names and cross-flag checks after parsing; fills *variant and *kernel. */
static nb_status resolve(train_options *o, const nb_variant **variant, const nb_kernel **kernel) {
    char names[256];
    *variant = nb_variant_find(o->cfg.variant);
    if (!*variant) {
        nb_variant_names(names, sizeof names);
        return nb_error(NB_ERR_ARG, "nabla train: unknown variant '%s' (expected one of: %s)", o->cfg.variant, names);
    }
    const char *chosen = NULL;
    NB_TRY(nb_env_kernels("nabla train", o->kernel_name, &chosen));
    *kernel = nb_kernel_select(chosen, &chosen);
    if (!*kernel) {
        nb_tune_kernel_choices(names, sizeof names);
        return nb_error(NB_ERR_ARG, "nabla train: unknown kernel '%s' (expected one of: %s)", chosen ? chosen : "", names);
    }
    if (nb_dtype_parse(o->dtype_name, &o->cfg.dtype) != NB_OK)
        return nb_error(NB_ERR_ARG, "nabla train: --dtype must be f32 or f64, got '%s'", o->dtype_name);
    o->cfg.lr = o->lr_given ? o->lr : -1.0;
    /* the variant counts the memory its run needs; the machine's limit is footprint.c's */
    return nb_footprint_check("train", *variant, &o->cfg);
}

/* ---- output ------------------------------------------------------------------------------ */

typedef struct print_ctx {
    int64_t every;
} print_ctx;

/* The tutorial's `print("epoch: ", t+1, "  loss:", loss.item())`, byte for byte. */
static void print_epoch(void *opaque, int64_t step, double loss) {
    const print_ctx *ctx = opaque;
    if (ctx->every <= 0 || (step + 1) % ctx->every != 0) return;
    char value[64];
    nb_format_pyfloat(loss, value, sizeof value);
    printf("epoch:  %lld   loss: %s\n", (long long)(step + 1), value);
}

static double gflops_of(const nb_train_result *r) {
    return r->loop_seconds > 0 ? (double)r->flops / r->loop_seconds * 1e-9 : 0.0;
}

static void print_json(const train_options *o, const nb_variant *variant, const nb_kernel *kernel,
                       const nb_train_result *r) {
    nb_json j;
    nb_json_init(&j, stdout);
    nb_json_object_begin(&j);
    nb_json_key(&j, "implementation");
    nb_json_string(&j, "nabla");
    nb_json_key(&j, "version");
    nb_json_string(&j, NABLA_VERSION);
    nb_json_key(&j, "config");
    nb_json_object_begin(&j);
    nb_json_key(&j, "variant");
    nb_json_string(&j, variant->name);
    nb_json_key(&j, "kernel");
    nb_json_string(&j, kernel->name);
    nb_json_key(&j, "threads");
    nb_json_int(&j, o->threads);
    nb_json_key(&j, "dtype");
    nb_json_string(&j, nb_dtype_name(o->cfg.dtype));
    nb_json_key(&j, "seed");
    nb_json_uint(&j, o->cfg.seed);
    nb_json_key(&j, "batch");
    nb_json_int(&j, o->cfg.batch);
    nb_json_key(&j, "d_in");
    nb_json_int(&j, o->cfg.d_in);
    nb_json_key(&j, "hidden");
    nb_json_int(&j, o->cfg.hidden);
    nb_json_key(&j, "d_out");
    nb_json_int(&j, o->cfg.d_out);
    nb_json_key(&j, "iters");
    nb_json_int(&j, o->cfg.iters);
    nb_json_key(&j, "lr");
    nb_json_number(&j, nb_variant_lr(variant, &o->cfg));
    nb_json_key(&j, "print_every");
    nb_json_int(&j, o->print_every);
    nb_json_object_end(&j);
    nb_json_key(&j, "interrupted");
    nb_json_bool(&j, r->interrupted);
    nb_json_key(&j, "losses");
    nb_json_array_begin(&j);
    for (int64_t t = 0; t < r->steps; t++) nb_json_number(&j, r->losses[t]);
    nb_json_array_end(&j);
    nb_json_key(&j, "timing");
    nb_json_object_begin(&j);
    nb_json_key(&j, "loop_seconds");
    nb_json_number(&j, r->loop_seconds);
    nb_json_key(&j, "ms_per_step");
    nb_json_number(&j, r->steps ? r->loop_seconds * 1e3 / (double)r->steps : 0.0);
    nb_json_key(&j, "matmul_flops");
    nb_json_uint(&j, r->flops);
    nb_json_key(&j, "gflops");
    nb_json_number(&j, gflops_of(r));
    nb_json_object_end(&j);
    nb_json_object_end(&j);
    fputc('\n', stdout);
}

static void print_summary(const train_options *o, const nb_variant *variant, const nb_kernel *kernel,
                          const nb_train_result *r) {
    printf("summary: variant=%s kernel=%s threads=%lld dtype=%s steps=%lld loop_s=%.6f ms_per_step=%.4f "
           "gflops=%.2f\n",
           variant->name, kernel->name, (long long)o->threads, nb_dtype_name(o->cfg.dtype), (long long)r->steps,
           r->loop_seconds, r->steps ? r->loop_seconds * 1e3 / (double)r->steps : 0.0, gflops_of(r));
}

/* ---- the command --------------------------------------------------------------------------- */

int nb_cmd_train(int argc, char **argv) {
    train_options o = {.dtype_name = "f32", .print_every = 50};
    nb_train_config_default(&o.cfg);
    int default_threads = 1;
    if (nb_env_default_threads("nabla train", &default_threads, NULL) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "train", nb_last_error());
    o.threads = default_threads;
    const nb_option options[] = {
        NB_OPT_STRING_ROW("variant", &o.cfg.variant, "NAME", "training variant (default tensors)"),
        NB_OPT_STRING_ROW("kernel", &o.kernel_name, "NAME",
                          "matmul kernel (default: $NABLA_KERNEL, else blas); auto: per product, from 'nabla tune'"),
        NB_OPT_INT_ROW("threads", &o.threads, "T",
                       "threads for kernels and elementwise ops (default: $OMP_NUM_THREADS, else the usable CPUs)", 1,
                       NB_MAX_THREADS),
        NB_OPT_UINT64_ROW("seed", &o.cfg.seed, "S", "torch.manual_seed(S) before the first draw (default 0)"),
        NB_OPT_INT_ROW("batch", &o.cfg.batch, "N", "batch size (default 64)", 1, MAX_DIM),
        NB_OPT_INT_ROW("d-in", &o.cfg.d_in, "D", "input features (default 1000)", 1, MAX_DIM),
        NB_OPT_INT_ROW("hidden", &o.cfg.hidden, "H", "hidden units (default 100)", 1, MAX_DIM),
        NB_OPT_INT_ROW("d-out", &o.cfg.d_out, "O", "output features (default 10)", 1, MAX_DIM),
        NB_OPT_INT_ROW("iters", &o.cfg.iters, "I", "training steps (default 500)", 1, MAX_ITERS),
        NB_OPT_DOUBLE_ROW("lr", &o.lr, "LR", "learning rate (default: the variant's; 1e-6 for tensors)", 0, DBL_MAX,
                          &o.lr_given),
        NB_OPT_INT_ROW("print-every", &o.print_every, "K", "print the loss every K steps, 0 never (default 50)", 0,
                       MAX_ITERS),
        NB_OPT_STRING_ROW("dtype", &o.dtype_name, "f32|f64", "element type (default f32, as the tutorial)"),
        NB_OPT_FLAG_ROW("json", &o.json, "print one JSON object: config, every step's loss, timing"),
        NB_OPT_FLAG_ROW("detect-anomaly", &o.detect_anomaly,
                        "check every op's output; stop at the first nan/inf, naming op, phase, step, shape"),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    bool help = false;
    if (nb_cli_parse("nabla train", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "train", nb_last_error());
    if (help) {
        print_help(options, count);
        return NB_EXIT_OK;
    }
    const nb_variant *variant = NULL;
    const nb_kernel *kernel = NULL;
    if (resolve(&o, &variant, &kernel) != NB_OK) return nb_cmd_fail(NB_EXIT_USAGE, "train", nb_last_error());

    nb_runtime_set_kernel(kernel);
    nb_runtime_set_threads((int)o.threads);
    /* auto needs its table: loaded, or measured first when missing or stale (one line on
     * stderr says so). A broken table file is a failure to run, not a usage error. */
    if (kernel == nb_kernel_auto() && nb_tune_ensure(NULL, o.cfg.dtype, (int)o.threads, stderr) != NB_OK)
        return nb_cmd_fail(NB_EXIT_FAILURE, "train", nb_last_error());
    nb_anomaly_enable(o.detect_anomaly);
    print_ctx ctx = {.every = o.json ? 0 : o.print_every};
    nb_train_result result;
    /* SIGINT, SIGTERM and SIGHUP stop the loop before its next step: the lines printed so far
     * are out (stdout is line-buffered, main.c), then the summary or JSON of the steps done */
    nb_interrupt_catch();
    nb_status status = nb_train_run(variant, &o.cfg, print_epoch, &ctx, &result);
    nb_interrupt_release();
    nb_auto_clear();
    nb_anomaly_enable(false);
    if (result.interrupted) {
        if (o.json)
            print_json(&o, variant, kernel, &result);
        else
            print_summary(&o, variant, kernel, &result);
        fflush(stdout);
        fprintf(stderr, "nabla train: interrupted by %s after %lld of %lld steps\n", nb_interrupt_signal_name(),
                (long long)result.steps, (long long)o.cfg.iters);
        int code = nb_interrupt_exit_code();
        nb_train_result_free(&result);
        return code;
    }
    if (status != NB_OK) {
        nb_train_result_free(&result);
        return nb_cmd_fail(NB_EXIT_FAILURE, "train", nb_last_error());
    }
    if (o.json)
        print_json(&o, variant, kernel, &result);
    else
        print_summary(&o, variant, kernel, &result);
    nb_train_result_free(&result);
    return NB_EXIT_OK;
}
