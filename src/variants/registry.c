/* src/variants/registry.c — the table of training variants, in the tutorial's order. */
#include <stdio.h>
#include <string.h>

#include "variants/variant.h"

static const nb_variant *const variants[] = {
    &nb_variant_tensors, &nb_variant_autograd, &nb_variant_custom_function, &nb_variant_static_graph,
    &nb_variant_nn,      &nb_variant_optim,    &nb_variant_module,          &nb_variant_dynamic,
};

void nb_train_config_default(nb_train_config *cfg) {
    *cfg = (nb_train_config){
        .variant = "tensors",
        .dtype = NB_F32,
        .seed = 0,
        .batch = 64,
        .d_in = 1000,
        .hidden = 100,
        .d_out = 10,
        .iters = 500,
        .lr = -1.0,
    };
}

int nb_variant_count(void) { return (int)(sizeof variants / sizeof variants[0]); }

const nb_variant *nb_variant_at(int index) { return index >= 0 && index < nb_variant_count() ? variants[index] : NULL; }

const nb_variant *nb_variant_find(const char *name) {
    for (int i = 0; name && i < nb_variant_count(); i++)
        if (!strcmp(variants[i]->name, name)) return variants[i];
    return NULL;
}

void nb_variant_names(char *buf, size_t size) {
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (int i = 0; i < nb_variant_count() && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", variants[i]->name);
}

double nb_variant_lr(const nb_variant *variant, const nb_train_config *cfg) {
    return cfg->lr >= 0 ? cfg->lr : variant->default_lr;
}
