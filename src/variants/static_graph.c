/* src/variants/static_graph.c — the tutorial's TensorFlow contrast on nabla's stack: the
 * two-layer network defined once as a static graph (placeholders x, y; parameters w1, w2),
 * compiled once (backward, fusion, memory plan), and replayed every step. Same draws, same
 * math and, with the same kernel and dtype, the same bits as the autograd variant. */
#include "variants/static_graph.h"

#include "base/alloc.h"
#include "variants/footprint_count.h"

typedef struct static_graph_state {
    nb_graph *graph;
    nb_plan *plan;
    nb_gnode *x, *y, *w1, *w2; /* nodes of graph */
    nb_tensor *w1_value;       /* (D_in, H), updated in place by the plan */
    nb_tensor *w2_value;       /* (H, D_out) */
} static_graph_state;

static void static_graph_destroy(void *opaque) {
    static_graph_state *s = opaque;
    if (!s) return;
    nb_plan_free(s->plan);
    nb_graph_free(s->graph);
    nb_tensor_free(s->w1_value);
    nb_tensor_free(s->w2_value);
    nb_free(s);
}

nb_status nb_static_graph_create(const nb_train_config *cfg, double lr, bool no_fusion, bool no_reuse, void **out) {
    static_graph_state *s = nb_alloc_zeroed(sizeof *s);
    if (!s) return nb_error(NB_ERR_NOMEM, "out of memory creating the %s variant", cfg->variant);
    const int64_t n = cfg->batch, d_in = cfg->d_in, h = cfg->hidden, d_out = cfg->d_out;
    const nb_dtype dt = cfg->dtype;
    nb_tensor *x = NULL, *y = NULL;
    nb_status st = NB_OK;

    /* x, y, w1, w2 = randn(...) in the seed's order after manual_seed: the TensorFlow program
     * draws its data and initial weights with NumPy/TF, nabla keeps torch's draws so the
     * numbers can be compared with every other variant. */
    nb_rng rng;
    nb_rng_seed(&rng, cfg->seed);
    if (!(x = nb_tensor_randn(&rng, dt, 2, (int64_t[]){n, d_in})) ||
        !(y = nb_tensor_randn(&rng, dt, 2, (int64_t[]){n, d_out})) ||
        !(s->w1_value = nb_tensor_randn(&rng, dt, 2, (int64_t[]){d_in, h})) ||
        !(s->w2_value = nb_tensor_randn(&rng, dt, 2, (int64_t[]){h, d_out})))
        goto fail;

    /* Define the graph once: placeholders for the data, variables for the weights. */
    if (!(s->graph = nb_graph_new(dt))) goto fail;
    s->x = nb_graph_placeholder(s->graph, "x", 2, (int64_t[]){n, d_in});
    s->y = nb_graph_placeholder(s->graph, "y", 2, (int64_t[]){n, d_out});
    s->w1 = nb_graph_parameter(s->graph, "w1", s->w1_value);
    s->w2 = nb_graph_parameter(s->graph, "w2", s->w2_value);
    /* h = x.mm(w1): x (N, D_in) @ w1 (D_in, H) -> (N, H) */
    nb_gnode *hid = nb_graph_name(nb_graph_mm(s->x, s->w1), "h");
    /* h_relu = h.clamp(min=0): (N, H); clamp's backward lets the gradient through at h == 0,
     * as the autograd variant's does */
    nb_gnode *h_relu = nb_graph_name(nb_graph_clamp_min(hid, 0.0), "h_relu");
    /* y_pred = h_relu.mm(w2): (N, H) @ (H, D_out) -> (N, D_out) */
    nb_gnode *y_pred = nb_graph_name(nb_graph_mm(h_relu, s->w2), "y_pred");
    /* loss = (y_pred - y).pow(2).sum(): (N, D_out) -> (N, D_out) -> () */
    nb_gnode *diff = nb_graph_name(nb_graph_sub(y_pred, s->y), "diff");
    nb_gnode *loss = nb_graph_name(nb_graph_sum(nb_graph_name(nb_graph_pow(diff, 2.0), "sq")), "loss");
    if (!s->x || !s->y || !s->w1 || !s->w2 || !loss) goto fail;

    /* Compile once: gradients of w1 and w2 (and of x for gradient checks), the SGD update
     * new_w = w - learning_rate * grad_w as part of the step. */
    nb_graph_options opts = {
        .update = NB_GRAPH_UPDATE_SGD,
        .lr = lr,
        .wrt = cfg->grad_check ? &s->x : NULL,
        .nwrt = cfg->grad_check ? 1 : 0,
        .no_fusion = no_fusion,
        .no_reuse = no_reuse,
    };
    if (!(s->plan = nb_graph_compile(s->graph, loss, (nb_gnode *[]){s->w1, s->w2}, 2, &opts))) goto fail;

    /* The data never changes in the tutorial: it goes into the placeholders once, and the
     * steps feed nothing (a feed would copy it in again every step). */
    st = nb_copy_(nb_plan_input(s->plan, s->x), x);
    if (st == NB_OK) st = nb_copy_(nb_plan_input(s->plan, s->y), y);
    nb_tensor_free(x);
    nb_tensor_free(y);
    if (st != NB_OK) {
        static_graph_destroy(s);
        return st;
    }
    *out = s;
    return NB_OK;
fail:
    st = nb_last_status();
    nb_tensor_free(x);
    nb_tensor_free(y);
    static_graph_destroy(s);
    return st;
}

static nb_status static_graph_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_static_graph_create(cfg, lr, false, false, state);
}

const nb_plan *nb_static_graph_plan(const void *state) { return ((const static_graph_state *)state)->plan; }

/* sess.run([loss, new_w1, new_w2]): forward, backward and update, replayed. */
static nb_status static_graph_step(void *opaque, int64_t t, double *loss) {
    (void)t;
    static_graph_state *s = opaque;
    return nb_plan_run_step(s->plan, NULL, 0, loss);
}

/* The same plan stopped before the update (or after the forward). */
static nb_status static_graph_loss_and_grad(void *opaque, bool want_grad, double *loss) {
    static_graph_state *s = opaque;
    return nb_plan_run(s->plan, want_grad ? NB_PLAN_GRADIENTS : NB_PLAN_FORWARD, NULL, 0, loss);
}

/* x and y are the placeholders' storage in the plan, so a checker's in-place perturbation is
 * what the next run reads; the gradients live in the plan's arena. */
static int static_graph_grad_entries(void *opaque, nb_grad_entry *e) {
    static_graph_state *s = opaque;
    int n = 0;
    const nb_tensor *dx = s->plan ? nb_plan_grad(s->plan, s->x) : NULL;
    if (!dx) nb_clear_error(); /* x has a gradient only when created for gradient checks */
    e[n++] = (nb_grad_entry){"x", nb_plan_input(s->plan, s->x), dx};
    e[n++] = (nb_grad_entry){"y", nb_plan_input(s->plan, s->y), NULL};
    e[n++] = (nb_grad_entry){"w1", s->w1_value, nb_plan_grad(s->plan, s->w1)};
    e[n++] = (nb_grad_entry){"w2", s->w2_value, nb_plan_grad(s->plan, s->w2)};
    return n;
}

/* `count` values of (rows, cols) elements of `elem` bytes into an arena count: each buffer
 * starts on a cache line (NB_GRAPH_ALIGN), so each is rounded up to 64 bytes. */
static void arena_values(nb_fp *arena, int64_t count, int64_t rows, int64_t cols, int64_t elem) {
    int64_t elems, bytes, padded;
    if (__builtin_mul_overflow(rows, cols, &elems) || __builtin_mul_overflow(elems, elem, &bytes) ||
        __builtin_add_overflow(bytes, 63, &padded)) {
        arena->overflow = true;
        return;
    }
    for (int64_t i = 0; i < count; i++) nb_fp_add(arena, padded / 64 * 64);
}

/* What create holds at its peak, while the plan is compiled and the data copied in:
 *   x (N, D_in), y (N, D_out) as drawn (freed once copied into the placeholders)
 *   w1 (D_in, H), w2 (H, D_out), the parameters the plan updates in place
 *   the arena, one tensor: the placeholders x, y, then the values the plan computes, as
 *   `nabla graph --dump` lists them, each in its own buffer (the liveness plan overlaps some
 *   of them, so this bounds it):
 *     fused (the variant's plan)        no fusion
 *     h, h_relu, dh_relu, dh  (N, H)    h, h_relu, dh_relu, g(h_relu), dh          5 x (N, H)
 *     mask(h_relu), 1 byte each (N, H)
 *     y_pred, dy_pred     (N, D_out)    y_pred, diff, sq, dsq, g(sq), ddiff, dy_pred  7 x (N, D_out)
 *     loss                ()            loss, dloss                                 2 x ()
 *     dw2                 (H, D_out)    dw2, lr*d(w2), new(w2)                       3 x (H, D_out)
 *     dw1                 (D_in, H)     dw1, lr*d(w1), new(w1)                       3 x (D_in, H)
 *     dx (N, D_in) with gradient checks, in both
 * The graph's nodes, the plan's tables and the headers over the arena are bookkeeping; a
 * step (nb_plan_run_step) allocates nothing. */
bool nb_static_graph_footprint(const nb_train_config *cfg, bool no_fusion, int64_t *bytes) {
    const int64_t n = cfg->batch, d_in = cfg->d_in, h = cfg->hidden, d_out = cfg->d_out;
    nb_fp f;
    nb_fp_begin(&f, cfg);
    nb_fp_tensors(&f, 1, n, d_in);  /* x as drawn */
    nb_fp_tensors(&f, 1, n, d_out); /* y as drawn */
    nb_fp_tensors(&f, 1, d_in, h);  /* w1 */
    nb_fp_tensors(&f, 1, h, d_out); /* w2 */
    nb_fp arena = {.elem = f.elem};
    arena_values(&arena, 1, n, d_in, f.elem);                      /* placeholder x */
    arena_values(&arena, 1, n, d_out, f.elem);                     /* placeholder y */
    if (cfg->grad_check) arena_values(&arena, 1, n, d_in, f.elem); /* dx */
    if (no_fusion) {
        arena_values(&arena, 5, n, h, f.elem);
        arena_values(&arena, 7, n, d_out, f.elem);
        arena_values(&arena, 2, 1, 1, f.elem);
        arena_values(&arena, 3, h, d_out, f.elem);
        arena_values(&arena, 3, d_in, h, f.elem);
    } else {
        arena_values(&arena, 4, n, h, f.elem);
        arena_values(&arena, 1, n, h, 1); /* the mask */
        arena_values(&arena, 2, n, d_out, f.elem);
        arena_values(&arena, 1, 1, 1, f.elem);
        arena_values(&arena, 1, h, d_out, f.elem);
        arena_values(&arena, 1, d_in, h, f.elem);
    }
    if (arena.overflow)
        f.overflow = true;
    else
        nb_fp_storage(&f, 1, arena.bytes);
    return nb_fp_end(&f, bytes);
}

static bool static_graph_footprint(const nb_train_config *cfg, int64_t *bytes) {
    return nb_static_graph_footprint(cfg, false, bytes);
}

const nb_variant nb_variant_static_graph = {
    .name = "static-graph",
    .description = "the TensorFlow contrast: graph built once, compiled (fused, memory-planned), replayed",
    .default_lr = 1e-6,
    .create = static_graph_create,
    .step = static_graph_step,
    .destroy = static_graph_destroy,
    .loss_and_grad = static_graph_loss_and_grad,
    .grad_entries = static_graph_grad_entries,
    .footprint = static_graph_footprint,
};
