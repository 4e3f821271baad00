/* kernels/registry.c — the table of concrete GEMM kernels (name, description, f32/f64 entries,
 * threading, summation order) and the lookups over it. Adding a kernel is one row here
 * (README.md, "How to add a kernel"). Nothing here knows of `auto` or of how a kernel is
 * chosen: auto.c dispatches over these rows and select.c, above both, turns names into kernels. */
#include <stdio.h>
#include <string.h>

#include "kernels/kernels_impl.h"

/* In the order `nabla kernels` lists them; naive (the reference) first. */
static const nb_kernel nb_kernels[] = {
    {
        .name = "naive",
        .description = "reference triple loop, one dot product per element",
        .sgemm = nb_naive_sgemm,
        .dgemm = nb_naive_dgemm,
        .threaded = false,
        .thread_invariant = true,
        .block_invariant = true,
        .summation = NB_GEMM_SUM_SEQUENTIAL,
    },
    {
        .name = "blocked",
        .description = "packed Goto/BLIS blocking, AVX-512/AVX2/C micro-kernel chosen at run time, direct path for "
                       "small products; serial",
        .sgemm = nb_blocked_sgemm,
        .dgemm = nb_blocked_dgemm,
        .threaded = false,
        .thread_invariant = true,
        .block_invariant = true,
        .k_chunk = nb_blocked_k_chunk,
        .summation = NB_GEMM_SUM_BLOCKED_FMA,
    },
    {
        .name = "openmp",
        .description =
            "the blocked kernel with its output tiles shared among OpenMP threads (bit-identical for any count)",
        .sgemm = nb_openmp_sgemm,
        .dgemm = nb_openmp_dgemm,
        .threaded = true,
        .thread_invariant = true,
        .block_invariant = true,
        .k_chunk = nb_blocked_k_chunk,
        .summation = NB_GEMM_SUM_BLOCKED_FMA,
        .openmp_threads = true,
    },
    {
        .name = "team",
        .description = "the same split as openmp on nabla's own thread team, whose waits spin briefly, then sleep",
        .sgemm = nb_team_sgemm,
        .dgemm = nb_team_dgemm,
        .threaded = true,
        .thread_invariant = true,
        .block_invariant = true,
        .k_chunk = nb_blocked_k_chunk,
        .summation = NB_GEMM_SUM_BLOCKED_FMA,
    },
    {
        .name = "blas",
        .description = "OpenBLAS cblas_sgemm/cblas_dgemm, row-major",
        .sgemm = nb_blas_sgemm,
        .dgemm = nb_blas_dgemm,
        .threaded = true,
        .thread_invariant = false,
        .summation = NB_GEMM_SUM_LIBRARY,
        .openmp_threads = true, /* the OpenMP build of OpenBLAS (docs/architecture.md) */
    },
};

#define NB_KERNEL_COUNT ((int)(sizeof nb_kernels / sizeof nb_kernels[0]))

int nb_kernel_count(void) { return NB_KERNEL_COUNT; }

const nb_kernel *nb_kernel_at(int index) { return index >= 0 && index < NB_KERNEL_COUNT ? &nb_kernels[index] : NULL; }

const nb_kernel *nb_kernel_find_concrete(const char *name) {
    if (name == NULL) return NULL;
    for (int i = 0; i < NB_KERNEL_COUNT; ++i)
        if (strcmp(nb_kernels[i].name, name) == 0) return &nb_kernels[i];
    return NULL;
}

void nb_kernel_names(char *buf, size_t size) {
    if (buf == NULL || size == 0) return;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < NB_KERNEL_COUNT && used + 1 < size; ++i) {
        /* snprintf truncates and NUL-terminates; its return says how much it wanted */
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", nb_kernels[i].name);
        if (w < 0) break;
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
    }
}
