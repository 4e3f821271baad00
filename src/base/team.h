/* src/base/team.h — the threads nabla's own parallel work runs on: one team of workers that lives
 * for the process, not a fork-join per op.
 *
 * Why not an OpenMP region per op: a training step of the seed network is a dozen short ops, and
 * on a shared machine libgomp's waits spin for a long time (GOMP_SPINCOUNT, 300000 rounds by
 * default) while the thread they wait for is descheduled, so one busy neighbour made a 2-thread
 * run 3x slower than 1 thread, and 200x with more load (issue 15). The team's waits spin for a
 * bounded time (NB_TEAM_SPIN_NS) and then sleep on a futex, so a descheduled peer costs
 * microseconds of spinning and the core goes to whoever can use it.
 *
 * The caller is member 0 of every run: nb_team_run(count, fn, ctx) runs fn(ctx, i, count) once
 * for each i in [0, count), i = 0 on the calling thread, the others on workers started the
 * first time they are needed, and returns when all have returned. Inside fn, nb_team_barrier()
 * waits until all `count` members of the run have reached it. A run started from inside a run
 * (a team member calling an op that would go parallel) runs all its members' parts on the
 * calling thread, in order: nesting never deadlocks and never oversubscribes.
 *
 * Which member does which part is the caller's decision and must not depend on timing: the
 * parts are fixed by (i, count), so a result is the same on every run. */
#ifndef NB_BASE_TEAM_H
#define NB_BASE_TEAM_H

#include <stdbool.h>

#include "base/error.h"

/* The most members a run may have (the caller included). */
#define NB_TEAM_MAX 1024

/* How long a wait spins before it sleeps, by default: long enough to bridge the gap between two
 * ops of a training step (a few microseconds) without a system call, short enough that a peer
 * that lost its core costs little. NABLA_TEAM_SPIN_US overrides it (0: sleep at once). */
#define NB_TEAM_SPIN_NS 50000

typedef void nb_team_fn(void *ctx, int member, int count);

/* Runs fn on `count` members (1 <= count <= NB_TEAM_MAX; count 1 or a nested run calls
 * fn(ctx, 0, 1) .. on the calling thread). NB_ERR_ARG for a bad count; NB_ERR_NOMEM when a
 * worker thread cannot be started (nothing has run then). */
nb_status nb_team_run(int count, nb_team_fn *fn, void *ctx);

/* Runs fn(ctx, part, nparts) once for each part in [0, nparts), on up to `count` members
 * (fewer when there are fewer parts). Each member owns a contiguous share of the parts, member m
 * the m-th of `count` equal shares (the cut nb_team_run's callers make by hand), and runs them
 * in order; then it takes parts other members have not begun, from the ends of their shares.
 * With every member running, each part runs on the member that owns it, so a thread keeps
 * computing the same slices of a tensor from op to op; a member that has lost its core (a busy
 * neighbour) has its parts taken by those that have one, and the run does not wait for it
 * unless it had begun. fn must not call nb_team_barrier (members that never start would never
 * arrive); it returns at once here. Which member runs a part is a matter of timing: results
 * must depend on the part only. Errors as nb_team_run's; nparts 0 runs nothing. */
nb_status nb_team_for(int count, int nparts, nb_team_fn *fn, void *ctx);

/* Waits for every member of the current run. Only from inside fn, by every member the same
 * number of times. In a nested (serial) run it returns at once, which is only right when the
 * parts do not wait on each other: a nested fn must not rely on a barrier to see another
 * member's writes. */
void nb_team_barrier(void);

/* Whether the calling thread is inside a run (a member of a parallel run, or the caller of a
 * serial one). */
bool nb_team_active(void);

/* The workers started so far (for tests and reports). */
int nb_team_workers(void);

/* How long waits spin, in nanoseconds, and a way to set it (tests; the CLI reads
 * NABLA_TEAM_SPIN_US). */
long nb_team_spin_ns(void);
void nb_team_set_spin_ns(long ns);

/* Stops and joins every worker (at exit, so leak checkers see no live thread; also for tests).
 * Not while a run is in progress. A later run starts workers again. */
void nb_team_shutdown(void);

#endif
