/* src/harness/cli.c — the option-table parser behind every `nabla` command. */
#include "harness/cli.h"

#include "harness/commands.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const nb_option *find_option(const nb_option *options, int count, const char *name, size_t len) {
    for (int i = 0; i < count; i++)
        if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len)) return &options[i];
    return NULL;
}

static nb_status parse_value(const char *command, const nb_option *opt, const char *text) {
    char *end = NULL;
    if (*text == '\0') return nb_error(NB_ERR_ARG, "%s: --%s needs a value", command, opt->name);
    /* strto* skip leading blanks and take hexadecimal ("0x10" as 16 for a double): a value
     * is only what it plainly says in decimal, so both are refused. */
    bool numeric = opt->kind == NB_OPT_INT || opt->kind == NB_OPT_UINT64 || opt->kind == NB_OPT_DOUBLE;
    if (numeric && (isspace((unsigned char)text[0]) || strpbrk(text, "xX")))
        return nb_error(NB_ERR_ARG, "%s: --%s expects %s, got '%s'", command, opt->name,
                        opt->kind == NB_OPT_DOUBLE ? "a number"
                        : opt->kind == NB_OPT_INT  ? "an integer"
                                                   : "a non-negative integer",
                        text);
    switch (opt->kind) {
    case NB_OPT_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (*end != '\0')
            return nb_error(NB_ERR_ARG, "%s: --%s expects an integer, got '%s'", command, opt->name, text);
        if (errno == ERANGE || v < opt->min || v > opt->max)
            return nb_error(NB_ERR_ARG, "%s: --%s %s is out of range %lld..%lld", command, opt->name, text,
                            (long long)opt->min, (long long)opt->max);
        *(int64_t *)opt->dest = v;
        return NB_OK;
    }
    case NB_OPT_UINT64: {
        errno = 0;
        /* strtoull accepts "-1" and wraps it; a seed is never negative. */
        if (text[0] == '-' || text[0] == '+' || text[0] == ' ')
            return nb_error(NB_ERR_ARG, "%s: --%s expects a non-negative integer, got '%s'", command, opt->name, text);
        unsigned long long v = strtoull(text, &end, 10);
        if (*end != '\0')
            return nb_error(NB_ERR_ARG, "%s: --%s expects a non-negative integer, got '%s'", command, opt->name, text);
        if (errno == ERANGE)
            return nb_error(NB_ERR_ARG, "%s: --%s %s is out of range 0..18446744073709551615", command, opt->name,
                            text);
        *(uint64_t *)opt->dest = v;
        return NB_OK;
    }
    case NB_OPT_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        if (*end != '\0') return nb_error(NB_ERR_ARG, "%s: --%s expects a number, got '%s'", command, opt->name, text);
        if (!isfinite(v)) return nb_error(NB_ERR_ARG, "%s: --%s must be finite, got '%s'", command, opt->name, text);
        /* an underflow (1e-400) would silently become 0 or lose digits */
        if (errno == ERANGE)
            return nb_error(NB_ERR_ARG, "%s: --%s %s is out of range (too small for a double)", command, opt->name,
                            text);
        if (v < opt->dmin || v > opt->dmax)
            return nb_error(NB_ERR_ARG, "%s: --%s %s is out of range %g..%g", command, opt->name, text, opt->dmin,
                            opt->dmax);
        *(double *)opt->dest = v;
        return NB_OK;
    }
    case NB_OPT_STRING: *(const char **)opt->dest = text; return NB_OK;
    case NB_OPT_FLAG: break;
    }
    return nb_error(NB_ERR_ARG, "%s: --%s takes no value", command, opt->name);
}

nb_status nb_cli_parse(const char *command, int argc, char **argv, const nb_option *options, int count, bool *help) {
    *help = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            *help = true;
            return NB_OK;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return nb_error(NB_ERR_ARG, "%s: unexpected argument '%s'", command, arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const nb_option *opt = find_option(options, count, name, len);
        if (!opt) return nb_error(NB_ERR_ARG, "%s: unknown flag '--%.*s'", command, (int)len, name);
        if (opt->seen) *opt->seen = true;
        if (opt->kind == NB_OPT_FLAG) {
            if (eq) return nb_error(NB_ERR_ARG, "%s: --%s takes no value", command, opt->name);
            *(bool *)opt->dest = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) return nb_error(NB_ERR_ARG, "%s: --%s needs a value", command, opt->name);
            value = argv[++i];
        }
        NB_TRY(parse_value(command, opt, value));
    }
    return NB_OK;
}

nb_status nb_cli_check_list(const char *command, const char *flag, const char *text, size_t max_len) {
    if (!text) return NB_OK;
    size_t len = strlen(text);
    if (len >= max_len)
        return nb_error(NB_ERR_ARG, "%s: --%s is longer than %zu characters", command, flag, max_len - 1);
    if (len == 0 || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,"))
        return nb_error(NB_ERR_ARG, "%s: --%s has an empty entry in '%s'", command, flag, text);
    return NB_OK;
}

bool nb_cli_list_contains(const char *list, const char *name) {
    if (!list) return true;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncmp(p, name, n)) return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

void nb_cli_print_options(FILE *out, const nb_option *options, int count) {
    for (int i = 0; i < count; i++) {
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].metavar ? " " : "",
                 options[i].metavar ? options[i].metavar : "");
        fprintf(out, "  %-22s %s\n", left, options[i].help);
    }
}

int nb_cmd_fail(int code, const char *command, const char *message) {
    /* Parser messages already start with "nabla <command>:"; library messages do not. */
    if (strncmp(message, "nabla", 5) == 0)
        fprintf(stderr, "%s", message);
    else
        fprintf(stderr, "nabla %s: %s", command, message);
    if (code == NB_EXIT_USAGE) fprintf(stderr, " (see 'nabla %s --help')", command);
    fputc('\n', stderr);
    return code;
}
