/* src/harness/format.c — Python-style float repr. */
#include "harness/format.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
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
