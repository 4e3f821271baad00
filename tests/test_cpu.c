/* tests/test_cpu.c — CUnit suite for run-time CPU feature detection (kernels/cpu.h) and the
 * FMA peak probe (kernels/peak.h): the features agree with the kernel's view in
 * /proc/cpuinfo, the probe refuses what it cannot run, and what it measures is a plausible
 * number. No timing is asserted beyond that: the machine is shared and noisy. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/peak.h"
#include "test_util.h"

/* Whether the `flags` line of /proc/cpuinfo lists `flag` as a whole word. *found_line is
 * false when there is no such file or line (not Linux, not x86): then nothing can be
 * compared. */
static bool cpuinfo_has(const char *flag, bool *found_line) {
    *found_line = false;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    static char line[1 << 14]; /* the flags line runs to ~1.5 KiB on current CPUs */
    bool has = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0 || !strchr(line, ':')) continue;
        *found_line = true;
        char *save = NULL;
        for (char *tok = strtok_r(strchr(line, ':') + 1, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
            if (!strcmp(tok, flag)) has = true;
        break; /* the first CPU speaks for all: the kernel keeps only common features */
    }
    fclose(f);
    return has;
}

static void test_features_match_cpuinfo(void) {
    nb_cpu_info info = nb_cpu_features();
    bool line = false;
    bool avx2 = cpuinfo_has("avx2", &line), fma = cpuinfo_has("fma", &line), avx512f = cpuinfo_has("avx512f", &line);
#if defined(__x86_64__) || defined(__i386__)
    if (!line) {
        fprintf(stderr, "\n    no flags line in /proc/cpuinfo: nothing to compare with\n");
        return;
    }
    /* Linux lists a flag only when it also enabled the register state, which is what
     * __builtin_cpu_supports checks too, so the two must agree exactly. */
    if (info.has_avx2_fma != (avx2 && fma))
        FAILF("has_avx2_fma is %d but /proc/cpuinfo says avx2=%d fma=%d", info.has_avx2_fma, avx2, fma);
    if (info.has_avx512f != avx512f)
        FAILF("has_avx512f is %d but /proc/cpuinfo says avx512f=%d", info.has_avx512f, avx512f);
#else
    (void)avx2, (void)fma, (void)avx512f;
    CU_ASSERT_FALSE(info.has_avx2_fma);
    CU_ASSERT_FALSE(info.has_avx512f);
#endif
    nb_cpu_isa want = info.has_avx512f ? NB_CPU_ISA_AVX512 : info.has_avx2_fma ? NB_CPU_ISA_AVX2 : NB_CPU_ISA_NONE;
    CU_ASSERT_EQUAL(info.best, want);
    CU_ASSERT_STRING_EQUAL(info.best_name, nb_cpu_isa_name(want));
    CU_ASSERT_TRUE(nb_cpu_supports(NB_CPU_ISA_NONE));
    CU_ASSERT_EQUAL(nb_cpu_supports(NB_CPU_ISA_AVX2), info.has_avx2_fma);
    CU_ASSERT_EQUAL(nb_cpu_supports(NB_CPU_ISA_AVX512), info.has_avx512f);
    CU_ASSERT_FALSE(nb_cpu_supports((nb_cpu_isa)7));
    fprintf(stderr, "\n    best ISA here: %s\n", info.best_name);
}

static void test_isa_names(void) {
    const char *names[NB_CPU_ISA_COUNT] = {"none", "avx2", "avx512"};
    for (int i = 0; i < NB_CPU_ISA_COUNT; i++) {
        nb_cpu_isa isa = NB_CPU_ISA_NONE;
        CU_ASSERT_STRING_EQUAL(nb_cpu_isa_name((nb_cpu_isa)i), names[i]);
        CU_ASSERT_TRUE(nb_cpu_isa_parse(names[i], &isa) && isa == (nb_cpu_isa)i);
    }
    nb_cpu_isa untouched = NB_CPU_ISA_AVX2;
    CU_ASSERT_FALSE(nb_cpu_isa_parse("sse9", &untouched));
    CU_ASSERT_EQUAL(untouched, NB_CPU_ISA_AVX2);
    CU_ASSERT_STRING_EQUAL(nb_cpu_isa_name((nb_cpu_isa)-1), "?");
    CU_ASSERT_STRING_EQUAL(nb_peak_dtype_name(NB_PEAK_F32), "f32");
    CU_ASSERT_STRING_EQUAL(nb_peak_dtype_name(NB_PEAK_F64), "f64");
}

static void test_probe_refuses(void) {
    const double sentinel = -12345.0;
    double g = sentinel;
    CU_ASSERT_FALSE(nb_peak_measure(NB_CPU_ISA_NONE, NB_PEAK_F32, 1, &g)); /* no FMA to time */
    CU_ASSERT_FALSE(nb_peak_measure((nb_cpu_isa)9, NB_PEAK_F32, 1, &g));
    for (int isa = NB_CPU_ISA_AVX2; isa <= NB_CPU_ISA_AVX512; isa++) {
        if (!nb_cpu_supports((nb_cpu_isa)isa)) {
            if (nb_peak_measure((nb_cpu_isa)isa, NB_PEAK_F32, 1, &g))
                FAILF("the probe ran %s, which this CPU does not support", nb_cpu_isa_name((nb_cpu_isa)isa));
            continue;
        }
        CU_ASSERT_FALSE(nb_peak_measure((nb_cpu_isa)isa, NB_PEAK_F32, 0, &g));
        CU_ASSERT_FALSE(nb_peak_measure((nb_cpu_isa)isa, NB_PEAK_F64, -3, &g));
        CU_ASSERT_FALSE(nb_peak_measure((nb_cpu_isa)isa, (nb_peak_dtype)5, 1, &g));
    }
    CU_ASSERT_EQUAL(g, sentinel); /* a refusal leaves the output alone */
}

/* Finite, positive, and below what any CPU could do: 2 FMA pipes x 2 FLOP x the lanes at
 * 10 GHz per thread. The figure itself is not checked, only its plausibility. */
static void test_probe_plausible(void) {
    nb_cpu_info info = nb_cpu_features();
    if (info.best == NB_CPU_ISA_NONE) {
        fprintf(stderr, "\n    no AVX2 or AVX-512 here: nothing to probe\n");
        return;
    }
    for (int isa = NB_CPU_ISA_AVX2; isa <= NB_CPU_ISA_AVX512; isa++) {
        if (!nb_cpu_supports((nb_cpu_isa)isa)) continue;
        for (int dt = NB_PEAK_F32; dt <= NB_PEAK_F64; dt++)
            for (int threads = 1; threads <= 2; threads++) {
                int lanes = (isa == NB_CPU_ISA_AVX512 ? 512 : 256) / (dt == NB_PEAK_F32 ? 32 : 64);
                double bound = 2.0 * 2.0 * lanes * 10.0 * threads; /* GFLOP/s */
                double g = NAN;
                bool ok = nb_peak_measure((nb_cpu_isa)isa, (nb_peak_dtype)dt, threads, &g);
                fprintf(stderr, "\n    %s %s %d thread%s: %.1f GFLOP/s", nb_cpu_isa_name((nb_cpu_isa)isa),
                        nb_peak_dtype_name((nb_peak_dtype)dt), threads, threads == 1 ? "" : "s", g);
                if (!ok || !isfinite(g) || !(g > 0) || g > bound)
                    FAILF("%s %s %d threads: probe returned %d, %g GFLOP/s (bound %g)",
                          nb_cpu_isa_name((nb_cpu_isa)isa), nb_peak_dtype_name((nb_peak_dtype)dt), threads, ok, g,
                          bound);
            }
    }
    fprintf(stderr, "\n");
}

int main(void) {
    static const nb_test_case tests[] = {
        {"features agree with /proc/cpuinfo", test_features_match_cpuinfo},
        {"ISA and dtype names", test_isa_names},
        {"the probe refuses what it cannot run", test_probe_refuses},
        {"the probe returns a plausible figure", test_probe_plausible},
    };
    return nb_test_run("cpu", tests, sizeof tests / sizeof tests[0]);
}
