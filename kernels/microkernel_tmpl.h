/* kernels/microkernel_tmpl.h — one SIMD micro-kernel (the contract of nb_ukernel_* in
 * blocked_impl.h) for one ISA and dtype, included by microkernel_avx2.c / _avx512.c with the
 * vector type and intrinsics bound below. The tile is NB_UK_MR rows of NB_UK_NV vectors of
 * NB_UK_LANES elements: MR * NV accumulators that gcc keeps in registers once the constant
 * loops are unrolled (checked with objdump: no spills in the k loop). No include guard;
 * the parameters are #undef'd at the end, so the next instantiation binds them afresh.
 *
 *   NB_UK_NAME   function name          NB_UK_T     element type     NB_UK_V  vector type
 *   NB_UK_MR     rows                   NB_UK_NV    vectors per row  NB_UK_LANES
 *   NB_UK_ZERO() NB_UK_SET1(x) NB_UK_BCAST(ptr) NB_UK_LOAD(ptr) NB_UK_STORE(ptr, v)
 *   NB_UK_FMA(a, b, c) = a * b + c, one rounding    NB_UK_MUL(a, b)   NB_UK_ADD(a, b) */

void NB_UK_NAME(int64_t kc, NB_UK_T alpha, const NB_UK_T *restrict ap, const NB_UK_T *restrict bp, NB_UK_T beta,
                NB_UK_T *restrict c, int64_t ldc) {
    enum { MR = NB_UK_MR, NV = NB_UK_NV, NR = NB_UK_NV * NB_UK_LANES };
    NB_UK_V acc[MR][NV];
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v)
        acc[i][v] = NB_UK_ZERO();

    /* Ask for the C tile now, so that its rows (one cache line or two each, ldc apart) are in
     * L1 when the epilogue reads or writes them: without this the epilogue waited on C for
     * ~10% of the kernel's time at 2048^3 (perf annotate). */
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
        const char *row = (const char *)(c + i * ldc);
        _Pragma("GCC unroll 4") for (int off = 0; off < NR * (int)sizeof(NB_UK_T); off += 64)
            _mm_prefetch(row + off, _MM_HINT_T0);
        _mm_prefetch(row + NR * sizeof(NB_UK_T) - 1, _MM_HINT_T0); /* unaligned rows */
    }

    /* kc rank-1 updates: one row of the B micro-panel (NV vectors, 64-byte aligned in the
     * packed panel) times MR broadcast elements of the A micro-panel. FMA: one rounding per
     * update, the same for every tile and every thread count. */
    _Pragma("GCC unroll 4") for (int64_t p = 0; p < kc; ++p) {
        NB_UK_V b[NV];
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) b[v] = NB_UK_LOAD(bp + v * NB_UK_LANES);
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
            const NB_UK_V a = NB_UK_BCAST(ap + i);
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) acc[i][v] = NB_UK_FMA(a, b[v], acc[i][v]);
        }
        ap += MR;
        bp += NR;
    }

    /* C = alpha * acc (+ beta * C): separate roundings, no FMA, exactly as blocked_tmpl.h
     * merges an edge tile, so a full tile and an edge tile give the same bits. */
    const NB_UK_V va = NB_UK_SET1(alpha), vb = NB_UK_SET1(beta);
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
        NB_UK_T *ci = c + i * ldc;
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; ++v) {
            NB_UK_V t = NB_UK_MUL(va, acc[i][v]);
            if (beta != 0) t = NB_UK_ADD(t, NB_UK_MUL(vb, NB_UK_LOAD(ci + v * NB_UK_LANES)));
            NB_UK_STORE(ci + v * NB_UK_LANES, t);
        }
    }
}

#undef NB_UK_NAME
#undef NB_UK_T
#undef NB_UK_V
#undef NB_UK_LANES
#undef NB_UK_MR
#undef NB_UK_NV
#undef NB_UK_ZERO
#undef NB_UK_SET1
#undef NB_UK_BCAST
#undef NB_UK_LOAD
#undef NB_UK_STORE
#undef NB_UK_FMA
#undef NB_UK_MUL
#undef NB_UK_ADD
