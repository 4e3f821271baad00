/* src/base/alloc.c — the caching allocator behind nb_alloc (alloc.h): size classes, one
 * free list per class under one mutex, a 64-byte header before every block, the caching
 * switch and the fault-injection hook. */
#include "base/alloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* ---- size classes --------------------------------------------------------------------
 * Classes 0..15 hold 64, 128, ..., 1024 bytes. From there each range (2^k, 2^(k+1)],
 * k = 10..31, has four classes at 2^k + j * 2^(k-2), j = 1..4, so a request never wastes
 * more than a fifth of its block. Larger requests are served exactly and never cached. */
#define SMALL_STEP 64
#define SMALL_CLASSES 16 /* up to 1024 */
#define FIRST_POW 10     /* 2^10 = 1024, the top of the small classes */
#define LAST_POW 32      /* the largest class is 2^32 bytes */
#define NCLASSES (SMALL_CLASSES + 4 * (LAST_POW - FIRST_POW))
#define MAX_CLASS_BYTES ((size_t)1 << LAST_POW)
#define UNCACHED UINT32_MAX /* the class of a block of exact size */

static size_t class_bytes(uint32_t cls) {
    if (cls < SMALL_CLASSES) return (size_t)(cls + 1) * SMALL_STEP;
    uint32_t k = FIRST_POW + (cls - SMALL_CLASSES) / 4, j = (cls - SMALL_CLASSES) % 4 + 1;
    return ((size_t)1 << k) + (size_t)j * ((size_t)1 << (k - 2));
}

/* The smallest class that holds `size` bytes; size <= MAX_CLASS_BYTES. */
static uint32_t class_of(size_t size) {
    if (size <= (size_t)SMALL_CLASSES * SMALL_STEP) return size == 0 ? 0 : (uint32_t)((size - 1) / SMALL_STEP);
    /* size lies in (2^k, 2^(k+1)] with k = floor(log2(size - 1)) >= 10 */
    uint32_t k = 63u - (uint32_t)__builtin_clzll((unsigned long long)(size - 1));
    size_t step = (size_t)1 << (k - 2);
    size_t j = (size - ((size_t)1 << k) + step - 1) / step; /* 1..4 */
    return SMALL_CLASSES + 4 * (k - FIRST_POW) + (uint32_t)(j - 1);
}

/* ---- blocks --------------------------------------------------------------------------
 * [header: 64 bytes][payload: capacity bytes], the header at a 64-byte boundary, so the
 * payload is too. The header is a whole cache line: the payload starts on its own line and
 * SIMD loads of a tensor never share a line with allocator bookkeeping. */
#define MAGIC_LIVE UINT64_C(0x6e61626c614c4956) /* handed out */
#define MAGIC_FREE UINT64_C(0x6e61626c61465245) /* on a free list */
#define MAGIC_DEAD UINT64_C(0x6e61626c61444544) /* returned to the system */

typedef struct block {
    uint64_t magic;
    uint32_t cls;       /* class index, or UNCACHED for a block of exact size */
    size_t size;        /* the bytes requested (what nb_realloc copies) */
    size_t capacity;    /* the payload's bytes */
    struct block *next; /* the free list, while cached */
    char pad[NB_ALLOC_ALIGN - 40];
} block;
static_assert(sizeof(block) == NB_ALLOC_ALIGN, "the header must keep the payload aligned");

static void *payload_of(block *b) { return (char *)b + sizeof(block); }
static block *block_of(void *p) { return (block *)((char *)p - sizeof(block)); }

/* ---- state ---------------------------------------------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool initialised;
static bool caching;
static block *free_lists[NCLASSES];
static nb_alloc_counts counts;
static uint64_t fail_countdown; /* 0: off; else the request that fails, counting down */

/* Whether this build runs under AddressSanitizer, whose reports need every block to go
 * back to the system. */
#if defined(__SANITIZE_ADDRESS__)
#define NB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB_ASAN 1
#endif
#endif
#ifndef NB_ASAN
#define NB_ASAN 0
#endif

/* Called with the lock held: the default, then NABLA_ALLOC_CACHE, once. */
static void init_locked(void) {
    if (initialised) return;
    initialised = true;
    caching = !NB_ASAN;
    const char *env = getenv("NABLA_ALLOC_CACHE");
    if (env && !strcmp(env, "0")) caching = false;
    if (env && !strcmp(env, "1")) caching = true;
}

_Noreturn static void misuse(const char *what, void *p, uint64_t magic) {
    fprintf(stderr, "nabla: internal error: %s(%p): %s\n", what, p,
            magic == MAGIC_FREE || magic == MAGIC_DEAD ? "the block was already freed (double free)"
                                                       : "not a block from nb_alloc (or its header was overwritten)");
    abort();
}

/* The header of a live block, checked. A pointer off the alignment cannot be a payload, and
 * its header is not even read. */
static block *live_block(const char *what, void *p) {
    if ((uintptr_t)p % NB_ALLOC_ALIGN != 0) misuse(what, p, 0);
    block *b = block_of(p);
    if (b->magic != MAGIC_LIVE) misuse(what, p, b->magic);
    return b;
}

/* Called with the lock held, once per request: counts it, and says whether the fault hook
 * fails it (the hook disarms itself as it fires). */
static bool injected_failure_locked(void) {
    counts.requests++;
    return fail_countdown != 0 && --fail_countdown == 0;
}

static void release_locked(block *b) {
    b->magic = MAGIC_DEAD;
    counts.system_frees++;
    free(b);
}

static size_t trim_locked(void) {
    size_t released = 0;
    for (int c = 0; c < NCLASSES; c++) {
        while (free_lists[c]) {
            block *b = free_lists[c];
            free_lists[c] = b->next;
            released += b->capacity;
            release_locked(b);
        }
    }
    counts.cached_blocks = 0;
    counts.cached_bytes = 0;
    return released;
}

/* Called with the lock held: a block of at least `size` bytes from a free list or the
 * system, counted as live; NULL when the system has no memory. */
static block *take_locked(size_t size) {
    bool cacheable = caching && size <= MAX_CLASS_BYTES;
    uint32_t cls = cacheable ? class_of(size) : UNCACHED;
    block *b = NULL;
    if (cacheable && free_lists[cls]) {
        b = free_lists[cls];
        free_lists[cls] = b->next;
        counts.cache_hits++;
        counts.cached_blocks--;
        counts.cached_bytes -= b->capacity;
    } else {
        /* A new block: the class's capacity, or with caching off (or past the classes) exactly
         * the bytes asked for, so the tools see an overrun at once. */
        size_t capacity = cacheable ? class_bytes(cls) : size;
        if (capacity > SIZE_MAX - sizeof(block)) return NULL;
        void *raw = NULL;
        int failed = posix_memalign(&raw, NB_ALLOC_ALIGN, sizeof(block) + capacity);
        /* The system is out of memory, but the cache may hold plenty of the wrong sizes. */
        if (failed && counts.cached_blocks > 0) {
            trim_locked();
            failed = posix_memalign(&raw, NB_ALLOC_ALIGN, sizeof(block) + capacity);
        }
        if (failed) return NULL;
        b = raw;
        b->cls = cls;
        b->capacity = capacity;
        counts.system_allocs++;
    }
    b->magic = MAGIC_LIVE;
    b->size = size;
    b->next = NULL;
    counts.live_blocks++;
    counts.live_bytes += size;
    return b;
}

/* Called with the lock held: a live block goes onto its free list, or to the system. */
static void give_locked(block *b) {
    counts.live_blocks--;
    counts.live_bytes -= b->size;
    if (caching && b->cls != UNCACHED && counts.live_blocks > 0) {
        b->magic = MAGIC_FREE;
        b->next = free_lists[b->cls];
        free_lists[b->cls] = b;
        counts.cached_blocks++;
        counts.cached_bytes += b->capacity;
        return;
    }
    release_locked(b);
    /* The last live block is gone: whatever ran is torn down (a harness between runs, a
     * program at exit), so the cache goes back to the system too, and nothing cached outlives
     * every user. A training loop never gets here: its parameters stay live. */
    if (counts.live_blocks == 0) trim_locked();
}

static void *fail(size_t size, bool injected) {
    nb_error(NB_ERR_NOMEM, "out of memory allocating %zu bytes%s", size, injected ? " (injected failure)" : "");
    return NULL;
}

/* ---- the interface ------------------------------------------------------------------- */

void *nb_alloc(size_t size) {
    pthread_mutex_lock(&lock);
    init_locked();
    bool injected = injected_failure_locked();
    block *b = injected ? NULL : take_locked(size);
    if (!b) counts.failures++;
    pthread_mutex_unlock(&lock);
    return b ? payload_of(b) : fail(size, injected);
}

void *nb_alloc_zeroed(size_t size) {
    void *p = nb_alloc(size);
    if (p) memset(p, 0, size);
    return p;
}

void nb_free(void *p) {
    if (!p) return;
    /* Checked outside the lock: the caller owns p, and misuse() must not die holding it. A
     * block freed twice is on a free list with MAGIC_FREE, or (caching off) back with the
     * system, where valgrind and ASan report the read. */
    block *b = live_block("nb_free", p);
    pthread_mutex_lock(&lock);
    give_locked(b);
    pthread_mutex_unlock(&lock);
}

void *nb_realloc(void *p, size_t size) {
    if (!p) return nb_alloc(size);
    block *old = live_block("nb_realloc", p);
    pthread_mutex_lock(&lock);
    init_locked();
    bool injected = injected_failure_locked();
    /* Same class: the block already holds the new size. (Exact-size blocks always move, so
     * the tools keep seeing exact bounds.) */
    if (!injected && caching && old->cls != UNCACHED && size <= MAX_CLASS_BYTES && class_of(size) == old->cls) {
        counts.live_bytes = counts.live_bytes - old->size + size;
        old->size = size;
        pthread_mutex_unlock(&lock);
        return p;
    }
    block *b = injected ? NULL : take_locked(size);
    if (!b) {
        counts.failures++;
        pthread_mutex_unlock(&lock);
        return fail(size, injected);
    }
    memcpy(payload_of(b), p, old->size < size ? old->size : size);
    give_locked(old);
    pthread_mutex_unlock(&lock);
    return payload_of(b);
}

size_t nb_alloc_trim(void) {
    pthread_mutex_lock(&lock);
    size_t released = trim_locked();
    pthread_mutex_unlock(&lock);
    return released;
}

bool nb_alloc_set_caching(bool on) {
    pthread_mutex_lock(&lock);
    init_locked();
    bool was = caching;
    caching = on;
    if (!on) trim_locked();
    pthread_mutex_unlock(&lock);
    return was;
}

bool nb_alloc_caching(void) {
    pthread_mutex_lock(&lock);
    init_locked();
    bool on = caching;
    pthread_mutex_unlock(&lock);
    return on;
}

void nb_alloc_stats(nb_alloc_counts *out) {
    pthread_mutex_lock(&lock);
    *out = counts;
    pthread_mutex_unlock(&lock);
}

void nb_alloc_fail_after(uint64_t k) {
    pthread_mutex_lock(&lock);
    fail_countdown = k;
    pthread_mutex_unlock(&lock);
}
