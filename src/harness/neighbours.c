/* src/harness/neighbours.c — see neighbours.h: forked spinners, killed and reaped on stop,
 * killed by the kernel if nabla dies first. */
#define _GNU_SOURCE /* cpu_set_t, sched_setaffinity, close_range, wait4 */
#include "harness/neighbours.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(sizeof(cpu_set_t) == sizeof(((nb_neighbours *)0)->cpus), "nb_neighbours.cpus must hold a cpu_set_t");

void nb_neighbours_init(nb_neighbours *n) {
    memset(n, 0, sizeof *n);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        memcpy(n->cpus, &set, sizeof set);
        n->have_cpus = true;
    }
}

/* The child's whole life. Only async-signal-safe calls: nabla has other threads (OpenMP,
 * OpenBLAS, its own team), and a forked child inherits whatever locks they held. */
static _Noreturn void spin(const nb_neighbours *n, pid_t parent, const sigset_t *mask) {
    /* Signals are blocked here (the parent blocked them around fork): nabla's handlers
     * (interrupt.h) must never run in a neighbour, where they would signal nabla's twin. With
     * the default actions, a terminal's ^C to the process group ends the neighbour too. */
    const struct sigaction dfl = {.sa_handler = SIG_DFL};
    const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) sigaction(caught[i], &dfl, NULL);
    /* set, then checked: a parent that died before the prctl would leave us orphaned for good */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(0);
    pthread_sigmask(SIG_SETMASK, mask, NULL);
    /* nabla's descriptors (its output pipes, the overlap registry's locked file) must not stay
     * open in a process that is not nabla; failure (a kernel before 5.9) leaves them open,
     * which only delays their release until the neighbour is killed */
    close_range(0, ~0U, 0);
    /* the CPUs of the process, not the binding the main thread may have acquired since */
    if (n->have_cpus) sched_setaffinity(0, sizeof(cpu_set_t), (const cpu_set_t *)(const void *)n->cpus);
    /* integer and floating-point work, never a sleep: a neighbour takes all the CPU it is given */
    volatile uint64_t sink;
    uint64_t x = 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    double f = 1.0;
    for (;;) {
        for (int i = 0; i < (1 << 16); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f = f * 0.999999 + (double)(x & 0xff);
        }
        sink = x + (uint64_t)f;
        (void)sink;
    }
}

nb_status nb_neighbours_start(nb_neighbours *n, int count) {
    NB_ASSERT(count >= 0 && n->count + count <= NB_NEIGHBOURS_MAX);
    const pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    for (int i = 0; i < count; i++) {
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid_t pid = fork();
        if (pid == 0) spin(n, parent, &old);
        int err = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid < 0) {
            nb_neighbours_stop(n);
            return nb_error(NB_ERR_IO, "cannot start busy neighbour %d of %d: fork: %s", i + 1, count, strerror(err));
        }
        n->pid[n->count++] = pid;
        n->started++;
    }
    return NB_OK;
}

void nb_neighbours_stop(nb_neighbours *n) {
    /* all killed first, then reaped: none spins on while an earlier one is waited for */
    for (int i = 0; i < n->count; i++) kill(n->pid[i], SIGKILL);
    for (int i = 0; i < n->count; i++) {
        int status;
        struct rusage ru;
        pid_t r;
        while ((r = wait4(n->pid[i], &status, 0, &ru)) < 0 && errno == EINTR) {}
        if (r == n->pid[i])
            n->cpu_seconds += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    }
    n->count = 0;
}
