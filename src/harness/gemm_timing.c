/* src/harness/gemm_timing.c — see gemm_timing.h. */
#include "harness/gemm_timing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timer.h"
#include "harness/interrupt.h"
#include "tensor/rng.h"

nb_status nb_gemm_shape_parse(const char *text, nb_gemm_shape *out) {
    long long m, n, k;
    char flags[3] = "nn";
    int used = 0;
    if (sscanf(text, "%lldx%lldx%lld%n", &m, &n, &k, &used) != 3 || used == 0)
        return nb_error(NB_ERR_ARG, "shape '%s' is not MxNxK[:nn|nt|tn|tt]", text);
    if (text[used] == ':') {
        if (strlen(text + used + 1) != 2) return nb_error(NB_ERR_ARG, "bad transpose suffix in '%s'", text);
        memcpy(flags, text + used + 1, 2);
    } else if (text[used] != '\0') {
        return nb_error(NB_ERR_ARG, "shape '%s' is not MxNxK[:nn|nt|tn|tt]", text);
    }
    for (int i = 0; i < 2; i++)
        if (flags[i] != 'n' && flags[i] != 't')
            return nb_error(NB_ERR_ARG, "bad transpose suffix in '%s' (use n or t)", text);
    if (m < 1 || n < 1 || k < 1 || m > NB_GEMM_MAX_DIM || n > NB_GEMM_MAX_DIM || k > NB_GEMM_MAX_DIM)
        return nb_error(NB_ERR_ARG, "sizes in '%s' must be within 1..%d", text, NB_GEMM_MAX_DIM);
    *out = (nb_gemm_shape){m, n, k, flags[0] == 't' ? NB_TRANS : NB_NO_TRANS, flags[1] == 't' ? NB_TRANS : NB_NO_TRANS};
    return NB_OK;
}

void nb_gemm_shape_label(const nb_gemm_shape *s, char *buf, size_t size) {
    snprintf(buf, size, "%lldx%lldx%lld:%c%c", (long long)s->m, (long long)s->n, (long long)s->k,
             s->ta == NB_TRANS ? 't' : 'n', s->tb == NB_TRANS ? 't' : 'n');
}

double nb_gemm_shape_flops(const nb_gemm_shape *s) { return 2.0 * (double)s->m * (double)s->n * (double)s->k; }

/* The operands of one shape, stored as the transpose flags say. */
typedef struct operands {
    nb_tensor *a, *b, *c;
    int64_t lda, ldb;
} operands;

static nb_status operands_init(operands *ops, const nb_gemm_shape *s, nb_dtype dtype) {
    nb_rng rng;
    nb_rng_seed(&rng, 0);
    int64_t a_shape[2] = {s->ta ? s->k : s->m, s->ta ? s->m : s->k};
    int64_t b_shape[2] = {s->tb ? s->n : s->k, s->tb ? s->k : s->n};
    ops->a = nb_tensor_rand(&rng, dtype, 2, a_shape);
    ops->b = nb_tensor_rand(&rng, dtype, 2, b_shape);
    ops->c = nb_tensor_zeros(dtype, 2, (int64_t[]){s->m, s->n});
    ops->lda = a_shape[1];
    ops->ldb = b_shape[1];
    return ops->a && ops->b && ops->c ? NB_OK : nb_last_status();
}

static void operands_free(operands *ops) {
    nb_tensor_free(ops->a);
    nb_tensor_free(ops->b);
    nb_tensor_free(ops->c);
}

/* Seconds per call, averaged over `calls` back-to-back calls. */
static double time_calls(const nb_kernel *kernel, const nb_gemm_shape *s, operands *ops, int threads, long calls) {
    double start = nb_now_seconds();
    for (long i = 0; i < calls; i++) {
        if (ops->c->dtype == NB_F32)
            kernel->sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, nb_tensor_data(ops->a), ops->lda,
                          nb_tensor_data(ops->b), ops->ldb, 0.0f, nb_tensor_data(ops->c), s->n, threads);
        else
            kernel->dgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0, nb_tensor_data(ops->a), ops->lda, nb_tensor_data(ops->b),
                          ops->ldb, 0.0, nb_tensor_data(ops->c), s->n, threads);
    }
    return (nb_now_seconds() - start) / (double)calls;
}

nb_status nb_gemm_time_kernels(const nb_gemm_shape *s, const nb_kernel *const *kernels, int count,
                               const nb_gemm_timing *cfg, nb_stats *stats) {
    if (count < 1 || cfg->repeats < 1 || cfg->repeats > NB_GEMM_MAX_REPEATS || cfg->threads < 1)
        return nb_error(NB_ERR_ARG, "GEMM timing: needs 1 or more kernels, 1..%d repeats and 1 or more threads",
                        NB_GEMM_MAX_REPEATS);
    operands ops = {0};
    long *calls = calloc((size_t)count, sizeof *calls);
    double *samples = calloc((size_t)count * (size_t)cfg->repeats, sizeof *samples);
    nb_status st =
        calls && samples ? operands_init(&ops, s, cfg->dtype) : nb_error(NB_ERR_NOMEM, "GEMM timing: out of memory");
    if (st == NB_OK) {
        /* Calibrate (this first call is also the warm-up): enough calls per sample that one
         * sample lasts min_time, so the clock's resolution never dominates a small product. */
        for (int ki = 0; ki < count; ki++) {
            double once = time_calls(kernels[ki], s, &ops, cfg->threads, 1);
            double want = cfg->min_time / fmax(once, 1e-9);
            calls[ki] = want < 1 ? 1 : want > 1e6 ? 1000000 : (long)ceil(want);
        }
        /* Interleave kernels within each repeat, rotating who goes first, so drift in the
         * machine's load hits every kernel alike. */
        for (int r = 0; r < cfg->repeats && !nb_interrupted(); r++)
            for (int j = 0; j < count; j++) {
                int ki = (j + r) % count;
                samples[(size_t)ki * (size_t)cfg->repeats + (size_t)r] =
                    time_calls(kernels[ki], s, &ops, cfg->threads, calls[ki]);
            }
        /* a stop request (harness/interrupt.h) ends the timing between two samples */
        if (nb_interrupted()) st = nb_error(NB_ERR_ARG, "interrupted by %s", nb_interrupt_signal_name());
        for (int ki = 0; ki < count && st == NB_OK; ki++)
            stats[ki] = nb_stats_of(samples + (size_t)ki * (size_t)cfg->repeats, cfg->repeats);
    }
    operands_free(&ops);
    free(calls);
    free(samples);
    return st;
}
