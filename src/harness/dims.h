/* src/harness/dims.h — the limits on the network's dimensions (--batch, --d-in, --hidden,
 * --d-out) and steps, one set for every command that takes them: `nabla train` one value of
 * each, `nabla bench` a list. Memory is the other limit, per variant (footprint.h). */
#ifndef NB_HARNESS_DIMS_H
#define NB_HARNESS_DIMS_H

#include <stdint.h>

/* No dimension of the seed network needs to be larger; beyond it the footprint check would be
 * the only guard. */
#define NB_DIM_MAX ((int64_t)1 << 24)
#define NB_ITERS_MAX ((int64_t)1 << 31)

#endif
