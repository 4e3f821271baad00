/* src/tensor/anomaly.h — `--detect-anomaly`: each op checks the tensor it has just written for
 * non-finite values. It walks a tensor's elements, so it belongs to the tensor layer, not to the
 * runtime settings. */
#ifndef NB_TENSOR_ANOMALY_H
#define NB_TENSOR_ANOMALY_H

#include <stdbool.h>

#include "base/error.h"

/* ---- anomaly detection (nabla train --detect-anomaly) ---------------------------------------
 * Like torch.autograd.detect_anomaly, but for every op and phase: when on, each op checks the
 * tensor it has just written, right where it records itself for the profiler. The first
 * non-finite element makes the op fail with NB_ERR_NUMERIC and a message naming the value, the
 * op, the phase and the shape; the training loop adds the step. Off by default, when the check
 * is the one branch of nb_anomaly_check (inline). */
struct nb_tensor;
extern bool nb_anomaly_active; /* read by nb_anomaly_check; set only through nb_anomaly_enable */
void nb_anomaly_enable(bool on);
bool nb_anomaly_enabled(void);
/* The scan behind nb_anomaly_check: NB_OK when every element of `out` is finite. */
nb_status nb_anomaly_scan(const char *op, const struct nb_tensor *out);
static inline nb_status nb_anomaly_check(const char *op, const struct nb_tensor *out) {
    return nb_anomaly_active ? nb_anomaly_scan(op, out) : NB_OK;
}

#endif
