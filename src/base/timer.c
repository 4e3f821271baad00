/* src/base/timer.c — CLOCK_MONOTONIC in seconds. */
#include "base/timer.h"

#include <time.h>

double nb_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
