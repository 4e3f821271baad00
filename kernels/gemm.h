/* kernels/gemm.h — the GEMM contract every matmul kernel implements, the registry of the
 * concrete kernels (registry.c), auto (auto.c) and the selection by name over both (select.c).
 * This is the lowest layer of nabla: it knows nothing of tensors.
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
 * OpenBLAS's own threading, is not held to that. Theirs go further (nb_kernel.block_invariant):
 * an element of C gets the same operations whatever the shape of the call around it (the k-sum
 * in chunks fixed by k and the ISA, the same epilogue on every path), so a caller may compute
 * any rectangle of C as a call of its own and get the bits of the whole call: the static graph's
 * per-thread schedule (src/graph/schedule.c) cuts its products that way. */
typedef void nb_sgemm_fn(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nthreads);
typedef void nb_dgemm_fn(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                         int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int nthreads);

/* How a kernel orders and rounds the k-sum of each element of C, which is what sets its
 * float32 rounding error (and so the f32-against-f64 tolerance `nabla verify` holds it to,
 * src/verify/verify.c). Every kernel must declare one: the zero value, which a row that forgets
 * the field gets, is rejected by tests/test_gemm.c and by verify. kernels/README.md, "The
 * contract", says what each means. */
typedef enum nb_gemm_summation {
    NB_GEMM_SUM_UNDECLARED = 0, /* not a valid declaration */
    NB_GEMM_SUM_SEQUENTIAL,     /* one product at a time in k order, separate multiply and add */
    NB_GEMM_SUM_BLOCKED_FMA,    /* k in blocks, by micro-kernels that may fuse multiply-add */
    NB_GEMM_SUM_LIBRARY,        /* an external library (BLAS): its order is its own */
    NB_GEMM_SUM_DISPATCH,       /* per product one of the concrete kernels (auto): any of theirs */
    NB_GEMM_SUM_COUNT
} nb_gemm_summation;

/* The element type of a product, which kernels/ otherwise knows only by entry point. */
typedef enum nb_gemm_dtype { NB_GEMM_F32 = 0, NB_GEMM_F64 = 1 } nb_gemm_dtype;

/* Rows [r0, r1) of C (m x n, row stride ldc) from the products of its nchunks k chunks in
 * `chunks` (chunk j at j * m * n, row-major m x n, each computed with beta 0), added in k order
 * as a k_chunk kernel adds them (below): the first as P + beta * C (beta 0: P), each later one
 * as P + C, one rounding per add. With the kernel's own chunks, the whole call's bits. */
void nb_gemm_sum_chunks_f32(int64_t m, int64_t n, const float *chunks, int nchunks, float beta, float *c, int64_t ldc,
                            int64_t r0, int64_t r1);
void nb_gemm_sum_chunks_f64(int64_t m, int64_t n, const double *chunks, int nchunks, double beta, double *c,
                            int64_t ldc, int64_t r0, int64_t r1);

/* One row of the registry: a kernel is data, not code paths scattered over callers. */
typedef struct nb_kernel {
    const char *name;        /* what --kernel and NABLA_KERNEL accept */
    const char *description; /* one line for `nabla kernels` */
    nb_sgemm_fn *sgemm;      /* f32 entry */
    nb_dgemm_fn *dgemm;      /* f64 entry */
    bool threaded;           /* whether nthreads changes what it does */
    bool thread_invariant;   /* bit-identical results for every nthreads */
    bool block_invariant;    /* any rectangle of C as its own call: the whole call's bits */
    /* For a block_invariant kernel that sums k in fixed chunks (NULL otherwise): the chunk
     * length under the dispatch ISA now. Each chunk's product is added into C in k order, one
     * rounding each, as alpha * acc + C (the first: alpha * acc + beta * C), so a caller may
     * compute the chunks [j*kc, (j+1)*kc) as calls of their own with beta 0 into scratch and
     * add them in that order itself, and get the whole call's bits (the static graph's
     * schedule splits a product's k that way, gemm.h's contract otherwise never does). */
    int64_t (*k_chunk)(nb_gemm_dtype dtype);
    nb_gemm_summation summation; /* how it rounds the k-sum; never NB_GEMM_SUM_UNDECLARED */
    /* Its threads are OpenMP's (libgomp): the tensor layer then runs its own parallel loops on
     * OpenMP too, not on nabla's team (src/base/team.h), so that one pool of threads at a time
     * is awake and spinning on the cores; two pools whose idle threads each spin for their own
     * budget take the cores from each other (measured: openmp at 2 threads went from 80 to 130
     * ms a seed loop with its GEMMs on OpenMP and its loops on the team). */
    bool openmp_threads;
} nb_kernel;

/* ---- the registry: the concrete kernels (registry.c) ------------------------------------------
 * The kernels that do arithmetic, in the order `nabla kernels` lists them; naive is always
 * first. `auto` (below) is not among them, so everything that iterates the registry (tests,
 * sweeps, tuning) sees real kernels. */
int nb_kernel_count(void);
const nb_kernel *nb_kernel_at(int index); /* NULL when index is out of range */
/* NULL when no concrete kernel has that name (so NULL for "auto"); nb_kernel_find, below,
 * also finds auto. */
const nb_kernel *nb_kernel_find_concrete(const char *name);

/* Writes the concrete kernels' names joined by ", " into buf (always NUL-terminated,
 * truncated to size). For every name --kernel accepts, see nb_kernel_choice_names below. */
void nb_kernel_names(char *buf, size_t size);

/* The kernel used when none is chosen, and auto's fallback: a concrete kernel, by name, so that
 * auto.c can look it up in the registry without depending on the selection layer above it. */
#define NB_KERNEL_DEFAULT_NAME "blas"

/* ---- auto: the measured-fastest concrete kernel, per product --------------------------------
 * `auto` is a kernel like the others (--kernel auto, NABLA_KERNEL=auto), but its entries do no
 * arithmetic: they look the product up in a table of winners and call that kernel, so its
 * result is bit for bit the chosen kernel's. kernels/ only holds the table; a higher layer
 * measures and installs it (src/harness/tune.c, from the file `nabla tune` writes).
 *
 * Lookup for a call (dtype, nthreads, ta, tb, m, n, k):
 *   1. an entry equal in all seven;
 *   2. else, among the entries of the same dtype and nthreads, the nearest by squared
 *      distance in (ln m, ln n, ln k) (sizes below 1 count as 1): a ratio of sizes, not a
 *      difference, is what changes a kernel's speed, so 400 is nearer 1000 than 100. Entries
 *      with the same ta and tb are preferred: one is taken from them when there is any; only
 *      when none has them are the others searched. Ties go to the earlier entry;
 *   3. else (no entry for that dtype and thread count) the default kernel
 *      (NB_KERNEL_DEFAULT_NAME, the one nb_kernel_default returns).
 *
 * Every call is also recorded, one row per distinct product (dtype, threads, ta, tb, m, n, k)
 * with the kernel chosen and the number of calls, for `nabla profile`. The row doubles as a
 * cache: a product seen before costs one scan of at most NB_AUTO_MAX_DECISIONS rows, not a
 * search. Past NB_AUTO_MAX_DECISIONS distinct products the rest are searched every call and
 * only counted (nb_auto_unrecorded_calls).
 *
 * Not thread-safe: the table and the record are plain globals. Install the table before
 * running, and call auto's entries from one thread at a time. nabla calls them from the matmul
 * dispatcher (src/tensor/matmul.c) and the static graph's runner, on the calling thread only,
 * never from inside a parallel region; the kernel chosen then uses up to nthreads threads. */

/* One product and the concrete kernel for it. */
typedef struct nb_auto_entry {
    nb_gemm_dtype dtype;
    int nthreads; /* >= 1 */
    nb_trans ta, tb;
    int64_t m, n, k;         /* >= 0 */
    const nb_kernel *kernel; /* a concrete kernel: one that nb_kernel_at returns */
} nb_auto_entry;

/* The auto kernel, not a registry row (nb_kernel_find finds it): name "auto", threaded, not thread_invariant (the choice
 * itself may depend on nthreads), summation NB_GEMM_SUM_DISPATCH (its rounding is that of
 * whichever concrete kernel a product goes to). */
const nb_kernel *nb_kernel_auto(void);

/* Replaces the table with a copy of entries[0..count) and forgets the recorded decisions
 * (they were made from the old table). Returns false, keeping the old table, when an entry is
 * malformed (a kernel that is NULL, auto or not in the registry; nthreads < 1; a negative
 * size; an unknown dtype or transpose) or memory runs out. count == 0 empties the table. */
bool nb_auto_install(const nb_auto_entry *entries, int count);
void nb_auto_clear(void); /* empties the table and the record; frees the table's memory */
int nb_auto_table_size(void);

/* The kernel auto would call, by the lookup above; records nothing. Never NULL. */
const nb_kernel *nb_auto_lookup(nb_gemm_dtype dtype, int nthreads, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                                int64_t k);

/* What auto chose, one row per distinct product in first-call order. */
#define NB_AUTO_MAX_DECISIONS 64
typedef struct nb_auto_decision {
    nb_auto_entry choice; /* the product and the kernel that ran it */
    uint64_t calls;
} nb_auto_decision;

int nb_auto_decisions(const nb_auto_decision **rows); /* returns the row count */
uint64_t nb_auto_unrecorded_calls(void);              /* calls past the full record */
void nb_auto_reset_decisions(void);

/* ---- selection: from a name to a kernel (select.c) ---------------------------------------------
 * A layer above the registry and auto: it knows every name --kernel and NABLA_KERNEL accept, the
 * concrete kernels and then "auto". These stay in gemm.h rather than a select.h of their own
 * because they are the kernels' public entry for every caller (the tensor runtime asks for the
 * default, tests and commands find kernels by name): one header to include, as before the split;
 * the layering is in which .c file uses which, not in the headers. */

/* A concrete kernel or auto by name; NULL when no kernel has that name (or name is NULL). */
const nb_kernel *nb_kernel_find(const char *name);
const nb_kernel *nb_kernel_default(void); /* the concrete kernel NB_KERNEL_DEFAULT_NAME */

/* The selection order (kernels/README.md, "The registry and how a kernel is chosen"):
 * `requested` (from --kernel) when non-NULL, then the environment variable NABLA_KERNEL when
 * set and non-empty, then the default. Returns NULL when the name that wins is unknown;
 * *chosen_name (if non-NULL) then points at it so the caller can report it. */
const nb_kernel *nb_kernel_select(const char *requested, const char **chosen_name);

/* Every name nb_kernel_find accepts, for help and messages: the concrete kernels in registry
 * order, then auto ("naive, blocked, openmp, blas, auto"), joined by ", ", always
 * NUL-terminated and truncated to size; size 0 writes nothing. */
void nb_kernel_choice_names(char *buf, size_t size);

#endif
