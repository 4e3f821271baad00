/* src/io/npy.c — NumPy .npy reader and writer for the reference fixtures (io/npy.h).
 * The reader is a strict parser of the header dict NumPy writes that checks every length
 * against the file before it allocates; the writer emits what np.save emits, atomically. */
#include "io/npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

/* Tensor storage is copied to and from the file byte for byte, which is only right when the
 * host's floats are the file's: IEEE binary32/binary64, little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.c assumes a little-endian host");
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "npy.c assumes 4-byte float, 8-byte double");

#define NPY_MAGIC_LEN 6
static const unsigned char npy_magic[NPY_MAGIC_LEN] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

enum {
    /* NumPy's own headers are under 256 bytes; anything near this limit is not a .npy file
     * we wrote, and the bound keeps a hostile length from becoming a huge allocation. */
    NPY_MAX_HEADER = 65536,
    /* NumPy pads the preamble (magic, version, length, header) to 64 bytes since 1.9 and
     * to 16 before; every 64-aligned preamble is 16-aligned, so 16 accepts both. */
    NPY_MIN_ALIGN = 16,
    NPY_WRITE_ALIGN = 64,
    /* np.save leaves room for the first dimension to grow to this many digits in place. */
    NPY_GROWTH_AXIS_MAX_DIGITS = 21,
};

/* nb_error with "<path>: " in front, so every reader message names the file. */
__attribute__((format(printf, 3, 4))) static nb_status npy_fail(nb_status status, const char *path, const char *fmt,
                                                                ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nb_error(status, "%s: %s", path, msg);
}

/* "(2, 3)" for messages; rank 1 as Python writes it, "(5,)". */
static const char *npy_shape_str(char *buf, size_t size, const int64_t *dims, int ndim) {
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld", (long long)dims[d]);
    if (used < size) snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
    return buf;
}

/* ---- header dict parser -------------------------------------------------------------
 * The header is a Python literal that NumPy reads with ast.literal_eval. nabla accepts the
 * subset NumPy writes: {'descr': <str>, 'fortran_order': <bool>, 'shape': <tuple of int>}
 * in any key order, with single or double quotes, blanks between tokens and an optional
 * trailing comma. It never reads outside [p, end) and never needs a terminating NUL. */

typedef struct npy_parser {
    const char *path;
    const unsigned char *begin, *p, *end;
} npy_parser;

static size_t npy_at(const npy_parser *ps) { return (size_t)(ps->p - ps->begin); }

static void npy_skip_blanks(npy_parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) ps->p++;
}

/* What sits at the cursor, printable whatever the byte: "'x'", "byte 0x93", "the end". */
static const char *npy_describe_next(const npy_parser *ps, char *buf, size_t size) {
    if (ps->p >= ps->end)
        snprintf(buf, size, "the end of the header");
    else if (*ps->p >= 0x20 && *ps->p < 0x7f)
        snprintf(buf, size, "'%c'", *ps->p);
    else
        snprintf(buf, size, "byte 0x%02x", *ps->p);
    return buf;
}

static nb_status npy_expected(const npy_parser *ps, const char *what) {
    char got[32];
    return npy_fail(NB_ERR_FORMAT, ps->path, "header: expected %s at byte %zu, found %s", what, npy_at(ps),
                    npy_describe_next(ps, got, sizeof got));
}

static bool npy_accept(npy_parser *ps, unsigned char c) {
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

/* A quoted string of printable ASCII without escapes (no name NumPy writes needs one).
 * Keeps the first size-1 characters in out, NUL-terminated; *too_long when it had more. */
static nb_status npy_parse_string(npy_parser *ps, char *out, size_t size, bool *too_long) {
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) return npy_expected(ps, "a quoted string");
    unsigned char quote = *ps->p++;
    size_t len = 0;
    *too_long = false;
    for (;;) {
        if (ps->p >= ps->end)
            return npy_fail(NB_ERR_FORMAT, ps->path, "header: unterminated string at byte %zu", npy_at(ps));
        unsigned char c = *ps->p;
        if (c == quote) break;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            return npy_fail(NB_ERR_FORMAT, ps->path,
                            "header: unsupported character (byte 0x%02x) in a string at byte %zu", c, npy_at(ps));
        if (len + 1 < size)
            out[len++] = (char)c;
        else
            *too_long = true;
        ps->p++;
    }
    ps->p++; /* the closing quote */
    out[len] = '\0';
    return NB_OK;
}

/* A Python name or number token: letters, digits, '_' and '.', which is what must not
 * follow a dimension ("3.0", "3L", "0x10", "1e3" are not the plain integers NumPy writes). */
static bool npy_is_word_char(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.';
}

static nb_status npy_parse_descr(npy_parser *ps, nb_dtype *dtype) {
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return npy_fail(NB_ERR_FORMAT, ps->path,
                        "header: 'descr' must be a dtype string such as '<f4' (structured dtypes are "
                        "not supported), at byte %zu",
                        npy_at(ps));
    char descr[24];
    bool too_long;
    NB_TRY(npy_parse_string(ps, descr, sizeof descr, &too_long));
    if (!too_long && strcmp(descr, "<f4") == 0)
        *dtype = NB_F32;
    else if (!too_long && strcmp(descr, "<f8") == 0)
        *dtype = NB_F64;
    else
        return npy_fail(NB_ERR_FORMAT, ps->path, "unsupported descr '%s%s': nabla reads only '<f4' and '<f8'", descr,
                        too_long ? "..." : "");
    return NB_OK;
}

static nb_status npy_parse_fortran_order(npy_parser *ps) {
    const unsigned char *start = ps->p;
    while (ps->p < ps->end && npy_is_word_char(*ps->p)) ps->p++;
    size_t len = (size_t)(ps->p - start);
    if (len == 5 && memcmp(start, "False", 5) == 0) return NB_OK;
    if (len == 4 && memcmp(start, "True", 4) == 0)
        return npy_fail(NB_ERR_FORMAT, ps->path,
                        "fortran_order True is not supported: nabla reads C-order (row-major) data only");
    ps->p = start;
    return npy_expected(ps, "False or True for 'fortran_order'");
}

/* shape: "()", "(5,)", "(3, 4)" or "(3, 4,)". Counts every dimension so a rank-5 shape is
 * reported as such, stores the first NB_MAX_DIMS. */
static nb_status npy_parse_shape(npy_parser *ps, int64_t *dims, int *ndim) {
    if (!npy_accept(ps, '(')) return npy_expected(ps, "a tuple such as (3, 4) for 'shape'");
    int n = 0;
    npy_skip_blanks(ps);
    while (!npy_accept(ps, ')')) {
        /* One dimension: a plain decimal integer, no sign, no leading zeros (Python 3
         * rejects "07"), within int64. */
        size_t at = npy_at(ps);
        if (ps->p < ps->end && *ps->p == '-')
            return npy_fail(NB_ERR_FORMAT, ps->path, "shape: dimension %d is negative (at byte %zu)", n, at);
        const unsigned char *start = ps->p;
        int64_t value = 0;
        bool overflow = false;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            int digit = *ps->p - '0';
            if (value > (INT64_MAX - digit) / 10)
                overflow = true;
            else
                value = value * 10 + digit;
            ps->p++;
        }
        size_t digits = (size_t)(ps->p - start);
        if (digits == 0 || (ps->p < ps->end && npy_is_word_char(*ps->p)) || (digits > 1 && *start == '0')) {
            ps->p = start;
            char got[32];
            return npy_fail(NB_ERR_FORMAT, ps->path,
                            "shape: dimension %d is not a non-negative integer (at byte %zu, found %s)", n, at,
                            npy_describe_next(ps, got, sizeof got));
        }
        if (overflow) return npy_fail(NB_ERR_FORMAT, ps->path, "shape: dimension %d is too large (over 2^63-1)", n);
        if (n < NB_MAX_DIMS) dims[n] = value;
        n++;
        npy_skip_blanks(ps);
        if (npy_accept(ps, ',')) {
            npy_skip_blanks(ps);
            continue; /* another dimension, or ')' after a trailing comma */
        }
        if (ps->p < ps->end && *ps->p == ')') {
            if (n == 1)
                return npy_fail(NB_ERR_FORMAT, ps->path, "shape: (%lld) is not a tuple; a 1-tuple is written (%lld,)",
                                (long long)dims[0], (long long)dims[0]);
            continue; /* the loop condition consumes it */
        }
        return npy_expected(ps, "',' or ')' in 'shape'");
    }
    if (n > NB_MAX_DIMS)
        return npy_fail(NB_ERR_FORMAT, ps->path, "shape has rank %d; nabla supports rank 0..%d", n, NB_MAX_DIMS);
    *ndim = n;
    return NB_OK;
}

typedef struct npy_header {
    nb_dtype dtype;
    int ndim;
    int64_t dims[NB_MAX_DIMS];
} npy_header;

/* Parses the dict in text[0, len) (the header without its final '\n'). */
static nb_status npy_parse_dict(const char *path, const unsigned char *text, size_t len, npy_header *h) {
    npy_parser ps = {.path = path, .begin = text, .p = text, .end = text + len};
    enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };
    unsigned seen = 0;
    npy_skip_blanks(&ps);
    if (!npy_accept(&ps, '{')) return npy_expected(&ps, "'{' (the header is a Python dict)");
    npy_skip_blanks(&ps);
    while (!npy_accept(&ps, '}')) {
        char key[32];
        bool too_long;
        NB_TRY(npy_parse_string(&ps, key, sizeof key, &too_long));
        unsigned which = too_long                            ? 0
                         : strcmp(key, "descr") == 0         ? KEY_DESCR
                         : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
                         : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                             : 0;
        if (!which)
            return npy_fail(NB_ERR_FORMAT, path,
                            "header: unexpected key '%s%s' (expected exactly 'descr', 'fortran_order', "
                            "'shape')",
                            key, too_long ? "..." : "");
        /* Python would keep the last of two equal keys; a writer that repeats one is
         * broken, so say so instead of guessing. */
        if (seen & which) return npy_fail(NB_ERR_FORMAT, path, "header: duplicate key '%s'", key);
        seen |= which;
        npy_skip_blanks(&ps);
        if (!npy_accept(&ps, ':')) return npy_expected(&ps, "':' after a key");
        npy_skip_blanks(&ps);
        if (which == KEY_DESCR)
            NB_TRY(npy_parse_descr(&ps, &h->dtype));
        else if (which == KEY_FORTRAN)
            NB_TRY(npy_parse_fortran_order(&ps));
        else
            NB_TRY(npy_parse_shape(&ps, h->dims, &h->ndim));
        npy_skip_blanks(&ps);
        if (npy_accept(&ps, ',')) {
            npy_skip_blanks(&ps);
            continue; /* another key, or '}' after a trailing comma (NumPy writes one) */
        }
        if (ps.p >= ps.end || *ps.p != '}') return npy_expected(&ps, "',' or '}' after a value");
    }
    /* Padding: spaces only, up to the final '\n' the caller already checked. */
    while (ps.p < ps.end && *ps.p == ' ') ps.p++;
    if (ps.p < ps.end) return npy_expected(&ps, "only space padding after the dict");
    static const struct {
        unsigned bit;
        const char *name;
    } keys[] = {{KEY_DESCR, "descr"}, {KEY_FORTRAN, "fortran_order"}, {KEY_SHAPE, "shape"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!(seen & keys[i].bit)) return npy_fail(NB_ERR_FORMAT, path, "header: missing key '%s'", keys[i].name);
    return NB_OK;
}

/* ---- reader ------------------------------------------------------------------------- */

/* The most bytes the preamble and header can take: magic, version, a 4-byte length, and the
 * largest header accepted. Everything before the data is checked from this many bytes. */
#define NPY_MAX_PREAMBLE (8 + 4 + (size_t)NPY_MAX_HEADER)

/* Checks the preamble, the header and the data length of a .npy file of `total` bytes whose
 * first `avail` bytes are in p (avail == total, or avail >= NPY_MAX_PREAMBLE: all that can
 * precede the data). On success *h is the header and the data is the last *data_bytes bytes,
 * from *data_offset. Shared by nb_npy_parse (a buffer) and nb_npy_read (a file read in two
 * parts), so both accept and reject exactly the same bytes with the same messages. */
static nb_status npy_check(const unsigned char *p, size_t avail, uint64_t total, const char *path, npy_header *h,
                           size_t *data_offset, size_t *data_bytes) {
    NB_ASSERT(avail == total || (avail < total && avail >= NPY_MAX_PREAMBLE));
    /* Magic and version. */
    if (total == 0) return npy_fail(NB_ERR_FORMAT, path, "empty file, not a .npy file");
    size_t got = avail < 8 ? avail : 8;
    if (memcmp(p, npy_magic, got < NPY_MAGIC_LEN ? got : NPY_MAGIC_LEN) != 0)
        return npy_fail(NB_ERR_FORMAT, path, "not a .npy file (bad magic: the file must start with \\x93NUMPY)");
    if (got < 8) return npy_fail(NB_ERR_FORMAT, path, "truncated preamble: the file has only %zu bytes", got);
    unsigned major = p[6], minor = p[7];
    size_t len_bytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
    if (len_bytes == 0 || minor != 0)
        return npy_fail(NB_ERR_FORMAT, path, "unsupported .npy version %u.%u (nabla reads 1.0, 2.0, 3.0)", major,
                        minor);

    /* Header length, little-endian 2 bytes (1.0) or 4 (2.0, 3.0). */
    if (avail < 8 + len_bytes)
        return npy_fail(NB_ERR_FORMAT, path, "truncated preamble: the header length field is cut short");
    uint32_t header_len = (uint32_t)p[8] | (uint32_t)p[9] << 8;
    if (len_bytes == 4) header_len |= (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    uint64_t preamble = 8 + len_bytes + (uint64_t)header_len;
    if (header_len > NPY_MAX_HEADER)
        return npy_fail(NB_ERR_FORMAT, path, "header length %lu is over the %d-byte limit", (unsigned long)header_len,
                        NPY_MAX_HEADER);
    if (preamble > total)
        return npy_fail(NB_ERR_FORMAT, path, "header length %lu goes beyond the end of the file (%llu bytes)",
                        (unsigned long)header_len, (unsigned long long)total);
    NB_ASSERT(preamble <= avail); /* preamble <= NPY_MAX_PREAMBLE and <= total */

    /* The header itself, checked for its frame before its contents. */
    const unsigned char *header = p + 8 + len_bytes;
    if (header_len == 0 || header[header_len - 1] != '\n')
        return npy_fail(NB_ERR_FORMAT, path, "header does not end with '\\n'");
    if (preamble % NPY_MIN_ALIGN != 0)
        return npy_fail(NB_ERR_FORMAT, path, "header padding: the preamble is %llu bytes, not a multiple of %d",
                        (unsigned long long)preamble, NPY_MIN_ALIGN);
    *h = (npy_header){0};
    NB_TRY(npy_parse_dict(path, header, header_len - 1, h));

    /* Data size: numel * itemsize without overflow. A zero dimension makes the array empty
     * whatever the others, but the others must still be sizes a tensor can describe, so the
     * product of the nonzero dimensions is bounded too (order does not matter). */
    char shape_buf[128];
    int64_t itemsize = (int64_t)nb_dtype_size(h->dtype);
    int64_t bytes = itemsize;
    bool empty = false;
    for (int d = 0; d < h->ndim; d++) {
        if (h->dims[d] == 0) {
            empty = true;
        } else if (bytes > INT64_MAX / h->dims[d]) {
            return npy_fail(NB_ERR_FORMAT, path, "shape %s overflows: its byte size is over 2^63-1",
                            npy_shape_str(shape_buf, sizeof shape_buf, h->dims, h->ndim));
        } else {
            bytes *= h->dims[d];
        }
    }
    uint64_t expected = empty ? 0 : (uint64_t)bytes;
    uint64_t available = total - preamble;
    if (available < expected)
        return npy_fail(NB_ERR_FORMAT, path, "truncated: expected %llu bytes of data, found %llu",
                        (unsigned long long)expected, (unsigned long long)available);
    if (available > expected)
        return npy_fail(NB_ERR_FORMAT, path, "trailing bytes: expected %llu bytes of data, found %llu",
                        (unsigned long long)expected, (unsigned long long)available);
    /* expected == available <= total, which is a size_t for a buffer and a file's size for a
     * file, whose data is then read in one call: both fit size_t. */
    *data_offset = (size_t)preamble;
    *data_bytes = (size_t)expected;
    return NB_OK;
}

/* The tensor the checked header describes; its data still to be filled. */
static nb_status npy_new_tensor(const npy_header *h, size_t data_bytes, const char *path, nb_tensor **out) {
    nb_tensor *t = nb_tensor_empty(h->dtype, h->ndim, h->dims);
    if (!t) return npy_fail(nb_last_status(), path, "%s", nb_last_error());
    NB_ASSERT(data_bytes == (uint64_t)nb_tensor_numel(t) * nb_dtype_size(t->dtype));
    *out = t;
    return NB_OK;
}

nb_status nb_npy_parse(const void *data, size_t size, const char *name, nb_tensor **out) {
    if (!out) return nb_error(NB_ERR_ARG, "npy_parse: out is NULL");
    *out = NULL;
    if (!name) name = "(buffer)";
    if (!data && size) return nb_error(NB_ERR_ARG, "%s: npy_parse: data is NULL", name);
    static const unsigned char nothing[1];
    const unsigned char *p = data ? data : nothing;
    npy_header h;
    size_t offset, nbytes;
    NB_TRY(npy_check(p, size, size, name, &h, &offset, &nbytes));
    nb_tensor *t;
    NB_TRY(npy_new_tensor(&h, nbytes, name, &t));
    if (nbytes) memcpy(nb_tensor_data(t), p + offset, nbytes);
    *out = t;
    return NB_OK;
}

/* Reads exactly n bytes or reports how many there were; an I/O error is not a short file. */
static nb_status npy_read_bytes(FILE *f, const char *path, void *buf, size_t n, size_t *got) {
    *got = fread(buf, 1, n, f);
    if (*got < n && ferror(f)) return npy_fail(NB_ERR_IO, path, "read error: %s", strerror(errno));
    return NB_OK;
}

static nb_status npy_read_file(FILE *f, const char *path, nb_tensor **out) {
    /* Only regular files: their size is known up front, so no length from the file is
     * trusted (or allocated) before it has been checked against it. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) return npy_fail(NB_ERR_IO, path, "cannot stat: %s", strerror(errno));
    if (S_ISDIR(st.st_mode)) return npy_fail(NB_ERR_IO, path, "is a directory, not a .npy file");
    if (!S_ISREG(st.st_mode)) return npy_fail(NB_ERR_IO, path, "not a regular file");
    /* st_size >= 0 for a regular file; uint64 keeps the sums in npy_check free of overflow. */
    uint64_t file_size = (uint64_t)st.st_size;

    /* Everything that can precede the data (at most NPY_MAX_PREAMBLE bytes) is read and
     * checked first, as nb_npy_parse checks a buffer; the data then goes straight into the
     * tensor, which is never allocated before its size has been checked against the file. */
    size_t head_len = file_size < NPY_MAX_PREAMBLE ? (size_t)file_size : NPY_MAX_PREAMBLE;
    unsigned char *head = malloc(head_len ? head_len : 1);
    if (!head) return npy_fail(NB_ERR_NOMEM, path, "out of memory reading a %zu-byte header", head_len);
    size_t got;
    nb_status status = npy_read_bytes(f, path, head, head_len, &got);
    npy_header h;
    size_t offset = 0, nbytes = 0;
    /* A file that shrank since fstat is checked as what it now is. */
    if (status == NB_OK) status = npy_check(head, got, got < head_len ? got : file_size, path, &h, &offset, &nbytes);
    free(head);
    if (status != NB_OK) return status;

    nb_tensor *t;
    NB_TRY(npy_new_tensor(&h, nbytes, path, &t));
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) status = npy_fail(NB_ERR_IO, path, "cannot seek: %s", strerror(errno));
    if (status == NB_OK) status = npy_read_bytes(f, path, nb_tensor_data(t), nbytes, &got);
    /* The file changed under us since fstat: report it as what it now is. */
    if (status == NB_OK && got < nbytes)
        status = npy_fail(NB_ERR_FORMAT, path, "truncated: expected %zu bytes of data, found %zu", nbytes, got);
    if (status == NB_OK && fgetc(f) != EOF)
        status = npy_fail(NB_ERR_FORMAT, path, "trailing bytes after %zu bytes of data", nbytes);
    if (status == NB_OK && ferror(f)) status = npy_fail(NB_ERR_IO, path, "read error: %s", strerror(errno));
    if (status != NB_OK) {
        nb_tensor_free(t);
        return status;
    }
    *out = t;
    return NB_OK;
}

nb_status nb_npy_read(const char *path, nb_tensor **out) {
    if (!out) return nb_error(NB_ERR_ARG, "npy_read: out is NULL");
    *out = NULL;
    if (!path) return nb_error(NB_ERR_ARG, "npy_read: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return nb_error(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    nb_status status = npy_read_file(f, path, out);
    fclose(f); /* read-only: nothing to lose if close fails */
    return status;
}

/* ---- writer ------------------------------------------------------------------------- */

/* The header np.save writes (NumPy 1.24) for a C-order array, byte for byte, so nabla's
 * files and NumPy's compare equal: sorted keys, repr of the shape, growth-axis spaces,
 * then spaces and '\n' up to a 64-byte boundary (a full 64 when already aligned, as NumPy
 * does). For the shapes a tensor can hold the growth-axis spaces never push the header past
 * a 64-byte boundary, so they only mirror NumPy's algorithm. Returns the header length
 * including the '\n'. */
static size_t npy_format_header(char *buf, size_t size, const nb_tensor *t) {
    char shape[128];
    npy_shape_str(shape, sizeof shape, t->shape, t->ndim);
    int n = snprintf(buf, size, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     t->dtype == NB_F32 ? "<f4" : "<f8", shape);
    NB_ASSERT(n > 0 && (size_t)n < size);
    size_t len = (size_t)n;
    if (t->ndim > 0) {
        int digits = snprintf(NULL, 0, "%lld", (long long)t->shape[0]);
        for (int i = digits; i < NPY_GROWTH_AXIS_MAX_DIGITS; i++) buf[len++] = ' ';
    }
    size_t prefix = NPY_MAGIC_LEN + 2 + 2;
    size_t pad = NPY_WRITE_ALIGN - (prefix + len + 1) % NPY_WRITE_ALIGN;
    NB_ASSERT(len + pad + 1 <= size);
    memset(buf + len, ' ', pad);
    len += pad;
    buf[len++] = '\n';
    return len;
}

nb_status nb_npy_encode(const nb_tensor *t, void **bytes, size_t *size, const char *name) {
    if (!name) name = "(buffer)";
    if (!bytes || !size) return nb_error(NB_ERR_ARG, "%s: npy_encode: bytes or size is NULL", name);
    *bytes = NULL;
    *size = 0;
    if (!t) return nb_error(NB_ERR_ARG, "%s: npy_write: tensor is NULL", name);
    if (t->dtype != NB_F32 && t->dtype != NB_F64)
        return nb_error(NB_ERR_ARG, "%s: npy_write: unknown dtype %d", name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > NB_MAX_DIMS)
        return nb_error(NB_ERR_ARG, "%s: npy_write: rank %d is out of range 0..%d", name, t->ndim, NB_MAX_DIMS);

    char header[10 + 256];
    memcpy(header, npy_magic, NPY_MAGIC_LEN);
    header[6] = 1; /* version 1.0 */
    header[7] = 0;
    size_t header_len = npy_format_header(header + 10, sizeof header - 10, t);
    header[8] = (char)(header_len & 0xff);
    header[9] = (char)(header_len >> 8);

    /* Row-major bytes: t itself when contiguous (a shared view), else a packed copy. */
    nb_tensor *c = nb_tensor_contiguous(t);
    if (!c) return npy_fail(nb_last_status(), name, "npy_write: %s", nb_last_error());
    size_t nbytes = (size_t)nb_tensor_numel(c) * nb_dtype_size(c->dtype);
    unsigned char *buf = malloc(10 + header_len + nbytes);
    if (!buf) {
        nb_tensor_free(c);
        return npy_fail(NB_ERR_NOMEM, name, "out of memory");
    }
    memcpy(buf, header, 10 + header_len);
    if (nbytes) memcpy(buf + 10 + header_len, nb_tensor_data(c), nbytes);
    nb_tensor_free(c);
    *bytes = buf;
    *size = 10 + header_len + nbytes;
    return NB_OK;
}

typedef struct npy_bytes {
    const void *data;
    size_t size;
} npy_bytes;

static bool write_bytes(FILE *f, void *ctx) {
    const npy_bytes *b = ctx;
    return fwrite(b->data, 1, b->size, f) == b->size;
}

nb_status nb_npy_write(const char *path, const nb_tensor *t) {
    if (!path) return nb_error(NB_ERR_ARG, "npy_write: path is NULL");
    void *bytes;
    size_t nbytes;
    NB_TRY(nb_npy_encode(t, &bytes, &nbytes, path));

    /* base/file.h: a reader (or a crash, or a full disk) sees the old file or the new one */
    npy_bytes data = {bytes, nbytes};
    nb_status status = nb_file_write_atomic(path, write_bytes, &data);
    free(bytes);
    return status;
}
