/* src/harness/report.h — what every result file nabla writes shares: the context a number
 * was measured in (machine, environment, build, revision, date) and an atomic write, so a
 * reader never sees half a file and a suite cut off midway keeps its last complete report. */
#ifndef NB_HARNESS_REPORT_H
#define NB_HARNESS_REPORT_H

#include <cJSON.h>
#include <stdbool.h>

#include "base/error.h"

/* Adds the measurement context to `ctx`: cpu_model, online_cpus, usable_cpus (the affinity
 * mask's), environment (OPENBLAS_*, OMP_NUM_THREADS, NABLA_KERNEL, NABLA_ISA, NABLA_DATA_DIR;
 * null when unset), openblas_config, openblas_core,
 * openblas_threading (sequential|pthreads|openmp), compiler, c_flags, build_type,
 * nabla_version, git_revision and git_dirty (captured at build time), date (UTC, ISO 8601). */
void nb_report_context(cJSON *ctx);

/* The load averages over 1, 5 and 15 minutes (/proc/loadavg's first three numbers); false
 * when they cannot be read. A command reads them as it starts: the load its samples share
 * the machine with, which nabla's own work then adds to. */
bool nb_report_loadavg(double load[3]);

/* The room an output directory must have before a run starts (nb_report_prepare_dir). */
#define NB_REPORT_PROBE_BYTES ((size_t)1 << 20)

/* Before any work whose results go to `dir`: creates it and its parents when missing, then checks that it is a directory that takes a file of NB_REPORT_PROBE_BYTES,
 * by creating one, reserving the space and removing it. A bad --out (read-only, full, not a
 * directory) is then refused in a moment, not after the run. */
nb_status nb_report_prepare_dir(const char *dir);

/* The same for a file about to be written: its directory (created with its parents) must
 * take a new file, and the path must not be a directory. */
nb_status nb_report_prepare_file(const char *path);

#endif
