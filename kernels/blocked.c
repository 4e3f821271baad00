/* kernels/blocked.c — the serial cache-blocked GEMM (Goto/BLIS loop nest, packed panels,
 * register-blocked micro-kernel). The algorithm is in blocked_tmpl.h, instantiated here
 * once per dtype; the block sizes and micro-kernel come from a per-ISA table chosen at run
 * time (nb_cpu_dispatch_isa); openmp.c runs the same driver on several threads. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "kernels/blocked_impl.h"
#include "kernels/kernels_impl.h"
#include "kernels/small.h"

#define NB_T float
#define NB_SFX f32
#define NB_MR NB_BLK_NONE_F32_MR
#define NB_NR NB_BLK_NONE_F32_NR
#include "kernels/blocked_tmpl.h"
#undef NB_T
#undef NB_SFX
#undef NB_MR
#undef NB_NR

#define NB_T double
#define NB_SFX f64
#define NB_MR NB_BLK_NONE_F64_MR
#define NB_NR NB_BLK_NONE_F64_NR
#include "kernels/blocked_tmpl.h"
#undef NB_T
#undef NB_SFX
#undef NB_MR
#undef NB_NR

/* ---- the parameter tables: one row per ISA, indexed by nb_cpu_isa ------------------------- */

#define NB_BLK_ROW(ISA, DT, UK)                                                                                        \
    {                                                                                                                  \
        .mr = NB_BLK_##ISA##_##DT##_MR, .nr = NB_BLK_##ISA##_##DT##_NR, .mc = NB_BLK_##ISA##_##DT##_MC,                \
        .kc = NB_BLK_##ISA##_##DT##_KC, .nc = NB_BLK_##ISA##_##DT##_NC, .ukernel = UK                                  \
    }

/* The block sizes must tile each other exactly (only the last block of a loop has edges),
 * and every tile must fit the local edge tile of the macro-kernel. */
#define NB_BLK_CHECK(ISA, DT)                                                                                          \
    _Static_assert(NB_BLK_##ISA##_##DT##_MC % NB_BLK_##ISA##_##DT##_MR == 0 &&                                         \
                       NB_BLK_##ISA##_##DT##_NC % NB_BLK_##ISA##_##DT##_NR == 0 &&                                     \
                       NB_BLK_##ISA##_##DT##_MR * NB_BLK_##ISA##_##DT##_NR <= NB_BLK_MAX_TILE,                         \
                   #ISA " " #DT ": MC, NC must be multiples of MR, NR; MR*NR <= MAX_TILE")
NB_BLK_CHECK(NONE, F32);
NB_BLK_CHECK(NONE, F64);
NB_BLK_CHECK(AVX2, F32);
NB_BLK_CHECK(AVX2, F64);
NB_BLK_CHECK(AVX512, F32);
NB_BLK_CHECK(AVX512, F64);

static const nb_blocked_params_f32 params_f32[NB_CPU_ISA_COUNT] = {
    [NB_CPU_ISA_NONE] = NB_BLK_ROW(NONE, F32, micro_kernel_f32),
#ifdef NB_BLK_HAVE_X86
    [NB_CPU_ISA_AVX2] = NB_BLK_ROW(AVX2, F32, nb_ukernel_avx2_f32),
    [NB_CPU_ISA_AVX512] = NB_BLK_ROW(AVX512, F32, nb_ukernel_avx512_f32),
#endif
};
static const nb_blocked_params_f64 params_f64[NB_CPU_ISA_COUNT] = {
    [NB_CPU_ISA_NONE] = NB_BLK_ROW(NONE, F64, micro_kernel_f64),
#ifdef NB_BLK_HAVE_X86
    [NB_CPU_ISA_AVX2] = NB_BLK_ROW(AVX2, F64, nb_ukernel_avx2_f64),
    [NB_CPU_ISA_AVX512] = NB_BLK_ROW(AVX512, F64, nb_ukernel_avx512_f64),
#endif
};

/* The widest row at or below `isa` that has a micro-kernel and runs here. The dispatch ISA
 * is always supported (nb_cpu_set_dispatch_isa refuses others); the check is cheap and
 * keeps a non-x86 build, whose SIMD rows are empty, on the portable kernel. */
const nb_blocked_params_f32 *nb_blocked_params_for_f32(nb_cpu_isa isa) {
    for (int i = isa < NB_CPU_ISA_COUNT ? (int)isa : NB_CPU_ISA_COUNT - 1; i > 0; --i)
        if (params_f32[i].ukernel && nb_cpu_supports((nb_cpu_isa)i)) return &params_f32[i];
    return &params_f32[NB_CPU_ISA_NONE];
}

const nb_blocked_params_f64 *nb_blocked_params_for_f64(nb_cpu_isa isa) {
    for (int i = isa < NB_CPU_ISA_COUNT ? (int)isa : NB_CPU_ISA_COUNT - 1; i > 0; --i)
        if (params_f64[i].ukernel && nb_cpu_supports((nb_cpu_isa)i)) return &params_f64[i];
    return &params_f64[NB_CPU_ISA_NONE];
}

int64_t nb_blocked_k_chunk(nb_gemm_dtype dtype) {
    const nb_cpu_isa isa = nb_cpu_dispatch_isa();
    return dtype == NB_GEMM_F32 ? nb_blocked_params_for_f32(isa)->kc : nb_blocked_params_for_f64(isa)->kc;
}

#define NB_SUM_CHUNKS(T)                                                                                               \
    do {                                                                                                               \
        const int64_t size = m * n;                                                                                    \
        for (int64_t r = r0; r < r1; r++) {                                                                            \
            T *cr = c + r * ldc;                                                                                       \
            const T *p0 = chunks + r * n;                                                                              \
            if (beta == 0)                                                                                             \
                for (int64_t j = 0; j < n; j++) cr[j] = p0[j];                                                         \
            else                                                                                                       \
                for (int64_t j = 0; j < n; j++) cr[j] = p0[j] + beta * cr[j];                                          \
            for (int q = 1; q < nchunks; q++) {                                                                        \
                const T *pq = p0 + q * size;                                                                           \
                for (int64_t j = 0; j < n; j++) cr[j] = pq[j] + cr[j];                                                 \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

void nb_gemm_sum_chunks_f32(int64_t m, int64_t n, const float *chunks, int nchunks, float beta, float *c, int64_t ldc,
                            int64_t r0, int64_t r1) {
    NB_SUM_CHUNKS(float);
}

void nb_gemm_sum_chunks_f64(int64_t m, int64_t n, const double *chunks, int nchunks, double beta, double *c,
                            int64_t ldc, int64_t r0, int64_t r1) {
    NB_SUM_CHUNKS(double);
}

/* ---- the per-thread packing caches ------------------------------------------------------ */

static _Thread_local nb_blocked_cache thread_caches[NB_BLK_CACHE_COUNT];
static _Thread_local bool thread_caches_registered;
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

/* Runs when a thread that used a cache exits (a thread-local variable has no destructor in
 * C11; a pthread key does). The main thread's caches are never freed this way: exit() does
 * not run key destructors, and the memory stays reachable through the thread's TLS. */
static void free_thread_caches(void *caches) {
    nb_blocked_cache *c = caches;
    for (int i = 0; i < NB_BLK_CACHE_COUNT; ++i) {
        free(c[i].data);
        c[i] = (nb_blocked_cache){0};
    }
}

static void make_cache_key(void) { cache_key_ok = pthread_key_create(&cache_key, free_thread_caches) == 0; }

nb_blocked_cache *nb_blocked_thread_cache(nb_blocked_cache_id id) {
    if (!thread_caches_registered) {
        /* If the key cannot be made, a thread that exits leaks its buffers: still correct. */
        pthread_once(&cache_key_once, make_cache_key);
        if (cache_key_ok) pthread_setspecific(cache_key, thread_caches);
        thread_caches_registered = true;
    }
    return &thread_caches[id];
}

/* ---- the entry points -------------------------------------------------------------------- */

void nb_blocked_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                      int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nthreads) {
    (void)nthreads; /* serial by definition: openmp is the threaded twin */
    /* Small and skinny products (every product of a seed step) skip packing: kernels/small.h */
    if (nb_small_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    nb_blocked_job_f32 job;
    if (nb_blocked_begin_f32(&job, nb_blocked_thread_cache(NB_BLK_CACHE_BLOCKED_F32), ta, tb, m, n, k, alpha, a, lda, b,
                             ldb, beta, c, ldc))
        nb_blocked_run_f32(&job, 0, 1, NULL);
}

void nb_blocked_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                      int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, int nthreads) {
    (void)nthreads;
    if (nb_small_dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    nb_blocked_job_f64 job;
    if (nb_blocked_begin_f64(&job, nb_blocked_thread_cache(NB_BLK_CACHE_BLOCKED_F64), ta, tb, m, n, k, alpha, a, lda, b,
                             ldb, beta, c, ldc))
        nb_blocked_run_f64(&job, 0, 1, NULL);
}
