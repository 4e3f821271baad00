/* src/harness/train_cmd.c — `nabla train`: parse the workload, pick kernel and threads,
 * run one variant's training loop, print its losses the way the tutorial prints them, then
 * a summary line (or one JSON object with --json). */
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/dims.h"
#include "harness/env.h"
#include "harness/footprint.h"
#include "harness/format.h"
#include "harness/interrupt.h"
#include "harness/thread_choice.h"
#include "harness/train.h"
#include "harness/tune.h"
#include "tensor/anomaly.h"
#include "tensor/runtime.h"

typedef struct train_options {
    nb_train_config cfg;
    const char *kernel_name; /* NULL: NABLA_KERNEL, then the default; "auto": per product (tune.h) */
    const char *dtype_name;
    int64_t threads;
    bool threads_given;
    const char *threads_source; /* "--threads", "OMP_NUM_THREADS", "measured" or "one CPU" */
    nb_thread_choice choice;    /* when measured */
    int64_t print_every;
    double lr;
    bool lr_given;
    bool json;
    bool detect_anomaly;
} train_options;

static void print_help(const nb_option *options, int count) {
    char variants[256], kernels[256];
    nb_variant_names(variants, sizeof variants);
    nb_kernel_choice_names(kernels, sizeof kernels);
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
        nb_kernel_choice_names(names, sizeof names);
        return nb_error(NB_ERR_ARG, "nabla train: unknown kernel '%s' (expected one of: %s)", chosen ? chosen : "",
                        names);
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

/* JSON numbers go in as raw text (cJSON_CreateRaw), not cJSON_CreateNumber, because cJSON 1.7
 * prints a double with 15 significant digits whenever that reads back within a relative
 * DBL_EPSILON, not exactly: about one loss in eight changed in its last bit, and
 * tests/determinism.py and reference/ compare losses bit for bit. It also prints an integral
 * double without ".0" (26015340.0 reads back as a Python int) and holds integers as doubles (a
 * --seed above 2^53 would be rounded). So doubles are written as Python's repr writes them
 * (nb_format_pyfloat: shortest exact round trip, as the PyTorch twin prints), integers as
 * integers, and a non-finite double as null (JSON has no NaN). */
static bool add_item(cJSON *to, const char *key, cJSON *item) {
    if (key ? cJSON_AddItemToObject(to, key, item) : cJSON_AddItemToArray(to, item)) return true;
    cJSON_Delete(item);
    return false;
}

static bool add_double(cJSON *to, const char *key, double value) {
    char text[64];
    if (!isfinite(value)) return add_item(to, key, cJSON_CreateNull());
    nb_format_pyfloat(value, text, sizeof text);
    return add_item(to, key, cJSON_CreateRaw(text));
}

static bool add_int(cJSON *to, const char *key, int64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    return add_item(to, key, cJSON_CreateRaw(text));
}

static bool add_uint(cJSON *to, const char *key, uint64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    return add_item(to, key, cJSON_CreateRaw(text));
}

static bool add_string(cJSON *to, const char *key, const char *value) {
    return add_item(to, key, cJSON_CreateString(value ? value : ""));
}

/* One line: {"implementation", "version", "config": {...}, "interrupted", "losses": [...],
 * "timing": {...}, "parameters_fnv1a"}, compact (tests grep it for "losses":[...]). */
static nb_status print_json(const train_options *o, const nb_variant *variant, const nb_kernel *kernel,
                            const nb_train_result *r) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL && add_string(root, "implementation", "nabla") && add_string(root, "version", NABLA_VERSION);

    cJSON *config = ok ? cJSON_AddObjectToObject(root, "config") : NULL;
    ok = config != NULL && add_string(config, "variant", variant->name) && add_string(config, "kernel", kernel->name) &&
         add_int(config, "threads", o->threads) && add_string(config, "dtype", nb_dtype_name(o->cfg.dtype)) &&
         add_uint(config, "seed", o->cfg.seed) && add_int(config, "batch", o->cfg.batch) &&
         add_int(config, "d_in", o->cfg.d_in) && add_int(config, "hidden", o->cfg.hidden) &&
         add_int(config, "d_out", o->cfg.d_out) && add_int(config, "iters", o->cfg.iters) &&
         add_double(config, "lr", nb_variant_lr(variant, &o->cfg)) && add_int(config, "print_every", o->print_every);

    /* where the thread count came from, and what was measured when it was measured */
    cJSON *choice = ok ? cJSON_AddObjectToObject(root, "threads_choice") : NULL;
    ok = choice != NULL && add_string(choice, "source", o->threads_source) && add_int(choice, "threads", o->threads);
    if (ok && strcmp(o->threads_source, "measured") == 0) {
        cJSON *measured = cJSON_AddArrayToObject(choice, "measured");
        ok = measured != NULL;
        for (int c = 0; ok && c < o->choice.count; c++) {
            cJSON *row = cJSON_CreateObject();
            ok = add_item(measured, NULL, row) && add_int(row, "threads", o->choice.threads[c]) &&
                 add_double(row, "ms_per_step", o->choice.ms_per_step[c]);
        }
    }
    ok = ok && cJSON_AddBoolToObject(root, "interrupted", r->interrupted) != NULL;
    cJSON *losses = ok ? cJSON_AddArrayToObject(root, "losses") : NULL;
    ok = losses != NULL;
    for (int64_t t = 0; ok && t < r->steps; t++) ok = add_double(losses, NULL, r->losses[t]);

    cJSON *timing = ok ? cJSON_AddObjectToObject(root, "timing") : NULL;
    ok = timing != NULL && add_double(timing, "loop_seconds", r->loop_seconds) &&
         add_double(timing, "ms_per_step", r->steps ? r->loop_seconds * 1e3 / (double)r->steps : 0.0) &&
         add_uint(timing, "matmul_flops", r->flops) && add_double(timing, "gflops", gflops_of(r));
    /* as hex text: a JSON number would not hold 64 bits in most readers; null when interrupted
     * (the digest is of the model after the last step) */
    char digest[24];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)r->parameters_digest);
    ok = ok && (r->interrupted ? add_item(root, "parameters_fnv1a", cJSON_CreateNull())
                               : add_string(root, "parameters_fnv1a", digest));

    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return nb_error(NB_ERR_NOMEM, "nabla train: out of memory writing the JSON");
    fputs(text, stdout);
    fputc('\n', stdout);
    cJSON_free(text);
    return NB_OK;
}

static void print_summary(const train_options *o, const nb_variant *variant, const nb_kernel *kernel,
                          const nb_train_result *r) {
    printf("summary: variant=%s kernel=%s threads=%lld dtype=%s steps=%lld loop_s=%.6f ms_per_step=%.4f "
           "gflops=%.2f",
           variant->name, kernel->name, (long long)o->threads, nb_dtype_name(o->cfg.dtype), (long long)r->steps,
           r->loop_seconds, r->steps ? r->loop_seconds * 1e3 / (double)r->steps : 0.0, gflops_of(r));
    /* a measured thread count says what it was chosen from: threads:ms_per_step, most first */
    if (strcmp(o->threads_source, "measured") == 0) {
        printf(" threads_measured=");
        for (int c = 0; c < o->choice.count; c++)
            printf("%s%d:%.4f", c ? "," : "", o->choice.threads[c], o->choice.ms_per_step[c]);
    }
    putchar('\n');
}

/* ---- the command --------------------------------------------------------------------------- */

int nb_cmd_train(int argc, char **argv) {
    train_options o = {.dtype_name = "f32", .print_every = 50};
    nb_train_config_default(&o.cfg);
    int default_threads = 1;
    const char *default_source = NULL;
    if (nb_env_default_threads("nabla train", &default_threads, &default_source) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "train", nb_last_error());
    o.threads = default_threads;
    const nb_option options[] = {
        NB_OPT_STRING_ROW("variant", &o.cfg.variant, "NAME", "training variant (default tensors)"),
        NB_OPT_STRING_ROW("kernel", &o.kernel_name, "NAME",
                          "matmul kernel (default: $NABLA_KERNEL, else blas); auto: per product, from 'nabla tune'"),
        NB_OPT_INT_ROW_SEEN("threads", &o.threads, "T",
                            "threads for kernels and elementwise ops (default: $OMP_NUM_THREADS, else measured: the "
                            "fewest of the usable CPUs and its halvings that is within 3% of the fastest)",
                            1, NB_MAX_THREADS, &o.threads_given),
        NB_OPT_UINT64_ROW("seed", &o.cfg.seed, "S", "torch.manual_seed(S) before the first draw (default 0)"),
        NB_OPT_INT_ROW("batch", &o.cfg.batch, "N", "batch size (default 64)", 1, NB_DIM_MAX),
        NB_OPT_INT_ROW("d-in", &o.cfg.d_in, "D", "input features (default 1000)", 1, NB_DIM_MAX),
        NB_OPT_INT_ROW("hidden", &o.cfg.hidden, "H", "hidden units (default 100)", 1, NB_DIM_MAX),
        NB_OPT_INT_ROW("d-out", &o.cfg.d_out, "O", "output features (default 10)", 1, NB_DIM_MAX),
        NB_OPT_INT_ROW("iters", &o.cfg.iters, "I", "training steps (default 500)", 1, NB_ITERS_MAX),
        NB_OPT_DOUBLE_ROW("lr", &o.lr, "LR", "learning rate (default: the variant's; 1e-6 for tensors)", 0, DBL_MAX,
                          &o.lr_given),
        NB_OPT_INT_ROW("print-every", &o.print_every, "K", "print the loss every K steps, 0 never (default 50)", 0,
                       NB_ITERS_MAX),
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
    o.threads_source = o.threads_given ? "--threads" : default_source;
    /* Nothing names a count: measure rather than take every CPU (thread_choice.h). auto's table
     * is per thread count, so auto takes the CPU count as before. */
    if (!o.threads_given && strcmp(default_source, "usable CPUs") == 0) {
        if (o.threads <= 1) {
            o.threads_source = "one CPU";
        } else if (kernel != nb_kernel_auto()) {
            if (nb_thread_choice_measure(variant, &o.cfg, (int)o.threads, &o.choice) != NB_OK)
                return nb_cmd_fail(NB_EXIT_FAILURE, "train", nb_last_error());
            o.threads = o.choice.chosen;
            o.threads_source = "measured";
        }
    }
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
        /* the steps done are out even when the JSON is not: the exit code says interrupted */
        if (o.json && print_json(&o, variant, kernel, &result) != NB_OK)
            fprintf(stderr, "%s\n", nb_last_error());
        else if (!o.json)
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
    if (o.json && print_json(&o, variant, kernel, &result) != NB_OK) {
        nb_train_result_free(&result);
        return nb_cmd_fail(NB_EXIT_FAILURE, "train", nb_last_error());
    }
    if (!o.json) print_summary(&o, variant, kernel, &result);
    nb_train_result_free(&result);
    return NB_EXIT_OK;
}
