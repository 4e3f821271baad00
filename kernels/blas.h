/* kernels/blas.h — what the OpenBLAS behind the `blas` kernel says about itself, for the
 * context of result files: a benchmark of `blas` means little without the build, the core
 * it picked (OPENBLAS_CORETYPE can override the CPU's) and how it threads. The kernels
 * layer owns OpenBLAS, so callers above ask here instead of including cblas.h. */
#ifndef NB_KERNELS_BLAS_H
#define NB_KERNELS_BLAS_H

/* OpenBLAS's build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
const char *nb_blas_config(void);

/* The core whose kernels OpenBLAS runs, e.g. "Haswell". */
const char *nb_blas_core_name(void);

/* How OpenBLAS threads: "sequential", "pthreads" or "openmp" ("unknown" otherwise). */
const char *nb_blas_threading(void);

#endif
