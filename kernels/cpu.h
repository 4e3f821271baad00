/* kernels/cpu.h — which SIMD instruction sets this CPU and OS can run, found at run time.
 * The binary is built for baseline x86-64 (no -march), so anything wider is chosen here:
 * today by the FMA peak probe (peak.h), later by the dispatch of SIMD micro-kernels. */
#ifndef NB_KERNELS_CPU_H
#define NB_KERNELS_CPU_H

#include <stdbool.h>

/* The vector ISAs nabla has code for, narrowest first, so `a > b` means "wider". */
typedef enum nb_cpu_isa {
    NB_CPU_ISA_NONE = 0,   /* baseline x86-64 (SSE2), or not x86 at all */
    NB_CPU_ISA_AVX2 = 1,   /* AVX2 + FMA3: 256-bit vectors, 16 ymm registers */
    NB_CPU_ISA_AVX512 = 2, /* AVX-512F: 512-bit vectors, 32 zmm registers */
} nb_cpu_isa;

#define NB_CPU_ISA_COUNT 3

/* What nb_cpu_features() reports. */
typedef struct nb_cpu_info {
    /* Each true only when the CPU has the instructions AND the OS saves the registers on a
     * context switch (GCC's __builtin_cpu_supports checks XCR0 through xgetbv). */
    bool has_avx2_fma; /* AVX2 and FMA3 (the two come together on every CPU that matters,
                        * but they are separate CPUID bits, so both are required) */
    bool has_avx512f;
    nb_cpu_isa best;       /* the widest supported ISA */
    const char *best_name; /* nb_cpu_isa_name(best) */
} nb_cpu_info;

/* Cheap and safe from any thread: libgcc runs CPUID once at start-up and this reads the
 * bits it kept (after __builtin_cpu_init, which makes that so even from a constructor). */
nb_cpu_info nb_cpu_features(void);

/* Whether `isa` runs here; NB_CPU_ISA_NONE always does. */
bool nb_cpu_supports(nb_cpu_isa isa);

/* "none", "avx2", "avx512"; "?" for a value outside the enum. */
const char *nb_cpu_isa_name(nb_cpu_isa isa);

/* The inverse of nb_cpu_isa_name; false (and *out untouched) for an unknown name. */
bool nb_cpu_isa_parse(const char *name, nb_cpu_isa *out);

/* ---- dispatch ---------------------------------------------------------------------------------
 * The ISA whose micro-kernels the GEMM kernels run: the widest supported one unless lowered by
 * nb_cpu_set_dispatch_isa (the CLI does so from NABLA_ISA; tests do so to check every path on
 * one machine). Reading it is one relaxed atomic load, cheap enough for every GEMM call. */
nb_cpu_isa nb_cpu_dispatch_isa(void);
/* Sets the dispatch ISA; false (and nothing changed) when `isa` does not run here. Not meant
 * to be called while another thread is inside a kernel: a call that has started keeps the
 * ISA it read. */
bool nb_cpu_set_dispatch_isa(nb_cpu_isa isa);

#endif
