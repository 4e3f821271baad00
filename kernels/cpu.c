/* kernels/cpu.c — run-time CPU feature detection (see cpu.h). x86 asks GCC's
 * __builtin_cpu_supports, which also requires the OS to have enabled the register state
 * (XCR0), so a "yes" here means the instructions will not fault; other targets say none. */
#include "kernels/cpu.h"

#include <stdatomic.h>
#include <string.h>

static const char *const isa_names[NB_CPU_ISA_COUNT] = {
    [NB_CPU_ISA_NONE] = "none",
    [NB_CPU_ISA_AVX2] = "avx2",
    [NB_CPU_ISA_AVX512] = "avx512",
};

nb_cpu_info nb_cpu_features(void) {
    nb_cpu_info info = {0};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    info.has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    info.has_avx512f = __builtin_cpu_supports("avx512f");
#endif
    info.best = info.has_avx512f ? NB_CPU_ISA_AVX512 : info.has_avx2_fma ? NB_CPU_ISA_AVX2 : NB_CPU_ISA_NONE;
    info.best_name = isa_names[info.best];
    return info;
}

bool nb_cpu_supports(nb_cpu_isa isa) {
    nb_cpu_info info = nb_cpu_features();
    switch (isa) {
    case NB_CPU_ISA_NONE: return true;
    case NB_CPU_ISA_AVX2: return info.has_avx2_fma;
    case NB_CPU_ISA_AVX512: return info.has_avx512f;
    }
    return false;
}

const char *nb_cpu_isa_name(nb_cpu_isa isa) { return (unsigned)isa < NB_CPU_ISA_COUNT ? isa_names[isa] : "?"; }

bool nb_cpu_isa_parse(const char *name, nb_cpu_isa *out) {
    for (int i = 0; i < NB_CPU_ISA_COUNT; i++)
        if (!strcmp(name, isa_names[i])) {
            *out = (nb_cpu_isa)i;
            return true;
        }
    return false;
}

/* -1 until first read: then the widest supported ISA, unless set before. */
static atomic_int dispatch_isa = -1;

nb_cpu_isa nb_cpu_dispatch_isa(void) {
    int isa = atomic_load_explicit(&dispatch_isa, memory_order_relaxed);
    if (isa < 0) {
        int best = (int)nb_cpu_features().best, expected = -1;
        atomic_compare_exchange_strong(&dispatch_isa, &expected, best);
        isa = atomic_load(&dispatch_isa);
    }
    return (nb_cpu_isa)isa;
}

bool nb_cpu_set_dispatch_isa(nb_cpu_isa isa) {
    if ((unsigned)isa >= NB_CPU_ISA_COUNT || !nb_cpu_supports(isa)) return false;
    atomic_store(&dispatch_isa, (int)isa);
    return true;
}
