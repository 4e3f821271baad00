/* kernels/blocked_impl.h — private to kernels/: the blocking parameters of the Goto/BLIS
 * algorithm (all of them, in this one place) and the driver that blocked.c (serial) and
 * openmp.c (threaded) share. blocked_tmpl.h holds the code; README.md explains the choice. */
#ifndef NB_KERNELS_BLOCKED_IMPL_H
#define NB_KERNELS_BLOCKED_IMPL_H

#include "kernels/cpu.h"
#include "kernels/gemm.h"

/* ---- block sizes, per ISA and dtype (all of them, in this one place) ------------------------
 * Register tile MR x NR: the micro-kernel keeps MR*NR accumulators of C in registers for a
 * whole KC-long sequence of rank-1 updates, reading an MR-row micro-panel of A and an
 * NR-column micro-panel of B. Cache blocks: the loop nest (blocked_tmpl.h) keeps one KC x NR
 * micro-panel of B in L1 while it sweeps the MR-row micro-panels of the MC x KC block of A,
 * which stays in L2 (1 MiB per core here); the KC x NC panel of B lives in the shared L3.
 * MC is a multiple of MR and NC a multiple of NR so that only the last block has edges.
 * Measured figures (GFLOP/s, this machine, Zen 5) are in kernels/README.md.
 *
 * none (portable C, baseline SSE2, 16 xmm registers): 6 x 8 floats and 6 x 4 doubles are
 * 12 accumulator registers (two vectors per row), plus 2 for the row of B and 1 for the
 * broadcast element of A. KC 256: B micro-panel 8 KiB + A micro-panel 6 KiB in L1. */
#define NB_BLK_NONE_F32_MR 6
#define NB_BLK_NONE_F32_NR 8
#define NB_BLK_NONE_F32_MC 144
#define NB_BLK_NONE_F32_KC 256
#define NB_BLK_NONE_F32_NC 4080

#define NB_BLK_NONE_F64_MR 6
#define NB_BLK_NONE_F64_NR 4
#define NB_BLK_NONE_F64_MC 96
#define NB_BLK_NONE_F64_KC 256
#define NB_BLK_NONE_F64_NC 2040

/* avx2 (AVX2 + FMA3, 16 ymm registers): 6 x 16 floats / 6 x 8 doubles = 6 rows of two
 * ymm vectors, 12 accumulators, 2 registers for the row of B, 1 for the broadcast of A
 * (the BLIS haswell shape). f32 KC 512: the B micro-panel is 32 KiB of the 48 KiB L1; a
 * longer k run per call halves the epilogue's share (the kernel alone, on L1-resident
 * panels: ~103 GFLOP/s at kc 256, ~106 at 512; in the GEMM 1024^3 KC 512 was ~3% faster
 * than 256, 2048^3 the same). MC x KC of A 288 KiB in L2; KC x NC of B 8 MiB in L3.
 * f64 KC 256 (16 KiB B micro-panel), MC 72 (144 KiB of A), NC 2040 (4 MiB of B). */
#define NB_BLK_AVX2_F32_MR 6
#define NB_BLK_AVX2_F32_NR 16
#define NB_BLK_AVX2_F32_MC 144
#define NB_BLK_AVX2_F32_KC 512
#define NB_BLK_AVX2_F32_NC 4080

#define NB_BLK_AVX2_F64_MR 6
#define NB_BLK_AVX2_F64_NR 8
#define NB_BLK_AVX2_F64_MC 72
#define NB_BLK_AVX2_F64_KC 256
#define NB_BLK_AVX2_F64_NC 2040

/* avx512 (AVX-512F, 32 zmm registers): 12 x 32 floats / 12 x 16 doubles = 12 rows of two
 * zmm vectors, 24 accumulators (enough to cover 4-cycle FMA latency on two pipes three
 * times over), 2 registers for the row of B, broadcasts of A as memory operands. Row-major
 * C makes this the transpose of BLIS's 32 x 12 column-major tile. KC 256 keeps the B
 * micro-panel at 32 KiB (f32, 2/3 of L1; the A micro-panels stream from L2); MC x KC of A
 * is 144 KiB / 288 KiB in L2; KC x NC of B 3 MiB / 4 MiB in L3. */
#define NB_BLK_AVX512_F32_MR 12
#define NB_BLK_AVX512_F32_NR 32
#define NB_BLK_AVX512_F32_MC 144
#define NB_BLK_AVX512_F32_KC 256
#define NB_BLK_AVX512_F32_NC 3072

#define NB_BLK_AVX512_F64_MR 12
#define NB_BLK_AVX512_F64_NR 16
#define NB_BLK_AVX512_F64_MC 144
#define NB_BLK_AVX512_F64_KC 256
#define NB_BLK_AVX512_F64_NC 2048

/* The largest MR * NR of any ISA: the size of the local tile that edge tiles are computed
 * into. blocked.c checks every row of the tables against it. */
#define NB_BLK_MAX_TILE 384

/* Packing buffers are aligned to a cache line (and to an AVX-512 load). */
#define NB_BLK_ALIGN 64

/* The micro-kernel contract, every ISA: C (MR, NR) = alpha * Ap (MR, kc) * Bp (kc, NR) +
 * beta * C, where Ap holds kc columns of MR values (Ap[p*MR + i]), Bp kc rows of NR values
 * (Bp[p*NR + j]), kc >= 1, and C is a full tile with row stride ldc. beta == 0 does not read
 * C. The epilogue is alpha * acc, then (beta != 0) + beta * c, each rounded separately (no
 * fused multiply-add there), so that an edge tile computed with beta = 0 into a local tile
 * and merged as tile + beta * c (blocked_tmpl.h) rounds exactly like a full tile. The
 * k-sum itself may use FMA (the SIMD kernels do): the same instructions for every tile. */
typedef void nb_ukernel_f32(int64_t kc, float alpha, const float *restrict ap, const float *restrict bp, float beta,
                            float *restrict c, int64_t ldc);
typedef void nb_ukernel_f64(int64_t kc, double alpha, const double *restrict ap, const double *restrict bp, double beta,
                            double *restrict c, int64_t ldc);

/* microkernel_avx2.c and microkernel_avx512.c, compiled with -mavx2 -mfma / -mavx512f (only
 * those files): call them only when nb_cpu_supports says the ISA runs here. */
#if defined(__x86_64__) || defined(__i386__)
#define NB_BLK_HAVE_X86 1
nb_ukernel_f32 nb_ukernel_avx2_f32;   /* NB_BLK_AVX2_F32_MR x NB_BLK_AVX2_F32_NR */
nb_ukernel_f64 nb_ukernel_avx2_f64;   /* NB_BLK_AVX2_F64_MR x NB_BLK_AVX2_F64_NR */
nb_ukernel_f32 nb_ukernel_avx512_f32; /* NB_BLK_AVX512_F32_MR x NB_BLK_AVX512_F32_NR */
nb_ukernel_f64 nb_ukernel_avx512_f64; /* NB_BLK_AVX512_F64_MR x NB_BLK_AVX512_F64_NR */
#endif

/* One row of the tables: the block sizes and micro-kernel of one (ISA, dtype). */
#define NB_BLOCKED_PARAMS_DECLARE(SFX)                                                                                 \
    typedef struct nb_blocked_params_##SFX {                                                                           \
        int64_t mr, nr, mc, kc, nc;                                                                                    \
        nb_ukernel_##SFX *ukernel;                                                                                     \
    } nb_blocked_params_##SFX;                                                                                         \
    /* The row for `isa` (which must run here; blocked.c falls back to narrower ones). */                              \
    const nb_blocked_params_##SFX *nb_blocked_params_for_##SFX(nb_cpu_isa isa);

NB_BLOCKED_PARAMS_DECLARE(f32)
NB_BLOCKED_PARAMS_DECLARE(f64)
#undef NB_BLOCKED_PARAMS_DECLARE

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
    NB_BLK_CACHE_TEAM_F32,
    NB_BLK_CACHE_TEAM_F64,
    NB_BLK_CACHE_TEAM_CHUNKS_F32, /* team.c's k split: the chunks' products */
    NB_BLK_CACHE_TEAM_CHUNKS_F64,
    NB_BLK_CACHE_COUNT
} nb_blocked_cache_id;

/* The calling thread's cache for one entry point (never NULL). */
nb_blocked_cache *nb_blocked_thread_cache(nb_blocked_cache_id id);

/* One GEMM call, prepared by nb_blocked_begin_*: the contract's arguments plus the packing
 * buffers that every thread of the call shares (A block MC x KC, B panel KC x NC). */
#define NB_BLOCKED_DECLARE(T, SFX)                                                                                     \
    typedef struct nb_blocked_job_##SFX {                                                                              \
        nb_trans ta, tb;                                                                                               \
        int64_t m, n, k;                                                                                               \
        T alpha, beta;                                                                                                 \
        const T *a;                                                                                                    \
        int64_t lda;                                                                                                   \
        const T *b;                                                                                                    \
        int64_t ldb;                                                                                                   \
        T *c;                                                                                                          \
        int64_t ldc;                                                                                                   \
        T *apack; /* MC x KC block of op(A), as MR-row micro-panels */                                                 \
        T *bpack; /* KC x NC panel of op(B), as NR-column micro-panels */                                              \
        /* block sizes and micro-kernel of the dispatch ISA read at begin: every thread of \
         * the call uses the same ones, so the ISA cannot change under a running call */                           \
        const nb_blocked_params_##SFX *prm;                                                                            \
    } nb_blocked_job_##SFX;                                                                                            \
                                                                                                                       \
    /* Fills *job and points its buffers into `cache`, growing it when the call needs     \
     * more. Returns false when the call is already done: a degenerate shape (m == 0,     \
     * n == 0: nothing; k == 0 or alpha == 0: C = beta * C) or no memory to grow the      \
     * buffers (then an unpacked loop has computed C instead). */                            \
    bool nb_blocked_begin_##SFX(nb_blocked_job_##SFX *job, nb_blocked_cache *cache, nb_trans ta, nb_trans tb,          \
                                int64_t m, int64_t n, int64_t k, T alpha, const T *a, int64_t lda, const T *b,         \
                                int64_t ldb, T beta, T *c, int64_t ldc);                                               \
    /* Runs the loop nest as thread tid of nth; every thread of the call must call it    \
     * with the same job, and barrier must synchronise them (NULL when nth == 1). Work is \
     * split by output tiles only, so C is bit-identical whatever nth is. */                             \
    void nb_blocked_run_##SFX(const nb_blocked_job_##SFX *job, int tid, int nth, nb_blocked_barrier_fn *barrier);

NB_BLOCKED_DECLARE(float, f32)
NB_BLOCKED_DECLARE(double, f64)

#undef NB_BLOCKED_DECLARE

#endif
