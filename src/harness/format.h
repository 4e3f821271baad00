/* src/harness/format.h — output formats shared by the commands: numbers printed the way
 * Python prints them (so nabla's lines diff cleanly against its PyTorch twin), and a small
 * streaming JSON writer. */
#ifndef NB_HARNESS_FORMAT_H
#define NB_HARNESS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Python's repr(float): the shortest digits that read back to the same double, fixed
 * notation for decimal exponents -4..15, otherwise d.ddde-XX; "nan", "inf", "-inf". */
void nb_format_pyfloat(double value, char *buf, size_t size);

/* Streaming JSON: values are separated with commas automatically. Non-finite numbers are
 * written as null (JSON has no NaN). Nesting is limited to NB_JSON_MAX_DEPTH. */
#define NB_JSON_MAX_DEPTH 16
typedef struct nb_json {
    FILE *out;
    int depth;
    bool need_comma[NB_JSON_MAX_DEPTH];
    bool after_key;
} nb_json;

void nb_json_init(nb_json *j, FILE *out);
void nb_json_object_begin(nb_json *j);
void nb_json_object_end(nb_json *j);
void nb_json_array_begin(nb_json *j);
void nb_json_array_end(nb_json *j);
void nb_json_key(nb_json *j, const char *key);
void nb_json_string(nb_json *j, const char *value);
void nb_json_number(nb_json *j, double value);
void nb_json_int(nb_json *j, int64_t value);
void nb_json_uint(nb_json *j, uint64_t value);
void nb_json_bool(nb_json *j, bool value);
void nb_json_null(nb_json *j);

#endif
