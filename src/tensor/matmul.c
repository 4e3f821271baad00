/* src/tensor/matmul.c — the matmul dispatcher: checks shapes, maps each operand's layout
 * to the GEMM contract (a transposed view becomes a transpose flag, not a copy), calls the
 * kernel in use and counts its FLOPs. The static graph makes the same calls (loops.h). */
#include "tensor/tensor_impl.h"

#include <limits.h>

#include "tensor/anomaly.h"
#include "tensor/loops.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

/* How a rank-2 tensor of shape (rows, cols) reaches the kernel (loops.h states the mapping). A
 * dim of size 1 never moves the index, so its stride is free: it is taken to be whatever makes
 * the layout fit. Overlapping or doubly strided views are copied to contiguous (*copy). */
static nb_status map_operand(const nb_tensor *t, nb_trans *trans, int64_t *ld, const void **data, nb_tensor **copy) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    bool rows_free = rows <= 1, cols_free = cols <= 1;
    int64_t min_ld_plain = cols > 1 ? cols : 1, min_ld_trans = rows > 1 ? rows : 1;
    *copy = NULL;
    *data = nb_tensor_data(t);
    if (cols_free || t->strides[1] == 1) {
        *trans = NB_NO_TRANS;
        *ld = rows_free ? min_ld_plain : t->strides[0];
        if (*ld >= min_ld_plain) return NB_OK;
    }
    if (rows_free || t->strides[0] == 1) {
        *trans = NB_TRANS;
        *ld = cols_free ? min_ld_trans : t->strides[1];
        if (*ld >= min_ld_trans) return NB_OK;
    }
    if (!(*copy = nb_tensor_clone(t))) return nb_last_status();
    *trans = NB_NO_TRANS;
    *ld = min_ld_plain;
    *data = nb_tensor_data(*copy);
    return NB_OK;
}

static nb_status check_mm(const nb_tensor *out, const nb_tensor *a, const nb_tensor *b) {
    if (nb_check_not_null("mm", "out", out) != NB_OK || nb_check_not_null("mm", "a", a) != NB_OK ||
        nb_check_not_null("mm", "b", b) != NB_OK)
        return nb_last_status();
    char da[64], db[64], dout[64];
    if (a->ndim != 2 || b->ndim != 2 || out->ndim != 2)
        return nb_error(NB_ERR_SHAPE, "mm: needs rank-2 tensors, got a %s, b %s, out %s",
                        nb_tensor_describe(a, da, sizeof da), nb_tensor_describe(b, db, sizeof db),
                        nb_tensor_describe(out, dout, sizeof dout));
    if (nb_check_same_dtype("mm", a, b) != NB_OK || nb_check_same_dtype("mm", out, a) != NB_OK) return nb_last_status();
    if (a->shape[1] != b->shape[0] || out->shape[0] != a->shape[0] || out->shape[1] != b->shape[1])
        return nb_error(NB_ERR_SHAPE, "mm: a %s times b %s does not give out %s", nb_tensor_describe(a, da, sizeof da),
                        nb_tensor_describe(b, db, sizeof db), nb_tensor_describe(out, dout, sizeof dout));
    /* OpenBLAS takes 32-bit sizes; no kernel is asked for more. */
    if (a->shape[0] > INT_MAX || a->shape[1] > INT_MAX || b->shape[1] > INT_MAX)
        return nb_error(NB_ERR_ARG, "mm: a dimension exceeds %d", INT_MAX);
    if (nb_tensor_overlap(out, a) || nb_tensor_overlap(out, b))
        return nb_error(NB_ERR_ARG, "mm: out overlaps an input");
    int64_t n = out->shape[1];
    bool out_ok = (n <= 1 || out->strides[1] == 1) && (out->shape[0] <= 1 || out->strides[0] >= n);
    if (!out_ok) return nb_error(NB_ERR_ARG, "mm: out must be row-major with unit column stride");
    return NB_OK;
}

nb_status nb_gemm_call_init(nb_gemm_call *g, nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double alpha,
                            double beta) {
    *g = (nb_gemm_call){0};
    NB_TRY(check_mm(out, a, b));
    *g = (nb_gemm_call){
        .dtype = out->dtype, .m = a->shape[0], .k = a->shape[1], .n = b->shape[1], .alpha = alpha, .beta = beta};
    NB_TRY(map_operand(a, &g->ta, &g->lda, &g->a, &g->copies[0]));
    if (map_operand(b, &g->tb, &g->ldb, &g->b, &g->copies[1]) != NB_OK) {
        nb_gemm_call_release(g);
        return nb_last_status();
    }
    g->c = nb_tensor_data(out);
    g->ldc = out->shape[0] <= 1 ? (g->n > 1 ? g->n : 1) : out->strides[0];
    return NB_OK;
}

static void run_kernel(const nb_gemm_call *g, int threads) {
    const nb_kernel *kernel = nb_runtime_kernel();
    if (g->dtype == NB_F32)
        kernel->sgemm(g->ta, g->tb, g->m, g->n, g->k, (float)g->alpha, g->a, g->lda, g->b, g->ldb, (float)g->beta, g->c,
                      g->ldc, threads);
    else
        kernel->dgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->a, g->lda, g->b, g->ldb, g->beta, g->c, g->ldc,
                      threads);
}

void nb_gemm_call_account(const nb_gemm_call *g) {
    if (g->m == 0 || g->n == 0) return;
    nb_runtime_count_flops(2ull * (uint64_t)g->m * (uint64_t)g->n * (uint64_t)g->k);
    double delta = nb_runtime_gemm_perturbation();
    if (delta != 0) { /* test-only: a kernel that is wrong in one element */
        if (g->dtype == NB_F32)
            *(float *)g->c = (float)((double)*(float *)g->c + delta);
        else
            *(double *)g->c += delta;
    }
}

void nb_gemm_call_run(const nb_gemm_call *g) {
    if (g->m == 0 || g->n == 0) return;
    run_kernel(g, nb_runtime_threads());
    nb_gemm_call_account(g);
}

void nb_gemm_call_run_alone(const nb_gemm_call *g) {
    if (g->m > 0 && g->n > 0) run_kernel(g, 1);
}

nb_gemm_call nb_gemm_call_block(const nb_gemm_call *whole, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    NB_ASSERT(!whole->copies[0] && !whole->copies[1]);
    const size_t es = nb_dtype_size(whole->dtype);
    nb_gemm_call g = *whole;
    g.m = r1 - r0;
    g.n = c1 - c0;
    /* op(A)'s rows r0.. and op(B)'s columns c0.., all of k */
    g.a = (const char *)whole->a + (size_t)(whole->ta == NB_NO_TRANS ? r0 * whole->lda : r0) * es;
    g.b = (const char *)whole->b + (size_t)(whole->tb == NB_NO_TRANS ? c0 : c0 * whole->ldb) * es;
    g.c = (char *)whole->c + (size_t)(r0 * whole->ldc + c0) * es;
    return g;
}

nb_gemm_call nb_gemm_call_chunk(const nb_gemm_call *whole, int64_t k0, int64_t k1, void *scratch) {
    NB_ASSERT(!whole->copies[0] && !whole->copies[1]);
    const size_t es = nb_dtype_size(whole->dtype);
    nb_gemm_call g = *whole;
    g.k = k1 - k0;
    g.a = (const char *)whole->a + (size_t)(whole->ta == NB_NO_TRANS ? k0 : k0 * whole->lda) * es;
    g.b = (const char *)whole->b + (size_t)(whole->tb == NB_NO_TRANS ? k0 * whole->ldb : k0) * es;
    g.c = scratch;
    g.ldc = whole->n > 0 ? whole->n : 1;
    g.beta = 0;
    return g;
}

void nb_gemm_chunks_reduce(const nb_gemm_call *g, const void *scratch, int nchunks, int64_t r0, int64_t r1) {
    if (g->dtype == NB_F32)
        nb_gemm_sum_chunks_f32(g->m, g->n, scratch, nchunks, (float)g->beta, g->c, g->ldc, r0, r1);
    else
        nb_gemm_sum_chunks_f64(g->m, g->n, scratch, nchunks, g->beta, g->c, g->ldc, r0, r1);
}

void nb_gemm_call_release(nb_gemm_call *g) {
    nb_tensor_free(g->copies[0]);
    nb_tensor_free(g->copies[1]);
    g->copies[0] = g->copies[1] = NULL;
}

nb_status nb_addmm_(nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double alpha, double beta) {
    nb_gemm_call g;
    NB_TRY(nb_gemm_call_init(&g, out, a, b, alpha, beta));
    double t0 = nb_profile_start();
    nb_gemm_call_run(&g);
    const uint64_t m = (uint64_t)g.m, n = (uint64_t)g.n, k = (uint64_t)g.k;
    nb_profile_record("mm", t0, 2 * m * n * k, (m * k + k * n + 2 * m * n) * nb_dtype_size(out->dtype));
    nb_gemm_call_release(&g);
    return nb_anomaly_check("mm", out);
}

nb_status nb_mm_out(nb_tensor *out, const nb_tensor *a, const nb_tensor *b) { return nb_addmm_(out, a, b, 1.0, 0.0); }

nb_tensor *nb_mm(const nb_tensor *a, const nb_tensor *b) {
    if (nb_check_not_null("mm", "a", a) != NB_OK || nb_check_not_null("mm", "b", b) != NB_OK) return NULL;
    if (a->ndim != 2 || b->ndim != 2) {
        char da[64], db[64];
        nb_error(NB_ERR_SHAPE, "mm: needs rank-2 tensors, got a %s and b %s", nb_tensor_describe(a, da, sizeof da),
                 nb_tensor_describe(b, db, sizeof db));
        return NULL;
    }
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    nb_tensor *out = nb_tensor_empty(a->dtype, 2, shape);
    if (out && nb_mm_out(out, a, b) != NB_OK) {
        nb_tensor_free(out);
        return NULL;
    }
    return out;
}
