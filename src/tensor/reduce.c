/* src/tensor/reduce.c — sum and mean, over everything or over one dimension. The blocking
 * of a sum depends only on the element count, never on the thread count, so reductions are
 * bit-identical for every --threads; partial sums are kept in double. */
#include "tensor/tensor_impl.h"

#include <math.h>

#include "tensor/anomaly.h"
#include "tensor/loops.h"
#include "tensor/profile.h"
#include "tensor/runtime.h"

typedef struct contiguous_run {
    const void *data;
    nb_dtype dtype;
} contiguous_run;

static double sum_block(const void *ctx, int64_t lo, int64_t hi) {
    const contiguous_run *r = ctx;
    double acc = 0.0;
    if (r->dtype == NB_F32) {
        const float *p = r->data;
        for (int64_t i = lo; i < hi; i++) acc += p[i];
    } else {
        const double *p = r->data;
        for (int64_t i = lo; i < hi; i++) acc += p[i];
    }
    return acc;
}

typedef struct blocked_sum_job {
    nb_block_sum_fn *block;
    const void *ctx;
    int64_t n, size;
    double *partial;
} blocked_sum_job;

/* partial[b] for the blocks b in [lo, hi) */
static void sum_blocks(void *ctx, int64_t lo, int64_t hi) {
    const blocked_sum_job *j = ctx;
    for (int64_t b = lo; b < hi; b++)
        j->partial[b] = j->block(j->ctx, b * j->size, (b + 1) * j->size < j->n ? (b + 1) * j->size : j->n);
}

double nb_blocked_sum(int64_t n, nb_block_sum_fn *block, const void *ctx) {
    int64_t size = (n + NB_SUM_MAX_BLOCKS - 1) / NB_SUM_MAX_BLOCKS;
    if (size < NB_SUM_MIN_BLOCK) size = NB_SUM_MIN_BLOCK;
    int64_t nblocks = (n + size - 1) / size;
    double partial[NB_SUM_MAX_BLOCKS];
    /* the blocks are fixed by n alone and added in order below: the same sum at any thread count */
    blocked_sum_job job = {block, ctx, n, size, partial};
    nb_parallel_for(nblocks, n >= NB_PARALLEL_GRAIN ? nb_runtime_threads() : 1, sum_blocks, &job);
    double total = 0.0;
    for (int64_t b = 0; b < nblocks; b++) total += partial[b];
    return total;
}

double nb_sum_contiguous(const void *data, nb_dtype dtype, int64_t n) {
    return nb_blocked_sum(n, sum_block, &(contiguous_run){data, dtype});
}

static nb_status check_one_element_out(const char *opname, const nb_tensor *out, const nb_tensor *a) {
    if (nb_check_not_null(opname, "out", out) != NB_OK || nb_check_not_null(opname, "input", a) != NB_OK)
        return nb_last_status();
    if (nb_check_same_dtype(opname, out, a) != NB_OK) return nb_last_status();
    if (nb_tensor_numel(out) != 1) {
        char d[64];
        return nb_error(NB_ERR_SHAPE, "%s: out must have one element, got %s", opname,
                        nb_tensor_describe(out, d, sizeof d));
    }
    return NB_OK;
}

/* The sum of every element of a, in double. */
static nb_status sum_all(const nb_tensor *a, double *total) {
    if (nb_tensor_is_contiguous(a)) {
        *total = nb_sum_contiguous(nb_tensor_data(a), a->dtype, nb_tensor_numel(a));
        return NB_OK;
    }
    nb_tensor *c = nb_tensor_contiguous(a);
    if (!c) return nb_last_status();
    *total = nb_sum_contiguous(nb_tensor_data(c), c->dtype, nb_tensor_numel(c));
    nb_tensor_free(c);
    return NB_OK;
}

static void store_one(nb_tensor *out, double value) {
    int64_t zeros[NB_MAX_DIMS] = {0};
    nb_tensor_set(out, zeros, value);
}

/* bytes a reduction reads */
static uint64_t bytes_of(const nb_tensor *a) { return (uint64_t)nb_tensor_numel(a) * nb_dtype_size(a->dtype); }

nb_status nb_sum_out(nb_tensor *out, const nb_tensor *a) {
    double total, t0 = nb_profile_start();
    if (check_one_element_out("sum", out, a) != NB_OK || sum_all(a, &total) != NB_OK) return nb_last_status();
    store_one(out, total);
    nb_profile_record("sum", t0, 0, bytes_of(a));
    return nb_anomaly_check("sum", out);
}

nb_status nb_mean_out(nb_tensor *out, const nb_tensor *a) {
    double total, t0 = nb_profile_start();
    if (check_one_element_out("mean", out, a) != NB_OK || sum_all(a, &total) != NB_OK) return nb_last_status();
    int64_t n = nb_tensor_numel(a);
    store_one(out, n > 0 ? total / (double)n : NAN); /* the mean of nothing is NaN, as in PyTorch */
    nb_profile_record("mean", t0, 0, bytes_of(a));
    return nb_anomaly_check("mean", out);
}

static nb_tensor *reduce_new(nb_status (*reduce_out)(nb_tensor *, const nb_tensor *), const nb_tensor *a) {
    if (nb_check_not_null("reduce", "input", a) != NB_OK) return NULL;
    nb_tensor *out = nb_tensor_empty(a->dtype, 0, NULL);
    if (out && reduce_out(out, a) != NB_OK) {
        nb_tensor_free(out);
        return NULL;
    }
    return out;
}

nb_tensor *nb_sum(const nb_tensor *a) { return reduce_new(nb_sum_out, a); }
nb_tensor *nb_mean(const nb_tensor *a) { return reduce_new(nb_mean_out, a); }

/* ---- sum over one dimension ----------------------------------------------------------- */

/* The shape of a summed over dim: dim removed, or kept with size 1. */
static int reduced_shape(const nb_tensor *a, int dim, bool keepdim, int64_t *shape) {
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (d != dim)
            shape[nd++] = a->shape[d];
        else if (keepdim)
            shape[nd++] = 1;
    }
    return nd;
}

/* sum_dim's frame: a as (outer, len, inner) in its 4-D layout with the reduced dim taken
 * out (oshape, ostride: the three others), and out's own row-major frame. */
typedef struct sum_dim_frame {
    int64_t len, rstride;
    int64_t oshape[3], ostride[3];
    int64_t oshape4[4], ostrides4[4];
} sum_dim_frame;

/* Element e of out (row-major), the sum of a over the reduced dim. */
static void sum_dim_element(const sum_dim_frame *f, nb_tensor *out, const nb_tensor *a, int64_t e) {
    int64_t i2 = e % f->oshape[2], i1 = (e / f->oshape[2]) % f->oshape[1], i0 = e / (f->oshape[2] * f->oshape[1]);
    int64_t base = a->offset + i0 * f->ostride[0] + i1 * f->ostride[1] + i2 * f->ostride[2];
    double acc = 0.0;
    for (int64_t j = 0; j < f->len; j++) acc += nb_load(a, base + j * f->rstride);
    /* the e-th element of out in row-major order */
    int64_t rem = e, off = out->offset;
    for (int d = 3; d >= 0; d--) {
        off += (rem % f->oshape4[d]) * f->ostrides4[d];
        rem /= f->oshape4[d];
    }
    nb_store(out, off, acc);
}

typedef struct sum_dim_job {
    const sum_dim_frame *f;
    nb_tensor *out;
    const nb_tensor *a;
} sum_dim_job;

static void sum_dim_elements(void *ctx, int64_t lo, int64_t hi) {
    const sum_dim_job *j = ctx;
    for (int64_t e = lo; e < hi; e++) sum_dim_element(j->f, j->out, j->a, e);
}

nb_status nb_sum_dim_out(nb_tensor *out, const nb_tensor *a, int dim, bool keepdim) {
    if (nb_check_not_null("sum_dim", "out", out) != NB_OK || nb_check_not_null("sum_dim", "input", a) != NB_OK)
        return nb_last_status();
    if (nb_check_same_dtype("sum_dim", out, a) != NB_OK) return nb_last_status();
    if (dim < 0 || dim >= a->ndim)
        return nb_error(NB_ERR_ARG, "sum_dim: dim %d does not exist in a rank-%d tensor", dim, a->ndim);
    int64_t want[NB_MAX_DIMS];
    int nd = reduced_shape(a, dim, keepdim, want);
    bool shape_ok = out->ndim == nd;
    for (int d = 0; d < nd && shape_ok; d++) shape_ok = out->shape[d] == want[d];
    if (!shape_ok) {
        char da[64], dout[64];
        return nb_error(NB_ERR_SHAPE, "sum_dim: summing %s over dim %d does not give out %s",
                        nb_tensor_describe(a, da, sizeof da), dim, nb_tensor_describe(out, dout, sizeof dout));
    }
    if (out->storage == a->storage) return nb_error(NB_ERR_ARG, "sum_dim: out must not share storage with the input");

    /* View a as (outer, len, inner) over its 4-D frame with the reduced dim in the middle;
     * out is visited in row-major order, which matches (outer, inner). */
    int64_t shape4[4], st4[4];
    nb_layout4(a, shape4, st4);
    int rd = dim + (NB_MAX_DIMS - a->ndim);
    sum_dim_frame f = {.len = shape4[rd], .rstride = st4[rd]};
    int64_t count = nb_tensor_numel(out);
    for (int d = 0, k = 0; d < 4; d++)
        if (d != rd) {
            f.oshape[k] = shape4[d];
            f.ostride[k++] = st4[d];
        }
    nb_layout4(out, f.oshape4, f.ostrides4); /* out's own frame: the remaining dims, row-major */
    const int threads = nb_tensor_numel(a) >= NB_PARALLEL_GRAIN ? nb_runtime_threads() : 1;
    double t0 = nb_profile_start();
    nb_parallel_for(count, threads, sum_dim_elements, &(sum_dim_job){&f, out, a});
    nb_profile_record("sum_dim", t0, 0, bytes_of(a));
    return nb_anomaly_check("sum_dim", out);
}

nb_tensor *nb_sum_dim(const nb_tensor *a, int dim, bool keepdim) {
    if (nb_check_not_null("sum_dim", "input", a) != NB_OK) return NULL;
    if (dim < 0 || dim >= a->ndim) {
        nb_error(NB_ERR_ARG, "sum_dim: dim %d does not exist in a rank-%d tensor", dim, a->ndim);
        return NULL;
    }
    int64_t shape[NB_MAX_DIMS];
    int nd = reduced_shape(a, dim, keepdim, shape);
    nb_tensor *out = nb_tensor_empty(a->dtype, nd, shape);
    if (out && nb_sum_dim_out(out, a, dim, keepdim) != NB_OK) {
        nb_tensor_free(out);
        return NULL;
    }
    return out;
}

/* ---- the backward of broadcasting ------------------------------------------------------ */

/* The common case of nb_add_sum_to_ (a bias gradient: (batch, features) onto (features)):
 * both contiguous and only leading dims reduced, so src is rows x cols with dst's elements
 * along the columns. Summing row after row into one double accumulator per column adds each
 * column's elements in the same order as the general loop below (rows ascending), so the bits
 * are the same; it reads src once, in order, and the column loop vectorises. Returns false
 * when the shapes are not of this form. */
#define SUM_TO_CHUNK 512 /* columns per pass: the double accumulators, 4 KiB on the stack */
static bool sum_leading_dims(nb_tensor *dst, const nb_tensor *src, const int64_t *dshape, const int64_t *sshape,
                             double alpha, bool dst_is_zero) {
    if (!nb_tensor_is_contiguous(dst) || !nb_tensor_is_contiguous(src)) return false;
    int d = 0;
    while (d < 4 && dshape[d] == 1) d++;
    for (int e = d; e < 4; e++)
        if (dshape[e] != sshape[e]) return false;
    int64_t cols = 1, rows = 1;
    for (int e = d; e < 4; e++) cols *= sshape[e];
    for (int e = 0; e < d; e++) rows *= sshape[e];
    for (int64_t c0 = 0; c0 < cols; c0 += SUM_TO_CHUNK) {
        const int64_t w = cols - c0 < SUM_TO_CHUNK ? cols - c0 : SUM_TO_CHUNK;
        double acc[SUM_TO_CHUNK];
        for (int64_t c = 0; c < w; c++) acc[c] = 0.0;
        if (src->dtype == NB_F32) {
            const float *in = (const float *)nb_tensor_data(src) + c0;
            for (int64_t r = 0; r < rows; r++, in += cols) {
                _Pragma("omp simd") for (int64_t c = 0; c < w; c++) acc[c] += (double)in[c];
            }
            float *out = (float *)nb_tensor_data(dst) + c0;
            const float a = (float)alpha;
            /* round the sum to the dtype, then add alpha times it, product first */
            for (int64_t c = 0; c < w; c++) {
                float prod = a * (float)acc[c];
                out[c] = (dst_is_zero ? 0.0f : out[c]) + prod;
            }
        } else {
            const double *in = (const double *)nb_tensor_data(src) + c0;
            for (int64_t r = 0; r < rows; r++, in += cols) {
                _Pragma("omp simd") for (int64_t c = 0; c < w; c++) acc[c] += in[c];
            }
            double *out = (double *)nb_tensor_data(dst) + c0;
            for (int64_t c = 0; c < w; c++) {
                double prod = alpha * acc[c];
                out[c] = (dst_is_zero ? 0.0 : out[c]) + prod;
            }
        }
    }
    return true;
}

void nb_sum_to_run(nb_tensor *dst, const nb_tensor *src, double alpha, bool dst_is_zero) {
    int64_t sshape[4], sst[4], dshape[4], dst4[4];
    nb_layout4(src, sshape, sst);
    nb_layout4(dst, dshape, dst4);
    if (sum_leading_dims(dst, src, dshape, sshape, alpha, dst_is_zero)) return;
    /* For each element of dst, sum (in double) the block of src that broadcast onto it. */
    int64_t span[4];
    for (int d = 0; d < 4; d++) span[d] = dshape[d] == 1 ? sshape[d] : 1;
    int64_t i[4], j[4];
    for (i[0] = 0; i[0] < dshape[0]; i[0]++)
        for (i[1] = 0; i[1] < dshape[1]; i[1]++)
            for (i[2] = 0; i[2] < dshape[2]; i[2]++)
                for (i[3] = 0; i[3] < dshape[3]; i[3]++) {
                    double acc = 0.0;
                    for (j[0] = 0; j[0] < span[0]; j[0]++)
                        for (j[1] = 0; j[1] < span[1]; j[1]++)
                            for (j[2] = 0; j[2] < span[2]; j[2]++)
                                for (j[3] = 0; j[3] < span[3]; j[3]++) {
                                    int64_t off = src->offset;
                                    for (int d = 0; d < 4; d++) off += (span[d] > 1 ? j[d] : i[d]) * sst[d];
                                    acc += nb_load(src, off);
                                }
                    int64_t doff = dst->offset;
                    for (int d = 0; d < 4; d++) doff += i[d] * dst4[d];
                    /* round the sum to the dtype, then add alpha times it, product first */
                    if (dst->dtype == NB_F32) {
                        float *o = (float *)dst->storage->data + doff;
                        float sum = (float)acc, a = (float)alpha;
                        float prod = a * sum;
                        *o = (dst_is_zero ? 0.0f : *o) + prod;
                    } else {
                        double *o = (double *)dst->storage->data + doff;
                        double prod = alpha * acc;
                        *o = (dst_is_zero ? 0.0 : *o) + prod;
                    }
                }
}

nb_status nb_add_sum_to_(nb_tensor *dst, const nb_tensor *src, double alpha) {
    if (nb_check_not_null("add_sum_to_", "dst", dst) != NB_OK || nb_check_not_null("add_sum_to_", "src", src) != NB_OK)
        return nb_last_status();
    if (nb_check_same_dtype("add_sum_to_", dst, src) != NB_OK) return nb_last_status();
    /* dst + alpha * x, with the product rounded first, is what sub_scaled_ computes for -alpha. */
    if (nb_tensor_same_shape(dst, src)) return nb_sub_scaled_(dst, -alpha, src);

    int64_t sshape[4], sst[4], dshape[4], dst4[4];
    nb_layout4(src, sshape, sst);
    nb_layout4(dst, dshape, dst4);
    bool fits = dst->ndim <= src->ndim;
    for (int d = 0; d < 4 && fits; d++) fits = dshape[d] == sshape[d] || dshape[d] == 1;
    if (!fits) {
        char dd[64], ds[64];
        return nb_error(NB_ERR_SHAPE, "add_sum_to_: %s does not broadcast to %s",
                        nb_tensor_describe(dst, dd, sizeof dd), nb_tensor_describe(src, ds, sizeof ds));
    }
    if (nb_tensor_overlap(dst, src)) return nb_error(NB_ERR_ARG, "add_sum_to_: dst overlaps src");
    double t0 = nb_profile_start();
    nb_sum_to_run(dst, src, alpha, false);
    nb_profile_record("sum_to", t0, 0, bytes_of(src));
    return nb_anomaly_check("sum_to", dst);
}
