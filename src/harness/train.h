/* src/harness/train.h — runs a variant's training loop and times it: the part of
 * `nabla train` and `nabla bench` that is not about printing. */
#ifndef NB_HARNESS_TRAIN_H
#define NB_HARNESS_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "variants/variant.h"

/* Called after every step with its 0-based index and loss (e.g. to print every K steps). */
typedef void nb_step_observer(void *ctx, int64_t step, double loss);

typedef struct nb_train_result {
    double *losses;      /* cfg->iters losses, owned by the result */
    int64_t steps;       /* steps completed */
    double loop_seconds; /* wall time of the training loop only (setup excluded) */
    uint64_t flops;      /* matmul FLOPs counted during the loop */
    bool interrupted;    /* stopped by nb_train_stop_requested, not by a failure */
    /* FNV-1a (64-bit) of the parameters' bytes after the last step, in model.parameters()
     * order: two runs that end with the same parameters bit for bit have the same digest, so
     * tests compare whole models across thread counts, not only the losses. */
    uint64_t parameters_digest;
} nb_train_result;

/* A loss above this many times the first step's loss stops the run as diverged (as does a
 * non-finite one); see check_divergence in train.c for why the rule is safe. */
#define NB_TRAIN_DIVERGENCE_FACTOR 1e6

/* Set from a signal handler (harness/interrupt.h: SIGINT, SIGTERM, SIGHUP): the loop stops before its next step,
 * the run returns an error with result->interrupted set. */
extern volatile sig_atomic_t nb_train_stop_requested;

/* Creates the variant, runs cfg->iters steps under the kernel and thread count already set
 * in the runtime, destroys it. The op profile and the auto kernel's record of choices are
 * reset when the loop starts, so they cover the steps only. On error the result holds the
 * steps done so far. Errors while running: a step's own (an anomaly under
 * nb_anomaly_enable, prefixed with the step), and NB_ERR_NUMERIC when the loss diverges
 * (non-finite, or above NB_TRAIN_DIVERGENCE_FACTOR times the first). */
nb_status nb_train_run(const nb_variant *variant, const nb_train_config *cfg, nb_step_observer *observer, void *ctx,
                       nb_train_result *result);
void nb_train_result_free(nb_train_result *result);

#endif
