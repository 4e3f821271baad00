/* tests/fuzz/fuzz_npy.c — libFuzzer target for the .npy reader (nb_npy_parse, the checks
 * nb_npy_read shares). Invariants, each cheap: a parsed tensor's numel matches its shape and
 * the input's data bytes are its bytes; writing it (nb_npy_encode, what nb_npy_write writes)
 * and reading that back gives the same tensor and, written again, the same bytes; the file
 * path (nb_npy_read on a memfd holding the input) agrees with the buffer path; an injected
 * allocation failure is NB_ERR_NOMEM, never a crash or a leak; a failure leaves a one-line
 * message naming the input and no tensor. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "io/npy.h"

#define NAME "fuzz.npy"

static bool same_tensor(const nb_tensor *a, const nb_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    size_t n = (size_t)nb_tensor_numel(a) * nb_dtype_size(a->dtype);
    return n == 0 || memcmp(nb_tensor_data(a), nb_tensor_data(b), n) == 0; /* bits: NaN payloads too */
}

/* nb_npy_read on the same bytes, from a memfd: a regular file that never touches the disk. */
static void check_file_path(const uint8_t *data, size_t size, nb_status want, const nb_tensor *want_t,
                            const char *want_msg) {
    static int fd = -1;
    if (fd < 0) fd = memfd_create("fuzz-npy", MFD_CLOEXEC);
    if (fd < 0) return; /* no memfd here: the buffer path alone is checked */
    FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate");
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size, "pwrite");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    nb_tensor *t = NULL;
    nb_status st = nb_npy_read(path, &t);
    FUZZ_CHECK(st == want, "nb_npy_read gave %s, nb_npy_parse %s ('%s' / '%s')", nb_status_name(st),
               nb_status_name(want), nb_last_error(), want_msg);
    if (st == NB_OK) {
        FUZZ_CHECK(same_tensor(t, want_t), "nb_npy_read and nb_npy_parse read different tensors");
    } else {
        /* The same message after the name: "<path>: <what>" against NAME ": <what>". */
        const char *msg = nb_last_error();
        size_t plen = strlen(path);
        FUZZ_CHECK(strncmp(msg, path, plen) == 0 && strcmp(msg + plen, want_msg + strlen(NAME)) == 0,
                   "nb_npy_read says '%s', nb_npy_parse '%s'", msg, want_msg);
        FUZZ_CHECK(t == NULL, "a failed read left a tensor");
    }
    nb_tensor_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t live = fuzz_live_blocks();
    nb_tensor *t = (nb_tensor *)&t; /* a non-NULL sentinel: a failure must reset it */
    nb_status st = nb_npy_parse(data, size, NAME, &t);
    char msg[600];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    if (st != NB_OK) {
        FUZZ_CHECK(t == NULL, "a failed parse left a tensor");
        FUZZ_CHECK(st == NB_ERR_FORMAT || st == NB_ERR_NOMEM, "status %s", nb_status_name(st));
        fuzz_check_message(NAME);
        check_file_path(data, size, st, NULL, msg);
        FUZZ_CHECK(fuzz_live_blocks() == live, "a failed parse leaked nb_alloc blocks");
        return 0;
    }
    FUZZ_CHECK(t && t->ndim >= 0 && t->ndim <= NB_MAX_DIMS, "bad rank");
    FUZZ_CHECK(t->dtype == NB_F32 || t->dtype == NB_F64, "bad dtype");
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        FUZZ_CHECK(t->shape[d] >= 0, "negative dimension");
        numel *= t->shape[d]; /* fits: the parser bounded numel * itemsize by the input's size */
    }
    size_t nbytes = (size_t)numel * nb_dtype_size(t->dtype);
    FUZZ_CHECK(nb_tensor_numel(t) == numel, "numel %lld, shape says %lld", (long long)nb_tensor_numel(t),
               (long long)numel);
    FUZZ_CHECK(nbytes <= size && (nbytes == 0 || memcmp(nb_tensor_data(t), data + size - nbytes, nbytes) == 0),
               "the tensor's bytes are not the input's last %zu bytes", nbytes);
    check_file_path(data, size, NB_OK, t, "");

    /* Round trip: encode, parse back, encode again. */
    void *enc = NULL, *enc2 = NULL;
    size_t enc_len = 0, enc2_len = 0;
    FUZZ_CHECK(nb_npy_encode(t, &enc, &enc_len, NAME) == NB_OK, "encode: %s", nb_last_error());
    FUZZ_CHECK(enc_len % 64 == nbytes % 64 && enc_len >= nbytes + 64, "encoded preamble is not 64-aligned");
    nb_tensor *back = NULL;
    FUZZ_CHECK(nb_npy_parse(enc, enc_len, NAME, &back) == NB_OK, "re-read of the encoding: %s", nb_last_error());
    FUZZ_CHECK(same_tensor(t, back), "the encoding reads back as another tensor");
    FUZZ_CHECK(nb_npy_encode(back, &enc2, &enc2_len, NAME) == NB_OK, "encode: %s", nb_last_error());
    FUZZ_CHECK(enc_len == enc2_len && memcmp(enc, enc2, enc_len) == 0, "encoding is not stable");
    free(enc);
    free(enc2);
    nb_tensor_free(back);
    nb_tensor_free(t);

    /* Out of memory at each of the first allocations: a clean NB_ERR_NOMEM and no leak. */
    for (uint64_t k = 1; k <= 3; k++) {
        nb_alloc_fail_after(k);
        nb_tensor *u = NULL;
        st = nb_npy_parse(data, size, NAME, &u);
        nb_alloc_fail_after(0);
        FUZZ_CHECK(st == NB_OK || (st == NB_ERR_NOMEM && u == NULL), "with allocation %llu failing: %s",
                   (unsigned long long)k, nb_last_error());
        if (st != NB_OK) fuzz_check_message(NAME);
        nb_tensor_free(u);
    }
    FUZZ_CHECK(fuzz_live_blocks() == live, "a parse leaked nb_alloc blocks");
    return 0;
}
