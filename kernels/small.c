/* kernels/small.c — the direct GEMM path for small and skinny products (small.h): the
 * selection rule, the contract's special cases (empty C, k == 0, alpha == 0), the dispatch to
 * the AVX-512 / AVX2 bodies (small_avx512.c, small_avx2.c) and the portable C body. */
#include "kernels/small.h"

#include <stdatomic.h>

#include "kernels/blocked_impl.h"
#include "kernels/cpu.h"
#include "kernels/small_impl.h"

static atomic_bool small_enabled = true;

void nb_small_set_enabled(bool on) { atomic_store(&small_enabled, on); }
bool nb_small_enabled(void) { return atomic_load_explicit(&small_enabled, memory_order_relaxed); }

bool nb_small_accepts(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k) {
    (void)ta;
    if (!nb_small_enabled()) return false;
    if (m < 0 || n < 0 || k < 0) return false;
    if (m == 0 || n == 0 || k == 0) return true; /* no product: C = beta * C at most */
    /* m, n, k each <= MAX_MNK (2^23) keeps every index product below 2^63 */
    if (m > NB_SMALL_MAX_MNK || n > NB_SMALL_MAX_MNK || k > NB_SMALL_MAX_MNK) return false;
    if (m * n > NB_SMALL_MAX_MNK / k) return false;
    if (tb == NB_TRANS && m < NB_SMALL_MIN_M_TRANS_B && k * n > NB_SMALL_TRANS_B_FREE) return false;
    return true;
}

/* C (m, n) = beta * C, never reading C when beta == 0 (a C of NaN comes out zeros). */
#define NB_SMALL_SCALE(T, m, n, beta, c, ldc)                                                                          \
    do {                                                                                                               \
        if ((beta) == 1) break;                                                                                        \
        for (int64_t i = 0; i < (m); ++i) {                                                                            \
            T *ci = (c) + i * (ldc);                                                                                   \
            for (int64_t j = 0; j < (n); ++j) ci[j] = (beta) == 0 ? (T)0 : (beta)*ci[j];                               \
        }                                                                                                              \
    } while (0)

/* The portable body, for CPUs without AVX2: one row of C at a time in blocks of 16 columns,
 * accumulated in a local array (which gcc keeps in SSE registers for an untransposed B) over k
 * chunks of KC, the portable packed kernel's (blocked_impl.h), each chunk ending as that kernel's
 * does: C = alpha * acc + beta * C, beta 1 after the first chunk, every product and sum rounded
 * on its own. Plain C, so its rounding differs from the FMA bodies' but not from the portable
 * packed path's (gemm.h, block_invariant). */
#define NB_SMALL_PORTABLE(T, KC)                                                                                       \
    do {                                                                                                               \
        const int64_t sa_i = ta == NB_NO_TRANS ? lda : 1, sa_p = ta == NB_NO_TRANS ? 1 : lda;                          \
        const int64_t sb_p = tb == NB_NO_TRANS ? ldb : 1, sb_j = tb == NB_NO_TRANS ? 1 : ldb;                          \
        for (int64_t i = 0; i < m; ++i) {                                                                              \
            T *ci = c + i * ldc;                                                                                       \
            for (int64_t j0 = 0; j0 < n; j0 += 16) {                                                                   \
                const int64_t w = n - j0 < 16 ? n - j0 : 16;                                                           \
                for (int64_t p0 = 0; p0 < k; p0 += (KC)) {                                                             \
                    const int64_t p1 = k - p0 < (KC) ? k : p0 + (KC);                                                  \
                    const T be = p0 == 0 ? beta : (T)1;                                                                \
                    T acc[16] = {0};                                                                                   \
                    for (int64_t p = p0; p < p1; ++p) {                                                                \
                        const T aip = a[i * sa_i + p * sa_p];                                                          \
                        const T *bp = b + p * sb_p + j0 * sb_j;                                                        \
                        if (w == 16 && sb_j == 1)                                                                      \
                            for (int jj = 0; jj < 16; ++jj) acc[jj] += aip * bp[jj];                                   \
                        else                                                                                           \
                            for (int64_t jj = 0; jj < w; ++jj) acc[jj] += aip * bp[jj * sb_j];                         \
                    }                                                                                                  \
                    for (int64_t jj = 0; jj < w; ++jj)                                                                 \
                        ci[j0 + jj] = be == 0 ? alpha * acc[jj] : alpha * acc[jj] + be * ci[j0 + jj];                  \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

static NB_SMALL_BODY_F32(small_f32_portable) { NB_SMALL_PORTABLE(float, NB_BLK_NONE_F32_KC); }
static NB_SMALL_BODY_F64(small_f64_portable) { NB_SMALL_PORTABLE(double, NB_BLK_NONE_F64_KC); }

/* The portable body computes each row of C on its own, over all columns: rows are its only
 * boundaries, and a row costs a sixteenth of n per k. */
static const nb_small_geom geom_portable = {.vl = 16, .nvmax = 0};

typedef NB_SMALL_BODY_F32(small_f32_fn);
typedef NB_SMALL_BODY_F64(small_f64_fn);

/* The body for a dispatch ISA, and its tiling. */
static small_f32_fn *small_pick_f32(nb_cpu_isa isa, const nb_small_geom **geom) {
    switch (isa) {
#ifdef NB_SMALL_X86
    case NB_CPU_ISA_AVX512: *geom = &geom_nb_small_f32_avx512; return nb_small_f32_avx512;
    case NB_CPU_ISA_AVX2: *geom = &geom_nb_small_f32_avx2; return nb_small_f32_avx2;
#endif
    default: *geom = &geom_portable; return small_f32_portable;
    }
}

static small_f64_fn *small_pick_f64(nb_cpu_isa isa, const nb_small_geom **geom) {
    switch (isa) {
#ifdef NB_SMALL_X86
    case NB_CPU_ISA_AVX512: *geom = &geom_nb_small_f64_avx512; return nb_small_f64_avx512;
    case NB_CPU_ISA_AVX2: *geom = &geom_nb_small_f64_avx2; return nb_small_f64_avx2;
#endif
    default: *geom = &geom_portable; return small_f64_portable;
    }
}

/* ---- sharing a product between threads --------------------------------------------------- *
 * A body works through C in column blocks of nvmax vectors (the last one narrower), each block
 * in row tiles of mr[nv] rows from row 0, the rows after the last whole tile in smaller tiles.
 * Parts are cut only there: a part runs the body on pieces of C that start at a block's first
 * column and a whole tile's first row and end at a block's end and at a whole tile's end or row
 * m, so inside a piece the body cuts exactly the tiles the serial call cuts, and k is never
 * split: every element goes through the same instructions as in the serial call.
 *
 * Two ways to cut, chosen per product so that parts seldom write the same cache lines of C
 * (every k chunk loads and stores C again, and a line two cores write in turn moves between
 * them each time; 64x100x1000 cut at a column block, 64 rows written by both cores at that
 * boundary 8 times over, ran at 1.2x of the serial speed on 2 threads, in row bands at 1.9x):
 *  - by columns, each part a run of whole column blocks, when the runs can be balanced within
 *    1/8 of an equal share (many blocks: 64x1000x100, 100x1000x64). Neighbours share only the
 *    lines at their column boundary, and each block's op(B) is transposed (tb == NB_TRANS) once.
 *  - by rows otherwise (64x100x1000, 1000x100x64): each part a band of rows in every column
 *    block, its ends the tile boundaries nearest its share, the rounding carried to the next
 *    block so the shares stay balanced. Neighbours share only the lines of the few rows where
 *    their cuts differ between blocks; each part transposes the op(B) it reads (all of it).
 * Cost model: a row of a block of nv vectors costs nv (FMAs per k, which bound the tile). */

typedef struct {
    int64_t j0, nw; /* columns [j0, j0 + nw) */
    int64_t nv, mr; /* vectors (the cost of a row), rows per whole tile */
} small_block;

static int64_t small_nblocks(const nb_small_geom *g, int64_t n) {
    if (g->nvmax == 0) return 1;
    const int64_t w = (int64_t)g->vl * g->nvmax;
    return (n + w - 1) / w;
}

static small_block small_block_at(const nb_small_geom *g, int64_t n, int64_t bi) {
    if (g->nvmax == 0) return (small_block){0, n, (n + g->vl - 1) / g->vl, 1};
    const int64_t w = (int64_t)g->vl * g->nvmax, j0 = bi * w, nw = n - j0 < w ? n - j0 : w;
    const int64_t nv = (nw + g->vl - 1) / g->vl;
    return (small_block){j0, nw, nv, g->mr[nv]};
}

/* By columns: cut t is the column-block boundary nearest to a t / nparts share of the nvec
 * vectors (boundary b has b * nvmax vectors before it, the last one all of them). */
static int64_t small_col_cut(const nb_small_geom *g, int64_t nvec, int64_t nblk, int t, int nparts) {
    if (t >= nparts) return nblk; /* the last part ends at the last block, however rounded */
    const int64_t q = (int64_t)nparts * g->nvmax;
    const int64_t b = (2 * nvec * t + q) / (2 * q);
    return b < nblk ? b : nblk;
}

static int64_t small_col_vectors(const nb_small_geom *g, int64_t nvec, int64_t nblk, int64_t b) {
    return b < nblk ? b * g->nvmax : nvec;
}

/* Whether to cut by columns: enough column blocks that every part's run is within 1/8 of
 * nvec / nparts vectors. */
static bool small_by_columns(const nb_small_geom *g, int64_t n, int nparts) {
    if (g->nvmax == 0) return false; /* the portable body has rows only */
    const int64_t nblk = small_nblocks(g, n), nvec = (n + g->vl - 1) / g->vl;
    if (nblk < nparts) return false;
    for (int t = 0; t < nparts; ++t) {
        const int64_t v0 = small_col_vectors(g, nvec, nblk, small_col_cut(g, nvec, nblk, t, nparts));
        const int64_t v1 = small_col_vectors(g, nvec, nblk, small_col_cut(g, nvec, nblk, t + 1, nparts));
        if ((v1 - v0) * 8 * nparts > 9 * nvec) return false;
    }
    return true;
}

/* By rows: the cuts of one column block, cut[0] = 0 <= cut[1] <= ... <= cut[nparts] = m. Cut
 * t is the tile boundary of the block nearest to what gives parts < t a t / nparts share of
 * the cost through this block (cost_through), given what the earlier blocks gave them
 * (done[t], updated here). Every part computes all the cuts, block by block, the same way, so
 * neighbours agree on the one they share. */
static void small_row_cuts(const small_block *blk, int64_t m, int64_t cost_through, int nparts, int64_t *done,
                           int64_t *cut) {
    const int64_t whole = m / blk->mr * blk->mr; /* the last whole tile's end */
    cut[0] = 0;
    cut[nparts] = m;
    for (int t = 1; t < nparts; ++t) {
        const int64_t want = cost_through * t / nparts - done[t]; /* <= 2^23 * 64: no overflow */
        int64_t r = 0;
        if (want > 0) {
            int64_t lo = want / (blk->nv * blk->mr) * blk->mr;
            if (lo > whole) lo = whole;
            const int64_t hi = lo < whole ? lo + blk->mr : m;
            r = want - lo * blk->nv <= hi * blk->nv - want ? lo : hi;
        }
        if (r < cut[t - 1]) r = cut[t - 1];
        cut[t] = r;
        done[t] += r * blk->nv;
    }
}

/* Runs part `part` of nparts (2 <= nparts <= NB_SMALL_MAX_PARTS) with `body`: by columns, one
 * call on its run of blocks; by rows, one call per run of consecutive blocks in which its band
 * is the same rows (a column offset that is a multiple of the block width makes the body cut
 * the same blocks as the serial call). */
#define NB_SMALL_RUN_PART(body, geom)                                                                                  \
    do {                                                                                                               \
        const int64_t nblk = small_nblocks(geom, n), nvec = (n + (geom)->vl - 1) / (geom)->vl;                         \
        if (small_by_columns(geom, n, nparts)) {                                                                       \
            const int64_t b0 = small_col_cut(geom, nvec, nblk, part, nparts);                                          \
            const int64_t b1 = small_col_cut(geom, nvec, nblk, part + 1, nparts);                                      \
            if (b1 > b0) NB_SMALL_RUN_PIECE(body, geom, b0, b1, 0, m);                                                 \
            break;                                                                                                     \
        }                                                                                                              \
        int64_t done[NB_SMALL_MAX_PARTS + 1] = {0}, cut[NB_SMALL_MAX_PARTS + 1];                                       \
        int64_t cost = 0, run_b = -1, run_r0 = 0, run_r1 = 0;                                                          \
        for (int64_t bi = 0; bi < nblk; ++bi) {                                                                        \
            const small_block blk = small_block_at(geom, n, bi);                                                       \
            cost += m * blk.nv;                                                                                        \
            small_row_cuts(&blk, m, cost, nparts, done, cut);                                                          \
            const int64_t r0 = cut[part], r1 = cut[part + 1];                                                          \
            if (run_b >= 0 && (r0 != run_r0 || r1 != run_r1)) {                                                        \
                NB_SMALL_RUN_PIECE(body, geom, run_b, bi, run_r0, run_r1);                                             \
                run_b = -1;                                                                                            \
            }                                                                                                          \
            if (run_b < 0 && r1 > r0) run_b = bi, run_r0 = r0, run_r1 = r1;                                            \
        }                                                                                                              \
        if (run_b >= 0) NB_SMALL_RUN_PIECE(body, geom, run_b, nblk, run_r0, run_r1);                                   \
    } while (0)

/* The body on column blocks [b0, b1) and rows [r0, r1) of C. */
#define NB_SMALL_RUN_PIECE(body, geom, b0, b1, r0, r1)                                                                 \
    do {                                                                                                               \
        const small_block first_ = small_block_at(geom, n, b0);                                                        \
        const small_block last_ = small_block_at(geom, n, (b1)-1);                                                     \
        body(ta, tb, (r1) - (r0), last_.j0 + last_.nw - first_.j0, k, alpha,                                           \
             ta == NB_NO_TRANS ? a + (r0)*lda : a + (r0), lda,                                                         \
             tb == NB_NO_TRANS ? b + first_.j0 : b + first_.j0 * ldb, ldb, beta, c + (r0)*ldc + first_.j0, ldc);       \
    } while (0)

bool nb_small_sgemm_part(nb_cpu_isa isa, int part, int nparts, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                         int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc) {
    if (nparts < 1 || nparts > NB_SMALL_MAX_PARTS || part < 0 || part >= nparts) return false;
    if (!nb_small_accepts(ta, tb, m, n, k)) return false;
    if (m == 0 || n == 0) return true;
    if (k == 0 || alpha == 0) { /* C = beta * C: the part's share of the rows */
        const int64_t r0 = m * part / nparts, r1 = m * (part + 1) / nparts;
        NB_SMALL_SCALE(float, r1 - r0, n, beta, c + r0 * ldc, ldc);
        return true;
    }
    const nb_small_geom *geom;
    small_f32_fn *body = small_pick_f32(isa, &geom);
    if (nparts == 1)
        body(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        NB_SMALL_RUN_PART(body, geom);
    return true;
}

bool nb_small_dgemm_part(nb_cpu_isa isa, int part, int nparts, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                         int64_t k, double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                         double beta, double *c, int64_t ldc) {
    if (nparts < 1 || nparts > NB_SMALL_MAX_PARTS || part < 0 || part >= nparts) return false;
    if (!nb_small_accepts(ta, tb, m, n, k)) return false;
    if (m == 0 || n == 0) return true;
    if (k == 0 || alpha == 0) {
        const int64_t r0 = m * part / nparts, r1 = m * (part + 1) / nparts;
        NB_SMALL_SCALE(double, r1 - r0, n, beta, c + r0 * ldc, ldc);
        return true;
    }
    const nb_small_geom *geom;
    small_f64_fn *body = small_pick_f64(isa, &geom);
    if (nparts == 1)
        body(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        NB_SMALL_RUN_PART(body, geom);
    return true;
}

bool nb_small_sgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    return nb_small_sgemm_part(nb_cpu_dispatch_isa(), 0, 1, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool nb_small_dgemm(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                    int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
    return nb_small_dgemm_part(nb_cpu_dispatch_isa(), 0, 1, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
