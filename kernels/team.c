/* kernels/team.c — the blocked GEMM shared among nabla's own thread team (src/base/team.h)
 * rather than an OpenMP region: the same split as openmp.c (the threads share the packing of
 * each A block and B panel and take turns of output tiles; products the small path takes are cut
 * on its tiles), so C is bit-identical to blocked's and openmp's at every thread count. What
 * differs is how the threads wait: the team's workers outlive the call and spin only briefly
 * before sleeping, where libgomp's spin for a long time (GOMP_SPINCOUNT) whatever happens to
 * the thread they wait for; on a machine with a busy neighbour that is the difference between
 * microseconds and a scheduler time slice per barrier. openmp stays as the OpenMP baseline of
 * the same arithmetic. */
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

static int team_threads(int nthreads, int64_t m, int64_t n, int64_t k, int64_t min_work, int max) {
    if (nthreads <= 1 || nb_team_active()) return 1;
    if ((double)m * (double)n * (double)k < (double)min_work) return 1;
    return nthreads < max ? nthreads : max;
}

/* One body for both dtypes: a job struct for each path, the part functions the team runs, and
 * the entry point, which prepares the packed job in the calling thread's cache (grown, if it must
 * be, before the team starts: the members only read the pointers). Should the team fail to start
 * a thread, the product runs serially: the same bits. */
#define NB_TEAM_GEMM_DEFINE(T, SFX, PFX, CACHE, SMALL)                                                                 \
    typedef struct small_job_##SFX {                                                                                   \
        nb_cpu_isa isa;                                                                                                \
        nb_trans ta, tb;                                                                                               \
        int64_t m, n, k;                                                                                               \
        T alpha, beta;                                                                                                 \
        const T *a, *b;                                                                                                \
        int64_t lda, ldb, ldc;                                                                                         \
        T *c;                                                                                                          \
    } small_job_##SFX;                                                                                                 \
                                                                                                                       \
    static void small_part_##SFX(void *ctx, int part, int nparts) {                                                    \
        const small_job_##SFX *j = ctx;                                                                                \
        SMALL(j->isa, part, nparts, j->ta, j->tb, j->m, j->n, j->k, j->alpha, j->a, j->lda, j->b, j->ldb, j->beta,     \
              j->c, j->ldc);                                                                                           \
    }                                                                                                                  \
                                                                                                                       \
    static void packed_part_##SFX(void *ctx, int member, int count) {                                                  \
        nb_blocked_run_##SFX(ctx, member, count, nb_team_barrier);                                                     \
    }                                                                                                                  \
                                                                                                                       \
    void nb_team_##PFX##gemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a,           \
                             int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc, int nthreads) {          \
        if (nb_small_accepts(ta, tb, m, n, k)) {                                                                       \
            small_job_##SFX job = {nb_cpu_dispatch_isa(), ta, tb, m, n, k, alpha, beta, a, b, lda, ldb, ldc, c};       \
            const int nt = team_threads(nthreads, m, n, k, NB_TEAM_GEMM_SMALL_MIN_WORK, NB_SMALL_MAX_PARTS / 2);       \
            /* two parts a thread: what one that lost its core has not begun, another takes */                         \
            if (nt == 1 || nb_team_for(nt, 2 * nt, small_part_##SFX, &job) != NB_OK) small_part_##SFX(&job, 0, 1);     \
            return;                                                                                                    \
        }                                                                                                              \
        nb_blocked_job_##SFX job;                                                                                      \
        if (!nb_blocked_begin_##SFX(&job, nb_blocked_thread_cache(CACHE), ta, tb, m, n, k, alpha, a, lda, b, ldb,      \
                                    beta, c, ldc))                                                                     \
            return;                                                                                                    \
        const int nt = team_threads(nthreads, m, n, k, NB_TEAM_GEMM_MIN_WORK, NB_TEAM_MAX);                            \
        if (nt == 1 || nb_team_run(nt, packed_part_##SFX, &job) != NB_OK) nb_blocked_run_##SFX(&job, 0, 1, NULL);      \
    }

NB_TEAM_GEMM_DEFINE(float, f32, s, NB_BLK_CACHE_TEAM_F32, nb_small_sgemm_part)
NB_TEAM_GEMM_DEFINE(double, f64, d, NB_BLK_CACHE_TEAM_F64, nb_small_dgemm_part)
