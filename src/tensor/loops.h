/* src/tensor/loops.h — the arithmetic every executor runs, written once: the typed elementwise
 * row loops under one op enum and the planner that lays them over tensors, the blocked sum,
 * sum_to (the backward of broadcasting), the fused loops the static graph compiles to, and the
 * one GEMM dispatch. The tensor ops (elementwise.c, reduce.c, matmul.c) check their arguments
 * and call these at once; the static graph (src/graph) plans them when it compiles and replays
 * them every step. So the two engines share their bits by construction, and a change to a loop
 * (threads, vector width) is made in one place. Recording the op for the profiler and the
 * anomaly scan are the caller's: per op in the tensor layer, per instruction in the graph. */
#ifndef NB_TENSOR_LOOPS_H
#define NB_TENSOR_LOOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/gemm.h"
#include "tensor/tensor.h"

/* A rank 0..4 layout right-aligned into 4 dims: leading dims get size 1, stride 0. */
void nb_layout4(const nb_tensor *t, int64_t shape4[4], int64_t strides4[4]);

/* ---- elementwise ----------------------------------------------------------------------------
 * out = op(x, y) element by element, x from operand a and y from operand b. The scalar s is
 * converted to the element type before use, as PyTorch converts a Python number. */
typedef enum nb_ew_op {
    NB_EW_ADD,         /* x + y */
    NB_EW_SUB,         /* x - y */
    NB_EW_MUL,         /* x * y */
    NB_EW_SUB_SCALED,  /* x - s * y, the product rounded first: PyTorch's `w -= lr * g` */
    NB_EW_MASKED_FILL, /* y != 0 ? s : x */
    NB_EW_COPY,        /* x */
    NB_EW_FILL,        /* s */
    NB_EW_ADD_S,       /* x + s */
    NB_EW_MUL_S,       /* x * s */
    NB_EW_MUL_S_MUL,   /* (x * s) * y, two roundings: a gradient scaled then chained */
    NB_EW_SQUARE,      /* x * x: pow(x, 2) as PyTorch computes it */
    NB_EW_POW_S,       /* pow(x, s) */
    NB_EW_CLAMP_MIN,   /* x < s ? s : x, NaN passes through */
    NB_EW_LT_S,        /* x < s ? 1 : 0 */
    NB_EW_WHERE_GE,    /* y >= s ? x : 0, clamp's backward */
    NB_EW_WHERE_GT,    /* y > s ? x : 0, relu's backward */
    /* A gradient's first contribution into zeros, with the zero read as a constant: PyTorch's
     * `grad += g` on a zeroed .grad is 0 + g, which differs from g only for g = -0.0. */
    NB_EW_ZERO_PLUS,       /* 0 + x */
    NB_EW_ZERO_PLUS_S,     /* 0 + s */
    NB_EW_ZERO_SUB_SCALED, /* 0 - s * y, the product rounded first */
    NB_EW_COUNT
} nb_ew_op;

/* The op's name, as the profiler and the static graph's dumps show it. */
extern const char *const nb_ew_op_names[NB_EW_COUNT];
/* Whether the op reads its scalar. */
bool nb_ew_op_has_scalar(nb_ew_op op);

/* out = op(a, b, scalar) as one tensor op: planned, run, recorded by the profiler under the op's
 * name and checked by --detect-anomaly. b may be NULL for a unary op. For the engines' generic
 * paths (a derivative's steps); user code calls the named ops (nb_mul_out, ...). */
nb_status nb_ew_out(nb_tensor *out, nb_ew_op op, const nb_tensor *a, const nb_tensor *b, double scalar);

/* An elementwise loop laid over its operands: out's shape in a 4-D frame, the inputs
 * broadcast into it (stride 0), dimensions merged wherever every operand is contiguous across
 * them (a contiguous op is one row). Operand 0 is out, 1 is a, 2 is b (b repeats a for a unary
 * op, so the row loops never test for NULL). The pointers are fixed: a plan made once may be
 * run as often as the tensors it was made from live. */
typedef struct nb_ew_loop {
    nb_ew_op op;
    nb_dtype dtype;
    double scalar;
    int ndim; /* dims left after merging, 1..4 */
    int64_t shape[4];
    int64_t stride[3][4]; /* [operand][dim] in elements; 0 where an input broadcasts */
    char *base[3];        /* first element of each operand */
    int64_t numel;
} nb_ew_loop;

/* Checks the operands (not NULL, one dtype, inputs broadcasting to out, out not a broadcast
 * view, out not overlapping an input other than element for element) and plans the loop. b may
 * be NULL for a unary op. NB_ERR_ARG or NB_ERR_SHAPE naming `opname` otherwise. */
nb_status nb_ew_loop_init(nb_ew_loop *loop, const char *opname, nb_ew_op op, nb_tensor *out, const nb_tensor *a,
                          const nb_tensor *b, double scalar);
/* Runs the loop: rows shared among the runtime's threads from NB_PARALLEL_GRAIN elements on, or
 * a few long rows split among them. Every element gets the same operations at any thread count. */
void nb_ew_loop_run(const nb_ew_loop *loop);

/* The pieces the static graph's per-thread schedule (src/graph/schedule.c) is made of: a loop
 * over operands that are all contiguous and of one shape (no broadcast, no transpose) may be cut
 * into blocks, each operand seen as a (numel / cols, cols) matrix; a block is a loop of its own,
 * run on the calling thread. Element for element the same operations as the whole loop. */
bool nb_ew_loop_is_dense(const nb_ew_loop *loop);
/* Rows [r0, r1) and columns [c0, c1) of a dense loop (0 <= r0 <= r1 <= numel / cols,
 * 0 <= c0 <= c1 <= cols). */
nb_ew_loop nb_ew_loop_block(const nb_ew_loop *dense, int64_t cols, int64_t r0, int64_t r1, int64_t c0, int64_t c1);
/* Runs the loop on the calling thread alone: whatever team it is part of owns the other blocks. */
void nb_ew_loop_run_here(const nb_ew_loop *loop);

/* ---- sums -----------------------------------------------------------------------------------
 * A sum over n elements is cut into blocks whose size depends only on n (at least
 * NB_SUM_MIN_BLOCK elements, at most NB_SUM_MAX_BLOCKS blocks), each block summed in order in
 * double (in parallel above the grain), then the block sums added in order: the same bits at
 * every thread count. */
#define NB_SUM_MIN_BLOCK 4096
#define NB_SUM_MAX_BLOCKS 1024

/* block(ctx, lo, hi) sums elements [lo, hi) in double; any work it does beside (the fused
 * loss writes its gradients) must be independent between blocks. */
typedef double nb_block_sum_fn(const void *ctx, int64_t lo, int64_t hi);
double nb_blocked_sum(int64_t n, nb_block_sum_fn *block, const void *ctx);
/* The sum of n contiguous elements of `dtype` at data, in double. */
double nb_sum_contiguous(const void *data, nb_dtype dtype, int64_t n);

/* dst (+)= alpha * src summed down to dst's shape, dst broadcasting to src (the shapes are the
 * caller's to check) and not sharing its storage: for each element of dst the block of src that
 * broadcast onto it is summed in double, rounded to the dtype, multiplied by alpha (the product
 * rounded), and added to dst's element, or to 0 when dst_is_zero (a first contribution). */
void nb_sum_to_run(nb_tensor *dst, const nb_tensor *src, double alpha, bool dst_is_zero);

/* ---- fused loops (the static graph's) -------------------------------------------------------
 * Over n contiguous elements of `dtype`, split among threads above the grain like every loop. */

/* The loss sum((a - b)^2) with nb_blocked_sum's blocks (each square rounded to the dtype), and
 * in the same pass the backward from the seed 1 as the dynamic engine computes it: pow's
 * (a - b) * 2 added to zero, then sub's, ga = that, gb = 0 - that. ga, gb may be NULL (not
 * wanted) or a, b themselves (in place: element i is read before it is written). */
double nb_fused_sqdiff_sum(nb_dtype dtype, int64_t n, const void *a, const void *b, void *ga, void *gb);
/* out = clamp_min(x, s) and mask = (x >= s), or (x > s) for relu (`strict`): the comparison the
 * backward's where_ge / where_gt makes, taken now so the backward needs only the byte. */
void nb_fused_clamp_mask(nb_dtype dtype, int64_t n, void *out, uint8_t *mask, const void *x, double s, bool strict);
/* out = (dst_is_zero ? 0 : out) + (mask ? g : 0): the where and its accumulation in one pass. */
void nb_fused_mask_backward(nb_dtype dtype, int64_t n, void *out, const void *g, const uint8_t *mask, bool dst_is_zero);

/* ---- GEMM ----------------------------------------------------------------------------------
 * out (m, n) = alpha * a (m, k) @ b (k, n) + beta * out through the kernel in use. Each rank-2
 * operand is mapped to the GEMM contract: unit column stride is NB_NO_TRANS with ld the row
 * stride, unit row stride NB_TRANS with ld the column stride (so a transposed view costs
 * nothing), anything else is copied to contiguous. */
typedef struct nb_gemm_call {
    nb_dtype dtype;
    nb_trans ta, tb;
    int64_t m, n, k;
    const void *a, *b;
    int64_t lda, ldb;
    void *c;
    int64_t ldc;
    double alpha, beta;
    nb_tensor *copies[2]; /* operands that had to be copied, or NULL; owned by the call */
} nb_gemm_call;

/* Checks shapes, dtypes, storage and out's layout, then maps the operands (copying where it
 * must). NB_ERR_* with a message otherwise; nothing to release then. */
nb_status nb_gemm_call_init(nb_gemm_call *call, nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double alpha,
                            double beta);
/* The one GEMM dispatch: the runtime's kernel and threads, the FLOPs counted (2mnk), and the
 * test-only perturbation of the first element (nb_runtime_set_gemm_perturbation). */
void nb_gemm_call_run(const nb_gemm_call *call);
/* Frees the copies. */
void nb_gemm_call_release(nb_gemm_call *call);

/* A GEMM shared out by blocks of C (the static graph's schedule): the block of rows [r0, r1) and
 * columns [c0, c1) of `whole`'s C as a call of its own, without copies (the whole call must have
 * none). Its bits are the whole call's only under a block_invariant kernel (gemm.h). */
nb_gemm_call nb_gemm_call_block(const nb_gemm_call *whole, int64_t r0, int64_t r1, int64_t c0, int64_t c1);
/* Runs a call on the runtime's kernel with one thread, counting nothing: a block of a call whose
 * FLOPs and test perturbation nb_gemm_call_account adds once, when every block is done. */
void nb_gemm_call_run_alone(const nb_gemm_call *call);
void nb_gemm_call_account(const nb_gemm_call *whole);
/* A GEMM shared out by k (gemm.h, k_chunk): op(A)'s columns and op(B)'s rows [k0, k1) as a call
 * of its own that writes its product, beta 0, into `scratch` (m x n, row-major). */
nb_gemm_call nb_gemm_call_chunk(const nb_gemm_call *whole, int64_t k0, int64_t k1, void *scratch);
/* Rows [r0, r1) of the whole call's C from its nchunks chunk products (scratch: chunk j at
 * j * m * n elements), added in k order as the kernel adds them: the first as P + beta * C
 * (beta 0: P), each later one as P + C. With the kernel's own chunks, the whole call's bits. */
void nb_gemm_chunks_reduce(const nb_gemm_call *whole, const void *scratch, int nchunks, int64_t r0, int64_t r1);

#endif
