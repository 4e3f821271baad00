/* src/variants/tensors.c — the tutorial's first program, "PyTorch: Tensors": a two-layer
 * ReLU network trained with a hand-written forward and backward pass on plain tensors.
 * Every intermediate lives in a workspace allocated once, so a step allocates nothing. */
#include "base/alloc.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"
#include "variants/footprint_count.h"
#include "variants/variant.h"

typedef struct tensors_state {
    nb_rng rng;
    double lr;
    /* data and parameters, drawn in the seed's order */
    nb_tensor *x;  /* (N, D_in) */
    nb_tensor *y;  /* (N, D_out) */
    nb_tensor *w1; /* (D_in, H) */
    nb_tensor *w2; /* (H, D_out) */
    /* transposed views, no copies */
    nb_tensor *x_t;      /* (D_in, N) */
    nb_tensor *w2_t;     /* (D_out, H) */
    nb_tensor *h_relu_t; /* (H, N) */
    /* forward */
    nb_tensor *h;      /* (N, H) */
    nb_tensor *h_relu; /* (N, H) */
    nb_tensor *y_pred; /* (N, D_out) */
    nb_tensor *diff;   /* (N, D_out): y_pred - y */
    nb_tensor *sq;     /* (N, D_out): diff ** 2 */
    nb_tensor *loss;   /* () */
    /* backward */
    nb_tensor *grad_y_pred; /* (N, D_out) */
    nb_tensor *grad_w2;     /* (H, D_out) */
    nb_tensor *grad_h_relu; /* (N, H) */
    nb_tensor *grad_h;      /* (N, H) */
    nb_tensor *h_negative;  /* (N, H): 1 where h < 0 */
    nb_tensor *grad_w1;     /* (D_in, H) */
    /* gradient checks only: d loss / d x */
    nb_tensor *w1_t;   /* (H, D_in) view */
    nb_tensor *grad_x; /* (N, D_in) */
} tensors_state;

static void tensors_destroy(void *opaque) {
    tensors_state *s = opaque;
    if (!s) return;
    nb_tensor *all[] = {s->x,       s->y,           s->w1,     s->w2,         s->x_t,     s->w2_t, s->h_relu_t,
                        s->h,       s->h_relu,      s->y_pred, s->diff,       s->sq,      s->loss, s->grad_y_pred,
                        s->grad_w2, s->grad_h_relu, s->grad_h, s->h_negative, s->grad_w1, s->w1_t, s->grad_x};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nb_tensor_free(all[i]);
    nb_free(s);
}

static nb_tensor *matrix(nb_dtype dtype, int64_t rows, int64_t cols) {
    return nb_tensor_empty(dtype, 2, (int64_t[]){rows, cols});
}

static nb_status tensors_create(const nb_train_config *cfg, double lr, void **out) {
    tensors_state *s = nb_alloc_zeroed(sizeof *s);
    if (!s) return nb_error(NB_ERR_NOMEM, "out of memory creating the tensors variant");
    s->lr = lr;
    const int64_t n = cfg->batch, d_in = cfg->d_in, h = cfg->hidden, d_out = cfg->d_out;
    const nb_dtype dt = cfg->dtype;

    /* x, y, w1, w2 = torch.randn(...) in this order after torch.manual_seed(seed). */
    nb_rng_seed(&s->rng, cfg->seed);
    s->x = nb_tensor_randn(&s->rng, dt, 2, (int64_t[]){n, d_in});
    s->y = s->x ? nb_tensor_randn(&s->rng, dt, 2, (int64_t[]){n, d_out}) : NULL;
    s->w1 = s->y ? nb_tensor_randn(&s->rng, dt, 2, (int64_t[]){d_in, h}) : NULL;
    s->w2 = s->w1 ? nb_tensor_randn(&s->rng, dt, 2, (int64_t[]){h, d_out}) : NULL;
    if (!s->w2) goto fail;

    if (!(s->x_t = nb_tensor_t(s->x)) || !(s->w2_t = nb_tensor_t(s->w2)) || !(s->h = matrix(dt, n, h)) ||
        !(s->h_relu = matrix(dt, n, h)) || !(s->h_relu_t = nb_tensor_t(s->h_relu)) ||
        !(s->y_pred = matrix(dt, n, d_out)) || !(s->diff = matrix(dt, n, d_out)) || !(s->sq = matrix(dt, n, d_out)) ||
        !(s->loss = nb_tensor_empty(dt, 0, NULL)) || !(s->grad_y_pred = matrix(dt, n, d_out)) ||
        !(s->grad_w2 = matrix(dt, h, d_out)) || !(s->grad_h_relu = matrix(dt, n, h)) ||
        !(s->grad_h = matrix(dt, n, h)) || !(s->h_negative = matrix(dt, n, h)) || !(s->grad_w1 = matrix(dt, d_in, h)))
        goto fail;
    if (cfg->grad_check && (!(s->w1_t = nb_tensor_t(s->w1)) || !(s->grad_x = matrix(dt, n, d_in)))) goto fail;
    *out = s;
    return NB_OK;
fail:
    tensors_destroy(s);
    return nb_last_status();
}

/* Forward and loss: h = x.mm(w1); h_relu = h.clamp(min=0); y_pred = h_relu.mm(w2);
 * loss = (y_pred - y).pow(2).sum() */
static nb_status forward_loss(tensors_state *s, double *loss) {
    NB_TRY(nb_mm_out(s->h, s->x, s->w1));           /* (N, D_in) @ (D_in, H) -> (N, H) */
    NB_TRY(nb_clamp_min_out(s->h_relu, s->h, 0.0)); /* (N, H) */
    NB_TRY(nb_mm_out(s->y_pred, s->h_relu, s->w2)); /* (N, H) @ (H, D_out) -> (N, D_out) */
    NB_TRY(nb_sub_out(s->diff, s->y_pred, s->y));
    NB_TRY(nb_pow_scalar_out(s->sq, s->diff, 2.0));
    NB_TRY(nb_sum_out(s->loss, s->sq));
    return nb_tensor_item(s->loss, loss);
}

/* Backward, by hand, as the seed writes it. */
static nb_status backward_ops(tensors_state *s);
static nb_status backward(tensors_state *s) {
    nb_phase phase = nb_profile_set_phase(NB_PHASE_BACKWARD);
    nb_status st = backward_ops(s);
    nb_profile_set_phase(phase);
    return st;
}

static nb_status backward_ops(tensors_state *s) {
    NB_TRY(nb_mul_scalar_out(s->grad_y_pred, s->diff, 2.0));         /* 2.0 * (y_pred - y) */
    NB_TRY(nb_mm_out(s->grad_w2, s->h_relu_t, s->grad_y_pred));      /* (H, N) @ (N, D_out) */
    NB_TRY(nb_mm_out(s->grad_h_relu, s->grad_y_pred, s->w2_t));      /* (N, D_out) @ (D_out, H) */
    NB_TRY(nb_copy_(s->grad_h, s->grad_h_relu));                     /* grad_h = grad_h_relu.clone() */
    NB_TRY(nb_lt_scalar_out(s->h_negative, s->h, 0.0));              /* h < 0 */
    NB_TRY(nb_masked_fill_(s->grad_h, s->h_negative, 0.0));          /* grad_h[h < 0] = 0 */
    NB_TRY(nb_mm_out(s->grad_w1, s->x_t, s->grad_h));                /* (D_in, N) @ (N, H) */
    if (s->grad_x) NB_TRY(nb_mm_out(s->grad_x, s->grad_h, s->w1_t)); /* (N, H) @ (H, D_in) */
    return NB_OK;
}

static nb_status tensors_step(void *opaque, int64_t t, double *loss) {
    (void)t;
    tensors_state *s = opaque;
    NB_TRY(forward_loss(s, loss));
    NB_TRY(backward(s));
    /* Gradient descent: w -= learning_rate * grad */
    nb_phase phase = nb_profile_set_phase(NB_PHASE_UPDATE);
    nb_status st = nb_sub_scaled_(s->w1, s->lr, s->grad_w1);
    if (st == NB_OK) st = nb_sub_scaled_(s->w2, s->lr, s->grad_w2);
    nb_profile_set_phase(phase);
    return st;
}

static nb_status tensors_loss_and_grad(void *opaque, bool want_grad, double *loss) {
    tensors_state *s = opaque;
    NB_TRY(forward_loss(s, loss));
    return want_grad ? backward(s) : NB_OK;
}

static int tensors_grad_entries(void *opaque, nb_grad_entry *e) {
    tensors_state *s = opaque;
    int n = 0;
    e[n++] = (nb_grad_entry){"x", s->x, s->grad_x}; /* grad_x: gradient checks only */
    e[n++] = (nb_grad_entry){"y", s->y, NULL};
    e[n++] = (nb_grad_entry){"w1", s->w1, s->grad_w1};
    e[n++] = (nb_grad_entry){"w2", s->w2, s->grad_w2};
    return n;
}

/* Everything is allocated by create and lives until destroy; a step allocates nothing:
 *   x (N, D_in), and grad_x (N, D_in) for gradient checks
 *   y, y_pred, diff, sq, grad_y_pred            5 x (N, D_out)
 *   w1, grad_w1                                 2 x (D_in, H)
 *   w2, grad_w2                                 2 x (H, D_out)
 *   h, h_relu, grad_h_relu, grad_h, h_negative  5 x (N, H)
 *   loss                                        ()
 * and the transposed views x_t, w2_t, h_relu_t, w1_t (headers: bookkeeping). */
static bool tensors_footprint(const nb_train_config *cfg, int64_t *bytes) {
    const int64_t n = cfg->batch, d_in = cfg->d_in, h = cfg->hidden, d_out = cfg->d_out;
    nb_fp f;
    nb_fp_begin(&f, cfg);
    nb_fp_tensors(&f, cfg->grad_check ? 2 : 1, n, d_in);
    nb_fp_tensors(&f, 5, n, d_out);
    nb_fp_tensors(&f, 2, d_in, h);
    nb_fp_tensors(&f, 2, h, d_out);
    nb_fp_tensors(&f, 5, n, h);
    nb_fp_tensors(&f, 1, 1, 1);
    return nb_fp_end(&f, bytes);
}

const nb_variant nb_variant_tensors = {
    .name = "tensors",
    .description = "manual forward and backward on tensors (the tutorial's first program)",
    .default_lr = 1e-6,
    .create = tensors_create,
    .step = tensors_step,
    .destroy = tensors_destroy,
    .loss_and_grad = tensors_loss_and_grad,
    .grad_entries = tensors_grad_entries,
    .footprint = tensors_footprint,
};
