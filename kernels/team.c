/* kernels/team.c — the blocked GEMM shared among nabla's own thread team (src/base/team.h)
 * rather than an OpenMP region: the same split as openmp.c (the threads share the packing of
 * each A block and B panel and take turns of output tiles; products the small path takes are cut
 * on its tiles), so C is bit-identical to blocked's and openmp's at every thread count. What
 * differs is how the threads wait: the team's workers outlive the call and spin only briefly
 * before sleeping, where libgomp's spin for a long time (GOMP_SPINCOUNT) whatever happens to
 * the thread they wait for; on a machine with a busy neighbour that is the difference between
 * microseconds and a scheduler time slice per barrier. openmp stays as the OpenMP baseline of
 * the same arithmetic. */
#include <stdlib.h>

#include "base/team.h"
#include "kernels/blocked_impl.h"
#include "kernels/kernels_impl.h"
#include "kernels/small.h"

/* Below this many multiply-adds (m*n*k) the product runs on the calling thread alone. The
 * team's start is cheaper than an OpenMP region's (its workers are spinning or a futex wake
 * away), but the split parts of C still end up in two cores' caches for whatever reads them
 * next; the thresholds are openmp.c's until measured otherwise (`nabla kernels --bench
 * --kernels openmp,team --threads 2 --shapes ...` straddling them). */
#define NB_TEAM_GEMM_MIN_WORK ((int64_t)1 << 17)
#define NB_TEAM_GEMM_SMALL_MIN_WORK ((int64_t)1 << 20)

/* A product whose k is long next to its m (the seed's forward, x @ w1: 64 x 100 x 1000) is split
 * by k when each member's share of chunks is at least one: member t computes the products of
 * its run of the kernel's k chunks (gemm.h, k_chunk) into scratch, then, after all are done, the
 * sum of every chunk for its band of C's rows, in k order: the whole call's bits. Each member
 * then reads only its rows of B, the ones it last wrote when B is a weight updated by the same
 * cut of its rows (the optimizers' updates cut their tensors in contiguous shares): on 2 cores
 * that keeps w1's 400 KB where it is, where a cut of C's rows had each core read all of it,
 * half from the other core's cache. The scratch, chunks x m x n, is kept under
 * NB_TEAM_CHUNKS_MAX_BYTES (an L2's worth), and k must be NB_TEAM_K_OVER_M times m. */
#define NB_TEAM_CHUNKS_MAX_BYTES ((size_t)1 << 20)
#define NB_TEAM_MIN_BAND 8 /* rows */
#define NB_TEAM_K_OVER_M 4

static bool use_k_split(int nt, nb_trans tb, int64_t m, int64_t n, int64_t k, int64_t kc, size_t es) {
    if (nt < 2 || tb != NB_NO_TRANS || kc < 1 || k < 2 * kc || k < NB_TEAM_K_OVER_M * m) return false;
    const int64_t nchunks = (k + kc - 1) / kc;
    return (size_t)(nchunks * m * n) * es <= NB_TEAM_CHUNKS_MAX_BYTES;
}

/* The same product with B stored transposed, (n, k) (nn.Linear's weight, x @ W^T), is cut by
 * C's columns instead, on cache lines: each member then reads its own run of B's stored rows,
 * the weight's rows its update wrote. */
static bool use_column_split(int nt, nb_trans tb, int64_t m, int64_t n, int64_t k, size_t es) {
    return nt >= 2 && tb == NB_TRANS && k >= NB_TEAM_K_OVER_M * m && n * (int64_t)es >= nt * NB_BLK_ALIGN;
}

/* Cut t of nparts on n columns of es-byte elements, on whole cache lines. */
static int64_t column_cut(int64_t n, int nparts, int t, size_t es) {
    const int64_t line = NB_BLK_ALIGN / (int64_t)es;
    if (t >= nparts) return n;
    const int64_t c = (n * t / nparts + line / 2) / line * line;
    return c < n ? c : n;
}

/* The calling thread's scratch for a k split, grown (never shrunk) to `bytes`; NULL when memory
 * is short (the product then runs another way). */
static void *chunk_scratch(nb_blocked_cache_id id, size_t bytes) {
    nb_blocked_cache *c = nb_blocked_thread_cache(id);
    if (c->bytes < bytes) {
        free(c->data);
        c->data = aligned_alloc(NB_BLK_ALIGN, (bytes + NB_BLK_ALIGN - 1) / NB_BLK_ALIGN * NB_BLK_ALIGN);
        c->bytes = c->data ? bytes : 0;
    }
    return c->data;
}

static int team_threads(int nthreads, int64_t m, int64_t n, int64_t k, int64_t min_work, int max) {
    if (nthreads <= 1 || nb_team_active()) return 1;
    if ((double)m * (double)n * (double)k < (double)min_work) return 1;
    return nthreads < max ? nthreads : max;
}

/* One body for both dtypes: a job struct for each path, the part functions the team runs, and
 * the entry point, which prepares the packed job in the calling thread's cache (grown, if it must
 * be, before the team starts: the members only read the pointers). Should the team fail to start
 * a thread, the product runs serially: the same bits. */
#define NB_TEAM_GEMM_DEFINE(T, SFX, PFX, CACHE, CHUNKS, DT, SMALL)                                                      \
    typedef struct small_job_##SFX {                                                                                    \
        nb_cpu_isa isa;                                                                                                 \
        nb_trans ta, tb;                                                                                                \
        int64_t m, n, k;                                                                                                \
        T alpha, beta;                                                                                                  \
        const T *a, *b;                                                                                                 \
        int64_t lda, ldb, ldc;                                                                                          \
        T *c;                                                                                                           \
    } small_job_##SFX;                                                                                                  \
                                                                                                                        \
    static void small_part_##SFX(void *ctx, int part, int nparts) {                                                     \
        const small_job_##SFX *j = ctx;                                                                                 \
        SMALL(j->isa, part, nparts, j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->a, j->lda, j->b, j->ldb, j->beta,      \
              j->c, j->ldc);                                                                                            \
    }                                                                                                                   \
                                                                                                                        \
    static void packed_part_##SFX(void *ctx, int member, int count) {                                                   \
        nb_blocked_run_##SFX(ctx, member, count, nb_team_barrier);                                                      \
    }                                                                                                                   \
                                                                                                                        \
    typedef struct chunks_job_##SFX {                                                                                   \
        small_job_##SFX g;                                                                                              \
        int64_t kc;                                                                                                     \
        int nchunks;                                                                                                    \
        T *scratch;                                                                                                     \
    } chunks_job_##SFX;                                                                                                 \
                                                                                                                        \
    /* part j: chunk j's product, beta 0, into scratch (one serial call: small or packed path) */                       \
    static void chunk_part_##SFX(void *ctx, int part, int nparts) {                                                     \
        (void)nparts;                                                                                                   \
        const chunks_job_##SFX *j = ctx;                                                                                \
        const small_job_##SFX *g = &j->g;                                                                               \
        const int64_t k0 = part * j->kc, kk = g->k - k0 < j->kc ? g->k - k0 : j->kc;                                    \
        nb_blocked_##PFX##gemm(g->ta, g->tb, g->m, g->n, kk, g->alpha,                                                  \
                               g->ta == NB_NO_TRANS ? g->a + k0 : g->a + k0 * g->lda, g->lda,                           \
                               g->tb == NB_NO_TRANS ? g->b + k0 * g->ldb : g->b + k0, g->ldb, (T)0,                     \
                               j->scratch + part * g->m * g->n, g->n, 1);                                               \
    }                                                                                                                   \
                                                                                                                        \
    /* part t of nparts: its band of C's rows, as a call of its own */                                                  \
    static void row_band_part_##SFX(void *ctx, int part, int nparts) {                                                  \
        const small_job_##SFX *g = ctx;                                                                                 \
        const int64_t r0 = g->m * part / nparts, r1 = g->m * (part + 1) / nparts;                                       \
        if (r1 > r0)                                                                                                    \
            nb_blocked_##PFX##gemm(g->ta, g->tb, r1 - r0, g->n, g->k, g->alpha,                                         \
                                   g->ta == NB_NO_TRANS ? g->a + r0 * g->lda : g->a + r0, g->lda, g->b, g->ldb,         \
                                   g->beta, g->c + r0 * g->ldc, g->ldc, 1);                                             \
    }                                                                                                                   \
                                                                                                                        \
    /* part t of nparts: its run of C's columns, op(B)'s rows of B's storage (B transposed) */                          \
    static void column_part_##SFX(void *ctx, int part, int nparts) {                                                    \
        const small_job_##SFX *g = ctx;                                                                                 \
        const int64_t c0 = column_cut(g->n, nparts, part, sizeof(T)),                                                   \
                      c1 = column_cut(g->n, nparts, part + 1, sizeof(T));                                               \
        if (c1 > c0)                                                                                                    \
            nb_blocked_##PFX##gemm(g->ta, g->tb, g->m, c1 - c0, g->k, g->alpha, g->a, g->lda, g->b + c0 * g->ldb,       \
                                   g->ldb, g->beta, g->c + c0, g->ldc, 1);                                              \
    }                                                                                                                   \
                                                                                                                        \
    /* part t of nparts: its band of C's rows, the chunks added in k order */                                           \
    static void chunk_sum_part_##SFX(void *ctx, int part, int nparts) {                                                 \
        const chunks_job_##SFX *j = ctx;                                                                                \
        const small_job_##SFX *g = &j->g;                                                                               \
        nb_gemm_sum_chunks_##SFX(g->m, g->n, j->scratch, j->nchunks, g->beta, g->c, g->ldc, g->m *part / nparts,        \
                                 g->m * (part + 1) / nparts);                                                           \
    }                                                                                                                   \
                                                                                                                        \
    void nb_team_##PFX##gemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a,            \
                             int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc, int nthreads) {           \
        const int64_t kc = nb_blocked_k_chunk(DT);                                                                      \
        const int nk = team_threads(nthreads, m, n, k, NB_TEAM_GEMM_SMALL_MIN_WORK, NB_TEAM_MAX);                       \
        if (m > 0 && n > 0 && k > 0 && use_column_split(nk, tb, m, n, k, sizeof(T))) {                                  \
            small_job_##SFX job = {nb_cpu_dispatch_isa(), ta, tb, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c};        \
            if (nb_team_for(nk, nk, column_part_##SFX, &job) == NB_OK) return;                                          \
        }                                                                                                               \
        if (alpha != 0 && m > 0 && n > 0 && use_k_split(nk, tb, m, n, k, kc, sizeof(T))) {                              \
            const int nchunks = (int)((k + kc - 1) / kc);                                                               \
            chunks_job_##SFX job = {{nb_cpu_dispatch_isa(), ta, tb, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c},      \
                                    kc,                                                                                 \
                                    nchunks,                                                                            \
                                    chunk_scratch(CHUNKS, (size_t)(nchunks * m * n) * sizeof(T))};                      \
            /* the rows are cut in as many bands as there are members, so each has one */                               \
            if (job.scratch && nb_team_for(nk, nchunks, chunk_part_##SFX, &job) == NB_OK &&                             \
                nb_team_for(nk, nk, chunk_sum_part_##SFX, &job) == NB_OK)                                               \
                return;                                                                                                 \
            /* no scratch or no team: the whole product below computes C from scratch again (beta reads C, which a    \
             * failed sum has not touched: every part of the first run wrote scratch only) */ \
        }                                                                                                               \
        if (nb_small_accepts(ta, tb, m, n, k)) {                                                                        \
            small_job_##SFX job = {nb_cpu_dispatch_isa(), ta, tb, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c};        \
            const int nt = team_threads(nthreads, m, n, k, NB_TEAM_GEMM_SMALL_MIN_WORK, NB_SMALL_MAX_PARTS / 2);        \
            /* two parts a thread: what one that lost its core has not begun, another takes. Bands of rows \
             * where each has NB_TEAM_MIN_BAND of them: member t then computes C's elements [t, t + 1) * m * n / nt,  \
             * the share of C the elementwise loops give it (an update of a weight reads its gradient where it was  \
             * computed); else the small path's own cut on its tiles. */            \
            nb_team_fn *part = m >= 2 * nt * NB_TEAM_MIN_BAND ? row_band_part_##SFX : small_part_##SFX;                 \
            if (nt == 1 || nb_team_for(nt, 2 * nt, part, &job) != NB_OK) small_part_##SFX(&job, 0, 1);                  \
            return;                                                                                                     \
        }                                                                                                               \
        nb_blocked_job_##SFX job;                                                                                       \
        if (!nb_blocked_begin_##SFX(&job, nb_blocked_thread_cache(CACHE), ta, tb, m, n, k, alpha, a, lda, b, ldb,       \
                                    beta, c, ldc))                                                                      \
            return;                                                                                                     \
        const int nt = team_threads(nthreads, m, n, k, NB_TEAM_GEMM_MIN_WORK, NB_TEAM_MAX);                             \
        if (nt == 1 || nb_team_run(nt, packed_part_##SFX, &job) != NB_OK) nb_blocked_run_##SFX(&job, 0, 1, NULL);       \
    }

NB_TEAM_GEMM_DEFINE(float, f32, s, NB_BLK_CACHE_TEAM_F32, NB_BLK_CACHE_TEAM_CHUNKS_F32, NB_GEMM_F32,
                    nb_small_sgemm_part)
NB_TEAM_GEMM_DEFINE(double, f64, d, NB_BLK_CACHE_TEAM_F64, NB_BLK_CACHE_TEAM_CHUNKS_F64, NB_GEMM_F64,
                    nb_small_dgemm_part)
