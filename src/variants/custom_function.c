/* src/variants/custom_function.c — the tutorial's "Defining new autograd functions": the
 * two-layer network with its ReLU as a user-defined autograd function (MyReLU), which saves
 * its input in forward and masks the gradient with it in backward. */
#include "variants/custom_function.h"

#include "variants/autograd_net.h"

/* forward(ctx, input): ctx.save_for_backward(input); return input.clamp(min=0) */
static nb_tensor *my_relu_forward(nb_fn_ctx *ctx, const nb_tensor *const *inputs, int ninputs) {
    (void)ninputs;
    if (nb_ctx_save_for_backward(ctx, inputs[0]) != NB_OK) return NULL;
    return nb_clamp_min(inputs[0], 0.0); /* (N, H) */
}

/* backward(ctx, grad_output): grad_input = grad_output.clone(); grad_input[input < 0] = 0 */
static nb_status my_relu_backward(nb_fn_ctx *ctx, const nb_tensor *grad_output, nb_tensor **grad_inputs) {
    const nb_tensor *input = nb_ctx_saved(ctx, 0);
    nb_tensor *grad_input = nb_tensor_clone(grad_output);
    nb_tensor *negative = grad_input ? nb_lt_scalar(input, 0.0) : NULL;
    nb_status st = negative ? nb_masked_fill_(grad_input, negative, 0.0) : nb_last_status();
    nb_tensor_free(negative);
    if (st != NB_OK) {
        nb_tensor_free(grad_input);
        return st;
    }
    grad_inputs[0] = grad_input;
    return NB_OK;
}

const nb_function nb_my_relu = {
    .name = "MyReLU",
    .forward = my_relu_forward,
    .backward = my_relu_backward,
};

/* relu = MyReLU.apply */
static nb_var *my_relu_apply(nb_var *h) { return nb_function_apply(&nb_my_relu, &h, 1); }

static nb_status custom_function_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_autograd_net_create(cfg, lr, my_relu_apply, state);
}

/* MyReLU's backward allocates grad_input (the clone) and the mask input < 0, both (N, H);
 * the engine takes grad_input's storage for the target, and the mask is freed at once. */
static bool custom_function_footprint(const nb_train_config *cfg, int64_t *bytes) {
    return nb_autograd_net_footprint(cfg, 2, bytes);
}

const nb_variant nb_variant_custom_function = {
    .name = "custom-function",
    .description = "ReLU as a user-defined autograd function (MyReLU: forward, backward, save_for_backward)",
    .default_lr = 1e-6,
    .create = custom_function_create,
    .step = nb_autograd_net_step,
    .destroy = nb_autograd_net_destroy,
    .loss_and_grad = nb_autograd_net_loss_and_grad,
    .grad_entries = nb_autograd_net_grad_entries,
    .footprint = custom_function_footprint,
};
