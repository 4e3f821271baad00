/* src/variants/static_graph.h — what `nabla graph` needs from the static-graph variant beyond
 * the variant table: the plan its create compiled, to dump. */
#ifndef NB_VARIANTS_STATIC_GRAPH_H
#define NB_VARIANTS_STATIC_GRAPH_H

#include "graph/graph.h"
#include "variants/variant.h"

/* Creates the variant's state as nb_variant_static_graph.create does, the plan compiled
 * without fusion or without buffer reuse when asked (to compare plans). */
nb_status nb_static_graph_create(const nb_train_config *cfg, double lr, bool no_fusion, bool no_reuse, void **state);
/* The footprint (nb_variant.footprint) of a state made by nb_static_graph_create with these
 * options: the variant's own is no_fusion false. Buffer reuse does not enter: the count
 * gives every value of the plan its own buffer, which the liveness plan only shrinks. */
bool nb_static_graph_footprint(const nb_train_config *cfg, bool no_fusion, int64_t *bytes);
/* The compiled plan of a state made by the variant (borrowed). */
const nb_plan *nb_static_graph_plan(const void *state);

#endif
