/* src/autograd/function.c — user-defined differentiable functions, as
 * torch.autograd.Function: the user's forward runs on the inputs' values and may save
 * tensors in a context; the user's backward returns one gradient per input, which the
 * engine checks and accumulates. */
#include "autograd/autograd_impl.h"
#include "base/alloc.h"

struct nb_fn_ctx {
    const nb_function *fn;
    nb_tensor *saved[NB_FUNCTION_MAX_SAVED]; /* views: they share the saved tensors' storage */
    int nsaved;
    bool needs_input_grad[NB_FUNCTION_MAX_INPUTS];
};

static void ctx_free(void *opaque) {
    nb_fn_ctx *ctx = opaque;
    if (!ctx) return;
    for (int i = 0; i < ctx->nsaved; i++) nb_tensor_free(ctx->saved[i]);
    nb_free(ctx);
}

nb_status nb_ctx_save_for_backward(nb_fn_ctx *ctx, const nb_tensor *t) {
    if (!ctx || !t) return nb_error(NB_ERR_ARG, "save_for_backward: NULL context or tensor");
    if (ctx->nsaved == NB_FUNCTION_MAX_SAVED)
        return nb_error(NB_ERR_ARG, "save_for_backward: %s saves more than %d tensors", ctx->fn->name,
                        NB_FUNCTION_MAX_SAVED);
    nb_tensor *view = nb_tensor_view(t);
    if (!view) return nb_last_status();
    ctx->saved[ctx->nsaved++] = view;
    return NB_OK;
}

const nb_tensor *nb_ctx_saved(const nb_fn_ctx *ctx, int index) {
    return ctx && index >= 0 && index < ctx->nsaved ? ctx->saved[index] : NULL;
}

bool nb_ctx_needs_input_grad(const nb_fn_ctx *ctx, int index) {
    return ctx && index >= 0 && index < NB_FUNCTION_MAX_INPUTS && ctx->needs_input_grad[index];
}

/* Calls the user's backward, checks every gradient it returns against its input's shape and
 * dtype, and accumulates it. The returned tensors are freed whatever happens. */
static nb_status function_backward(nb_node *n, const nb_tensor *dout, nb_grad_target *d) {
    nb_fn_ctx *ctx = n->ctx;
    nb_tensor *grads[NB_FUNCTION_MAX_INPUTS] = {0};
    nb_status st = ctx->fn->backward(ctx, dout, grads);
    if (st != NB_OK && nb_last_status() == NB_OK) st = nb_error(st, "%s.backward failed", ctx->fn->name);
    for (int i = 0; i < n->ninputs && st == NB_OK; i++) {
        if (!grads[i] || !d[i].t) continue;
        const nb_tensor *want = n->inputs[i]->value;
        if (!nb_tensor_same_shape(grads[i], want) || grads[i]->dtype != want->dtype) {
            char dg[64], dw[64];
            st = nb_error(NB_ERR_SHAPE, "%s.backward returned a gradient %s for input %d of %s", ctx->fn->name,
                          nb_tensor_describe(grads[i], dg, sizeof dg), i, nb_tensor_describe(want, dw, sizeof dw));
            break;
        }
        if (d[i].mode != NB_GRAD_SET) {
            st = nb_grad_target_to_add(&d[i]); /* ZERO: 0 + g, as PyTorch's grad += g */
            if (st == NB_OK) st = nb_add_(d[i].t, grads[i]);
        } else if (nb_tensor_is_contiguous(grads[i]) && nb_tensor_storage_refcount(grads[i]) == 1) {
            /* The first gradient of an input, in a buffer nothing else sees: the target takes
             * its storage (PyTorch steals it too) and the empty one goes with grads[i]. */
            nb_tensor tmp = *d[i].t;
            *d[i].t = *grads[i];
            *grads[i] = tmp;
        } else {
            st = nb_copy_(d[i].t, grads[i]);
        }
    }
    for (int i = 0; i < NB_FUNCTION_MAX_INPUTS; i++) nb_tensor_free(grads[i]);
    return st;
}

nb_var *nb_function_apply(const nb_function *fn, nb_var *const *inputs, int ninputs) {
    if (!fn || !fn->forward || !fn->backward) {
        nb_error(NB_ERR_ARG, "apply: the function needs a forward and a backward");
        return NULL;
    }
    if (ninputs < 1 || ninputs > NB_FUNCTION_MAX_INPUTS) {
        nb_error(NB_ERR_ARG, "apply: %s takes 1..%d inputs, got %d", fn->name, NB_FUNCTION_MAX_INPUTS, ninputs);
        return NULL;
    }
    const nb_tensor *values[NB_FUNCTION_MAX_INPUTS];
    for (int i = 0; i < ninputs; i++) {
        if (!inputs[i]) return NULL; /* an earlier failure: its message stands */
        values[i] = inputs[i]->value;
    }
    nb_fn_ctx *ctx = nb_alloc_zeroed(sizeof *ctx);
    if (!ctx) {
        nb_error(NB_ERR_NOMEM, "out of memory applying %s", fn->name);
        return NULL;
    }
    ctx->fn = fn;
    for (int i = 0; i < ninputs; i++) ctx->needs_input_grad[i] = inputs[i]->requires_grad && nb_grad_enabled();

    /* The forward works on plain tensors; anything it computes through autograd ops would
     * not be part of this graph, so recording is off while it runs. */
    nb_no_grad_begin();
    nb_tensor *value = fn->forward(ctx, values, ninputs);
    nb_no_grad_end();
    if (!value && nb_last_status() == NB_OK) nb_error(NB_ERR_ARG, "%s.forward returned no tensor", fn->name);

    nb_node *n;
    nb_var *out = nb_var_from_op(value, fn->name, function_backward, inputs, ninputs, &n);
    if (n) {
        n->ctx = ctx;
        n->ctx_free = ctx_free;
    } else {
        ctx_free(ctx); /* no graph recorded (or a failure): the context is not needed */
    }
    return out;
}
