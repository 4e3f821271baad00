/* src/verify/reference.h — the PyTorch reference fixtures (docs/reference-format.md): load
 * a case directory (manifest through cJSON, tensors through the .npy reader), checking every
 * field; run the variant it describes with the kernel in use and compare the initial tensors
 * (bit for bit), the step-0 loss and gradients, the losses and the final parameters. */
#ifndef NB_VERIFY_REFERENCE_H
#define NB_VERIFY_REFERENCE_H

#include "verify/verify.h"

#define NB_REF_FORMAT "nabla-reference/1"
#define NB_REF_TORCH_VERSION "1.13.0a0"
#define NB_REF_MAX_ENTRIES NB_MAX_GRAD_ENTRIES

/* One tensor of a case: the whole tensor (stride 1) or every stride-th element of it. */
typedef struct nb_ref_entry {
    char name[64];
    int ndim;
    int64_t shape[NB_MAX_DIMS]; /* of the whole tensor */
    int64_t numel, stride;
    uint64_t fnv1a64; /* of the whole tensor's bytes */
    nb_tensor *data;  /* the file's contents: shape, or (ceil(numel / stride)) */
} nb_ref_entry;

typedef struct nb_ref_case {
    char dir[512];
    char name[128];
    nb_train_config cfg; /* cfg.variant points into variant_name */
    char variant_name[64];
    nb_tensor *losses; /* f64 (iters) */
    nb_ref_entry initial[NB_REF_MAX_ENTRIES], grad0[NB_REF_MAX_ENTRIES], final[NB_REF_MAX_ENTRIES];
    int ninitial, ngrad0, nfinal;
} nb_ref_case;

/* Loads and validates a case directory. Any problem (missing or truncated file, wrong
 * format, torch version, capability, dtype or shape, a NaN) is NB_ERR_IO or NB_ERR_FORMAT
 * with a message naming the file, what is wrong, and the hint to run `make reference`. */
nb_status nb_ref_case_load(const char *dir, nb_ref_case *c);

/* How the loader gets a tensor the manifest names: `path` is the case directory joined with
 * the file name; dtype, ndim and shape are what the manifest says the file holds (the loader
 * checks the result against them, the reader need not). Returns NB_OK with *out set, or a
 * status with a message. nb_ref_case_load's reader is nb_npy_read. */
typedef nb_status nb_ref_tensor_reader(void *ctx, const char *path, nb_dtype dtype, int ndim, const int64_t *shape,
                                       nb_tensor **out);

/* nb_ref_case_load on a manifest's `len` bytes in memory (no terminating NUL needed) for the
 * case directory `dir` (NULL: "."), its tensors read with `read` (NULL: nb_npy_read), every
 * check the same. tests/fuzz/ feeds it arbitrary bytes with a reader that makes tensors. */
nb_status nb_ref_case_parse(const char *text, size_t len, const char *dir, nb_ref_tensor_reader *read, void *read_ctx,
                            nb_ref_case *c);
void nb_ref_case_free(nb_ref_case *c);

/* The cases nabla expects, in reference/generate.py's order: reference/cases.txt, compiled
 * in at configure time, so the set does not depend on what the fixtures directory holds.
 * nb_ref_expected_at returns NULL outside 0 .. count-1. */
int nb_ref_expected_count(void);
const char *nb_ref_expected_at(int i);

/* Loads the expected case `name` from root/name: nb_ref_case_load, and the manifest's case
 * name and config must spell `name` (a renamed or copied directory is not that case). A
 * missing directory or manifest is NB_ERR_IO, any other problem NB_ERR_IO or NB_ERR_FORMAT;
 * each message names the case and the file and says to run `make reference`. */
nb_status nb_ref_expected_load(const char *root, const char *name, nb_ref_case *c);

/* The subdirectories of root that are not expected cases (names starting with '.', such as
 * generate.py's temporaries, aside), sorted; free each and the array with nb_ref_list_free.
 * NB_ERR_IO when root cannot be read. */
nb_status nb_ref_list_unexpected(const char *root, char ***names, int *count);
void nb_ref_list_free(char **names, int count);

/* Runs the case with the kernel in use (labelled `label`) and emits one row: the largest
 * relative loss difference and absolute parameter difference against their tolerances.
 * Initial tensors that differ in any bit fail the row too. */
nb_status nb_verify_reference_case(const nb_ref_case *c, const char *label, nb_row_sink *sink, void *ctx);

#endif
