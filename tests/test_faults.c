/* tests/test_faults.c — allocation-failure injection over every training variant. For each
 * variant a short run (create, two steps, destroy; create for gradient checks, loss_and_grad
 * twice, destroy; and the harness's nb_train_run of two steps) is repeated with its k-th
 * allocation failing, for k = 1, 2, ... until a run makes fewer than k. Two layers are
 * walked: nb_alloc's requests (nb_alloc_fail_after), and the system heap as nabla's own code
 * calls it (malloc, calloc, realloc, aligned_alloc, posix_memalign, wrapped at link time here:
 * the graph builder and compiler and the kernels' buffers use it directly, and nb_alloc draws
 * on it). Every run a failure hits
 * must return NB_ERR_NOMEM with an "out of memory" message, or succeed with exactly the
 * fault-free losses; losses it reported before failing must be the fault-free ones; and the
 * allocator's live blocks and bytes and the heap's balance must be as before: no crash, no
 * garbage, no leak. Done with nb_alloc's cache on and off, in f32 and f64. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "harness/train.h"
#include "heap_wrap.h"
#include "kernels/gemm.h"
#include "tensor/runtime.h"
#include "test_util.h"
#include "variants/variant.h"

/* Small dimensions: the allocations a run makes do not depend on them, the time does. Odd
 * sizes, so that no shape coincides with another and hides a mix-up. */
#define BATCH 5
#define D_IN 7
#define HIDDEN 6
#define D_OUT 3
/* A variant's run makes a few hundred requests; this bounds the walk if one never ends. */
#define MAX_POINTS 100000
/* Failures reported per variant and mode before the walk stops: one bug often fails every
 * later point too, and a wall of identical messages helps no one. */
#define MAX_REPORTS 5

/* ---- the system heap, wrapped -------------------------------------------------------------
 * tests/CMakeLists.txt links this suite with -Wl,--wrap for these six functions, so every call
 * from the objects linked in (this file and nabla's static libraries) comes here; calls made
 * inside shared libraries (libc, libgomp, OpenBLAS, CUnit) do not, so what is counted is
 * nabla's own use. While counting, allocations and frees are counted, and an armed countdown
 * fails the allocation it reaches (once) as the system would: NULL or ENOMEM with errno set
 * (the prototypes are in heap_wrap.h). */
static atomic_bool heap_counting;
/* requests: calls, failed ones included; allocs: the calls that returned memory */
static atomic_long heap_requests, heap_allocs, heap_frees, heap_countdown, heap_injected;

/* Counts one request; true when it is the one to fail. */
static bool heap_take(void) {
    if (!atomic_load(&heap_counting)) return false;
    atomic_fetch_add(&heap_requests, 1);
    long left = atomic_load(&heap_countdown);
    while (left > 0 && !atomic_compare_exchange_weak(&heap_countdown, &left, left - 1)) {}
    if (left != 1) return false;
    atomic_fetch_add(&heap_injected, 1);
    return true;
}

/* Counts a block the system handed out (q, when not NULL). */
static void *heap_got(void *q) {
    if (q && atomic_load(&heap_counting)) atomic_fetch_add(&heap_allocs, 1);
    return q;
}

static void heap_give(void *p) {
    if (p && atomic_load(&heap_counting)) atomic_fetch_add(&heap_frees, 1);
}

void *__wrap_malloc(size_t size) {
    if (heap_take()) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_got(__real_malloc(size));
}
void *__wrap_calloc(size_t n, size_t size) {
    if (heap_take()) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_got(__real_calloc(n, size));
}
/* A moving realloc is an allocation and a free; a failed one leaves p allocated. */
void *__wrap_realloc(void *p, size_t size) {
    if (heap_take()) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __real_realloc(p, size);
    if (q || size == 0) heap_give(p);
    return heap_got(q);
}
void *__wrap_aligned_alloc(size_t align, size_t size) {
    if (heap_take()) {
        errno = ENOMEM;
        return NULL;
    }
    return heap_got(__real_aligned_alloc(align, size));
}
int __wrap_posix_memalign(void **p, size_t align, size_t size) {
    if (heap_take()) return ENOMEM;
    int failed = __real_posix_memalign(p, align, size);
    if (!failed) heap_got(*p);
    return failed;
}
void __wrap_free(void *p) {
    heap_give(p);
    __real_free(p);
}

/* ---- the runs ------------------------------------------------------------------------------ */

typedef enum layer {
    LAYER_NB_ALLOC, /* nb_alloc_fail_after(k) */
    LAYER_HEAP      /* the k-th system allocation of nabla's code */
} layer;

typedef enum run_kind {
    RUN_TRAIN, /* create, step 0, step 1, destroy */
    RUN_GRAD,  /* create with grad_check, loss_and_grad(want_grad), loss_and_grad(no grad), destroy */
    RUN_LOOP   /* nb_train_run of two steps: the harness's loop around create, step and destroy */
} run_kind;
#define RUN_KINDS 3
static const char *const run_kind_names[RUN_KINDS] = {"train", "grad", "loop"};

#define RUN_LOSSES 2

typedef struct run_result {
    nb_status status;
    int losses_done; /* losses reported before the failure (or all of them) */
    double losses[RUN_LOSSES];
    /* A hash of every value and gradient grad_entries lists, after a run that succeeded: a
     * failure swallowed in a backward pass or an update shows here even when the losses agree. */
    uint64_t state_hash;
} run_result;

static nb_alloc_counts stats(void) {
    nb_alloc_counts c;
    nb_alloc_stats(&c);
    return c;
}

static nb_train_config small_config(const nb_variant *v, nb_dtype dtype, run_kind kind) {
    nb_train_config cfg;
    nb_train_config_default(&cfg);
    cfg.variant = v->name;
    cfg.dtype = dtype;
    cfg.seed = 7;
    cfg.batch = BATCH;
    cfg.d_in = D_IN;
    cfg.hidden = HIDDEN;
    cfg.d_out = D_OUT;
    cfg.iters = RUN_LOSSES;
    cfg.grad_check = kind == RUN_GRAD;
    return cfg;
}

/* Folds every element of t (any strides) into h, as the bits of a double. */
static uint64_t hash_tensor(uint64_t h, const nb_tensor *t) {
    int64_t numel = nb_tensor_numel(t), idx[NB_MAX_DIMS] = {0};
    h = nb_test_fnv1a64_add(h, (uint64_t)numel, 8);
    for (int64_t e = 0; e < numel; e++) {
        double v = nb_tensor_get(t, idx);
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        h = nb_test_fnv1a64_add(h, bits, 8);
        for (int d = t->ndim - 1; d >= 0 && ++idx[d] == t->shape[d]; d--) idx[d] = 0;
    }
    return h;
}

static uint64_t hash_state(const nb_variant *v, void *state) {
    nb_grad_entry entries[NB_MAX_GRAD_ENTRIES];
    int n = v->grad_entries(state, entries);
    uint64_t h = NB_TEST_FNV1A64_BASIS;
    for (int i = 0; i < n; i++) {
        h = hash_tensor(h, entries[i].value);
        if (entries[i].grad) h = hash_tensor(h, entries[i].grad);
    }
    return h;
}

/* One short run. A failed create owns nothing the caller must free: its state is not
 * touched again (destroying a half-built state is create's own job). */
static run_result run_once(const nb_variant *v, const nb_train_config *cfg, run_kind kind) {
    run_result r = {.status = NB_OK};
    for (int i = 0; i < RUN_LOSSES; i++) r.losses[i] = NAN;
    if (kind == RUN_LOOP) {
        /* the state is the loop's own: no hash, the losses and the status say it all */
        nb_train_result res;
        r.status = nb_train_run(v, cfg, NULL, NULL, &res);
        r.losses_done = (int)res.steps;
        for (int i = 0; i < r.losses_done && i < RUN_LOSSES; i++) r.losses[i] = res.losses[i];
        nb_train_result_free(&res);
        return r;
    }
    void *state = NULL;
    r.status = v->create(cfg, nb_variant_lr(v, cfg), &state);
    if (r.status != NB_OK) return r;
    for (int i = 0; i < RUN_LOSSES && r.status == NB_OK; i++) {
        r.status = kind == RUN_TRAIN ? v->step(state, i, &r.losses[i]) : v->loss_and_grad(state, i == 0, &r.losses[i]);
        if (r.status == NB_OK) r.losses_done = i + 1;
    }
    if (r.status == NB_OK) r.state_hash = hash_state(v, state);
    v->destroy(state);
    return r;
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

typedef struct walk_totals {
    long points;    /* failure points tried over every variant and mode */
    long recovered; /* of which the run still succeeded with the right losses */
} walk_totals;

static walk_totals totals;

/* Arms the failure of the k-th allocation of `where` (0 disarms) and starts counting. */
static void arm(layer where, long k) {
    if (where == LAYER_NB_ALLOC)
        nb_alloc_fail_after((uint64_t)k);
    else
        atomic_store(&heap_countdown, k);
}

typedef struct counted {
    long requests; /* allocation requests of the layer the failure walks */
    long injected; /* failures it injected */
    long heap_allocs, heap_frees;
    nb_alloc_counts alloc;
} counted;

/* One run with the k-th allocation of `where` failing (k = 0: none), what it counted, and the
 * allocator's cache emptied before and after, so the heap sees every block the run takes and
 * gives back. */
static run_result counted_run(const nb_variant *v, const nb_train_config *cfg, run_kind kind, layer where, long k,
                              counted *c) {
    nb_alloc_trim();
    nb_alloc_counts pre = stats();
    nb_clear_error();
    atomic_store(&heap_requests, 0);
    atomic_store(&heap_allocs, 0);
    atomic_store(&heap_frees, 0);
    atomic_store(&heap_injected, 0);
    atomic_store(&heap_counting, true);
    arm(where, k);
    run_result r = run_once(v, cfg, kind);
    arm(where, 0);
    nb_alloc_trim();
    atomic_store(&heap_counting, false);
    nb_alloc_counts post = stats();
    c->alloc = post;
    c->heap_allocs = atomic_load(&heap_allocs);
    c->heap_frees = atomic_load(&heap_frees);
    c->requests = where == LAYER_NB_ALLOC ? (long)(post.requests - pre.requests) : atomic_load(&heap_requests);
    c->injected = where == LAYER_NB_ALLOC ? (long)(post.failures - pre.failures) : atomic_load(&heap_injected);
    /* live counts relative to the start: kept in alloc.live_* as differences */
    c->alloc.live_blocks = post.live_blocks - pre.live_blocks;
    c->alloc.live_bytes = post.live_bytes - pre.live_bytes;
    return r;
}

/* Walks the failure through every allocation of one variant's run in one mode; returns the
 * number of failure points tried (the requests of a fault-free run). */
static long walk(const nb_variant *v, nb_dtype dtype, bool cache, run_kind kind, layer where) {
    char what[96];
    snprintf(what, sizeof what, "%s %s %s %s cache=%s", v->name, run_kind_names[kind], dtype == NB_F32 ? "f32" : "f64",
             where == LAYER_NB_ALLOC ? "nb_alloc" : "heap", cache ? "on" : "off");
    bool was_caching = nb_alloc_set_caching(cache);
    nb_train_config cfg = small_config(v, dtype, kind);

    /* The fault-free reference: its losses, and its request count, which the walk must match.
     * A run goes first, so that whatever is set up once per process (an OpenMP pool, a kernel's
     * packing buffers) is in place before the heap is counted. */
    run_once(v, &cfg, kind);
    counted c;
    run_result ref = counted_run(v, &cfg, kind, where, 0, &c);
    long requests = c.requests;
    if (ref.status != NB_OK || ref.losses_done != RUN_LOSSES) {
        FAILF("%s: the fault-free run fails: %s", what, nb_last_error());
        nb_alloc_set_caching(was_caching);
        return 0;
    }
    if (c.heap_allocs != c.heap_frees || c.alloc.live_blocks != 0) {
        FAILF("%s: the fault-free run leaks (heap %ld allocations, %ld frees; %zu live blocks)", what, c.heap_allocs,
              c.heap_frees, c.alloc.live_blocks);
        nb_alloc_set_caching(was_caching);
        return 0;
    }

    int reports = 0;
    long k;
    for (k = 1; k <= MAX_POINTS && reports < MAX_REPORTS; k++) {
        run_result r = counted_run(v, &cfg, kind, where, k, &c);
        int before_reports = reports;
        if (c.alloc.live_blocks != 0 || c.alloc.live_bytes != 0) {
            FAILF("%s k=%ld: %lld blocks (%lld bytes) leaked (%s)", what, k, (long long)c.alloc.live_blocks,
                  (long long)c.alloc.live_bytes, nb_last_error());
            reports++;
        }
        if (c.heap_allocs != c.heap_frees) {
            FAILF("%s k=%ld: the system heap got %ld allocations and %ld frees (%s)", what, k, c.heap_allocs,
                  c.heap_frees, nb_last_error());
            reports++;
        }
        /* Losses reported before the failure are those of the fault-free run, bit for bit. */
        for (int i = 0; i < r.losses_done; i++) {
            if (!same_bits(r.losses[i], ref.losses[i])) {
                FAILF("%s k=%ld: loss %d is %.17g, the fault-free run's %.17g", what, k, i, r.losses[i], ref.losses[i]);
                reports++;
                break;
            }
        }
        if (c.injected == 0) {
            /* Past the last request: the run is a fault-free one. */
            if (r.status != NB_OK || r.losses_done != RUN_LOSSES || r.state_hash != ref.state_hash) {
                FAILF("%s k=%ld: no failure injected, yet the run fails or ends elsewhere: %s", what, k,
                      nb_last_error());
                reports++;
            }
            break;
        }
        if (c.injected != 1) {
            FAILF("%s k=%ld: %ld failures injected, not one", what, k, c.injected);
            reports++;
        }
        if (r.status == NB_OK) {
            /* A run may survive a failed allocation only by doing the same work another way (nb_alloc
             * retries after emptying its cache); its losses, compared above, say whether it did. */
            if (r.losses_done != RUN_LOSSES) {
                FAILF("%s k=%ld: success with %d of %d losses", what, k, r.losses_done, RUN_LOSSES);
                reports++;
            } else if (r.state_hash != ref.state_hash) {
                FAILF("%s k=%ld: success, but the parameters or gradients differ from the fault-free run's", what, k);
                reports++;
            } else if (reports == before_reports) {
                totals.recovered++;
            }
        } else if (r.status != NB_ERR_NOMEM || nb_last_status() != NB_ERR_NOMEM) {
            FAILF("%s k=%ld: returned '%s' (last error '%s': %s), not out of memory", what, k, nb_status_name(r.status),
                  nb_status_name(nb_last_status()), nb_last_error());
            reports++;
        } else if (!strstr(nb_last_error(), "out of memory")) {
            FAILF("%s k=%ld: unclear message '%s'", what, k, nb_last_error());
            reports++;
        }
    }
    long tried = k - 1;
    if (reports == 0 && tried != requests)
        FAILF("%s: %ld failure points tried, but a fault-free run makes %ld requests", what, tried, requests);
    printf("\n    %-44s %4ld failure points%s", what, tried, reports ? " (stopped at a failure)" : "");
    totals.points += tried;
    nb_alloc_set_caching(was_caching);
    return tried;
}

/* Which variants were walked, and how many failure points each tried: test_every_variant_walked
 * checks, after the walks, that every variant of the registry got one and that none tried
 * nothing. Sized at start from nb_variant_count(). */
static long *variant_points;
static int variants_registered, next_variant;

/* Walks the next variant of the registry, in the registry's order: main registers this test
 * once per variant (CUnit runs a suite's tests in the order they were added), under that
 * variant's name, so the log names the one that fails and a new variant is walked with no edit
 * here. */
static void test_next_variant(void) {
    int index = next_variant++;
    CU_ASSERT_TRUE_FATAL(index < variants_registered);
    const nb_variant *v = nb_variant_at(index);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (int cache = 1; cache >= 0; cache--) {
        for (int d = 0; d < 2; d++) {
            nb_dtype dtype = d == 0 ? NB_F32 : NB_F64;
            for (int w = 0; w < 2; w++) {
                layer where = w == 0 ? LAYER_NB_ALLOC : LAYER_HEAP;
                /* A walk that tried nothing proved nothing. */
                for (int kind = 0; kind < RUN_KINDS; kind++) {
                    long tried = walk(v, dtype, cache, kind, where);
                    CU_ASSERT_TRUE(tried > 0);
                    variant_points[index] += tried;
                }
            }
        }
    }
}

/* The message an injected failure leaves: what failed, how much, and that it was injected, so
 * nobody chases a real out-of-memory condition. */
static void test_injected_message(void) {
    nb_clear_error();
    nb_alloc_fail_after(2);
    void *a = nb_alloc(10);
    void *b = nb_alloc(4096);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT_EQUAL(nb_last_status(), NB_ERR_NOMEM);
    CU_ASSERT_STRING_EQUAL(nb_last_error(), "out of memory allocating 4096 bytes (injected failure)");
    nb_free(a);
    /* The hook disarmed itself as it fired. */
    void *c = nb_alloc(10);
    CU_ASSERT_PTR_NOT_NULL(c);
    nb_free(c);
}

static void test_totals(void) {
    printf("\n    %ld failure points over every variant, mode, dtype and cache setting; %ld runs "
           "survived the failure with the fault-free losses",
           totals.points, totals.recovered);
    CU_ASSERT_TRUE(totals.points > 0);
}

/* Every variant the registry holds was walked, and each walk tried failure points. */
static void test_every_variant_walked(void) {
    CU_ASSERT_TRUE(nb_variant_count() > 0);
    CU_ASSERT_EQUAL(next_variant, nb_variant_count());
    for (int i = 0; i < variants_registered; i++) {
        const nb_variant *v = nb_variant_at(i);
        if (variant_points[i] <= 0) FAILF("variant %s: no failure points tried", v ? v->name : "?");
    }
}

int main(void) {
    /* A fixed kernel and one thread: the losses of a run and of its reference must agree bit
     * for bit, and the blas kernel at one thread keeps every run the same. */
    const nb_kernel *kernel = nb_kernel_find("blas");
    if (kernel) nb_runtime_set_kernel(kernel);
    nb_runtime_set_threads(1);
    /* The variants come from the registry: one test each, named after it. */
    variants_registered = nb_variant_count();
    size_t count = 0, capacity = (size_t)(variants_registered > 0 ? variants_registered : 0) + 3;
    nb_test_case *tests = calloc(capacity, sizeof *tests);
    char(*names)[96] = calloc(capacity, sizeof *names);
    variant_points = calloc(capacity, sizeof *variant_points);
    if (!tests || !names || !variant_points) {
        fprintf(stderr, "faults: out of memory setting up the tests\n");
        return 1;
    }
    tests[count++] = (nb_test_case){"the injected failure's message", test_injected_message};
    for (int i = 0; i < variants_registered; i++) {
        const nb_variant *v = nb_variant_at(i);
        snprintf(names[i], sizeof names[i], "%s: every allocation failure returns NOMEM, leaks nothing",
                 v ? v->name : "(missing)");
        tests[count++] = (nb_test_case){names[i], test_next_variant};
    }
    tests[count++] = (nb_test_case){"every variant of the registry was walked", test_every_variant_walked};
    tests[count++] = (nb_test_case){"totals", test_totals};
    int status = nb_test_run("faults", tests, count);
    free(variant_points);
    free(names);
    free(tests);
    return status;
}
