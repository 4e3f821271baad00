/* src/harness/env.c — see env.h: what NABLA_KERNEL, OMP_NUM_THREADS and NABLA_DATA_DIR mean,
 * decided once for every command. */
#include "harness/env.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/gemm.h"
#include "tensor/runtime.h"

nb_status nb_env_default_threads(const char *command, int *threads, const char **source) {
    const char *omp = getenv("OMP_NUM_THREADS");
    if (omp && *omp) {
        /* OpenMP reads a list (one count per nesting level); nabla has one level: the first */
        char *end = NULL;
        errno = 0;
        long n = strtol(omp, &end, 10);
        if (end == omp || (*end && *end != ',') || errno || n < 1 || n > NB_MAX_THREADS)
            return nb_error(NB_ERR_ARG, "%s: OMP_NUM_THREADS='%s' is not a thread count in 1..%d", command, omp,
                            NB_MAX_THREADS);
        *threads = (int)n;
        if (source) *source = "OMP_NUM_THREADS";
        return NB_OK;
    }
    *threads = nb_runtime_usable_cpus();
    if (source) *source = "usable CPUs";
    return NB_OK;
}

nb_status nb_env_kernels(const char *command, const char *given, const char **kernels) {
    *kernels = given;
    if (given) return NB_OK;
    const char *env = getenv("NABLA_KERNEL");
    if (!env || !*env) return NB_OK;
    if (!nb_kernel_find(env)) {
        char names[256];
        nb_kernel_choice_names(names, sizeof names);
        return nb_error(NB_ERR_ARG, "%s: unknown kernel '%s' in NABLA_KERNEL (expected one of: %s)", command, env,
                        names);
    }
    *kernels = env;
    return NB_OK;
}

void nb_env_note_kernel_ignored(const char *command) {
    const char *env = getenv("NABLA_KERNEL");
    if (env && *env)
        fprintf(stderr, "%s: NABLA_KERNEL=%s is ignored here: this command times every kernel (--kernels narrows it)\n",
                command, env);
}

static bool has_reference(const char *dir) {
    char path[PATH_MAX];
    struct stat st;
    return snprintf(path, sizeof path, "%s/reference", dir) < (int)sizeof path && stat(path, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

nb_status nb_env_data_dir(char *buf, size_t size) {
    const char *env = getenv("NABLA_DATA_DIR");
    if (env && *env) {
        if (!has_reference(env))
            return nb_error(NB_ERR_IO,
                            "NABLA_DATA_DIR=%s holds no reference/ directory (the PyTorch twins and fixtures)", env);
        snprintf(buf, size, "%s", env);
        return NB_OK;
    }
    /* installed: <prefix>/bin/nabla beside <prefix>/share/nabla (CMakeLists.txt's install rules) */
    char exe[PATH_MAX], installed[PATH_MAX + 32] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(installed, sizeof installed, "%s/../share/nabla", exe);
            if (has_reference(installed)) {
                snprintf(buf, size, "%s", installed);
                return NB_OK;
            }
        }
    }
    /* run from its build tree: the sources it was built from */
    if (has_reference(NABLA_SOURCE_DIR)) {
        snprintf(buf, size, "%s", NABLA_SOURCE_DIR);
        return NB_OK;
    }
    return nb_error(NB_ERR_IO,
                    "cannot find nabla's reference/ directory (PyTorch twins and fixtures): tried %s and %s; "
                    "set NABLA_DATA_DIR",
                    *installed ? installed : "<prefix>/share/nabla", NABLA_SOURCE_DIR);
}
