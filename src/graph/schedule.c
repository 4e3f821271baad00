/* src/graph/schedule.c — the plan's per-thread schedule: a training step as a few phases, each a
 * set of member parts that do not wait on each other, instead of a fork-join per instruction.
 *
 * Why: run one instruction at a time, a seed step is a dozen parallel regions, and each one cuts
 * its tensor its own way, so what one core wrote is read by the other at the next op (issue 15:
 * two threads were no faster than one). The plan knows the whole step, so it can decide once:
 *
 *   1. Splits. Each instruction either runs whole (on the calling thread, with the kernel's and
 *      loops' own threads, as before) or is cut into one block of its output per member, by rows
 *      or by columns of the output seen as a matrix. Cuts fall on cache lines (64 bytes of the
 *      element type) and depend only on the length cut and the member count, so a member owns
 *      the same rows or columns of every value cut the same way: for the two-layer net, the
 *      hidden units it owns (columns of w1, h and grad_h). The choice is made by a cost model
 *      over the whole step (below): per member the arithmetic of its block, plus the bytes it
 *      reads or writes that another member wrote last (they come from another core's cache),
 *      plus the cost of every phase.
 *   2. Phases. Instructions are walked in order; a block joins the current phase unless it would
 *      touch bytes another member wrote, or write bytes another member touched, in that phase
 *      (then a new phase starts: the barrier). A whole instruction makes a serial phase.
 *   3. Running. A parallel phase is nb_team_for over one part per member, each part the
 *      member's blocks of that phase in instruction order (on OpenMP's threads instead when the
 *      kernel's are OpenMP's, gemm.h openmp_threads). A part can run on any thread: when a
 *      member has lost its core to a busy neighbour, another takes its part, and the bits stay
 *      the same.
 *
 * Bits: an elementwise block does per element what the whole loop does; a GEMM block is a call of
 * its own on the operands' sub-blocks, which gives the whole call's bits under a block_invariant
 * kernel only (gemm.h), so other kernels' products run whole; sums and the fused loss run whole.
 * So the schedule's result is the instruction-at-a-time result, at every member count. */
#include "graph/graph_impl.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/team.h"
#include "tensor/runtime.h"

/* The schedule cuts for at most this many members; beyond it the plan runs instruction at a
 * time (the blocks of a seed-sized step would be a few rows each). */
#define NB_SCHED_MAX_MEMBERS NB_PLAN_SCHEDULE_MAX_MEMBERS

/* Below these an instruction is never cut: the block would cost less than handing it out. */
#define NB_SCHED_MIN_GEMM_WORK ((int64_t)1 << 15) /* multiply-adds */
#define NB_SCHED_MIN_ELEMENTS 2048

/* The cost model's prices, in nanoseconds: rough, and only their ratios matter (they pick
 * between cuts; they predict no time). A multiply-add at a core's FMA rate (~150 GFLOP/s f32 on
 * this machine's Zen 5, half that in f64); an elementwise element (memory-bound, ~40 GB/s); a
 * byte another core wrote last (a cache-to-cache transfer, measured as the 2-thread update's
 * slowdown, ~10 GB/s); a short row of a column block; handing out a block; a cache line that
 * two members write (a column cut inside a row whose length is not whole lines: w1's rows are
 * 400 bytes in the seed); one parallel phase (waking the team and waiting for its last
 * member). */
#define NB_SCHED_NS_FMA_F32 0.013
#define NB_SCHED_NS_ELEMENT 0.3
#define NB_SCHED_NS_REMOTE_BYTE 0.1
#define NB_SCHED_NS_ROW 5.0
#define NB_SCHED_NS_TASK 100.0
#define NB_SCHED_NS_SHARED_LINE 50.0
#define NB_SCHED_NS_PHASE 2000.0

static const char *const split_names[NB_SPLIT_COUNT] = {"whole", "rows", "cols", "k"};

/* Rows [r0, r1) x columns [c0, c1) of a value seen as a matrix. */
typedef struct nb_rect {
    int64_t r0, r1, c0, c1;
} nb_rect;

/* What the schedule runs: one unit per instruction, two for a product split by k (its chunks'
 * products into scratch, then their sum into the output, a phase later). */
typedef struct nb_unit {
    int instr;
    bool reduce; /* the second unit of a k split */
} nb_unit;

/* One member's block of one unit, ready to run. */
typedef struct nb_task {
    int unit, instr;
    nb_rect rect;      /* of the output (a k split's chunk products: rows of its scratch) */
    nb_ew_loop loop;   /* the elementwise kinds */
    nb_gemm_call gemm; /* NB_I_MM */
    int64_t cols;      /* the fused kinds: the output's row length */
    int nchunks;       /* a k split's sum: the chunks it adds */
} nb_task;

typedef struct nb_sphase {
    bool parallel;
    int first, end; /* units [first, end) */
    int *begin;     /* parallel: member m's tasks are tasks[begin[m] .. begin[m + 1]) */
} nb_sphase;

struct nb_schedule {
    int members;
    const nb_kernel *kernel;
    nb_sched_split *split; /* per instruction */
    nb_unit *units;
    int nunits;
    nb_sphase *phases;
    int nphases;
    nb_task *tasks;
    int ntasks;
    char *scratch;      /* the k splits' chunk products */
    size_t *scratch_at; /* per instruction: its offset in scratch */
    double cost_ns;     /* the model's figure for the chosen splits */
};

/* ---- geometry ------------------------------------------------------------------------------ */

/* A value as a matrix: rank 0 is 1 x 1, rank 1 is 1 x n, higher ranks (leading dims) x last. */
static void value_matrix(const nb_pvalue *v, int64_t *rows, int64_t *cols) {
    *cols = v->ndim == 0 ? 1 : v->shape[v->ndim - 1];
    *rows = *cols == 0 ? 0 : v->numel / *cols;
}

/* Where cut t of `parts` falls on a length: equal shares rounded to multiples of align. */
static int64_t cut_at(int64_t len, int parts, int t, int64_t align) {
    if (t <= 0) return 0;
    if (t >= parts) return len;
    int64_t c = (len * t + parts / 2) / parts;
    c = (c + align / 2) / align * align;
    return c < len ? c : len;
}

static nb_rect block_of(nb_sched_split s, int64_t rows, int64_t cols, int members, int m, int64_t align) {
    nb_rect r = {0, rows, 0, cols};
    if (s == NB_SPLIT_ROWS || s == NB_SPLIT_K)
        r.r0 = cut_at(rows, members, m, align), r.r1 = cut_at(rows, members, m + 1, align);
    if (s == NB_SPLIT_COLS) r.c0 = cut_at(cols, members, m, align), r.c1 = cut_at(cols, members, m + 1, align);
    if (s == NB_SPLIT_WHOLE && m > 0) r.r1 = 0; /* all of it is member 0's */
    return r;
}

static bool rect_empty(nb_rect r) { return r.r1 <= r.r0 || r.c1 <= r.c0; }

static int64_t rect_area(nb_rect r) { return rect_empty(r) ? 0 : (r.r1 - r.r0) * (r.c1 - r.c0); }

static nb_rect rect_meet(nb_rect a, nb_rect b) {
    nb_rect r = {a.r0 > b.r0 ? a.r0 : b.r0, a.r1 < b.r1 ? a.r1 : b.r1, a.c0 > b.c0 ? a.c0 : b.c0,
                 a.c1 < b.c1 ? a.c1 : b.c1};
    return r;
}

static nb_rect rect_t(nb_rect r) { return (nb_rect){r.c0, r.c1, r.r0, r.r1}; }

/* A rect of value v, read transposed when `t`, in the coordinates of v's root (a view is the
 * transpose of the value it views). */
static int root_rect(const nb_plan *p, int v, bool t, nb_rect *r) {
    if (t) *r = rect_t(*r);
    for (; p->values[v].kind == NB_VAL_VIEW; v = p->values[v].view_of) *r = rect_t(*r);
    return v;
}

/* The output of an instruction as a matrix (a GEMM's is m x n). */
static void output_matrix(const nb_plan *p, const nb_instr *ins, int64_t *rows, int64_t *cols) {
    value_matrix(&p->values[ins->out[0]], rows, cols);
}

static int64_t align_for(const nb_plan *p) { return 64 / (int64_t)nb_dtype_size(p->dtype); }

/* The k chunk of the kernel for the plan's dtype, 0 when it has none. */
static int64_t k_chunk_of(const nb_plan *p, const nb_kernel *kernel) {
    if (!kernel->block_invariant || !kernel->k_chunk) return 0;
    return kernel->k_chunk(p->dtype == NB_F32 ? NB_GEMM_F32 : NB_GEMM_F64);
}

static int chunks_of(const nb_instr *ins, int64_t kc) { return (int)((ins->gemm.k + kc - 1) / kc); }

/* Member m's chunks of a k split: [*c0, *c1). */
static void member_chunks(int nchunks, int members, int m, int *c0, int *c1) {
    *c0 = (int)cut_at(nchunks, members, m, 1);
    *c1 = (int)cut_at(nchunks, members, m + 1, 1);
}

/* ---- what a block touches ------------------------------------------------------------------ */

/* One operand of one block: a rect of a root's storage. Roots past the plan's values are the
 * scratch of a k split (root nvalues + instruction). */
typedef struct nb_access {
    int member;
    int root;
    nb_rect rect; /* in the root's coordinates */
    bool write;
} nb_access;

#define NB_MAX_ACCESS (NB_INSTR_MAX_IN + NB_INSTR_MAX_OUT + 1)

/* Whether instruction `ins` can be cut with split s: a product under a block_invariant kernel
 * (by k when the kernel has k chunks and there are two or more), an elementwise kind whose
 * operands are contiguous values of one shape (by rows or columns); everything can run whole. */
static bool can_split(const nb_plan *p, const nb_instr *ins, const nb_kernel *kernel, nb_sched_split s) {
    if (s == NB_SPLIT_WHOLE) return true;
    switch (ins->kind) {
    case NB_I_MM: {
        if (!kernel->block_invariant || ins->gemm.m * ins->gemm.n * ins->gemm.k < NB_SCHED_MIN_GEMM_WORK) return false;
        const int64_t kc = k_chunk_of(p, kernel);
        return s != NB_SPLIT_K || (kc > 0 && ins->gemm.k >= 2 * kc);
    }
    case NB_I_EW:
    case NB_I_SGD:
        return s != NB_SPLIT_K && nb_ew_loop_is_dense(&ins->loop) && ins->loop.numel >= NB_SCHED_MIN_ELEMENTS;
    case NB_I_ACC_SUM_TO:
        return s != NB_SPLIT_K && !ins->sum_dst && nb_ew_loop_is_dense(&ins->loop) &&
               ins->loop.numel >= NB_SCHED_MIN_ELEMENTS;
    case NB_I_CLAMP_MASK:
    case NB_I_MASK_BWD: {
        if (s == NB_SPLIT_K || ins->n < NB_SCHED_MIN_ELEMENTS) return false;
        /* every operand a root (not a transposed view) of the output's shape */
        for (int k = 0; k < NB_INSTR_MAX_IN + NB_INSTR_MAX_OUT; k++) {
            int v = k < NB_INSTR_MAX_IN ? ins->in[k] : ins->out[k - NB_INSTR_MAX_IN];
            if (v < 0) continue;
            if (p->values[v].kind == NB_VAL_VIEW || (k < NB_INSTR_MAX_IN && ins->in_t[k])) return false;
            if (p->values[v].numel != ins->n) return false;
        }
        return true;
    }
    default: return false; /* sums, the fused loss, scalar accumulations: whole */
    }
}

/* The operands member m's block of unit u touches, into acc (returns the count). `out` is the
 * block of the output. The elementwise kinds touch the same rect of every operand; a GEMM's
 * block reads op(A)'s rows and op(B)'s columns of it, all of k. A k split's first unit reads
 * op(A)'s columns and op(B)'s rows of the member's chunks and writes their products into
 * scratch (chunk j is rows [j*m, (j+1)*m) of an (nchunks*m) x n matrix); its second unit writes
 * the output's rows and reads every chunk's. */
static int block_accesses(const nb_plan *p, const nb_instr *ins, int instr, nb_unit u, int64_t kc, int members, int m,
                          nb_rect out, nb_access *acc) {
    int n = 0;
    const int scratch = p->nvalues + instr;
    if (ins->kind == NB_I_MM && kc > 0 && !u.reduce) { /* chunk products */
        int c0, c1;
        const int nchunks = chunks_of(ins, kc);
        member_chunks(nchunks, members, m, &c0, &c1);
        const int64_t k0 = c0 * kc, k1 = c1 * kc < ins->gemm.k ? c1 * kc : ins->gemm.k;
        const int64_t rows = ins->gemm.m, cols = ins->gemm.n;
        nb_rect ra = {0, rows, k0, k1}, rb = {k0, k1, 0, cols};
        acc[n++] = (nb_access){m, root_rect(p, ins->in[0], ins->in_t[0], &ra), ra, false};
        acc[n++] = (nb_access){m, root_rect(p, ins->in[1], ins->in_t[1], &rb), rb, false};
        acc[n++] = (nb_access){m, scratch, {c0 * rows, c1 * rows, 0, cols}, true};
        return n;
    }
    for (int k = 0; k < NB_INSTR_MAX_OUT; k++) {
        int v = ins->out[k];
        if (v < 0) continue;
        nb_rect r = out;
        acc[n++] = (nb_access){m, root_rect(p, v, false, &r), r, true};
    }
    if (ins->kind == NB_I_MM && kc > 0) { /* the sum of the chunks: all of scratch's rows for these */
        acc[n++] = (nb_access){m, scratch, {0, chunks_of(ins, kc) * ins->gemm.m, out.c0, out.c1}, false};
        return n;
    }
    for (int k = 0; k < NB_INSTR_MAX_IN; k++) {
        int v = ins->in[k];
        if (v < 0) continue;
        nb_rect r = out;
        if (ins->kind == NB_I_MM) {
            const int64_t kk = ins->gemm.k;
            r = k == 0 ? (nb_rect){out.r0, out.r1, 0, kk} : (nb_rect){0, kk, out.c0, out.c1};
        }
        acc[n++] = (nb_access){m, root_rect(p, v, ins->in_t[k], &r), r, false};
    }
    return n;
}

/* ---- the cost model ------------------------------------------------------------------------ */

typedef struct nb_model {
    const nb_plan *p;
    int members;
    int64_t align;
    int64_t kc;            /* the kernel's k chunk, 0 when it has none */
    nb_sched_split *split; /* the splits being priced */
    int *last_writer;      /* per root (scratch roots too): the instruction that wrote it last, or -1 */
    nb_access *phase;      /* the accesses of the current parallel phase */
    int nphase, phase_cap;
} nb_model;

static int64_t unit_kc(const nb_model *md, int i) { return md->split[i] == NB_SPLIT_K ? md->kc : 0; }

/* Member m's block of instruction i's output under the model's splits. */
static nb_rect member_block(const nb_model *md, int i, int m) {
    int64_t rows, cols;
    output_matrix(md->p, &md->p->instrs[i], &rows, &cols);
    return block_of(md->split[i], rows, cols, md->members, m, md->align);
}

static size_t root_elsize(const nb_plan *p, int root) {
    return root < p->nvalues && p->values[root].kind == NB_VAL_MASK ? 1 : nb_dtype_size(p->dtype);
}

/* The rect of `root` that member m wrote last, in the root's coordinates (nothing when another
 * instruction's scratch or nobody; all of it for member 0 when the caller set it up). */
static nb_rect last_written(const nb_model *md, int root, int m, nb_rect whole) {
    const nb_plan *p = md->p;
    const int w = md->last_writer[root];
    nb_rect mine = {0, 0, 0, 0};
    if (w < 0) return m == 0 ? whole : mine;
    if (root >= p->nvalues) { /* scratch: the member's chunks */
        int c0, c1;
        member_chunks(chunks_of(&p->instrs[w], md->kc), md->members, m, &c0, &c1);
        return (nb_rect){c0 * p->instrs[w].gemm.m, c1 * p->instrs[w].gemm.m, 0, p->instrs[w].gemm.n};
    }
    for (int o = 0; o < NB_INSTR_MAX_OUT; o++) { /* the block of w's output that is this root */
        const int v = p->instrs[w].out[o];
        if (v < 0 || nb_plan_root(p, v) != root) continue;
        mine = member_block(md, w, m);
        (void)root_rect(p, v, false, &mine);
        break;
    }
    return mine;
}

/* What member m's block of unit u costs alone: its arithmetic, and the bytes it touches that
 * another member wrote last. */
static double block_cost(const nb_model *md, nb_unit u, int m) {
    const nb_plan *p = md->p;
    const int i = u.instr;
    const nb_instr *ins = &p->instrs[i];
    const int64_t kc = unit_kc(md, i);
    const nb_rect out = member_block(md, i, m);
    double ns = md->split[i] == NB_SPLIT_WHOLE ? 0 : NB_SCHED_NS_TASK;
    const double fma = NB_SCHED_NS_FMA_F32 * (p->dtype == NB_F64 ? 2.0 : 1.0);
    const int64_t v = md->align;
    if (ins->kind == NB_I_MM && kc > 0 && !u.reduce) {
        int c0, c1;
        member_chunks(chunks_of(ins, kc), md->members, m, &c0, &c1);
        if (c1 <= c0) return 0;
        const int64_t k0 = c0 * kc, k1 = c1 * kc < ins->gemm.k ? c1 * kc : ins->gemm.k;
        ns += (double)ins->gemm.m * (double)((ins->gemm.n + v - 1) / v * v) * (double)(k1 - k0) * fma;
    } else if (rect_empty(out)) {
        return 0;
    } else if (ins->kind == NB_I_MM && kc > 0) {
        ns += (double)rect_area(out) * (double)chunks_of(ins, kc) * NB_SCHED_NS_ELEMENT;
    } else if (ins->kind == NB_I_MM) {
        /* a block's columns are computed in whole vectors */
        const int64_t cols = (out.c1 - out.c0 + v - 1) / v * v;
        ns += (double)(out.r1 - out.r0) * (double)cols * (double)ins->gemm.k * fma;
    } else if (ins->kind == NB_I_SUM || ins->kind == NB_I_MEAN || ins->kind == NB_I_SQDIFF_SUM) {
        ns += (double)p->values[nb_plan_root(p, ins->in[0])].numel * NB_SCHED_NS_ELEMENT;
    } else {
        ns += (double)rect_area(out) * NB_SCHED_NS_ELEMENT;
        if (md->split[i] == NB_SPLIT_COLS) ns += (double)(out.r1 - out.r0) * NB_SCHED_NS_ROW;
    }
    if (md->split[i] == NB_SPLIT_COLS) {
        /* each cut inside a row of unaligned length puts one line per row in two members' hands */
        int64_t rows, cols;
        output_matrix(p, ins, &rows, &cols);
        const int cuts = (out.c0 > 0) + (out.c1 < cols);
        if ((cols * (int64_t)root_elsize(p, nb_plan_root(p, ins->out[0]))) % 64 != 0)
            ns += (double)(out.r1 - out.r0) * cuts * NB_SCHED_NS_SHARED_LINE;
    }
    nb_access acc[NB_MAX_ACCESS];
    const int n = block_accesses(p, ins, i, u, kc, md->members, m, out, acc);
    for (int k = 0; k < n; k++) {
        const int root = acc[k].root;
        if (root < p->nvalues && p->values[root].kind == NB_VAL_INPUT) continue; /* fed, then only read */
        const nb_rect mine = last_written(md, root, m, acc[k].rect);
        const int64_t remote = rect_area(acc[k].rect) - rect_area(rect_meet(acc[k].rect, mine));
        ns += (double)remote * (double)root_elsize(p, root) * NB_SCHED_NS_REMOTE_BYTE;
    }
    return ns;
}

static bool rects_meet(nb_rect a, nb_rect b) { return !rect_empty(rect_meet(a, b)); }

/* Whether two roots may share bytes of the arena (a value placed where a dead one was, or
 * written in place over it): then any two accesses of theirs are taken to overlap. Parameters
 * and scratch have storage of their own. */
static bool storage_overlaps(const nb_plan *p, int a, int b) {
    if (a >= p->nvalues || b >= p->nvalues) return false;
    const nb_pvalue *x = &p->values[a], *y = &p->values[b];
    if (x->kind == NB_VAL_PARAM || y->kind == NB_VAL_PARAM) return false;
    return x->offset < y->offset + y->bytes && y->offset < x->offset + x->bytes;
}

/* Whether access a cannot share a phase with b: different members, one of them writing, the
 * same bytes. */
static bool conflict(const nb_plan *p, const nb_access *a, const nb_access *b) {
    if (a->member == b->member || (!a->write && !b->write)) return false;
    if (a->root == b->root) return rects_meet(a->rect, b->rect);
    return storage_overlaps(p, a->root, b->root);
}

static nb_status phase_push(nb_model *md, const nb_access *a) {
    if (md->nphase == md->phase_cap) {
        int cap = md->phase_cap ? 2 * md->phase_cap : 64;
        nb_access *grown = realloc(md->phase, (size_t)cap * sizeof *grown);
        if (!grown) return nb_error(NB_ERR_NOMEM, "out of memory scheduling a plan");
        md->phase = grown;
        md->phase_cap = cap;
    }
    md->phase[md->nphase++] = *a;
    return NB_OK;
}

/* The units of the model's splits into units (room for 2 per instruction); returns the count. */
static int make_units(const nb_model *md, nb_unit *units) {
    int n = 0;
    for (int i = 0; i < md->p->ninstrs; i++) {
        units[n++] = (nb_unit){i, false};
        if (md->split[i] == NB_SPLIT_K) units[n++] = (nb_unit){i, true};
    }
    return n;
}

/* Walks the step under the model's splits: the phases (starts[u]: unit u begins one, when
 * non-NULL) and the model's cost of the step. The last writers are those of the step before
 * (the walk runs twice, pricing the second), so a parameter is owned by whoever updated it. */
static nb_status walk(nb_model *md, nb_unit *units, bool *starts, double *cost) {
    const nb_plan *p = md->p;
    const int nunits = make_units(md, units);
    for (int v = 0; v < p->nvalues + p->ninstrs; v++) md->last_writer[v] = -1;
    double total = 0;
    for (int pass = 0; pass < 2; pass++) {
        double phase_max[NB_SCHED_MAX_MEMBERS] = {0};
        bool in_parallel = false;
        md->nphase = 0;
        total = 0;
        for (int ui = 0; ui < nunits; ui++) {
            const nb_unit u = units[ui];
            const int i = u.instr;
            const nb_instr *ins = &p->instrs[i];
            bool begin = ui == 0;
            const bool closing_parallel = in_parallel;
            nb_access acc[NB_SCHED_MAX_MEMBERS][NB_MAX_ACCESS];
            int nacc[NB_SCHED_MAX_MEMBERS] = {0};
            if (md->split[i] == NB_SPLIT_WHOLE) {
                begin = begin || in_parallel;
                in_parallel = false;
            } else {
                for (int m = 0; m < md->members; m++)
                    nacc[m] =
                        block_accesses(p, ins, i, u, unit_kc(md, i), md->members, m, member_block(md, i, m), acc[m]);
                bool clash = !in_parallel;
                for (int m = 0; m < md->members && !clash; m++)
                    for (int k = 0; k < nacc[m] && !clash; k++) {
                        if (rect_empty(acc[m][k].rect)) continue;
                        for (int j = 0; j < md->nphase && !clash; j++) clash = conflict(p, &acc[m][k], &md->phase[j]);
                    }
                begin = begin || clash;
                in_parallel = true;
            }
            if (begin) { /* close the phase before */
                double worst = 0;
                for (int m = 0; m < md->members; m++) worst = phase_max[m] > worst ? phase_max[m] : worst;
                total += worst + (closing_parallel ? NB_SCHED_NS_PHASE : 0);
                memset(phase_max, 0, sizeof phase_max);
                md->nphase = 0;
            }
            if (starts && pass == 1) starts[ui] = begin;
            for (int m = 0; m < md->members; m++) phase_max[m] += block_cost(md, u, m);
            for (int m = 0; m < md->members; m++)
                for (int k = 0; k < nacc[m]; k++)
                    if (!rect_empty(acc[m][k].rect)) NB_TRY(phase_push(md, &acc[m][k]));
            if (unit_kc(md, i) > 0 && !u.reduce) {
                md->last_writer[p->nvalues + i] = i;
                continue;
            }
            for (int k = 0; k < NB_INSTR_MAX_OUT; k++)
                if (ins->out[k] >= 0) md->last_writer[nb_plan_root(p, ins->out[k])] = i;
        }
        double worst = 0;
        for (int m = 0; m < md->members; m++) worst = phase_max[m] > worst ? phase_max[m] : worst;
        total += worst + (in_parallel ? NB_SCHED_NS_PHASE : 0);
    }
    *cost = total;
    return NB_OK;
}

/* Chooses the splits: from each of four starts (every instruction cut by rows, by columns, by
 * k, whole, where it can be), one instruction at a time takes whichever split lowers the step's
 * cost, until none does; the cheapest result wins. A step is a few dozen instructions, so this
 * is cheap; it runs once per plan, member count and kernel. */
static nb_status choose_splits(nb_model *md, const nb_kernel *kernel, nb_unit *units, double *best_cost) {
    const nb_plan *p = md->p;
    nb_sched_split *best = malloc(((size_t)p->ninstrs + 1) * sizeof *best);
    if (!best) return nb_error(NB_ERR_NOMEM, "out of memory scheduling a plan");
    *best_cost = -1;
    nb_status st = NB_OK;
    for (int start = 0; start < NB_SPLIT_COUNT && st == NB_OK; start++) {
        for (int i = 0; i < p->ninstrs; i++)
            md->split[i] =
                can_split(p, &p->instrs[i], kernel, (nb_sched_split)start) ? (nb_sched_split)start : NB_SPLIT_WHOLE;
        double cost;
        if ((st = walk(md, units, NULL, &cost)) != NB_OK) break;
        for (int round = 0, improved = 1; improved && round < 8 && st == NB_OK; round++) {
            improved = 0;
            for (int i = 0; i < p->ninstrs && st == NB_OK; i++) {
                const nb_sched_split was = md->split[i];
                nb_sched_split keep = was;
                for (int s = 0; s < NB_SPLIT_COUNT && st == NB_OK; s++) {
                    if (s == (int)was || !can_split(p, &p->instrs[i], kernel, (nb_sched_split)s)) continue;
                    md->split[i] = (nb_sched_split)s;
                    double c;
                    if ((st = walk(md, units, NULL, &c)) != NB_OK) break;
                    if (c < cost - 1e-9) cost = c, keep = (nb_sched_split)s, improved = 1;
                }
                md->split[i] = keep;
            }
        }
        if (st == NB_OK && (*best_cost < 0 || cost < *best_cost)) {
            *best_cost = cost;
            memcpy(best, md->split, (size_t)p->ninstrs * sizeof *best);
        }
    }
    if (st == NB_OK) memcpy(md->split, best, (size_t)p->ninstrs * sizeof *best);
    free(best);
    return st;
}

/* ---- building ------------------------------------------------------------------------------ */

void nb_schedule_free(nb_schedule *s) {
    if (!s) return;
    for (int ph = 0; ph < s->nphases; ph++) free(s->phases[ph].begin);
    free(s->phases);
    free(s->tasks);
    free(s->units);
    free(s->split);
    free(s->scratch);
    free(s->scratch_at);
    free(s);
}

/* Member m's tasks of unit ui (appended to s->tasks): one block, or one task per chunk of a k
 * split's first unit. */
static void add_tasks(const nb_plan *p, nb_schedule *s, int ui, int m, int64_t kc, int64_t align) {
    const nb_unit u = s->units[ui];
    const nb_instr *ins = &p->instrs[u.instr];
    const size_t es = nb_dtype_size(p->dtype);
    int64_t rows, cols;
    output_matrix(p, ins, &rows, &cols);
    if (s->split[u.instr] == NB_SPLIT_K && !u.reduce) {
        int c0, c1;
        const int nchunks = chunks_of(ins, kc);
        member_chunks(nchunks, s->members, m, &c0, &c1);
        for (int j = c0; j < c1; j++) {
            const int64_t k0 = j * kc, k1 = k0 + kc < ins->gemm.k ? k0 + kc : ins->gemm.k;
            char *at = s->scratch + s->scratch_at[u.instr] + (size_t)(j * rows * cols) * es;
            s->tasks[s->ntasks++] =
                (nb_task){.unit = ui, .instr = u.instr, .gemm = nb_gemm_call_chunk(&ins->gemm, k0, k1, at)};
        }
        return;
    }
    nb_rect r = block_of(s->split[u.instr], rows, cols, s->members, m, align);
    if (rect_empty(r)) return;
    nb_task t = {.unit = ui, .instr = u.instr, .rect = r, .cols = cols, .nchunks = kc > 0 ? chunks_of(ins, kc) : 0};
    if (ins->kind == NB_I_MM && s->split[u.instr] != NB_SPLIT_K)
        t.gemm = nb_gemm_call_block(&ins->gemm, r.r0, r.r1, r.c0, r.c1);
    else if (ins->kind != NB_I_MM && ins->kind != NB_I_CLAMP_MASK && ins->kind != NB_I_MASK_BWD)
        t.loop = nb_ew_loop_block(&ins->loop, cols, r.r0, r.r1, r.c0, r.c1);
    s->tasks[s->ntasks++] = t;
}

nb_status nb_schedule_build(const nb_plan *p, int members, const nb_kernel *kernel, const nb_sched_split *forced,
                            nb_schedule **out) {
    *out = NULL;
    if (members < 2 || members > NB_SCHED_MAX_MEMBERS)
        return nb_error(NB_ERR_ARG, "schedule: %d members (2..%d)", members, NB_SCHED_MAX_MEMBERS);
    nb_schedule *s = calloc(1, sizeof *s);
    nb_model md = {.p = p, .members = members, .align = align_for(p), .kc = k_chunk_of(p, kernel)};
    const size_t nunits_max = 2 * (size_t)p->ninstrs + 1;
    bool *starts = calloc(nunits_max, sizeof *starts);
    md.split = calloc((size_t)p->ninstrs + 1, sizeof *md.split);
    md.last_writer = malloc(((size_t)p->nvalues + (size_t)p->ninstrs + 1) * sizeof *md.last_writer);
    nb_status st = NB_OK;
    if (s) s->units = calloc(nunits_max, sizeof *s->units);
    if (!s || !starts || !md.split || !md.last_writer || !s->units)
        st = nb_error(NB_ERR_NOMEM, "out of memory scheduling a plan");
    if (st == NB_OK && forced) {
        for (int i = 0; i < p->ninstrs; i++)
            md.split[i] = can_split(p, &p->instrs[i], kernel, forced[i]) ? forced[i] : NB_SPLIT_WHOLE;
    } else if (st == NB_OK) {
        st = choose_splits(&md, kernel, s->units, &s->cost_ns);
    }
    if (st == NB_OK) st = walk(&md, s->units, starts, &s->cost_ns);
    if (st == NB_OK) {
        s->members = members;
        s->kernel = kernel;
        s->nunits = make_units(&md, s->units);
        s->split = md.split;
        md.split = NULL;
        /* the k splits' scratch: nchunks x m x n each, on cache lines */
        size_t bytes = 0;
        s->scratch_at = calloc((size_t)p->ninstrs + 1, sizeof *s->scratch_at);
        for (int i = 0; s->scratch_at && i < p->ninstrs; i++) {
            s->scratch_at[i] = bytes;
            if (s->split[i] != NB_SPLIT_K) continue;
            const nb_instr *ins = &p->instrs[i];
            bytes +=
                ((size_t)chunks_of(ins, md.kc) * (size_t)(ins->gemm.m * ins->gemm.n) * nb_dtype_size(p->dtype) + 63) /
                64 * 64;
        }
        if (bytes > 0 && s->scratch_at) s->scratch = aligned_alloc(64, bytes);
        for (int u = 0; u < s->nunits; u++) s->nphases += starts[u];
        s->phases = calloc((size_t)s->nphases + 1, sizeof *s->phases);
        size_t ntasks_max = 0;
        for (int u = 0; u < s->nunits; u++) {
            const nb_instr *ins = &p->instrs[s->units[u].instr];
            ntasks_max += s->split[s->units[u].instr] == NB_SPLIT_K && !s->units[u].reduce
                              ? (size_t)chunks_of(ins, md.kc)
                              : (size_t)members;
        }
        s->tasks = calloc(ntasks_max + 1, sizeof *s->tasks);
        if (!s->phases || !s->tasks || !s->scratch_at || (bytes > 0 && !s->scratch))
            st = nb_error(NB_ERR_NOMEM, "out of memory scheduling a plan");
    }
    for (int u = 0, ph = -1; st == NB_OK && u < s->nunits; u++) {
        if (!starts[u]) continue;
        nb_sphase *f = &s->phases[++ph];
        f->first = u;
        f->parallel = s->split[s->units[u].instr] != NB_SPLIT_WHOLE;
        int end = u + 1;
        while (end < s->nunits && !starts[end]) end++;
        f->end = end;
        if (!f->parallel) continue;
        if (!(f->begin = calloc((size_t)members + 1, sizeof *f->begin))) {
            st = nb_error(NB_ERR_NOMEM, "out of memory scheduling a plan");
            break;
        }
        /* member by member, each member's blocks in unit order */
        for (int m = 0; m < members; m++) {
            f->begin[m] = s->ntasks;
            for (int j = f->first; j < f->end; j++) add_tasks(p, s, j, m, md.kc, md.align);
        }
        f->begin[members] = s->ntasks;
    }
    free(starts);
    free(md.split);
    free(md.last_writer);
    free(md.phase);
    if (st != NB_OK) {
        nb_schedule_free(s);
        return st;
    }
    *out = s;
    return NB_OK;
}

/* ---- running ------------------------------------------------------------------------------- */

static void run_task(const nb_plan *p, const nb_schedule *s, const nb_task *t) {
    const nb_instr *ins = &p->instrs[t->instr];
    const nb_dtype dt = p->dtype;
    const size_t es = nb_dtype_size(dt);
    switch (ins->kind) {
    case NB_I_MM:
        if (s->split[t->instr] == NB_SPLIT_K && s->units[t->unit].reduce)
            nb_gemm_chunks_reduce(&ins->gemm, s->scratch + s->scratch_at[t->instr], t->nchunks, t->rect.r0, t->rect.r1);
        else
            nb_gemm_call_run_alone(&t->gemm);
        return;
    case NB_I_CLAMP_MASK:
    case NB_I_MASK_BWD: {
        /* whole rows are one run; a column block is a run per row */
        const bool whole_rows = t->rect.c0 == 0 && t->rect.c1 == t->cols;
        const int64_t width = t->rect.c1 - t->rect.c0;
        for (int64_t r = t->rect.r0; r < t->rect.r1; r += whole_rows ? t->rect.r1 - t->rect.r0 : 1) {
            const int64_t at = r * t->cols + t->rect.c0, n = whole_rows ? (t->rect.r1 - r) * t->cols : width;
            if (ins->kind == NB_I_CLAMP_MASK)
                nb_fused_clamp_mask(dt, n, (char *)ins->o[0] + at * es, (uint8_t *)ins->o[1] + at,
                                    (const char *)ins->x[0] + at * es, ins->scalar, ins->strict);
            else
                nb_fused_mask_backward(dt, n, (char *)ins->o[0] + at * es, (const char *)ins->x[0] + at * es,
                                       (const uint8_t *)ins->x[1] + at, ins->first);
        }
        return;
    }
    default: nb_ew_loop_run_here(&t->loop); return;
    }
}

typedef struct phase_job {
    const nb_plan *p;
    const nb_schedule *s;
    const nb_sphase *f;
    int limit; /* instructions from here on are not run */
} phase_job;

static void run_member(void *ctx, int member, int count) {
    (void)count;
    const phase_job *j = ctx;
    for (int t = j->f->begin[member]; t < j->f->begin[member + 1]; t++)
        if (j->s->tasks[t].instr < j->limit) run_task(j->p, j->s, &j->s->tasks[t]);
}

void nb_schedule_run(const nb_plan *p, const nb_schedule *s, int limit) {
    for (int ph = 0; ph < s->nphases && s->units[s->phases[ph].first].instr < limit; ph++) {
        const nb_sphase *f = &s->phases[ph];
        if (!f->parallel) {
            for (int u = f->first; u < f->end && s->units[u].instr < limit; u++)
                nb_instr_exec(p, &p->instrs[s->units[u].instr]);
            continue;
        }
        phase_job job = {p, s, f, limit};
        if (s->kernel->openmp_threads) {
            /* one pool awake at a time (gemm.h): the kernel's is OpenMP's, so the blocks go there
             * too; a team granted fewer threads runs the other members' parts in turn */
#pragma omp parallel num_threads(s->members)
            for (int m = omp_get_thread_num(); m < s->members; m += omp_get_num_threads())
                run_member(&job, m, s->members);
        } else if (nb_team_for(s->members, s->members, run_member, &job) != NB_OK) {
            for (int m = 0; m < s->members; m++) run_member(&job, m, s->members);
        }
        /* a cut product's FLOPs and test perturbation, once, when its last unit is done */
        for (int u = f->first; u < f->end; u++) {
            const int i = s->units[u].instr;
            const bool last = s->split[i] != NB_SPLIT_K || s->units[u].reduce;
            if (i < limit && last && p->instrs[i].kind == NB_I_MM) nb_gemm_call_account(&p->instrs[i].gemm);
        }
    }
}

int nb_schedule_members(const nb_schedule *s) { return s->members; }
const nb_kernel *nb_schedule_kernel(const nb_schedule *s) { return s->kernel; }

void nb_schedule_describe(const nb_plan *p, const nb_schedule *s, FILE *f) {
    int parallel = 0;
    for (int ph = 0; ph < s->nphases; ph++) parallel += s->phases[ph].parallel;
    fprintf(f, "schedule: %d members, %d phases (%d parallel), model cost %.1f us/step\n", s->members, s->nphases,
            parallel, s->cost_ns / 1000.0);
    for (int ph = 0; ph < s->nphases; ph++) {
        const nb_sphase *sp = &s->phases[ph];
        fprintf(f, "  phase %d (%s):", ph, sp->parallel ? "parallel" : "serial");
        for (int u = sp->first; u < sp->end; u++) {
            const int i = s->units[u].instr;
            const char *stage = s->split[i] != NB_SPLIT_K ? "" : s->units[u].reduce ? " sum" : " chunks";
            fprintf(f, " %s[%s%s]", nb_instr_name(&p->instrs[i]), split_names[s->split[i]], stage);
        }
        fputc('\n', f);
    }
}

nb_status nb_plan_print_schedule(const nb_plan *p, int threads, FILE *out) {
    if (!p || !out) return nb_error(NB_ERR_ARG, "plan schedule: %s is NULL", p ? "the stream" : "the plan");
    nb_schedule *s;
    NB_TRY(nb_schedule_build(p, threads, nb_runtime_kernel(), NULL, &s));
    nb_schedule_describe(p, s, out);
    nb_schedule_free(s);
    return NB_OK;
}
