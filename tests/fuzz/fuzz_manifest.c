/* tests/fuzz/fuzz_manifest.c — libFuzzer target for a reference case's manifest.json
 * (nb_ref_case_parse, what nb_ref_case_load runs on the file). The .npy files a manifest
 * names are not read here (tests/fuzz/fuzz_npy.c fuzzes that reader): a stand-in reader makes
 * the tensor the manifest asks for, or, by the file's name, one of the ways a real file goes
 * wrong (missing, another shape, a NaN), so the loader's own checks on what it gets are
 * fuzzed too. Invariants: a loaded case is consistent (losses for every step, each entry's
 * numel is its shape's product, its data the size the stride gives); a failure is a one-line
 * message naming the case and leaves the case empty; nothing leaks. */
#include <math.h>

#include "fuzz.h"
#include "verify/reference.h"

#define DIR_NAME "fuzzcase"

/* Tensors of up to this many bytes are made (the seed manifests' largest is 16 KiB); a
 * manifest asking for more gets NB_ERR_FORMAT, as a missing or short file would give: making
 * gigabytes per input would only slow the fuzzer down. */
#define MAX_BYTES ((int64_t)1 << 16)

static nb_status stand_in_reader(void *ctx, const char *path, nb_dtype dtype, int ndim, const int64_t *shape,
                                 nb_tensor **out) {
    (void)ctx;
    *out = NULL;
    FUZZ_CHECK(strncmp(path, DIR_NAME "/", strlen(DIR_NAME) + 1) == 0, "reader asked for '%s'", path);
    FUZZ_CHECK(ndim >= 0 && ndim <= NB_MAX_DIMS, "reader asked for rank %d", ndim);
    FUZZ_CHECK(dtype == NB_F32 || dtype == NB_F64, "reader asked for dtype %d", (int)dtype);
    const char *file = path + strlen(DIR_NAME) + 1;
    if (strstr(file, "missing")) return nb_error(NB_ERR_IO, "cannot open %s: No such file or directory", path);
    int64_t dims[NB_MAX_DIMS], bytes = (int64_t)nb_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        FUZZ_CHECK(shape[d] >= 0, "reader asked for dimension %d = %lld", d, (long long)shape[d]);
        dims[d] = shape[d];
        if (dims[d] && bytes > MAX_BYTES / dims[d])
            return nb_error(NB_ERR_FORMAT, "%s: too large for the fuzz reader", path);
        bytes *= dims[d];
    }
    int wrong = strstr(file, "wrong") != NULL;
    if (wrong && ndim > 0) dims[0]++; /* a file that holds another shape */
    nb_tensor *t = nb_tensor_empty(strstr(file, "f32") ? NB_F32 : dtype, ndim, dims);
    if (!t) return nb_error(nb_last_status(), "%s: %s", path, nb_last_error());
    int64_t n = nb_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = i == n - 1 && strstr(file, "nan") ? NAN : (double)i;
        if (t->dtype == NB_F32)
            ((float *)nb_tensor_data(t))[i] = (float)v;
        else
            ((double *)nb_tensor_data(t))[i] = v;
    }
    *out = t;
    return NB_OK;
}

static void check_entries(const nb_ref_entry *e, int n, nb_dtype dtype) {
    FUZZ_CHECK(n >= 0 && n <= NB_REF_MAX_ENTRIES, "%d entries", n);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(e[i].data != NULL, "entry %s has no data", e[i].name);
        fuzz_check_one_line(e[i].name);
        FUZZ_CHECK(e[i].data->dtype == dtype, "entry %s has another dtype", e[i].name);
        FUZZ_CHECK(e[i].ndim >= 0 && e[i].ndim <= NB_MAX_DIMS && e[i].stride >= 1, "entry %s", e[i].name);
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= e[i].shape[d]; /* the loader bounded it */
        FUZZ_CHECK(numel == e[i].numel, "entry %s: numel %lld, shape %lld", e[i].name, (long long)e[i].numel,
                   (long long)numel);
        int64_t want = e[i].stride == 1 ? numel : (numel + e[i].stride - 1) / e[i].stride;
        FUZZ_CHECK(nb_tensor_numel(e[i].data) == want, "entry %s holds %lld values, not %lld", e[i].name,
                   (long long)nb_tensor_numel(e[i].data), (long long)want);
        FUZZ_CHECK(nb_tensor_all_finite(e[i].data), "entry %s holds a NaN", e[i].name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t live = fuzz_live_blocks();
    static nb_ref_case c; /* large (three lists of entries): not on the stack */
    nb_status st = nb_ref_case_parse((const char *)data, size, DIR_NAME, stand_in_reader, NULL, &c);
    if (st != NB_OK) {
        FUZZ_CHECK(st == NB_ERR_FORMAT || st == NB_ERR_IO || st == NB_ERR_NOMEM, "status %s: %s", nb_status_name(st),
                   nb_last_error());
        /* It names the case's file: the manifest, or a tensor's file, whose reader's own
         * message may put the path later ("cannot open fuzzcase/x.npy: ..."). */
        FUZZ_CHECK(strstr(nb_last_error(), DIR_NAME "/"), "message '%s' names no file of the case", nb_last_error());
        fuzz_check_one_line(nb_last_error());
        FUZZ_CHECK(strstr(nb_last_error(), "make reference"), "message without the hint: %s", nb_last_error());
        FUZZ_CHECK(!c.losses && !c.ninitial && !c.ngrad0 && !c.nfinal, "a failed load left tensors");
    } else {
        FUZZ_CHECK(c.cfg.variant && !strcmp(c.cfg.variant, c.variant_name), "variant");
        fuzz_check_one_line(c.name);
        FUZZ_CHECK(c.cfg.iters >= 1 && c.losses && nb_tensor_numel(c.losses) == c.cfg.iters &&
                       c.losses->dtype == NB_F64,
                   "losses");
        FUZZ_CHECK(c.cfg.batch >= 1 && c.cfg.d_in >= 1 && c.cfg.hidden >= 1 && c.cfg.d_out >= 1 && c.cfg.lr >= 0,
                   "config");
        check_entries(c.initial, c.ninitial, c.cfg.dtype);
        check_entries(c.grad0, c.ngrad0, c.cfg.dtype);
        check_entries(c.final, c.nfinal, c.cfg.dtype);
        nb_ref_case_free(&c);
    }
    FUZZ_CHECK(fuzz_live_blocks() == live, "the load leaked nb_alloc blocks");
    return 0;
}
