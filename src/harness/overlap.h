/* src/harness/overlap.h — whether another nabla measurement ran at the same time as this one:
 * every measuring command registers itself in a per-user runtime directory for as long as it
 * runs, so a timing taken while another run loaded the machine can say so (a warning line and
 * a field of its output). Best effort by design: it never fails the command it serves. */
#ifndef NB_HARNESS_OVERLAP_H
#define NB_HARNESS_OVERLAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/* cJSON's own type, declared here so that including this header does not need cJSON's include
 * path (the test suites and fuzz targets reach cJSON only through nabla_harness). */
struct cJSON;

/* How it works. nb_overlap_begin writes `<pid>-<start ns>.run` into the runtime directory
 * ($XDG_RUNTIME_DIR/nabla/runs when XDG_RUNTIME_DIR is an absolute path, else
 * /tmp/nabla-<uid>/runs; created 0700, and refused unless a directory of this user's that only
 * this user can write), holding the command's name, and keeps an exclusive flock(2) on it while
 * the run lives. nb_overlap_end appends the end time and closes the file, which drops the lock,
 * but leaves the file there: a run that is still going must be able to see, at its own end,
 * that this one overlapped it. Whoever scans tells a live run by its lock (a crashed one loses
 * its lock with the process), and removes the files of finished runs that ended over a minute
 * ago and before every live run began (none of those can matter any more), and of crashed runs
 * an hour after they began. Clocks are CLOCK_REALTIME nanoseconds, so processes compare them. */

/* The opaque record of one registered run. */
typedef struct nb_overlap nb_overlap;

typedef enum nb_overlap_status {
    NB_OVERLAP_NONE = 0, /* no other registered run was alive in the window */
    NB_OVERLAP_FOUND,    /* at least one was: the timings measured each other */
    NB_OVERLAP_UNKNOWN   /* the runtime directory could not be used (or no run was registered) */
} nb_overlap_status;

/* The runs a report lists by name; `count` says how many there were in all. */
#define NB_OVERLAP_MAX_LISTED 4
#define NB_OVERLAP_WHAT_MAX 64

typedef struct nb_overlap_other {
    char what[NB_OVERLAP_WHAT_MAX]; /* the command, as it registered: "nabla bench" */
    long pid;
} nb_overlap_other;

typedef struct nb_overlap_report {
    nb_overlap_status status;
    int count; /* other runs found; the first NB_OVERLAP_MAX_LISTED of them are in runs[] */
    nb_overlap_other runs[NB_OVERLAP_MAX_LISTED];
    char why[320]; /* NB_OVERLAP_UNKNOWN: the reason ("cannot create /x/nabla: Permission denied") */
} nb_overlap_report;

/* Registers this process's measurement `what` ("nabla tune"; cut to NB_OVERLAP_WHAT_MAX - 1
 * characters, control characters replaced). Never fails the caller: when the runtime directory
 * cannot be used the run is not registered and every report on it says NB_OVERLAP_UNKNOWN with
 * the reason. NULL only when out of memory; every function here takes NULL and reports
 * unknown. Several runs may be registered by one process (each is its own file and lock). */
nb_overlap *nb_overlap_begin(const char *what);

/* Now, on the clock the runs' files use (CLOCK_REALTIME, nanoseconds). */
int64_t nb_overlap_clock(void);

/* Which other registered runs were alive at some moment between `since` (nb_overlap_clock) and
 * now, without ending `run`: a command that measures several things checks each one. A run
 * counts when it is alive now, began after `since`, ended after `since`, or was seen alive by
 * an earlier check of `run` made after `since` (what catches one that was killed, so never
 * wrote its end). `out` is always filled. */
void nb_overlap_check(nb_overlap *run, int64_t since, nb_overlap_report *out);

/* The same check over the whole run (since nb_overlap_begin), then unregisters it (writes its
 * end time and drops the lock; the file stays for the runs it overlapped) and frees it. `out`
 * may be NULL. */
void nb_overlap_end(nb_overlap *run, nb_overlap_report *out);

/* The runs, as "nabla bench (pid 1234); nabla tune (pid 99)" (plus "; and N more" past the
 * listed ones), or "none", or "unknown", cut to fit `size`. */
void nb_overlap_describe(const nb_overlap_report *r, char *buf, size_t size);

/* When r found other runs, writes one line to f and returns true:
 *   "<command>: another nabla measurement ran at the same time (nabla bench, pid 1234): these
 *    timings measured each other"
 * (several: "2 other nabla measurements ran ... (nabla bench, pid 1234; nabla tune, pid 99)").
 * Says nothing, and returns false, for none and for unknown (which the output's JSON records). */
bool nb_overlap_warn(FILE *f, const char *command, const nb_overlap_report *r);

/* For a command's output JSON: an array of the runs' descriptions ("nabla bench (pid 1234)";
 * empty: none), or the string "unknown". NULL when out of memory. */
struct cJSON *nb_overlap_json(const nb_overlap_report *r);

/* The runtime directory runs register in (not created here). NB_ERR_ARG when it does not fit. */
nb_status nb_overlap_dir(char *buf, size_t size);

#endif
