/* src/optim/sgd.c — torch.optim.SGD of PyTorch 1.13, its single-tensor path
 * (_single_tensor_sgd): weight decay, a momentum buffer started as a copy of the first
 * d_p, dampening, Nesterov, and the same rounding as torch's CPU kernels. */
#include "optim/optim_impl.h"

#include <math.h>

#include "base/alloc.h"
#include "tensor/runtime.h"

typedef struct nb_sgd {
    nb_optimizer base;
    nb_sgd_options o;
    nb_tensor **buf; /* per param: momentum_buffer, owned; NULL until first needed */
    bool *buf_set;   /* the buffer holds a value (torch: 'momentum_buffer' in state) */
} nb_sgd;

nb_sgd_options nb_sgd_defaults(double lr) {
    return (nb_sgd_options){.lr = lr, .momentum = 0, .dampening = 0, .weight_decay = 0, .nesterov = false};
}

static nb_status sgd_prepare(nb_optimizer *opt, int i) {
    nb_sgd *s = (nb_sgd *)opt;
    if (s->o.momentum == 0) return NB_OK;
    const nb_tensor *v = opt->params[i]->value;
    if (s->buf[i]) {
        if (s->buf[i]->dtype != v->dtype || !nb_tensor_same_shape(s->buf[i], v))
            return nb_error(NB_ERR_SHAPE,
                            "SGD step: param %d changed shape or dtype since its "
                            "momentum buffer was made",
                            i);
        return NB_OK;
    }
    /* Allocated here, filled by the update: a failure later in this step leaves no trace. */
    s->buf[i] = nb_tensor_empty(v->dtype, v->ndim, v->shape);
    return s->buf[i] ? NB_OK : nb_last_status();
}

/* One element at a time, one rounding per torch op, scalars converted to the dtype as torch
 * converts a Python float (Scalar::to<scalar_t>); the build has -ffp-contract=off, so each
 * a + s * b rounds the product first, as torch's scalar (ATEN_CPU_CAPABILITY=default) path:
 *   d_p = grad
 *   if weight_decay != 0: d_p = d_p.add(param, alpha=weight_decay)     d + wd * p
 *   if momentum != 0:
 *       first step: buf = torch.clone(d_p)
 *       else:       buf.mul_(momentum).add_(d_p, alpha=1 - dampening)  (buf * mu) + (1-tau) * d
 *       d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
 *   param.add_(d_p, alpha=-lr)                                          p + (-lr) * d
 * The `!= 0` tests are on the Python (double) values, as torch makes them. A vector lane
 * computes and rounds exactly what the one-element-at-a-time loop does. */
#define DEFINE_SGD_UPDATE(T, NAME)                                                                                     \
    static inline __attribute__((always_inline)) void NAME##_loop(                                                     \
        const nb_sgd_options *o, T *restrict p, const T *restrict g, T *restrict buf, int64_t n, bool decay,           \
        bool momentum, bool fresh, bool nesterov) {                                                                    \
        const T wd = (T)o->weight_decay, mu = (T)o->momentum;                                                          \
        const T one_minus_tau = (T)(1 - o->dampening), neg_lr = (T)(-o->lr);                                           \
        _Pragma("omp simd") for (int64_t k = 0; k < n; k++) {                                                          \
            T d = g[k];                                                                                                \
            if (decay) d = d + wd * p[k];                                                                              \
            if (momentum) {                                                                                            \
                if (fresh)                                                                                             \
                    buf[k] = d;                                                                                        \
                else {                                                                                                 \
                    T b = buf[k] * mu;                                                                                 \
                    buf[k] = b + one_minus_tau * d;                                                                    \
                }                                                                                                      \
                d = nesterov ? d + mu * buf[k] : buf[k];                                                               \
            }                                                                                                          \
            p[k] = p[k] + neg_lr * d;                                                                                  \
        }                                                                                                              \
    }                                                                                                                  \
    /* One copy of the loop per combination of options, each with its tests folded away, so \
     * that every one vectorises (a test inside the loop keeps it scalar). */                          \
    static void NAME(const nb_sgd_options *o, T *restrict p, const T *restrict g, T *restrict buf, bool fresh,         \
                     int64_t n) {                                                                                      \
        const bool decay = o->weight_decay != 0;                                                                       \
        if (o->momentum == 0) {                                                                                        \
            if (decay)                                                                                                 \
                NAME##_loop(o, p, g, buf, n, true, false, false, false);                                               \
            else                                                                                                       \
                NAME##_loop(o, p, g, buf, n, false, false, false, false);                                              \
            return;                                                                                                    \
        }                                                                                                              \
        switch ((decay ? 1 : 0) | (fresh ? 2 : 0) | (o->nesterov ? 4 : 0)) {                                           \
        case 0: NAME##_loop(o, p, g, buf, n, false, true, false, false); break;                                        \
        case 1: NAME##_loop(o, p, g, buf, n, true, true, false, false); break;                                         \
        case 2: NAME##_loop(o, p, g, buf, n, false, true, true, false); break;                                         \
        case 3: NAME##_loop(o, p, g, buf, n, true, true, true, false); break;                                          \
        case 4: NAME##_loop(o, p, g, buf, n, false, true, false, true); break;                                         \
        case 5: NAME##_loop(o, p, g, buf, n, true, true, false, true); break;                                          \
        case 6: NAME##_loop(o, p, g, buf, n, false, true, true, true); break;                                          \
        default: NAME##_loop(o, p, g, buf, n, true, true, true, true); break;                                          \
        }                                                                                                              \
    }
DEFINE_SGD_UPDATE(float, sgd_update_f32)
DEFINE_SGD_UPDATE(double, sgd_update_f64)

/* One param's update over elements [lo, hi): the part nb_parallel_range gives a thread. */
typedef struct sgd_range {
    const nb_sgd_options *o;
    nb_dtype dtype;
    void *p, *buf;
    const void *g;
    bool fresh;
} sgd_range;

static void sgd_update_range(void *ctx, int64_t lo, int64_t hi) {
    const sgd_range *r = ctx;
    if (r->dtype == NB_F32)
        sgd_update_f32(r->o, (float *)r->p + lo, (const float *)r->g + lo, r->buf ? (float *)r->buf + lo : NULL,
                       r->fresh, hi - lo);
    else
        sgd_update_f64(r->o, (double *)r->p + lo, (const double *)r->g + lo, r->buf ? (double *)r->buf + lo : NULL,
                       r->fresh, hi - lo);
}

static void sgd_update(nb_optimizer *opt, int i) {
    nb_sgd *s = (nb_sgd *)opt;
    nb_var *p = opt->params[i];
    sgd_range r = {.o = &s->o,
                   .dtype = p->value->dtype,
                   .p = nb_tensor_data(p->value),
                   .g = nb_tensor_data(p->grad),
                   .fresh = !s->buf_set[i],
                   .buf = s->buf[i] ? nb_tensor_data(s->buf[i]) : NULL};
    nb_parallel_range(nb_tensor_numel(p->value), sgd_update_range, &r);
    if (s->o.momentum != 0) s->buf_set[i] = true;
}

static void sgd_destroy(nb_optimizer *opt) {
    nb_sgd *s = (nb_sgd *)opt;
    if (s->buf)
        for (int i = 0; i < opt->nparams; i++) nb_tensor_free(s->buf[i]);
    nb_free(s->buf);
    nb_free(s->buf_set);
}

static const nb_optimizer_vtable sgd_vtable = {
    .name = "SGD", .prepare = sgd_prepare, .update = sgd_update, .destroy = sgd_destroy};

/* torch.optim.SGD.__init__'s ValueErrors, plus NaN, which torch lets through (its checks are
 * `x < 0.0`) and which would only poison the params. */
static nb_status sgd_check(const nb_sgd_options *o) {
    if (isnan(o->lr) || o->lr < 0.0) return nb_error(NB_ERR_ARG, "SGD: invalid learning rate: %g", o->lr);
    if (isnan(o->momentum) || o->momentum < 0.0)
        return nb_error(NB_ERR_ARG, "SGD: invalid momentum value: %g", o->momentum);
    if (isnan(o->weight_decay) || o->weight_decay < 0.0)
        return nb_error(NB_ERR_ARG, "SGD: invalid weight_decay value: %g", o->weight_decay);
    if (isnan(o->dampening)) return nb_error(NB_ERR_ARG, "SGD: invalid dampening value: %g", o->dampening);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return nb_error(NB_ERR_ARG,
                        "SGD: Nesterov momentum requires a momentum and zero "
                        "dampening (momentum %g, dampening %g)",
                        o->momentum, o->dampening);
    return NB_OK;
}

nb_optimizer *nb_sgd_new(nb_var *const *params, int nparams, nb_sgd_options options) {
    if (sgd_check(&options) != NB_OK) return NULL;
    nb_sgd *s = nb_alloc_zeroed(sizeof *s);
    if (!s) {
        nb_error(NB_ERR_NOMEM, "SGD: out of memory");
        return NULL;
    }
    s->o = options;
    s->base.vtable = &sgd_vtable;
    if (nb_optimizer_init(&s->base, &sgd_vtable, params, nparams) != NB_OK) {
        nb_optimizer_free(&s->base);
        return NULL;
    }
    s->buf = nb_alloc_zeroed((size_t)nparams * sizeof *s->buf);
    s->buf_set = nb_alloc_zeroed((size_t)nparams * sizeof *s->buf_set);
    if (!s->buf || !s->buf_set) {
        nb_optimizer_free(&s->base);
        nb_error(NB_ERR_NOMEM, "SGD: out of memory");
        return NULL;
    }
    return &s->base;
}
