/* src/harness/interrupt.h — how every long-running command stops when asked: SIGINT (^C),
 * SIGTERM (kill, timeout, a CI runner) and SIGHUP (a closed terminal or ssh session) are one
 * request to stop. The first one sets nb_train_stop_requested (the training loop, the bench
 * rounds, the GEMM timings, verify's cases check it), forwards SIGTERM to the child process
 * the command is waiting for (a PyTorch twin), and the command then writes what it has
 * whole, says so, and exits 128 + the signal's number. A second signal acts as if nothing
 * caught it, so a stuck run can still be killed. */
#ifndef NB_HARNESS_INTERRUPT_H
#define NB_HARNESS_INTERRUPT_H

#include <stdbool.h>
#include <sys/types.h>

/* Installs the handlers (and clears any earlier request). */
void nb_interrupt_catch(void);
/* Restores the default actions. */
void nb_interrupt_release(void);

/* Whether a stop was asked for, which signal asked (0: none), and the exit code a command
 * returns for it: 128 + the signal, as a shell reports a process the signal killed. */
bool nb_interrupted(void);
int nb_interrupt_signal(void);
int nb_interrupt_exit_code(void);
/* "SIGINT", "SIGTERM", "SIGHUP" (or "a signal"). */
const char *nb_interrupt_signal_name(void);

/* The child process the command waits for (0: none): a stop request sends it SIGTERM. */
void nb_interrupt_set_child(pid_t pid);

#endif
