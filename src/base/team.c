/* src/base/team.c — the persistent team of team.h.
 *
 * Each worker has one 32-bit state word, on its own cache line: a sequence number (bumped for
 * every run it is offered) and a status, IDLE, OFFERED or RUNNING. The caller offers a run by
 * writing OFFERED; the worker takes it by compare-and-swap to RUNNING, and when done writes
 * IDLE. The word is also what each side waits on (spin for a bounded time, then futex), so the
 * caller wakes exactly the workers of its run and waits for exactly those.
 *
 * Why a word per worker rather than one shared "job generation" every worker watches: a worker
 * left out of a run could read the generation of one run and the job of the next, and run a
 * part twice. And why OFFERED is separate from RUNNING: a run of parts (nb_team_for) does not
 * need every member. When the caller has run out of parts, it withdraws the offers not yet taken
 * (compare-and-swap OFFERED -> IDLE) and waits only for the workers that took theirs, so a worker
 * that has lost its core to a busy neighbour costs the run nothing; its parts were taken by the
 * members that ran. */
#define _GNU_SOURCE /* syscall */
#include "base/team.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { IDLE = 0, OFFERED = 1, RUNNING = 2, STATUS_MASK = 3, SEQ_STEP = 4 };

typedef struct worker {
    _Alignas(64) _Atomic uint32_t state; /* sequence (high bits) | IDLE, OFFERED or RUNNING */
    _Atomic uint32_t sleepers;           /* threads sleeping (or about to) on state */
    pthread_t thread;
} worker;

/* The parts of one member's share in a run of parts, [front, back) packed in one word so that
 * the owner (taking from the front) and thieves (taking from the back) agree by one
 * compare-and-swap. */
typedef struct share {
    _Alignas(64) _Atomic uint64_t range;
} share;

/* The run in progress: written by its caller before any worker is offered it, read-only until
 * every worker that took it has finished. */
typedef struct job {
    nb_team_fn *fn;
    void *ctx;
    int count;  /* members */
    int nparts; /* 0: a plain run (fn gets member, count); else a run of parts */
} job;

static struct {
    pthread_mutex_t run_lock; /* one run at a time, and worker start and shutdown */
    /* static, not allocated: a run must not fail, or allocate, for want of a slot (the
     * allocation-failure tests fail every malloc of a run in turn) */
    worker workers[NB_TEAM_MAX - 1];
    share shares[NB_TEAM_MAX];
    int nworkers;
    bool stopping;
    bool atexit_registered;
    job job;
    _Alignas(64) _Atomic uint32_t barrier_arrived;
    _Atomic uint32_t barrier_phase; /* bumped by the last member to arrive */
    _Atomic uint32_t barrier_sleepers;
} team = {.run_lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic long spin_ns = NB_TEAM_SPIN_NS;

/* What the calling thread is doing: not in a run, in a parallel run (barriers wait), or in a
 * serial one (count 1 or nested: barriers return at once). */
enum { NOT_IN_RUN, IN_PARALLEL_RUN, IN_SERIAL_RUN };
static _Thread_local int thread_state = NOT_IN_RUN;

long nb_team_spin_ns(void) { return atomic_load_explicit(&spin_ns, memory_order_relaxed); }
void nb_team_set_spin_ns(long ns) { atomic_store_explicit(&spin_ns, ns < 0 ? 0 : ns, memory_order_relaxed); }
bool nb_team_active(void) { return thread_state != NOT_IN_RUN; }

int nb_team_workers(void) {
    pthread_mutex_lock(&team.run_lock);
    int n = team.nworkers;
    pthread_mutex_unlock(&team.run_lock);
    return n;
}

/* ---- waiting and waking -------------------------------------------------------------------- */

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long elapsed_ns(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    /* returns at once when *word != expected (EAGAIN), on a wake, or spuriously (EINTR): the
     * caller re-checks either way */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Waits until *word != old and returns its new value: spins for spin_ns, then sleeps. The
 * sleeper count and the word are both sequentially consistent, so a waker that changed the word
 * either sees the count (and wakes) or the sleeper sees the new value (and does not sleep). */
static uint32_t await_change(_Atomic uint32_t *word, uint32_t old, _Atomic uint32_t *sleepers) {
    uint32_t v;
    const long budget = nb_team_spin_ns();
    if (budget > 0) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (unsigned i = 1;; i++) {
            if ((v = atomic_load_explicit(word, memory_order_acquire)) != old) return v;
            cpu_relax();
            if (i % 64 == 0 && elapsed_ns(&start) > budget) break;
        }
    }
    for (;;) {
        atomic_fetch_add(sleepers, 1);
        if ((v = atomic_load(word)) == old) futex_wait(word, old);
        atomic_fetch_sub(sleepers, 1);
        if ((v = atomic_load(word)) != old) return v;
    }
}

/* Sets *word to value and wakes whoever sleeps on it. */
static void publish(_Atomic uint32_t *word, uint32_t value, _Atomic uint32_t *sleepers) {
    atomic_store(word, value);
    if (atomic_load(sleepers) > 0) futex_wake_all(word);
}

/* ---- runs of parts: each member's own share first, then what others have not begun -------- */

static uint64_t pack(uint32_t front, uint32_t back) { return (uint64_t)front << 32 | back; }

/* The next part of share s from its front (the owner) or its back (a thief); -1 when empty. */
static int take_part(share *s, bool from_front) {
    uint64_t r = atomic_load_explicit(&s->range, memory_order_acquire);
    for (;;) {
        const uint32_t front = (uint32_t)(r >> 32), back = (uint32_t)r;
        if (front >= back) return -1;
        const uint64_t next = from_front ? pack(front + 1, back) : pack(front, back - 1);
        if (atomic_compare_exchange_weak_explicit(&s->range, &r, next, memory_order_acq_rel, memory_order_acquire))
            return (int)(from_front ? front : back - 1);
    }
}

static void run_parts(const job *j, int member) {
    int part;
    while ((part = take_part(&team.shares[member], true)) >= 0) j->fn(j->ctx, part, j->nparts);
    for (int i = 1; i < j->count; i++) {
        share *other = &team.shares[(member + i) % j->count];
        while ((part = take_part(other, false)) >= 0) j->fn(j->ctx, part, j->nparts);
    }
}

static void run_member(const job *j, int member) {
    thread_state = IN_PARALLEL_RUN;
    if (j->nparts)
        run_parts(j, member);
    else
        j->fn(j->ctx, member, j->count);
    thread_state = NOT_IN_RUN;
}

/* ---- the workers --------------------------------------------------------------------------- */

static void *worker_main(void *arg) {
    worker *self = arg;
    const int member = (int)(self - team.workers) + 1;
    uint32_t v = atomic_load(&self->state);
    for (;;) {
        if ((v & STATUS_MASK) != OFFERED) {
            v = await_change(&self->state, v, &self->sleepers);
            continue;
        }
        /* the acquire on the state makes the job, or the stop, written before the offer visible */
        if (team.stopping) return NULL;
        /* a failed swap means the offer was withdrawn (and maybe a new one made): v now holds
         * the current state, which the loop examines again rather than waiting for a change */
        if (!atomic_compare_exchange_strong(&self->state, &v, v - OFFERED + RUNNING)) continue;
        run_member(&team.job, member);
        v = v - OFFERED + IDLE;
        publish(&self->state, v, &self->sleepers);
    }
}

static void shutdown_locked(void) {
    team.stopping = true;
    for (int w = 0; w < team.nworkers; w++) {
        worker *wk = &team.workers[w];
        publish(&wk->state, (atomic_load(&wk->state) & ~(uint32_t)STATUS_MASK) + SEQ_STEP + OFFERED, &wk->sleepers);
    }
    for (int w = 0; w < team.nworkers; w++) pthread_join(team.workers[w].thread, NULL);
    team.nworkers = 0;
    team.stopping = false;
}

void nb_team_shutdown(void) {
    pthread_mutex_lock(&team.run_lock);
    shutdown_locked();
    pthread_mutex_unlock(&team.run_lock);
}

static void shutdown_at_exit(void) { nb_team_shutdown(); }

/* Starts workers until there are `needed`. Under run_lock. */
static nb_status start_workers(int needed) {
    if (!team.atexit_registered) team.atexit_registered = atexit(shutdown_at_exit) == 0;
    while (team.nworkers < needed) {
        worker *wk = &team.workers[team.nworkers];
        atomic_init(&wk->state, IDLE);
        atomic_init(&wk->sleepers, 0);
        int err = pthread_create(&wk->thread, NULL, worker_main, wk);
        if (err != 0)
            return nb_error(NB_ERR_NOMEM, "cannot start thread %d of the team (%d running): error %d",
                            team.nworkers + 1, team.nworkers, err);
        team.nworkers++;
    }
    return NB_OK;
}

/* ---- runs and barriers --------------------------------------------------------------------- */

/* Offers team.job to workers 1 .. count-1, runs member 0 here, then waits for the workers: all
 * of them for a plain run (its members may wait on each other at barriers), only those that took
 * their offer for a run of parts (the rest are withdrawn: their parts are done). */
static void run_on_team(void) {
    const int workers = team.job.count - 1;
    uint32_t offered[NB_TEAM_MAX - 1];
    atomic_store_explicit(&team.barrier_arrived, 0, memory_order_relaxed);
    for (int w = 0; w < workers; w++) {
        worker *wk = &team.workers[w];
        offered[w] =
            (atomic_load_explicit(&wk->state, memory_order_relaxed) & ~(uint32_t)STATUS_MASK) + SEQ_STEP + OFFERED;
        publish(&wk->state, offered[w], &wk->sleepers);
    }
    run_member(&team.job, 0);
    for (int w = 0; w < workers; w++) {
        worker *wk = &team.workers[w];
        uint32_t v = offered[w];
        if (team.job.nparts && atomic_compare_exchange_strong(&wk->state, &v, offered[w] - OFFERED + IDLE))
            continue; /* withdrawn: it never touched the job */
        const uint32_t finished = offered[w] - OFFERED + IDLE;
        while ((v = atomic_load(&wk->state)) != finished) await_change(&wk->state, v, &wk->sleepers);
    }
}

static nb_status run(int count, int nparts, nb_team_fn *fn, void *ctx) {
    pthread_mutex_lock(&team.run_lock);
    nb_status st = start_workers(count - 1);
    if (st == NB_OK) {
        team.job = (job){.fn = fn, .ctx = ctx, .count = count, .nparts = nparts};
        for (int m = 0; nparts && m < count; m++) {
            const uint32_t front = (uint32_t)((int64_t)nparts * m / count);
            const uint32_t back = (uint32_t)((int64_t)nparts * (m + 1) / count);
            atomic_store_explicit(&team.shares[m].range, pack(front, back), memory_order_relaxed);
        }
        run_on_team();
    }
    pthread_mutex_unlock(&team.run_lock);
    return st;
}

static void run_serial(int count, nb_team_fn *fn, void *ctx) {
    const int outer = thread_state;
    thread_state = IN_SERIAL_RUN;
    for (int i = 0; i < count; i++) fn(ctx, i, count);
    thread_state = outer;
}

nb_status nb_team_run(int count, nb_team_fn *fn, void *ctx) {
    if (count < 1 || count > NB_TEAM_MAX)
        return nb_error(NB_ERR_ARG, "a team run needs 1 to %d members, not %d", NB_TEAM_MAX, count);
    if (count == 1 || thread_state != NOT_IN_RUN) {
        run_serial(count, fn, ctx);
        return NB_OK;
    }
    return run(count, 0, fn, ctx);
}

nb_status nb_team_for(int count, int nparts, nb_team_fn *fn, void *ctx) {
    if (count < 1 || count > NB_TEAM_MAX)
        return nb_error(NB_ERR_ARG, "a team run needs 1 to %d members, not %d", NB_TEAM_MAX, count);
    if (nparts < 0) return nb_error(NB_ERR_ARG, "a team run of parts needs at least 0 parts, not %d", nparts);
    if (nparts == 0) return NB_OK;
    if (count > nparts) count = nparts;
    if (count == 1 || thread_state != NOT_IN_RUN) {
        run_serial(nparts, fn, ctx);
        return NB_OK;
    }
    return run(count, nparts, fn, ctx);
}

void nb_team_barrier(void) {
    if (thread_state != IN_PARALLEL_RUN || team.job.nparts) return;
    const uint32_t count = (uint32_t)team.job.count;
    const uint32_t phase = atomic_load_explicit(&team.barrier_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&team.barrier_arrived, 1, memory_order_acq_rel) + 1 == count) {
        /* the last to arrive: reset the count before the release, so that a member leaving this
         * barrier and reaching the next one counts from zero */
        atomic_store_explicit(&team.barrier_arrived, 0, memory_order_relaxed);
        publish(&team.barrier_phase, phase + 1, &team.barrier_sleepers);
    } else {
        await_change(&team.barrier_phase, phase, &team.barrier_sleepers);
    }
}
