/* src/tensor/profile.h — the op profiler behind `nabla profile`: per op and phase (forward,
 * backward, update), calls, wall time, FLOPs and bytes moved. Process-wide, like the runtime
 * settings (runtime.h), and as cheap as one branch per op while off. */
#ifndef NB_TENSOR_PROFILE_H
#define NB_TENSOR_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

/* ---- the op profiler (nabla profile) ------------------------------------------------------
 * Off by default, when it costs one branch per op. When on, every tensor op adds its wall
 * time, FLOPs (matmul) and bytes moved (elementwise, reductions) to a row keyed by op name and
 * phase. The phase is set by whoever knows it: autograd's backward, a variant's manual
 * backward, an optimizer's update. */
typedef enum nb_phase { NB_PHASE_FORWARD = 0, NB_PHASE_BACKWARD = 1, NB_PHASE_UPDATE = 2 } nb_phase;
#define NB_PROFILE_MAX_ROWS 96

typedef struct nb_profile_row {
    const char *op; /* a static string */
    nb_phase phase;
    uint64_t calls;
    double seconds;
    uint64_t flops;
    uint64_t bytes;
} nb_profile_row;

void nb_profile_enable(bool on);
bool nb_profile_enabled(void);
void nb_profile_reset(void);
nb_phase nb_profile_set_phase(nb_phase phase); /* returns the previous phase */
nb_phase nb_profile_phase(void);               /* the phase set now (also for anomaly messages) */
/* The clock when profiling, else 0; pass it to nb_profile_record after the op. */
double nb_profile_start(void);
void nb_profile_record(const char *op, double start, uint64_t flops, uint64_t bytes);
int nb_profile_rows(const nb_profile_row **rows); /* in first-seen order */
const char *nb_phase_name(nb_phase phase);

#endif
