/* tests/test_alloc.c — the caching allocator (src/base/alloc.c): alignment, reuse within a size
 * class, realloc, zeroing, the counters, trim, the caching switch, the fault hook and the
 * double-free check; and the promise it was built for: after a warm-up, a training step of
 * every variant asks the system for nothing. System allocations are counted twice, by
 * nb_alloc_stats and by wrapping malloc and its relatives at link time (tests/CMakeLists.txt),
 * so an allocator that lies in its counters, or a layer that bypasses it, fails as well. And
 * every variant's declared footprint (nb_variant.footprint) against the heap peak of a real
 * run, which the malloc wrapper also tracks: never below it, never far above it. */
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "malloc_count.h"
#include "test_util.h"

#include "base/alloc.h"
#include "tensor/runtime.h"
#include "variants/module_net.h"
#include "variants/static_graph.h"
#include "variants/variant.h"

static nb_alloc_counts stats(void) {
    nb_alloc_counts c;
    nb_alloc_stats(&c);
    return c;
}

/* Every test runs with caching on, whatever the build or NABLA_ALLOC_CACHE chose, and puts
 * the setting back: the cache is what is under test (test_caching_off turns it off itself). */
static bool saved_caching;
static int suite_init(void) {
    saved_caching = nb_alloc_set_caching(true);
    return 0;
}
static int suite_cleanup(void) {
    nb_alloc_set_caching(saved_caching);
    return 0;
}

/* ---- the allocator ------------------------------------------------------------------------------ */

static void test_alignment(void) {
    static const size_t sizes[] = {0, 1, 7, 63, 64, 65, 100, 1000, 1024, 1025, 1281, 5000, 100000, 1 << 20};
    void *blocks[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        blocks[i] = nb_alloc(sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[i]);
        if ((uintptr_t)blocks[i] % NB_ALLOC_ALIGN != 0)
            FAILF("nb_alloc(%zu) = %p is not 64-byte aligned", sizes[i], blocks[i]);
        memset(blocks[i], 0x5a, sizes[i]); /* the whole request is usable */
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) nb_free(blocks[i]);
    nb_free(NULL); /* fine */
}

static void test_reuse_within_a_class(void) {
    void *anchor = nb_alloc(8); /* keeps a block live: freeing the last one empties the cache */
    void *p = nb_alloc(200);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    nb_free(p);
    nb_alloc_counts before = stats();
    nb_test_count_begin();
    void *q = nb_alloc(250); /* 200 and 250 share the 256-byte class */
    long system = nb_test_count_end();
    nb_alloc_counts after = stats();
    CU_ASSERT_PTR_EQUAL(q, p);
    CU_ASSERT_EQUAL(system, 0);
    CU_ASSERT_EQUAL(after.cache_hits - before.cache_hits, 1);
    CU_ASSERT_EQUAL(after.system_allocs - before.system_allocs, 0);
    /* a size in another class does not get it */
    nb_free(q);
    void *r = nb_alloc(2000);
    CU_ASSERT_PTR_NOT_EQUAL(r, p);
    void *s = nb_alloc(193); /* 193..256: p's class again */
    CU_ASSERT_PTR_EQUAL(s, p);
    nb_free(r);
    nb_free(s);
    nb_free(anchor);
}

static void test_realloc_keeps_contents(void) {
    unsigned char *p = nb_realloc(NULL, 100); /* NULL: an nb_alloc */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int i = 0; i < 100; i++) p[i] = (unsigned char)i;
    unsigned char *q = nb_realloc(p, 5000); /* another class: moves */
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL((uintptr_t)q % NB_ALLOC_ALIGN, 0);
    bool kept = true;
    for (int i = 0; i < 100; i++) kept = kept && q[i] == (unsigned char)i;
    CU_ASSERT_TRUE(kept);
    memset(q + 100, 0xee, 4900);
    unsigned char *r = nb_realloc(q, 5120); /* 4097..5120 is one class: in place */
    CU_ASSERT_PTR_EQUAL(r, q);
    unsigned char *s = nb_realloc(r, 10); /* shrinking keeps the first bytes */
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    kept = true;
    for (int i = 0; i < 10; i++) kept = kept && s[i] == (unsigned char)i;
    CU_ASSERT_TRUE(kept);
    nb_free(s);
}

static void test_zeroed_after_dirty_reuse(void) {
    void *anchor = nb_alloc(8);
    unsigned char *p = nb_alloc(512);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 0xab, 512);
    nb_free(p);
    unsigned char *q = nb_alloc_zeroed(500);
    CU_ASSERT_PTR_EQUAL(q, p); /* the dirty block came back */
    bool zero = true;
    for (int i = 0; i < 500; i++) zero = zero && q[i] == 0;
    CU_ASSERT_TRUE(zero);
    nb_free(q);
    nb_free(anchor);
}

static void test_stats_add_up(void) {
    void *anchor = nb_alloc(8);
    nb_alloc_trim();
    enum { N = 12 };
    static const size_t sizes[N] = {1, 64, 65, 300, 1024, 1025, 3000, 4096, 10000, 70000, 300, 65};
    void *blocks[N];
    nb_alloc_counts before = stats();
    CU_ASSERT_EQUAL(before.cached_blocks, 0);
    CU_ASSERT_EQUAL(before.cached_bytes, 0);
    size_t total = 0;
    nb_test_count_begin();
    for (int i = 0; i < N; i++) {
        blocks[i] = nb_alloc(sizes[i]);
        total += sizes[i];
    }
    long system = nb_test_count_end();
    nb_alloc_counts live = stats();
    CU_ASSERT_EQUAL(live.requests - before.requests, N);
    CU_ASSERT_EQUAL(live.system_allocs - before.system_allocs, N); /* the cache was empty */
    CU_ASSERT_EQUAL(live.cache_hits - before.cache_hits, 0);
    CU_ASSERT_EQUAL(system, N); /* and each was one real allocation */
    CU_ASSERT_EQUAL(live.live_blocks - before.live_blocks, N);
    CU_ASSERT_EQUAL(live.live_bytes - before.live_bytes, total);
    for (int i = 0; i < N; i++) nb_free(blocks[i]);
    nb_alloc_counts freed = stats();
    CU_ASSERT_EQUAL(freed.live_blocks, before.live_blocks);
    CU_ASSERT_EQUAL(freed.live_bytes, before.live_bytes);
    CU_ASSERT_EQUAL(freed.cached_blocks, N);
    CU_ASSERT_TRUE(freed.cached_bytes >= total);
    CU_ASSERT_TRUE(freed.cached_bytes < total + (size_t)N * 64 + total / 4); /* the classes' bound on waste */
    CU_ASSERT_EQUAL(freed.system_frees, before.system_frees);                /* nothing went back yet */

    /* trim gives every cached block back, and says how many bytes */
    nb_test_count_begin();
    size_t released = nb_alloc_trim();
    nb_test_count_end();
    nb_alloc_counts trimmed = stats();
    CU_ASSERT_EQUAL(released, freed.cached_bytes);
    CU_ASSERT_EQUAL(trimmed.cached_blocks, 0);
    CU_ASSERT_EQUAL(trimmed.cached_bytes, 0);
    CU_ASSERT_EQUAL(trimmed.system_frees - freed.system_frees, N);
    CU_ASSERT_EQUAL(nb_test_counted_frees(), N);
    /* after a trim the same size comes from the system again */
    nb_test_count_begin();
    void *again = nb_alloc(300);
    CU_ASSERT_EQUAL(nb_test_count_end(), 1);
    nb_free(again);
    nb_free(anchor);
    /* the last live block took the cache with it */
    nb_alloc_counts end = stats();
    CU_ASSERT_EQUAL(end.live_blocks, 0);
    CU_ASSERT_EQUAL(end.cached_blocks, 0);
}

static void test_caching_off(void) {
    void *anchor = nb_alloc(8);
    void *warm = nb_alloc(100);
    nb_free(warm); /* one block cached */
    CU_ASSERT_TRUE(stats().cached_blocks > 0);
    CU_ASSERT_TRUE(nb_alloc_set_caching(false)); /* turning it off trims */
    CU_ASSERT_FALSE(nb_alloc_caching());
    CU_ASSERT_EQUAL(stats().cached_blocks, 0);
    nb_alloc_counts before = stats();
    nb_test_count_begin();
    for (int i = 0; i < 5; i++) {
        unsigned char *p = nb_alloc(100);
        CU_ASSERT_PTR_NOT_NULL(p);
        CU_ASSERT_EQUAL((uintptr_t)p % NB_ALLOC_ALIGN, 0);
        if (p) p[99] = 1;
        unsigned char *q = nb_realloc(p, 120); /* exact sizes: even within a class it moves */
        CU_ASSERT_PTR_NOT_NULL(q);
        nb_free(q);
    }
    long system = nb_test_count_end();
    nb_alloc_counts after = stats();
    CU_ASSERT_EQUAL(system, 10);
    CU_ASSERT_EQUAL(nb_test_counted_frees(), 10);
    CU_ASSERT_EQUAL(after.system_allocs - before.system_allocs, 10);
    CU_ASSERT_EQUAL(after.cache_hits - before.cache_hits, 0);
    CU_ASSERT_EQUAL(after.cached_blocks, 0);
    CU_ASSERT_FALSE(nb_alloc_set_caching(true));
    /* a block made with caching off may be freed with it on: it goes back to the system */
    nb_alloc_set_caching(false);
    void *exact = nb_alloc(100);
    nb_alloc_set_caching(true);
    nb_free(exact);
    CU_ASSERT_EQUAL(stats().cached_blocks, 0);
    nb_free(anchor);
}

static void test_fail_after(void) {
    void *anchor = nb_alloc(8);
    void *cached = nb_alloc(40);
    nb_free(cached); /* a cached block that request 3 would get */
    nb_alloc_counts before = stats();
    nb_clear_error();
    nb_alloc_fail_after(3);
    void *a = nb_alloc(40), *b = nb_alloc(1000);
    void *c = nb_alloc_zeroed(40); /* the third fails, though the cache could serve it */
    void *d = nb_alloc(40);        /* and the hook is spent */
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_PTR_NOT_NULL(d);
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_NOMEM);
    CU_ASSERT_TRUE(nb_test_error_mentions("injected"));
    nb_alloc_counts after = stats();
    CU_ASSERT_EQUAL(after.requests - before.requests, 4);
    CU_ASSERT_EQUAL(after.failures - before.failures, 1);
    CU_ASSERT_EQUAL(after.live_blocks - before.live_blocks, 3);

    /* a failed realloc leaves the block as it was */
    memset(b, 7, 1000);
    nb_alloc_fail_after(1);
    CU_ASSERT_PTR_NULL(nb_realloc(b, 100000));
    bool kept = true;
    for (int i = 0; i < 1000; i++) kept = kept && ((unsigned char *)b)[i] == 7;
    CU_ASSERT_TRUE(kept);
    /* 0 disarms */
    nb_alloc_fail_after(2);
    nb_alloc_fail_after(0);
    void *e = nb_alloc(10), *f = nb_alloc(10);
    CU_ASSERT_PTR_NOT_NULL(e);
    CU_ASSERT_PTR_NOT_NULL(f);
    nb_free(a);
    nb_free(b);
    nb_free(d);
    nb_free(e);
    nb_free(f);

    /* through a layer: a tensor's header is request 1, its storage request 2; either failing
     * gives NULL and NB_ERR_NOMEM and leaves nothing behind */
    for (uint64_t k = 1; k <= 2; k++) {
        nb_alloc_counts pre = stats();
        nb_clear_error();
        nb_alloc_fail_after(k);
        nb_tensor *t = nb_tensor_zeros(NB_F32, 2, (int64_t[]){3, 5});
        CU_ASSERT_PTR_NULL(t);
        CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_NOMEM);
        CU_ASSERT_EQUAL(stats().live_blocks, pre.live_blocks);
        nb_tensor_free(t);
    }
    nb_alloc_fail_after(0);
    nb_free(anchor);
}

/* Runs `misuse` in a child process and says whether the child died of SIGABRT. */
static bool aborts(void (*misuse)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        /* the message is expected; keep the test log for real failures */
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        misuse();
        _exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void double_free(void) {
    void *anchor = nb_alloc(8); /* so the first free caches the block */
    void *p = nb_alloc(100);
    nb_free(p);
    nb_free(p);
    nb_free(anchor);
}

static void foreign_aligned(void) {
    void *raw = NULL;
    if (posix_memalign(&raw, 64, 256) != 0) _exit(3);
    memset(raw, 0, 256);
    nb_free((char *)raw + 64); /* a header of zeros: no magic */
}

static void foreign_misaligned(void) {
    void *p = nb_alloc(100);
    nb_free((char *)p + 8);
}

static void realloc_of_freed(void) {
    void *anchor = nb_alloc(8);
    void *p = nb_alloc(100);
    nb_free(p);
    if (nb_realloc(p, 200)) _exit(0);
    nb_free(anchor);
}

static void test_misuse_is_caught(void) {
    CU_ASSERT_TRUE(aborts(double_free));
    CU_ASSERT_TRUE(aborts(foreign_aligned));
    CU_ASSERT_TRUE(aborts(foreign_misaligned));
    CU_ASSERT_TRUE(aborts(realloc_of_freed));
}

/* ---- steady-state training steps ------------------------------------------------------------------ */

static nb_train_config small_config(const nb_variant *v, nb_dtype dt) {
    nb_train_config cfg;
    nb_train_config_default(&cfg);
    cfg.variant = v->name;
    cfg.dtype = dt;
    cfg.batch = 8;
    cfg.d_in = 33;
    cfg.hidden = 17;
    cfg.d_out = 5;
    return cfg;
}

/* The depth the dynamic variant's next step will draw: its generator, copied, drawn from as
 * DynamicNet's forward draws (the forward's one draw is the step's only one). */
static int next_depth(void *state) {
    nb_rng peek = *nb_module_net_rng(state);
    return (int)nb_rng_randint(&peek, 0, 4);
}

enum { WARMUP = 5, MEASURED = 20, MAX_WARMUP = 400 };

/* Steady state: the step after the first (which makes the grads and the optimizer's state,
 * kept for good) allocates what it frees by its end, so the cache ends every step holding, per
 * size class, the most blocks any earlier step had live at once. A step like an earlier one
 * finds them all there. The dynamic variant's steps differ by depth (0-3 uses of the middle
 * layer): the warm-up goes on until each depth ran at least once after the first step, after
 * which every step is like an earlier one. */
static void steady_state(const nb_variant *v, nb_dtype dt) {
    nb_alloc_counts start = stats();
    nb_train_config cfg = small_config(v, dt);
    void *state = NULL;
    CU_ASSERT_EQUAL_FATAL(v->create(&cfg, nb_variant_lr(v, &cfg), &state), NB_OK);
    bool dynamic = v == &nb_variant_dynamic;
    bool seen[4] = {false, false, false, false};
    double loss = 0;
    int64_t t = 0;
    for (; t < MAX_WARMUP; t++) {
        bool covered = !dynamic || (seen[0] && seen[1] && seen[2] && seen[3]);
        if (t >= WARMUP && covered) break;
        if (dynamic && t >= 1) seen[next_depth(state)] = true;
        CU_ASSERT_EQUAL_FATAL(v->step(state, t, &loss), NB_OK);
    }
    if (t == MAX_WARMUP) FAILF("%s: %d warm-up steps did not draw every depth", v->name, MAX_WARMUP);

    int depths[4] = {0};
    nb_alloc_counts before = stats();
    nb_test_count_begin();
    for (int64_t i = 0; i < MEASURED; i++, t++) {
        if (dynamic) depths[next_depth(state)]++;
        if (v->step(state, t, &loss) != NB_OK) {
            FAILF("%s %s: step %lld: %s", v->name, nb_dtype_name(dt), (long long)t, nb_last_error());
            break;
        }
    }
    long system = nb_test_count_end();
    nb_alloc_counts after = stats();
    CU_ASSERT_TRUE(isfinite(loss));
    uint64_t requests = after.requests - before.requests;
    uint64_t from_system = after.system_allocs - before.system_allocs;
    printf("\n    %-15s %s: %3lld warm-up steps; over %d steps %6llu requests, %llu from the system, %ld malloc calls",
           v->name, nb_dtype_name(dt), (long long)(t - MEASURED), MEASURED, (unsigned long long)requests,
           (unsigned long long)from_system, system);
    if (dynamic) printf(" (depths 0-3: %d %d %d %d)", depths[0], depths[1], depths[2], depths[3]);
    if (system != 0 || from_system != 0)
        FAILF("%s %s: %ld malloc calls and %llu system allocations in %d steady-state steps", v->name,
              nb_dtype_name(dt), system, (unsigned long long)from_system, MEASURED);
    /* The autograd-based variants do allocate (graphs, temporaries): from the cache. */
    if (strcmp(v->name, "tensors") && strcmp(v->name, "static-graph") && after.cache_hits == before.cache_hits)
        FAILF("%s: no cache hits at all: is the stack still routed through nb_alloc?", v->name);

    v->destroy(state);
    nb_alloc_trim();
    nb_alloc_counts end = stats();
    if (end.live_blocks != start.live_blocks)
        FAILF("%s %s: %zu blocks (%zu bytes) still live after destroy", v->name, nb_dtype_name(dt),
              end.live_blocks - start.live_blocks, end.live_bytes - start.live_bytes);
    CU_ASSERT_EQUAL(end.cached_blocks, 0);
}

static void test_every_variant_steady_state(void) {
    nb_runtime_set_kernel(nb_kernel_find("blocked"));
    nb_runtime_set_threads(1);
    CU_ASSERT_EQUAL(stats().live_blocks, 0); /* the suite starts with nothing live */
    CU_ASSERT_TRUE(nb_variant_count() >= 8);
    for (int i = 0; i < nb_variant_count(); i++) {
        steady_state(nb_variant_at(i), NB_F32);
        steady_state(nb_variant_at(i), NB_F64);
    }
    printf("\n");
    CU_ASSERT_EQUAL(stats().live_blocks, 0);
    nb_runtime_set_kernel(NULL);
}

/* With caching off every request is the system's: what valgrind and ASan need to see every
 * use after free. Every variant still trains and leaves nothing live. */
static void test_every_variant_without_cache(void) {
    nb_runtime_set_kernel(nb_kernel_find("blocked"));
    nb_runtime_set_threads(1);
    bool was = nb_alloc_set_caching(false);
    for (int i = 0; i < nb_variant_count(); i++) {
        const nb_variant *v = nb_variant_at(i);
        nb_train_config cfg = small_config(v, NB_F64);
        nb_alloc_counts before = stats();
        void *state = NULL;
        CU_ASSERT_EQUAL_FATAL(v->create(&cfg, nb_variant_lr(v, &cfg), &state), NB_OK);
        double loss = 0;
        for (int64_t t = 0; t < 3; t++) CU_ASSERT_EQUAL(v->step(state, t, &loss), NB_OK);
        v->destroy(state);
        nb_alloc_counts after = stats();
        CU_ASSERT_EQUAL(after.cache_hits - before.cache_hits, 0);
        CU_ASSERT_EQUAL(after.system_allocs - before.system_allocs, after.requests - before.requests);
        CU_ASSERT_EQUAL(after.system_frees - before.system_frees, after.system_allocs - before.system_allocs);
        CU_ASSERT_EQUAL(after.live_blocks, before.live_blocks);
        CU_ASSERT_EQUAL(after.cached_blocks, 0);
    }
    nb_alloc_set_caching(was);
    nb_runtime_set_kernel(NULL);
}

/* ---- declared footprints against the heap ------------------------------------------------------ */

/* (N, D_in, H, D_out), odd on purpose: a tiny one, where the bookkeeping allowance is most of
 * the count; one where the weights dominate; one where the activations do (with gradient
 * checks on, so x's gradient is counted too). */
static const struct footprint_case {
    int64_t dims[4];
    bool grad_check;
} footprint_cases[] = {
    {{3, 7, 5, 2}, false},
    {{65, 513, 257, 9}, false},
    {{257, 9, 129, 3}, true},
};
enum { FOOTPRINT_STEPS = 3 };
/* The upper bound is declared <= FOOTPRINT_FACTOR * measured + FOOTPRINT_SLACK: the slack
 * covers the fixed bookkeeping allowance (NB_FP_BOOKKEEPING, 128 KiB) over the little a tiny
 * run really uses; the factor covers counting a step's temporaries as all live at once. */
#define FOOTPRINT_FACTOR 4
#define FOOTPRINT_SLACK ((long long)256 << 10)

typedef nb_status footprint_create_fn(const nb_variant *v, const nb_train_config *cfg, void **state);

static nb_status create_plain(const nb_variant *v, const nb_train_config *cfg, void **state) {
    return v->create(cfg, nb_variant_lr(v, cfg), state);
}

/* The static graph as `nabla graph --no-fusion --no-reuse` compiles it. */
static nb_status create_unfused(const nb_variant *v, const nb_train_config *cfg, void **state) {
    return nb_static_graph_create(cfg, nb_variant_lr(v, cfg), true, true, state);
}

/* One run as nb_train_run makes it: the loss history, create, the steps, destroy. The
 * dynamic variant trains until a step has drawn the deepest graph (its gradient-check
 * models use a fixed depth). Returns false, with a failure recorded, when a call fails. */
static bool footprint_run(const nb_variant *v, const nb_train_config *cfg, footprint_create_fn *create) {
    double *losses = calloc((size_t)cfg->iters, sizeof *losses);
    void *state = NULL;
    if (!losses || create(v, cfg, &state) != NB_OK) {
        FAILF("%s: create: %s", v->name, nb_last_error());
        free(losses);
        return false;
    }
    bool dynamic = v == &nb_variant_dynamic && !cfg->grad_check, deepest = !dynamic, ok = true;
    for (int64_t t = 0; ok && (t < FOOTPRINT_STEPS || !deepest) && t < cfg->iters; t++) {
        if (dynamic && next_depth(state) == 3) deepest = true;
        if (v->step(state, t, &losses[t]) != NB_OK) {
            FAILF("%s %s: step %lld: %s", v->name, nb_dtype_name(cfg->dtype), (long long)t, nb_last_error());
            ok = false;
        }
    }
    if (ok && !deepest) FAILF("%s: %lld steps never drew the deepest graph", v->name, (long long)cfg->iters);
    v->destroy(state);
    free(losses);
    return ok;
}

/* The most heap bytes one run holds at once, through the malloc wrapper (the allocator's
 * blocks as the C library sized them, the cache included), against what the variant
 * declares, both ways. A first run before the measured one leaves behind what is not the
 * variant's and is made once per process (the blocked kernel's packing buffer, grown to the
 * largest product so far and kept), and the cache is emptied before the measured run, so
 * that run gets every block from the system. */
static void check_footprint(const nb_variant *v, nb_train_config cfg, footprint_create_fn *create, int64_t declared,
                            const char *label) {
    if (!footprint_run(v, &cfg, create)) return;
    nb_alloc_trim();
    nb_alloc_counts before = stats();
    nb_test_peak_begin();
    bool ok = footprint_run(v, &cfg, create);
    long long measured = nb_test_peak_end();
    nb_alloc_trim();
    if (!ok) return;
    CU_ASSERT_EQUAL(stats().live_blocks, before.live_blocks);
    printf("\n    %-15s %s %s N%lld D%lld H%lld O%lld%s: %9lld bytes measured, %9lld declared (%.2fx)", v->name, label,
           nb_dtype_name(cfg.dtype), (long long)cfg.batch, (long long)cfg.d_in, (long long)cfg.hidden,
           (long long)cfg.d_out, cfg.grad_check ? " grad-check" : "", measured, (long long)declared,
           measured ? (double)declared / (double)measured : 0.0);
    if (measured > declared)
        FAILF("%s %s %s N%lld D%lld H%lld O%lld: the run held %lld bytes, more than the %lld its footprint declares",
              v->name, label, nb_dtype_name(cfg.dtype), (long long)cfg.batch, (long long)cfg.d_in,
              (long long)cfg.hidden, (long long)cfg.d_out, measured, (long long)declared);
    if (declared > FOOTPRINT_FACTOR * measured + FOOTPRINT_SLACK)
        FAILF("%s %s %s N%lld D%lld H%lld O%lld: declares %lld bytes, more than %d x the %lld measured + %lld", v->name,
              label, nb_dtype_name(cfg.dtype), (long long)cfg.batch, (long long)cfg.d_in, (long long)cfg.hidden,
              (long long)cfg.d_out, (long long)declared, FOOTPRINT_FACTOR, measured, FOOTPRINT_SLACK);
}

static nb_train_config footprint_config(const nb_variant *v, const struct footprint_case *c, nb_dtype dt) {
    nb_train_config cfg = small_config(v, dt);
    cfg.batch = c->dims[0];
    cfg.d_in = c->dims[1];
    cfg.hidden = c->dims[2];
    cfg.d_out = c->dims[3];
    cfg.grad_check = c->grad_check;
    cfg.iters = MAX_WARMUP;
    return cfg;
}

static void test_every_variant_footprint(void) {
    nb_runtime_set_kernel(nb_kernel_find("blocked"));
    nb_runtime_set_threads(1);
    for (int i = 0; i < nb_variant_count(); i++) {
        const nb_variant *v = nb_variant_at(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v->footprint);
        for (size_t c = 0; c < sizeof footprint_cases / sizeof footprint_cases[0]; c++)
            for (int d = 0; d < 2; d++) {
                nb_train_config cfg = footprint_config(v, &footprint_cases[c], d ? NB_F64 : NB_F32);
                int64_t declared = 0;
                CU_ASSERT_TRUE(v->footprint(&cfg, &declared));
                check_footprint(v, cfg, create_plain, declared, "");
            }
    }
    printf("\n");
    nb_runtime_set_kernel(NULL);
}

/* `nabla graph --no-fusion --no-reuse` sizes its plan with the unfused count. */
static void test_unfused_graph_footprint(void) {
    nb_runtime_set_kernel(nb_kernel_find("blocked"));
    nb_runtime_set_threads(1);
    const nb_variant *v = &nb_variant_static_graph;
    for (size_t c = 0; c < sizeof footprint_cases / sizeof footprint_cases[0]; c++)
        for (int d = 0; d < 2; d++) {
            nb_train_config cfg = footprint_config(v, &footprint_cases[c], d ? NB_F64 : NB_F32);
            int64_t fused = 0, unfused = 0;
            CU_ASSERT_TRUE(nb_static_graph_footprint(&cfg, false, &fused));
            CU_ASSERT_TRUE(nb_static_graph_footprint(&cfg, true, &unfused));
            CU_ASSERT_TRUE(unfused > fused);
            check_footprint(v, cfg, create_unfused, unfused, "unfused");
        }
    printf("\n");
    nb_runtime_set_kernel(NULL);
}

/* Dimensions whose count does not fit in int64 give false and INT64_MAX, never a wrapped
 * number that would pass the memory check; so does a loss history that does not fit. */
static void test_footprint_overflow(void) {
    for (int i = 0; i < nb_variant_count(); i++) {
        const nb_variant *v = nb_variant_at(i);
        nb_train_config cfg = small_config(v, NB_F64);
        int64_t bytes = 0;
        CU_ASSERT_TRUE(v->footprint(&cfg, &bytes));
        CU_ASSERT_TRUE(bytes > 0 && bytes < INT64_MAX);
        static const int64_t huge[][4] = {
            {(int64_t)1 << 40, (int64_t)1 << 40, 1, 1}, /* N x D_in */
            {1, (int64_t)1 << 40, (int64_t)1 << 40, 1}, /* D_in x H */
            {1, 1, (int64_t)1 << 31, (int64_t)1 << 31}, /* H x D_out, and H x H for dynamic */
            {(int64_t)1 << 31, 1, (int64_t)1 << 31, 1}, /* N x H: 2^62 elements, times the dtype */
            {INT64_MAX, 1, 1, 1},
        };
        for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
            cfg.batch = huge[k][0];
            cfg.d_in = huge[k][1];
            cfg.hidden = huge[k][2];
            cfg.d_out = huge[k][3];
            bytes = 0;
            if (v->footprint(&cfg, &bytes) || bytes != INT64_MAX)
                FAILF("%s: N%lld D%lld H%lld O%lld: the count overflows int64, yet the footprint says %lld", v->name,
                      (long long)cfg.batch, (long long)cfg.d_in, (long long)cfg.hidden, (long long)cfg.d_out,
                      (long long)bytes);
        }
        cfg = small_config(v, NB_F64);
        cfg.iters = INT64_MAX / 4; /* times 8 bytes per loss */
        CU_ASSERT_FALSE(v->footprint(&cfg, &bytes));
    }
}

int main(void) {
    static const nb_test_case tests[] = {
        {"blocks are 64-byte aligned", test_alignment},
        {"a freed block is reused within its size class", test_reuse_within_a_class},
        {"realloc keeps the contents", test_realloc_keeps_contents},
        {"zeroed memory is zero after reuse of a dirty block", test_zeroed_after_dirty_reuse},
        {"the counters add up; trim returns the cached blocks", test_stats_add_up},
        {"with caching off every request goes to the system", test_caching_off},
        {"fail_after(k) fails exactly the k-th request", test_fail_after},
        {"double frees and foreign pointers abort", test_misuse_is_caught},
        {"a steady-state step of every variant allocates nothing", test_every_variant_steady_state},
        {"every variant trains with caching off and leaves nothing live", test_every_variant_without_cache},
        {"every variant's declared footprint bounds its heap peak, within 4x", test_every_variant_footprint},
        {"the unfused, unreused static graph's footprint bounds its heap peak", test_unfused_graph_footprint},
        {"a footprint that overflows int64 says so", test_footprint_overflow},
    };
    return nb_test_run_with_hooks("alloc", suite_init, suite_cleanup, tests, sizeof tests / sizeof tests[0]);
}
