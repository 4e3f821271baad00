/* kernels/select.c — from a name to a kernel: every name --kernel and NABLA_KERNEL accept (the
 * registry's concrete kernels, then `auto`), the default, and the selection order. It sits above
 * both registry.c (the concrete table) and auto.c (which dispatches over that table), so neither
 * of those refers to the other's names or to this file. Declared in gemm.h (its "selection"
 * section) with the rest of the kernels' public API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"

const nb_kernel *nb_kernel_find(const char *name) {
    if (name == NULL) return NULL;
    const nb_kernel *kernel = nb_kernel_find_concrete(name);
    if (kernel != NULL) return kernel;
    return strcmp(nb_kernel_auto()->name, name) == 0 ? nb_kernel_auto() : NULL;
}

const nb_kernel *nb_kernel_default(void) { return nb_kernel_find_concrete(NB_KERNEL_DEFAULT_NAME); }

const nb_kernel *nb_kernel_select(const char *requested, const char **chosen_name) {
    const char *name = requested;
    if (name == NULL) {
        const char *env = getenv("NABLA_KERNEL");
        name = env != NULL && env[0] != '\0' ? env : NB_KERNEL_DEFAULT_NAME;
    }
    if (chosen_name != NULL) *chosen_name = name;
    return nb_kernel_find(name);
}

void nb_kernel_choice_names(char *buf, size_t size) {
    if (buf == NULL || size == 0) return;
    nb_kernel_names(buf, size); /* NUL-terminated within size, so used < size below */
    size_t used = strlen(buf);
    /* snprintf truncates and NUL-terminates; with the buffer already full it writes the NUL only */
    snprintf(buf + used, size - used, "%s%s", used ? ", " : "", nb_kernel_auto()->name);
}
