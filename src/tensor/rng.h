/* src/tensor/rng.h — a bit-exact replica of PyTorch 1.13's CPU generator (MT19937 and the
 * uniform / normal / randint transformations of ATen), so that `--seed S` draws exactly the
 * tensors `torch.manual_seed(S)` draws. The algorithm is in ../shared/notes/torch-oracle.md
 * and docs/rng.md; torch's ATEN_CPU_CAPABILITY=default code path is the one replicated. */
#ifndef NB_TENSOR_RNG_H
#define NB_TENSOR_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NB_MT_STATE_SIZE 624

typedef struct nb_rng {
    uint32_t state[NB_MT_STATE_SIZE];
    int left;               /* draws left before the next twist, as at::mt19937 */
    int next;               /* index of the next state word to temper */
    uint64_t seed;          /* as given to nb_rng_seed (torch's initial_seed()) */
    bool has_cached_normal; /* torch's next_double_normal_sample_ */
    double cached_normal;
} nb_rng;

/* torch.manual_seed(seed): state[0] = seed & 0xffffffff, and the cached normal is dropped. */
void nb_rng_seed(nb_rng *rng, uint64_t seed);

/* The process-wide generator, for callers that pass no generator of their own. Unlike
 * torch's default CPU generator (seeded nondeterministically per process) it starts as a
 * fresh torch.Generator() does, from 67280421310721, so unseeded runs are reproducible. */
nb_rng *nb_rng_default(void);

uint32_t nb_rng_random(nb_rng *rng);   /* one MT19937 output */
uint64_t nb_rng_random64(nb_rng *rng); /* (first << 32) | second */

/* tensor.uniform_(from, to) on n contiguous elements. */
void nb_rng_uniform_f32(nb_rng *rng, float *out, size_t n, double from, double to);
void nb_rng_uniform_f64(nb_rng *rng, double *out, size_t n, double from, double to);

/* tensor.normal_(mean, std) on n contiguous elements: the 16-wide Box-Muller path when
 * n >= 16, the per-element double path with the cached second sample otherwise. */
void nb_rng_normal_f32(nb_rng *rng, float *out, size_t n, double mean, double std);
void nb_rng_normal_f64(nb_rng *rng, double *out, size_t n, double mean, double std);

/* torch.randint(low, high, ...) for one value and for n contiguous elements; requires
 * low < high (the caller validates). */
int64_t nb_rng_randint(nb_rng *rng, int64_t low, int64_t high);
void nb_rng_randint_f32(nb_rng *rng, float *out, size_t n, int64_t low, int64_t high);
void nb_rng_randint_f64(nb_rng *rng, double *out, size_t n, int64_t low, int64_t high);

#endif
