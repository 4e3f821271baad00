/* src/harness/footprint.h — the one up-front memory check of every command that sizes a
 * workload (train, profile, graph): a run whose variant declares more heap than the machine
 * has physical memory (nb_variant.footprint) is refused before anything is allocated. */
#ifndef NB_HARNESS_FOOTPRINT_H
#define NB_HARNESS_FOOTPRINT_H

#include <stdbool.h>
#include <stdint.h>

#include "variants/variant.h"

/* NB_OK when cfg's run of `variant` fits; else NB_ERR_ARG and one line, "nabla <command>:
 * variant V, --batch .. --d-in .. --hidden .. --d-out .. --dtype .. [--iters ..]: needs more
 * memory than this machine has (X GiB needed, Y GiB physical)". The rule: refuse when the
 * declared bytes exceed the physical memory (sysconf pages x page size), since such a run
 * would swap or be killed rather than fail cleanly, and a typo in a dimension is a usage
 * error, not an allocation failure halfway through; refuse a count that overflows int64
 * whatever the machine. A cfg->iters of 0 means the command keeps no loss history (it does
 * not train) and leaves --iters out of the line. */
nb_status nb_footprint_check(const char *command, const nb_variant *variant, const nb_train_config *cfg);

/* The same rule and line for a count the command made itself (`nabla graph` sizes its plan
 * by its own options); `counted` false: the count overflowed. */
nb_status nb_footprint_check_bytes(const char *command, const char *variant, const nb_train_config *cfg, bool counted,
                                   int64_t bytes);

#endif
