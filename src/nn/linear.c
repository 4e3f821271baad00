/* src/nn/linear.c — nn.Linear: y = x @ weight^T + bias, with PyTorch 1.13's default
 * initialisation reproduced bit for bit (the bounds in double, in torch's order of
 * operations; the draws through nb_uniform_, weight first, then bias). */
#include "nn/nn.h"

#include <math.h>
#include <stdint.h>

#include "base/alloc.h"

typedef struct nb_linear {
    nb_module base;
    nb_var *weight; /* (out, in), owned */
    nb_var *bias;   /* (out), owned; NULL without bias */
} nb_linear;

static nb_var *linear_forward(nb_module *self, nb_var *x) {
    nb_linear *l = (nb_linear *)self;
    return nb_ag_linear(x, l->weight, l->bias); // x (N, in) -> (N, out)
}

static nb_status linear_parameters(nb_module *self, nb_param_list *list) {
    nb_linear *l = (nb_linear *)self;
    NB_TRY(nb_param_list_push(list, l->weight)); /* torch registers weight, then bias */
    if (l->bias) NB_TRY(nb_param_list_push(list, l->bias));
    return NB_OK;
}

static void linear_destroy(nb_module *self) {
    nb_linear *l = (nb_linear *)self;
    nb_var_release(l->weight);
    nb_var_release(l->bias);
    l->weight = l->bias = NULL;
}

static const nb_module_vtable linear_vtable = {
    .type = "Linear", .forward = linear_forward, .parameters = linear_parameters, .destroy = linear_destroy};

/* torch.nn.init.kaiming_uniform_(w, a=sqrt(5)) as torch/nn/init.py computes the bound, one
 * Python float operation per C operation:
 *   gain = calculate_gain('leaky_relu', a) = math.sqrt(2.0 / (1 + a ** 2))
 *   std = gain / math.sqrt(fan);  bound = math.sqrt(3.0) * std
 * Python's float ** int is C pow(); 1 + x is a double addition. Mathematically the bound is
 * 1/sqrt(fan_in), but not in floating point: for fan_in = 100 it is one ulp below 0.1, which
 * the f64 weights show. */
static double kaiming_uniform_bound(int64_t fan_in) {
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1 + pow(a, 2)));
    double std = gain / sqrt((double)fan_in);
    return sqrt(3.0) * std;
}

nb_module *nb_linear_new(int64_t in_features, int64_t out_features, bool bias, nb_dtype dtype, nb_rng *rng) {
    if (in_features < 1 || out_features < 1) {
        nb_error(NB_ERR_ARG, "Linear: in_features and out_features must be >= 1, got %lld and %lld",
                 (long long)in_features, (long long)out_features);
        return NULL;
    }
    if (in_features > INT64_MAX / out_features) {
        nb_error(NB_ERR_ARG, "Linear: %lld x %lld weights are too many", (long long)in_features,
                 (long long)out_features);
        return NULL;
    }
    if (dtype != NB_F32 && dtype != NB_F64) {
        nb_error(NB_ERR_ARG, "Linear: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (!rng) rng = nb_rng_default();

    nb_linear *l = nb_alloc_zeroed(sizeof *l);
    if (!l) {
        nb_error(NB_ERR_NOMEM, "Linear: out of memory");
        return NULL;
    }
    l->base.vtable = &linear_vtable;
    nb_module *m = &l->base;

    const int64_t wshape[2] = {out_features, in_features};
    l->weight = nb_var_new(nb_tensor_empty(dtype, 2, wshape), true);
    if (!l->weight) goto fail;
    l->weight->name = "weight";
    // reset_parameters: weight.uniform_(-bound, bound), fan_in = weight.size(1)
    double wbound = kaiming_uniform_bound(in_features);
    if (nb_uniform_(l->weight->value, rng, -wbound, wbound) != NB_OK) goto fail;

    if (bias) {
        const int64_t bshape[1] = {out_features};
        l->bias = nb_var_new(nb_tensor_empty(dtype, 1, bshape), true);
        if (!l->bias) goto fail;
        l->bias->name = "bias";
        // bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0  (fan_in >= 1 here)
        double bbound = 1 / sqrt((double)in_features);
        if (nb_uniform_(l->bias->value, rng, -bbound, bbound) != NB_OK) goto fail;
    }
    return m;

fail:
    nb_module_free(m); /* the tensor or var constructor left its message */
    return NULL;
}

static nb_linear *as_linear(nb_module *m, const char *what) {
    if (!m || m->vtable != &linear_vtable) {
        nb_error(NB_ERR_ARG, "%s: module is %s, not a Linear", what,
                 !m ? "NULL" : (m->vtable && m->vtable->type ? m->vtable->type : "untyped"));
        return NULL;
    }
    return (nb_linear *)m;
}

nb_var *nb_linear_weight(nb_module *linear) {
    nb_linear *l = as_linear(linear, "linear_weight");
    return l ? l->weight : NULL;
}

nb_var *nb_linear_bias(nb_module *linear) {
    nb_linear *l = as_linear(linear, "linear_bias");
    return l ? l->bias : NULL;
}
