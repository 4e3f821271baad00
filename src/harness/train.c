/* src/harness/train.c — the timed training loop shared by the commands. */
#include "harness/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/timer.h"
#include "kernels/gemm.h"
#include "tensor/anomaly.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

volatile sig_atomic_t nb_train_stop_requested;

/* The divergence rule (always on; `nabla train --help` states it): a non-finite loss, or one
 * above NB_TRAIN_DIVERGENCE_FACTOR times the first step's, stops the run. Measured: at the
 * seed's workload the largest loss of any variant, kernel (naive, blocked, openmp, blas) and
 * dtype is 1.33 times the first (the f64 tensors-family runs, at step 5); over seeds 1-5 at
 * four sizes (1x3x8x1 up to the seed's) with every variant and dtype, 1.40. So the rule
 * leaves normal runs alone by five orders of magnitude, and stops a blow-up (1e-3 on the
 * tensors variant: 2.9e7 to 1.1e16 in one step) before it overflows to inf. */
static nb_status check_divergence(const double *losses, int64_t t) {
    const double loss = losses[t], first = losses[0];
    if (!isfinite(loss))
        return nb_error(NB_ERR_NUMERIC,
                        "the loss is %s at step %lld: training diverged (lower --lr; --detect-anomaly names the "
                        "first op with a non-finite value)",
                        isnan(loss) ? "nan" : "inf", (long long)t + 1);
    if (first > 0 && loss > NB_TRAIN_DIVERGENCE_FACTOR * first)
        return nb_error(NB_ERR_NUMERIC,
                        "the loss %.6g at step %lld is more than %.0g times the first step's %.6g: training "
                        "diverged (lower --lr)",
                        loss, (long long)t + 1, NB_TRAIN_DIVERGENCE_FACTOR, first);
    return NB_OK;
}

/* The parameters are grad_entries' entries after x and y (variant.h); each is hashed over its
 * elements in row-major order (a contiguous copy when it is a view), so a layout cannot change
 * the digest. */
static nb_status parameters_digest(const nb_variant *variant, void *state, uint64_t *digest) {
    nb_grad_entry entries[NB_MAX_GRAD_ENTRIES];
    const int count = variant->grad_entries(state, entries);
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a offset basis */
    for (int e = 2; e < count; e++) {
        nb_tensor *dense = nb_tensor_contiguous(entries[e].value);
        if (!dense) return nb_last_status();
        const unsigned char *bytes = nb_tensor_data(dense);
        const size_t size = (size_t)nb_tensor_numel(dense) * nb_dtype_size(dense->dtype);
        for (size_t b = 0; b < size; b++) hash = (hash ^ bytes[b]) * 0x100000001b3ull; /* FNV prime */
        nb_tensor_free(dense);
    }
    *digest = hash;
    return NB_OK;
}

nb_status nb_train_run(const nb_variant *variant, const nb_train_config *cfg, nb_step_observer *observer, void *ctx,
                       nb_train_result *result) {
    *result = (nb_train_result){0};
    result->losses = calloc(cfg->iters > 0 ? (size_t)cfg->iters : 1, sizeof *result->losses);
    if (!result->losses) return nb_error(NB_ERR_NOMEM, "out of memory for %lld losses", (long long)cfg->iters);

    void *state = NULL;
    NB_TRY(variant->create(cfg, nb_variant_lr(variant, cfg), &state));

    nb_status status = NB_OK;
    nb_runtime_reset_flops();
    nb_profile_reset(); /* the profile and auto's record of choices cover the loop, not the setup */
    nb_auto_reset_decisions();
    double start = nb_now_seconds();
    for (int64_t t = 0; t < cfg->iters; t++) {
        if (nb_train_stop_requested) {
            result->interrupted = true; /* callers test this, not the status, to tell it from a failure */
            status = nb_error(NB_ERR_ARG, "interrupted at step %lld", (long long)t + 1);
            break;
        }
        status = variant->step(state, t, &result->losses[t]);
        if (status != NB_OK) {
            /* an anomaly message names op, phase and shape; only the loop knows the step */
            if (status == NB_ERR_NUMERIC) {
                char message[400];
                snprintf(message, sizeof message, "%s", nb_last_error());
                status = nb_error(NB_ERR_NUMERIC, "%sstep %lld of %lld: %s", nb_anomaly_enabled() ? "anomaly at " : "",
                                  (long long)t + 1, (long long)cfg->iters, message);
            }
            break;
        }
        status = check_divergence(result->losses, t);
        if (status != NB_OK) break;
        result->steps = t + 1;
        if (observer) observer(ctx, t, result->losses[t]);
    }
    result->loop_seconds = nb_now_seconds() - start;
    result->flops = nb_runtime_flops();
    if (status == NB_OK) status = parameters_digest(variant, state, &result->parameters_digest);
    variant->destroy(state);
    return status;
}

void nb_train_result_free(nb_train_result *result) {
    free(result->losses);
    result->losses = NULL;
}
