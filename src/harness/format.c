/* src/harness/format.c — Python-style float repr and the streaming JSON writer. */
#include "harness/format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nb_format_pyfloat(double value, char *buf, size_t size) {
    if (isnan(value)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(value)) {
        snprintf(buf, size, value < 0 ? "-inf" : "inf");
        return;
    }
    if (value == 0) {
        snprintf(buf, size, signbit(value) ? "-0.0" : "0.0");
        return;
    }
    /* Shortest round trip: the fewest significant digits that read back exactly. */
    char sci[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, value);
        if (strtod(sci, NULL) == value) break;
    }
    /* sci is [-]d[.ddd]e[+-]XX: split it into sign, digit string and decimal exponent. */
    const char *p = sci;
    bool negative = *p == '-';
    if (negative) p++;
    char digits[20];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    int exponent = atoi(p + 1);

    char body[64];
    if (exponent >= -4 && exponent < 16) {
        if (exponent >= 0) { /* ddd.ddd, with ".0" when there is no fraction */
            char intpart[24], frac[24];
            int ni = exponent + 1;
            for (int i = 0; i < ni; i++) intpart[i] = i < nd ? digits[i] : '0';
            intpart[ni] = '\0';
            if (nd > ni)
                snprintf(frac, sizeof frac, "%s", digits + ni);
            else
                snprintf(frac, sizeof frac, "0");
            snprintf(body, sizeof body, "%s.%s", intpart, frac);
        } else { /* 0.000ddd */
            snprintf(body, sizeof body, "0.%.*s%s", -exponent - 1, "0000", digits);
        }
    } else if (nd > 1) {
        snprintf(body, sizeof body, "%c.%se%c%02d", digits[0], digits + 1, exponent < 0 ? '-' : '+', abs(exponent));
    } else {
        snprintf(body, sizeof body, "%ce%c%02d", digits[0], exponent < 0 ? '-' : '+', abs(exponent));
    }
    snprintf(buf, size, "%s%s", negative ? "-" : "", body);
}

/* ---- JSON ----------------------------------------------------------------------------- */

void nb_json_init(nb_json *j, FILE *out) {
    memset(j, 0, sizeof *j);
    j->out = out;
}

/* Writes the separator a new value needs at the current position. */
static void value_prefix(nb_json *j) {
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth]) fputc(',', j->out);
    j->need_comma[j->depth] = true;
}

static void open_scope(nb_json *j, char bracket) {
    value_prefix(j);
    fputc(bracket, j->out);
    if (j->depth + 1 < NB_JSON_MAX_DEPTH) j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_scope(nb_json *j, char bracket) {
    fputc(bracket, j->out);
    if (j->depth > 0) j->depth--;
}

void nb_json_object_begin(nb_json *j) { open_scope(j, '{'); }
void nb_json_object_end(nb_json *j) { close_scope(j, '}'); }
void nb_json_array_begin(nb_json *j) { open_scope(j, '['); }
void nb_json_array_end(nb_json *j) { close_scope(j, ']'); }

static void write_escaped(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void nb_json_key(nb_json *j, const char *key) {
    value_prefix(j);
    write_escaped(j->out, key);
    fputc(':', j->out);
    j->after_key = true;
}

void nb_json_string(nb_json *j, const char *value) {
    value_prefix(j);
    write_escaped(j->out, value ? value : "");
}

void nb_json_number(nb_json *j, double value) {
    value_prefix(j);
    if (!isfinite(value)) {
        fputs("null", j->out);
        return;
    }
    char buf[64];
    nb_format_pyfloat(value, buf, sizeof buf);
    fputs(buf, j->out);
}

void nb_json_int(nb_json *j, int64_t value) {
    value_prefix(j);
    fprintf(j->out, "%lld", (long long)value);
}

void nb_json_uint(nb_json *j, uint64_t value) {
    value_prefix(j);
    fprintf(j->out, "%llu", (unsigned long long)value);
}

void nb_json_bool(nb_json *j, bool value) {
    value_prefix(j);
    fputs(value ? "true" : "false", j->out);
}

void nb_json_null(nb_json *j) {
    value_prefix(j);
    fputs("null", j->out);
}
