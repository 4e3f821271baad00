/* src/tensor/matmul.c — the matmul dispatcher: checks shapes, maps each operand's layout
 * to the GEMM contract (a transposed view becomes a transpose flag, not a copy), calls the
 * kernel in use and counts its FLOPs. */
#include "tensor/tensor_impl.h"

#include <limits.h>

#include "tensor/runtime.h"

/* How a rank-2 tensor of shape (rows, cols) reaches the kernel. */
typedef struct gemm_operand {
    nb_trans trans;
    int64_t ld;
    const void *data;
    nb_tensor *copy; /* a contiguous copy when the layout is neither plain nor transposed */
} gemm_operand;

/* Row-major with unit column stride -> NB_NO_TRANS, ld = row stride; unit row stride ->
 * NB_TRANS of the stored (cols, rows) matrix, ld = column stride. A dim of size 1 never
 * moves the index, so its stride is free: it is taken to be whatever makes the layout fit.
 * Anything else (overlapping or doubly strided views) is copied to contiguous first. */
static nb_status operand_init(gemm_operand *op, const nb_tensor *t) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    bool rows_free = rows <= 1, cols_free = cols <= 1;
    int64_t min_ld_plain = cols > 1 ? cols : 1, min_ld_trans = rows > 1 ? rows : 1;
    op->copy = NULL;
    op->data = nb_tensor_data(t);
    if (cols_free || t->strides[1] == 1) {
        op->trans = NB_NO_TRANS;
        op->ld = rows_free ? min_ld_plain : t->strides[0];
        if (op->ld >= min_ld_plain) return NB_OK;
    }
    if (rows_free || t->strides[0] == 1) {
        op->trans = NB_TRANS;
        op->ld = cols_free ? min_ld_trans : t->strides[1];
        if (op->ld >= min_ld_trans) return NB_OK;
    }
    op->copy = nb_tensor_clone(t);
    if (!op->copy) return nb_last_status();
    op->trans = NB_NO_TRANS;
    op->ld = min_ld_plain;
    op->data = nb_tensor_data(op->copy);
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
    if (nb_check_same_dtype("mm", a, b) != NB_OK || nb_check_same_dtype("mm", out, a) != NB_OK)
        return nb_last_status();
    if (a->shape[1] != b->shape[0] || out->shape[0] != a->shape[0] || out->shape[1] != b->shape[1])
        return nb_error(NB_ERR_SHAPE, "mm: a %s times b %s does not give out %s",
                        nb_tensor_describe(a, da, sizeof da), nb_tensor_describe(b, db, sizeof db),
                        nb_tensor_describe(out, dout, sizeof dout));
    /* OpenBLAS takes 32-bit sizes; no kernel is asked for more. */
    if (a->shape[0] > INT_MAX || a->shape[1] > INT_MAX || b->shape[1] > INT_MAX)
        return nb_error(NB_ERR_ARG, "mm: a dimension exceeds %d", INT_MAX);
    if (out->storage == a->storage || out->storage == b->storage)
        return nb_error(NB_ERR_ARG, "mm: out must not share storage with an input");
    int64_t n = out->shape[1];
    bool out_ok = (n <= 1 || out->strides[1] == 1) && (out->shape[0] <= 1 || out->strides[0] >= n);
    if (!out_ok) return nb_error(NB_ERR_ARG, "mm: out must be row-major with unit column stride");
    return NB_OK;
}

nb_status nb_addmm_(nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double alpha, double beta) {
    if (check_mm(out, a, b) != NB_OK) return nb_last_status();
    int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
    if (m == 0 || n == 0) return NB_OK;
    gemm_operand opa, opb;
    if (operand_init(&opa, a) != NB_OK) return nb_last_status();
    if (operand_init(&opb, b) != NB_OK) {
        nb_tensor_free(opa.copy);
        return nb_last_status();
    }
    int64_t ldc = out->shape[0] <= 1 ? (n > 1 ? n : 1) : out->strides[0];
    const nb_kernel *kernel = nb_runtime_kernel();
    int threads = nb_runtime_threads();
    double t0 = nb_profile_start();
    if (out->dtype == NB_F32)
        kernel->sgemm(opa.trans, opb.trans, m, n, k, (float)alpha, opa.data, opa.ld, opb.data, opb.ld,
                      (float)beta, nb_tensor_data(out), ldc, threads);
    else
        kernel->dgemm(opa.trans, opb.trans, m, n, k, alpha, opa.data, opa.ld, opb.data, opb.ld, beta,
                      nb_tensor_data(out), ldc, threads);
    uint64_t flops = 2ull * (uint64_t)m * (uint64_t)n * (uint64_t)k;
    nb_runtime_count_flops(flops);
    nb_profile_record("mm", t0, flops, ((uint64_t)(m * k + k * n + 2 * m * n)) * nb_dtype_size(out->dtype));
    double delta = nb_runtime_gemm_perturbation();
    if (delta != 0) { /* test-only: a kernel that is wrong in one element */
        int64_t first[2] = {0, 0};
        nb_tensor_set(out, first, nb_tensor_get(out, first) + delta);
    }
    nb_tensor_free(opa.copy);
    nb_tensor_free(opb.copy);
    return nb_anomaly_check("mm", out);
}

nb_status nb_mm_out(nb_tensor *out, const nb_tensor *a, const nb_tensor *b) {
    return nb_addmm_(out, a, b, 1.0, 0.0);
}

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
