/* src/harness/neighbours.h — busy neighbours for `nabla bench --neighbours`: child processes
 * that spin on integer and floating-point work while cases are timed, so a measurement can
 * show what a noisy shared machine does to each kernel and thread count. They are left to the
 * scheduler, never pinned: a tenant beside a benchmark goes wherever the kernel puts it.
 *
 * A neighbour never outlives nabla. nb_neighbours_stop kills (SIGKILL) and reaps every one;
 * if nabla dies without stopping them (a second ^C, SIGKILL, a crash) the kernel kills them
 * (PR_SET_PDEATHSIG, tied to the thread that started them: start them from the main thread). */
#ifndef NB_HARNESS_NEIGHBOURS_H
#define NB_HARNESS_NEIGHBOURS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

/* The most neighbours running at once (bench's --neighbours limit). */
#define NB_NEIGHBOURS_MAX 1024

typedef struct nb_neighbours {
    pid_t pid[NB_NEIGHBOURS_MAX]; /* the running ones, pid[0..count) */
    int count;
    /* over the set's life: neighbours started, and the CPU time (user + system) of those
     * stopped, as wait4 reports it: proof that they ran, and how much of the machine they had */
    long started;
    double cpu_seconds;
    /* the CPUs a neighbour may run on (nb_neighbours_init): the process's, not whatever a
     * runtime bound the starting thread to later (OMP_PROC_BIND binds the main thread) */
    unsigned char cpus[128]; /* a cpu_set_t, kept opaque: its type needs _GNU_SOURCE before any include */
    bool have_cpus;
} nb_neighbours;

/* An empty set; records the CPUs this thread may run on now, for the neighbours. Call before
 * anything binds threads. */
void nb_neighbours_init(nb_neighbours *n);

/* Starts `count` more neighbours (count + n->count <= NB_NEIGHBOURS_MAX). NB_ERR_IO, with every
 * neighbour of the set stopped, when fork fails. */
nb_status nb_neighbours_start(nb_neighbours *n, int count);

/* Kills and reaps every running neighbour of the set, adding their CPU time; never fails. */
void nb_neighbours_stop(nb_neighbours *n);

#endif
