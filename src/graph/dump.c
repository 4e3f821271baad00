/* src/graph/dump.c — showing a compiled plan: its summary figures, a text dump (values with
 * their buffers and live ranges, the schedule with fused groups, the memory plan) and the
 * same as Graphviz DOT, for `nabla graph --dump` and docs/static-graph.md. */
#include "base/file.h"
#include "graph/graph_impl.h"

#include <errno.h>
#include <string.h>

static const char *const stage_names[3] = {"forward", "backward", "update"};
static const char *const kind_names[] = {
    [NB_VAL_INPUT] = "input", [NB_VAL_PARAM] = "param", [NB_VAL_TEMP] = "temp",
    [NB_VAL_MASK] = "mask",   [NB_VAL_VIEW] = "view",
};

nb_plan_info nb_plan_describe(const nb_plan *p) {
    nb_plan_info info = {0};
    if (!p) return info;
    info.graph_nodes = p->forward_nodes;
    info.steps = p->ninstrs;
    for (int i = 0; i < p->ninstrs; i++) {
        info.fused += p->instrs[i].fused != NULL;
        info.gemms += p->instrs[i].kind == NB_I_MM;
    }
    info.memory.input_bytes = p->input_bytes;
    info.memory.planned_bytes = p->planned_bytes;
    info.memory.per_value_bytes = p->per_value_bytes;
    info.memory.arena_bytes = p->arena ? (size_t)nb_tensor_numel(p->arena) * nb_dtype_size(p->dtype) : 0;
    for (int i = 0; i < p->nvalues; i++) {
        const nb_pvalue *v = &p->values[i];
        info.memory.values += (v->kind == NB_VAL_TEMP || v->kind == NB_VAL_MASK) && v->def >= 0;
    }
    return info;
}

static void shape_text(const nb_pvalue *v, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < v->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)v->shape[d]);
    if (used < size) snprintf(buf + used, size - used, v->ndim == 1 ? ",)" : ")");
}

/* "name (shape)" or "name^T (shape)" for operand k of an instruction. */
static void operand_text(const nb_plan *p, int v, bool transposed, char *buf, size_t size) {
    const nb_pvalue *val = &p->values[v];
    char shape[48];
    if (transposed) {
        nb_pvalue t = *val;
        t.shape[0] = val->shape[1];
        t.shape[1] = val->shape[0];
        shape_text(&t, shape, sizeof shape);
    } else {
        shape_text(val, shape, sizeof shape);
    }
    snprintf(buf, size, "%s%s %s", val->name, transposed ? "^T" : "", shape);
}

/* The instruction as an assignment: "dh (64, 100) = mask_backward(dh_relu (64, 100), ...)",
 * a GEMM as "d (m, n) += a (m, k) @ b^T (k, n)". */
static void instr_text(const nb_plan *p, const nb_instr *ins, char *buf, size_t size) {
    char outs[200] = "", args[3][96] = {"", "", ""}, part[96];
    for (int k = 0; k < NB_INSTR_MAX_OUT; k++) {
        if (ins->out[k] < 0) continue;
        operand_text(p, ins->out[k], false, part, sizeof part);
        size_t used = strlen(outs);
        snprintf(outs + used, sizeof outs - used, "%s%s", used ? ", " : "", part);
    }
    int nargs = 0;
    for (int k = 0; k < NB_INSTR_MAX_IN; k++)
        if (ins->in[k] >= 0) operand_text(p, ins->in[k], ins->in_t[k], args[nargs++], sizeof args[0]);
    bool accumulates = !ins->first && (ins->kind == NB_I_MM || ins->kind == NB_I_ACC_SUM_TO ||
                                       ins->kind == NB_I_ACC_SCALAR || ins->kind == NB_I_MASK_BWD);
    const char *op = accumulates ? "+=" : "=";
    if (ins->kind == NB_I_MM) {
        snprintf(buf, size, "%s %s %s @ %s", outs, op, args[0], args[1]);
        return;
    }
    char scalar[48] = "";
    switch (ins->kind) {
    case NB_I_EW:
        if (nb_ew_op_has_scalar(ins->ew)) snprintf(scalar, sizeof scalar, "%s%.17g", nargs ? ", " : "", ins->scalar);
        break;
    case NB_I_CLAMP_MASK:
    case NB_I_ACC_SUM_TO:
    case NB_I_SGD: snprintf(scalar, sizeof scalar, "%s%.17g", nargs ? ", " : "", ins->scalar); break;
    case NB_I_ACC_SCALAR:
        if (ins->scalar != 1.0) snprintf(scalar, sizeof scalar, " / %.17g", ins->scalar);
        break;
    default: break;
    }
    snprintf(buf, size, "%s %s %s(%s%s%s%s%s%s)", outs, op, nb_instr_name(ins), args[0], nargs > 1 ? ", " : "", args[1],
             nargs > 2 ? ", " : "", args[2], scalar);
}

static int stage_of(const nb_plan *p, int i) {
    return i < p->stage_end[NB_PLAN_FORWARD] ? 0 : i < p->stage_end[NB_PLAN_GRADIENTS] ? 1 : 2;
}

void nb_plan_dump(const nb_plan *p, FILE *out) {
    if (!p || !out) return;
    nb_plan_info info = nb_plan_describe(p);
    fprintf(out, "static graph plan: %s, %d ops in the forward graph -> %d instructions (%d GEMM calls, %d fused)\n",
            nb_dtype_name(p->dtype), info.graph_nodes, info.steps, info.gemms, info.fused);
    fprintf(out, "  stages: forward [0, %d), backward [%d, %d), update [%d, %d)\n\n", p->stage_end[0], p->stage_end[0],
            p->stage_end[1], p->stage_end[1], p->stage_end[2]);

    fprintf(out, "values (buffer: byte offset in the arena + size; live: first..last instruction, end = kept):\n");
    fprintf(out, "  %-3s %-20s %-6s %-14s %-22s %s\n", "#", "name", "kind", "shape", "buffer", "live");
    for (int i = 0; i < p->nvalues; i++) {
        const nb_pvalue *v = &p->values[i];
        bool placed = v->kind == NB_VAL_INPUT || ((v->kind == NB_VAL_TEMP || v->kind == NB_VAL_MASK) && v->def >= 0);
        if (!placed && v->kind != NB_VAL_PARAM && v->kind != NB_VAL_VIEW) continue;
        char shape[48], buffer[64], live[48];
        shape_text(v, shape, sizeof shape);
        if (v->kind == NB_VAL_PARAM)
            snprintf(buffer, sizeof buffer, "caller's tensor");
        else if (v->kind == NB_VAL_VIEW)
            snprintf(buffer, sizeof buffer, "transpose of %s", p->values[v->view_of].name);
        else
            snprintf(buffer, sizeof buffer, "@%zu +%zu", v->offset, v->bytes);
        if (v->kind == NB_VAL_INPUT || v->kind == NB_VAL_PARAM || v->kind == NB_VAL_VIEW)
            snprintf(live, sizeof live, "always");
        else if (v->last >= p->ninstrs)
            snprintf(live, sizeof live, "%d..end", v->def);
        else
            snprintf(live, sizeof live, "%d..%d", v->def, v->last);
        fprintf(out, "  %-3d %-20s %-6s %-14s %-22s %s", i, v->name, kind_names[v->kind], shape, buffer, live);
        if (v->took_over >= 0) fprintf(out, "  (in place of %s)", p->values[v->took_over].name);
        fputc('\n', out);
    }

    fprintf(out, "\nschedule (* fused):\n");
    for (int i = 0; i < p->ninstrs; i++) {
        const nb_instr *ins = &p->instrs[i];
        char text[512];
        instr_text(p, ins, text, sizeof text);
        fprintf(out, "  [%2d] %-8s %-15s%s %s\n", i, stage_names[stage_of(p, i)], nb_instr_name(ins),
                ins->fused ? "*" : " ", text);
        if (ins->kind == NB_I_MM)
            fprintf(out, "  %*s gemm %c%c m=%lld n=%lld k=%lld lda=%lld ldb=%lld ldc=%lld beta=%g\n", 29, "",
                    ins->gemm.ta == NB_TRANS ? 'T' : 'N', ins->gemm.tb == NB_TRANS ? 'T' : 'N', (long long)ins->gemm.m,
                    (long long)ins->gemm.n, (long long)ins->gemm.k, (long long)ins->gemm.lda, (long long)ins->gemm.ldb,
                    (long long)ins->gemm.ldc, ins->gemm.beta);
    }

    fprintf(out, "\nfused groups:\n");
    if (!info.fused) fprintf(out, "  none (compiled without fusion)\n");
    for (int i = 0; i < p->ninstrs; i++)
        if (p->instrs[i].fused) fprintf(out, "  [%2d] %-15s %s\n", i, nb_instr_name(&p->instrs[i]), p->instrs[i].fused);

    const nb_plan_memory *m = &info.memory;
    fprintf(out, "\nmemory: one arena of %zu bytes = placeholders %zu + planned peak %zu\n", m->arena_bytes,
            m->input_bytes, m->planned_bytes);
    fprintf(out, "  one buffer per value would take %zu bytes for the same %d values", m->per_value_bytes, m->values);
    if (m->per_value_bytes > 0)
        fprintf(out, ": the plan needs %.1f%% of that\n",
                100.0 * (double)m->planned_bytes / (double)m->per_value_bytes);
    else
        fputc('\n', out);
    fprintf(out, "  (parameters stay in the caller's tensors and are not counted)\n");
}

/* A DOT string literal's contents: quotes and backslashes escaped. */
static void dot_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
}

/* The DOT text of plan `ctx` into f (base/file.h's writer: stream errors are caught there). */
static bool write_dot(FILE *f, void *ctx) {
    const nb_plan *p = ctx;
    fprintf(f, "digraph plan {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n");
    fprintf(f, "  edge [fontname=\"monospace\", fontsize=9];\n");
    /* values */
    for (int i = 0; i < p->nvalues; i++) {
        const nb_pvalue *v = &p->values[i];
        bool used = v->kind == NB_VAL_INPUT || v->kind == NB_VAL_PARAM || v->kind == NB_VAL_VIEW || v->def >= 0;
        if (!used) continue;
        char shape[48], buffer[64] = "";
        shape_text(v, shape, sizeof shape);
        if (v->kind == NB_VAL_INPUT || v->kind == NB_VAL_TEMP || v->kind == NB_VAL_MASK)
            snprintf(buffer, sizeof buffer, "\\n@%zu +%zu", v->offset, v->bytes);
        fprintf(f, "  v%d [shape=%s, label=\"", i,
                v->kind == NB_VAL_PARAM   ? "doubleoctagon"
                : v->kind == NB_VAL_INPUT ? "invhouse"
                : v->kind == NB_VAL_MASK  ? "note"
                                          : "ellipse");
        dot_escape(f, v->name);
        fprintf(f, "\\n%s %s%s\"];\n", kind_names[v->kind], shape, buffer);
        if (v->kind == NB_VAL_VIEW) fprintf(f, "  v%d -> v%d [style=dashed, label=\"t\"];\n", v->view_of, i);
    }
    /* instructions, one cluster per stage */
    for (int s = 0; s < 3; s++) {
        int lo = s == 0 ? 0 : p->stage_end[s - 1], hi = p->stage_end[s];
        if (lo == hi) continue;
        fprintf(f, "  subgraph cluster_%s {\n    label=\"%s\";\n    style=rounded;\n", stage_names[s], stage_names[s]);
        for (int i = lo; i < hi; i++) {
            const nb_instr *ins = &p->instrs[i];
            fprintf(f, "    i%d [shape=box, label=\"[%d] %s%s\"%s];\n", i, i, nb_instr_name(ins),
                    ins->kind == NB_I_MM && !ins->first ? " (+=)" : "",
                    ins->fused ? ", style=filled, fillcolor=\"#cfe2ff\"" : "");
        }
        fprintf(f, "  }\n");
    }
    for (int i = 0; i < p->ninstrs; i++) {
        const nb_instr *ins = &p->instrs[i];
        for (int k = 0; k < NB_INSTR_MAX_IN; k++)
            if (ins->in[k] >= 0) fprintf(f, "  v%d -> i%d%s;\n", ins->in[k], i, ins->in_t[k] ? " [label=\"^T\"]" : "");
        for (int k = 0; k < NB_INSTR_MAX_OUT; k++)
            if (ins->out[k] >= 0) fprintf(f, "  i%d -> v%d;\n", i, ins->out[k]);
    }
    fprintf(f, "}\n");
    return true;
}

nb_status nb_plan_write_dot(const nb_plan *p, const char *path) {
    if (!p || !path) return nb_error(NB_ERR_ARG, "plan dot: %s is NULL", p ? "path" : "plan");
    /* atomically: a full disk or a signal never leaves half a graph under the name */
    return nb_file_write_atomic(path, write_dot, (void *)p);
}
