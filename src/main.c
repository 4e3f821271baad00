/* src/main.c — the `nabla` command line: dispatches to the subcommands of src/harness. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/team.h"
#include "harness/commands.h"
#include "kernels/cpu.h"
#include "tensor/runtime.h"

static void print_usage(FILE *out) {
    fprintf(out, "usage: nabla <command> [flags]\n\n"
                 "nabla times and checks matmul kernels under the training programs of\n"
                 "\"Learning PyTorch with Examples\".\n\n"
                 "commands:\n"
                 "  train     train the two-layer network with one variant and one kernel\n"
                 "  kernels   list the matmul kernels; --bench times them side by side\n"
                 "  verify    check gradients against finite differences and f32 against f64\n"
                 "  bench     time every variant x kernel x threads against the PyTorch twins\n"
                 "  profile   where one training loop spends its time, op by op\n"
                 "  graph     show the static-graph variant's compiled plan (--dump, --dot FILE)\n"
                 "  tune      measure the fastest kernel per product for --kernel auto\n\n"
                 "'nabla <command> --help' describes a command's flags; 'nabla --version' prints the version.\n");
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"train", nb_cmd_train},     {"kernels", nb_cmd_kernels}, {"verify", nb_cmd_verify}, {"bench", nb_cmd_bench},
    {"profile", nb_cmd_profile}, {"graph", nb_cmd_graph},     {"tune", nb_cmd_tune},
};

int main(int argc, char **argv) {
    /* Every line printed reaches a file or pipe when it is printed, not when a 4 KiB buffer
     * fills: a run redirected to a file and then killed keeps the progress it reported. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Past a file-size limit (ulimit -f) a write fails with EFBIG, which nabla reports, rather
     * than killing the process halfway through a file. */
    signal(SIGXFSZ, SIG_IGN);
    /* Test-only switch (tests/cli.sh): a GEMM that adds this to one output element, to show
     * that nabla verify catches a wrong kernel. */
    const char *perturb = getenv("NABLA_TEST_PERTURB_GEMM");
    if (perturb && *perturb) nb_runtime_set_gemm_perturbation(strtod(perturb, NULL));
    /* NABLA_ISA lowers the SIMD instruction set the kernels dispatch to (none, avx2, avx512),
     * to compare code paths on one machine; a value that cannot run here is a usage error. */
    const char *isa_name = getenv("NABLA_ISA");
    if (isa_name && *isa_name) {
        nb_cpu_isa isa;
        if (!nb_cpu_isa_parse(isa_name, &isa)) {
            fprintf(stderr, "nabla: NABLA_ISA='%s' is not one of none, avx2, avx512\n", isa_name);
            return NB_EXIT_USAGE;
        }
        if (!nb_cpu_set_dispatch_isa(isa)) {
            fprintf(stderr, "nabla: NABLA_ISA=%s is not supported by this CPU (it has %s)\n", isa_name,
                    nb_cpu_features().best_name);
            return NB_EXIT_USAGE;
        }
    }
    /* NABLA_TEAM_SPIN_US: how long the thread team's waits spin before they sleep (base/team.h);
     * 0 sleeps at once. A whole number of microseconds, at most a second. */
    const char *spin = getenv("NABLA_TEAM_SPIN_US");
    if (spin && *spin) {
        char *end;
        errno = 0;
        const long us = strtol(spin, &end, 10);
        if (*end || errno || us < 0 || us > 1000000) {
            fprintf(stderr, "nabla: NABLA_TEAM_SPIN_US='%s' is not a whole number of microseconds in 0..1000000\n",
                    spin);
            return NB_EXIT_USAGE;
        }
        nb_team_set_spin_ns(us * 1000);
    }
    if (argc < 2) {
        print_usage(stderr);
        return NB_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        print_usage(stdout);
        return NB_EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("nabla %s\n", NABLA_VERSION);
        return NB_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "nabla: unknown command '%s' (see 'nabla --help')\n", name);
    return NB_EXIT_USAGE;
}
