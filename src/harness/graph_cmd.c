/* src/harness/graph_cmd.c — `nabla graph`: compiles the static-graph variant's network for
 * the given dimensions and dtype and shows the plan: `--dump` prints it (values, buffers, the
 * schedule, fused groups, peak bytes against one buffer per value), `--dot FILE` writes it as
 * Graphviz DOT. */
#include <float.h>
#include <stdio.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/env.h"
#include "harness/footprint.h"
#include "harness/report.h"
#include "tensor/runtime.h"
#include "variants/static_graph.h"

#define MAX_DIM ((int64_t)1 << 24)

typedef struct graph_options {
    nb_train_config cfg;
    const char *dtype_name;
    const char *dot_path;
    double lr;
    bool lr_given, dump, grad_x, no_fusion, no_reuse, schedule;
    int64_t threads;
    bool threads_given;
    const char *kernel_name;
} graph_options;

static void print_help(const nb_option *options, int count) {
    printf("usage: nabla graph --dump [--dot FILE] [--schedule] [flags]\n\n"
           "Builds the two-layer network of the static-graph variant once, compiles it (backward,\n"
           "fusion, memory plan) and shows the result: --dump prints the plan, --dot writes it as\n"
           "Graphviz DOT (render with `dot -Tsvg FILE`), --schedule prints the per-thread schedule a\n"
           "run on --threads threads with --kernel follows (phases, and how each instruction is cut).\n"
           "At least one of the three is needed.\n\n"
           "flags:\n");
    nb_cli_print_options(stdout, options, count);
}

int nb_cmd_graph(int argc, char **argv) {
    graph_options o = {.dtype_name = "f32"};
    nb_train_config_default(&o.cfg);
    o.cfg.variant = nb_variant_static_graph.name;
    const nb_option options[] = {
        NB_OPT_FLAG_ROW("dump", &o.dump, "print the compiled plan"),
        NB_OPT_STRING_ROW("dot", &o.dot_path, "FILE", "write the compiled plan as Graphviz DOT to FILE"),
        NB_OPT_FLAG_ROW("schedule", &o.schedule, "print the per-thread schedule of a multithreaded run"),
        NB_OPT_INT_ROW_SEEN("threads", &o.threads, "T",
                            "--schedule: threads, 2..64 (default: the usable CPUs, at least 2)", 2, 64,
                            &o.threads_given),
        NB_OPT_STRING_ROW("kernel", &o.kernel_name, "NAME",
                          "--schedule: matmul kernel (default: $NABLA_KERNEL, else blas); only a block-invariant "
                          "kernel's products are cut"),
        NB_OPT_INT_ROW("batch", &o.cfg.batch, "N", "batch size (default 64)", 1, MAX_DIM),
        NB_OPT_INT_ROW("d-in", &o.cfg.d_in, "D", "input features (default 1000)", 1, MAX_DIM),
        NB_OPT_INT_ROW("hidden", &o.cfg.hidden, "H", "hidden units (default 100)", 1, MAX_DIM),
        NB_OPT_INT_ROW("d-out", &o.cfg.d_out, "O", "output features (default 10)", 1, MAX_DIM),
        NB_OPT_STRING_ROW("dtype", &o.dtype_name, "f32|f64", "element type (default f32)"),
        NB_OPT_UINT64_ROW("seed", &o.cfg.seed, "S", "torch.manual_seed(S) for the initial values (default 0)"),
        NB_OPT_DOUBLE_ROW("lr", &o.lr, "LR", "learning rate of the compiled update (default 1e-6)", 0, DBL_MAX,
                          &o.lr_given),
        NB_OPT_FLAG_ROW("grad-x", &o.grad_x, "also keep d loss / d x, as the gradient checks compile it"),
        NB_OPT_FLAG_ROW("no-fusion", &o.no_fusion, "compile every op on its own, as the dynamic engine runs them"),
        NB_OPT_FLAG_ROW("no-reuse", &o.no_reuse, "one buffer per value instead of the liveness plan"),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    bool help = false;
    if (nb_cli_parse("nabla graph", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", nb_last_error());
    if (help) {
        print_help(options, count);
        return NB_EXIT_OK;
    }
    if (!o.dump && !o.dot_path && !o.schedule)
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", "nabla graph: nothing to do: give --dump, --dot FILE or --schedule");
    if ((o.threads_given || o.kernel_name) && !o.schedule)
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", "nabla graph: --threads and --kernel only go with --schedule");
    const char *chosen = NULL;
    if (nb_env_kernels("nabla graph", o.kernel_name, &chosen) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", nb_last_error());
    const nb_kernel *kernel = nb_kernel_select(chosen, &chosen);
    if (!kernel) {
        char names[256];
        nb_kernel_choice_names(names, sizeof names);
        nb_error(NB_ERR_ARG, "nabla graph: unknown kernel '%s' (expected one of: %s)", chosen ? chosen : "", names);
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", nb_last_error());
    }
    if (!o.threads_given) {
        const int usable = nb_runtime_usable_cpus();
        o.threads = usable < 2 ? 2 : usable > 64 ? 64 : usable;
    }
    if (o.dot_path && !*o.dot_path) return nb_cmd_fail(NB_EXIT_USAGE, "graph", "nabla graph: --dot needs a file name");
    if (nb_dtype_parse(o.dtype_name, &o.cfg.dtype) != NB_OK) {
        nb_error(NB_ERR_ARG, "nabla graph: --dtype must be f32 or f64, got '%s'", o.dtype_name);
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", nb_last_error());
    }
    /* refused, as `nabla train` refuses it, when the plan these options compile needs more
     * than the machine has; nothing trains, so no loss history (iters 0) */
    nb_train_config sized = o.cfg;
    sized.grad_check = o.grad_x;
    sized.iters = 0;
    int64_t bytes = 0;
    bool counted = nb_static_graph_footprint(&sized, o.no_fusion, &bytes);
    if (nb_footprint_check_bytes("graph", nb_variant_static_graph.name, &sized, counted, bytes) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "graph", nb_last_error());
    /* the DOT file's place is checked before the graph is built, not after */
    if (o.dot_path && nb_report_prepare_file(o.dot_path) != NB_OK)
        return nb_cmd_fail(NB_EXIT_FAILURE, "graph", nb_last_error());
    o.cfg.lr = o.lr_given ? o.lr : -1.0;
    o.cfg.grad_check = o.grad_x;

    void *state = NULL;
    nb_status st = nb_static_graph_create(&o.cfg, nb_variant_lr(&nb_variant_static_graph, &o.cfg), o.no_fusion,
                                          o.no_reuse, &state);
    if (st != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "graph", nb_last_error());
    const nb_plan *plan = nb_static_graph_plan(state);
    if (o.dump) nb_plan_dump(plan, stdout);
    if (o.schedule) {
        nb_runtime_set_kernel(kernel);
        printf("kernel %s (%s)\n", kernel->name,
               kernel->block_invariant ? "block-invariant: products are cut"
                                       : "not block-invariant: products run whole");
        st = nb_plan_print_schedule(plan, (int)o.threads, stdout);
    }
    if (st == NB_OK && o.dot_path) {
        st = nb_plan_write_dot(plan, o.dot_path);
        if (st == NB_OK && !o.dump) {
            nb_plan_info info = nb_plan_describe(plan);
            printf("wrote %s: %d instructions, %d fused, arena %zu bytes\n", o.dot_path, info.steps, info.fused,
                   info.memory.arena_bytes);
        }
    }
    nb_variant_static_graph.destroy(state);
    if (st != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "graph", nb_last_error());
    return fflush(stdout) == 0 ? NB_EXIT_OK : NB_EXIT_FAILURE;
}
