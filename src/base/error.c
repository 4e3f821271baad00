/* src/base/error.c — the thread-local last-error message behind nb_error / nb_last_error. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_message[512];
static _Thread_local nb_status last_status = NB_OK;

nb_status nb_error(nb_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

const char *nb_last_error(void) { return last_message; }
nb_status nb_last_status(void) { return last_status; }

void nb_clear_error(void) {
    last_message[0] = '\0';
    last_status = NB_OK;
}

const char *nb_status_name(nb_status status) {
    switch (status) {
    case NB_OK: return "ok";
    case NB_ERR_ARG: return "bad argument";
    case NB_ERR_SHAPE: return "shape mismatch";
    case NB_ERR_NOMEM: return "out of memory";
    case NB_ERR_IO: return "i/o error";
    case NB_ERR_FORMAT: return "malformed input";
    case NB_ERR_NUMERIC: return "non-finite value";
    }
    return "unknown status";
}

void nb_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "nabla: internal error: %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}
