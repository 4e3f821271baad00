/* src/harness/env.h — every environment variable the nabla commands read, and what each one
 * means, in one place: each command asks here, so a variable means the same thing in train,
 * profile, bench, verify, kernels and tune (README, "Environment").
 *
 *   NABLA_KERNEL     stands in for the kernel flag of the commands that run the training stack
 *                    (train and profile: --kernel; bench and verify: --kernels, narrowed to
 *                    that one kernel). The commands that exist to compare kernels (kernels
 *                    --bench/--sweep, tune) time every kernel and say on stderr that they
 *                    ignore it. A flag given always wins; an unknown name is a usage error
 *                    that names the variable.
 *   OMP_NUM_THREADS  the default thread count of every command (its first entry, as OpenMP
 *                    reads a list), like PyTorch's; else the CPUs this process may run on
 *                    (taskset, cpusets), never more. --threads always wins.
 *   NABLA_DATA_DIR   where the PyTorch twins and fixtures (reference/) are, when nabla is
 *                    neither run from its build tree nor installed beside them.
 *   NABLA_ISA, NABLA_TUNE_FILE, NABLA_ALLOC_CACHE: see main.c, tune.h and base/alloc.h. */
#ifndef NB_HARNESS_ENV_H
#define NB_HARNESS_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* The default thread count: OMP_NUM_THREADS when set (an integer 1..NB_MAX_THREADS, else
 * NB_ERR_ARG naming the variable), else nb_runtime_usable_cpus(). `source`, when not NULL,
 * receives "OMP_NUM_THREADS" or "usable CPUs" for messages and reports. */
nb_status nb_env_default_threads(const char *command, int *threads, const char **source);

/* The kernel list a training command runs when its flag is absent: `given` when not NULL,
 * else NABLA_KERNEL when set and non-empty (checked: one known kernel name, auto included,
 * else NB_ERR_ARG naming the variable), else NULL (the command's own default). */
nb_status nb_env_kernels(const char *command, const char *given, const char **kernels);

/* For the commands that compare kernels: one note on stderr when NABLA_KERNEL is set. */
void nb_env_note_kernel_ignored(const char *command);

/* The directory that holds reference/ (the PyTorch twins and fixtures): NABLA_DATA_DIR, else
 * <prefix>/share/nabla beside an installed binary, else the source tree this binary was built
 * from; the first that holds reference/. NB_ERR_IO when none does, saying what was tried. */
nb_status nb_env_data_dir(char *buf, size_t size);

#endif
