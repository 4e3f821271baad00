/* src/harness/cli.h — a table-driven parser for `--flag value` / `--flag=value` command
 * lines. Every value is checked in full (no trailing junk, in range, finite); the first
 * problem is reported as one line through nb_last_error and NB_ERR_ARG, which the CLI turns
 * into exit code 2. */
#ifndef NB_HARNESS_CLI_H
#define NB_HARNESS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef enum nb_opt_kind {
    NB_OPT_FLAG,   /* no value: sets a bool */
    NB_OPT_INT,    /* int64_t within [min, max] */
    NB_OPT_UINT64, /* uint64_t, any value */
    NB_OPT_DOUBLE, /* finite double within [dmin, dmax] */
    NB_OPT_STRING, /* const char * pointing into argv */
} nb_opt_kind;

typedef struct nb_option {
    const char *name; /* without the leading dashes: "batch" for --batch */
    nb_opt_kind kind;
    void *dest;          /* bool*, int64_t*, uint64_t*, double* or const char** */
    const char *metavar; /* "N", "NAME", ... for --help */
    const char *help;
    int64_t min, max;  /* NB_OPT_INT */
    double dmin, dmax; /* NB_OPT_DOUBLE */
    bool *seen;        /* optional: set when the option appears */
} nb_option;

/* Table rows, e.g. NB_OPT_INT_ROW("batch", &cfg.batch, "N", "batch size", 1, 1 << 24). */
#define NB_OPT_FLAG_ROW(NAME, DEST, HELP)                                                                              \
    { .name = (NAME), .kind = NB_OPT_FLAG, .dest = (DEST), .help = (HELP) }
#define NB_OPT_STRING_ROW(NAME, DEST, METAVAR, HELP)                                                                   \
    { .name = (NAME), .kind = NB_OPT_STRING, .dest = (DEST), .metavar = (METAVAR), .help = (HELP) }
#define NB_OPT_UINT64_ROW(NAME, DEST, METAVAR, HELP)                                                                   \
    { .name = (NAME), .kind = NB_OPT_UINT64, .dest = (DEST), .metavar = (METAVAR), .help = (HELP) }
#define NB_OPT_INT_ROW(NAME, DEST, METAVAR, HELP, MIN, MAX)                                                            \
    {                                                                                                                  \
        .name = (NAME), .kind = NB_OPT_INT, .dest = (DEST), .metavar = (METAVAR), .help = (HELP), .min = (MIN),        \
        .max = (MAX)                                                                                                   \
    }
#define NB_OPT_INT_ROW_SEEN(NAME, DEST, METAVAR, HELP, MIN, MAX, SEEN)                                                 \
    {                                                                                                                  \
        .name = (NAME), .kind = NB_OPT_INT, .dest = (DEST), .metavar = (METAVAR), .help = (HELP), .min = (MIN),        \
        .max = (MAX), .seen = (SEEN)                                                                                   \
    }
#define NB_OPT_DOUBLE_ROW(NAME, DEST, METAVAR, HELP, MIN, MAX, SEEN)                                                   \
    {                                                                                                                  \
        .name = (NAME), .kind = NB_OPT_DOUBLE, .dest = (DEST), .metavar = (METAVAR), .help = (HELP), .dmin = (MIN),    \
        .dmax = (MAX), .seen = (SEEN)                                                                                  \
    }

/* Parses argv[0..argc) (without the command name) against options[0..count). --help or -h
 * sets *help and stops. Errors name the command ("nabla train: ...") and the flag. */
nb_status nb_cli_parse(const char *command, int argc, char **argv, const nb_option *options, int count, bool *help);

/* A comma-separated list value (--threads 1,2, --kernels a,b): NB_ERR_ARG naming the flag
 * when an entry is empty ("1,", ",2", "1,,2"; strtok would skip it silently) or the text is
 * `max_len` characters or longer (the parsers copy it into a fixed buffer). */
nb_status nb_cli_check_list(const char *command, const char *flag, const char *text, size_t max_len);

/* Whether `name` is one of the comma-separated entries of `list` (a NULL list holds every
 * name), for --kernels / --variants filters. */
bool nb_cli_list_contains(const char *list, const char *name);

/* Prints "  --name METAVAR   help" lines for the table. */
void nb_cli_print_options(FILE *out, const nb_option *options, int count);

#endif
