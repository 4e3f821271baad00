/* tests/test_graph.c — the static graph (src/graph/ and the static-graph variant): the dynamic
 * autograd engine's bits, op by op and over whole training runs on every kernel and dtype;
 * fused plans equal unfused ones; the memory plan's figures and soundness; feeding; errors;
 * the dump; and no allocation by nabla's own code in replayed steps (malloc and its relatives
 * are wrapped at link time for this suite only, tests/CMakeLists.txt). */
#include <math.h>
#include <unistd.h>

#include "malloc_count.h"
#include "test_util.h"

#include "autograd/autograd.h"
#include "graph/graph_impl.h"
#include "tensor/runtime.h"
#include "variants/static_graph.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static const int64_t SEED_DIMS[4] = {64, 1000, 100, 10};
static const int64_t ODD_DIMS[4] = {7, 13, 5, 3};
static const int64_t TINY_DIMS[4] = {1, 3, 8, 1};

/* Same dtype, shape and bytes (NaN payloads and signed zeros included). */
static bool same_bits(const nb_tensor *a, const nb_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || !nb_tensor_same_shape(a, b) || !nb_tensor_is_contiguous(a) ||
        !nb_tensor_is_contiguous(b))
        return false;
    return memcmp(nb_tensor_data(a), nb_tensor_data(b), (size_t)nb_tensor_numel(a) * nb_dtype_size(a->dtype)) == 0;
}

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static nb_train_config config(const char *variant, nb_dtype dt, const int64_t *dims, uint64_t seed) {
    nb_train_config cfg;
    nb_train_config_default(&cfg);
    cfg.variant = variant;
    cfg.dtype = dt;
    cfg.seed = seed;
    cfg.batch = dims[0];
    cfg.d_in = dims[1];
    cfg.hidden = dims[2];
    cfg.d_out = dims[3];
    return cfg;
}

static void use_kernel(const char *name, int threads) {
    nb_runtime_set_kernel(nb_kernel_find(name));
    nb_runtime_set_threads(threads);
}

/* Trains the autograd and the static-graph variants side by side for `steps` and asserts
 * every loss, the final parameters and the last gradients are bit for bit the same. */
static void compare_with_autograd(const char *kernel, int threads, nb_dtype dt, const int64_t *dims, uint64_t seed,
                                  int64_t steps) {
    use_kernel(kernel, threads);
    nb_train_config ca = config("autograd", dt, dims, seed), cs = config("static-graph", dt, dims, seed);
    void *sa = NULL, *ss = NULL;
    CU_ASSERT_EQUAL_FATAL(nb_variant_autograd.create(&ca, 1e-6, &sa), NB_OK);
    CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cs, 1e-6, &ss), NB_OK);
    int64_t first_bad = -1;
    double la = 0, ls = 0;
    for (int64_t t = 0; t < steps; t++) {
        CU_ASSERT_EQUAL_FATAL(nb_variant_autograd.step(sa, t, &la), NB_OK);
        CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.step(ss, t, &ls), NB_OK);
        if (!same_double(la, ls) && first_bad < 0) {
            first_bad = t;
            FAILF("%s x%d %s %lldx%lldx%lldx%lld: step %lld loss autograd %.17g, static graph %.17g", kernel, threads,
                  nb_dtype_name(dt), (long long)dims[0], (long long)dims[1], (long long)dims[2], (long long)dims[3],
                  (long long)t, la, ls);
        }
    }
    CU_ASSERT_TRUE(isfinite(la) && la > 0);
    nb_grad_entry ea[NB_MAX_GRAD_ENTRIES], es[NB_MAX_GRAD_ENTRIES];
    int na = nb_variant_autograd.grad_entries(sa, ea), ns = nb_variant_static_graph.grad_entries(ss, es);
    CU_ASSERT_EQUAL_FATAL(na, ns);
    for (int i = 0; i < na; i++) {
        CU_ASSERT_STRING_EQUAL(ea[i].name, es[i].name);
        if (!same_bits(ea[i].value, es[i].value))
            FAILF("%s %s: final %s differs", kernel, nb_dtype_name(dt), ea[i].name);
        if ((ea[i].grad != NULL) != (es[i].grad != NULL))
            FAILF("%s: one variant has a gradient, not the other", ea[i].name);
        else if (ea[i].grad && !same_bits(ea[i].grad, es[i].grad))
            FAILF("%s %s: last gradient of %s differs", kernel, nb_dtype_name(dt), ea[i].name);
    }
    nb_variant_autograd.destroy(sa);
    nb_variant_static_graph.destroy(ss);
}

/* ---- the variant against autograd ------------------------------------------------------------------ */

static void test_variant_bits_match_autograd(void) {
    for (int k = 0; k < nb_kernel_count(); k++) {
        const char *kernel = nb_kernel_at(k)->name;
        bool slow = !strcmp(kernel, "naive");
        for (int d = 0; d < 2; d++) {
            nb_dtype dt = d ? NB_F64 : NB_F32;
            compare_with_autograd(kernel, 1, dt, SEED_DIMS, 0, slow ? 6 : 120);
            compare_with_autograd(kernel, 1, dt, ODD_DIMS, 42, 60);
            compare_with_autograd(kernel, 1, dt, TINY_DIMS, 4294967301ull, 20);
            /* two threads: the kernels' and the elementwise loops' parallel paths */
            compare_with_autograd(kernel, 2, dt, SEED_DIMS, 1, slow ? 3 : 40);
        }
    }
    nb_runtime_set_kernel(NULL);
}

/* loss_and_grad with the input's gradient (how nabla verify calls it), against autograd's. */
static void test_gradient_check_entries_match_autograd(void) {
    use_kernel("blocked", 1);
    for (int d = 0; d < 2; d++) {
        nb_train_config ca = config("autograd", d ? NB_F64 : NB_F32, ODD_DIMS, 7), cs = ca;
        cs.variant = "static-graph";
        ca.grad_check = cs.grad_check = true;
        void *sa = NULL, *ss = NULL;
        CU_ASSERT_EQUAL_FATAL(nb_variant_autograd.create(&ca, 1e-6, &sa), NB_OK);
        CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cs, 1e-6, &ss), NB_OK);
        nb_grad_entry ea[NB_MAX_GRAD_ENTRIES], es[NB_MAX_GRAD_ENTRIES];
        int n = nb_variant_autograd.grad_entries(sa, ea);
        CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.grad_entries(ss, es), n);
        /* perturb x in place, as the checker does, in both: the plan must read the new value */
        int64_t zero[2] = {0, 0};
        nb_tensor_set(ea[0].value, zero, 0.75);
        nb_tensor_set(es[0].value, zero, 0.75);
        for (int want = 0; want < 2; want++) {
            double la, ls;
            CU_ASSERT_EQUAL(nb_variant_autograd.loss_and_grad(sa, want, &la), NB_OK);
            CU_ASSERT_EQUAL(nb_variant_static_graph.loss_and_grad(ss, want, &ls), NB_OK);
            if (!same_double(la, ls)) FAILF("loss_and_grad(%d): %.17g against %.17g", want, la, ls);
        }
        for (int i = 0; i < n; i++) {
            CU_ASSERT_STRING_EQUAL(ea[i].name, es[i].name);
            CU_ASSERT_EQUAL(ea[i].grad == NULL, es[i].grad == NULL);
            if (ea[i].grad && !same_bits(ea[i].grad, es[i].grad)) FAILF("gradient of %s differs", ea[i].name);
        }
        CU_ASSERT_PTR_NOT_NULL(es[0].grad); /* x's gradient exists when created for checks */
        nb_variant_autograd.destroy(sa);
        nb_variant_static_graph.destroy(ss);
    }
    nb_runtime_set_kernel(NULL);
}

/* Every combination of fusion and buffer reuse gives the same bits; the fused plan has fewer
 * instructions and the reusing plan fewer bytes. */
static void test_fusion_and_reuse_do_not_change_bits(void) {
    use_kernel("blas", 1);
    for (int d = 0; d < 2; d++) {
        nb_train_config cfg = config("static-graph", d ? NB_F64 : NB_F32, SEED_DIMS, 3);
        void *s[4] = {0};
        for (int v = 0; v < 4; v++)
            CU_ASSERT_EQUAL_FATAL(nb_static_graph_create(&cfg, 1e-6, v & 1, v & 2, &s[v]), NB_OK);
        for (int64_t t = 0; t < 25; t++) {
            double l[4];
            for (int v = 0; v < 4; v++) CU_ASSERT_EQUAL(nb_variant_static_graph.step(s[v], t, &l[v]), NB_OK);
            for (int v = 1; v < 4; v++)
                if (!same_double(l[0], l[v]))
                    FAILF("step %lld: plan %d gives %.17g, the fused one %.17g", (long long)t, v, l[v], l[0]);
        }
        nb_grad_entry e[4][NB_MAX_GRAD_ENTRIES];
        for (int v = 0; v < 4; v++) nb_variant_static_graph.grad_entries(s[v], e[v]);
        for (int v = 1; v < 4; v++)
            for (int i = 2; i < 4; i++) {
                CU_ASSERT_TRUE(same_bits(e[0][i].value, e[v][i].value));
                CU_ASSERT_TRUE(same_bits(e[0][i].grad, e[v][i].grad));
            }
        nb_plan_info fused = nb_plan_describe(nb_static_graph_plan(s[0]));
        nb_plan_info unfused = nb_plan_describe(nb_static_graph_plan(s[1]));
        nb_plan_info no_reuse = nb_plan_describe(nb_static_graph_plan(s[2]));
        CU_ASSERT_EQUAL(fused.fused, 5); /* clamp+mask, the loss, the mask's backward, two updates */
        CU_ASSERT_EQUAL(fused.steps, 10);
        CU_ASSERT_EQUAL(unfused.fused, 0);
        CU_ASSERT_TRUE(unfused.steps > 20);
        CU_ASSERT_EQUAL(fused.gemms, 5);
        CU_ASSERT_EQUAL(unfused.gemms, 5);
        CU_ASSERT_TRUE(fused.memory.planned_bytes < no_reuse.memory.planned_bytes);
        CU_ASSERT_EQUAL(no_reuse.memory.planned_bytes, no_reuse.memory.per_value_bytes);
        for (int v = 0; v < 4; v++) {
            CU_ASSERT_EQUAL(nb_plan_check_memory(nb_static_graph_plan(s[v])), NB_OK);
            nb_variant_static_graph.destroy(s[v]);
        }
    }
    nb_runtime_set_kernel(NULL);
}

/* ---- allocations --------------------------------------------------------------------------------- */

static void test_replayed_steps_allocate_nothing(void) {
    /* the counter works: a dynamic step allocates (tensors, nodes, its graph) */
    use_kernel("blas", 1);
    nb_train_config ca = config("autograd", NB_F32, ODD_DIMS, 0);
    void *sa = NULL;
    CU_ASSERT_EQUAL_FATAL(nb_variant_autograd.create(&ca, 1e-6, &sa), NB_OK);
    double loss;
    nb_test_count_begin();
    CU_ASSERT_EQUAL(nb_variant_autograd.step(sa, 0, &loss), NB_OK);
    long dynamic = nb_test_count_end();
    CU_ASSERT_TRUE(dynamic > 10);
    nb_variant_autograd.destroy(sa);

    for (int k = 0; k < nb_kernel_count(); k++) {
        const char *kernel = nb_kernel_at(k)->name;
        bool slow = !strcmp(kernel, "naive");
        for (int threads = 1; threads <= 2; threads++)
            for (int d = 0; d < 2; d++) {
                use_kernel(kernel, threads);
                nb_train_config cfg = config("static-graph", d ? NB_F64 : NB_F32, SEED_DIMS, 0);
                cfg.grad_check = true; /* x's gradient too: one GEMM more */
                void *s = NULL;
                CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cfg, 1e-6, &s), NB_OK);
                /* the first calls may grow the kernels' packing buffers, once */
                CU_ASSERT_EQUAL(nb_variant_static_graph.loss_and_grad(s, true, &loss), NB_OK);
                CU_ASSERT_EQUAL(nb_variant_static_graph.step(s, 0, &loss), NB_OK);
                int64_t steps = slow ? 3 : 30;
                nb_test_count_begin();
                for (int64_t t = 1; t <= steps; t++) CU_ASSERT_EQUAL(nb_variant_static_graph.step(s, t, &loss), NB_OK);
                CU_ASSERT_EQUAL(nb_variant_static_graph.loss_and_grad(s, true, &loss), NB_OK);
                CU_ASSERT_EQUAL(nb_variant_static_graph.loss_and_grad(s, false, &loss), NB_OK);
                long counted = nb_test_count_end();
                if (counted != 0)
                    FAILF("%s x%d %s: %ld allocations in %lld replayed steps", kernel, threads, d ? "f64" : "f32",
                          counted, (long long)steps);
                CU_ASSERT_TRUE(isfinite(loss));
                nb_variant_static_graph.destroy(s);
            }
    }
    nb_runtime_set_kernel(NULL);
    nb_runtime_set_threads(1);
}

/* ---- the fused loss keeps the chain's bits ------------------------------------------------------------ */

/* loss = sum((a - b)^2) over n elements through the graph (fused into one pass and not) against
 * the tensor layer's sub, pow and sum: one block, several, and more than NB_SUM_MAX_BLOCKS
 * blocks of 4096 (where the block grows), on one thread and two. */
static void test_fused_loss_matches_the_chain(void) {
    static const int64_t sizes[] = {1, 4096 * 3 + 17, 4096 * 1024 + 4099};
    use_kernel("naive", 1);
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
        for (int d = 0; d < 2; d++) {
            nb_dtype dt = d ? NB_F64 : NB_F32;
            int64_t n = sizes[z];
            nb_rng rng;
            nb_rng_seed(&rng, 11 + z);
            nb_tensor *a = nb_tensor_randn(&rng, dt, 1, &n), *b = nb_tensor_randn(&rng, dt, 1, &n);
            nb_tensor *diff = nb_sub(a, b);
            nb_tensor *sq = nb_pow_scalar(diff, 2.0);
            nb_tensor *want = nb_sum(sq);
            nb_tensor *grad = nb_mul_scalar(diff, 2.0); /* d loss / d a: 2 (a - b) */
            CU_ASSERT_PTR_NOT_NULL_FATAL(want);
            nb_graph *g = nb_graph_new(dt);
            nb_gnode *pa = nb_graph_placeholder(g, "a", 1, &n), *pb = nb_graph_placeholder(g, "b", 1, &n);
            nb_gnode *loss = nb_graph_sum(nb_graph_pow(nb_graph_sub(pa, pb), 2.0));
            for (int fuse = 0; fuse < 2; fuse++) {
                nb_plan *p =
                    nb_graph_compile(g, loss, NULL, 0, &(nb_graph_options){.wrt = &pa, .nwrt = 1, .no_fusion = !fuse});
                CU_ASSERT_PTR_NOT_NULL_FATAL(p);
                CU_ASSERT_EQUAL(nb_plan_describe(p).fused, fuse ? 1 : 0);
                for (int threads = 1; threads <= 2; threads++) {
                    nb_runtime_set_threads(threads);
                    double got, expect;
                    CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_GRADIENTS, (nb_feed[]){{pa, a}, {pb, b}}, 2, &got), NB_OK);
                    nb_tensor_item(want, &expect);
                    if (!same_double(got, expect))
                        FAILF("n=%lld %s fused=%d threads=%d: %.17g, the tensor layer %.17g", (long long)n,
                              nb_dtype_name(dt), fuse, threads, got, expect);
                    CU_ASSERT_TRUE(same_bits(nb_plan_grad(p, pa), grad));
                }
                nb_plan_free(p);
            }
            nb_graph_free(g);
            nb_tensor *all[] = {a, b, diff, sq, want, grad};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nb_tensor_free(all[i]);
        }
    nb_runtime_set_kernel(NULL);
    nb_runtime_set_threads(1);
}

/* ---- every op against the dynamic engine ------------------------------------------------------------ */

/* An expression built in both engines at once: the graph node and the autograd var. */
typedef struct ex {
    nb_gnode *g;
    nb_var *v;
} ex;

static ex ex_mm(ex a, ex b) { return (ex){nb_graph_mm(a.g, b.g), nb_ag_mm(a.v, b.v)}; }
static ex ex_t(ex a) { return (ex){nb_graph_t(a.g), nb_ag_t(a.v)}; }
static ex ex_add(ex a, ex b) { return (ex){nb_graph_add(a.g, b.g), nb_ag_add(a.v, b.v)}; }
static ex ex_sub(ex a, ex b) { return (ex){nb_graph_sub(a.g, b.g), nb_ag_sub(a.v, b.v)}; }
static ex ex_mul(ex a, ex b) { return (ex){nb_graph_mul(a.g, b.g), nb_ag_mul(a.v, b.v)}; }
static ex ex_add_s(ex a, double s) { return (ex){nb_graph_add_scalar(a.g, s), nb_ag_add_scalar(a.v, s)}; }
static ex ex_mul_s(ex a, double s) { return (ex){nb_graph_mul_scalar(a.g, s), nb_ag_mul_scalar(a.v, s)}; }
static ex ex_pow(ex a, double e) { return (ex){nb_graph_pow(a.g, e), nb_ag_pow(a.v, e)}; }
static ex ex_clamp(ex a, double m) { return (ex){nb_graph_clamp_min(a.g, m), nb_ag_clamp_min(a.v, m)}; }
static ex ex_relu(ex a) { return (ex){nb_graph_relu(a.g), nb_ag_relu(a.v)}; }
static ex ex_sum(ex a) { return (ex){nb_graph_sum(a.g), nb_ag_sum(a.v)}; }
static ex ex_mean(ex a) { return (ex){nb_graph_mean(a.g), nb_ag_mean(a.v)}; }
static ex ex_mse(ex a, ex b, nb_reduction r) {
    return (ex){nb_graph_mse_loss(a.g, b.g, r), nb_ag_mse_loss(a.v, b.v, r)};
}

enum { PARAM, DATA, DATA_GRAD }; /* a parameter; a placeholder; a placeholder whose gradient is kept */
#define MAX_IN 4

typedef struct op_case {
    const char *name;
    int n;
    int kind[MAX_IN];
    int ndim[MAX_IN];
    int64_t shape[MAX_IN][2];
    bool zeros; /* put exact zeros (+0 and -0) in input 0: the kinks of relu and clamp */
    ex (*build)(const ex *in);
} op_case;

static ex build_two_layer(const ex *in) { /* sum((relu(x @ w1) @ w2 - y)^2), fused */
    return ex_sum(ex_pow(ex_sub(ex_mm(ex_relu(ex_mm(in[0], in[1])), in[2]), in[3]), 2.0));
}
static ex build_mse_sum(const ex *in) { return ex_mse(ex_mm(in[0], in[1]), in[2], NB_REDUCTION_SUM); }
static ex build_mse_mean_bias(const ex *in) {
    return ex_mse(ex_add(ex_mm(in[0], ex_t(in[1])), in[2]), in[3], NB_REDUCTION_MEAN);
}
static ex build_mse_none(const ex *in) { return ex_sum(ex_mse(in[0], in[1], NB_REDUCTION_NONE)); }
static ex build_fan_out(const ex *in) { return ex_sum(ex_mul(ex_mul(in[0], in[0]), ex_add_s(in[0], 0.25))); }
static ex build_scalars(const ex *in) { return ex_mean(ex_clamp(ex_pow(ex_mul_s(ex_t(in[0]), 0.7), 3.0), 0.3)); }
static ex build_view_sum(const ex *in) { return ex_add(ex_sum(ex_t(in[0])), ex_mean(ex_mul(in[0], in[1]))); }
static ex build_pow0_bcast(const ex *in) { return ex_sum(ex_mul(ex_pow(in[0], 0.0), ex_sub(in[0], in[1]))); }
static ex build_kinks(const ex *in) {
    return ex_add(ex_sum(ex_mul(ex_relu(in[0]), in[1])), ex_sum(ex_mul(ex_clamp(in[0], 0.0), in[2])));
}
static ex build_square_mms(const ex *in) {
    /* a @ a: two GEMM contributions to da (the second must accumulate); add_s(a)'s (4, 4)
     * value dies at a GEMM whose output has its shape (a GEMM must not write in place) */
    return ex_sum(ex_mul(ex_mm(in[0], in[0]), ex_mm(ex_add_s(in[0], 0.5), in[1])));
}
static ex build_self_transpose(const ex *in) {
    /* b + b^T: b dies here, but the output must not be written over it while b^T is read */
    ex b = ex_mul_s(in[0], 2.0);
    return ex_sum(ex_mul(ex_add(ex_t(b), b), in[1]));
}
static ex build_unfusable_loss(const ex *in) { /* sub used twice: the loss cannot fuse */
    ex d = ex_sub(in[0], in[1]);
    return ex_sum(ex_add(ex_pow(d, 2.0), d));
}

/* a braced initialiser in a macro, kept on one line */
// clang-format off
#define SH(a, b) {a, b}
// clang-format on
static const op_case op_cases[] = {
    {"two-layer net",
     4,
     {DATA_GRAD, PARAM, PARAM, DATA},
     {2, 2, 2, 2},
     {SH(5, 7), SH(7, 6), SH(6, 3), SH(5, 3)},
     true,
     build_two_layer},
    {"mse sum, x's gradient",
     3,
     {DATA_GRAD, PARAM, DATA},
     {2, 2, 2},
     {SH(4, 6), SH(6, 3), SH(4, 3)},
     false,
     build_mse_sum},
    {"mse mean, t, bias",
     4,
     {DATA, PARAM, PARAM, DATA},
     {2, 2, 1, 2},
     {SH(5, 7), SH(3, 7), SH(3, 0), SH(5, 3)},
     false,
     build_mse_mean_bias},
    {"mse none", 2, {PARAM, PARAM}, {2, 2}, {SH(3, 4), SH(3, 4)}, false, build_mse_none},
    {"fan-out and mul", 1, {PARAM}, {2}, {SH(4, 5)}, false, build_fan_out},
    {"scalars, pow 3, clamp, mean of a view", 1, {PARAM}, {2}, {SH(5, 3)}, false, build_scalars},
    {"sum of a view, broadcast mul", 2, {PARAM, PARAM}, {2, 2}, {SH(3, 4), SH(1, 4)}, false, build_view_sum},
    {"pow 0, broadcast sub", 2, {PARAM, PARAM}, {2, 2}, {SH(4, 4), SH(1, 4)}, false, build_pow0_bcast},
    {"relu and clamp at their kinks",
     3,
     {PARAM, DATA, DATA},
     {2, 2, 2},
     {SH(6, 5), SH(6, 5), SH(6, 5)},
     true,
     build_kinks},
    {"square GEMMs, a @ a", 2, {PARAM, PARAM}, {2, 2}, {SH(4, 4), SH(4, 4)}, false, build_square_mms},
    {"b + b^T of a temporary", 2, {PARAM, PARAM}, {2, 2}, {SH(5, 5), SH(5, 5)}, false, build_self_transpose},
    {"a loss that cannot fuse", 2, {PARAM, DATA}, {2, 2}, {SH(3, 3), SH(3, 3)}, false, build_unfusable_loss},
};

/* One case in one dtype and fusion setting: the loss, every kept gradient and (after an SGD
 * step) every parameter, bit for bit against autograd plus `w -= lr * w.grad`. */
static void run_op_case(const op_case *c, nb_dtype dt, bool fuse) {
    const double lr = 0.01;
    nb_rng rng;
    nb_rng_seed(&rng, 5);
    nb_graph *g = nb_graph_new(dt);
    ex in[MAX_IN];
    nb_tensor *values[MAX_IN] = {0}, *graph_params[MAX_IN] = {0};
    nb_gnode *params[MAX_IN], *wrt[MAX_IN];
    int nparams = 0, nwrt = 0;
    nb_feed feeds[MAX_IN];
    int nfeeds = 0;
    nb_scope *scope = nb_scope_begin();
    for (int i = 0; i < c->n; i++) {
        values[i] = nb_tensor_randn(&rng, dt, c->ndim[i], c->shape[i]);
        if (c->zeros && i == 0)
            for (int64_t j = 0; j < nb_tensor_numel(values[i]); j += 3) {
                int64_t idx[2] = {j / values[i]->shape[values[i]->ndim - 1], j % values[i]->shape[values[i]->ndim - 1]};
                nb_tensor_set(values[i], idx, (j / 3) % 2 ? -0.0 : 0.0);
            }
        bool grad = c->kind[i] != DATA;
        in[i].v = nb_var_new(nb_tensor_clone(values[i]), grad);
        if (grad) in[i].v->grad = nb_tensor_zeros(dt, c->ndim[i], c->shape[i]);
        nb_var_retain(in[i].v); /* outlives the scope */
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        if (c->kind[i] == PARAM) {
            graph_params[i] = nb_tensor_clone(values[i]);
            in[i].g = params[nparams++] = nb_graph_parameter(g, name, graph_params[i]);
        } else {
            in[i].g = nb_graph_placeholder(g, name, c->ndim[i], c->shape[i]);
            feeds[nfeeds++] = (nb_feed){in[i].g, values[i]};
            if (c->kind[i] == DATA_GRAD) wrt[nwrt++] = in[i].g;
        }
    }
    ex loss = c->build(in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(loss.g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(loss.v);
    nb_graph_options opts = {.update = NB_GRAPH_UPDATE_SGD, .lr = lr, .wrt = wrt, .nwrt = nwrt, .no_fusion = !fuse};
    nb_plan *p = nb_graph_compile(g, loss.g, params, nparams, &opts);
    if (!p) FAILF("%s: compile: %s", c->name, nb_last_error());
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(nb_plan_check_memory(p), NB_OK);

    /* dynamic: the loss, backward, the update under no_grad */
    double want, got_forward, got;
    CU_ASSERT_EQUAL(nb_tensor_item(loss.v->value, &want), NB_OK);
    CU_ASSERT_EQUAL_FATAL(nb_backward(loss.v), NB_OK);
    CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_FORWARD, feeds, nfeeds, &got_forward), NB_OK);
    CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_STEP, NULL, 0, &got), NB_OK);
    const char *label = fuse ? "fused" : "unfused";
    if (!same_double(want, got) || !same_double(want, got_forward))
        FAILF("%s %s %s: loss %.17g (forward only %.17g), autograd %.17g", c->name, nb_dtype_name(dt), label, got,
              got_forward, want);
    for (int i = 0; i < c->n; i++) {
        if (c->kind[i] == DATA) {
            nb_clear_error();
            CU_ASSERT_PTR_NULL(nb_plan_grad(p, in[i].g));
            continue;
        }
        if (!same_bits(nb_plan_grad(p, in[i].g), in[i].v->grad))
            FAILF("%s %s %s: the gradient of input %d differs from autograd's", c->name, nb_dtype_name(dt), label, i);
        if (c->kind[i] == PARAM) {
            CU_ASSERT_EQUAL(nb_sub_scaled_(in[i].v->value, lr, in[i].v->grad), NB_OK);
            if (!same_bits(graph_params[i], in[i].v->value))
                FAILF("%s %s %s: input %d after the SGD step differs", c->name, nb_dtype_name(dt), label, i);
        }
    }
    nb_scope_end(scope);
    for (int i = 0; i < c->n; i++) {
        nb_var_release(in[i].v);
        nb_tensor_free(values[i]);
        nb_tensor_free(graph_params[i]);
    }
    nb_graph_free(g); /* before the plan: the plan holds the graph */
    CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_GRADIENTS, NULL, 0, &got), NB_OK);
    nb_plan_free(p);
}

static void test_ops_match_autograd(void) {
    use_kernel("blas", 1);
    for (size_t i = 0; i < sizeof op_cases / sizeof op_cases[0]; i++)
        for (int d = 0; d < 2; d++)
            for (int fuse = 0; fuse < 2; fuse++) run_op_case(&op_cases[i], d ? NB_F64 : NB_F32, fuse);
    nb_runtime_set_kernel(NULL);
}

/* ---- the memory plan ------------------------------------------------------------------------------ */

static int value_named(const nb_plan *p, const char *name) {
    for (int i = 0; i < p->nvalues; i++)
        if (!strcmp(p->values[i].name, name)) return i;
    return -1;
}

static void test_memory_plan(void) {
    for (int d = 0; d < 2; d++) {
        const size_t es = d ? 8 : 4;
        nb_train_config cfg = config("static-graph", d ? NB_F64 : NB_F32, SEED_DIMS, 0);
        void *s = NULL;
        CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cfg, 1e-6, &s), NB_OK);
        nb_plan *p = (nb_plan *)nb_static_graph_plan(s);
        nb_plan_memory m = nb_plan_describe(p).memory;
        /* the peak is at dw1's GEMM: dw1, dh (its input), dw2 and the loss (kept), each rounded
         * up to 64 bytes; nothing else is alive then */
        size_t align = NB_GRAPH_ALIGN, up = align - 1;
        size_t dw1 = (1000 * 100 * es + up) / align * align, dh = (64 * 100 * es + up) / align * align;
        size_t dw2 = (100 * 10 * es + up) / align * align, yp = (64 * 10 * es + up) / align * align;
        CU_ASSERT_EQUAL(m.planned_bytes, dw1 + dh + dw2 + align);
        CU_ASSERT_EQUAL(m.input_bytes, (64 * 1000 * es + up) / align * align + yp);
        /* one buffer each: h, h_relu, dh_relu, dh (N, H); y_pred, dy_pred; the mask; loss; dw1; dw2 */
        CU_ASSERT_EQUAL(m.per_value_bytes, 4 * dh + 2 * yp + (64 * 100 + up) / align * align + align + dw1 + dw2);
        CU_ASSERT_EQUAL(m.values, 10);
        CU_ASSERT_EQUAL(m.arena_bytes, m.input_bytes + m.planned_bytes);
        /* in place: h_relu over h, dy_pred over y_pred, dh over dh_relu */
        int h = value_named(p, "h"), hr = value_named(p, "h_relu"), dhr = value_named(p, "dh_relu"),
            dhv = value_named(p, "dh");
        CU_ASSERT_TRUE(h >= 0 && hr >= 0 && dhr >= 0 && dhv >= 0);
        CU_ASSERT_EQUAL(p->values[hr].took_over, h);
        CU_ASSERT_EQUAL(p->values[dhv].took_over, dhr);
        CU_ASSERT_EQUAL(p->values[value_named(p, "dy_pred")].took_over, value_named(p, "y_pred"));
        CU_ASSERT_EQUAL(nb_plan_check_memory(p), NB_OK);
        /* the checker is not vacuous: move dh onto dw2, both alive at dw1's GEMM */
        int dw2v = value_named(p, "dw2");
        size_t saved = p->values[dhv].offset;
        p->values[dhv].offset = p->values[dw2v].offset;
        CU_ASSERT_EQUAL(nb_plan_check_memory(p), NB_ERR_ARG);
        CU_ASSERT_TRUE(nb_test_error_mentions("share bytes while both live"));
        p->values[dhv].offset = saved;
        nb_variant_static_graph.destroy(s);
    }
}

/* ---- feeding new data every step ---------------------------------------------------------------------- */

static void test_feeding_new_data(void) {
    use_kernel("blocked", 1);
    const int64_t n = 6, d_in = 9, h = 4, d_out = 2;
    const double lr = 1e-3;
    nb_rng rng;
    nb_rng_seed(&rng, 99);
    nb_tensor *w1 = nb_tensor_randn(&rng, NB_F32, 2, (int64_t[]){d_in, h});
    nb_tensor *w2 = nb_tensor_randn(&rng, NB_F32, 2, (int64_t[]){h, d_out});
    nb_var *v1 = nb_var_new(nb_tensor_clone(w1), true), *v2 = nb_var_new(nb_tensor_clone(w2), true);
    v1->grad = nb_tensor_zeros(NB_F32, 2, w1->shape);
    v2->grad = nb_tensor_zeros(NB_F32, 2, w2->shape);
    nb_graph *g = nb_graph_new(NB_F32);
    nb_gnode *x = nb_graph_placeholder(g, "x", 2, (int64_t[]){n, d_in}),
             *y = nb_graph_placeholder(g, "y", 2, (int64_t[]){n, d_out});
    nb_gnode *g1 = nb_graph_parameter(g, "w1", w1), *g2 = nb_graph_parameter(g, "w2", w2);
    nb_gnode *loss =
        nb_graph_sum(nb_graph_pow(nb_graph_sub(nb_graph_mm(nb_graph_relu(nb_graph_mm(x, g1)), g2), y), 2.0));
    nb_plan *p = nb_graph_compile(g, loss, (nb_gnode *[]){g1, g2}, 2,
                                  &(nb_graph_options){.update = NB_GRAPH_UPDATE_SGD, .lr = lr});
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int t = 0; t < 8; t++) {
        nb_tensor *xt = nb_tensor_randn(&rng, NB_F32, 2, (int64_t[]){n, d_in});
        nb_tensor *yt = nb_tensor_randn(&rng, NB_F32, 2, (int64_t[]){n, d_out});
        nb_scope *s = nb_scope_begin();
        nb_var *vx = nb_var_new(nb_tensor_clone(xt), false), *vy = nb_var_new(nb_tensor_clone(yt), false);
        nb_var_zero_grad(v1);
        nb_var_zero_grad(v2);
        nb_var *l = nb_ag_sum(nb_ag_pow(nb_ag_sub(nb_ag_mm(nb_ag_relu(nb_ag_mm(vx, v1)), v2), vy), 2.0));
        double want, got;
        nb_tensor_item(l->value, &want);
        CU_ASSERT_EQUAL(nb_backward(l), NB_OK);
        nb_sub_scaled_(v1->value, lr, v1->grad);
        nb_sub_scaled_(v2->value, lr, v2->grad);
        nb_scope_end(s);
        if (t >= 2) nb_test_count_begin(); /* feeding copies: still no allocation */
        CU_ASSERT_EQUAL(nb_plan_run_step(p, (nb_feed[]){{x, xt}, {y, yt}}, 2, &got), NB_OK);
        if (t >= 2) CU_ASSERT_EQUAL(nb_test_count_end(), 0);
        if (!same_double(want, got)) FAILF("step %d with new data: loss %.17g, autograd %.17g", t, got, want);
        nb_tensor_free(xt);
        nb_tensor_free(yt);
    }
    CU_ASSERT_TRUE(same_bits(w1, v1->value));
    CU_ASSERT_TRUE(same_bits(w2, v2->value));
    /* the placeholder keeps the last value fed: a run without feeds sees it */
    nb_tensor *input = nb_plan_input(p, x);
    CU_ASSERT_PTR_NOT_NULL(input);
    nb_plan_free(p);
    nb_graph_free(g);
    nb_var_release(v1);
    nb_var_release(v2);
    nb_tensor_free(w1);
    nb_tensor_free(w2);
    nb_runtime_set_kernel(NULL);
}

/* ---- errors ----------------------------------------------------------------------------------------- */

static void test_errors(void) {
    nb_graph *g = nb_graph_new(NB_F32), *other = nb_graph_new(NB_F32);
    nb_gnode *a = nb_graph_placeholder(g, "a", 2, (int64_t[]){2, 3});
    nb_gnode *b = nb_graph_placeholder(g, "b", 2, (int64_t[]){2, 3});
    CU_ASSERT_PTR_NULL(nb_graph_mm(a, b));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_SHAPE);
    CU_ASSERT_TRUE(nb_test_error_mentions("graph mm: a (2, 3) times b (2, 3)"));
    /* NULL flows through an expression, the first message stays */
    CU_ASSERT_PTR_NULL(nb_graph_sum(nb_graph_relu(nb_graph_mm(a, b))));
    CU_ASSERT_TRUE(nb_test_error_mentions("graph mm"));
    CU_ASSERT_PTR_NULL(nb_graph_add(a, nb_graph_placeholder(g, "c", 2, (int64_t[]){3, 2})));
    CU_ASSERT_TRUE(nb_test_error_mentions("do not broadcast"));
    nb_gnode *foreign = nb_graph_placeholder(other, "f", 2, (int64_t[]){2, 3});
    CU_ASSERT_PTR_NULL(nb_graph_add(a, foreign));
    CU_ASSERT_TRUE(nb_test_error_mentions("different graphs"));
    CU_ASSERT_PTR_NULL(nb_graph_placeholder(g, "bad", 2, (int64_t[]){2, 0}));
    CU_ASSERT_TRUE(nb_test_error_mentions("is not >= 1"));
    CU_ASSERT_PTR_NULL(nb_graph_pow(a, NAN));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_NUMERIC);
    CU_ASSERT_PTR_NULL(nb_graph_t(nb_graph_sum(a)));
    CU_ASSERT_TRUE(nb_test_error_mentions("not rank 2"));
    CU_ASSERT_PTR_NULL(nb_graph_mse_loss(a, nb_graph_t(b), NB_REDUCTION_SUM));
    CU_ASSERT_TRUE(nb_test_error_mentions("differ in shape"));

    nb_tensor *w64 = nb_tensor_zeros(NB_F64, 2, (int64_t[]){3, 2});
    CU_ASSERT_PTR_NULL(nb_graph_parameter(g, "w", w64));
    CU_ASSERT_TRUE(nb_test_error_mentions("not of the graph's dtype f32"));
    nb_tensor *w = nb_tensor_zeros(NB_F32, 2, (int64_t[]){3, 2}), *wt = nb_tensor_t(w);
    CU_ASSERT_PTR_NULL(nb_graph_parameter(g, "wt", wt));
    CU_ASSERT_TRUE(nb_test_error_mentions("not contiguous"));
    nb_gnode *pw = nb_graph_parameter(g, "w", w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pw);

    nb_gnode *out = nb_graph_mm(a, pw), *loss = nb_graph_sum(out);
    CU_ASSERT_PTR_NULL(nb_graph_compile(g, out, &pw, 1, NULL));
    CU_ASSERT_TRUE(nb_test_error_mentions("must be one element"));
    CU_ASSERT_PTR_NULL(nb_graph_compile(g, loss, &a, 1, NULL));
    CU_ASSERT_TRUE(nb_test_error_mentions("not a parameter"));
    CU_ASSERT_PTR_NULL(nb_graph_compile(g, loss, (nb_gnode *[]){pw, pw}, 2, NULL));
    CU_ASSERT_TRUE(nb_test_error_mentions("listed twice"));
    CU_ASSERT_PTR_NULL(
        nb_graph_compile(g, loss, &pw, 1, &(nb_graph_options){.update = NB_GRAPH_UPDATE_SGD, .lr = NAN}));
    CU_ASSERT_TRUE(nb_test_error_mentions("learning rate"));
    CU_ASSERT_PTR_NULL(nb_graph_compile(g, loss, &pw, 1, &(nb_graph_options){.wrt = &out, .nwrt = 1}));
    CU_ASSERT_TRUE(nb_test_error_mentions("not a placeholder or parameter"));
    CU_ASSERT_PTR_NULL(nb_graph_compile(g, nb_graph_sum(foreign), &pw, 1, NULL));
    CU_ASSERT_TRUE(nb_test_error_mentions("another graph"));

    nb_plan *p = nb_graph_compile(g, loss, &pw, 1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* a bad feed is refused before any placeholder changes */
    nb_tensor *good = nb_tensor_full(NB_F32, 2, (int64_t[]){2, 3}, 7.0),
              *wrong = nb_tensor_zeros(NB_F32, 2, (int64_t[]){3, 2});
    CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_STEP, (nb_feed[]){{a, good}, {b, wrong}}, 2, NULL), NB_ERR_SHAPE);
    CU_ASSERT_TRUE(nb_test_error_mentions("fed to placeholder b"));
    CU_ASSERT_EQUAL(nb_tensor_get(nb_plan_input(p, a), (int64_t[]){0, 0}), 0.0);
    CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_STEP, (nb_feed[]){{pw, good}}, 1, NULL), NB_ERR_ARG);
    CU_ASSERT_TRUE(nb_test_error_mentions("not a placeholder of this plan's graph"));
    CU_ASSERT_EQUAL(nb_plan_run(p, (nb_plan_stage)7, NULL, 0, NULL), NB_ERR_ARG);
    CU_ASSERT_PTR_NULL(nb_plan_grad(p, out));
    CU_ASSERT_TRUE(nb_test_error_mentions("keeps no gradient for mm"));
    CU_ASSERT_PTR_NULL(nb_plan_input(p, foreign));
    CU_ASSERT_PTR_NOT_NULL(nb_plan_grad(p, pw));
    CU_ASSERT_EQUAL(nb_plan_write_dot(p, "/nonexistent-dir/plan.dot"), NB_ERR_IO);
    nb_plan_free(p);
    nb_plan_free(NULL);
    nb_graph_free(NULL);
    nb_graph_free(g);
    nb_graph_free(other);
    nb_tensor *all[] = {w64, w, wt, good, wrong};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nb_tensor_free(all[i]);
}

/* A parameter the loss does not use: its gradient is zeros (as a .grad nothing reached) and
 * the SGD step leaves it as it was. */
static void test_unused_parameter(void) {
    nb_graph *g = nb_graph_new(NB_F64);
    nb_tensor *used = nb_tensor_full(NB_F64, 1, (int64_t[]){3}, 2.0),
              *unused = nb_tensor_full(NB_F64, 1, (int64_t[]){2}, 5.0);
    nb_gnode *u = nb_graph_parameter(g, "used", used), *v = nb_graph_parameter(g, "unused", unused);
    nb_gnode *loss = nb_graph_sum(nb_graph_pow(u, 2.0));
    nb_plan *p = nb_graph_compile(g, loss, (nb_gnode *[]){u, v}, 2,
                                  &(nb_graph_options){.update = NB_GRAPH_UPDATE_SGD, .lr = 0.25});
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    double l;
    CU_ASSERT_EQUAL(nb_plan_run_step(p, NULL, 0, &l), NB_OK);
    CU_ASSERT_EQUAL(l, 12.0);
    const double *du = nb_tensor_data(nb_plan_grad(p, u)), *dv = nb_tensor_data(nb_plan_grad(p, v));
    CU_ASSERT_TRUE(du[0] == 4.0 && du[2] == 4.0 && dv[0] == 0.0 && dv[1] == 0.0);
    const double *w = nb_tensor_data(used), *z = nb_tensor_data(unused);
    CU_ASSERT_TRUE(w[0] == 1.0 && w[1] == 1.0 && z[0] == 5.0 && z[1] == 5.0); /* 2 - 0.25 * 4 */
    nb_plan_free(p);
    nb_graph_free(g);
    nb_tensor_free(used);
    nb_tensor_free(unused);
}

/* ---- the per-thread schedule ------------------------------------------------------------------------ */

/* Graphs big enough that the schedule cuts their products and loops (schedule.c's thresholds),
 * with the shapes that make cutting delicate: transposed reads of temporaries, an op that reads
 * its input three ways, a broadcast, results written in place. in[0] is a placeholder whose
 * gradient is kept; in[1..] are parameters. */
typedef nb_gnode *sched_build_fn(nb_gnode *const *in);
static nb_gnode *sched_two_layer(nb_gnode *const *in) {
    return nb_graph_sum(
        nb_graph_pow(nb_graph_sub(nb_graph_mm(nb_graph_relu(nb_graph_mm(in[0], in[1])), in[2]), in[3]), 2.0));
}
static nb_gnode *sched_views(nb_gnode *const *in) { /* (x @ w1) @ (x @ w1)^T and w2^T read beside it */
    nb_gnode *h = nb_graph_clamp_min(nb_graph_mm(in[0], in[1]), 0.1);
    nb_gnode *gram = nb_graph_mm(h, nb_graph_t(h));
    return nb_graph_add(nb_graph_mean(nb_graph_mul(gram, gram)), nb_graph_sum(nb_graph_mm(nb_graph_t(in[2]), in[2])));
}
static nb_gnode *sched_broadcast(nb_gnode *const *in) { /* a row broadcast over a product, fan-out */
    nb_gnode *h = nb_graph_sub(nb_graph_mm(in[0], in[1]), in[2]);
    return nb_graph_sum(nb_graph_mul(nb_graph_mul(h, h), nb_graph_add_scalar(h, 0.25)));
}

typedef struct sched_case {
    const char *name;
    int n; /* inputs: in[0] a placeholder, the rest parameters */
    int64_t shape[4][2];
    sched_build_fn *build;
} sched_case;

/* A plan of `c` with its own parameters, from seed 9: the same values every call. */
static nb_plan *sched_plan(const sched_case *c, nb_dtype dt, nb_graph **g, nb_tensor **values, nb_gnode **in) {
    nb_rng rng;
    nb_rng_seed(&rng, 9);
    *g = nb_graph_new(dt);
    nb_gnode *params[4];
    for (int i = 0; i < c->n; i++) {
        values[i] = nb_tensor_randn(&rng, dt, 2, c->shape[i]);
        in[i] = i == 0 ? nb_graph_placeholder(*g, "x", 2, c->shape[0]) : nb_graph_parameter(*g, "w", values[i]);
        if (i > 0) params[i - 1] = in[i];
    }
    nb_graph_options opts = {.update = NB_GRAPH_UPDATE_SGD, .lr = 1e-4, .wrt = &in[0], .nwrt = 1};
    nb_plan *p = nb_graph_compile(*g, c->build(in), params, c->n - 1, &opts);
    if (!p) FAILF("%s: compile: %s", c->name, nb_last_error());
    return p;
}

/* Steps run by the schedule on 2, 3 and 5 threads give the losses, gradients and parameters of
 * the same steps run one instruction at a time on one thread, bit for bit, for every kernel that
 * partitions its output (their products are cut) and for blas (its products run whole): under
 * the cost model's splits, and under forced ones (every instruction by rows, by columns, by k,
 * and two seeded mixtures), so every kind of block meets every other. */
static void test_schedule_matches_one_thread(void) {
    static const sched_case cases[] = {
        {"two-layer", 4, {{64, 600}, {600, 100}, {100, 10}, {64, 10}}, sched_two_layer},
        {"views and a gram matrix", 3, {{96, 560}, {560, 72}, {40, 72}}, sched_views},
        {"broadcast row, fan-out", 3, {{80, 150}, {150, 120}, {1, 120}}, sched_broadcast},
    };
    static const char *const kernels[] = {"team", "openmp", "blocked", "blas"};
    static const int threads[] = {2, 3, 5};
    enum { STEPS = 3 };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int d = 0; d < 2; d++)
            for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++) {
                const sched_case *c = &cases[ci];
                const nb_dtype dt = d ? NB_F64 : NB_F32;
                /* blas is reproducible only at one thread count: its reference is its own run */
                const bool blas = !strcmp(kernels[ki], "blas");
                nb_graph *g1, *gt;
                nb_tensor *v1[4], *vt[4];
                nb_gnode *in1[4], *int_[4];
                use_kernel(kernels[ki], blas ? 2 : 1);
                nb_plan *ref = sched_plan(c, dt, &g1, v1, in1);
                CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
                double want[STEPS];
                for (int s = 0; s < STEPS; s++)
                    CU_ASSERT_EQUAL(nb_plan_run(ref, NB_PLAN_STEP, &(nb_feed){in1[0], v1[0]}, 1, &want[s]), NB_OK);
                /* kept: a forward-only run below may reuse the gradients' bytes */
                nb_tensor *want_grad[4];
                for (int i = 0; i < c->n; i++) want_grad[i] = nb_tensor_clone(nb_plan_grad(ref, in1[i]));
                for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
                    if (blas && threads[ti] != 2) continue;
                    for (int pattern = -1; pattern < 5; pattern++) {
                        if (blas && pattern >= 0) break;
                        use_kernel(kernels[ki], threads[ti]);
                        nb_plan *p = sched_plan(c, dt, &gt, vt, int_);
                        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
                        if (pattern >= 0) { /* 0..2: all rows, columns, k; 3, 4: mixtures */
                            nb_sched_split forced[64];
                            CU_ASSERT_FATAL(p->ninstrs <= 64);
                            uint64_t mix = 0x9e3779b97f4a7c15ull * (uint64_t)(pattern + 1);
                            for (int i = 0; i < p->ninstrs; i++) {
                                mix = mix * 6364136223846793005ull + 1442695040888963407ull;
                                forced[i] = pattern < 3 ? (nb_sched_split)(pattern + 1) : (nb_sched_split)(mix >> 62);
                            }
                            CU_ASSERT_EQUAL_FATAL(
                                nb_schedule_build(p, threads[ti], nb_runtime_kernel(), forced, &p->sched), NB_OK);
                        }
                        for (int s = 0; s < STEPS; s++) {
                            double got;
                            CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_STEP, &(nb_feed){int_[0], vt[0]}, 1, &got), NB_OK);
                            if (!same_double(got, want[s]))
                                FAILF("%s %s %s x%d pattern %d: step %d loss %.17g, one thread %.17g", c->name,
                                      nb_dtype_name(dt), kernels[ki], threads[ti], pattern, s, got, want[s]);
                        }
                        for (int i = 0; i < c->n; i++) {
                            if (!same_bits(nb_plan_grad(p, int_[i]), want_grad[i]))
                                FAILF("%s %s %s x%d: gradient of input %d differs", c->name, nb_dtype_name(dt),
                                      kernels[ki], threads[ti], i);
                            if (i > 0 && !same_bits(vt[i], v1[i]))
                                FAILF("%s %s %s x%d: parameter %d differs", c->name, nb_dtype_name(dt), kernels[ki],
                                      threads[ti], i);
                        }
                        /* a forward-only run stops inside the schedule's phases: the same loss */
                        double fwd, fwd_ref;
                        CU_ASSERT_EQUAL(nb_plan_run(p, NB_PLAN_FORWARD, NULL, 0, &fwd), NB_OK);
                        use_kernel(kernels[ki], blas ? 2 : 1);
                        CU_ASSERT_EQUAL(nb_plan_run(ref, NB_PLAN_FORWARD, NULL, 0, &fwd_ref), NB_OK);
                        if (!same_double(fwd, fwd_ref))
                            FAILF("%s %s %s x%d: forward-only loss %.17g, one thread %.17g", c->name, nb_dtype_name(dt),
                                  kernels[ki], threads[ti], fwd, fwd_ref);
                        nb_plan_free(p);
                        nb_graph_free(gt);
                        for (int i = 0; i < c->n; i++) nb_tensor_free(vt[i]);
                    }
                }
                nb_plan_free(ref);
                nb_graph_free(g1);
                for (int i = 0; i < c->n; i++) nb_tensor_free(v1[i]), nb_tensor_free(want_grad[i]);
            }
    use_kernel("blas", 1);
    nb_runtime_set_kernel(NULL);
}

/* What the schedule cuts: a block-invariant kernel's products (the seed's big ones, on 2
 * threads), never another kernel's; and fewer phases than instructions. */
static void test_schedule_cuts(void) {
    nb_train_config cfg = config("static-graph", NB_F32, SEED_DIMS, 0);
    void *state = NULL;
    use_kernel("blas", 1);
    CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cfg, 1e-6, &state), NB_OK);
    const nb_plan *p = nb_static_graph_plan(state);
    char buf[4096];
    static const char *const kernels[] = {"team", "blas"};
    for (int k = 0; k < 2; k++) {
        use_kernel(kernels[k], 1);
        FILE *f = fmemopen(buf, sizeof buf, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_EQUAL(nb_plan_print_schedule(p, 2, f), NB_OK);
        fclose(f);
        const bool cut_mm = strstr(buf, "mm[rows]") || strstr(buf, "mm[cols]");
        if (k == 0 && !cut_mm) FAILF("team on 2 threads cuts no product:\n%s", buf);
        if (k == 1 && cut_mm) FAILF("blas is not block-invariant, yet a product is cut:\n%s", buf);
        int phases = 0;
        CU_ASSERT_EQUAL(sscanf(strstr(buf, "members, ") + 9, "%d phases", &phases), 1);
        CU_ASSERT_TRUE(phases >= 1 && phases < nb_plan_describe(p).steps);
    }
    nb_clear_error();
    CU_ASSERT_EQUAL(nb_plan_print_schedule(p, 1, stdout), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_plan_print_schedule(p, 65, stdout), NB_ERR_ARG);
    nb_variant_static_graph.destroy(state);
    nb_runtime_set_kernel(NULL);
}

/* ---- the dump and the DOT file ------------------------------------------------------------------------- */

static void test_dump_and_dot(void) {
    nb_train_config cfg = config("static-graph", NB_F32, SEED_DIMS, 0);
    void *s = NULL;
    CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cfg, 1e-6, &s), NB_OK);
    const nb_plan *p = nb_static_graph_plan(s);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    nb_plan_dump(p, f);
    fclose(f);
    static const char *const expect[] = {
        "10 instructions (5 GEMM calls, 5 fused)",
        "h_relu (64, 100), mask(h_relu) (64, 100) = clamp_mask(h (64, 100), 0)",
        "loss (), dy_pred (64, 10) = sub_sq_sum(y_pred (64, 10), y (64, 10))",
        "dw1 (1000, 100) = x^T (1000, 64) @ dh (64, 100)",
        "gemm TN m=1000 n=100 k=64",
        "(in place of h)",
        "planned peak 429696",
        "one buffer per value would take 518016 bytes",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strstr(text, expect[i])) FAILF("the dump lacks \"%s\"", expect[i]);
    free(text);

    char path[] = "/tmp/nabla-test-graph-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    close(fd);
    CU_ASSERT_EQUAL(nb_plan_write_dot(p, path), NB_OK);
    FILE *dot = fopen(path, "r");
    char buf[4096] = "";
    size_t got = dot ? fread(buf, 1, sizeof buf - 1, dot) : 0;
    if (dot) fclose(dot);
    buf[got] = '\0';
    CU_ASSERT_EQUAL(strncmp(buf, "digraph plan {", 14), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "subgraph cluster_backward"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "fillcolor")); /* fused instructions are filled */
    remove(path);
    nb_variant_static_graph.destroy(s);
}

/* ---- the test-only wrong kernel reaches the plan's GEMMs too ----------------------------------------------- */

static void test_gemm_perturbation_applies(void) {
    use_kernel("blocked", 1);
    double clean, dyn, stat;
    nb_train_config ca = config("autograd", NB_F64, ODD_DIMS, 2), cs = ca;
    cs.variant = "static-graph";
    void *sa = NULL, *ss = NULL;
    CU_ASSERT_EQUAL_FATAL(nb_variant_static_graph.create(&cs, 1e-6, &ss), NB_OK);
    CU_ASSERT_EQUAL(nb_variant_static_graph.loss_and_grad(ss, false, &clean), NB_OK);
    nb_runtime_set_gemm_perturbation(0.5);
    CU_ASSERT_EQUAL_FATAL(nb_variant_autograd.create(&ca, 1e-6, &sa), NB_OK);
    CU_ASSERT_EQUAL(nb_variant_autograd.loss_and_grad(sa, false, &dyn), NB_OK);
    CU_ASSERT_EQUAL(nb_variant_static_graph.loss_and_grad(ss, false, &stat), NB_OK);
    nb_runtime_set_gemm_perturbation(0.0);
    CU_ASSERT_TRUE(same_double(dyn, stat));
    CU_ASSERT_FALSE(same_double(clean, stat));
    nb_variant_autograd.destroy(sa);
    nb_variant_static_graph.destroy(ss);
    nb_runtime_set_kernel(NULL);
}

/* ---- the name tables have a name for every value ------------------------------------------------------- */

/* The tables are designated initialisers sized by their enum's COUNT, so a value left out is a
 * NULL that no compile-time check can see (sizeof is COUNT either way). */
static void test_name_tables_are_full(void) {
    for (int i = 0; i < NB_OP_COUNT; i++)
        if (!nb_op_names[i] || !nb_op_names[i][0]) FAILF("nb_op_names[%d] is missing", i);
    for (int i = 0; i < NB_EW_COUNT; i++)
        if (!nb_ew_op_names[i] || !nb_ew_op_names[i][0]) FAILF("nb_ew_op_names[%d] is missing", i);
    for (int i = 0; i < NB_I_COUNT; i++)
        if (!nb_ikind_names[i] || !nb_ikind_names[i][0]) FAILF("nb_ikind_names[%d] is missing", i);
}

int main(void) {
    nb_runtime_set_threads(1);
    static const nb_test_case tests[] = {
        {"the variant equals autograd bit for bit (every kernel, dtype, 1 and 2 threads)",
         test_variant_bits_match_autograd},
        {"gradient-check entries equal autograd's", test_gradient_check_entries_match_autograd},
        {"fusion and buffer reuse do not change the bits", test_fusion_and_reuse_do_not_change_bits},
        {"replayed steps allocate nothing (every kernel)", test_replayed_steps_allocate_nothing},
        {"the fused loss gives the bits of sub, pow and sum", test_fused_loss_matches_the_chain},
        {"every op equals autograd (loss, gradients, SGD step)", test_ops_match_autograd},
        {"the memory plan: peak, in place, soundness", test_memory_plan},
        {"feeding new data every step", test_feeding_new_data},
        {"errors", test_errors},
        {"a parameter the loss does not use", test_unused_parameter},
        {"dump and DOT", test_dump_and_dot},
        {"the per-thread schedule gives one thread's bits (2, 3, 5 threads, every cutting kernel)",
         test_schedule_matches_one_thread},
        {"the schedule cuts block-invariant kernels' products only", test_schedule_cuts},
        {"the test-only wrong kernel reaches the plan", test_gemm_perturbation_applies},
        {"every name table is full", test_name_tables_are_full},
    };
    return nb_test_run("graph", tests, sizeof tests / sizeof tests[0]);
}
