/* kernels/blocked_impl.h — private to kernels/: the blocking parameters of the Goto/BLIS
 * algorithm (all of them, in this one place) and the driver that blocked.c (serial) and
 * openmp.c (threaded) share. blocked_tmpl.h holds the code; README.md explains the choice. */
#ifndef NB_KERNELS_BLOCKED_IMPL_H
#define NB_KERNELS_BLOCKED_IMPL_H

#include "kernels/gemm.h"

/* Register tile MR x NR: the micro-kernel keeps MR*NR accumulators of C in registers for a
 * whole KC-long rank-1 update sequence. Written in portable C for baseline SSE2 (16 xmm
 * registers): 6 x 8 floats and 6 x 4 doubles are both 12 accumulator registers of two
 * vectors per row, plus 2 for the row of B and 1 for the broadcast element of A.
 *
 * Cache blocks: a KC x NR micro-panel of B and an MR x KC micro-panel of A stay in L1
 * (8 KiB + 6 KiB for f32), the MC x KC block of A in L2, the KC x NC panel of B in L3.
 * MC is a multiple of MR and NC a multiple of NR so that only the last block has edges. */
#define NB_BLK_F32_MR 6
#define NB_BLK_F32_NR 8
#define NB_BLK_F32_MC 144
#define NB_BLK_F32_KC 256
#define NB_BLK_F32_NC 4080

#define NB_BLK_F64_MR 6
#define NB_BLK_F64_NR 4
#define NB_BLK_F64_MC 96
#define NB_BLK_F64_KC 256
#define NB_BLK_F64_NC 2040

/* Packing buffers are aligned to a cache line (and to any future AVX-512 load). */
#define NB_BLK_ALIGN 64

/* Barrier between the threads of one call; NULL when the call runs on one thread. */
typedef void nb_blocked_barrier_fn(void);

/* The packing workspace of one kernel entry point on one calling thread: grow-only, so that
 * once a thread has run its largest call, later calls allocate nothing (a training loop
 * calls the same few shapes 500 times). Thread-local because two threads may call the same
 * kernel at once; the OpenMP kernel's team uses the buffer of the thread that called it,
 * which grows it before the parallel region starts. A thread's buffers are freed when the
 * thread exits; the main thread's stay reachable until the process ends. */
typedef struct nb_blocked_cache {
    void *data;   /* NB_BLK_ALIGN-aligned, or NULL */
    size_t bytes; /* capacity of data */
} nb_blocked_cache;

typedef enum nb_blocked_cache_id {
    NB_BLK_CACHE_BLOCKED_F32,
    NB_BLK_CACHE_BLOCKED_F64,
    NB_BLK_CACHE_OPENMP_F32,
    NB_BLK_CACHE_OPENMP_F64,
    NB_BLK_CACHE_COUNT
} nb_blocked_cache_id;

/* The calling thread's cache for one entry point (never NULL). */
nb_blocked_cache *nb_blocked_thread_cache(nb_blocked_cache_id id);

/* One GEMM call, prepared by nb_blocked_begin_*: the contract's arguments plus the packing
 * buffers that every thread of the call shares (A block MC x KC, B panel KC x NC). */
#define NB_BLOCKED_DECLARE(T, SFX)                                                        \
    typedef struct nb_blocked_job_##SFX {                                                 \
        nb_trans ta, tb;                                                                  \
        int64_t m, n, k;                                                                  \
        T alpha, beta;                                                                    \
        const T *a;                                                                       \
        int64_t lda;                                                                      \
        const T *b;                                                                       \
        int64_t ldb;                                                                      \
        T *c;                                                                             \
        int64_t ldc;                                                                      \
        T *apack;        /* MC x KC block of op(A), as MR-row micro-panels */             \
        T *bpack;        /* KC x NC panel of op(B), as NR-column micro-panels */          \
    } nb_blocked_job_##SFX;                                                               \
                                                                                          \
    /* Fills *job and points its buffers into `cache`, growing it when the call needs     \
     * more. Returns false when the call is already done: a degenerate shape (m == 0,     \
     * n == 0: nothing; k == 0 or alpha == 0: C = beta * C) or no memory to grow the      \
     * buffers (then an unpacked loop has computed C instead). */                         \
    bool nb_blocked_begin_##SFX(nb_blocked_job_##SFX *job, nb_blocked_cache *cache,       \
                                nb_trans ta, nb_trans tb, int64_t m, int64_t n,           \
                                int64_t k, T alpha, const T *a, int64_t lda, const T *b,  \
                                int64_t ldb, T beta, T *c, int64_t ldc);                  \
    /* Runs the loop nest as thread tid of nth; every thread of the call must call it    \
     * with the same job, and barrier must synchronise them (NULL when nth == 1). Work is \
     * split by output tiles only, so C is bit-identical whatever nth is. */              \
    void nb_blocked_run_##SFX(const nb_blocked_job_##SFX *job, int tid, int nth,          \
                              nb_blocked_barrier_fn *barrier);

NB_BLOCKED_DECLARE(float, f32)
NB_BLOCKED_DECLARE(double, f64)

#undef NB_BLOCKED_DECLARE

#endif
