/* kernels/kernels_impl.h — private to kernels/: the entry points of every kernel, declared
 * through the contract's function types so that each definition is checked against
 * gemm.h. registry.c puts them in the table; callers outside kernels/ use the registry. */
#ifndef NB_KERNELS_IMPL_H
#define NB_KERNELS_IMPL_H

#include "kernels/gemm.h"

/* naive.c: the plain triple loop, the reference every other kernel is tested against. */
nb_sgemm_fn nb_naive_sgemm;
nb_dgemm_fn nb_naive_dgemm;

/* blocked.c: Goto/BLIS cache blocking with packed panels, serial. */
nb_sgemm_fn nb_blocked_sgemm;
nb_dgemm_fn nb_blocked_dgemm;
/* The k chunk (KC) of the dispatch ISA's row: blocked's, openmp's and team's (gemm.h, k_chunk). */
int64_t nb_blocked_k_chunk(nb_gemm_dtype dtype);

/* openmp.c: the blocked algorithm with its output tiles shared among OpenMP threads. */
nb_sgemm_fn nb_openmp_sgemm;
nb_dgemm_fn nb_openmp_dgemm;

/* team.c: the same, its tiles shared among nabla's own thread team (src/base/team.h). */
nb_sgemm_fn nb_team_sgemm;
nb_dgemm_fn nb_team_dgemm;

/* blas.c: OpenBLAS through cblas. */
nb_sgemm_fn nb_blas_sgemm;
nb_dgemm_fn nb_blas_dgemm;

#endif
