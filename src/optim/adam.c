/* src/optim/adam.c — torch.optim.Adam of PyTorch 1.13, its single-tensor path
 * (_single_tensor_adam with amsgrad=False, maximize=False): a step count per param, weight
 * decay added to the grad, both moments, bias corrections in double, torch's rounding. */
#include "optim/optim_impl.h"

#include <math.h>

#include "base/alloc.h"
#include "tensor/runtime.h"

typedef struct adam_state {
    nb_tensor *exp_avg;    /* first moment, owned; NULL until the param's first step */
    nb_tensor *exp_avg_sq; /* second moment */
    /* torch keeps state['step'] in a float32 tensor (torch.tensor(0.)) and reads it back
     * with .item(): keep it a float too, so it stops counting at 2^24 exactly as torch's. */
    float step;
} adam_state;

typedef struct nb_adam {
    nb_optimizer base;
    nb_adam_options o;
    adam_state *state; /* per param */
} nb_adam;

nb_adam_options nb_adam_defaults(double lr) {
    return (nb_adam_options){.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
}

static nb_status adam_prepare(nb_optimizer *opt, int i) {
    nb_adam *a = (nb_adam *)opt;
    adam_state *st = &a->state[i];
    const nb_tensor *v = opt->params[i]->value;
    if (st->exp_avg) {
        if (st->exp_avg->dtype != v->dtype || !nb_tensor_same_shape(st->exp_avg, v))
            return nb_error(NB_ERR_SHAPE,
                            "Adam step: param %d changed shape or dtype since "
                            "its moments were made",
                            i);
        return NB_OK;
    }
    // lazy state initialisation: exp_avg, exp_avg_sq = zeros_like(p), step = 0
    nb_tensor *m = nb_tensor_zeros(v->dtype, v->ndim, v->shape);
    nb_tensor *s = m ? nb_tensor_zeros(v->dtype, v->ndim, v->shape) : NULL;
    if (!s) {
        nb_tensor_free(m);
        return nb_last_status();
    }
    st->exp_avg = m;
    st->exp_avg_sq = s;
    st->step = 0.0f;
    return NB_OK;
}

/* The per-step scalars, computed in Python floats (double) as _single_tensor_adam does and
 * then converted to the dtype where a tensor op receives them. */
typedef struct adam_scalars {
    double weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2;
    double bias_correction2_sqrt, eps, neg_step_size;
} adam_scalars;

/* One element at a time, one rounding per torch op (-ffp-contract=off; torch's scalar
 * ATEN_CPU_CAPABILITY=default kernels, checked against Debian's torch):
 *   grad = grad.add(param, alpha=wd)                 g + wd * p        (if wd != 0)
 *   exp_avg.mul_(beta1).add_(grad, alpha=1-beta1)    (m * b1) + (1-b1) * g
 *   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
 *                                                    (v * b2) + ((1-b2) * g) * g
 *   denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps) (sqrt(v) / c) + eps
 *   param.addcdiv_(exp_avg, denom, value=-step_size) p + ((-s) * m) / denom
 * addcmul_ and addcdiv_ multiply the scalar into the first tensor before the second
 * (self + value * t1 * t2, left to right); a division by a Python number stays a division. */
#define DEFINE_ADAM_UPDATE(T, SQRT, NAME)                                                                              \
    static inline __attribute__((always_inline)) void NAME##_loop(const adam_scalars *c, bool decay, T *restrict p,    \
                                                                  const T *restrict g, T *restrict m, T *restrict v,   \
                                                                  int64_t n) {                                         \
        const T wd = (T)c->weight_decay;                                                                               \
        const T b1 = (T)c->beta1, one_minus_b1 = (T)c->one_minus_beta1;                                                \
        const T b2 = (T)c->beta2, one_minus_b2 = (T)c->one_minus_beta2;                                                \
        const T bc2_sqrt = (T)c->bias_correction2_sqrt, eps = (T)c->eps;                                               \
        const T neg_step = (T)c->neg_step_size;                                                                        \
        _Pragma("omp simd") for (int64_t k = 0; k < n; k++) {                                                          \
            T gk = g[k];                                                                                               \
            if (decay) gk = gk + wd * p[k];                                                                            \
            T mk = m[k] * b1;                                                                                          \
            mk = mk + one_minus_b1 * gk;                                                                               \
            T vk = v[k] * b2;                                                                                          \
            vk = vk + (one_minus_b2 * gk) * gk;                                                                        \
            T denom = SQRT(vk) / bc2_sqrt;                                                                             \
            denom = denom + eps;                                                                                       \
            p[k] = p[k] + (neg_step * mk) / denom;                                                                     \
            m[k] = mk;                                                                                                 \
            v[k] = vk;                                                                                                 \
        }                                                                                                              \
    }                                                                                                                  \
    /* the weight-decay test hoisted out of the loop, so each copy vectorises */                                       \
    static void NAME(const adam_scalars *c, T *restrict p, const T *restrict g, T *restrict m, T *restrict v,          \
                     int64_t n) {                                                                                      \
        if (c->weight_decay != 0)                                                                                      \
            NAME##_loop(c, true, p, g, m, v, n);                                                                       \
        else                                                                                                           \
            NAME##_loop(c, false, p, g, m, v, n);                                                                      \
    }
DEFINE_ADAM_UPDATE(float, sqrtf, adam_update_f32)
DEFINE_ADAM_UPDATE(double, sqrt, adam_update_f64)

/* One param's update over elements [lo, hi): the part nb_parallel_range gives a thread. */
typedef struct adam_range {
    const adam_scalars *c;
    nb_dtype dtype;
    void *p, *m, *v;
    const void *g;
} adam_range;

static void adam_update_range(void *ctx, int64_t lo, int64_t hi) {
    const adam_range *r = ctx;
    if (r->dtype == NB_F32)
        adam_update_f32(r->c, (float *)r->p + lo, (const float *)r->g + lo, (float *)r->m + lo, (float *)r->v + lo,
                        hi - lo);
    else
        adam_update_f64(r->c, (double *)r->p + lo, (const double *)r->g + lo, (double *)r->m + lo, (double *)r->v + lo,
                        hi - lo);
}

static void adam_update(nb_optimizer *opt, int i) {
    nb_adam *a = (nb_adam *)opt;
    const nb_adam_options *o = &a->o;
    adam_state *st = &a->state[i];
    nb_var *p = opt->params[i];

    st->step += 1.0f;       // step_t += 1 on a float32 tensor
    double step = st->step; // step_t.item()
    // bias_correction1 = 1 - beta1 ** step; step_size = lr / bias_correction1
    double bias_correction1 = 1 - pow(o->beta1, step);
    double bias_correction2 = 1 - pow(o->beta2, step);
    double step_size = o->lr / bias_correction1;
    adam_scalars c = {.weight_decay = o->weight_decay,
                      .beta1 = o->beta1,
                      .one_minus_beta1 = 1 - o->beta1,
                      .beta2 = o->beta2,
                      .one_minus_beta2 = 1 - o->beta2,
                      .bias_correction2_sqrt = sqrt(bias_correction2),
                      .eps = o->eps,
                      .neg_step_size = -step_size};

    adam_range r = {.c = &c,
                    .dtype = p->value->dtype,
                    .p = nb_tensor_data(p->value),
                    .g = nb_tensor_data(p->grad),
                    .m = nb_tensor_data(st->exp_avg),
                    .v = nb_tensor_data(st->exp_avg_sq)};
    nb_parallel_range(nb_tensor_numel(p->value), adam_update_range, &r);
}

static void adam_destroy(nb_optimizer *opt) {
    nb_adam *a = (nb_adam *)opt;
    if (a->state) {
        for (int i = 0; i < opt->nparams; i++) {
            nb_tensor_free(a->state[i].exp_avg);
            nb_tensor_free(a->state[i].exp_avg_sq);
        }
    }
    nb_free(a->state);
}

static const nb_optimizer_vtable adam_vtable = {
    .name = "Adam", .prepare = adam_prepare, .update = adam_update, .destroy = adam_destroy};

/* torch.optim.Adam.__init__'s ValueErrors, in its order; `not 0.0 <= x` also rejects NaN. */
static nb_status adam_check(const nb_adam_options *o) {
    if (!(0.0 <= o->lr)) return nb_error(NB_ERR_ARG, "Adam: invalid learning rate: %g", o->lr);
    if (!(0.0 <= o->eps)) return nb_error(NB_ERR_ARG, "Adam: invalid epsilon value: %g", o->eps);
    if (!(0.0 <= o->beta1 && o->beta1 < 1.0))
        return nb_error(NB_ERR_ARG, "Adam: invalid beta parameter at index 0: %g", o->beta1);
    if (!(0.0 <= o->beta2 && o->beta2 < 1.0))
        return nb_error(NB_ERR_ARG, "Adam: invalid beta parameter at index 1: %g", o->beta2);
    if (!(0.0 <= o->weight_decay)) return nb_error(NB_ERR_ARG, "Adam: invalid weight_decay value: %g", o->weight_decay);
    return NB_OK;
}

nb_optimizer *nb_adam_new(nb_var *const *params, int nparams, nb_adam_options options) {
    if (adam_check(&options) != NB_OK) return NULL;
    nb_adam *a = nb_alloc_zeroed(sizeof *a);
    if (!a) {
        nb_error(NB_ERR_NOMEM, "Adam: out of memory");
        return NULL;
    }
    a->o = options;
    a->base.vtable = &adam_vtable;
    if (nb_optimizer_init(&a->base, &adam_vtable, params, nparams) != NB_OK) {
        nb_optimizer_free(&a->base);
        return NULL;
    }
    a->state = nb_alloc_zeroed((size_t)nparams * sizeof *a->state);
    if (!a->state) {
        nb_optimizer_free(&a->base);
        nb_error(NB_ERR_NOMEM, "Adam: out of memory");
        return NULL;
    }
    return &a->base;
}
