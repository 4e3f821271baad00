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

/* Bytes, always tracked: every block the wrapped functions hand out counts with its usable
 * size (malloc_usable_size: what the C library really set aside, at least the request) until
 * it is freed. A peak window starts at the bytes live then; nb_test_peak_end returns the most
 * bytes live at once since, above that start. (A block some shared library allocated and
 * nabla frees would lower the count; nabla's code does not do that.) */
void nb_test_peak_begin(void);
long long nb_test_peak_end(void);
/* The bytes live now, as tracked (for checks that everything came back). */
long long nb_test_live_bytes(void);

#endif
