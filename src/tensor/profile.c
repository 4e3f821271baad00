/* src/tensor/profile.c — see profile.h: the op profiler's rows, a plain process-wide table
 * (ops record from the calling thread, outside their parallel regions). */
#include "tensor/profile.h"

#include <string.h>

#include "base/timer.h"

static bool profile_on;
static nb_phase profile_phase;
static nb_profile_row profile_rows[NB_PROFILE_MAX_ROWS];
static int profile_count;

void nb_profile_enable(bool on) { profile_on = on; }
bool nb_profile_enabled(void) { return profile_on; }

void nb_profile_reset(void) {
    memset(profile_rows, 0, sizeof profile_rows);
    profile_count = 0;
}

nb_phase nb_profile_set_phase(nb_phase phase) {
    nb_phase previous = profile_phase;
    profile_phase = phase;
    return previous;
}

nb_phase nb_profile_phase(void) { return profile_phase; }

double nb_profile_start(void) { return profile_on ? nb_now_seconds() : 0; }

void nb_profile_record(const char *op, double start, uint64_t flops, uint64_t bytes) {
    if (!profile_on) return;
    double elapsed = nb_now_seconds() - start;
    nb_profile_row *row = NULL;
    for (int i = 0; i < profile_count && !row; i++)
        if (profile_rows[i].phase == profile_phase && !strcmp(profile_rows[i].op, op)) row = &profile_rows[i];
    if (!row) {
        if (profile_count == NB_PROFILE_MAX_ROWS) return; /* full: the rest shows as time outside ops */
        row = &profile_rows[profile_count++];
        row->op = op;
        row->phase = profile_phase;
    }
    row->calls++;
    row->seconds += elapsed;
    row->flops += flops;
    row->bytes += bytes;
}

int nb_profile_rows(const nb_profile_row **rows) {
    *rows = profile_rows;
    return profile_count;
}

const char *nb_phase_name(nb_phase phase) {
    return phase == NB_PHASE_BACKWARD ? "backward" : phase == NB_PHASE_UPDATE ? "update" : "forward";
}
