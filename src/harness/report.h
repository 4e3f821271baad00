/* src/harness/report.h — what every result file nabla writes shares: the context a number
 * was measured in (machine, environment, build, revision, date) and an atomic write, so a
 * reader never sees half a file and a suite cut off midway keeps its last complete report. */
#ifndef NB_HARNESS_REPORT_H
#define NB_HARNESS_REPORT_H

#include <cJSON.h>
#include <stdbool.h>

#include "base/error.h"

/* Adds the measurement context to `ctx`: cpu_model, online_cpus, environment (OPENBLAS_*,
 * OMP_NUM_THREADS, NABLA_KERNEL; null when unset), openblas_config, openblas_core,
 * openblas_threading (sequential|pthreads|openmp), compiler, c_flags, build_type,
 * nabla_version, git_revision, date (UTC, ISO 8601). */
void nb_report_context(cJSON *ctx);

/* Writes `text` to `path` through a temporary file in the same directory and rename(2). */
nb_status nb_report_write_atomically(const char *path, const char *text);

/* Before any work whose results go to `dir`: creates it when missing (its parents too when
 * `parents`), then checks that it is a directory in which this process can create a file, by
 * creating and removing one. A bad --out is then refused in a moment, not after the run. */
nb_status nb_report_prepare_dir(const char *dir, bool parents);

/* The same for a file about to be written: its directory (created with its parents) must
 * take a new file, and the path must not be a directory. */
nb_status nb_report_prepare_file(const char *path);

#endif
