/* kernels/gemm.h — the GEMM contract every matmul kernel implements, and the registry
 * that names them. This is the lowest layer of nabla: it knows nothing of tensors.
 * kernels/README.md explains the contract on one page and how to add a kernel. */
#ifndef NB_KERNELS_GEMM_H
#define NB_KERNELS_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether an operand is used as stored or transposed. */
typedef enum { NB_NO_TRANS = 0, NB_TRANS = 1 } nb_trans;

/* Row-major   C = alpha * op(A) * op(B) + beta * C
 *
 *   op(A) is (m, k): A is stored (m, k) with lda >= k when ta == NB_NO_TRANS,
 *                    and (k, m) with lda >= m when ta == NB_TRANS.
 *   op(B) is (k, n): B is stored (k, n) with ldb >= n when tb == NB_NO_TRANS,
 *                    and (n, k) with ldb >= k when tb == NB_TRANS.
 *   C is (m, n) with ldc >= n.
 *
 * m, n, k >= 0. beta == 0 means C is never read (a C full of NaN comes out clean);
 * k == 0 or alpha == 0 means C = beta * C. A and B are never written. nthreads >= 1 is
 * the number of threads a threaded kernel may use; serial kernels ignore it. Every kernel
 * gives the same bits for the same arguments and nthreads, run after run. nabla's own
 * threaded kernels also partition the output, never the k-sum, so their result is
 * bit-identical for every thread count (nb_kernel.thread_invariant); blas, which is
 * OpenBLAS's own threading, is not held to that. */
typedef void nb_sgemm_fn(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float beta, float *c, int64_t ldc, int nthreads);
typedef void nb_dgemm_fn(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k,
                         double alpha, const double *a, int64_t lda, const double *b,
                         int64_t ldb, double beta, double *c, int64_t ldc, int nthreads);

/* One row of the registry: a kernel is data, not code paths scattered over callers. */
typedef struct nb_kernel {
    const char *name;        /* what --kernel and NABLA_KERNEL accept */
    const char *description; /* one line for `nabla kernels` */
    nb_sgemm_fn *sgemm;      /* f32 entry */
    nb_dgemm_fn *dgemm;      /* f64 entry */
    bool threaded;           /* whether nthreads changes what it does */
    bool thread_invariant;   /* bit-identical results for every nthreads */
} nb_kernel;

/* The registry, in the order `nabla kernels` lists it; naive is always first. */
int nb_kernel_count(void);
const nb_kernel *nb_kernel_at(int index);   /* NULL when index is out of range */
const nb_kernel *nb_kernel_find(const char *name); /* NULL when no kernel has that name */
const nb_kernel *nb_kernel_default(void);

/* Selection order of DESIGN.md: `requested` (from --kernel) when non-NULL, then the
 * environment variable NABLA_KERNEL when set and non-empty, then the default. Returns NULL
 * when the name that wins is unknown; *chosen_name (if non-NULL) then points at it so the
 * caller can report it. */
const nb_kernel *nb_kernel_select(const char *requested, const char **chosen_name);

/* Writes the kernel names joined by ", " into buf (always NUL-terminated, truncated to
 * size), for messages and --help. */
void nb_kernel_names(char *buf, size_t size);

#endif
