/* src/harness/train.c — the timed training loop shared by the commands. */
#include "harness/train.h"

#include <stdlib.h>

#include "base/timer.h"
#include "kernels/gemm.h"
#include "tensor/runtime.h"

nb_status nb_train_run(const nb_variant *variant, const nb_train_config *cfg, nb_step_observer *observer,
                       void *ctx, nb_train_result *result) {
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
        status = variant->step(state, t, &result->losses[t]);
        if (status != NB_OK) break;
        result->steps = t + 1;
        if (observer) observer(ctx, t, result->losses[t]);
    }
    result->loop_seconds = nb_now_seconds() - start;
    result->flops = nb_runtime_flops();
    variant->destroy(state);
    return status;
}

void nb_train_result_free(nb_train_result *result) {
    free(result->losses);
    result->losses = NULL;
}
