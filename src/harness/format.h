/* src/harness/format.h — output formats shared by the commands: numbers printed the way
 * Python prints them, so nabla's lines diff cleanly against its PyTorch twin. JSON is written
 * with cJSON (train_cmd.c puts these numbers into it as raw text and says why). */
#ifndef NB_HARNESS_FORMAT_H
#define NB_HARNESS_FORMAT_H

#include <stddef.h>

/* Python's repr(float): the shortest digits that read back to the same double, fixed
 * notation for decimal exponents -4..15, otherwise d.ddde-XX; "nan", "inf", "-inf". */
void nb_format_pyfloat(double value, char *buf, size_t size);

#endif
