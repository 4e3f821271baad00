/* src/harness/commands.h — the `nabla` subcommands. Each takes the arguments after its
 * name and returns the process exit code: 0 success, 1 a failure while running (data,
 * memory, numerics), 2 a usage error (bad flag or value), always with one line on stderr. */
#ifndef NB_HARNESS_COMMANDS_H
#define NB_HARNESS_COMMANDS_H

enum { NB_EXIT_OK = 0, NB_EXIT_FAILURE = 1, NB_EXIT_USAGE = 2, NB_EXIT_INTERRUPTED = 130 /* 128 + SIGINT */ };

int nb_cmd_train(int argc, char **argv);
int nb_cmd_kernels(int argc, char **argv);
int nb_cmd_verify(int argc, char **argv);
int nb_cmd_bench(int argc, char **argv);
int nb_cmd_profile(int argc, char **argv);
int nb_cmd_graph(int argc, char **argv);
int nb_cmd_tune(int argc, char **argv);

/* Prints "nabla <command>: <message>" (the message already names the command when it
 * comes from the option parser) plus a hint, on one line, and returns `code`. */
int nb_cmd_fail(int code, const char *command, const char *message);

#endif
