/* src/base/alloc.h — the heap allocator of nabla's stack: 64-byte aligned blocks whose frees
 * go onto per-size-class free lists and are handed out again, so a training step that makes
 * and drops the same tensors, vars and nodes every time reaches a steady state in which it
 * asks the system for nothing.
 *
 *   void *p = nb_alloc(n);          // 64-byte aligned, NULL + NB_ERR_NOMEM on failure
 *   ...
 *   nb_free(p);                     // back on its class's free list (never free() it)
 *
 * Size classes (the payload a block can hold; a 64-byte header sits before each block):
 *   64, 128, ..., 1024             multiples of 64: at most 63 bytes wasted;
 *   then 4 per power of two         1280, 1536, 1792, 2048, 2560, ...: (2^k, 2^(k+1)] is cut
 *                                   at 2^k * (1 + j/4), so less than 20% is wasted;
 *   above 4 GiB                     exact size, never cached.
 *
 * Release: nb_alloc_trim returns the cached blocks to the system, and freeing the last live
 * block does so by itself: a process that has torn everything down (a harness between two
 * runs, a program at exit) holds no cached memory, and leak checkers find nothing. A training
 * loop never reaches that point, since its parameters stay live.
 *
 * Threads: one mutex guards the free lists and counters. Allocation happens on the thread
 * that runs the ops (tensors, graph nodes, scopes); OpenMP workers inside a kernel or an
 * elementwise loop only read and write tensor data and never allocate, so the lock is never
 * contended in practice. Any thread may still call these functions safely.
 *
 * Caching switch: with caching off every nb_alloc is a system allocation of exactly the
 * requested size and every nb_free returns it to the system, so valgrind and AddressSanitizer
 * see every use after free and every overrun. It is on by default, off by default in builds
 * with AddressSanitizer (__SANITIZE_ADDRESS__); the environment variable NABLA_ALLOC_CACHE=0
 * (or 1) overrides that default, read once at the first call; nb_alloc_set_caching overrides
 * both. Under valgrind run with NABLA_ALLOC_CACHE=0.
 *
 * Checks: the header records the block's class and a magic value. nb_free and nb_realloc of
 * a block that is already free (double free) or that nb_alloc did not make print a message
 * naming the pointer and abort, in every build: it is a broken invariant, not bad input, and
 * reading the header costs nothing the free did not already pay. (A foreign pointer is read
 * 64 bytes before its start, so the check is best effort for it; a double free is always
 * caught while caching is on, and by the tools while it is off.) */
#ifndef NB_BASE_ALLOC_H
#define NB_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every block's address is a multiple of this. */
#define NB_ALLOC_ALIGN 64

/* A block of at least `size` bytes (0 gives a valid minimal block), uninitialised, or NULL
 * with nb_error(NB_ERR_NOMEM, ...) set. */
void *nb_alloc(size_t size);
/* As nb_alloc, with the first `size` bytes zero (also when the block is a reused one). */
void *nb_alloc_zeroed(size_t size);
/* realloc for nb_alloc blocks: the first min(old, new) bytes are kept; p NULL is nb_alloc.
 * Stays in place while the new size falls in the block's class. On failure returns NULL,
 * sets NB_ERR_NOMEM and leaves p valid and unchanged. */
void *nb_realloc(void *p, size_t size);
/* Returns p to its class's free list (or to the system with caching off). NULL is fine. */
void nb_free(void *p);

/* Returns every cached block to the system; the bytes released. Live blocks stay valid. */
size_t nb_alloc_trim(void);

/* Turns caching on or off (off also trims) and returns the previous setting. */
bool nb_alloc_set_caching(bool on);
bool nb_alloc_caching(void);

/* Counters since the process started; take differences around the code of interest. A leak
 * check is: everything freed, then live_blocks == 0. */
typedef struct nb_alloc_counts {
    uint64_t requests;      /* calls to nb_alloc, nb_alloc_zeroed and nb_realloc */
    uint64_t system_allocs; /* blocks obtained from the system */
    uint64_t system_frees;  /* blocks given back to it */
    uint64_t cache_hits;    /* requests served from a free list */
    uint64_t failures;      /* requests that returned NULL (injected ones included) */
    size_t live_blocks;     /* handed out and not yet freed */
    size_t live_bytes;      /* their requested sizes */
    size_t cached_blocks;   /* waiting on the free lists */
    size_t cached_bytes;    /* their capacities */
} nb_alloc_counts;

void nb_alloc_stats(nb_alloc_counts *out);

/* Test hook: the k-th request from now (counting every nb_alloc, nb_alloc_zeroed and
 * nb_realloc call, whether the cache or the system would have served it) fails as if the
 * system were out of memory; the hook then disarms itself. k = 0 disarms it. Used to walk a
 * failure through every allocation of a short run in turn. */
void nb_alloc_fail_after(uint64_t k);

#endif
