/* src/harness/footprint.c — the up-front memory check (footprint.h): a variant's declared
 * footprint against the machine's physical memory, refused as a usage error with one line
 * that says what was asked and what it needs. */
#include "harness/footprint.h"

#include <stdio.h>
#include <unistd.h>

#define GIB ((double)(1 << 30))

/* Bytes of physical memory, or 0 when sysconf cannot tell (then only overflow is refused). */
static double physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
}

nb_status nb_footprint_check_bytes(const char *command, const char *variant, const nb_train_config *cfg, bool counted,
                                   int64_t bytes) {
    const double physical = physical_memory();
    if (counted && (physical == 0.0 || (double)bytes <= physical)) return NB_OK;
    char iters[40] = "";
    if (cfg->iters > 0) snprintf(iters, sizeof iters, " --iters %lld", (long long)cfg->iters);
    char needed[64];
    if (counted)
        snprintf(needed, sizeof needed, "%.1f GiB needed", (double)bytes / GIB);
    else
        snprintf(needed, sizeof needed, "more than 8 EiB needed: the count overflows");
    return nb_error(NB_ERR_ARG,
                    "nabla %s: variant %s, --batch %lld --d-in %lld --hidden %lld --d-out %lld --dtype %s%s: needs "
                    "more memory than this machine has (%s, %.1f GiB physical)",
                    command, variant, (long long)cfg->batch, (long long)cfg->d_in, (long long)cfg->hidden,
                    (long long)cfg->d_out, nb_dtype_name(cfg->dtype), iters, needed, physical / GIB);
}

nb_status nb_footprint_check(const char *command, const nb_variant *variant, const nb_train_config *cfg) {
    NB_ASSERT(variant->footprint); /* every variant states one: tests/test_alloc.c */
    int64_t bytes = 0;
    bool counted = variant->footprint(cfg, &bytes);
    return nb_footprint_check_bytes(command, variant->name, cfg, counted, bytes);
}
