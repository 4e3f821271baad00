/* src/harness/tune_impl.h — what tune.c and tune_json.c share and no other file needs. */
#ifndef NB_HARNESS_TUNE_IMPL_H
#define NB_HARNESS_TUNE_IMPL_H

#include "harness/tune.h"

/* Writes t to `path` as nb_tune_write's file (the report context included, a final newline),
 * atomically but without the lock or the merge: nb_tune_save's last step, and where a broken
 * file's replacement is set aside. */
nb_status nb_tune_write_file(const char *path, const nb_tune_table *t);

/* The entry of t for the same product (dtype, threads, ta, tb, m, n, k) as key, or NULL. */
nb_tune_entry *nb_tune_table_find(nb_tune_table *t, const nb_tune_entry *key);

#endif
