/* src/harness/verify_cmd.c — `nabla verify`: runs the gradient checks (every op, every
 * variant, every kernel; f64 against finite differences, f32 against f64) and the PyTorch
 * reference cases (every case with every kernel), prints one row per check and a summary,
 * and exits 1 if any row failed. */
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/env.h"
#include "harness/footprint.h"
#include "harness/interrupt.h"
#include "harness/tune.h"
#include "tensor/runtime.h"
#include "verify/reference.h"
#include "verify/verify.h"

typedef struct verify_tally {
    int rows, failed;
    bool quiet; /* print failing rows only */
} verify_tally;

static void print_row(void *opaque, const nb_check_row *row) {
    verify_tally *t = opaque;
    t->rows++;
    if (!row->ok) t->failed++;
    if (!t->quiet || !row->ok) nb_check_print_row(stdout, row);
}

/* Every name in `list` must exist: unknown names are usage errors, not empty runs. */
static nb_status check_names(const char *flag, const char *list, bool (*exists)(const char *)) {
    if (!list) return NB_OK;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (!exists(tok)) return nb_error(NB_ERR_ARG, "nabla verify: unknown name '%s' in --%s", tok, flag);
    return NB_OK;
}
static bool kernel_exists(const char *name) { return nb_kernel_find(name) != NULL; }
static bool variant_exists(const char *name) { return nb_variant_find(name) != NULL; }

#define MAX_KERNELS 32

/* The kernels to run, in registry order: the concrete kernels named by --kernels (all of them
 * by default), then auto, but only when --kernels names it: it runs one of the others on every
 * product, so by default it would repeat their checks. */
static int selected_kernels(const char *list, const nb_kernel **out) {
    int n = 0;
    for (int k = 0; k < nb_kernel_count() && n < MAX_KERNELS - 1; k++)
        if (nb_cli_list_contains(list, nb_kernel_at(k)->name)) out[n++] = nb_kernel_at(k);
    if (list && nb_cli_list_contains(list, nb_kernel_auto()->name)) out[n++] = nb_kernel_auto();
    return n;
}

/* Before any check runs: the reference cases nabla expects (reference/cases.txt, compiled in;
 * not whatever `root` holds) must all load, and fit in memory, and directories nabla does not
 * expect are named. A missing or broken case then stops the run in a second, not after
 * minutes of gradient checks, and a --variants filter never hides it. */
/* Whether the expected case `name` is one --cases selects (comma-separated shell globs; NULL:
 * every case). */
static bool case_selected(const char *globs, const char *name) {
    if (!globs) return true;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", globs);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (fnmatch(tok, name, 0) == 0) return true;
    return false;
}

/* Every --cases glob must select an expected case: one that selects none is a typo, and would
 * otherwise make an empty run that passes. */
static nb_status check_case_globs(const char *globs) {
    if (!globs) return NB_OK;
    NB_TRY(nb_cli_check_list("nabla verify", "cases", globs, 512));
    char buf[512];
    snprintf(buf, sizeof buf, "%s", globs);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool any = false;
        for (int i = 0; i < nb_ref_expected_count() && !any; i++) any = case_selected(tok, nb_ref_expected_at(i));
        if (!any)
            return nb_error(NB_ERR_ARG, "nabla verify: --cases '%s' selects none of the %d expected cases", tok,
                            nb_ref_expected_count());
    }
    return NB_OK;
}

static nb_status check_reference(const char *root, const char *globs) {
    /* Directories nabla does not expect are named, one line each, and skipped rather than run:
     * the expected list is what generate.py makes, so an extra one is a stale case from an
     * older generator or one made by hand, and running it would let the disk decide the
     * verdict again. */
    char **extra = NULL;
    int nextra = 0;
    NB_TRY(nb_ref_list_unexpected(root, &extra, &nextra));
    fflush(stdout);
    for (int i = 0; i < nextra; i++)
        fprintf(stderr, "nabla verify: %s/%s: not in nabla's expected list (reference/cases.txt), skipped\n", root,
                extra[i]);
    nb_ref_list_free(extra, nextra);
    nb_ref_case c;
    for (int i = 0; i < nb_ref_expected_count(); i++) {
        /* --cases narrows what must be there; --variants does not (it never hides a missing case) */
        if (!case_selected(globs, nb_ref_expected_at(i))) continue;
        NB_TRY(nb_ref_expected_load(root, nb_ref_expected_at(i), &c));
        /* a case may ask for up to 2^20 per dimension: refused here, not out of memory midway */
        const nb_variant *variant = nb_variant_find(c.cfg.variant);
        nb_status st = variant ? nb_footprint_check("verify", variant, &c.cfg)
                               : nb_error(NB_ERR_FORMAT, "%s/%s: unknown variant '%s'", root, nb_ref_expected_at(i),
                                          c.cfg.variant);
        nb_ref_case_free(&c);
        NB_TRY(st);
    }
    return NB_OK;
}

/* Every expected case (checked by check_reference) with every selected kernel, for the
 * variants in `variants`. */
static nb_status run_reference(const char *root, const char *globs, const nb_kernel *const *kernels, int nkernels,
                               const char *variants, verify_tally *tally) {
    nb_ref_case c;
    nb_status st = NB_OK;
    for (int i = 0; i < nb_ref_expected_count() && st == NB_OK && !nb_interrupted(); i++) {
        if (!case_selected(globs, nb_ref_expected_at(i))) continue;
        if ((st = nb_ref_expected_load(root, nb_ref_expected_at(i), &c)) != NB_OK) break;
        /* the manifest's variant, which nb_ref_expected_load checked against the case name */
        for (int k = 0;
             k < nkernels && st == NB_OK && nb_cli_list_contains(variants, c.cfg.variant) && !nb_interrupted(); k++) {
            const nb_kernel *kernel = kernels[k];
            nb_runtime_set_kernel(kernel);
            st = nb_verify_reference_case(&c, kernel->name, print_row, tally);
            fflush(stdout);
        }
        nb_ref_case_free(&c);
    }
    return st;
}

int nb_cmd_verify(int argc, char **argv) {
    const char *kernels = NULL, *variants = NULL, *dtype = "all", *fixtures = NULL, *cases = NULL;
    bool ops_only = false, models_only = false, grad_only = false, reference_only = false, quiet = false, help = false;
    const nb_option options[] = {
        NB_OPT_STRING_ROW("kernels", &kernels, "LIST",
                          "comma-separated kernels, auto too (default: $NABLA_KERNEL, else all but auto)"),
        NB_OPT_STRING_ROW("variants", &variants, "LIST", "comma-separated variants (default: all)"),
        NB_OPT_STRING_ROW("dtype", &dtype, "f64|f32|all",
                          "gradient checks: f64 finite differences, f32 against f64, or both"),
        NB_OPT_FLAG_ROW("ops-only", &ops_only, "gradient checks of the ops only"),
        NB_OPT_FLAG_ROW("models-only", &models_only, "gradient checks of the variants only"),
        NB_OPT_FLAG_ROW("grad-only", &grad_only, "the gradient checks only, no PyTorch reference"),
        NB_OPT_FLAG_ROW("reference-only", &reference_only, "the PyTorch reference cases only"),
        NB_OPT_STRING_ROW("fixtures", &fixtures, "DIR",
                          "the reference cases (default: reference/fixtures in nabla's data directory)"),
        NB_OPT_STRING_ROW("cases", &cases, "GLOBS",
                          "only the reference cases these comma-separated shell globs select (default: all)"),
        NB_OPT_FLAG_ROW("quiet", &quiet, "print failing rows only, then the summary"),
    };
    const int count = (int)(sizeof options / sizeof options[0]);
    if (nb_cli_parse("nabla verify", argc, argv, options, count, &help) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "verify", nb_last_error());
    if (help) {
        printf(
            "usage: nabla verify [flags]\n\n"
            "Checks gradients: every differentiable op and every variant's loss (with respect to its\n"
            "input and parameters, at reduced dimensions) against central finite differences in f64\n"
            "(eps %g, pass when |analytic - numeric| <= %g + %g * |numeric|), and every variant's f32\n"
            "gradients against its f64 ones. Then runs every PyTorch reference case (reference/fixtures,\n"
            "docs/reference-format.md): initial tensors bit for bit, step-0 loss and gradients, losses,\n"
            "final parameters. Every check runs with every kernel; one row per check; exit 1 if any fails.\n\nflags:\n",
            NB_GRADCHECK_EPS, NB_GRADCHECK_ATOL, NB_GRADCHECK_RTOL);
        nb_cli_print_options(stdout, options, count);
        return NB_EXIT_OK;
    }
    bool f64 = !strcmp(dtype, "f64") || !strcmp(dtype, "all"), f32 = !strcmp(dtype, "f32") || !strcmp(dtype, "all");
    if (!f64 && !f32) return nb_cmd_fail(NB_EXIT_USAGE, "verify", "nabla verify: --dtype must be f64, f32 or all");
    if (ops_only && models_only)
        return nb_cmd_fail(NB_EXIT_USAGE, "verify", "nabla verify: --ops-only and --models-only exclude each other");
    if (grad_only && reference_only)
        return nb_cmd_fail(NB_EXIT_USAGE, "verify",
                           "nabla verify: --grad-only and --reference-only exclude each other");
    /* one rule for every command: --kernels, else NABLA_KERNEL, else every kernel */
    if (nb_env_kernels("nabla verify", kernels, &kernels) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "verify", nb_last_error());
    /* the fixtures are found (or refused) before the first check runs, not after minutes of them */
    char fixtures_dir[PATH_MAX + 32];
    if (!grad_only && !fixtures) {
        char data[PATH_MAX];
        if (nb_env_data_dir(data, sizeof data) != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "verify", nb_last_error());
        snprintf(fixtures_dir, sizeof fixtures_dir, "%s/reference/fixtures", data);
        fixtures = fixtures_dir;
    }
    if (check_names("kernels", kernels, kernel_exists) != NB_OK ||
        check_names("variants", variants, variant_exists) != NB_OK)
        return nb_cmd_fail(NB_EXIT_USAGE, "verify", nb_last_error());

    const nb_kernel *selected[MAX_KERNELS];
    const int nselected = selected_kernels(kernels, selected);
    /* auto (last when selected) needs its table for both dtypes, since the f32 checks compare
     * with f64, at the thread count the checks run with; a broken table is a failure to run. */
    const bool with_auto = nselected > 0 && selected[nselected - 1] == nb_kernel_auto();
    if (with_auto && (nb_tune_ensure(NULL, NB_F64, nb_runtime_threads(), stderr) != NB_OK ||
                      nb_tune_ensure(NULL, NB_F32, nb_runtime_threads(), stderr) != NB_OK))
        return nb_cmd_fail(NB_EXIT_FAILURE, "verify", nb_last_error());

    if (check_case_globs(cases) != NB_OK) return nb_cmd_fail(NB_EXIT_USAGE, "verify", nb_last_error());
    if (!grad_only && check_reference(fixtures, cases) != NB_OK)
        return nb_cmd_fail(NB_EXIT_FAILURE, "verify", nb_last_error());

    verify_tally tally = {.quiet = quiet};
    nb_check_print_header(stdout);
    nb_status st = NB_OK;
    /* a stop request (SIGINT, SIGTERM, SIGHUP) ends the run between two checks */
    nb_interrupt_catch();
    for (int k = 0; k < nselected && st == NB_OK && !reference_only && !nb_interrupted(); k++) {
        const nb_kernel *kernel = selected[k];
        nb_runtime_set_kernel(kernel);
        if (!models_only && f64) st = nb_verify_ops(kernel->name, print_row, &tally);
        for (int v = 0; v < nb_variant_count() && st == NB_OK && !ops_only && !nb_interrupted(); v++) {
            const nb_variant *variant = nb_variant_at(v);
            if (!nb_cli_list_contains(variants, variant->name)) continue;
            if (f64) st = nb_verify_variant_f64(variant, kernel->name, print_row, &tally);
            if (f32 && st == NB_OK) st = nb_verify_variant_f32(variant, kernel->name, print_row, &tally);
        }
        fflush(stdout);
    }
    if (st == NB_OK && !grad_only && !nb_interrupted())
        st = run_reference(fixtures, cases, selected, nselected, variants, &tally);
    nb_interrupt_release();
    nb_auto_clear();
    if (nb_interrupted()) {
        printf("verify: interrupted by %s after %d checks, %d failed\n", nb_interrupt_signal_name(), tally.rows,
               tally.failed);
        return nb_interrupt_exit_code();
    }
    if (st != NB_OK) return nb_cmd_fail(NB_EXIT_FAILURE, "verify", nb_last_error());
    printf("verify: %d checks, %d failed\n", tally.rows, tally.failed);
    return tally.failed ? NB_EXIT_FAILURE : NB_EXIT_OK;
}
