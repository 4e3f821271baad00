/* src/base/timer.h — a monotonic wall clock for timing loops (threaded code is timed by
 * wall time, not CPU time). */
#ifndef NB_BASE_TIMER_H
#define NB_BASE_TIMER_H

/* Seconds since an arbitrary fixed point, from CLOCK_MONOTONIC. */
double nb_now_seconds(void);

#endif
