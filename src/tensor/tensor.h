/* src/tensor/tensor.h — dense CPU tensors (f32, f64; rank 0..4) and their forward ops.
 * The layer above the kernels and below autograd: it knows matmul goes through the kernel
 * registry, and nothing of gradients.
 *
 * Lifetime: a tensor header (nb_tensor) has exactly one owner, who frees it with
 * nb_tensor_free. Views (transpose, reshape) are new headers over the same storage; the
 * storage is reference-counted and released with its last header, so views may outlive the
 * tensor they came from.
 *
 * Errors: every function that can fail on bad input returns NULL or an nb_status and leaves
 * a one-line message in nb_last_error(); nothing here exits or aborts on bad input.
 *
 * Ops come in two forms where a training loop wants to avoid allocation:
 *   nb_status nb_<op>_out(nb_tensor *out, inputs...)  writes into an existing tensor;
 *   nb_tensor *nb_<op>(inputs...)                     allocates the result.
 * and in-place forms end in an underscore, as in PyTorch (nb_sub_, nb_masked_fill_). */
#ifndef NB_TENSOR_TENSOR_H
#define NB_TENSOR_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/gemm.h"
#include "tensor/rng.h"

#define NB_MAX_DIMS 4

typedef enum nb_dtype { NB_F32 = 0, NB_F64 = 1 } nb_dtype;

typedef struct nb_storage nb_storage; /* refcounted buffer; private to tensor.c */

typedef struct nb_tensor {
    nb_dtype dtype;
    int ndim;                     /* 0 (a scalar) .. NB_MAX_DIMS */
    int64_t shape[NB_MAX_DIMS];   /* entries past ndim are 1 */
    int64_t strides[NB_MAX_DIMS]; /* in elements; entries past ndim are 0 */
    int64_t offset;               /* in elements, from the start of the storage */
    nb_storage *storage;
} nb_tensor;

/* ---- dtype ------------------------------------------------------------------------- */
size_t nb_dtype_size(nb_dtype dtype);
const char *nb_dtype_name(nb_dtype dtype);                 /* "f32", "f64" */
nb_status nb_dtype_parse(const char *name, nb_dtype *out); /* accepts f32/float32/f64/float64 */

/* ---- creation (shape: ndim sizes, each >= 0) -------------------------------------- */
nb_tensor *nb_tensor_empty(nb_dtype dtype, int ndim, const int64_t *shape); /* uninitialised */
nb_tensor *nb_tensor_zeros(nb_dtype dtype, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_ones(nb_dtype dtype, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_full(nb_dtype dtype, int ndim, const int64_t *shape, double value);
nb_tensor *nb_tensor_scalar(nb_dtype dtype, double value); /* rank 0 */
/* Copies numel values of type `dtype` from `data` (row-major). */
nb_tensor *nb_tensor_from_data(nb_dtype dtype, int ndim, const int64_t *shape, const void *data);

/* Random tensors drawn from `rng` (NULL: the default generator) exactly as torch.rand,
 * torch.randn and torch.randint draw them after torch.manual_seed. */
nb_tensor *nb_tensor_rand(nb_rng *rng, nb_dtype dtype, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_randn(nb_rng *rng, nb_dtype dtype, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_randint(nb_rng *rng, int64_t low, int64_t high, nb_dtype dtype, int ndim, const int64_t *shape);
/* In-place fills on a contiguous tensor: tensor.uniform_(from, to), tensor.normal_(). */
nb_status nb_uniform_(nb_tensor *t, nb_rng *rng, double from, double to);
nb_status nb_normal_(nb_tensor *t, nb_rng *rng, double mean, double std);

void nb_tensor_free(nb_tensor *t); /* NULL is fine */

/* ---- shape and layout -------------------------------------------------------------- */
int64_t nb_tensor_numel(const nb_tensor *t);
bool nb_tensor_is_contiguous(const nb_tensor *t);
bool nb_tensor_same_shape(const nb_tensor *a, const nb_tensor *b);
/* "(64, 1000) f32" into buf, for messages. Returns buf. */
const char *nb_tensor_describe(const nb_tensor *t, char *buf, size_t size);
/* Pointer to the first element (storage + offset). */
void *nb_tensor_data(const nb_tensor *t);
size_t nb_tensor_storage_refcount(const nb_tensor *t); /* for tests of view lifetime */

/* Views share storage: transpose swaps two dims without a copy; t is .t() of a rank-2
 * tensor; reshape needs a contiguous tensor and the same numel. */
nb_tensor *nb_tensor_transpose(const nb_tensor *t, int dim0, int dim1);
nb_tensor *nb_tensor_t(const nb_tensor *t);
nb_tensor *nb_tensor_reshape(const nb_tensor *t, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_view(const nb_tensor *t); /* another header on the same elements */

/* Copies: clone keeps the dtype, contiguous copies only when needed (else returns a view),
 * to_dtype converts. */
nb_tensor *nb_tensor_clone(const nb_tensor *t);
nb_tensor *nb_tensor_contiguous(const nb_tensor *t);
nb_tensor *nb_tensor_to_dtype(const nb_tensor *t, nb_dtype dtype);

/* Element access (slow path, for tests, I/O and item): index has t->ndim entries. */
double nb_tensor_get(const nb_tensor *t, const int64_t *index);
void nb_tensor_set(nb_tensor *t, const int64_t *index, double value);
/* The value of a one-element tensor (any rank), as loss.item(). */
nb_status nb_tensor_item(const nb_tensor *t, double *out);

/* ---- elementwise (broadcasting as NumPy/PyTorch: shapes aligned from the right, a
 * dimension of size 1 stretches). out must have the broadcast shape and the inputs' dtype;
 * out may alias an input when it has that input's shape and layout. -------------------- */
nb_status nb_add_out(nb_tensor *out, const nb_tensor *a, const nb_tensor *b); /* a + b */
nb_status nb_sub_out(nb_tensor *out, const nb_tensor *a, const nb_tensor *b); /* a - b */
nb_status nb_mul_out(nb_tensor *out, const nb_tensor *a, const nb_tensor *b); /* a * b */
nb_tensor *nb_add(const nb_tensor *a, const nb_tensor *b);
nb_tensor *nb_sub(const nb_tensor *a, const nb_tensor *b);
nb_tensor *nb_mul(const nb_tensor *a, const nb_tensor *b);

/* Tensor-scalar ops; the scalar is converted to the tensor's dtype first, as PyTorch does
 * for a Python number. out has a's shape. */
nb_status nb_add_scalar_out(nb_tensor *out, const nb_tensor *a, double s);  /* a + s */
nb_status nb_mul_scalar_out(nb_tensor *out, const nb_tensor *a, double s);  /* a * s */
nb_status nb_pow_scalar_out(nb_tensor *out, const nb_tensor *a, double e);  /* a ** e */
nb_status nb_clamp_min_out(nb_tensor *out, const nb_tensor *a, double min); /* max(a, min), NaN kept */
nb_status nb_relu_out(nb_tensor *out, const nb_tensor *a);                  /* clamp_min(a, 0) */
nb_tensor *nb_add_scalar(const nb_tensor *a, double s);
nb_tensor *nb_mul_scalar(const nb_tensor *a, double s);
nb_tensor *nb_pow_scalar(const nb_tensor *a, double e);
nb_tensor *nb_clamp_min(const nb_tensor *a, double min);
nb_tensor *nb_relu(const nb_tensor *a);

/* out = (a * s) * b, rounded after each product as the two ops `(a * s) * b` are (never
 * fused, never reassociated): pow's and mse_loss's backward in one pass. a has out's shape
 * (it may be out itself); b broadcasts to it. */
nb_status nb_mul_scalar_mul_out(nb_tensor *out, const nb_tensor *a, double s, const nb_tensor *b);

/* Compare-and-mask, the seed's `grad_h[h < 0] = 0`: mask = (a < s) as 1/0 in a's dtype;
 * masked_fill_ sets t to value where mask != 0 (mask broadcasts to t). */
nb_status nb_lt_scalar_out(nb_tensor *mask, const nb_tensor *a, double s);
nb_tensor *nb_lt_scalar(const nb_tensor *a, double s);
nb_status nb_masked_fill_(nb_tensor *t, const nb_tensor *mask, double value);
/* out = cond >= s ? x : 0 (clamp_min's backward) and cond > s ? x : 0 (relu's); NaN in
 * cond gives 0. x and cond broadcast to out. */
nb_status nb_where_ge_out(nb_tensor *out, const nb_tensor *x, const nb_tensor *cond, double s);
nb_status nb_where_gt_out(nb_tensor *out, const nb_tensor *x, const nb_tensor *cond, double s);

/* In-place updates. */
nb_status nb_copy_(nb_tensor *dst, const nb_tensor *src); /* dst = src (broadcast) */
nb_status nb_fill_(nb_tensor *t, double value);
nb_status nb_zero_(nb_tensor *t);
nb_status nb_add_(nb_tensor *t, const nb_tensor *a); /* t += a */
nb_status nb_sub_(nb_tensor *t, const nb_tensor *a); /* t -= a */
nb_status nb_mul_scalar_(nb_tensor *t, double s);    /* t *= s */
/* t -= lr * g, rounded as PyTorch's `w -= lr * g`: the product rounded to the dtype, then
 * subtracted (never fused). */
nb_status nb_sub_scaled_(nb_tensor *t, double lr, const nb_tensor *g);

/* ---- reductions ---------------------------------------------------------------------
 * How a loss reduces its elements (torch's reduction='none' | 'mean' | 'sum'): named here,
 * below both engines, so autograd's and the static graph's mse_loss take the same enum.
 * Sums use a fixed blocking that does not depend on the thread count, so a result is
 * bit-identical for every --threads. f32 sums accumulate in double. */
typedef enum nb_reduction { NB_REDUCTION_NONE, NB_REDUCTION_MEAN, NB_REDUCTION_SUM } nb_reduction;
nb_status nb_sum_out(nb_tensor *out, const nb_tensor *a);  /* out: one element */
nb_status nb_mean_out(nb_tensor *out, const nb_tensor *a); /* out: one element */
nb_tensor *nb_sum(const nb_tensor *a);                     /* rank-0 result */
nb_tensor *nb_mean(const nb_tensor *a);
/* Sum over one dimension: (N, D) summed over dim 0 -> (D) or (1, D) with keepdim. */
nb_status nb_sum_dim_out(nb_tensor *out, const nb_tensor *a, int dim, bool keepdim);
nb_tensor *nb_sum_dim(const nb_tensor *a, int dim, bool keepdim);
/* dst += alpha * src summed down to dst's shape (the backward of a broadcast): src's shape
 * must be what dst broadcasts to, e.g. dst (H) and src (N, H) sums over N. */
nb_status nb_add_sum_to_(nb_tensor *dst, const nb_tensor *src, double alpha);

/* ---- matmul -------------------------------------------------------------------------
 * Through the kernel in use (nb_runtime_kernel). Rank-2 operands; a transposed view is
 * passed to the kernel as a transpose flag, never copied; other strided layouts are copied
 * to contiguous first. out must be (m, n) with unit column stride.
 *   a (m, k), b (k, n) -> out (m, n) */
nb_status nb_mm_out(nb_tensor *out, const nb_tensor *a, const nb_tensor *b);
nb_tensor *nb_mm(const nb_tensor *a, const nb_tensor *b);
/* out = beta * out + alpha * a @ b — accumulating backward passes use beta = 1. */
nb_status nb_addmm_(nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double alpha, double beta);

/* ---- comparisons for tests and checks ------------------------------------------------ */
/* max |a - b| and max |a - b| / max(|b|, tiny) over all elements; shapes must match. */
nb_status nb_max_abs_diff(const nb_tensor *a, const nb_tensor *b, double *abs_diff, double *rel_diff);
bool nb_tensor_all_finite(const nb_tensor *t);

#endif
