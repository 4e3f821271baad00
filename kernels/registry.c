/* kernels/registry.c — the table of GEMM kernels (name, description, f32/f64 entries,
 * threaded) and the lookups over it, including the --kernel / NABLA_KERNEL / default
 * selection order. Adding a kernel is one row here (README.md, "How to add a kernel").
 * `auto` (auto.c) is found by name but is not a row: it only dispatches to the rows. */
#include <stdio.h>
#include <stdlib.h>
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
    },
    {
        .name = "blocked",
        .description = "packed Goto/BLIS blocking, AVX-512/AVX2/C micro-kernel chosen at run time, direct path for small products; serial",
        .sgemm = nb_blocked_sgemm,
        .dgemm = nb_blocked_dgemm,
        .threaded = false,
        .thread_invariant = true,
    },
    {
        .name = "openmp",
        .description = "the blocked kernel with its output tiles shared among OpenMP threads (bit-identical for any count)",
        .sgemm = nb_openmp_sgemm,
        .dgemm = nb_openmp_dgemm,
        .threaded = true,
        .thread_invariant = true,
    },
    {
        .name = "blas",
        .description = "OpenBLAS cblas_sgemm/cblas_dgemm, row-major",
        .sgemm = nb_blas_sgemm,
        .dgemm = nb_blas_dgemm,
        .threaded = true,
        .thread_invariant = false,
    },
};

#define NB_KERNEL_COUNT ((int)(sizeof nb_kernels / sizeof nb_kernels[0]))
#define NB_KERNEL_DEFAULT "blas"

int nb_kernel_count(void) { return NB_KERNEL_COUNT; }

const nb_kernel *nb_kernel_at(int index)
{
    return index >= 0 && index < NB_KERNEL_COUNT ? &nb_kernels[index] : NULL;
}

const nb_kernel *nb_kernel_find(const char *name)
{
    if (name == NULL) return NULL;
    for (int i = 0; i < NB_KERNEL_COUNT; ++i)
        if (strcmp(nb_kernels[i].name, name) == 0) return &nb_kernels[i];
    if (strcmp(nb_kernel_auto()->name, name) == 0) return nb_kernel_auto();
    return NULL;
}

const nb_kernel *nb_kernel_default(void) { return nb_kernel_find(NB_KERNEL_DEFAULT); }

const nb_kernel *nb_kernel_select(const char *requested, const char **chosen_name)
{
    const char *name = requested;
    if (name == NULL) {
        const char *env = getenv("NABLA_KERNEL");
        name = env != NULL && env[0] != '\0' ? env : NB_KERNEL_DEFAULT;
    }
    if (chosen_name != NULL) *chosen_name = name;
    return nb_kernel_find(name);
}

void nb_kernel_names(char *buf, size_t size)
{
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
