/* tests/test_npy.c — the .npy reader and writer (src/io/npy.h): round trips of every rank and
 * layout, byte-for-byte agreement with files NumPy wrote (tests/data/npy, from make.py), and
 * every malformed input, each rejected with a status and a message that names the problem. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/npy.h"
#include "test_util.h"

#define NPY_DATA NABLA_TEST_DATA_DIR "/npy/"

static char tmp_dir[64]; /* a fresh mkdtemp directory per run, emptied and removed at the end */

typedef struct path_buf {
    char s[512];
} path_buf;

static path_buf tmp_path(const char *name) {
    path_buf p;
    snprintf(p.s, sizeof p.s, "%s/%s", tmp_dir, name);
    return p;
}

static int suite_init(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nabla-npy-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : 1;
}

static int suite_cleanup(void) {
    DIR *dir = opendir(tmp_dir);
    if (!dir) return 1;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        path_buf p = tmp_path(e->d_name);
        if (unlink(p.s) != 0) rmdir(p.s); /* the one test directory */
    }
    closedir(dir);
    return rmdir(tmp_dir) == 0 ? 0 : 1;
}

/* Number of entries in the temporary directory (to see that no temp file is left over). */
static int tmp_dir_entries(void) {
    DIR *dir = opendir(tmp_dir);
    if (!dir) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(dir);
    return n;
}

/* The whole of a file, malloc'd; NULL when it cannot be read. */
static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) break;
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0) break;
        len += n;
    }
    fclose(f);
    *size = len;
    return buf;
}

static path_buf write_file(const char *name, const void *bytes, size_t n) {
    path_buf p = tmp_path(name);
    FILE *f = fopen(p.s, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(bytes, 1, n, f) == n);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return p;
}

/* A .npy file put together byte by byte: the magic, version major.minor, a header length
 * field of 2 bytes (major 1) or 4 (else) holding len_field, header_len bytes of header as
 * given, then ndata bytes of data (a fixed pattern). */
static path_buf write_npy_raw(const char *name, unsigned major, unsigned minor, uint32_t len_field, const char *header,
                              size_t header_len, size_t ndata) {
    size_t field = major == 1 ? 2 : 4;
    size_t n = 8 + field + header_len + ndata;
    unsigned char *buf = malloc(n);
    CU_ASSERT_FATAL(buf != NULL);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = (unsigned char)minor;
    for (size_t i = 0; i < field; i++) buf[8 + i] = (unsigned char)(len_field >> (8 * i));
    memcpy(buf + 8 + field, header, header_len);
    for (size_t i = 0; i < ndata; i++) buf[8 + field + header_len + i] = (unsigned char)(i * 37 + 11);
    path_buf p = write_file(name, buf, n);
    free(buf);
    return p;
}

/* Whether t holds write_npy_raw's data pattern, i.e. the data was taken from the right offset. */
static bool data_is_pattern(const nb_tensor *t) {
    const unsigned char *d = nb_tensor_data(t);
    size_t n = (size_t)nb_tensor_numel(t) * nb_dtype_size(t->dtype);
    for (size_t i = 0; i < n; i++)
        if (d[i] != (unsigned char)(i * 37 + 11)) return false;
    return true;
}

/* A version 1.0 file whose header is `dict` padded with spaces and a '\n' to a 64-byte
 * preamble, as NumPy pads it: only the dict differs from a good file. */
static path_buf write_npy_dict(const char *name, const char *dict, size_t ndata) {
    char header[512];
    size_t len = strlen(dict);
    CU_ASSERT_FATAL(len + 64 < sizeof header);
    memcpy(header, dict, len);
    while ((10 + len + 1) % 64 != 0) header[len++] = ' ';
    header[len++] = '\n';
    return write_npy_raw(name, 1, 0, (uint32_t)len, header, len, ndata);
}

/* Reading `path` fails with `status`, *out comes back NULL, and the message contains
 * `needle` and names the file (format errors start with "<path>: "). */
#define EXPECT_READ_FAILS(path, status, needle) expect_read_fails((path), (status), (needle), __LINE__)
static void expect_read_fails(const char *path, nb_status status, const char *needle, unsigned line) {
    static nb_tensor sentinel;
    nb_tensor *t = &sentinel; /* must be reset to NULL */
    nb_clear_error();
    nb_status got = nb_npy_read(path, &t);
    const char *msg = nb_last_error();
    size_t plen = strlen(path);
    bool ok = got == status && t == NULL && strstr(msg, needle) != NULL && strstr(msg, path) != NULL &&
              (status != NB_ERR_FORMAT || (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0));
    if (!ok)
        printf("\n  line %u: status %s (want %s), message '%s' (want '%s')\n", line, nb_status_name(got),
               nb_status_name(status), msg, needle);
    CU_assertImplementation(ok, line, "read fails with the expected status and message", __FILE__, "", CU_FALSE);
    if (t != &sentinel) nb_tensor_free(t);
}

/* Reads a file that must be good. */
static nb_tensor *read_ok(const char *path) {
    nb_tensor *t = NULL;
    nb_status st = nb_npy_read(path, &t);
    if (st != NB_OK) printf("\n  reading %s: %s\n", path, nb_last_error());
    CU_ASSERT_EQUAL(st, NB_OK);
    return t;
}

static bool has_shape(const nb_tensor *t, nb_dtype dtype, int ndim, const int64_t *shape) {
    if (!t || t->dtype != dtype || t->ndim != ndim) return false;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return false;
    return nb_tensor_is_contiguous(t);
}

/* ---- round trips -------------------------------------------------------------------- */

/* Distinct values at every position, so a permuted or shifted read cannot match; one of
 * them is -0.0 and one NaN, which only a bit-exact copy preserves (value compares miss both). */
static void fill_distinct(nb_tensor *t) {
    int64_t n = nb_tensor_numel(t);
    int64_t idx[NB_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        double v = k == 1 ? -0.0 : k == 2 ? NAN : (double)(k + 1) / 7.0 - 3.0;
        nb_tensor_set(t, idx, v);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* Same bits at every index (the read tensor is contiguous; src may be any layout). */
static bool same_bits(const nb_tensor *src, const nb_tensor *read) {
    nb_tensor *c = nb_tensor_contiguous(src);
    size_t nbytes = (size_t)nb_tensor_numel(c) * nb_dtype_size(c->dtype);
    bool same = nbytes == (size_t)nb_tensor_numel(read) * nb_dtype_size(read->dtype) &&
                memcmp(nb_tensor_data(c), nb_tensor_data(read), nbytes) == 0;
    nb_tensor_free(c);
    return same;
}

static void round_trip(const nb_tensor *src, const char *name) {
    path_buf p = tmp_path(name);
    CU_ASSERT_EQUAL_FATAL(nb_npy_write(p.s, src), NB_OK);
    size_t size = 0;
    unsigned char *bytes = slurp(p.s, &size);
    CU_ASSERT_FATAL(bytes != NULL);
    /* Version 1.0, a 64-byte-aligned preamble ending in '\n', then exactly the data. */
    size_t header_len = bytes[8] | (size_t)bytes[9] << 8;
    size_t nbytes = (size_t)nb_tensor_numel(src) * nb_dtype_size(src->dtype);
    CU_ASSERT(memcmp(bytes, "\x93NUMPY\x01\x00", 8) == 0);
    CU_ASSERT_EQUAL((10 + header_len) % 64, 0);
    CU_ASSERT_EQUAL(bytes[10 + header_len - 1], '\n');
    CU_ASSERT_EQUAL(size, 10 + header_len + nbytes);
    free(bytes);
    nb_tensor *t = read_ok(p.s);
    CU_ASSERT_TRUE(has_shape(t, src->dtype, src->ndim, src->shape));
    CU_ASSERT_TRUE(t && same_bits(src, t));
    nb_tensor_free(t);
}

static void test_round_trip_every_rank(void) {
    static const struct {
        int ndim;
        int64_t shape[NB_MAX_DIMS];
    } shapes[] = {
        {0, {0}},          {1, {0}},          {1, {1}},       {1, {7}},       {2, {3, 4}},
        {2, {0, 5}},       {2, {1, 1}},       {3, {2, 3, 4}}, {3, {1, 0, 2}}, {4, {2, 1, 3, 2}},
        {4, {3, 0, 2, 1}}, {4, {1, 1, 1, 1}}, {1, {1234567}},
    };
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            nb_tensor *src = nb_tensor_empty(dtype, shapes[i].ndim, shapes[i].shape);
            fill_distinct(src);
            char name[64];
            snprintf(name, sizeof name, "rt-%s-%zu.npy", nb_dtype_name(dtype), i);
            round_trip(src, name);
            nb_tensor_free(src);
        }
    }
}

/* A transposed view is written in its logical row-major order, not its storage order. */
static void test_round_trip_non_contiguous(void) {
    for (int dt = 0; dt < 2; dt++) {
        nb_dtype dtype = dt ? NB_F64 : NB_F32;
        nb_tensor *base = nb_tensor_empty(dtype, 2, (int64_t[]){3, 4});
        fill_distinct(base);
        nb_tensor *tr = nb_tensor_t(base); /* (4, 3) */
        CU_ASSERT_FALSE(nb_tensor_is_contiguous(tr));
        round_trip(tr, dt ? "tr-f64.npy" : "tr-f32.npy");
        nb_tensor *t = read_ok(tmp_path(dt ? "tr-f64.npy" : "tr-f32.npy").s);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_TRUE(has_shape(t, dtype, 2, (int64_t[]){4, 3}));
        /* value checks on finite entries: element (i, j) of the file is base (j, i) */
        CU_ASSERT_EQUAL(nb_tensor_get(t, (int64_t[]){0, 1}), nb_tensor_get(base, (int64_t[]){1, 0}));
        CU_ASSERT_EQUAL(nb_tensor_get(t, (int64_t[]){3, 2}), nb_tensor_get(base, (int64_t[]){2, 3}));
        CU_ASSERT_EQUAL(nb_tensor_get(t, (int64_t[]){2, 1}), nb_tensor_get(base, (int64_t[]){1, 2}));
        nb_tensor_free(t);

        nb_tensor *base3 = nb_tensor_empty(dtype, 3, (int64_t[]){2, 3, 4});
        fill_distinct(base3);
        nb_tensor *tr3 = nb_tensor_transpose(base3, 0, 2); /* (4, 3, 2) */
        round_trip(tr3, dt ? "tr3-f64.npy" : "tr3-f32.npy");
        t = read_ok(tmp_path(dt ? "tr3-f64.npy" : "tr3-f32.npy").s);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(nb_tensor_get(t, (int64_t[]){3, 1, 1}), nb_tensor_get(base3, (int64_t[]){1, 1, 3}));
        nb_tensor_free(t);
        nb_tensor *xs[] = {base, tr, base3, tr3};
        for (size_t i = 0; i < 4; i++) nb_tensor_free(xs[i]);
    }
}

/* Writing over an existing file replaces it whole and leaves no temporary file behind;
 * a failed write (no such directory) leaves nothing either. */
static void test_write_replaces_atomically(void) {
    int before = tmp_dir_entries();
    path_buf p = tmp_path("replace.npy");
    nb_tensor *big = nb_tensor_full(NB_F64, 1, (int64_t[]){100}, 1.5);
    nb_tensor *small = nb_tensor_scalar(NB_F32, -2.0);
    CU_ASSERT_EQUAL(nb_npy_write(p.s, big), NB_OK);
    CU_ASSERT_EQUAL(nb_npy_write(p.s, small), NB_OK);
    nb_tensor *t = read_ok(p.s);
    CU_ASSERT_TRUE(has_shape(t, NB_F32, 0, NULL));
    double v = 0;
    CU_ASSERT_TRUE(t && nb_tensor_item(t, &v) == NB_OK && v == -2.0);
    nb_tensor_free(t);
    CU_ASSERT_EQUAL(tmp_dir_entries(), before + 1);

    path_buf missing = tmp_path("no-such-dir/x.npy");
    CU_ASSERT_EQUAL(nb_npy_write(missing.s, small), NB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), missing.s));
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "No such file or directory"));
    CU_ASSERT_EQUAL(tmp_dir_entries(), before + 1);

    /* rename() cannot replace a directory: the write fails and its temp file is removed. */
    path_buf dir = tmp_path("a-directory.npy");
    CU_ASSERT_EQUAL_FATAL(mkdir(dir.s, 0700), 0);
    CU_ASSERT_EQUAL(nb_npy_write(dir.s, small), NB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(nb_last_error(), "cannot rename"));
    CU_ASSERT_EQUAL(tmp_dir_entries(), before + 2);
    rmdir(dir.s);

    CU_ASSERT_EQUAL(nb_npy_write(p.s, NULL), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_npy_write(NULL, small), NB_ERR_ARG);
    nb_tensor_free(big);
    nb_tensor_free(small);
}

/* ---- NumPy's files ------------------------------------------------------------------ */

static const float f4_2x3[] = {-1.5f, 0.1f, 2.0f, 3.25f, -0.0f, 1e-30f};
static const double f8_5[] = {0.1, -2.5, 1e300, 0x1p-1074, -0.0};

static bool data_equals(const nb_tensor *t, const void *expected, size_t nbytes) {
    return t && (size_t)nb_tensor_numel(t) * nb_dtype_size(t->dtype) == nbytes &&
           memcmp(nb_tensor_data(t), expected, nbytes) == 0;
}

static void test_read_numpy_files(void) {
    nb_tensor *t = read_ok(NPY_DATA "f4_2x3.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F32, 2, (int64_t[]){2, 3}));
    CU_ASSERT_TRUE(data_equals(t, f4_2x3, sizeof f4_2x3));
    nb_tensor_free(t);

    t = read_ok(NPY_DATA "f8_5.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F64, 1, (int64_t[]){5}));
    CU_ASSERT_TRUE(data_equals(t, f8_5, sizeof f8_5));
    nb_tensor_free(t);

    t = read_ok(NPY_DATA "f8_scalar.npy");
    double v = 0;
    CU_ASSERT_TRUE(has_shape(t, NB_F64, 0, NULL));
    CU_ASSERT_TRUE(t && nb_tensor_item(t, &v) == NB_OK && v == 3.141592653589793);
    nb_tensor_free(t);

    t = read_ok(NPY_DATA "f4_0x3.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F32, 2, (int64_t[]){0, 3}));
    nb_tensor_free(t);

    t = read_ok(NPY_DATA "f8_2x1x3x2.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F64, 4, (int64_t[]){2, 1, 3, 2}));
    CU_ASSERT_TRUE(t && nb_tensor_get(t, (int64_t[]){1, 0, 2, 1}) == 11.0 / 8 - 0.75);
    CU_ASSERT_TRUE(t && nb_tensor_get(t, (int64_t[]){0, 0, 1, 0}) == 2.0 / 8 - 0.75);
    nb_tensor_free(t);

    /* Versions 2.0 and 3.0: a 4-byte header length. */
    t = read_ok(NPY_DATA "f8_v2.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F64, 2, (int64_t[]){2, 2}));
    CU_ASSERT_TRUE(data_equals(t, (double[]){1.0, -2.0, 0.5, 1e-3}, 4 * sizeof(double)));
    nb_tensor_free(t);
    t = read_ok(NPY_DATA "f4_v3.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F32, 1, (int64_t[]){3}));
    CU_ASSERT_TRUE(data_equals(t, (float[]){7.0f, -0.25f, 3.0f}, 3 * sizeof(float)));
    nb_tensor_free(t);

    /* What NumPy writes and nabla does not take. */
    EXPECT_READ_FAILS(NPY_DATA "fortran_2x3.npy", NB_ERR_FORMAT, "fortran_order True");
    EXPECT_READ_FAILS(NPY_DATA "i8_3.npy", NB_ERR_FORMAT, "unsupported descr '<i8'");
    EXPECT_READ_FAILS(NPY_DATA "be_f8_3.npy", NB_ERR_FORMAT, "unsupported descr '>f8'");
}

/* nabla's files are NumPy's files: same header (growth-axis spaces and all), same data. */
static void test_write_matches_numpy(void) {
    struct {
        const char *numpy_file;
        nb_tensor *t;
    } cases[] = {
        {"f4_2x3.npy", nb_tensor_from_data(NB_F32, 2, (int64_t[]){2, 3}, f4_2x3)},
        {"f8_5.npy", nb_tensor_from_data(NB_F64, 1, (int64_t[]){5}, f8_5)},
        {"f8_scalar.npy", nb_tensor_scalar(NB_F64, 3.141592653589793)},
        {"f4_0x3.npy", nb_tensor_zeros(NB_F32, 2, (int64_t[]){0, 3})},
        {"f8_2x1x3x2.npy", nb_tensor_empty(NB_F64, 4, (int64_t[]){2, 1, 3, 2})},
    };
    for (int k = 0; k < 12; k++) /* np.arange(12).reshape(2, 1, 3, 2) / 8 - 0.75 */
        nb_tensor_set(cases[4].t, (int64_t[]){k / 6, 0, k / 2 % 3, k % 2}, k / 8.0 - 0.75);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        path_buf numpy = {{0}}, mine = tmp_path(cases[i].numpy_file);
        snprintf(numpy.s, sizeof numpy.s, "%s%s", NPY_DATA, cases[i].numpy_file);
        CU_ASSERT_EQUAL(nb_npy_write(mine.s, cases[i].t), NB_OK);
        size_t n_numpy = 0, n_mine = 0;
        unsigned char *a = slurp(numpy.s, &n_numpy), *b = slurp(mine.s, &n_mine);
        bool same = a && b && n_numpy == n_mine && memcmp(a, b, n_numpy) == 0;
        if (!same) printf("\n  %s differs from NumPy's\n", cases[i].numpy_file);
        CU_ASSERT_TRUE(same);
        free(a);
        free(b);
        nb_tensor_free(cases[i].t);
    }
}

/* NaN is data: the file reads, and the finiteness check is the caller's. */
static void test_nan_is_data(void) {
    nb_tensor *t = read_ok(NPY_DATA "nan_f4.npy");
    CU_ASSERT_TRUE(has_shape(t, NB_F32, 1, (int64_t[]){4}));
    CU_ASSERT_TRUE(t && isnan(nb_tensor_get(t, (int64_t[]){1})));
    CU_ASSERT_TRUE(t && nb_tensor_get(t, (int64_t[]){2}) == INFINITY);
    CU_ASSERT_FALSE(t && nb_tensor_all_finite(t));
    nb_tensor_free(t);
    t = read_ok(NPY_DATA "f4_2x3.npy");
    CU_ASSERT_TRUE(t && nb_tensor_all_finite(t));
    nb_tensor_free(t);
}

/* ---- what the reader tolerates -------------------------------------------------------- */

/* Valid Python spellings of the same header that NumPy would also read. */
static void test_read_accepts_header_variants(void) {
    const char *dicts[] = {
        /* double quotes, no trailing comma; other key order, a tuple's trailing comma */
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
        "{'shape': (2, 3,), 'fortran_order': False, 'descr': '<f4', }",
        /* no blanks; blanks (and a tab) everywhere */
        "{'descr':'<f4','fortran_order':False,'shape':(2,3)}",
        "{ 'descr' : '<f4' ,\t'fortran_order' : False , 'shape' : ( 2 , 3 ) }",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "variant-%zu.npy", i);
        path_buf p = write_npy_dict(name, dicts[i], 24);
        nb_tensor *t = read_ok(p.s);
        CU_ASSERT_TRUE(has_shape(t, NB_F32, 2, (int64_t[]){2, 3}));
        nb_tensor_free(t);
    }
    /* Old NumPy aligned the preamble to 16 bytes, not 64. */
    char hdr[128];
    size_t len = (size_t)snprintf(hdr, sizeof hdr, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }");
    while ((10 + len + 1) % 16 != 0 || (10 + len + 1) % 64 == 0) hdr[len++] = ' ';
    hdr[len++] = '\n';
    CU_ASSERT_NOT_EQUAL_FATAL((10 + len) % 64, 0);
    path_buf p = write_npy_raw("align16.npy", 1, 0, (uint32_t)len, hdr, len, 8);
    nb_tensor *t = read_ok(p.s);
    CU_ASSERT_TRUE(has_shape(t, NB_F64, 1, (int64_t[]){1}));
    nb_tensor_free(t);
    /* Version 2.0 built by hand, with shape and data the reader must place correctly. */
    len = (size_t)snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
    while ((12 + len + 1) % 16 != 0) hdr[len++] = ' ';
    hdr[len++] = '\n';
    p = write_npy_raw("v2-hand.npy", 2, 0, (uint32_t)len, hdr, len, 12);
    t = read_ok(p.s);
    CU_ASSERT_TRUE(has_shape(t, NB_F32, 1, (int64_t[]){3}));
    CU_ASSERT_TRUE(t && data_is_pattern(t));
    nb_tensor_free(t);
    /* A 1.0 header over 255 bytes: the length's high byte counts. */
    len = (size_t)snprintf(hdr, sizeof hdr, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }");
    char long_hdr[400];
    memcpy(long_hdr, hdr, len);
    while (len < 300 || (10 + len + 1) % 64 != 0) long_hdr[len++] = ' ';
    long_hdr[len++] = '\n';
    p = write_npy_raw("long-header.npy", 1, 0, (uint32_t)len, long_hdr, len, 16);
    t = read_ok(p.s);
    CU_ASSERT_TRUE(has_shape(t, NB_F64, 1, (int64_t[]){2}));
    CU_ASSERT_TRUE(t && data_is_pattern(t));
    nb_tensor_free(t);
}

/* ---- malformed files ------------------------------------------------------------------ */

static const char good_dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

static void test_reject_missing_and_empty(void) {
    path_buf p = tmp_path("does-not-exist.npy");
    EXPECT_READ_FAILS(p.s, NB_ERR_IO, "cannot open");
    EXPECT_READ_FAILS(p.s, NB_ERR_IO, "No such file or directory");
    path_buf dir = tmp_path("dir.npy");
    CU_ASSERT_EQUAL_FATAL(mkdir(dir.s, 0700), 0);
    EXPECT_READ_FAILS(dir.s, NB_ERR_IO, "is a directory");
    rmdir(dir.s);
    p = write_file("empty.npy", "", 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "empty file");
    nb_tensor *t = NULL;
    CU_ASSERT_EQUAL(nb_npy_read(NULL, &t), NB_ERR_ARG);
    CU_ASSERT_EQUAL(nb_npy_read(p.s, NULL), NB_ERR_ARG);
}

static void test_reject_bad_preamble(void) {
    path_buf p = write_file("magic.npy", "\x93NUMPZ\x01\x00\x00\x00", 10);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "bad magic");
    p = write_file("text.npy", "hello, world\n", 13);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "bad magic");
    p = write_file("short-magic.npy", "\x93NU", 3); /* a good start of a magic, then nothing */
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated preamble");
    p = write_file("short-len.npy", "\x93NUMPY\x01\x00\x76", 9);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated preamble");

    p = write_npy_raw("v9.npy", 9, 0, 0x76, good_dict, sizeof good_dict - 1, 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unsupported .npy version 9.0");
    p = write_npy_raw("v1-1.npy", 1, 1, 0x76, good_dict, sizeof good_dict - 1, 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unsupported .npy version 1.1");
    p = write_npy_raw("v0.npy", 0, 0, 0x76, good_dict, sizeof good_dict - 1, 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unsupported .npy version 0.0");

    /* Header lengths: past the file, over the limit (2.0's 4-byte field), zero. */
    p = write_npy_raw("hlen-past.npy", 1, 0, 0x0176, good_dict, sizeof good_dict - 1, 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "header length 374 goes beyond the end of the file");
    p = write_npy_raw("hlen-huge.npy", 2, 0, 0xFFFFFFFFu, good_dict, sizeof good_dict - 1, 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "header length 4294967295 is over the 65536-byte limit");
    p = write_npy_raw("hlen-zero.npy", 1, 0, 0, "", 0, 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "does not end with '\\n'");
}

static void test_reject_header_frame(void) {
    /* Aligned, space-padded, but the last byte is a space, not '\n'. */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%s%*s", good_dict, (int)(118 - strlen(good_dict)), "");
    CU_ASSERT_EQUAL_FATAL(strlen(hdr), 118);
    path_buf p = write_npy_raw("no-newline.npy", 1, 0, 118, hdr, 118, 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "header does not end with '\\n'");
    /* '\n' straight after the dict: the preamble is not padded to 16 bytes. */
    snprintf(hdr, sizeof hdr, "%s\n", good_dict);
    p = write_npy_raw("unpadded.npy", 1, 0, (uint32_t)strlen(hdr), hdr, strlen(hdr), 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "not a multiple of 16");
    /* Padding that is not spaces; text after the dict; a NUL inside the header. */
    p = write_npy_dict("pad-junk.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "only space padding after the dict");
    p = write_npy_dict("pad-newline.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "only space padding after the dict");
    char with_nul[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    memcpy(hdr, with_nul, sizeof with_nul - 1);
    hdr[16] = '\0'; /* the blank before 'fortran_order' */
    size_t len = sizeof with_nul - 1;
    while ((10 + len + 1) % 64) hdr[len++] = ' ';
    hdr[len++] = '\n';
    p = write_npy_raw("nul.npy", 1, 0, (uint32_t)len, hdr, len, 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "byte 0x00");
    p = write_npy_dict("not-dict.npy", "['descr', '<f4']", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected '{'");
    p = write_npy_dict("unterminated.npy", "{'descr': '<f4", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unterminated string");
    p = write_npy_dict("no-colon.npy", "{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected ':' after a key");
    p = write_npy_dict("no-comma.npy", "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected ',' or '}'");
    p = write_npy_dict("open-dict.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected a quoted string");
    p = write_npy_dict("escape.npy", "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2, 3)}", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unsupported character (byte 0x5c)");
}

static void test_reject_keys(void) {
    path_buf p = write_npy_dict("missing-key.npy", "{'descr': '<f4', 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "missing key 'fortran_order'");
    p = write_npy_dict("missing-shape.npy", "{'descr': '<f4', 'fortran_order': False}", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "missing key 'shape'");
    p = write_npy_dict("empty-dict.npy", "{}", 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "missing key 'descr'");
    p = write_npy_dict("extra-key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'foo': 1, }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unexpected key 'foo'");
    p = write_npy_dict("dup-key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'descr': '<f4'}", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "duplicate key 'descr'");
    p = write_npy_dict("key-case.npy", "{'Descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unexpected key 'Descr'");
    p = write_npy_dict("key-prefix.npy", "{'desc': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unexpected key 'desc'");
    p = write_npy_dict("key-long.npy",
                       "{'descr_descr_descr_descr_descr_descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "unexpected key 'descr_descr_descr_descr_descr_d...'");
}

static void test_reject_values(void) {
    static const struct {
        const char *descr, *needle;
    } descrs[] = {
        {"'<f2'", "unsupported descr '<f2'"},    {"'>f4'", "unsupported descr '>f4'"},
        {"'|f4'", "unsupported descr '|f4'"},    {"'=f8'", "unsupported descr '=f8'"},
        {"'<f4 '", "unsupported descr '<f4 '"},  {"'<f'", "unsupported descr '<f'"},
        {"'<f44'", "unsupported descr '<f44'"},  {"'<c8'", "unsupported descr '<c8'"},
        {"[('a', '<f4')]", "structured dtypes"}, {"4", "must be a dtype string"},
    };
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char dict[160], name[32];
        snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (2, 3), }", descrs[i].descr);
        snprintf(name, sizeof name, "descr-%zu.npy", i);
        path_buf p = write_npy_dict(name, dict, 24);
        EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, descrs[i].needle);
    }
    path_buf p = write_npy_dict("fortran-true.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "fortran_order True is not supported");
    p = write_npy_dict("fortran-0.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected False or True");
    p = write_npy_dict("fortran-false.npy", "{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected False or True");
    p = write_npy_dict("fortran-Falsey.npy", "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "expected False or True");
}

static void test_reject_shapes(void) {
    static const struct {
        const char *shape;
        size_t ndata;
        const char *needle;
    } cases[] = {
        {"(3, -1)", 0, "dimension 1 is negative"},
        {"(1, 1, 1, 1, 1)", 4, "shape has rank 5"},
        {"(1, 1, 1, 1, 1, 1, 1, 1)", 4, "shape has rank 8"},
        {"(2.0, 3)", 24, "dimension 0 is not a non-negative integer"},
        {"(2, 3.5)", 24, "dimension 1 is not a non-negative integer"},
        {"(2, 3L)", 24, "dimension 1 is not a non-negative integer"},
        {"(2, 1e1)", 24, "dimension 1 is not a non-negative integer"},
        {"(0x2, 3)", 24, "dimension 0 is not a non-negative integer"},
        {"(02, 3)", 24, "dimension 0 is not a non-negative integer"},
        {"('2', 3)", 24, "dimension 0 is not a non-negative integer"},
        {"(+2, 3)", 24, "dimension 0 is not a non-negative integer"},
        {"(2, None)", 24, "dimension 1 is not a non-negative integer"},
        {"(,)", 0, "dimension 0 is not a non-negative integer"},
        {"(2,, 3)", 24, "dimension 1 is not a non-negative integer"},
        {"(6)", 24, "(6) is not a tuple"},
        {"[2, 3]", 24, "expected a tuple"},
        {"6", 24, "expected a tuple"},
        {"(2 3)", 24, "expected ',' or ')'"},
        {"(2; 3)", 24, "expected ',' or ')'"},
        {"(99999999999999999999,)", 8, "dimension 0 is too large"},
        {"(4294967296, 4294967296, 4294967296)", 0, "overflows"},
        /* A zero dimension does not excuse the others from fitting. */
        {"(4294967296, 4294967296, 4294967296, 0)", 0, "overflows"},
        {"(0, 4294967296, 4294967296, 4294967296)", 0, "overflows"},
        /* 2^63 - 1 bytes would not overflow int64 but an f4 count of 2^61 does. */
        {"(2305843009213693952,)", 0, "overflows"},
        /* Large but representable: must be checked against the file, not allocated. */
        {"(1000000000000,)", 0, "truncated: expected 4000000000000 bytes of data, found 0"},
        {"(2305843009213693951,)", 8, "truncated: expected 9223372036854775804 bytes of data, found 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dict[200], name[32];
        snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", cases[i].shape);
        snprintf(name, sizeof name, "shape-%zu.npy", i);
        path_buf p = write_npy_dict(name, dict, cases[i].ndata);
        EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, cases[i].needle);
    }
}

static void test_reject_data_length(void) {
    path_buf p = write_npy_dict("short-1.npy", good_dict, 23);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated: expected 24 bytes of data, found 23");
    p = write_npy_dict("header-only.npy", good_dict, 0);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated: expected 24 bytes of data, found 0");
    p = write_npy_dict("long-1.npy", good_dict, 25);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "trailing bytes: expected 24 bytes of data, found 25");
    /* Empty arrays have no data at all, and a scalar exactly one element. */
    p = write_npy_dict("empty-trailing.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }", 1);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "trailing bytes: expected 0 bytes of data, found 1");
    p = write_npy_dict("scalar-short.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 4);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated: expected 8 bytes of data, found 4");
    /* f8 is 8 bytes an element: 24 bytes for (2, 3) would be an f4 reader's mistake. */
    p = write_npy_dict("f8-as-f4.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 24);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated: expected 48 bytes of data, found 24");
    /* A truncated NumPy file, cut one byte short of its last element. */
    size_t n = 0;
    unsigned char *bytes = slurp(NPY_DATA "f8_5.npy", &n);
    CU_ASSERT_FATAL(bytes != NULL && n == 128 + 40);
    p = write_file("numpy-cut.npy", bytes, n - 1);
    EXPECT_READ_FAILS(p.s, NB_ERR_FORMAT, "truncated: expected 40 bytes of data, found 39");
    free(bytes);
}

/* Every single-byte change and every truncation of a good file either still reads or fails
 * with NB_ERR_FORMAT, a NULL tensor and a message naming the file — never a crash, a read
 * outside a buffer (ASan/valgrind builds catch those) or another status. */
static void test_mutations_never_crash(void) {
    size_t n = 0;
    unsigned char *good = slurp(NPY_DATA "f4_2x3.npy", &n);
    CU_ASSERT_FATAL(good != NULL && n == 152);
    static const unsigned char subs[] = {0x00, '\n', ' ', '\'', ',', ')', '}', '9', '-', 0x80, 0xff};
    unsigned reads = 0, bad = 0, ok_reads = 0;
    path_buf p = tmp_path("mutant.npy");
    unsigned char *buf = malloc(n);
    CU_ASSERT_FATAL(buf != NULL);
    /* n truncations of the good file, then n * |subs| one-byte changes at full length. */
    for (size_t k = 0; k < n + n * sizeof subs; k++) {
        memcpy(buf, good, n);
        size_t len = k < n ? k : n;
        if (k >= n) buf[(k - n) / sizeof subs] = subs[(k - n) % sizeof subs];
        FILE *f = fopen(p.s, "wb");
        CU_ASSERT_FATAL(f != NULL);
        CU_ASSERT_FATAL(fwrite(buf, 1, len, f) == len);
        CU_ASSERT_FATAL(fclose(f) == 0);
        static nb_tensor sentinel;
        nb_tensor *t = &sentinel;
        nb_status st = nb_npy_read(p.s, &t);
        reads++;
        if (st == NB_OK && t && t != &sentinel) {
            ok_reads++;
            nb_tensor_free(t);
        } else if (st == NB_OK || st != NB_ERR_FORMAT || t != NULL || strncmp(nb_last_error(), p.s, strlen(p.s)) != 0) {
            if (bad++ < 5) printf("\n  case %zu: status %s, '%s'\n", k, nb_status_name(st), nb_last_error());
        }
        /* a truncation never reads */
        if (k < n && st == NB_OK) bad++;
    }
    free(buf);
    free(good);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(reads > 1500);
    /* Some mutations are harmless (a data byte, a padding space made another space); the
     * truncations never are. */
    CU_ASSERT(ok_reads > 0 && ok_reads < reads);
}

int main(void) {
    static const nb_test_case tests[] = {
        {"round trip, f32 and f64, ranks 0..4, sizes 0 and 1", test_round_trip_every_rank},
        {"round trip of transposed views", test_round_trip_non_contiguous},
        {"write replaces atomically, cleans up on error", test_write_replaces_atomically},
        {"reads NumPy's files", test_read_numpy_files},
        {"writes what NumPy writes, byte for byte", test_write_matches_numpy},
        {"NaN is data", test_nan_is_data},
        {"accepts valid header spellings", test_read_accepts_header_variants},
        {"rejects missing and empty files", test_reject_missing_and_empty},
        {"rejects bad magic, version, header length", test_reject_bad_preamble},
        {"rejects a bad header frame or syntax", test_reject_header_frame},
        {"rejects missing, extra, duplicate keys", test_reject_keys},
        {"rejects bad descr and fortran_order", test_reject_values},
        {"rejects bad shapes", test_reject_shapes},
        {"rejects short and long data", test_reject_data_length},
        {"mutated and truncated files never crash", test_mutations_never_crash},
    };
    return nb_test_run_with_hooks("npy", suite_init, suite_cleanup, tests, sizeof tests / sizeof tests[0]);
}
