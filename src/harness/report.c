/* src/harness/report.c — see report.h. */
#include "harness/report.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "kernels/blas.h"
#include "nabla_build_info.h"
#include "tensor/runtime.h"

static void cpu_model(char *model, size_t size) {
    snprintf(model, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(model, size, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f) fclose(f);
}

void nb_report_context(cJSON *ctx) {
    char model[128];
    cpu_model(model, sizeof model);
    cJSON_AddStringToObject(ctx, "cpu_model", model);
    cJSON_AddNumberToObject(ctx, "online_cpus", nb_runtime_online_cpus());
    /* the CPUs this process could run on (taskset, cpusets): fewer than online changes timings */
    cJSON_AddNumberToObject(ctx, "usable_cpus", nb_runtime_usable_cpus());
    const char *envs[] = {"OPENBLAS_CORETYPE",  "OPENBLAS_NUM_THREADS", "OPENBLAS_L2_SIZE",
                          "OMP_NUM_THREADS",    "NABLA_KERNEL",         "NABLA_ISA",
                          "NABLA_TEAM_SPIN_US", "NABLA_DATA_DIR"};
    cJSON *env = cJSON_AddObjectToObject(ctx, "environment");
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i]);
        if (v)
            cJSON_AddStringToObject(env, envs[i], v);
        else
            cJSON_AddNullToObject(env, envs[i]);
    }
    /* What OpenBLAS itself reports, beside the OPENBLAS_* environment above: the core it runs
     * can differ from the CPU's (OPENBLAS_CORETYPE), and the threading decides whether
     * OMP_NUM_THREADS or OPENBLAS_NUM_THREADS governs it. */
    cJSON_AddStringToObject(ctx, "openblas_config", nb_blas_config());
    cJSON_AddStringToObject(ctx, "openblas_core", nb_blas_core_name());
    cJSON_AddStringToObject(ctx, "openblas_threading", nb_blas_threading());
    cJSON_AddStringToObject(ctx, "compiler", "gcc " __VERSION__);
    cJSON_AddStringToObject(ctx, "c_flags", NABLA_C_FLAGS);
    cJSON_AddStringToObject(ctx, "build_type", NABLA_BUILD_TYPE);
    cJSON_AddStringToObject(ctx, "nabla_version", NABLA_VERSION);
    cJSON_AddStringToObject(ctx, "git_revision", NABLA_GIT_REVISION);
    cJSON_AddBoolToObject(ctx, "git_dirty", NABLA_GIT_DIRTY);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(ctx, "date", date);
}

bool nb_report_loadavg(double load[3]) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return false;
    bool ok = fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) == 3;
    fclose(f);
    return ok;
}

nb_status nb_report_prepare_dir(const char *dir) {
    NB_TRY(nb_file_make_dirs(dir));
    /* room for the largest report nabla writes (a bench.json of a full matrix is ~100 KiB) */
    return nb_file_check_writable_dir(dir, NB_REPORT_PROBE_BYTES);
}

nb_status nb_report_prepare_file(const char *path) {
    struct stat st;
    if (!path || !*path) return nb_error(NB_ERR_ARG, "the output file name is empty");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return nb_error(NB_ERR_IO, "cannot write %s: %s", path, strerror(EISDIR));
    char dir[1024];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return nb_error(NB_ERR_ARG, "the output path is too long: %.60s...", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return nb_report_prepare_dir(".");
    if (slash == dir)
        slash[1] = '\0'; /* a file in / */
    else
        *slash = '\0';
    return nb_report_prepare_dir(dir);
}
