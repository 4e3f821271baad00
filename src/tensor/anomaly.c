/* src/tensor/anomaly.c — see anomaly.h: the scan of an op's output for nan and inf, and its
 * message (value, op, phase, shape, element). */
#include "tensor/anomaly.h"

#include <math.h>

#include "tensor/profile.h"
#include "tensor/tensor_impl.h"

bool nb_anomaly_active;

void nb_anomaly_enable(bool on) { nb_anomaly_active = on; }
bool nb_anomaly_enabled(void) { return nb_anomaly_active; }

nb_status nb_anomaly_scan(const char *op, const nb_tensor *out) {
    if (!out || !out->storage) return NB_OK;
    nb_offset_iter it;
    int64_t off, index = 0;
    double bad = 0;
    bool found = false;
    /* any layout (ops may write into views); only the elements of `out` itself are looked at */
    for (nb_offset_iter_init(&it, out); !found && nb_offset_iter_next(&it, &off); index++) {
        double v = nb_load(out, off);
        if (!isfinite(v)) {
            bad = v;
            found = true;
        }
    }
    if (!found) return NB_OK;
    char shape[64];
    return nb_error(NB_ERR_NUMERIC, "%s in the output of %s (%s pass), shape %s, element %lld",
                    isnan(bad) ? "nan"
                    : bad > 0  ? "inf"
                               : "-inf",
                    op, nb_phase_name(nb_profile_phase()), nb_tensor_describe(out, shape, sizeof shape),
                    (long long)(index - 1));
}
