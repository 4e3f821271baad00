/* kernels/small_tmpl.h — the direct small-GEMM driver and register tile for one (ISA, dtype),
 * included by small_avx512.c / small_avx2.c under a `#pragma GCC target` with these bound:
 *   NB_T, NB_FNAME (the body's name), NB_VEC, NB_VL (lanes), NB_MASK, NB_MKMASK(r) (first r of
 *   NB_VL lanes, 1 <= r <= NB_VL), NB_LOAD, NB_MLOAD(mask, p) (masked-off lanes read as 0 and
 *   are not touched in memory), NB_STORE, NB_MSTORE(p, mask, v), NB_BCAST, NB_FMADD(a, b, c)
 *   (a * b + c), NB_MUL, NB_ZERO(), NB_NVMAX (vectors across a tile), NB_MR_FOR_NV(nv) (rows
 *   of a whole tile), NB_PACK_BT(src, lds, nw, kc, dst, ldd) (dst[p * ldd + j] =
 *   src[j * lds + p] for j < nw, p < kc), NB_SMALL_BODY_TYPE (small_impl.h's F32 or F64),
 *   NB_ADD, and NB_SMALL_KC: the packed path's KC for the same ISA and dtype (below).
 * No include guard; the parameters are #undef'd at the end. */

#define NB_SCAT_(x, y) x##_##y
#define NB_SCAT(x, y) NB_SCAT_(x, y)
#define NB_SF(name) NB_SCAT(name, NB_FNAME)

/* k is cut into chunks of NB_SMALL_KC, the packed path's KC (blocked_impl.h) for this ISA and
 * dtype, and each chunk ends in the packed micro-kernel's epilogue (alpha * acc, then + beta * C,
 * each rounded): so an element of C gets the same operations on either path, and which path a
 * product takes (its m * n * k) cannot change its bits. That is what lets a caller compute any
 * rectangle of C as a call of its own (gemm.h, block_invariant). A chunk of op(B) for one column
 * block (KC x NVMAX*VL: 64 KiB f32 AVX-512, read in place or from the stack buffer a transposed
 * B is packed into) no longer fits L1 whole; the seed's products measured the same as with 128
 * (`nabla kernels --bench`, 64x100x1000 and 1000x100x64:tn, min 75.5 vs 75.6 us). */
#define NB_SMALL_MRMAX 16
#define NB_SMALL_NW (NB_NVMAX * NB_VL)

/* One MR x (NV vectors) tile of C from a kc-long chunk, accumulators in registers:
 *   acc(i, :) = sum_p op(A)(i, p) * op(B)(p, :), then C(i, :) = alpha * acc + beta * C(i, :),
 * the products and the sum rounded separately as in the packed micro-kernel
 * (beta == 0: C not read). op(A)(i, p) is a[i * lda + p] (AT == 0,
 * A as stored untransposed) or a[p * lda + i] (AT == 1: A stored (k, m), or a packed edge);
 * either way it is broadcast, one scalar load per row and p. op(B)(p, :) is NV vectors at
 * b + p * ldb, the last one loaded (and C's stored) under `tail` so nothing past column n is
 * touched. Called only
 * with constant MR, NV, AT, so each call site becomes its own fully unrolled kernel. */
static inline __attribute__((always_inline)) void NB_SF(tile)(const int MR, const int NV, const int AT, int64_t kc,
                                                              const NB_T *restrict a, int64_t lda,
                                                              const NB_T *restrict b, int64_t ldb, NB_MASK tail,
                                                              NB_T alpha, NB_T beta, NB_T *restrict c, int64_t ldc) {
    NB_VEC acc[NB_SMALL_MRMAX][NB_NVMAX];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) acc[i][j] = NB_ZERO();
    for (int64_t p = 0; p < kc; ++p) {
        NB_VEC bv[NB_NVMAX];
        const NB_T *bp = b + p * ldb;
#pragma GCC unroll 4
        for (int j = 0; j < NV - 1; ++j) bv[j] = NB_LOAD(bp + j * NB_VL);
        bv[NV - 1] = NB_MLOAD(tail, bp + (NV - 1) * NB_VL);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const NB_VEC av = NB_BCAST(AT ? a[p * lda + i] : a[i * lda + p]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) acc[i][j] = NB_FMADD(av, bv[j], acc[i][j]);
        }
    }
    const NB_VEC va = NB_BCAST(alpha), vb = NB_BCAST(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        NB_T *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int j = 0; j < NV - 1; ++j) {
            NB_VEC r = NB_MUL(va, acc[i][j]);
            if (beta != 0) r = NB_ADD(r, NB_MUL(vb, NB_LOAD(ci + j * NB_VL)));
            NB_STORE(ci + j * NB_VL, r);
        }
        NB_VEC r = NB_MUL(va, acc[i][NV - 1]);
        if (beta != 0) r = NB_ADD(r, NB_MUL(vb, NB_MLOAD(tail, ci + (NV - 1) * NB_VL)));
        NB_MSTORE(ci + (NV - 1) * NB_VL, tail, r);
    }
}

/* The tile for a run-time NV (1..NB_NVMAX), AT and MR, where MR is NB_MR_FOR_NV(NV) for
 * whole tiles or 4, 2, 1 for the last rows of C (an edge of r rows runs as r / 4 tiles of 4,
 * then 2, then 1: A is still read in place, and only rows that exist are read). One switch per
 * tile; each (NV, AT, MR) is instantiated once. */
static void NB_SF(tile_any)(int mr, int nv, int at, int64_t kc, const NB_T *a, int64_t lda, const NB_T *b, int64_t ldb,
                            NB_MASK tail, NB_T alpha, NB_T beta, NB_T *c, int64_t ldc) {
#define NB_SMALL_AT(MR, NV)                                                                                            \
    do {                                                                                                               \
        if (at)                                                                                                        \
            NB_SF(tile)(MR, NV, 1, kc, a, lda, b, ldb, tail, alpha, beta, c, ldc);                                     \
        else                                                                                                           \
            NB_SF(tile)(MR, NV, 0, kc, a, lda, b, ldb, tail, alpha, beta, c, ldc);                                     \
    } while (0)
#define NB_SMALL_CASE(NV)                                                                                              \
    case NV:                                                                                                           \
        if (mr == 1)                                                                                                   \
            NB_SMALL_AT(1, NV);                                                                                        \
        else if (mr == 2)                                                                                              \
            NB_SMALL_AT(2, NV);                                                                                        \
        else if (mr == 4)                                                                                              \
            NB_SMALL_AT(4, NV);                                                                                        \
        else                                                                                                           \
            NB_SMALL_AT(NB_MR_FOR_NV(NV), NV);                                                                         \
        break;
    switch (nv) {
        NB_SMALL_CASE(1)
        NB_SMALL_CASE(2)
#if NB_NVMAX >= 3
        NB_SMALL_CASE(3)
#endif
#if NB_NVMAX >= 4
        NB_SMALL_CASE(4)
#endif
    default: break;
    }
#undef NB_SMALL_CASE
#undef NB_SMALL_AT
}

/* C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C, m, n, k >= 1, alpha != 0.
 *
 *   for each column block j0 (NV <= NVMAX vectors, the last one masked at column n):
 *     for each k chunk p0 (<= KC; the first applies beta, later ones add to C):
 *       op(B)[p0.., j0..] is read in place when B is untransposed (its rows are contiguous),
 *       else transposed into bpack once (NB_PACK_BT) and reused by every row tile;
 *       for each row tile i0 (MR rows, then 4, 2, 1 at the edge): the register tile reads
 *       op(A) in place, broadcasting one element per row and p.
 *
 * Serial, no heap: bpack is on the stack (32 KiB), so each call, and each thread of a product
 * shared by nb_small_sgemm_part (which runs this body on pieces of C cut at its tile
 * boundaries), has its own. Every element of C is summed over the same k chunks in the same
 * order, whatever piece it is in: the summation depends only on k and the ISA, so the same
 * bits on every call and for every split of C. */
NB_SMALL_BODY_TYPE(NB_FNAME) {
    NB_T bpack[NB_SMALL_KC * NB_SMALL_NW] __attribute__((aligned(64)));
    const int64_t nvec = (n + NB_VL - 1) / NB_VL;
    for (int64_t jv = 0; jv < nvec; jv += NB_NVMAX) {
        const int nv = (int)(nvec - jv < NB_NVMAX ? nvec - jv : NB_NVMAX);
        const int64_t j0 = jv * NB_VL;
        const int64_t nw = n - j0 < nv * NB_VL ? n - j0 : nv * NB_VL; /* valid columns */
        const NB_MASK tail = NB_MKMASK((int)(nw - (nv - 1) * NB_VL));
        const int mr = NB_MR_FOR_NV(nv);
        for (int64_t p0 = 0; p0 < k; p0 += NB_SMALL_KC) {
            const int64_t kc = k - p0 < NB_SMALL_KC ? k - p0 : NB_SMALL_KC;
            const NB_T be = p0 == 0 ? beta : (NB_T)1;
            const NB_T *bp = b + p0 * ldb + j0;
            int64_t ldbp = ldb;
            if (tb == NB_TRANS) {
                /* bpack[p][j] = op(B)(p0 + p, j0 + j) = b[(j0 + j) * ldb + p0 + p] for the nw
                 * valid columns; the masked rest of the last vector is never read. */
                NB_PACK_BT(b + j0 * ldb + p0, ldb, nw, kc, bpack, NB_SMALL_NW);
                bp = bpack;
                ldbp = NB_SMALL_NW;
            }
            for (int64_t i0 = 0; i0 < m;) {
                const int64_t left = m - i0;
                const int r = left >= mr ? mr : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                const NB_T *at = ta == NB_NO_TRANS ? a + i0 * lda + p0 : a + p0 * lda + i0;
                NB_SF(tile_any)(r, nv, ta == NB_TRANS, kc, at, lda, bp, ldbp, tail, alpha, be, c + i0 * ldc + j0, ldc);
                i0 += r;
            }
        }
    }
}

/* The body's tiling for small.c's partition between threads (small_impl.h): read from the same
 * NB_NVMAX, NB_VL and NB_MR_FOR_NV as the body above, so the two cannot drift apart. */
_Static_assert(NB_NVMAX <= NB_SMALL_GEOM_NVMAX, "nb_small_geom.mr is too short for NB_NVMAX");
const nb_small_geom NB_SF(geom) = {
    .vl = NB_VL,
    .nvmax = NB_NVMAX,
    .mr = {0, NB_MR_FOR_NV(1), NB_MR_FOR_NV(2), NB_NVMAX >= 3 ? NB_MR_FOR_NV(3) : 0,
           NB_NVMAX >= 4 ? NB_MR_FOR_NV(4) : 0},
};

#undef NB_SCAT_
#undef NB_SCAT
#undef NB_SF
#undef NB_SMALL_KC
#undef NB_SMALL_MRMAX
#undef NB_SMALL_NW

/* The parameters are consumed: the next instantiation binds them afresh. */
#undef NB_T
#undef NB_FNAME
#undef NB_SMALL_BODY_TYPE
#undef NB_PACK_BT
#undef NB_VEC
#undef NB_VL
#undef NB_MASK
#undef NB_MKMASK
#undef NB_LOAD
#undef NB_MLOAD
#undef NB_STORE
#undef NB_MSTORE
#undef NB_BCAST
#undef NB_FMADD
#undef NB_MUL
#undef NB_ADD
#undef NB_ZERO
