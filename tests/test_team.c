/* tests/test_team.c — the persistent thread team (src/base/team.h): each member of a run runs
 * its part exactly once and on its own thread; a barrier makes every member's writes before it
 * visible to all after it; a run inside a run goes serially on the calling thread; bad counts
 * are refused; idle workers sleep instead of spinning; shutdown joins them and a later run
 * starts them again. Counts up to 17 run here on 2 cores: oversubscribed, which is where a wait
 * that never sleeps or a lost wake-up shows. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

#include "base/team.h"

#define MAX_COUNT 17

/* wall clock, for timeouts */
static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    _Atomic int calls[MAX_COUNT];
    _Atomic int wrong_count;
    pthread_t thread[MAX_COUNT];
    int count;
} tally;

static void count_calls(void *ctx, int member, int count) {
    tally *t = ctx;
    if (count != t->count || member < 0 || member >= MAX_COUNT) {
        atomic_fetch_add(&t->wrong_count, 1);
        return;
    }
    atomic_fetch_add(&t->calls[member], 1);
    t->thread[member] = pthread_self();
}

static void test_each_member_once_on_its_own_thread(void) {
    for (int count = 1; count <= MAX_COUNT; count++) {
        tally t = {.count = count};
        CU_ASSERT_EQUAL_FATAL(nb_team_run(count, count_calls, &t), NB_OK);
        CU_ASSERT_EQUAL(atomic_load(&t.wrong_count), 0);
        int distinct = 0;
        for (int m = 0; m < count; m++) {
            if (atomic_load(&t.calls[m]) != 1) FAILF("count %d: member %d ran %d times", count, m, t.calls[m]);
            bool seen = false;
            for (int o = 0; o < m; o++) seen |= pthread_equal(t.thread[o], t.thread[m]) != 0;
            distinct += !seen;
        }
        CU_ASSERT_EQUAL(distinct, count);
        CU_ASSERT_TRUE(pthread_equal(t.thread[0], pthread_self()) != 0); /* the caller is member 0 */
    }
    CU_ASSERT_TRUE(nb_team_workers() >= MAX_COUNT - 1);
}

/* Many short runs back to back with few, then more, then fewer members: a worker left out of
 * one run must not run a part of the next twice, and the caller must not return early. */
static void test_many_runs_of_changing_size(void) {
    int bad = 0;
    for (int r = 0; r < 3000 && bad < 5; r++) {
        const int count = 1 + (r * 7) % 5;
        tally t = {.count = count};
        if (nb_team_run(count, count_calls, &t) != NB_OK) bad++;
        for (int m = 0; m < count; m++)
            if (atomic_load(&t.calls[m]) != 1) {
                FAILF("run %d (count %d): member %d ran %d times", r, count, m, t.calls[m]);
                bad++;
            }
        if (atomic_load(&t.wrong_count)) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Each round, every member writes its slot, waits at the barrier, then reads all the slots: a
 * barrier that lets a member through early, or does not order the writes, shows a stale slot. */
typedef struct {
    int slots[MAX_COUNT];
    _Atomic int stale;
    int rounds;
} barrier_check;

static void write_wait_read(void *ctx, int member, int count) {
    barrier_check *b = ctx;
    for (int round = 1; round <= b->rounds; round++) {
        b->slots[member] = round;
        nb_team_barrier();
        for (int m = 0; m < count; m++)
            if (b->slots[m] != round) atomic_fetch_add(&b->stale, 1);
        nb_team_barrier(); /* nobody writes the next round before all have read this one */
    }
}

static void test_barrier_orders_writes(void) {
    const int counts[] = {2, 3, 5, MAX_COUNT};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        barrier_check b = {.rounds = counts[i] > 4 ? 200 : 2000};
        CU_ASSERT_EQUAL_FATAL(nb_team_run(counts[i], write_wait_read, &b), NB_OK);
        if (atomic_load(&b.stale)) FAILF("count %d: %d stale reads after a barrier", counts[i], b.stale);
    }
}

/* A run inside a run: all its parts on the calling thread, in member order, with barriers that
 * return at once (they would deadlock otherwise). */
typedef struct {
    pthread_t outer_thread[4];
    int order[4][4];
    int filled[4];
    _Atomic int wrong_thread;
} nested_check;

typedef struct {
    nested_check *n;
    int outer;
} inner_ctx;

static void inner_part(void *ctx, int member, int count) {
    inner_ctx *c = ctx;
    if (!pthread_equal(pthread_self(), c->n->outer_thread[c->outer]) || count != 4)
        atomic_fetch_add(&c->n->wrong_thread, 1);
    nb_team_barrier();
    c->n->order[c->outer][c->n->filled[c->outer]++] = member;
}

static void outer_part(void *ctx, int member, int count) {
    (void)count;
    nested_check *n = ctx;
    n->outer_thread[member] = pthread_self();
    inner_ctx c = {n, member};
    if (!nb_team_active() || nb_team_run(4, inner_part, &c) != NB_OK) atomic_fetch_add(&n->wrong_thread, 1);
}

static void test_nested_run_is_serial(void) {
    nested_check n = {0};
    CU_ASSERT_FALSE(nb_team_active());
    CU_ASSERT_EQUAL_FATAL(nb_team_run(4, outer_part, &n), NB_OK);
    CU_ASSERT_FALSE(nb_team_active());
    CU_ASSERT_EQUAL(atomic_load(&n.wrong_thread), 0);
    for (int o = 0; o < 4; o++) {
        CU_ASSERT_EQUAL(n.filled[o], 4);
        for (int m = 0; m < 4; m++) CU_ASSERT_EQUAL(n.order[o][m], m);
    }
}

static void never_called(void *ctx, int member, int count) {
    (void)member, (void)count;
    atomic_fetch_add((_Atomic int *)ctx, 1);
}

static void test_bad_counts(void) {
    _Atomic int calls = 0;
    CU_ASSERT_EQUAL(nb_team_run(0, never_called, &calls), NB_ERR_ARG);
    CU_ASSERT_TRUE(nb_test_error_mentions("members"));
    CU_ASSERT_EQUAL(nb_team_run(-3, never_called, &calls), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_team_run(NB_TEAM_MAX + 1, never_called, &calls), NB_ERR_ARG);
    CU_ASSERT_EQUAL(atomic_load(&calls), 0);
}

/* ---- runs of parts -------------------------------------------------------------------------- */

typedef struct {
    _Atomic int runs[64];
    _Atomic int wrong;
    int nparts;
} parts_tally;

static void count_parts(void *ctx, int part, int nparts) {
    parts_tally *t = ctx;
    if (nparts != t->nparts || part < 0 || part >= nparts) {
        atomic_fetch_add(&t->wrong, 1);
        return;
    }
    atomic_fetch_add(&t->runs[part], 1);
}

static void test_every_part_once(void) {
    const int nparts_list[] = {1, 2, 3, 7, 64};
    for (int count = 1; count <= MAX_COUNT; count++)
        for (size_t i = 0; i < sizeof nparts_list / sizeof nparts_list[0]; i++)
            for (int repeat = 0; repeat < 20; repeat++) {
                parts_tally t = {.nparts = nparts_list[i]};
                CU_ASSERT_EQUAL_FATAL(nb_team_for(count, t.nparts, count_parts, &t), NB_OK);
                CU_ASSERT_EQUAL(atomic_load(&t.wrong), 0);
                for (int p = 0; p < t.nparts; p++)
                    if (atomic_load(&t.runs[p]) != 1)
                        FAILF("count %d, %d parts: part %d ran %d times", count, t.nparts, p, t.runs[p]);
            }
    parts_tally none = {.nparts = 0};
    CU_ASSERT_EQUAL(nb_team_for(4, 0, count_parts, &none), NB_OK);
    CU_ASSERT_EQUAL(atomic_load(&none.wrong), 0);
    CU_ASSERT_EQUAL(nb_team_for(4, -1, count_parts, &none), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_team_for(0, 4, count_parts, &none), NB_ERR_ARG);
}

/* Three members, six parts: member 1 owns parts 2 and 3. Part 2 does not return until every
 * other part has run (or 2 s have passed), so part 3 can only run if another member takes it
 * from member 1's share; a team that left each share to its owner would time out here. */
typedef struct {
    _Atomic int done;
    _Atomic int timed_out;
} blocking_parts;

static void part_2_waits_for_the_rest(void *ctx, int part, int nparts) {
    blocking_parts *b = ctx;
    if (part == 2) {
        const double start = wall_seconds();
        while (atomic_load(&b->done) < nparts - 1)
            if (wall_seconds() - start > 2.0) {
                atomic_fetch_add(&b->timed_out, 1);
                break;
            }
    }
    atomic_fetch_add(&b->done, 1);
}

static void test_unbegun_parts_are_taken(void) {
    for (int repeat = 0; repeat < 20; repeat++) {
        blocking_parts b = {0};
        CU_ASSERT_EQUAL_FATAL(nb_team_for(3, 6, part_2_waits_for_the_rest, &b), NB_OK);
        CU_ASSERT_EQUAL(atomic_load(&b.done), 6);
        if (atomic_load(&b.timed_out)) {
            FAILF("repeat %d: part 3 was left to its owner, which was busy with part 2", repeat);
            break;
        }
    }
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* After a run, idle workers spin for at most their budget, then sleep: over 200 ms of idling
 * with 8 workers the process uses a few milliseconds of CPU, where waits that never slept would
 * use the whole 200 ms on each core. A run after the sleep still gets every part done (the
 * wake-up from the futex works), with and without spinning. */
static void test_idle_workers_sleep(void) {
    const long saved = nb_team_spin_ns();
    const long budgets[] = {NB_TEAM_SPIN_NS, 0};
    for (size_t i = 0; i < 2; i++) {
        nb_team_set_spin_ns(budgets[i]);
        tally t = {.count = 9};
        CU_ASSERT_EQUAL_FATAL(nb_team_run(9, count_calls, &t), NB_OK);
        const double before = cpu_seconds();
        usleep(200000);
        const double used = cpu_seconds() - before;
        if (used > 0.05) FAILF("spin %ld ns: idle workers used %.3f s of CPU in 0.2 s", budgets[i], used);
        tally again = {.count = 9};
        CU_ASSERT_EQUAL_FATAL(nb_team_run(9, count_calls, &again), NB_OK);
        for (int m = 0; m < 9; m++) CU_ASSERT_EQUAL(atomic_load(&again.calls[m]), 1);
    }
    nb_team_set_spin_ns(-5);
    CU_ASSERT_EQUAL(nb_team_spin_ns(), 0);
    nb_team_set_spin_ns(saved);
}

static void test_shutdown_and_restart(void) {
    tally t = {.count = 3};
    CU_ASSERT_EQUAL_FATAL(nb_team_run(3, count_calls, &t), NB_OK);
    CU_ASSERT_TRUE(nb_team_workers() >= 2);
    nb_team_shutdown();
    CU_ASSERT_EQUAL(nb_team_workers(), 0);
    tally again = {.count = 3};
    CU_ASSERT_EQUAL_FATAL(nb_team_run(3, count_calls, &again), NB_OK);
    for (int m = 0; m < 3; m++) CU_ASSERT_EQUAL(atomic_load(&again.calls[m]), 1);
    CU_ASSERT_EQUAL(nb_team_workers(), 2);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"each member runs once, on its own thread", test_each_member_once_on_its_own_thread},
        {"many runs of changing size", test_many_runs_of_changing_size},
        {"a barrier orders every member's writes", test_barrier_orders_writes},
        {"a run inside a run is serial", test_nested_run_is_serial},
        {"bad counts are refused", test_bad_counts},
        {"a run of parts runs every part once", test_every_part_once},
        {"parts an owner has not begun are taken by others", test_unbegun_parts_are_taken},
        {"idle workers sleep", test_idle_workers_sleep},
        {"shutdown joins, a later run restarts", test_shutdown_and_restart},
    };
    return nb_test_run("team", tests, sizeof tests / sizeof tests[0]);
}
