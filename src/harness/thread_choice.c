/* src/harness/thread_choice.c — measuring the default thread count (thread_choice.h). */
#include "harness/thread_choice.h"

#include <stdlib.h>

#include "base/timer.h"
#include "tensor/runtime.h"

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

nb_status nb_thread_choice_measure(const nb_variant *variant, const nb_train_config *cfg, int upper,
                                   nb_thread_choice *choice) {
    *choice = (nb_thread_choice){.chosen = 1};
    for (int t = upper < 1 ? 1 : upper; choice->count < NB_THREAD_CHOICE_MAX; t /= 2) {
        choice->threads[choice->count++] = t;
        if (t == 1) break;
    }
    if (choice->count == 1) return nb_runtime_set_threads(1);
    void *state = NULL;
    NB_TRY(variant->create(cfg, nb_variant_lr(variant, cfg), &state));
    double samples[NB_THREAD_CHOICE_MAX][NB_THREAD_CHOICE_ROUNDS];
    int64_t step = 0;
    double loss;
    nb_status st = NB_OK;
    /* a round 0 that is not kept: the team's threads start, the caches fill */
    for (int round = -1; round < NB_THREAD_CHOICE_ROUNDS && st == NB_OK; round++)
        for (int c = 0; c < choice->count && st == NB_OK; c++) {
            nb_runtime_set_threads(choice->threads[c]);
            const double start = nb_now_seconds();
            int steps = 0;
            double elapsed = 0;
            do {
                st = variant->step(state, step++, &loss);
                steps++;
                elapsed = nb_now_seconds() - start;
            } while (st == NB_OK && elapsed < NB_THREAD_CHOICE_SAMPLE_S && steps < NB_THREAD_CHOICE_MAX_STEPS);
            if (round >= 0) samples[c][round] = elapsed * 1e3 / steps;
        }
    variant->destroy(state);
    NB_TRY(st);
    double best = 0;
    for (int c = 0; c < choice->count; c++) {
        qsort(samples[c], NB_THREAD_CHOICE_ROUNDS, sizeof samples[c][0], compare_doubles);
        choice->ms_per_step[c] = samples[c][NB_THREAD_CHOICE_ROUNDS / 2];
        if (c == 0 || choice->ms_per_step[c] < best) best = choice->ms_per_step[c];
    }
    /* the fewest threads within the slack of the fastest (candidates run from most to fewest) */
    for (int c = 0; c < choice->count; c++)
        if (choice->ms_per_step[c] <= best * (1.0 + NB_THREAD_CHOICE_SLACK)) choice->chosen = choice->threads[c];
    return nb_runtime_set_threads(choice->chosen);
}
