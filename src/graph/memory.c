/* src/graph/memory.c — the plan's memory: each value's live range, outputs written in place
 * over inputs that die at their instruction, buffers placed greedily by size in one arena
 * (TFLite's arena planner, XLA's heap simulator), the arena and the tensor headers over it, and
 * the check tests run that no two live values share a byte. */
#include "graph/graph_impl.h"

#include <stdlib.h>

/* ---- liveness and the memory plan ---------------------------------------------------------------- */

int nb_plan_root(const nb_plan *p, int v) {
    while (v >= 0 && p->values[v].kind == NB_VAL_VIEW) v = p->values[v].view_of;
    return v;
}

static void compute_liveness(nb_plan *p) {
    for (int i = 0; i < p->ninstrs; i++) {
        const nb_instr *ins = &p->instrs[i];
        for (int k = 0; k < NB_INSTR_MAX_IN; k++) {
            int r = nb_plan_root(p, ins->in[k]);
            if (r < 0) continue;
            nb_pvalue *v = &p->values[r];
            /* a temporary is always written before it is read */
            NB_ASSERT(v->def >= 0 || (v->kind != NB_VAL_TEMP && v->kind != NB_VAL_MASK));
            v->last = i;
        }
        for (int k = 0; k < NB_INSTR_MAX_OUT; k++) {
            int r = nb_plan_root(p, ins->out[k]);
            if (r < 0) continue;
            nb_pvalue *v = &p->values[r];
            if (v->def < 0) v->def = i;
            v->last = i;
        }
    }
    for (int i = 0; i < p->nvalues; i++)
        if (p->values[i].keep && p->values[i].def >= 0) p->values[i].last = p->ninstrs;
}

/* Whether instruction i may write output slot `o` over the buffer of input slot `k`: an
 * elementwise pass reads element j of the input before it writes element j of the output,
 * so the two may share a buffer when the input dies here and has the output's layout. */
static bool inplace_allowed(const nb_plan *p, const nb_instr *ins, int o, int k) {
    if (ins->in[k] < 0 || ins->in_t[k]) return false;
    const nb_pvalue *out = &p->values[ins->out[o]], *in = &p->values[ins->in[k]];
    if (in->kind != NB_VAL_TEMP) return false; /* not a view, input, parameter or mask */
    bool shape_ok = out->ndim == in->ndim && out->numel == in->numel;
    for (int d = 0; d < out->ndim && shape_ok; d++) shape_ok = out->shape[d] == in->shape[d];
    if (!shape_ok) return false;
    /* another operand reading the same buffer transposed (b + b^T) would see it half written */
    for (int j = 0; j < NB_INSTR_MAX_IN; j++)
        if (j != k && ins->in[j] >= 0 && nb_plan_root(p, ins->in[j]) == ins->in[k] &&
            (ins->in_t[j] || p->values[ins->in[j]].kind == NB_VAL_VIEW))
            return false;
    switch (ins->kind) {
    case NB_I_CLAMP_MASK: return o == 0 && k == 0;
    case NB_I_MASK_BWD: return o == 0 && k == 0 && ins->first;
    case NB_I_SQDIFF_SUM: return (o == 1 && k == 0) || (o == 2 && k == 1);
    case NB_I_ACC_SUM_TO: return o == 0 && k == 0 && ins->first;
    default: return o == 0 && ins->kind == NB_I_EW;
    }
}

/* A buffer of the plan: one value, or a chain of values each written in place over the one
 * before, alive from its first member's definition to its last member's last use. */
typedef struct chain {
    size_t bytes, offset;
    int lo, hi; /* instructions */
} chain;

static int by_size(const void *pa, const void *pb) {
    const chain *a = *(chain *const *)pa, *b = *(chain *const *)pb;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
    return (a->lo > b->lo) - (a->lo < b->lo); /* then earlier first: a deterministic order */
}

/* Greedy by size (TFLite's arena planner, XLA's heap simulator): the largest buffers first,
 * each at the lowest offset where it meets no placed buffer that is alive at the same time.
 * The largest buffers are the long-lived gradients, so the small ones fill around them. */
static void place_chains(chain *chains, int n, chain **sorted) {
    for (int i = 0; i < n; i++) sorted[i] = &chains[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_size);
    for (int i = 0; i < n; i++) {
        chain *c = sorted[i];
        size_t off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < i; j++) {
                const chain *o = sorted[j];
                bool same_time = c->lo <= o->hi && o->lo <= c->hi;
                if (same_time && o->offset < off + c->bytes && off < o->offset + o->bytes) {
                    off = o->offset + o->bytes;
                    moved = true;
                }
            }
        }
        c->offset = off;
    }
}

static nb_status plan_memory(nb_plan *p) {
    /* placeholders first: the front of the arena, for the plan's whole life */
    for (int i = 0; i < p->nvalues; i++) {
        nb_pvalue *v = &p->values[i];
        if (v->kind != NB_VAL_INPUT) continue;
        v->offset = p->input_bytes;
        p->input_bytes += v->bytes;
    }
    const bool reuse = !p->opts.no_reuse;
    /* in place: an output takes over an input that dies at its instruction (one output per
     * input), decided from liveness alone */
    bool *taken = calloc((size_t)p->nvalues, sizeof *taken);
    int *chain_of = malloc((size_t)p->nvalues * sizeof *chain_of);
    chain *chains = calloc((size_t)p->nvalues, sizeof *chains);
    chain **sorted = malloc((size_t)p->nvalues * sizeof *sorted);
    if (!taken || !chain_of || !chains || !sorted) {
        free(taken);
        free(chain_of);
        free(chains);
        free(sorted);
        return nb_error(NB_ERR_NOMEM, "out of memory planning a graph's buffers");
    }
    for (int i = 0; reuse && i < p->ninstrs; i++) {
        const nb_instr *ins = &p->instrs[i];
        for (int o = 0; o < NB_INSTR_MAX_OUT; o++) {
            int v = ins->out[o];
            if (v < 0 || p->values[v].kind != NB_VAL_TEMP || p->values[v].def != i) continue;
            for (int k = 0; k < NB_INSTR_MAX_IN && p->values[v].took_over < 0; k++) {
                if (!inplace_allowed(p, ins, o, k)) continue;
                int u = ins->in[k];
                if (p->values[u].last != i || p->values[u].keep || taken[u] || p->values[u].bytes != p->values[v].bytes)
                    continue;
                taken[u] = true;
                p->values[v].took_over = u;
            }
        }
    }
    /* chains, in value order: a value written in place joins the chain of the one it took over
     * (which comes first: it was defined earlier) */
    int nchains = 0;
    for (int i = 0; i < p->nvalues; i++) {
        nb_pvalue *v = &p->values[i];
        chain_of[i] = -1;
        if ((v->kind != NB_VAL_TEMP && v->kind != NB_VAL_MASK) || v->def < 0) continue;
        p->per_value_bytes += v->bytes;
        int c = v->took_over >= 0 ? chain_of[v->took_over] : -1;
        if (c < 0) {
            c = nchains++;
            chains[c] = (chain){.bytes = v->bytes, .lo = v->def, .hi = v->last};
        }
        chain_of[i] = c;
        if (v->def < chains[c].lo) chains[c].lo = v->def;
        if (v->last > chains[c].hi) chains[c].hi = v->last;
    }
    if (reuse) {
        place_chains(chains, nchains, sorted);
    } else { /* one buffer per value, in order */
        size_t bump = 0;
        for (int c = 0; c < nchains; c++) {
            chains[c].offset = bump;
            bump += chains[c].bytes;
        }
    }
    for (int c = 0; c < nchains; c++)
        if (chains[c].offset + chains[c].bytes > p->planned_bytes)
            p->planned_bytes = chains[c].offset + chains[c].bytes;
    for (int i = 0; i < p->nvalues; i++)
        if (chain_of[i] >= 0) p->values[i].offset = p->input_bytes + chains[chain_of[i]].offset;
    free(taken);
    free(chain_of);
    free(chains);
    free(sorted);
    return NB_OK;
}

nb_status nb_plan_check_memory(const nb_plan *p) {
    size_t size = p->input_bytes + p->planned_bytes;
    for (int i = 0; i < p->nvalues; i++) {
        const nb_pvalue *u = &p->values[i];
        bool placed_u = u->kind == NB_VAL_INPUT || ((u->kind == NB_VAL_TEMP || u->kind == NB_VAL_MASK) && u->def >= 0);
        if (!placed_u) continue;
        if (u->offset % NB_GRAPH_ALIGN || u->offset + u->bytes > size)
            return nb_error(NB_ERR_ARG, "plan: %s at %zu+%zu is misaligned or outside the arena (%zu bytes)", u->name,
                            u->offset, u->bytes, size);
        if (u->kind != NB_VAL_INPUT && u->offset < p->input_bytes)
            return nb_error(NB_ERR_ARG, "plan: %s overlaps the placeholders", u->name);
        for (int j = i + 1; j < p->nvalues; j++) {
            const nb_pvalue *v = &p->values[j];
            bool placed_v =
                v->kind == NB_VAL_INPUT || ((v->kind == NB_VAL_TEMP || v->kind == NB_VAL_MASK) && v->def >= 0);
            if (!placed_v) continue;
            bool bytes_meet = u->offset < v->offset + v->bytes && v->offset < u->offset + u->bytes;
            int64_t ulo = u->kind == NB_VAL_INPUT ? -1 : u->def, uhi = u->kind == NB_VAL_INPUT ? INT32_MAX : u->last;
            int64_t vlo = v->kind == NB_VAL_INPUT ? -1 : v->def, vhi = v->kind == NB_VAL_INPUT ? INT32_MAX : v->last;
            bool times_meet = ulo <= vhi && vlo <= uhi;
            if (!bytes_meet || !times_meet) continue;
            bool handed = (v->took_over == i && u->last == v->def) || (u->took_over == j && v->last == u->def);
            if (!handed)
                return nb_error(NB_ERR_ARG, "plan: %s [%d, %d] and %s [%d, %d] share bytes while both live", u->name,
                                u->def, u->last, v->name, v->def, v->last);
        }
    }
    return NB_OK;
}

/* A header over the arena: contiguous, at byte offset `offset`. */
static nb_tensor *arena_header(nb_plan *p, const nb_pvalue *v) {
    nb_tensor *h = nb_tensor_view(p->arena);
    if (!h) return NULL;
    h->ndim = v->ndim;
    int64_t stride = 1;
    for (int d = NB_MAX_DIMS - 1; d >= 0; d--) {
        h->shape[d] = v->shape[d];
        h->strides[d] = d < v->ndim ? stride : 0;
        if (d < v->ndim) stride *= v->shape[d];
    }
    h->offset = (int64_t)(v->offset / nb_dtype_size(p->dtype));
    return h;
}

nb_status nb_plan_place(nb_plan *p) {
    compute_liveness(p);
    NB_TRY(plan_memory(p));
    size_t total = p->input_bytes + p->planned_bytes;
    if (total < NB_GRAPH_ALIGN) total = NB_GRAPH_ALIGN;
    /* zeros: a gradient read before the first run reads 0, and no byte is uninitialised */
    p->arena = nb_tensor_zeros(p->dtype, 1, (int64_t[]){(int64_t)(total / nb_dtype_size(p->dtype))});
    if (!p->arena) return nb_last_status();
    p->arena_data = nb_tensor_data(p->arena);
    for (int i = 0; i < p->nvalues; i++) {
        nb_pvalue *v = &p->values[i];
        bool placed = v->kind == NB_VAL_INPUT || (v->kind == NB_VAL_TEMP && v->def >= 0);
        if (!placed) continue;
        if (!(v->t = arena_header(p, v))) return nb_last_status();
        v->owns_t = true;
    }
    return NB_OK;
}
