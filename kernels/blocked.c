/* kernels/blocked.c — the serial cache-blocked GEMM (Goto/BLIS loop nest, packed panels,
 * register-blocked micro-kernel). The algorithm is in blocked_tmpl.h, instantiated here
 * once per dtype; openmp.c runs the same driver on several threads. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "kernels/blocked_impl.h"
#include "kernels/kernels_impl.h"

#define NB_T float
#define NB_SFX f32
#define NB_MR NB_BLK_F32_MR
#define NB_NR NB_BLK_F32_NR
#define NB_MC NB_BLK_F32_MC
#define NB_KC NB_BLK_F32_KC
#define NB_NC NB_BLK_F32_NC
#include "kernels/blocked_tmpl.h"
#undef NB_T
#undef NB_SFX
#undef NB_MR
#undef NB_NR
#undef NB_MC
#undef NB_KC
#undef NB_NC

#define NB_T double
#define NB_SFX f64
#define NB_MR NB_BLK_F64_MR
#define NB_NR NB_BLK_F64_NR
#define NB_MC NB_BLK_F64_MC
#define NB_KC NB_BLK_F64_KC
#define NB_NC NB_BLK_F64_NC
#include "kernels/blocked_tmpl.h"
#undef NB_T
#undef NB_SFX
#undef NB_MR
#undef NB_NR
#undef NB_MC
#undef NB_KC
#undef NB_NC

/* The block sizes must tile each other exactly (only the last block of a loop has edges). */
_Static_assert(NB_BLK_F32_MC % NB_BLK_F32_MR == 0 && NB_BLK_F32_NC % NB_BLK_F32_NR == 0,
               "f32 MC, NC must be multiples of MR, NR");
_Static_assert(NB_BLK_F64_MC % NB_BLK_F64_MR == 0 && NB_BLK_F64_NC % NB_BLK_F64_NR == 0,
               "f64 MC, NC must be multiples of MR, NR");

/* ---- the per-thread packing caches ------------------------------------------------------ */

static _Thread_local nb_blocked_cache thread_caches[NB_BLK_CACHE_COUNT];
static _Thread_local bool thread_caches_registered;
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

/* Runs when a thread that used a cache exits (a thread-local variable has no destructor in
 * C11; a pthread key does). The main thread's caches are never freed this way: exit() does
 * not run key destructors, and the memory stays reachable through the thread's TLS. */
static void free_thread_caches(void *caches)
{
    nb_blocked_cache *c = caches;
    for (int i = 0; i < NB_BLK_CACHE_COUNT; ++i) {
        free(c[i].data);
        c[i] = (nb_blocked_cache){0};
    }
}

static void make_cache_key(void)
{
    cache_key_ok = pthread_key_create(&cache_key, free_thread_caches) == 0;
}

nb_blocked_cache *nb_blocked_thread_cache(nb_blocked_cache_id id)
{
    if (!thread_caches_registered) {
        /* If the key cannot be made, a thread that exits leaks its buffers: still correct. */
        pthread_once(&cache_key_once, make_cache_key);
        if (cache_key_ok) pthread_setspecific(cache_key, thread_caches);
        thread_caches_registered = true;
    }
    return &thread_caches[id];
}

/* ---- the entry points -------------------------------------------------------------------- */

void nb_blocked_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc, int nthreads)
{
    (void)nthreads; /* serial by definition: openmp is the threaded twin */
    nb_blocked_job_f32 job;
    if (nb_blocked_begin_f32(&job, nb_blocked_thread_cache(NB_BLK_CACHE_BLOCKED_F32), ta, tb, m,
                             n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        nb_blocked_run_f32(&job, 0, 1, NULL);
}

void nb_blocked_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                      const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                      double *c, int64_t ldc, int nthreads)
{
    (void)nthreads;
    nb_blocked_job_f64 job;
    if (nb_blocked_begin_f64(&job, nb_blocked_thread_cache(NB_BLK_CACHE_BLOCKED_F64), ta, tb, m,
                             n, k, alpha, a, lda, b, ldb, beta, c, ldc))
        nb_blocked_run_f64(&job, 0, 1, NULL);
}
