/* src/graph/run.c — replaying a plan: feeds, then the precomputed instructions in order, each
 * a GEMM call, an elementwise loop or a fused loop over fixed pointers into the arena. Nothing
 * here allocates. Every loop repeats the tensor layer's arithmetic (the same roundings, in
 * the same order), so the numbers are the dynamic engine's. */
#include "graph/graph_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/runtime.h"

/* The blocking of the tensor layer's full sum (src/tensor/reduce.c), which the fused loss
 * and the reductions repeat to give its bits: n elements are cut into blocks of
 * max(SUM_MIN_BLOCK, ceil(n / SUM_MAX_BLOCKS)), each summed in order in double, then the
 * block sums added in order. tests/test_graph.c checks the two agree across block counts. */
#define SUM_MIN_BLOCK 4096
#define SUM_MAX_BLOCKS 1024

/* Threads for a loop over n elements: the tensor layer's grain decides, so a loop goes
 * parallel exactly when the dynamic engine's would (the results never depend on it). */
static int threads_for(int64_t n) { return n >= NB_PARALLEL_GRAIN ? nb_runtime_threads() : 1; }

/* ---- elementwise loops ------------------------------------------------------------------ */

/* ROW(T, EXPR): p0[i] = EXPR for i < n, with o = p0[i] (the output's old value), x, y, z the
 * inputs. The unit-stride branch is marked simd: every element depends only on the elements
 * at its own index, so an output that is also an input (in place) is safe. */
#define ROW(T, EXPR)                                                                          \
    do {                                                                                      \
        if (s0 == 1 && s1 == 1 && s2 == 1 && s3 == 1) {                                       \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                             \
                T o = p0[i], x = p1[i], y = p2[i], z = p3[i];                                 \
                (void)o, (void)x, (void)y, (void)z;                                           \
                p0[i] = (EXPR);                                                               \
            }                                                                                 \
        } else {                                                                              \
            for (int64_t i = 0; i < n; i++) {                                                 \
                T o = p0[i * s0], x = p1[i * s1], y = p2[i * s2], z = p3[i * s3];             \
                (void)o, (void)x, (void)y, (void)z;                                           \
                p0[i * s0] = (EXPR);                                                          \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* One row function per dtype. s is the op's scalar converted to T (as PyTorch converts a
 * Python number); v is ACC_SCALAR's value, read from its input at run time. */
#define DEFINE_ROW(T, NAME, POW)                                                              \
    static void NAME(const nb_instr *ins, T v, int64_t n, T *p0, int64_t s0, const T *p1,      \
                     int64_t s1, const T *p2, int64_t s2, const T *p3, int64_t s3) {           \
        const T s = (T)ins->scalar;                                                           \
        const T ns = (T)(-ins->scalar); /* add_sum_to_'s sub_scaled_(dst, -alpha, src) */     \
        switch (ins->kind) {                                                                  \
        case NB_I_ADD: ROW(T, x + y); break;                                                  \
        case NB_I_SUB: ROW(T, x - y); break;                                                  \
        case NB_I_MUL: ROW(T, x * y); break;                                                  \
        case NB_I_ADD_S: ROW(T, x + s); break;                                                \
        case NB_I_MUL_S: ROW(T, x * s); break;                                                \
        case NB_I_SQUARE: ROW(T, x * x); break;                                               \
        case NB_I_POW_S: ROW(T, POW(x, s)); break;                                            \
        case NB_I_CLAMP_MIN: ROW(T, x < s ? s : x); break;                                    \
        case NB_I_WHERE_GE: ROW(T, y >= s ? x : (T)0); break;                                 \
        case NB_I_WHERE_GT: ROW(T, y > s ? x : (T)0); break;                                  \
        case NB_I_COPY: ROW(T, x); break;                                                     \
        case NB_I_ZERO: ROW(T, (T)0); break;                                                  \
        case NB_I_FILL: ROW(T, s); break;                                                     \
        /* accumulations: a first contribution adds to the zero a fresh gradient holds */     \
        case NB_I_ACC_ADD:                                                                    \
            if (ins->first) ROW(T, (T)0 + x);                                                 \
            else ROW(T, o + x);                                                               \
            break;                                                                            \
        case NB_I_ACC_SUM_TO:                                                                 \
            if (ins->first) ROW(T, (T)0 - (T)(ns * x));                                       \
            else ROW(T, o - (T)(ns * x));                                                     \
            break;                                                                            \
        case NB_I_ACC_SCALAR:                                                                 \
            if (ins->first) ROW(T, (T)0 + v);                                                 \
            else ROW(T, o + v);                                                               \
            break;                                                                            \
        default: NB_ASSERT(!"not an elementwise instruction");                                \
        }                                                                                     \
    }

DEFINE_ROW(float, row_f32, powf)
DEFINE_ROW(double, row_f64, pow)

/* Elements [lo, hi) of the innermost dim of row `outer` of the instruction's loop. */
static void loop_row(const nb_instr *ins, nb_dtype dt, double v, int64_t outer, int64_t lo, int64_t hi) {
    const nb_loop *l = &ins->loop;
    const int in = l->ndim - 1;
    const ptrdiff_t es = (ptrdiff_t)nb_dtype_size(dt);
    ptrdiff_t off[4];
    for (int k = 0; k < 4; k++) off[k] = (ptrdiff_t)(lo * l->stride[k][in]);
    for (int d = in - 1; d >= 0; d--) { /* outer index -> per-operand offsets */
        int64_t i = outer % l->shape[d];
        outer /= l->shape[d];
        for (int k = 0; k < 4; k++) off[k] += (ptrdiff_t)(i * l->stride[k][d]);
    }
    int64_t n = hi - lo;
    if (dt == NB_F32)
        row_f32(ins, (float)v, n, (float *)(l->base[0] + off[0] * es), l->stride[0][in],
                (const float *)(l->base[1] + off[1] * es), l->stride[1][in], (const float *)(l->base[2] + off[2] * es),
                l->stride[2][in], (const float *)(l->base[3] + off[3] * es), l->stride[3][in]);
    else
        row_f64(ins, v, n, (double *)(l->base[0] + off[0] * es), l->stride[0][in],
                (const double *)(l->base[1] + off[1] * es), l->stride[1][in],
                (const double *)(l->base[2] + off[2] * es), l->stride[2][in],
                (const double *)(l->base[3] + off[3] * es), l->stride[3][in]);
}

/* The tensor layer's scheduling: rows shared among threads, or a few long rows split. */
static void run_loop(const nb_instr *ins, nb_dtype dt, double v) {
    const nb_loop *l = &ins->loop;
    int64_t inner = l->shape[l->ndim - 1], rows = l->numel / (inner ? inner : 1);
    if (l->numel == 0) return;
    int threads = threads_for(l->numel);
    if (threads == 1) {
        for (int64_t r = 0; r < rows; r++) loop_row(ins, dt, v, r, 0, inner);
    } else if (rows >= threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t r = 0; r < rows; r++) loop_row(ins, dt, v, r, 0, inner);
    } else {
        for (int64_t r = 0; r < rows; r++) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (int c = 0; c < threads; c++) loop_row(ins, dt, v, r, inner * c / threads, inner * (c + 1) / threads);
        }
    }
}

/* ---- reductions ------------------------------------------------------------------------------ */

#define DEFINE_BLOCK_SUM(T, SFX)                                                              \
    static double block_sum_##SFX(const T *p, int64_t lo, int64_t hi) {                       \
        double acc = 0.0;                                                                     \
        for (int64_t i = lo; i < hi; i++) acc += p[i];                                        \
        return acc;                                                                           \
    }
DEFINE_BLOCK_SUM(float, f32)
DEFINE_BLOCK_SUM(double, f64)

static int64_t sum_block_size(int64_t n) {
    int64_t block = (n + SUM_MAX_BLOCKS - 1) / SUM_MAX_BLOCKS;
    return block < SUM_MIN_BLOCK ? SUM_MIN_BLOCK : block;
}

/* reduce.c's sum_contiguous: blocks summed (in parallel above the grain), then in order. */
static double sum_contiguous(const void *data, nb_dtype dt, int64_t n) {
    int64_t block = sum_block_size(n), nblocks = (n + block - 1) / block;
    double partial[SUM_MAX_BLOCKS];
    int threads = threads_for(n);
    if (threads == 1) { /* not even a one-thread parallel region: it costs a microsecond */
        for (int64_t b = 0; b < nblocks; b++) {
            int64_t hi = (b + 1) * block < n ? (b + 1) * block : n;
            partial[b] = dt == NB_F32 ? block_sum_f32(data, b * block, hi) : block_sum_f64(data, b * block, hi);
        }
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t b = 0; b < nblocks; b++) {
            int64_t hi = (b + 1) * block < n ? (b + 1) * block : n;
            partial[b] = dt == NB_F32 ? block_sum_f32(data, b * block, hi) : block_sum_f64(data, b * block, hi);
        }
    }
    double total = 0.0;
    for (int64_t b = 0; b < nblocks; b++) total += partial[b];
    return total;
}

static void store_one(void *out, nb_dtype dt, double value) {
    if (dt == NB_F32)
        *(float *)out = (float)value;
    else
        *(double *)out = value;
}

static double load_one(const void *p, nb_dtype dt) { return dt == NB_F32 ? (double)*(const float *)p : *(const double *)p; }

/* add_sum_to_'s broadcast branch: for each element of dst, the block of src that broadcast
 * onto it summed in double, rounded to the dtype, times alpha (product first), added. */
static void acc_sum_to_broadcast(const nb_instr *ins, nb_dtype dt) {
    const nb_tensor *dst = ins->sum_dst, *src = ins->sum_src;
    int64_t sshape[4], sst[4], dshape[4], dst4[4], span[4], i[4], j[4];
    nb_graph_layout4(src, sshape, sst);
    nb_graph_layout4(dst, dshape, dst4);
    for (int d = 0; d < 4; d++) span[d] = dshape[d] == 1 ? sshape[d] : 1;
    char *dp = nb_tensor_data(dst);
    const char *sp = nb_tensor_data(src);
    const size_t es = nb_dtype_size(dt);
    for (i[0] = 0; i[0] < dshape[0]; i[0]++)
        for (i[1] = 0; i[1] < dshape[1]; i[1]++)
            for (i[2] = 0; i[2] < dshape[2]; i[2]++)
                for (i[3] = 0; i[3] < dshape[3]; i[3]++) {
                    double acc = 0.0;
                    for (j[0] = 0; j[0] < span[0]; j[0]++)
                        for (j[1] = 0; j[1] < span[1]; j[1]++)
                            for (j[2] = 0; j[2] < span[2]; j[2]++)
                                for (j[3] = 0; j[3] < span[3]; j[3]++) {
                                    int64_t off = 0;
                                    for (int d = 0; d < 4; d++) off += (span[d] > 1 ? j[d] : i[d]) * sst[d];
                                    acc += load_one(sp + off * (int64_t)es, dt);
                                }
                    int64_t doff = 0;
                    for (int d = 0; d < 4; d++) doff += i[d] * dst4[d];
                    if (dt == NB_F32) {
                        float *o = (float *)(dp + doff * (int64_t)es);
                        float sum = (float)acc, a = (float)ins->scalar;
                        float prod = a * sum;
                        *o = (ins->first ? 0.0f : *o) + prod;
                    } else {
                        double *o = (double *)(dp + doff * (int64_t)es);
                        double prod = ins->scalar * acc;
                        *o = (ins->first ? 0.0 : *o) + prod;
                    }
                }
}

/* ---- fused loops ------------------------------------------------------------------------------- */

/* loss = sum((a - b)^2) with sum_contiguous's blocks (the squares rounded to T, accumulated in
 * double); in the same pass the backward from the seed 1, as the dynamic engine computes it:
 * pow's backward (a - b) * 2 * 1 added to a zero gradient, then sub's (+ for a, - for b).
 * ga may be a itself (in place): element i is read before it is written. */
#define DEFINE_SQDIFF(T, SFX)                                                                 \
    static double sqdiff_block_##SFX(const T *a, const T *b, T *ga, T *gb, int64_t lo, int64_t hi) { \
        double acc = 0.0;                                                                     \
        if (!ga && !gb) {                                                                     \
            for (int64_t i = lo; i < hi; i++) {                                               \
                T d = a[i] - b[i];                                                            \
                T sq = d * d;                                                                 \
                acc += sq;                                                                    \
            }                                                                                 \
            return acc;                                                                       \
        }                                                                                     \
        for (int64_t i = lo; i < hi; i++) {                                                   \
            T d = a[i] - b[i];                                                                \
            T sq = d * d;                                                                     \
            acc += sq;                                                                        \
            T g = (T)0 + d * (T)2;                                                            \
            if (ga) ga[i] = g;                                                                \
            if (gb) gb[i] = (T)0 - g;                                                         \
        }                                                                                     \
        return acc;                                                                           \
    }
DEFINE_SQDIFF(float, f32)
DEFINE_SQDIFF(double, f64)

static double sqdiff_block(const nb_instr *ins, nb_dtype dt, int64_t b, int64_t block) {
    int64_t lo = b * block, hi = (b + 1) * block < ins->n ? (b + 1) * block : ins->n;
    return dt == NB_F32 ? sqdiff_block_f32(ins->x[0], ins->x[1], ins->o[1], ins->o[2], lo, hi)
                        : sqdiff_block_f64(ins->x[0], ins->x[1], ins->o[1], ins->o[2], lo, hi);
}

static void run_sqdiff(const nb_instr *ins, nb_dtype dt) {
    const int64_t n = ins->n, block = sum_block_size(n), nblocks = (n + block - 1) / block;
    double partial[SUM_MAX_BLOCKS];
    int threads = threads_for(n);
    if (threads == 1) {
        for (int64_t b = 0; b < nblocks; b++) partial[b] = sqdiff_block(ins, dt, b, block);
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t b = 0; b < nblocks; b++) partial[b] = sqdiff_block(ins, dt, b, block);
    }
    double total = 0.0;
    for (int64_t b = 0; b < nblocks; b++) total += partial[b];
    store_one(ins->o[0], dt, total);
}

/* out = clamp_min(x, s), mask = (x >= s), or (x > s) for relu: the comparisons where_ge and
 * where_gt make in the backward, taken now so the backward needs only the byte. */
#define DEFINE_CLAMP_MASK(T, SFX)                                                             \
    static void clamp_mask_##SFX(const nb_instr *ins, int64_t lo, int64_t hi) {               \
        T *o = ins->o[0];                                                                     \
        uint8_t *m = ins->o[1];                                                               \
        const T *x = ins->x[0];                                                               \
        const T s = (T)ins->scalar;                                                           \
        if (ins->strict) {                                                                    \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                           \
                T v = x[i];                                                                   \
                m[i] = (uint8_t)(v > s);                                                      \
                o[i] = v < s ? s : v;                                                         \
            }                                                                                 \
        } else {                                                                              \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                           \
                T v = x[i];                                                                   \
                m[i] = (uint8_t)(v >= s);                                                     \
                o[i] = v < s ? s : v;                                                         \
            }                                                                                 \
        }                                                                                     \
    }
DEFINE_CLAMP_MASK(float, f32)
DEFINE_CLAMP_MASK(double, f64)

/* out (+)= mask ? g : 0, the where result added to the gradient (to its zero when first).
 * The select is written as a bit mask (all ones or all zeros, from the byte) ANDed with g,
 * which is g or +0.0 exactly and which gcc vectorises, where a ternary stays a branch. */
#define DEFINE_MASK_BWD(T, SFX, U)                                                            \
    static void mask_bwd_##SFX(const nb_instr *ins, int64_t lo, int64_t hi) {                 \
        T *o = ins->o[0];                                                                     \
        const T *g = ins->x[0];                                                               \
        const uint8_t *m = ins->x[1];                                                         \
        if (ins->first) {                                                                     \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                           \
                U bits;                                                                       \
                T kept;                                                                       \
                memcpy(&bits, &g[i], sizeof bits);                                            \
                bits &= -(U)m[i];                                                             \
                memcpy(&kept, &bits, sizeof kept);                                            \
                o[i] = (T)0 + kept;                                                           \
            }                                                                                 \
        } else {                                                                              \
            _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {                           \
                U bits;                                                                       \
                T kept;                                                                       \
                memcpy(&bits, &g[i], sizeof bits);                                            \
                bits &= -(U)m[i];                                                             \
                memcpy(&kept, &bits, sizeof kept);                                            \
                o[i] = o[i] + kept;                                                           \
            }                                                                                 \
        }                                                                                     \
    }
DEFINE_MASK_BWD(float, f32, uint32_t)
DEFINE_MASK_BWD(double, f64, uint64_t)
_Static_assert(sizeof(float) == sizeof(uint32_t) && sizeof(double) == sizeof(uint64_t), "IEEE binary32/64");

/* w = w - (lr * g), the product rounded to T first, as `w -= learning_rate * w.grad`. */
#define DEFINE_SGD(T, SFX)                                                                    \
    static void sgd_##SFX(const nb_instr *ins, int64_t lo, int64_t hi) {                      \
        T *restrict w = ins->o[0];                                                            \
        const T *restrict g = ins->x[0];                                                      \
        const T s = (T)ins->scalar;                                                           \
        _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) w[i] = w[i] - (T)(s * g[i]);    \
    }
DEFINE_SGD(float, f32)
DEFINE_SGD(double, f64)

typedef void chunk_fn(const nb_instr *ins, int64_t lo, int64_t hi);

/* A flat loop over ins->n elements, split in contiguous chunks among threads above the grain. */
static void run_chunks(const nb_instr *ins, chunk_fn *fn) {
    const int64_t n = ins->n;
    int threads = threads_for(n);
    if (threads <= 1) {
        fn(ins, 0, n);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < threads; c++) fn(ins, n * c / threads, n * (c + 1) / threads);
}

/* ---- GEMM ------------------------------------------------------------------------------------ */

/* The call nb_addmm_ would make, through the kernel in use, counted like it; the test-only
 * perturbation applies here too, so a wrong kernel shows in this variant as in the others. */
static void run_gemm(const nb_instr *ins, nb_dtype dt) {
    const nb_gemm_call *g = &ins->gemm;
    if (g->m == 0 || g->n == 0) return;
    const nb_kernel *kernel = nb_runtime_kernel();
    const int threads = nb_runtime_threads();
    if (dt == NB_F32)
        kernel->sgemm(g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, g->lda, g->b, g->ldb, (float)g->beta, g->c, g->ldc,
                      threads);
    else
        kernel->dgemm(g->ta, g->tb, g->m, g->n, g->k, 1.0, g->a, g->lda, g->b, g->ldb, g->beta, g->c, g->ldc, threads);
    nb_runtime_count_flops(2ull * (uint64_t)g->m * (uint64_t)g->n * (uint64_t)g->k);
    double delta = nb_runtime_gemm_perturbation();
    if (delta != 0) store_one(g->c, dt, load_one(g->c, dt) + delta);
}

/* ---- one instruction, a run ----------------------------------------------------------------------- */

void nb_instr_exec(const nb_plan *p, const nb_instr *ins) {
    const nb_dtype dt = p->dtype;
    switch (ins->kind) {
    case NB_I_MM:
        run_gemm(ins, dt);
        return;
    case NB_I_SUM:
    case NB_I_MEAN: {
        double total = sum_contiguous(ins->x[0], dt, ins->n);
        if (ins->kind == NB_I_MEAN) total = ins->n > 0 ? total / (double)ins->n : NAN; /* as PyTorch */
        store_one(ins->o[0], dt, total);
        return;
    }
    case NB_I_ACC_SCALAR: {
        /* sum_mean_backward: dout.item(), divided in the dtype for a mean, then added */
        double g = load_one(ins->x[0], dt);
        if (ins->scalar != 1.0) g = dt == NB_F32 ? (double)((float)g / (float)ins->scalar) : g / ins->scalar;
        run_loop(ins, dt, g);
        return;
    }
    case NB_I_ACC_SUM_TO:
        if (ins->sum_dst)
            acc_sum_to_broadcast(ins, dt);
        else
            run_loop(ins, dt, 0.0);
        return;
    case NB_I_SQDIFF_SUM:
        run_sqdiff(ins, dt);
        return;
    case NB_I_CLAMP_MASK:
        run_chunks(ins, dt == NB_F32 ? clamp_mask_f32 : clamp_mask_f64);
        return;
    case NB_I_MASK_BWD:
        run_chunks(ins, dt == NB_F32 ? mask_bwd_f32 : mask_bwd_f64);
        return;
    case NB_I_SGD:
        run_chunks(ins, dt == NB_F32 ? sgd_f32 : sgd_f64);
        return;
    default:
        run_loop(ins, dt, 0.0);
        return;
    }
}

/* The placeholder value of node n in plan p, or -1 with a message. */
static int input_value(const nb_plan *p, const nb_gnode *n, const char *what) {
    if (!n) {
        nb_error(NB_ERR_ARG, "plan %s: the placeholder is NULL", what);
        return -1;
    }
    if (n->graph != p->graph || n->id >= p->nnodes || n->op != NB_GOP_PLACEHOLDER || p->node_value[n->id] < 0) {
        nb_error(NB_ERR_ARG, "plan %s: %s is not a placeholder of this plan's graph", what, n->name);
        return -1;
    }
    return p->node_value[n->id];
}

nb_status nb_plan_run(nb_plan *p, nb_plan_stage upto, const nb_feed *feeds, int nfeeds, double *loss) {
    if (!p) return nb_error(NB_ERR_ARG, "plan run: plan is NULL");
    if (upto != NB_PLAN_FORWARD && upto != NB_PLAN_GRADIENTS && upto != NB_PLAN_STEP)
        return nb_error(NB_ERR_ARG, "plan run: unknown stage %d", (int)upto);
    if (nfeeds < 0 || (nfeeds > 0 && !feeds)) return nb_error(NB_ERR_ARG, "plan run: bad feed list");
    /* every feed is checked before any is copied: a bad one leaves the inputs untouched */
    for (int f = 0; f < nfeeds; f++) {
        int v = input_value(p, feeds[f].placeholder, "run");
        if (v < 0) return nb_last_status();
        const nb_tensor *t = feeds[f].value, *ph = p->values[v].t;
        if (!t) return nb_error(NB_ERR_ARG, "plan run: the value fed to %s is NULL", p->values[v].name);
        if (t->dtype != ph->dtype || !nb_tensor_same_shape(t, ph)) {
            char dt[64], dp[64];
            return nb_error(NB_ERR_SHAPE, "plan run: %s fed to placeholder %s %s", nb_tensor_describe(t, dt, sizeof dt),
                            p->values[v].name, nb_tensor_describe(ph, dp, sizeof dp));
        }
    }
    for (int f = 0; f < nfeeds; f++) {
        nb_tensor *ph = p->values[p->node_value[feeds[f].placeholder->id]].t;
        if (feeds[f].value != ph) NB_TRY(nb_copy_(ph, feeds[f].value));
    }
    /* `nabla profile` sees each instruction as an op of its stage (one branch when it is off) */
    nb_phase saved = nb_profile_set_phase(NB_PHASE_FORWARD);
    for (int i = 0; i < p->stage_end[upto]; i++) {
        if (i == p->stage_end[NB_PLAN_FORWARD]) nb_profile_set_phase(NB_PHASE_BACKWARD);
        if (i == p->stage_end[NB_PLAN_GRADIENTS]) nb_profile_set_phase(NB_PHASE_UPDATE);
        const nb_instr *ins = &p->instrs[i];
        double t0 = nb_profile_start();
        nb_instr_exec(p, ins);
        nb_profile_record(nb_ikind_names[ins->kind], t0, ins->flops, ins->bytes);
        /* --detect-anomaly: each instruction's outputs, in its stage (one branch when off) */
        for (int j = 0; nb_anomaly_active && j < NB_INSTR_MAX_OUT; j++)
            if (ins->out[j] >= 0 && nb_anomaly_check(nb_ikind_names[ins->kind], p->values[ins->out[j]].t) != NB_OK) {
                nb_profile_set_phase(saved);
                return nb_last_status();
            }
    }
    nb_profile_set_phase(saved);
    if (loss) *loss = load_one(nb_tensor_data(p->values[p->loss].t), p->dtype);
    return NB_OK;
}

nb_status nb_plan_run_step(nb_plan *p, const nb_feed *feeds, int nfeeds, double *loss) {
    return nb_plan_run(p, NB_PLAN_STEP, feeds, nfeeds, loss);
}

nb_tensor *nb_plan_input(nb_plan *p, const nb_gnode *placeholder) {
    if (!p) {
        nb_error(NB_ERR_ARG, "plan input: plan is NULL");
        return NULL;
    }
    int v = input_value(p, placeholder, "input");
    return v < 0 ? NULL : p->values[v].t;
}

const nb_tensor *nb_plan_grad(const nb_plan *p, const nb_gnode *node) {
    if (!p || !node) {
        nb_error(NB_ERR_ARG, "plan grad: %s is NULL", p ? "node" : "plan");
        return NULL;
    }
    if (node->graph != p->graph || node->id >= p->nnodes || p->node_grad[node->id] < 0) {
        nb_error(NB_ERR_ARG, "plan grad: the plan keeps no gradient for %s (only parameters and wrt nodes)", node->name);
        return NULL;
    }
    return p->values[p->node_grad[node->id]].t;
}
