/* src/harness/interrupt.c — see interrupt.h: SIGINT, SIGTERM and SIGHUP as one stop request. */
#include "harness/interrupt.h"

#include <signal.h>
#include <string.h>

#include "harness/train.h"

static const int caught[] = {SIGINT, SIGTERM, SIGHUP};
#define NCAUGHT ((int)(sizeof caught / sizeof caught[0]))

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t child_pid;

static void set_action(int sig, void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    /* reads and waits (a twin's pipe, waitpid) resume: the loops poll the flag themselves */
    sa.sa_flags = handler == SIG_DFL ? 0 : SA_RESTART;
    sigaction(sig, &sa, NULL);
}

/* Only async-signal-safe calls here: sigaction, kill, raise. */
static void on_signal(int sig) {
    if (stop_signal) {
        /* the second request: the default action, now */
        set_action(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
    nb_train_stop_requested = 1;
    if (child_pid > 0) kill((pid_t)child_pid, SIGTERM);
}

void nb_interrupt_catch(void) {
    stop_signal = 0;
    nb_train_stop_requested = 0;
    for (int i = 0; i < NCAUGHT; i++) set_action(caught[i], on_signal);
}

void nb_interrupt_release(void) {
    for (int i = 0; i < NCAUGHT; i++) set_action(caught[i], SIG_DFL);
}

bool nb_interrupted(void) { return stop_signal != 0 || nb_train_stop_requested; }
int nb_interrupt_signal(void) { return stop_signal ? (int)stop_signal : nb_train_stop_requested ? SIGINT : 0; }
int nb_interrupt_exit_code(void) { return 128 + (nb_interrupt_signal() ? nb_interrupt_signal() : SIGINT); }

const char *nb_interrupt_signal_name(void) {
    switch (nb_interrupt_signal()) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

void nb_interrupt_set_child(pid_t pid) { child_pid = pid; }
