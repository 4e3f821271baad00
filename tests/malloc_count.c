/* tests/malloc_count.c — see malloc_count.h. */
#include "malloc_count.h"
#include "heap_wrap.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

static atomic_bool counting;
static atomic_long allocations, frees;

static void note(atomic_long *counter) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) atomic_fetch_add(counter, 1);
}
void *__wrap_malloc(size_t size) {
    note(&allocations);
    return __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
    note(&allocations);
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
    note(&allocations);
    return __real_realloc(p, size);
}
void *__wrap_aligned_alloc(size_t align, size_t size) {
    note(&allocations);
    return __real_aligned_alloc(align, size);
}
int __wrap_posix_memalign(void **p, size_t align, size_t size) {
    note(&allocations);
    return __real_posix_memalign(p, align, size);
}
void __wrap_free(void *p) {
    if (p) note(&frees);
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
