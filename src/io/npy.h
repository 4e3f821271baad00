/* src/io/npy.h — NumPy .npy files (format 1.0/2.0/3.0 read, 1.0 written) for the PyTorch
 * reference fixtures: little-endian f32 ('<f4') and f64 ('<f8'), C order, rank 0..4. The
 * reader checks every header field and the data length, and fails with a message that
 * names the file and what is wrong; it never trusts a length it has not checked. */
#ifndef NB_IO_NPY_H
#define NB_IO_NPY_H

#include "tensor/tensor.h"

/* Reads `path` into a new contiguous tensor (*out), or returns NB_ERR_IO (cannot open or
 * read) / NB_ERR_FORMAT (anything malformed: bad magic, unsupported version, header length,
 * dict syntax or keys, dtype other than <f4/<f8, fortran_order True, bad or too-large shape,
 * data shorter or longer than the shape says) with *out NULL. NaN values are data, not a
 * format error: callers check them (nb_tensor_all_finite). */
nb_status nb_npy_read(const char *path, nb_tensor **out);

/* The same reader on the `size` bytes of a whole .npy file in memory: what nb_npy_read
 * checks, with the same statuses, and messages that start with `name` (NULL: "(buffer)")
 * where nb_npy_read's start with the path. Needs no terminating NUL and reads nothing past
 * data + size (tests/fuzz/ feeds it arbitrary bytes). */
nb_status nb_npy_parse(const void *data, size_t size, const char *name, nb_tensor **out);

/* Writes t (any layout) as a version 1.0 .npy file of its dtype. */
nb_status nb_npy_write(const char *path, const nb_tensor *t);

/* The bytes nb_npy_write writes for t, in a malloc'd buffer (*bytes, free() it) of *size
 * bytes; `name` (NULL: "(buffer)") starts the messages. */
nb_status nb_npy_encode(const nb_tensor *t, void **bytes, size_t *size, const char *name);

#endif
