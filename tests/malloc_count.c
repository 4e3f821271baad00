/* tests/malloc_count.c — see malloc_count.h. */
#include "malloc_count.h"
#include "heap_wrap.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

static atomic_bool counting;
static atomic_long allocations, frees;
static atomic_llong live_bytes, peak_bytes;

static void note(atomic_long *counter) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(counter, 1);
}

/* A block handed out: its usable size joins the live bytes, which may set a new peak. */
static void *gained(void *p) {
    if (!p) return p;
    long long now = atomic_fetch_add(&live_bytes, (long long)malloc_usable_size(p)) + (long long)malloc_usable_size(p);
    long long peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now)) {}
    return p;
}

/* A block about to go back (its size must be read before the real free or realloc). */
static void lost(void *p) {
    if (p) atomic_fetch_sub(&live_bytes, (long long)malloc_usable_size(p));
}

void *__wrap_malloc(size_t size) {
    note(&allocations);
    return gained(__real_malloc(size));
}
void *__wrap_calloc(size_t n, size_t size) {
    note(&allocations);
    return gained(__real_calloc(n, size));
}
void *__wrap_realloc(void *p, size_t size) {
    note(&allocations);
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, size);
    if (!q && size) return NULL; /* failed: p is untouched and still counted */
    atomic_fetch_sub(&live_bytes, (long long)old);
    return gained(q);
}
void *__wrap_aligned_alloc(size_t align, size_t size) {
    note(&allocations);
    return gained(__real_aligned_alloc(align, size));
}
int __wrap_posix_memalign(void **p, size_t align, size_t size) {
    note(&allocations);
    int failed = __real_posix_memalign(p, align, size);
    if (!failed) gained(*p);
    return failed;
}
void __wrap_free(void *p) {
    if (p) note(&frees);
    lost(p);
    __real_free(p);
}

void nb_test_count_begin(void) {
    atomic_store(&allocations, 0);
    atomic_store(&frees, 0);
    atomic_store(&counting, true);
}

long nb_test_count_end(void) {
    atomic_store(&counting, false);
    return atomic_load(&allocations);
}

long nb_test_counted_frees(void) { return atomic_load(&frees); }

static long long peak_base;

void nb_test_peak_begin(void) {
    peak_base = atomic_load(&live_bytes);
    atomic_store(&peak_bytes, peak_base);
}

long long nb_test_peak_end(void) { return atomic_load(&peak_bytes) - peak_base; }

long long nb_test_live_bytes(void) { return atomic_load(&live_bytes); }
