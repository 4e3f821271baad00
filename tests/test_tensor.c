/* tests/test_tensor.c — the tensor core: creation, views and storage lifetime, elementwise
 * ops with broadcasting and PyTorch's rounding, reductions that do not depend on the thread
 * count, matmul dispatch of transposed and strided views, and the error paths. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/runtime.h"
#include "tensor/tensor.h"
#include "test_util.h"

/* A rank-2 tensor from a literal row-major list. */
static nb_tensor *mat(nb_dtype dtype, int64_t rows, int64_t cols, const double *values) {
    nb_tensor *t = nb_tensor_empty(dtype, 2, (int64_t[]){rows, cols});
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) nb_tensor_set(t, (int64_t[]){i, j}, values[i * cols + j]);
    return t;
}

static double at2(const nb_tensor *t, int64_t i, int64_t j) { return nb_tensor_get(t, (int64_t[]){i, j}); }

/* ---- creation -------------------------------------------------------------------------- */

static void test_creation(void) {
    nb_tensor *z = nb_tensor_zeros(NB_F32, 3, (int64_t[]){2, 3, 4});
    CU_ASSERT_EQUAL(nb_tensor_numel(z), 24);
    CU_ASSERT_EQUAL(z->strides[0], 12);
    CU_ASSERT_EQUAL(z->strides[2], 1);
    CU_ASSERT_TRUE(nb_tensor_is_contiguous(z));
    CU_ASSERT_EQUAL(nb_tensor_get(z, (int64_t[]){1, 2, 3}), 0.0);
    nb_tensor *f = nb_tensor_full(NB_F64, 4, (int64_t[]){1, 2, 1, 2}, -2.5);
    CU_ASSERT_EQUAL(nb_tensor_get(f, (int64_t[]){0, 1, 0, 1}), -2.5);
    nb_tensor *s = nb_tensor_scalar(NB_F32, 0.1);
    double v;
    CU_ASSERT_EQUAL(s->ndim, 0);
    CU_ASSERT_EQUAL(nb_tensor_item(s, &v), NB_OK);
    CU_ASSERT_EQUAL(v, (double)0.1f); /* stored as f32 */
    nb_tensor *e = nb_tensor_zeros(NB_F32, 2, (int64_t[]){0, 5});
    CU_ASSERT_PTR_NOT_NULL(e);
    CU_ASSERT_EQUAL(nb_tensor_numel(e), 0);
    nb_tensor *ones = nb_tensor_ones(NB_F64, 1, (int64_t[]){3});
    CU_ASSERT_EQUAL(nb_tensor_get(ones, (int64_t[]){2}), 1.0);
    nb_tensor *data = nb_tensor_from_data(NB_F64, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4});
    CU_ASSERT_EQUAL(at2(data, 1, 0), 3.0);
    nb_tensor_free(z);
    nb_tensor_free(f);
    nb_tensor_free(s);
    nb_tensor_free(e);
    nb_tensor_free(ones);
    nb_tensor_free(data);
}

static void test_creation_errors(void) {
    CU_ASSERT_PTR_NULL(nb_tensor_zeros(NB_F32, 2, (int64_t[]){3, -1}));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_ARG);
    CU_ASSERT_TRUE(nb_test_error_mentions("negative"));
    CU_ASSERT_PTR_NULL(nb_tensor_zeros(NB_F32, 5, (int64_t[]){1, 1, 1, 1, 1}));
    CU_ASSERT_TRUE(nb_test_error_mentions("rank 5"));
    CU_ASSERT_PTR_NULL(nb_tensor_zeros(NB_F64, 2, (int64_t[]){INT64_MAX / 2, 4}));
    CU_ASSERT_TRUE(nb_test_error_mentions("overflow"));
    CU_ASSERT_PTR_NULL(nb_tensor_zeros((nb_dtype)7, 1, (int64_t[]){1}));
    CU_ASSERT_PTR_NULL(nb_tensor_randint(NULL, 5, 5, NB_F32, 1, (int64_t[]){3}));
    CU_ASSERT_TRUE(nb_test_error_mentions("low (5) must be below high (5)"));
    nb_dtype d;
    CU_ASSERT_EQUAL(nb_dtype_parse("f16", &d), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_dtype_parse("float64", &d), NB_OK);
    CU_ASSERT_EQUAL(d, NB_F64);
}

/* torch.randn draws through the generator's normal path; the tensor must hold exactly what
 * the generator gives for the same seed, and rand/randint stay in range. */
static void test_random_creation(void) {
    nb_rng a, b;
    nb_rng_seed(&a, 3);
    nb_rng_seed(&b, 3);
    nb_tensor *t = nb_tensor_randn(&a, NB_F32, 2, (int64_t[]){5, 7});
    float direct[35];
    nb_rng_normal_f32(&b, direct, 35, 0.0, 1.0);
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(t), direct, sizeof direct), 0);
    nb_tensor *u = nb_tensor_rand(&a, NB_F64, 1, (int64_t[]){1000});
    nb_tensor *r = nb_tensor_randint(&a, -3, 4, NB_F64, 1, (int64_t[]){1000});
    bool in_range = true, hit_low = false, hit_high = false;
    for (int64_t i = 0; i < 1000; i++) {
        double x = nb_tensor_get(u, (int64_t[]){i}), k = nb_tensor_get(r, (int64_t[]){i});
        in_range = in_range && x >= 0 && x < 1 && k >= -3 && k <= 3 && k == floor(k);
        hit_low = hit_low || k == -3;
        hit_high = hit_high || k == 3;
    }
    CU_ASSERT_TRUE(in_range && hit_low && hit_high);
    nb_tensor_free(t);
    nb_tensor_free(u);
    nb_tensor_free(r);
}

/* ---- views and storage ------------------------------------------------------------------- */

static void test_views_share_storage(void) {
    nb_tensor *a = mat(NB_F64, 2, 3, (double[]){1, 2, 3, 4, 5, 6});
    nb_tensor *at = nb_tensor_t(a);
    CU_ASSERT_EQUAL(nb_tensor_storage_refcount(a), 2);
    CU_ASSERT_EQUAL(at->shape[0], 3);
    CU_ASSERT_EQUAL(at2(at, 2, 1), 6.0);
    CU_ASSERT_FALSE(nb_tensor_is_contiguous(at));
    nb_tensor_set(a, (int64_t[]){0, 2}, 30.0); /* a write through one header shows in the other */
    CU_ASSERT_EQUAL(at2(at, 2, 0), 30.0);
    nb_tensor_free(a); /* the view keeps the storage alive */
    CU_ASSERT_EQUAL(nb_tensor_storage_refcount(at), 1);
    CU_ASSERT_EQUAL(at2(at, 1, 1), 5.0);
    nb_tensor *c = nb_tensor_contiguous(at);
    CU_ASSERT_TRUE(nb_tensor_is_contiguous(c));
    CU_ASSERT_EQUAL(nb_tensor_storage_refcount(c), 1); /* a copy, not a view */
    double expect[6] = {1, 4, 2, 5, 30, 6};
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(c), expect, sizeof expect), 0);
    nb_tensor *r = nb_tensor_reshape(c, 1, (int64_t[]){6});
    CU_ASSERT_EQUAL(nb_tensor_get(r, (int64_t[]){4}), 30.0);
    CU_ASSERT_PTR_NULL(nb_tensor_reshape(at, 1, (int64_t[]){6}));
    CU_ASSERT_TRUE(nb_test_error_mentions("contiguous"));
    CU_ASSERT_PTR_NULL(nb_tensor_reshape(c, 2, (int64_t[]){4, 2}));
    CU_ASSERT_TRUE(nb_test_error_mentions("6 elements"));
    CU_ASSERT_PTR_NULL(nb_tensor_transpose(c, 0, 2));
    nb_tensor_free(at);
    nb_tensor_free(c);
    nb_tensor_free(r);
}

static void test_clone_and_dtype(void) {
    nb_tensor *a = mat(NB_F64, 1, 3, (double[]){0.1, 1e-40, 3});
    nb_tensor *b = nb_tensor_clone(a);
    nb_tensor_set(b, (int64_t[]){0, 0}, 9);
    CU_ASSERT_EQUAL(at2(a, 0, 0), 0.1); /* independent storage */
    nb_tensor *f = nb_tensor_to_dtype(a, NB_F32);
    CU_ASSERT_EQUAL(at2(f, 0, 0), (double)0.1f);
    CU_ASSERT_EQUAL(at2(f, 0, 1), (double)(float)1e-40); /* subnormal, rounded as a C cast */
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_tensor_free(f);
}

/* ---- elementwise -------------------------------------------------------------------------- */

static void test_broadcast_bias_add(void) {
    /* (N, H) + (H): the bias add of nn.Linear */
    nb_tensor *x = mat(NB_F32, 2, 3, (double[]){1, 2, 3, 4, 5, 6});
    nb_tensor *bias = nb_tensor_from_data(NB_F32, 1, (int64_t[]){3}, (float[]){10, 20, 30});
    nb_tensor *y = nb_add(x, bias);
    CU_ASSERT_EQUAL(y->ndim, 2);
    CU_ASSERT_EQUAL(at2(y, 0, 0), 11);
    CU_ASSERT_EQUAL(at2(y, 1, 2), 36);
    /* (2, 1) - (1, 3) -> (2, 3), an outer difference */
    nb_tensor *col = mat(NB_F64, 2, 1, (double[]){1, 2});
    nb_tensor *row = mat(NB_F64, 1, 3, (double[]){10, 20, 30});
    nb_tensor *o = nb_sub(col, row);
    CU_ASSERT_EQUAL(o->shape[0], 2);
    CU_ASSERT_EQUAL(o->shape[1], 3);
    CU_ASSERT_EQUAL(at2(o, 1, 2), 2 - 30);
    CU_ASSERT_EQUAL(at2(o, 0, 1), 1 - 20);
    nb_tensor *m = nb_mul(o, row);
    CU_ASSERT_EQUAL(at2(m, 1, 0), (2 - 10) * 10);
    /* bad shapes and dtypes */
    nb_tensor *four = nb_tensor_zeros(NB_F32, 1, (int64_t[]){4});
    CU_ASSERT_PTR_NULL(nb_add(x, four));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_SHAPE);
    CU_ASSERT_TRUE(nb_test_error_mentions("(2, 3) f32 and (4) f32 do not broadcast"));
    CU_ASSERT_PTR_NULL(nb_add(x, col));
    CU_ASSERT_TRUE(nb_test_error_mentions("dtypes differ"));
    CU_ASSERT_EQUAL(nb_add_out(bias, x, x), NB_ERR_SHAPE); /* out too small for the result */
    CU_ASSERT_EQUAL(nb_add_out(NULL, x, x), NB_ERR_ARG);
    nb_tensor *xs[] = {x, bias, y, col, row, o, m, four};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
}

/* Scalars are converted to the tensor's dtype first, as PyTorch converts a Python number. */
static void test_scalar_rounding(void) {
    nb_tensor *x = nb_tensor_full(NB_F32, 1, (int64_t[]){4}, 9.0);
    nb_tensor *y = nb_mul_scalar(x, 0.1);
    float expect = 9.0f * 0.1f;
    CU_ASSERT_EQUAL(nb_tensor_get(y, (int64_t[]){0}), (double)expect);
    CU_ASSERT_NOT_EQUAL((double)expect, (double)(float)(9.0 * 0.1)); /* the two roundings differ */
    nb_tensor *z = nb_add_scalar(x, 1e-7);                           /* 1e-7 is lost in f32 */
    CU_ASSERT_EQUAL(nb_tensor_get(z, (int64_t[]){3}), 9.0);
    /* w -= lr * g: the product is rounded to f32, then subtracted */
    nb_tensor *w = nb_tensor_full(NB_F32, 1, (int64_t[]){1}, 1.0);
    nb_tensor *g = nb_tensor_full(NB_F32, 1, (int64_t[]){1}, 0.3);
    CU_ASSERT_EQUAL(nb_sub_scaled_(w, 1e-6, g), NB_OK);
    float lr = 1e-6f, gv = 0.3f, step = lr * gv;
    CU_ASSERT_EQUAL(nb_tensor_get(w, (int64_t[]){0}), (double)(1.0f - step));
    CU_ASSERT_EQUAL(nb_sub_scaled_(w, NAN, g), NB_ERR_NUMERIC);
    nb_tensor_free(x);
    nb_tensor_free(y);
    nb_tensor_free(z);
    nb_tensor_free(w);
    nb_tensor_free(g);
}

static void test_pow_clamp_mask(void) {
    nb_tensor *x = mat(NB_F64, 1, 5, (double[]){-2, -0.0, 0.5, 3, NAN});
    nb_tensor *sq = nb_pow_scalar(x, 2);
    CU_ASSERT_EQUAL(at2(sq, 0, 0), 4);
    CU_ASSERT_EQUAL(at2(sq, 0, 2), 0.25);
    nb_tensor *cube = nb_pow_scalar(x, 3);
    CU_ASSERT_EQUAL(at2(cube, 0, 3), 27);
    CU_ASSERT_PTR_NULL(nb_pow_scalar(x, NAN));
    nb_tensor *r = nb_relu(x);
    CU_ASSERT_EQUAL(at2(r, 0, 0), 0);
    CU_ASSERT_TRUE(signbit(at2(r, 0, 1))); /* clamp(-0.0, min=0) keeps -0.0, as std::max does */
    CU_ASSERT_EQUAL(at2(r, 0, 3), 3);
    CU_ASSERT_TRUE(isnan(at2(r, 0, 4))); /* NaN passes through clamp */
    nb_tensor *c = nb_clamp_min(x, 1.0);
    CU_ASSERT_EQUAL(at2(c, 0, 2), 1.0);
    /* grad_h[h < 0] = 0 */
    nb_tensor *grad = mat(NB_F64, 1, 5, (double[]){7, 8, 9, 10, 11});
    nb_tensor *neg = nb_lt_scalar(x, 0.0);
    CU_ASSERT_EQUAL(at2(neg, 0, 0), 1);
    CU_ASSERT_EQUAL(at2(neg, 0, 1), 0); /* -0.0 < 0 is false */
    CU_ASSERT_EQUAL(at2(neg, 0, 4), 0); /* NaN < 0 is false */
    CU_ASSERT_EQUAL(nb_masked_fill_(grad, neg, 0.0), NB_OK);
    double expect[5] = {0, 8, 9, 10, 11};
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(grad), expect, sizeof expect), 0);
    nb_tensor *xs[] = {x, sq, cube, r, c, grad, neg};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
}

/* Strided (transposed) operands give what their contiguous copies give; an in-place op on a
 * view writes through to the base; an out that overlaps an input differently is refused. */
static void test_strided_elementwise(void) {
    nb_tensor *a = mat(NB_F32, 3, 4, (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    nb_tensor *b = mat(NB_F32, 4, 3, (double[]){1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6});
    nb_tensor *at = nb_tensor_t(a); /* (4, 3) strided */
    nb_tensor *sum_strided = nb_add(at, b);
    nb_tensor *ac = nb_tensor_contiguous(at);
    nb_tensor *sum_plain = nb_add(ac, b);
    double d;
    CU_ASSERT_EQUAL(nb_max_abs_diff(sum_strided, sum_plain, &d, NULL), NB_OK);
    CU_ASSERT_EQUAL(d, 0.0);
    CU_ASSERT_EQUAL(at2(sum_strided, 3, 2), 12 + -6);
    CU_ASSERT_EQUAL(nb_mul_scalar_(at, 2.0), NB_OK);
    CU_ASSERT_EQUAL(at2(a, 2, 3), 24.0);
    CU_ASSERT_EQUAL(nb_add_out(a, a, a), NB_OK); /* same layout aliasing is fine */
    CU_ASSERT_EQUAL(at2(a, 0, 1), 8.0);
    nb_tensor *sq = nb_tensor_zeros(NB_F32, 2, (int64_t[]){3, 3});
    nb_tensor *sqt = nb_tensor_t(sq);
    CU_ASSERT_EQUAL(nb_add_out(sq, sqt, sqt), NB_ERR_ARG);
    CU_ASSERT_TRUE(nb_test_error_mentions("overlaps"));
    nb_tensor *xs[] = {a, b, at, sum_strided, ac, sum_plain, sq, sqt};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
}

/* Large ops run under OpenMP; the result must not depend on the thread count. */
static void test_parallel_elementwise_matches_serial(void) {
    int64_t n = 3 * NB_PARALLEL_GRAIN + 7;
    nb_tensor *x = nb_tensor_randn(NULL, NB_F32, 2, (int64_t[]){n / 7, 7});
    nb_tensor *bias = nb_tensor_randn(NULL, NB_F32, 1, (int64_t[]){7});
    nb_tensor *outs[3];
    for (int t = 1; t <= 3; t++) {
        nb_runtime_set_threads(t);
        outs[t - 1] = nb_add(x, bias);
        nb_mul_scalar_(outs[t - 1], 1.5);
    }
    nb_runtime_set_threads(nb_runtime_default_threads());
    size_t bytes = (size_t)nb_tensor_numel(outs[0]) * sizeof(float);
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(outs[0]), nb_tensor_data(outs[1]), bytes), 0);
    CU_ASSERT_EQUAL(memcmp(nb_tensor_data(outs[0]), nb_tensor_data(outs[2]), bytes), 0);
    int64_t last = n / 7 - 1;
    CU_ASSERT_EQUAL(at2(outs[2], last, 6),
                    (double)((float)(at2(x, last, 6) + nb_tensor_get(bias, (int64_t[]){6})) * 1.5f));
    nb_tensor_free(x);
    nb_tensor_free(bias);
    for (int i = 0; i < 3; i++) nb_tensor_free(outs[i]);
}

/* ---- reductions ---------------------------------------------------------------------------- */

static void test_sum_mean(void) {
    int64_t n = 1000003; /* several blocks, odd tail */
    nb_tensor *x = nb_tensor_empty(NB_F32, 1, (int64_t[]){n});
    float *p = nb_tensor_data(x);
    double exact = 0;
    for (int64_t i = 0; i < n; i++) {
        p[i] = 0.1f * (float)(i % 10);
        exact += p[i];
    }
    double sums[3];
    for (int t = 1; t <= 3; t++) {
        nb_runtime_set_threads(t);
        nb_tensor *s = nb_sum(x);
        CU_ASSERT_EQUAL(s->ndim, 0);
        nb_tensor_item(s, &sums[t - 1]);
        nb_tensor_free(s);
    }
    nb_runtime_set_threads(nb_runtime_default_threads());
    /* f32 data summed in double: far closer than a float accumulator (~1e-4 off here). */
    CU_ASSERT_DOUBLE_EQUAL(sums[0], exact, fabs(exact) * 1e-7);
    CU_ASSERT_EQUAL(sums[0], sums[1]);
    CU_ASSERT_EQUAL(sums[0], sums[2]);
    nb_tensor *m = nb_mean(x);
    double mean;
    nb_tensor_item(m, &mean);
    CU_ASSERT_DOUBLE_EQUAL(mean, exact / (double)n, 1e-7);
    nb_tensor *empty = nb_tensor_zeros(NB_F64, 1, (int64_t[]){0});
    nb_tensor *es = nb_sum(empty), *em = nb_mean(empty);
    double v;
    nb_tensor_item(es, &v);
    CU_ASSERT_EQUAL(v, 0.0);
    nb_tensor_item(em, &v);
    CU_ASSERT_TRUE(isnan(v));
    CU_ASSERT_EQUAL(nb_tensor_item(x, &v), NB_ERR_SHAPE);
    CU_ASSERT_TRUE(nb_test_error_mentions("one-element"));
    nb_tensor_free(x);
    nb_tensor_free(m);
    nb_tensor_free(empty);
    nb_tensor_free(es);
    nb_tensor_free(em);
}

static void test_sum_dim(void) {
    nb_tensor *a = mat(NB_F64, 2, 3, (double[]){1, 2, 3, 10, 20, 30});
    nb_tensor *cols = nb_sum_dim(a, 0, false); /* (3) */
    CU_ASSERT_EQUAL(cols->ndim, 1);
    CU_ASSERT_EQUAL(nb_tensor_get(cols, (int64_t[]){2}), 33);
    nb_tensor *rows = nb_sum_dim(a, 1, true); /* (2, 1) */
    CU_ASSERT_EQUAL(rows->ndim, 2);
    CU_ASSERT_EQUAL(rows->shape[1], 1);
    CU_ASSERT_EQUAL(at2(rows, 1, 0), 60);
    nb_tensor *at = nb_tensor_t(a); /* strided input: (3, 2) summed over dim 1 */
    nb_tensor *tr = nb_sum_dim(at, 1, false);
    CU_ASSERT_EQUAL(nb_tensor_get(tr, (int64_t[]){0}), 11);
    CU_ASSERT_PTR_NULL(nb_sum_dim(a, 2, false));
    CU_ASSERT_EQUAL(nb_sum_dim_out(cols, a, 1, false), NB_ERR_SHAPE);
    nb_tensor *xs[] = {a, cols, rows, at, tr};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
}

/* add_sum_to_'s fast path (contiguous, leading dims reduced: a bias gradient) must give the
 * general loop's bits: the same values fed as a transposed view take the general loop. Shapes
 * cover one column chunk, several (over 512 columns) and a full sum; both dtypes, alpha 1 and
 * a value whose product rounds. */
static void test_add_sum_to_fast_path_bits(void) {
    const int64_t shapes[][2] = {{64, 100}, {7, 1100}, {3, 1}, {1, 5}};
    nb_rng rng;
    nb_rng_seed(&rng, 11);
    for (int dt = 0; dt < 2; dt++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int ai = 0; ai < 2; ai++) {
                const nb_dtype dtype = dt ? NB_F64 : NB_F32;
                const int64_t rows = shapes[si][0], cols = shapes[si][1];
                const double alpha = ai ? -0.37 : 1.0;
                nb_tensor *src = nb_tensor_randn(&rng, dtype, 2, (int64_t[]){rows, cols});
                nb_tensor *src_t = nb_tensor_randn(&rng, dtype, 2, (int64_t[]){cols, rows});
                nb_tensor *view = nb_tensor_t(src_t); /* (rows, cols), not contiguous */
                CU_ASSERT_EQUAL_FATAL(nb_copy_(view, src), NB_OK);
                nb_tensor *fast = nb_tensor_randn(&rng, dtype, 1, (int64_t[]){cols});
                nb_tensor *slow = nb_tensor_clone(fast);
                CU_ASSERT_EQUAL(nb_add_sum_to_(fast, src, alpha), NB_OK);
                CU_ASSERT_EQUAL(nb_add_sum_to_(slow, view, alpha), NB_OK);
                size_t bytes = (size_t)cols * nb_dtype_size(dtype);
                if (memcmp(nb_tensor_data(fast), nb_tensor_data(slow), bytes) != 0)
                    FAILF("add_sum_to_ %s %lldx%lld alpha %g: fast path differs from the general loop",
                          nb_dtype_name(dtype), (long long)rows, (long long)cols, alpha);
                nb_tensor *xs[] = {src, src_t, view, fast, slow};
                for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
            }
}

/* ---- matmul ------------------------------------------------------------------------------- */

/* C = A @ B with A (3, 4), B (4, 2), checked against a hand-computed product, through every
 * kernel, with A given as a transposed view and B as a doubly strided view (copied). */
static void test_mm_views_every_kernel(void) {
    double av[12] = {1, 2, 3, 4, -1, 0, 1, 2, 0.5, 0.25, -2, 1};
    double bv[8] = {1, 0, 0, 1, 2, -1, 1, 3};
    double expect[6] = {11, 11, 3, 5, -2.5, 5.25};
    for (int ki = 0; ki < nb_kernel_count(); ki++) {
        nb_runtime_set_kernel(nb_kernel_at(ki));
        for (int dt = 0; dt < 2; dt++) {
            nb_dtype dtype = dt ? NB_F64 : NB_F32;
            nb_tensor *a = mat(dtype, 3, 4, av);
            /* A^T stored contiguously, then viewed transposed: the kernel sees a flag. */
            nb_tensor *a_t = nb_tensor_t(a);
            nb_tensor *a_t_store = nb_tensor_clone(a_t); /* (4, 3) contiguous */
            nb_tensor *a_view = nb_tensor_t(a_t_store);  /* (3, 4), strides (1, 3) */
            /* B inside a (4, 4) buffer, every other column: strides (4, 2), neither layout. */
            nb_tensor *wide = nb_tensor_zeros(dtype, 2, (int64_t[]){4, 4});
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 2; j++) nb_tensor_set(wide, (int64_t[]){i, 2 * j}, bv[i * 2 + j]);
            nb_tensor *b_view = nb_tensor_view(wide);
            b_view->shape[1] = 2;
            b_view->strides[1] = 2;
            nb_runtime_reset_flops();
            nb_tensor *c = nb_mm(a_view, b_view);
            CU_ASSERT_PTR_NOT_NULL_FATAL(c);
            CU_ASSERT_EQUAL(nb_runtime_flops(), 2u * 3 * 2 * 4);
            for (int i = 0; i < 6; i++) {
                double got = at2(c, i / 2, i % 2);
                if (got != expect[i])
                    printf("\n  kernel %s %s: c[%d] = %g, expected %g\n", nb_kernel_at(ki)->name, nb_dtype_name(dtype),
                           i, got, expect[i]);
                CU_ASSERT_EQUAL(got, expect[i]);
            }
            /* accumulate: c = 2 * c + 1 * a @ b = 3 * (a @ b) */
            CU_ASSERT_EQUAL(nb_addmm_(c, a, b_view, 1.0, 2.0), NB_OK);
            CU_ASSERT_EQUAL(at2(c, 2, 1), 3 * 5.25);
            nb_tensor *xs[] = {a, a_t, a_t_store, a_view, wide, b_view, c};
            for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
        }
    }
    nb_runtime_set_kernel(NULL);
}

static void test_mm_errors(void) {
    nb_tensor *a = nb_tensor_zeros(NB_F32, 2, (int64_t[]){3, 4});
    nb_tensor *b = nb_tensor_zeros(NB_F32, 2, (int64_t[]){5, 2});
    nb_tensor *b64 = nb_tensor_zeros(NB_F64, 2, (int64_t[]){4, 2});
    nb_tensor *v = nb_tensor_zeros(NB_F32, 1, (int64_t[]){4});
    CU_ASSERT_PTR_NULL(nb_mm(a, b));
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_SHAPE);
    CU_ASSERT_TRUE(nb_test_error_mentions("a (3, 4) f32 times b (5, 2) f32"));
    CU_ASSERT_PTR_NULL(nb_mm(a, b64));
    CU_ASSERT_TRUE(nb_test_error_mentions("dtypes differ"));
    CU_ASSERT_PTR_NULL(nb_mm(a, v));
    CU_ASSERT_TRUE(nb_test_error_mentions("rank-2"));
    nb_tensor *sq = nb_tensor_zeros(NB_F32, 2, (int64_t[]){4, 4});
    nb_tensor *sq_t = nb_tensor_t(sq);
    CU_ASSERT_EQUAL(nb_mm_out(sq, sq_t, sq), NB_ERR_ARG);
    CU_ASSERT_TRUE(nb_test_error_mentions("overlaps an input"));
    CU_ASSERT_EQUAL(nb_mm_out(sq_t, a, a), NB_ERR_SHAPE);
    nb_tensor *xs[] = {a, b, b64, v, sq, sq_t};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) nb_tensor_free(xs[i]);
}

/* (a * s) * b in one pass must equal mul_scalar then mul, bit for bit, in both dtypes, for
 * a b of a's shape and a broadcast one, in place and not; a fused multiply-add or a
 * reassociated s * b would differ on random data. nb_zero_ (a memset when contiguous) must
 * give +0.0 over NaN and -0.0 contents, also through a strided view. */
static void test_mul_scalar_mul_and_zero(void) {
    nb_rng r;
    nb_rng_seed(&r, 3);
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        int64_t shape[2] = {37, 29};
        nb_tensor *a = nb_tensor_randn(&r, dtype, 2, shape), *b = nb_tensor_randn(&r, dtype, 2, shape);
        nb_tensor *row = nb_tensor_randn(&r, dtype, 1, (int64_t[]){29}), *scalar = nb_tensor_scalar(dtype, 0.3);
        const nb_tensor *bs[] = {b, row, scalar};
        for (int k = 0; k < 3; k++) {
            nb_tensor *want = nb_mul_scalar(a, 1.7);
            nb_mul_out(want, want, bs[k]);
            nb_tensor *got = nb_tensor_empty(dtype, 2, shape), *inplace = nb_tensor_clone(a);
            CU_ASSERT_EQUAL(nb_mul_scalar_mul_out(got, a, 1.7, bs[k]), NB_OK);
            CU_ASSERT_EQUAL(nb_mul_scalar_mul_out(inplace, inplace, 1.7, bs[k]), NB_OK);
            size_t bytes = (size_t)nb_tensor_numel(a) * nb_dtype_size(dtype);
            if (memcmp(nb_tensor_data(got), nb_tensor_data(want), bytes) ||
                memcmp(nb_tensor_data(inplace), nb_tensor_data(want), bytes))
                FAILF("%s: mul_scalar_mul differs from mul_scalar then mul (b %d)", nb_dtype_name(dtype), k);
            nb_tensor_free(want);
            nb_tensor_free(got);
            nb_tensor_free(inplace);
        }
        CU_ASSERT_EQUAL(nb_mul_scalar_mul_out(a, a, 2.0, NULL), NB_ERR_ARG);

        nb_fill_(b, -0.0);
        nb_tensor_set(b, (int64_t[]){3, 4}, NAN);
        nb_tensor *bt = nb_tensor_t(b);
        for (int v = 0; v < 2; v++) {
            CU_ASSERT_EQUAL(nb_zero_(v ? bt : b), NB_OK);
            for (int64_t i = 0; i < nb_tensor_numel(b); i++) {
                double x = nb_tensor_get(b, (int64_t[]){i / 29, i % 29});
                if (x != 0.0 || signbit(x)) {
                    FAILF("%s: zero_ left %g at %lld", nb_dtype_name(dtype), x, (long long)i);
                    break;
                }
            }
            nb_fill_(b, -0.0);
        }
        nb_tensor *all[] = {a, b, row, scalar, bt};
        for (int i = 0; i < 5; i++) nb_tensor_free(all[i]);
    }
}

int main(void) {
    static const nb_test_case tests[] = {
        {"creation", test_creation},
        {"creation errors", test_creation_errors},
        {"random creation draws what the generator draws", test_random_creation},
        {"views share storage and outlive their base", test_views_share_storage},
        {"clone and dtype conversion", test_clone_and_dtype},
        {"broadcasting bias add and outer ops", test_broadcast_bias_add},
        {"scalars round as PyTorch's", test_scalar_rounding},
        {"pow, clamp and compare-and-mask", test_pow_clamp_mask},
        {"strided elementwise and aliasing", test_strided_elementwise},
        {"parallel elementwise equals serial", test_parallel_elementwise_matches_serial},
        {"sum and mean, thread-independent", test_sum_mean},
        {"sum over a dimension", test_sum_dim},
        {"add_sum_to_ fast path gives the general loop's bits", test_add_sum_to_fast_path_bits},
        {"mm maps views to kernels", test_mm_views_every_kernel},
        {"mm errors", test_mm_errors},
        {"(a * s) * b fused, and zero_", test_mul_scalar_mul_and_zero},
    };
    return nb_test_run("tensor", tests, sizeof tests / sizeof tests[0]);
}
