/* src/harness/thread_choice.h — the default thread count, measured on the work at hand.
 *
 * "Use every CPU" is the slow choice more often than not for a step this small: on the 2-core
 * machine nabla is developed on, 2 threads were slower than 1 for the seed network (issue 15),
 * and with a busy neighbour much slower. So when nothing names a thread count (no --threads, no
 * OMP_NUM_THREADS), `nabla train` runs a few steps of the same workload, on a model of its own
 * that it then throws away, at the usable CPU count and at halvings of it down to 1, interleaved
 * in rounds, and takes the fewest threads whose median step time is within NB_THREAD_CHOICE_SLACK
 * of the fastest: more threads must win clearly to be chosen. The training run itself starts
 * afresh, so its losses are those of a run given that count. */
#ifndef NB_HARNESS_THREAD_CHOICE_H
#define NB_HARNESS_THREAD_CHOICE_H

#include "base/error.h"
#include "variants/variant.h"

#define NB_THREAD_CHOICE_MAX 12   /* candidates: up to 2^11 CPUs by halving */
#define NB_THREAD_CHOICE_ROUNDS 3 /* interleaved samples per candidate */
#define NB_THREAD_CHOICE_SLACK 0.03
/* Each sample runs steps until this much time has passed (at least one step, at most
 * NB_THREAD_CHOICE_MAX_STEPS): long enough for a clock, short enough that the probe of a seed
 * run costs a few tens of milliseconds. */
#define NB_THREAD_CHOICE_SAMPLE_S 0.003
#define NB_THREAD_CHOICE_MAX_STEPS 32

typedef struct nb_thread_choice {
    int count;                                /* candidates measured */
    int threads[NB_THREAD_CHOICE_MAX];        /* most first */
    double ms_per_step[NB_THREAD_CHOICE_MAX]; /* median of the rounds */
    int chosen;
} nb_thread_choice;

/* Measures `variant` on cfg (iters is ignored) at `upper` threads and its halvings and fills
 * *choice. Leaves the runtime's thread count at the choice. Errors from the variant's create or
 * step (the run would fail the same way). */
nb_status nb_thread_choice_measure(const nb_variant *variant, const nb_train_config *cfg, int upper,
                                   nb_thread_choice *choice);

#endif
