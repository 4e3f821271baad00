/* src/tensor/tensor_impl.h — what the tensor layer's own files share and users do not:
 * the storage struct, argument checks, raw element access and the offset iterator. The loops
 * themselves, which the static graph shares, are in loops.h. */
#ifndef NB_TENSOR_TENSOR_IMPL_H
#define NB_TENSOR_TENSOR_IMPL_H

#include "tensor/loops.h"
#include "tensor/tensor.h"

struct nb_storage {
    void *data; /* 64-byte aligned: the same nb_alloc block, after this struct (tensor.c) */
    size_t nbytes;
    size_t refcount; /* headers that point here */
};

/* Returns NB_ERR_ARG with "<op>: <what> is NULL" when t is NULL. */
nb_status nb_check_not_null(const char *op, const char *what, const void *t);
/* NB_ERR_SHAPE with both descriptions when the dtypes differ. */
nb_status nb_check_same_dtype(const char *op, const nb_tensor *a, const nb_tensor *b);

/* Whether a and b share any element of one storage (the spans from their first to their last
 * element meet); false when either is empty. Strides are never negative here. */
bool nb_tensor_overlap(const nb_tensor *a, const nb_tensor *b);

/* Elements of `dtype` as a char pointer at element offset `index` from p. */
static inline char *nb_elem_ptr(void *p, nb_dtype dtype, int64_t index) {
    return (char *)p + (ptrdiff_t)index * (ptrdiff_t)nb_dtype_size(dtype);
}

/* Raw element load/store at an element offset into the storage (slow paths only). */
static inline double nb_load(const nb_tensor *t, int64_t offset) {
    return t->dtype == NB_F32 ? (double)((const float *)t->storage->data)[offset]
                              : ((const double *)t->storage->data)[offset];
}
static inline void nb_store(nb_tensor *t, int64_t offset, double value) {
    if (t->dtype == NB_F32)
        ((float *)t->storage->data)[offset] = (float)value;
    else
        ((double *)t->storage->data)[offset] = value;
}

/* Visits the storage offsets of every element of a tensor of any layout, row-major:
 *     nb_offset_iter it; int64_t off;
 *     for (nb_offset_iter_init(&it, t); nb_offset_iter_next(&it, &off);) ...
 * Two tensors of the same shape visited side by side meet the same index in each step. */
typedef struct nb_offset_iter {
    int64_t shape[4], strides[4], index[4];
    int64_t offset;    /* of the element at index */
    int64_t remaining; /* elements not yet visited */
} nb_offset_iter;

static inline void nb_offset_iter_init(nb_offset_iter *it, const nb_tensor *t) {
    nb_layout4(t, it->shape, it->strides);
    for (int d = 0; d < 4; d++) it->index[d] = 0;
    it->offset = t->offset;
    it->remaining = nb_tensor_numel(t);
}

static inline bool nb_offset_iter_next(nb_offset_iter *it, int64_t *offset) {
    if (it->remaining <= 0) return false;
    *offset = it->offset;
    if (--it->remaining == 0) return true;
    for (int d = 3; d >= 0; d--) { /* odometer step: carry into the next outer dim */
        it->offset += it->strides[d];
        if (++it->index[d] < it->shape[d]) break;
        it->offset -= it->strides[d] * it->shape[d];
        it->index[d] = 0;
    }
    return true;
}

#endif
