/* kernels/blocked_tmpl.h — the Goto/BLIS blocked GEMM for one dtype, included by blocked.c
 * once per dtype with NB_T (float/double), NB_SFX (f32/f64), and NB_MR, NB_NR bound to the
 * portable micro-kernel's tile (NB_BLK_NONE_<SFX>_MR/NR). Every other size is read at run
 * time from the job's parameter row (blocked_impl.h), chosen by the dispatch ISA. No guard. */

#define NB_CAT_(x, y) x##_##y
#define NB_CAT(x, y) NB_CAT_(x, y)
#define NB_FN(name) NB_CAT(name, NB_SFX)
#define NB_JOB NB_CAT(nb_blocked_job, NB_SFX)
#define NB_PRM NB_CAT(nb_blocked_params, NB_SFX)

/* C (m, n) = beta * C, with beta == 0 writing zeros without reading C (NaN-proof). */
static void NB_FN(scale_c)(int64_t m, int64_t n, NB_T beta, NB_T *c, int64_t ldc) {
    if (beta == 1) return;
    for (int64_t i = 0; i < m; ++i) {
        NB_T *ci = c + i * ldc;
        if (beta == 0)
            for (int64_t j = 0; j < n; ++j) ci[j] = 0;
        else
            for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
}

/* The fallback when the packing buffers cannot be allocated: C (m, n) = alpha * op(A) (m, k)
 * * op(B) (k, n) + beta * C straight from the operands, one dot product per element. Slow,
 * but correct, and it needs no memory. Build with -DNB_GEMM_FORCE_UNPACKED to test it. */
static void NB_FN(unpacked)(nb_trans ta, nb_trans tb, int64_t m, int64_t n, int64_t k, NB_T alpha, const NB_T *a,
                            int64_t lda, const NB_T *b, int64_t ldb, NB_T beta, NB_T *c, int64_t ldc) {
    /* op(A)(i, p) = a[i*sa_i + p*sa_p]; op(B)(p, j) = b[p*sb_p + j*sb_j] */
    const int64_t sa_i = ta == NB_NO_TRANS ? lda : 1, sa_p = ta == NB_NO_TRANS ? 1 : lda;
    const int64_t sb_p = tb == NB_NO_TRANS ? ldb : 1, sb_j = tb == NB_NO_TRANS ? 1 : ldb;
    for (int64_t i = 0; i < m; ++i) {
        NB_T *ci = c + i * ldc;
        for (int64_t j = 0; j < n; ++j) {
            NB_T sum = 0;
            for (int64_t p = 0; p < k; ++p) sum += a[i * sa_i + p * sa_p] * b[p * sb_p + j * sb_j];
            ci[j] = beta == 0 ? alpha * sum : alpha * sum + beta * ci[j];
        }
    }
}

/* Packs rows i0 .. i0+mr-1 and columns p0 .. p0+kc-1 of op(A) into one micro-panel:
 * dst[p*MR + i] = op(A)(i0+i, p0+p), rows mr .. MR-1 zero. A is (m, k) as stored when
 * ta == NB_NO_TRANS and (k, m) when NB_TRANS: the transpose happens here, panel by panel.
 * Always inlined into pack_a below with MR a constant, so the copies unroll per tile. */
static inline __attribute__((always_inline)) void NB_FN(pack_a_mr)(nb_trans ta, const NB_T *a, int64_t lda, int64_t i0,
                                                                   int64_t p0, int64_t mr, int64_t kc,
                                                                   NB_T *restrict dst, const int64_t MR) {
    if (ta == NB_NO_TRANS && mr == MR) {
        /* read the MR rows of A along k side by side (MR sequential streams), write dst
         * sequentially: column p of the panel is element p of every row. Writing one row at
         * a time with stride MR instead was 1 element a cycle at best, ~7% of a 1024^3
         * product (perf). */
        const NB_T *src = a + i0 * lda + p0;
        for (int64_t p = 0; p < kc; ++p) {
            NB_T *d = dst + p * MR;
            for (int64_t i = 0; i < MR; ++i) d[i] = src[i * lda + p];
        }
    } else if (ta == NB_NO_TRANS) {
        /* an edge panel: walk each row of A along k (contiguous), write with stride MR */
        for (int64_t i = 0; i < mr; ++i) {
            const NB_T *src = a + (i0 + i) * lda + p0;
            for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
        }
        for (int64_t i = mr; i < MR; ++i)
            for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = 0;
    } else {
        /* A is (k, m): row p0+p of A holds the mr values we need, contiguous */
        for (int64_t p = 0; p < kc; ++p) {
            const NB_T *src = a + (p0 + p) * lda + i0;
            NB_T *d = dst + p * MR;
            if (mr == MR) {
                for (int64_t i = 0; i < MR; ++i) d[i] = src[i];
            } else {
                for (int64_t i = 0; i < mr; ++i) d[i] = src[i];
                for (int64_t i = mr; i < MR; ++i) d[i] = 0;
            }
        }
    }
}

/* Packs rows p0 .. p0+kc-1 and columns j0 .. j0+nr-1 of op(B) into one micro-panel:
 * dst[p*NR + j] = op(B)(p0+p, j0+j), columns nr .. NR-1 zero. B is (k, n) as stored when
 * tb == NB_NO_TRANS and (n, k) when NB_TRANS. Inlined with NR a constant, like pack_a_mr. */
static inline __attribute__((always_inline)) void NB_FN(pack_b_nr)(nb_trans tb, const NB_T *b, int64_t ldb, int64_t p0,
                                                                   int64_t j0, int64_t kc, int64_t nr,
                                                                   NB_T *restrict dst, const int64_t NR) {
    if (tb == NB_NO_TRANS) {
        /* row p0+p of B holds the nr values we need, contiguous */
        for (int64_t p = 0; p < kc; ++p) {
            const NB_T *src = b + (p0 + p) * ldb + j0;
            NB_T *d = dst + p * NR;
            if (nr == NR) {
                for (int64_t j = 0; j < NR; ++j) d[j] = src[j];
            } else {
                for (int64_t j = 0; j < nr; ++j) d[j] = src[j];
                for (int64_t j = nr; j < NR; ++j) d[j] = 0;
            }
        }
    } else {
        /* B is (n, k): walk each row of B along k (contiguous), write with stride NR */
        for (int64_t j = 0; j < nr; ++j) {
            const NB_T *src = b + (j0 + j) * ldb + p0;
            for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p];
        }
        for (int64_t j = nr; j < NR; ++j)
            for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = 0;
    }
}

/* The packers for the tile sizes of blocked_impl.h's tables (MR 6 or 12; NR 4, 8, 16, 32),
 * each a constant-size instance; any other size takes the generic loop. */
static void NB_FN(pack_a)(nb_trans ta, const NB_T *a, int64_t lda, int64_t i0, int64_t p0, int64_t mr, int64_t kc,
                          NB_T *restrict dst, int64_t MR) {
    switch (MR) {
    case 6: NB_FN(pack_a_mr)(ta, a, lda, i0, p0, mr, kc, dst, 6); break;
    case 12: NB_FN(pack_a_mr)(ta, a, lda, i0, p0, mr, kc, dst, 12); break;
    default: NB_FN(pack_a_mr)(ta, a, lda, i0, p0, mr, kc, dst, MR); break;
    }
}

static void NB_FN(pack_b)(nb_trans tb, const NB_T *b, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nr,
                          NB_T *restrict dst, int64_t NR) {
    switch (NR) {
    case 4: NB_FN(pack_b_nr)(tb, b, ldb, p0, j0, kc, nr, dst, 4); break;
    case 8: NB_FN(pack_b_nr)(tb, b, ldb, p0, j0, kc, nr, dst, 8); break;
    case 16: NB_FN(pack_b_nr)(tb, b, ldb, p0, j0, kc, nr, dst, 16); break;
    case 32: NB_FN(pack_b_nr)(tb, b, ldb, p0, j0, kc, nr, dst, 32); break;
    default: NB_FN(pack_b_nr)(tb, b, ldb, p0, j0, kc, nr, dst, NR); break;
    }
}

/* The portable micro-kernel (ISA none), NB_MR x NB_NR, under the contract of nb_ukernel_*
 * in blocked_impl.h. The accumulators are a local array with compile-time bounds: with the
 * i loop unrolled, gcc -O2 keeps them in 12 SSE2 registers and vectorises the j loop.
 * No fused multiply-add (-ffp-contract=off): every element is computed by the same
 * sequence of roundings whichever tile it falls in. blocked.c's parameter table points
 * at it for ISA none. */
static void NB_FN(micro_kernel)(int64_t kc, NB_T alpha, const NB_T *restrict ap, const NB_T *restrict bp, NB_T beta,
                                NB_T *restrict c, int64_t ldc) {
    NB_T acc[NB_MR * NB_NR];
    for (int t = 0; t < NB_MR * NB_NR; ++t) acc[t] = 0;
    for (int64_t p = 0; p < kc; ++p) {
        _Pragma("GCC unroll 16") for (int i = 0; i < NB_MR; ++i) {
            const NB_T ai = ap[i];
            for (int j = 0; j < NB_NR; ++j) acc[i * NB_NR + j] += ai * bp[j];
        }
        ap += NB_MR;
        bp += NB_NR;
    }
    if (beta == 0) {
        for (int i = 0; i < NB_MR; ++i)
            for (int j = 0; j < NB_NR; ++j) c[i * ldc + j] = alpha * acc[i * NB_NR + j];
    } else {
        for (int i = 0; i < NB_MR; ++i)
            for (int j = 0; j < NB_NR; ++j) c[i * ldc + j] = alpha * acc[i * NB_NR + j] + beta * c[i * ldc + j];
    }
}

/* The macro-kernel: C block (mc, nc) = alpha * Ablock (mc, kc) * Bpanel (kc, nc) + beta * C
 * over the MR x NR tiles numbered t = jr * n_ir + ir, tiles [t_lo, t_hi) only (this
 * thread's share): consecutive tiles share one B micro-panel (kept in L1) and walk down the
 * A block (in L2). Edge tiles are computed whole into a local tile (the packed panels are
 * zero-padded) and only their valid mr x nr part is merged into C. */
static void NB_FN(macro_kernel)(const NB_PRM *prm, int64_t mc, int64_t nc, int64_t kc, NB_T alpha, const NB_T *apack,
                                const NB_T *bpack, NB_T beta, NB_T *c, int64_t ldc, int64_t t_lo, int64_t t_hi) {
    const int64_t MR = prm->mr, NR = prm->nr;
    const int64_t n_ir = (mc + MR - 1) / MR;
    _Alignas(NB_BLK_ALIGN) NB_T tile[NB_BLK_MAX_TILE];
    for (int64_t t = t_lo; t < t_hi; ++t) {
        const int64_t jr = t / n_ir, ir = t % n_ir;
        const int64_t i0 = ir * MR, j0 = jr * NR;
        const int64_t mr = mc - i0 < MR ? mc - i0 : MR;
        const int64_t nr = nc - j0 < NR ? nc - j0 : NR;
        const NB_T *ap = apack + ir * MR * kc;
        const NB_T *bp = bpack + jr * NR * kc;
        NB_T *cij = c + i0 * ldc + j0;
        if (mr == MR && nr == NR) {
            prm->ukernel(kc, alpha, ap, bp, beta, cij, ldc);
            continue;
        }
        /* tile = alpha * Ap * Bp; then C = tile + beta * C, the same roundings as the
         * micro-kernel's epilogue */
        prm->ukernel(kc, alpha, ap, bp, 0, tile, NR);
        for (int64_t i = 0; i < mr; ++i)
            for (int64_t j = 0; j < nr; ++j)
                cij[i * ldc + j] = beta == 0 ? tile[i * NR + j] : tile[i * NR + j] + beta * cij[i * ldc + j];
    }
}

/* [lo, hi): the share of thread tid of nth in `total` work items, contiguous and balanced. */
static void NB_FN(share)(int64_t total, int tid, int nth, int64_t *lo, int64_t *hi) {
    *lo = total * tid / nth;
    *hi = total * (tid + 1) / nth;
}

bool NB_FN(nb_blocked_begin)(NB_JOB *job, nb_blocked_cache *cache, nb_trans ta, nb_trans tb, int64_t m, int64_t n,
                             int64_t k, NB_T alpha, const NB_T *a, int64_t lda, const NB_T *b, int64_t ldb, NB_T beta,
                             NB_T *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return false;
    if (k <= 0 || alpha == 0) {
        NB_FN(scale_c)(m, n, beta, c, ldc);
        return false;
    }
    const NB_PRM *prm = NB_FN(nb_blocked_params_for)(nb_cpu_dispatch_isa());
    *job = (NB_JOB){.ta = ta,
                    .tb = tb,
                    .m = m,
                    .n = n,
                    .k = k,
                    .alpha = alpha,
                    .a = a,
                    .lda = lda,
                    .b = b,
                    .ldb = ldb,
                    .beta = beta,
                    .c = c,
                    .ldc = ldc,
                    .prm = prm};
    /* Buffers sized to the problem, not to the block sizes, so small calls stay small:
     * A block MC x KC rounded up to whole micro-panels, B panel KC x NC likewise. */
    const int64_t MR = prm->mr, NR = prm->nr;
    const int64_t kc = k < prm->kc ? k : prm->kc;
    const int64_t mc = m < prm->mc ? (m + MR - 1) / MR * MR : prm->mc;
    const int64_t nc = n < prm->nc ? (n + NR - 1) / NR * NR : prm->nc;
    const size_t a_bytes = ((size_t)(mc * kc) * sizeof(NB_T) + NB_BLK_ALIGN - 1) / NB_BLK_ALIGN * NB_BLK_ALIGN;
    const size_t b_bytes = ((size_t)(kc * nc) * sizeof(NB_T) + NB_BLK_ALIGN - 1) / NB_BLK_ALIGN * NB_BLK_ALIGN;
    /* Grow-only: a call that fits the buffer an earlier call left allocates nothing. The
     * old contents need not survive, so free-then-allocate rather than realloc (which
     * would copy, and does not keep the alignment). */
    const size_t need = a_bytes + b_bytes;
    void *workspace = NULL;
#ifndef NB_GEMM_FORCE_UNPACKED /* that build acts as if every allocation failed */
    if (cache->bytes < need) {
        free(cache->data);
        cache->data = aligned_alloc(NB_BLK_ALIGN, need);
        cache->bytes = cache->data ? need : 0;
    }
    workspace = cache->data;
#else
    (void)cache, (void)need;
#endif
    if (workspace == NULL) {
        NB_FN(unpacked)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return false;
    }
    job->apack = workspace;
    job->bpack = (NB_T *)((char *)workspace + a_bytes);
    return true;
}

void NB_FN(nb_blocked_run)(const NB_JOB *job, int tid, int nth, nb_blocked_barrier_fn *barrier) {
    const NB_PRM *prm = job->prm;
    const int64_t MR = prm->mr, NR = prm->nr, MC = prm->mc, KC = prm->kc, NC = prm->nc;
    const int64_t m = job->m, n = job->n, k = job->k;
    NB_T *apack = job->apack, *bpack = job->bpack;
    int64_t lo, hi;
    for (int64_t jc = 0; jc < n; jc += NC) {
        const int64_t nc = n - jc < NC ? n - jc : NC;
        const int64_t n_jr = (nc + NR - 1) / NR;
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = k - pc < KC ? k - pc : KC;
            /* B panel (kc, nc) <- op(B)(pc:pc+kc, jc:jc+nc), NR-column micro-panels shared
             * out among the threads: packed once per (jc, pc) for the whole team */
            NB_FN(share)(n_jr, tid, nth, &lo, &hi);
            for (int64_t jr = lo; jr < hi; ++jr) {
                const int64_t j0 = jr * NR;
                NB_FN(pack_b)
                (job->tb, job->b, job->ldb, pc, jc + j0, kc, nc - j0 < NR ? nc - j0 : NR, bpack + j0 * kc, NR);
            }
            /* the first k block applies the caller's beta, later ones accumulate */
            const NB_T beta = pc == 0 ? job->beta : 1;
            for (int64_t ic = 0; ic < m; ic += MC) {
                const int64_t mc = m - ic < MC ? m - ic : MC;
                const int64_t n_ir = (mc + MR - 1) / MR;
                /* A block (mc, kc) <- op(A)(ic:ic+mc, pc:pc+kc), MR-row micro-panels; the
                 * first one is packed in the same phase as the B panel (one barrier less) */
                NB_FN(share)(n_ir, tid, nth, &lo, &hi);
                for (int64_t ir = lo; ir < hi; ++ir) {
                    const int64_t i0 = ir * MR;
                    NB_FN(pack_a)
                    (job->ta, job->a, job->lda, ic + i0, pc, mc - i0 < MR ? mc - i0 : MR, kc, apack + i0 * kc, MR);
                }
                if (barrier) barrier();
                NB_FN(share)(n_ir * n_jr, tid, nth, &lo, &hi);
                NB_FN(macro_kernel)
                (prm, mc, nc, kc, job->alpha, apack, bpack, beta, job->c + ic * job->ldc + jc, job->ldc, lo, hi);
                /* nobody repacks A or B while another thread still reads them */
                if (barrier) barrier();
            }
        }
    }
}

#undef NB_CAT_
#undef NB_CAT
#undef NB_FN
#undef NB_JOB
#undef NB_PRM
