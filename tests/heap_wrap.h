/* tests/heap_wrap.h — the heap functions a suite linked with -Wl,--wrap=malloc (and calloc,
 * realloc, aligned_alloc, posix_memalign, free) replaces: the linker sends every call from the
 * objects linked in (the suite and nabla's static libraries) to __wrap_X, and __real_X is the C
 * library's. Calls made inside shared libraries (libc itself, libgomp, OpenBLAS, CUnit) are not
 * redirected. tests/malloc_count.c counts through them (COUNT_MALLOC suites); test_faults.c
 * fails them on demand. */
#ifndef NB_TESTS_HEAP_WRAP_H
#define NB_TESTS_HEAP_WRAP_H

#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
void __wrap_free(void *p);

#endif
