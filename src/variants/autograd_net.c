/* src/variants/autograd_net.c — the two-layer network of the tutorial's autograd programs:
 * x, y, w1, w2 drawn as the seed draws them, a fresh graph every step (define-by-run), and
 * the update done by hand under no_grad. */
#include "variants/autograd_net.h"

#include "base/alloc.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"
#include "variants/footprint_count.h"

typedef struct autograd_net {
    nb_rng rng;
    double lr;
    nb_relu_fn *relu;
    nb_var *x;  /* (N, D_in); requires grad only for gradient checks */
    nb_var *y;  /* (N, D_out) */
    nb_var *w1; /* (D_in, H), requires grad */
    nb_var *w2; /* (H, D_out), requires grad */
} autograd_net;

void nb_autograd_net_destroy(void *opaque) {
    autograd_net *s = opaque;
    if (!s) return;
    nb_var_release(s->x);
    nb_var_release(s->y);
    nb_var_release(s->w1);
    nb_var_release(s->w2);
    nb_free(s);
}

/* A leaf of randn values whose .grad exists from the start (zeros), so gradient checks can
 * point at it before the first backward. */
static nb_var *randn_leaf(nb_rng *rng, nb_dtype dt, int64_t rows, int64_t cols, bool requires_grad) {
    nb_var *v = nb_var_new(nb_tensor_randn(rng, dt, 2, (int64_t[]){rows, cols}), requires_grad);
    if (v && requires_grad && !(v->grad = nb_tensor_zeros(dt, 2, (int64_t[]){rows, cols}))) {
        nb_var_release(v);
        return NULL;
    }
    return v;
}

nb_status nb_autograd_net_create(const nb_train_config *cfg, double lr, nb_relu_fn *relu, void **out) {
    autograd_net *s = nb_alloc_zeroed(sizeof *s);
    if (!s) return nb_error(NB_ERR_NOMEM, "out of memory creating the %s variant", cfg->variant);
    s->lr = lr;
    s->relu = relu;
    nb_rng_seed(&s->rng, cfg->seed);
    /* x, y = torch.randn(...); w1, w2 = torch.randn(..., requires_grad=True) */
    if (!(s->x = randn_leaf(&s->rng, cfg->dtype, cfg->batch, cfg->d_in, cfg->grad_check)) ||
        !(s->y = randn_leaf(&s->rng, cfg->dtype, cfg->batch, cfg->d_out, false)) ||
        !(s->w1 = randn_leaf(&s->rng, cfg->dtype, cfg->d_in, cfg->hidden, true)) ||
        !(s->w2 = randn_leaf(&s->rng, cfg->dtype, cfg->hidden, cfg->d_out, true))) {
        nb_autograd_net_destroy(s);
        return nb_last_status();
    }
    *out = s;
    return NB_OK;
}

/* loss = (relu(x.mm(w1)).mm(w2) - y).pow(2).sum(); loss.backward() when want_grad. The
 * step's graph lives in a scope and is freed with it. */
static nb_status forward_backward(autograd_net *s, bool want_grad, double *loss) {
    nb_scope *scope = nb_scope_begin();
    if (!scope) return nb_last_status();
    nb_var *y_pred = nb_ag_mm(s->relu(nb_ag_mm(s->x, s->w1)), s->w2); /* (N, D_out) */
    nb_var *l = nb_ag_sum(nb_ag_pow(nb_ag_sub(y_pred, s->y), 2.0));
    nb_status st = l ? nb_tensor_item(l->value, loss) : nb_last_status();
    if (st == NB_OK && want_grad) st = nb_backward(l);
    nb_scope_end(scope);
    return st;
}

nb_status nb_autograd_net_step(void *opaque, int64_t t, double *loss) {
    (void)t;
    autograd_net *s = opaque;
    /* The tutorial zeroes the grads right after the update; zeroing them right before the
     * backward gives the same numbers and leaves each step's gradients in place for
     * inspection (and after a loss_and_grad call). */
    nb_var_zero_grad(s->w1);
    nb_var_zero_grad(s->w2);
    NB_TRY(forward_backward(s, true, loss));
    /* with torch.no_grad(): w -= learning_rate * w.grad */
    nb_no_grad_begin();
    nb_phase phase = nb_profile_set_phase(NB_PHASE_UPDATE);
    nb_status st = nb_sub_scaled_(s->w1->value, s->lr, s->w1->grad);
    if (st == NB_OK) st = nb_sub_scaled_(s->w2->value, s->lr, s->w2->grad);
    nb_profile_set_phase(phase);
    nb_no_grad_end();
    return st;
}

nb_status nb_autograd_net_loss_and_grad(void *opaque, bool want_grad, double *loss) {
    autograd_net *s = opaque;
    nb_var_zero_grad(s->x);
    nb_var_zero_grad(s->w1);
    nb_var_zero_grad(s->w2);
    return forward_backward(s, want_grad, loss);
}

int nb_autograd_net_grad_entries(void *opaque, nb_grad_entry *e) {
    autograd_net *s = opaque;
    int n = 0;
    e[n++] = (nb_grad_entry){"x", s->x->value, s->x->requires_grad ? s->x->grad : NULL};
    e[n++] = (nb_grad_entry){"y", s->y->value, NULL};
    e[n++] = (nb_grad_entry){"w1", s->w1->value, s->w1->grad};
    e[n++] = (nb_grad_entry){"w2", s->w2->value, s->w2->grad};
    return n;
}

/* Kept from create to destroy:
 *   x (N, D_in), and its .grad (N, D_in) for gradient checks; y (N, D_out)
 *   w1 and its .grad                 2 x (D_in, H)
 *   w2 and its .grad                 2 x (H, D_out)
 * A step's graph, freed when its scope ends (the allocator keeps the blocks for the next):
 *   forward  h, h_relu (N, H); y_pred, diff, sq (N, D_out); loss ()
 *   backward the seed (); the douts of pow, sub and the second mm (N, D_out); of the ReLU
 *            and the first mm (N, H); w1's and w2's gradients go into their .grad
 * Everything a step makes is counted as live at once: an upper bound of the blocks the
 * allocator's cache holds after any step, whatever the order the backward frees them in. */
bool nb_autograd_net_footprint(const nb_train_config *cfg, int relu_temps, int64_t *bytes) {
    const int64_t n = cfg->batch, d_in = cfg->d_in, h = cfg->hidden, d_out = cfg->d_out;
    nb_fp f;
    nb_fp_begin(&f, cfg);
    nb_fp_tensors(&f, cfg->grad_check ? 2 : 1, n, d_in);
    nb_fp_tensors(&f, 1, n, d_out);
    nb_fp_tensors(&f, 2, d_in, h);
    nb_fp_tensors(&f, 2, h, d_out);
    nb_fp_tensors(&f, 4 + relu_temps, n, h); /* h, h_relu, their douts, the ReLU's temporaries */
    nb_fp_tensors(&f, 6, n, d_out);          /* y_pred, diff, sq and their douts */
    nb_fp_tensors(&f, 2, 1, 1);              /* loss, the seed */
    return nb_fp_end(&f, bytes);
}
