/* src/tensor/tensor.c — tensor headers and their refcounted storage: creation (including
 * the torch-compatible random tensors), views, copies, element access and comparisons. */
#include "tensor/tensor_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/runtime.h"

/* ---- dtype ------------------------------------------------------------------------- */

size_t nb_dtype_size(nb_dtype dtype) { return dtype == NB_F64 ? sizeof(double) : sizeof(float); }

const char *nb_dtype_name(nb_dtype dtype) { return dtype == NB_F64 ? "f64" : "f32"; }

nb_status nb_dtype_parse(const char *name, nb_dtype *out) {
    if (name && (!strcmp(name, "f32") || !strcmp(name, "float32"))) {
        *out = NB_F32;
        return NB_OK;
    }
    if (name && (!strcmp(name, "f64") || !strcmp(name, "float64"))) {
        *out = NB_F64;
        return NB_OK;
    }
    return nb_error(NB_ERR_ARG, "unknown dtype '%s' (expected f32 or f64)", name ? name : "");
}

/* ---- shared checks ------------------------------------------------------------------ */

nb_status nb_check_not_null(const char *op, const char *what, const void *t) {
    return t ? NB_OK : nb_error(NB_ERR_ARG, "%s: %s is NULL", op, what);
}

nb_status nb_check_same_dtype(const char *op, const nb_tensor *a, const nb_tensor *b) {
    if (a->dtype == b->dtype) return NB_OK;
    char da[64], db[64];
    return nb_error(NB_ERR_SHAPE, "%s: dtypes differ: %s and %s", op, nb_tensor_describe(a, da, sizeof da),
                    nb_tensor_describe(b, db, sizeof db));
}

bool nb_tensor_overlap(const nb_tensor *a, const nb_tensor *b) {
    if (a->storage != b->storage) return false;
    int64_t na = nb_tensor_numel(a), nbl = nb_tensor_numel(b);
    if (na == 0 || nbl == 0) return false;
    int64_t a_last = a->offset, b_last = b->offset; /* the element offsets of the last elements */
    for (int d = 0; d < a->ndim; d++) a_last += (a->shape[d] - 1) * a->strides[d];
    for (int d = 0; d < b->ndim; d++) b_last += (b->shape[d] - 1) * b->strides[d];
    return a->offset <= b_last && b->offset <= a_last;
}

void nb_layout4(const nb_tensor *t, int64_t shape4[4], int64_t strides4[4]) {
    int pad = NB_MAX_DIMS - t->ndim;
    for (int d = 0; d < NB_MAX_DIMS; d++) {
        if (d < pad) {
            shape4[d] = 1;
            strides4[d] = 0;
        } else {
            shape4[d] = t->shape[d - pad];
            strides4[d] = t->strides[d - pad];
        }
    }
}

/* ---- storage and headers ------------------------------------------------------------ */

/* The storage struct and its elements are one block from the allocator: the struct first,
 * padded to a cache line, then the data, so the data keeps the block's 64-byte alignment and
 * a tensor costs two allocations (header, storage), both served from the allocator's cache
 * in a steady-state training step. */
#define STORAGE_HEAD NB_ALLOC_ALIGN
_Static_assert(sizeof(nb_storage) <= STORAGE_HEAD, "the storage struct must fit before the data");

static nb_storage *storage_new(size_t nbytes) {
    /* Whole 64-byte lines (at least one), so a SIMD loop may read its last vector whole. */
    size_t rounded = (nbytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    nb_storage *s = nb_alloc(STORAGE_HEAD + rounded);
    if (!s) return NULL;
    s->data = (char *)s + STORAGE_HEAD;
    s->nbytes = nbytes;
    s->refcount = 1;
    return s;
}

static void storage_release(nb_storage *s) {
    if (s && --s->refcount == 0) nb_free(s);
}

/* A header with a contiguous row-major layout of `shape`, not yet attached to storage. */
static nb_status header_init(nb_tensor *t, nb_dtype dtype, int ndim, const int64_t *shape, size_t *nbytes) {
    if (dtype != NB_F32 && dtype != NB_F64) return nb_error(NB_ERR_ARG, "unknown dtype %d", (int)dtype);
    if (ndim < 0 || ndim > NB_MAX_DIMS) return nb_error(NB_ERR_ARG, "rank %d is out of range 0..%d", ndim, NB_MAX_DIMS);
    if (ndim > 0 && !shape) return nb_error(NB_ERR_ARG, "shape is NULL for a rank-%d tensor", ndim);
    t->dtype = dtype;
    t->ndim = ndim;
    t->offset = 0;
    t->storage = NULL;
    /* The product of the non-zero sizes must fit too: a zero size makes the tensor empty, but
     * strides and nb_tensor_numel still multiply the others. */
    size_t numel = 1, nonzero = 1;
    const size_t limit = (size_t)INT64_MAX / nb_dtype_size(dtype);
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] < 0) return nb_error(NB_ERR_ARG, "size %lld of dim %d is negative", (long long)shape[d], d);
        t->shape[d] = shape[d];
        t->strides[d] = (int64_t)numel;
        if (shape[d] > 0 && nonzero > limit / (size_t)shape[d])
            return nb_error(NB_ERR_ARG, "a tensor of that shape would overflow the address space");
        if (shape[d] > 0) nonzero *= (size_t)shape[d];
        numel *= (size_t)shape[d];
    }
    for (int d = ndim; d < NB_MAX_DIMS; d++) {
        t->shape[d] = 1;
        t->strides[d] = 0;
    }
    *nbytes = numel * nb_dtype_size(dtype);
    return NB_OK;
}

nb_tensor *nb_tensor_empty(nb_dtype dtype, int ndim, const int64_t *shape) {
    nb_tensor *t = nb_alloc(sizeof *t);
    if (!t) {
        nb_error(NB_ERR_NOMEM, "out of memory allocating a tensor header");
        return NULL;
    }
    size_t nbytes = 0;
    if (header_init(t, dtype, ndim, shape, &nbytes) != NB_OK) {
        nb_free(t);
        return NULL;
    }
    t->storage = storage_new(nbytes);
    if (!t->storage) {
        nb_free(t);
        nb_error(NB_ERR_NOMEM, "out of memory allocating %zu bytes for a tensor", nbytes);
        return NULL;
    }
    return t;
}

void nb_tensor_free(nb_tensor *t) {
    if (!t) return;
    storage_release(t->storage);
    nb_free(t);
}

nb_tensor *nb_tensor_full(nb_dtype dtype, int ndim, const int64_t *shape, double value) {
    nb_tensor *t = nb_tensor_empty(dtype, ndim, shape);
    if (t) nb_fill_(t, value);
    return t;
}

nb_tensor *nb_tensor_zeros(nb_dtype dtype, int ndim, const int64_t *shape) {
    return nb_tensor_full(dtype, ndim, shape, 0.0);
}

nb_tensor *nb_tensor_ones(nb_dtype dtype, int ndim, const int64_t *shape) {
    return nb_tensor_full(dtype, ndim, shape, 1.0);
}

nb_tensor *nb_tensor_scalar(nb_dtype dtype, double value) { return nb_tensor_full(dtype, 0, NULL, value); }

nb_tensor *nb_tensor_from_data(nb_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (nb_check_not_null("from_data", "data", data) != NB_OK) return NULL;
    nb_tensor *t = nb_tensor_empty(dtype, ndim, shape);
    if (t) memcpy(nb_tensor_data(t), data, (size_t)nb_tensor_numel(t) * nb_dtype_size(dtype));
    return t;
}

/* ---- random tensors ------------------------------------------------------------------ */

static nb_status check_contiguous(const char *op, const nb_tensor *t) {
    if (nb_check_not_null(op, "tensor", t) != NB_OK) return nb_last_status();
    if (!nb_tensor_is_contiguous(t)) return nb_error(NB_ERR_ARG, "%s: tensor must be contiguous", op);
    return NB_OK;
}

nb_status nb_uniform_(nb_tensor *t, nb_rng *rng, double from, double to) {
    if (check_contiguous("uniform_", t) != NB_OK) return nb_last_status();
    if (!(from <= to) || !isfinite(from) || !isfinite(to))
        return nb_error(NB_ERR_ARG, "uniform_: needs finite from <= to, got [%g, %g)", from, to);
    if (!rng) rng = nb_rng_default();
    size_t n = (size_t)nb_tensor_numel(t);
    if (t->dtype == NB_F32)
        nb_rng_uniform_f32(rng, nb_tensor_data(t), n, from, to);
    else
        nb_rng_uniform_f64(rng, nb_tensor_data(t), n, from, to);
    return NB_OK;
}

nb_status nb_normal_(nb_tensor *t, nb_rng *rng, double mean, double std) {
    if (check_contiguous("normal_", t) != NB_OK) return nb_last_status();
    if (!isfinite(mean) || !(std >= 0) || !isfinite(std))
        return nb_error(NB_ERR_ARG, "normal_: needs a finite mean and std >= 0, got %g and %g", mean, std);
    if (!rng) rng = nb_rng_default();
    size_t n = (size_t)nb_tensor_numel(t);
    if (t->dtype == NB_F32)
        nb_rng_normal_f32(rng, nb_tensor_data(t), n, mean, std);
    else
        nb_rng_normal_f64(rng, nb_tensor_data(t), n, mean, std);
    return NB_OK;
}

nb_tensor *nb_tensor_rand(nb_rng *rng, nb_dtype dtype, int ndim, const int64_t *shape) {
    nb_tensor *t = nb_tensor_empty(dtype, ndim, shape);
    if (t) nb_uniform_(t, rng, 0.0, 1.0);
    return t;
}

nb_tensor *nb_tensor_randn(nb_rng *rng, nb_dtype dtype, int ndim, const int64_t *shape) {
    nb_tensor *t = nb_tensor_empty(dtype, ndim, shape);
    if (t) nb_normal_(t, rng, 0.0, 1.0);
    return t;
}

nb_tensor *nb_tensor_randint(nb_rng *rng, int64_t low, int64_t high, nb_dtype dtype, int ndim, const int64_t *shape) {
    if (low >= high) {
        nb_error(NB_ERR_ARG, "randint: low (%lld) must be below high (%lld)", (long long)low, (long long)high);
        return NULL;
    }
    nb_tensor *t = nb_tensor_empty(dtype, ndim, shape);
    if (!t) return NULL;
    if (!rng) rng = nb_rng_default();
    size_t n = (size_t)nb_tensor_numel(t);
    if (dtype == NB_F32)
        nb_rng_randint_f32(rng, nb_tensor_data(t), n, low, high);
    else
        nb_rng_randint_f64(rng, nb_tensor_data(t), n, low, high);
    return t;
}

/* ---- shape and layout ---------------------------------------------------------------- */

int64_t nb_tensor_numel(const nb_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

bool nb_tensor_is_contiguous(const nb_tensor *t) {
    int64_t expected = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        /* A dimension of size 1 never moves the index, so its stride does not matter. */
        if (t->shape[d] != 1 && t->strides[d] != expected) return false;
        expected *= t->shape[d];
    }
    return true;
}

bool nb_tensor_same_shape(const nb_tensor *a, const nb_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

const char *nb_tensor_describe(const nb_tensor *t, char *buf, size_t size) {
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (used < size) snprintf(buf + used, size - used, ") %s", nb_dtype_name(t->dtype));
    return buf;
}

void *nb_tensor_data(const nb_tensor *t) { return nb_elem_ptr(t->storage->data, t->dtype, t->offset); }

size_t nb_tensor_storage_refcount(const nb_tensor *t) { return t->storage->refcount; }

/* ---- views ----------------------------------------------------------------------------- */

static nb_tensor *header_share(const nb_tensor *t) {
    nb_tensor *v = nb_alloc(sizeof *v);
    if (!v) {
        nb_error(NB_ERR_NOMEM, "out of memory allocating a view");
        return NULL;
    }
    *v = *t;
    v->storage->refcount++;
    return v;
}

nb_tensor *nb_tensor_view(const nb_tensor *t) {
    if (nb_check_not_null("view", "tensor", t) != NB_OK) return NULL;
    return header_share(t);
}

nb_tensor *nb_tensor_transpose(const nb_tensor *t, int dim0, int dim1) {
    if (nb_check_not_null("transpose", "tensor", t) != NB_OK) return NULL;
    if (dim0 < 0 || dim0 >= t->ndim || dim1 < 0 || dim1 >= t->ndim) {
        nb_error(NB_ERR_ARG, "transpose: dims %d and %d do not exist in a rank-%d tensor", dim0, dim1, t->ndim);
        return NULL;
    }
    nb_tensor *v = header_share(t);
    if (!v) return NULL;
    v->shape[dim0] = t->shape[dim1];
    v->shape[dim1] = t->shape[dim0];
    v->strides[dim0] = t->strides[dim1];
    v->strides[dim1] = t->strides[dim0];
    return v;
}

nb_tensor *nb_tensor_t(const nb_tensor *t) {
    if (nb_check_not_null("t", "tensor", t) != NB_OK) return NULL;
    if (t->ndim != 2) {
        nb_error(NB_ERR_SHAPE, "t: expects a rank-2 tensor, got rank %d", t->ndim);
        return NULL;
    }
    return nb_tensor_transpose(t, 0, 1);
}

nb_tensor *nb_tensor_reshape(const nb_tensor *t, int ndim, const int64_t *shape) {
    if (nb_check_not_null("reshape", "tensor", t) != NB_OK) return NULL;
    if (!nb_tensor_is_contiguous(t)) {
        nb_error(NB_ERR_ARG, "reshape: tensor must be contiguous (call nb_tensor_contiguous first)");
        return NULL;
    }
    nb_tensor shaped;
    size_t nbytes;
    if (header_init(&shaped, t->dtype, ndim, shape, &nbytes) != NB_OK) return NULL;
    if (nb_tensor_numel(&shaped) != nb_tensor_numel(t)) {
        char d[64];
        nb_error(NB_ERR_SHAPE, "reshape: %s has %lld elements, the new shape %lld", nb_tensor_describe(t, d, sizeof d),
                 (long long)nb_tensor_numel(t), (long long)nb_tensor_numel(&shaped));
        return NULL;
    }
    nb_tensor *v = header_share(t);
    if (!v) return NULL;
    v->ndim = shaped.ndim;
    memcpy(v->shape, shaped.shape, sizeof v->shape);
    memcpy(v->strides, shaped.strides, sizeof v->strides);
    return v;
}

/* ---- copies ---------------------------------------------------------------------------- */

nb_tensor *nb_tensor_clone(const nb_tensor *t) {
    if (nb_check_not_null("clone", "tensor", t) != NB_OK) return NULL;
    nb_tensor *c = nb_tensor_empty(t->dtype, t->ndim, t->shape);
    if (c && nb_copy_(c, t) != NB_OK) {
        nb_tensor_free(c);
        return NULL;
    }
    return c;
}

nb_tensor *nb_tensor_contiguous(const nb_tensor *t) {
    if (nb_check_not_null("contiguous", "tensor", t) != NB_OK) return NULL;
    return nb_tensor_is_contiguous(t) ? header_share(t) : nb_tensor_clone(t);
}

nb_tensor *nb_tensor_to_dtype(const nb_tensor *t, nb_dtype dtype) {
    if (nb_check_not_null("to_dtype", "tensor", t) != NB_OK) return NULL;
    nb_tensor *c = nb_tensor_empty(dtype, t->ndim, t->shape);
    if (!c) return NULL;
    /* c is contiguous, so its k-th element sits at offset k. */
    nb_offset_iter it;
    int64_t in, out = 0;
    for (nb_offset_iter_init(&it, t); nb_offset_iter_next(&it, &in); out++) nb_store(c, out, nb_load(t, in));
    return c;
}

/* ---- element access -------------------------------------------------------------------- */

static int64_t element_offset(const nb_tensor *t, const int64_t *index) {
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        NB_ASSERT(index[d] >= 0 && index[d] < t->shape[d]);
        off += index[d] * t->strides[d];
    }
    return off;
}

double nb_tensor_get(const nb_tensor *t, const int64_t *index) { return nb_load(t, element_offset(t, index)); }

void nb_tensor_set(nb_tensor *t, const int64_t *index, double value) { nb_store(t, element_offset(t, index), value); }

nb_status nb_tensor_item(const nb_tensor *t, double *out) {
    if (nb_check_not_null("item", "tensor", t) != NB_OK) return nb_last_status();
    if (nb_tensor_numel(t) != 1) {
        char d[64];
        return nb_error(NB_ERR_SHAPE, "item: needs a one-element tensor, got %s", nb_tensor_describe(t, d, sizeof d));
    }
    int64_t zeros[NB_MAX_DIMS] = {0};
    *out = nb_tensor_get(t, zeros);
    return NB_OK;
}

/* ---- comparisons ----------------------------------------------------------------------- */

nb_status nb_max_abs_diff(const nb_tensor *a, const nb_tensor *b, double *abs_diff, double *rel_diff) {
    if (nb_check_not_null("max_abs_diff", "a", a) || nb_check_not_null("max_abs_diff", "b", b)) return nb_last_status();
    if (!nb_tensor_same_shape(a, b)) {
        char da[64], db[64];
        return nb_error(NB_ERR_SHAPE, "max_abs_diff: shapes differ: %s and %s", nb_tensor_describe(a, da, sizeof da),
                        nb_tensor_describe(b, db, sizeof db));
    }
    double max_abs = 0, max_rel = 0;
    nb_offset_iter ita, itb;
    int64_t oa, ob;
    nb_offset_iter_init(&ita, a);
    nb_offset_iter_init(&itb, b);
    while (nb_offset_iter_next(&ita, &oa) && nb_offset_iter_next(&itb, &ob)) {
        double vb = nb_load(b, ob);
        double diff = fabs(nb_load(a, oa) - vb);
        /* NaN on either side is an infinite difference, never a silent pass. */
        if (isnan(diff)) diff = INFINITY;
        double rel = diff / fmax(fabs(vb), 1e-300);
        if (diff > max_abs) max_abs = diff;
        if (rel > max_rel) max_rel = rel;
    }
    if (abs_diff) *abs_diff = max_abs;
    if (rel_diff) *rel_diff = max_rel;
    return NB_OK;
}

bool nb_tensor_all_finite(const nb_tensor *t) {
    nb_offset_iter it;
    int64_t off;
    for (nb_offset_iter_init(&it, t); nb_offset_iter_next(&it, &off);)
        if (!isfinite(nb_load(t, off))) return false;
    return true;
}
