/* tests/malloc_count.h — counting the heap allocations nabla's own code makes. Suites built
 * with `nabla_add_test(... COUNT_MALLOC)` link tests/malloc_count.c with -Wl,--wrap=malloc
 * (and calloc, realloc, aligned_alloc, posix_memalign, free): every call from the objects
 * linked into the executable (the suite and nabla's static libraries) goes through a counter.
 * Calls made inside shared libraries (libc itself, libgomp, OpenBLAS) are not seen, which is
 * the point: the count is nabla's own. */
#ifndef NB_TESTS_MALLOC_COUNT_H
#define NB_TESTS_MALLOC_COUNT_H

/* Zeroes both counters and starts counting. */
void nb_test_count_begin(void);
/* Stops counting; returns the allocations (malloc, calloc, realloc, aligned_alloc,
 * posix_memalign) made since nb_test_count_begin. */
long nb_test_count_end(void);
/* The non-NULL frees counted in the last window. */
long nb_test_counted_frees(void);

#endif
