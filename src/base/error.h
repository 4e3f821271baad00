/* src/base/error.h — how nabla reports errors: bad input returns a status and leaves a
 * one-line message behind (nb_last_error); broken internal invariants stop with file:line.
 * The library never exits on bad input; only the CLI turns a status into an exit code. */
#ifndef NB_BASE_ERROR_H
#define NB_BASE_ERROR_H

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_ARG,    /* a bad argument value: negative size, unknown name, NaN where a number is needed */
    NB_ERR_SHAPE,  /* shapes or dtypes that do not fit together */
    NB_ERR_NOMEM,  /* an allocation failed */
    NB_ERR_IO,     /* a file could not be opened, read or written */
    NB_ERR_FORMAT, /* a file or string is malformed */
    NB_ERR_NUMERIC /* a non-finite value where a finite one is required */
} nb_status;

/* Records `status` with a printf-style message for this thread and returns `status`, so an
 * error path reads `return nb_error(NB_ERR_SHAPE, "mm: ...", ...);`. */
nb_status nb_error(nb_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message of the last error on this thread ("" when there was none). */
const char *nb_last_error(void);
nb_status nb_last_status(void);
void nb_clear_error(void);

/* A short name for a status ("shape", "out of memory", ...). */
const char *nb_status_name(nb_status status);

/* Propagates a failed status to the caller: NB_TRY(nb_mm_out(h, x, w1)); */
#define NB_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        nb_status nb_try_status_ = (expr);                                                                             \
        if (nb_try_status_ != NB_OK) return nb_try_status_;                                                            \
    } while (0)

/* Internal invariants only: never for anything a user or a file can cause. */
#define NB_ASSERT(cond)                                                                                                \
    do {                                                                                                               \
        if (!(cond)) nb_assert_fail(#cond, __FILE__, __LINE__);                                                        \
    } while (0)
_Noreturn void nb_assert_fail(const char *expr, const char *file, int line);

#endif
