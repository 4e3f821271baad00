/* src/graph/graph_impl.h — what the graph layer's files share and users do not: the symbolic
 * nodes (graph.c builds them), the compiled plan with its values, instructions and arena
 * (compile.c makes it, run.c executes it, dump.c prints it). The arithmetic is the tensor
 * layer's (tensor/loops.h): the plan only fixes which loop runs over which buffers. */
#ifndef NB_GRAPH_GRAPH_IMPL_H
#define NB_GRAPH_GRAPH_IMPL_H

#include <stdio.h>

#include "derivatives/derivatives.h"
#include "graph/graph.h"
#include "tensor/loops.h"

/* ---- the symbolic graph ---------------------------------------------------------------- */

/* A node is an op of the derivatives table (nb_op: its backward is the table's recipe) or one
 * of the two leaves, numbered after the ops. */
typedef enum nb_gleaf { NB_GOP_PLACEHOLDER = NB_OP_COUNT, NB_GOP_PARAMETER } nb_gleaf;
typedef int nb_gop; /* an nb_op or an nb_gleaf */

/* "mm", ..., "placeholder", "parameter" */
const char *nb_gop_name(nb_gop op);

#define NB_GNODE_MAX_INPUTS 2
#define NB_GNAME_SIZE 32

struct nb_gnode {
    nb_graph *graph;
    int id; /* index in graph->nodes: creation order */
    nb_gop op;
    int ninputs;
    nb_gnode *inputs[NB_GNODE_MAX_INPUTS];
    double scalar;          /* pow's exponent, clamp's min, add/mul_scalar's s */
    nb_reduction reduction; /* mse */
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    char name[NB_GNAME_SIZE];
    nb_tensor *param; /* parameters: a view of the caller's tensor, owned */
};

struct nb_graph {
    nb_dtype dtype;
    nb_gnode **nodes;
    int count, capacity;
    int refcount; /* the caller's, plus one per plan compiled from it */
};

/* Drops one reference; frees the graph with the last. */
void nb_graph_release(nb_graph *g);

/* ---- the compiled plan -------------------------------------------------------------------- */

typedef struct nb_schedule nb_schedule;

typedef enum nb_vkind {
    NB_VAL_INPUT, /* a placeholder's storage: the arena's front, live for the plan's life */
    NB_VAL_PARAM, /* the caller's parameter, outside the arena */
    NB_VAL_TEMP,  /* a forward value or a gradient, placed in the arena by liveness */
    NB_VAL_MASK,  /* one byte per element (1: the gradient passes), placed by liveness */
    NB_VAL_VIEW   /* the transpose of another value: no storage of its own */
} nb_vkind;

#define NB_VNAME_SIZE 40

typedef struct nb_pvalue {
    char name[NB_VNAME_SIZE];
    nb_vkind kind;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t numel;
    int view_of; /* VIEW: the value it is the transpose of; else -1 */
    int node;    /* the graph node it holds or is the gradient of; -1 for temporaries */
    bool is_grad;
    size_t bytes;  /* INPUT, TEMP, MASK: storage, rounded up to NB_GRAPH_ALIGN */
    size_t offset; /* INPUT, TEMP, MASK: byte offset in the arena */
    int def, last; /* first and last instruction that touch it; -1 when none does */
    bool keep;     /* read after a run (the loss, kept gradients): live to the end */
    int took_over; /* the value whose buffer it was written into in place, or -1 */
    nb_tensor *t;  /* its header (NULL for masks and views) */
    nb_tensor *tt; /* its transposed header, made when an instruction needs one */
    bool owns_t;   /* false for parameters: t is the graph's view */
} nb_pvalue;

/* Buffers start on a cache line (and an AVX-512 load). */
#define NB_GRAPH_ALIGN 64

typedef enum nb_ikind {
    NB_I_EW, /* o = ew(x, y, s): one elementwise op of the tensor layer (ins->ew) */
    /* gradient accumulation, as the dynamic engine adds into zeroed gradients; `first`
     * reads 0 instead of o */
    NB_I_ACC_SUM_TO, /* o += alpha * x summed down to o's shape (add_sum_to_'s arithmetic) */
    NB_I_ACC_SCALAR, /* o = o + item(x) / s (sum's and mean's backward) */
    /* reductions and matmul */
    NB_I_SUM,  /* o = sum(x), blocked, in double */
    NB_I_MEAN, /* o = sum(x) / numel */
    NB_I_MM,   /* o = x @ y, or o += x @ y when not first: one GEMM call */
    /* fused */
    NB_I_SQDIFF_SUM, /* loss = sum((x - y)^2); dx = 2 (x - y); dy = -dx: sub, pow, sum and
                        their backward from the seed 1, in one pass */
    NB_I_CLAMP_MASK, /* o = clamp_min(x, s) and mask = x >= s (x > s for relu): the forward
                        keeps a byte mask instead of x for the backward */
    NB_I_MASK_BWD,   /* o (+)= mask ? x : 0: clamp_min's (or relu's) backward from the mask */
    NB_I_SGD,        /* w = w - lr * g, the product rounded first: mul_scalar, sub, assign */
    NB_I_COUNT
} nb_ikind;

extern const char *const nb_ikind_names[NB_I_COUNT];

#define NB_INSTR_MAX_OUT 3
#define NB_INSTR_MAX_IN 3

typedef struct nb_instr {
    nb_ikind kind;
    nb_ew_op ew;                /* NB_I_EW: the op */
    nb_plan_stage stage;        /* FORWARD, GRADIENTS (backward) or STEP (update) */
    int out[NB_INSTR_MAX_OUT];  /* values written, -1 when absent */
    int in[NB_INSTR_MAX_IN];    /* values read, -1 when absent */
    bool in_t[NB_INSTR_MAX_IN]; /* input i is read transposed */
    double scalar;              /* EW's s; ACC_SUM_TO's alpha; ACC_SCALAR's divisor; SGD's lr */
    bool first;                 /* a gradient's first contribution: write, do not add */
    bool strict;                /* CLAMP_MASK: relu's mask x > s rather than clamp's x >= s */
    const char *fused;          /* the ops a fused instruction stands for; NULL when not fused */
    int node;                   /* the graph node it comes from, or -1 */
    /* decided at the end of compile */
    nb_ew_loop loop;           /* EW, the accumulations and SGD: the tensor layer's loop */
    nb_gemm_call gemm;         /* NB_I_MM: the tensor layer's GEMM call, never with copies */
    void *o[NB_INSTR_MAX_OUT]; /* fused kinds, reductions: first elements */
    const void *x[NB_INSTR_MAX_IN];
    int64_t n;          /* fused kinds, reductions: elements */
    nb_tensor *sum_dst; /* ACC_SUM_TO when the shapes differ: nb_sum_to_run's operands */
    const nb_tensor *sum_src;
    uint64_t flops, bytes; /* for the op profiler: GEMM FLOPs, bytes read and written */
} nb_instr;

struct nb_plan {
    nb_graph *graph; /* a reference */
    nb_dtype dtype;
    nb_pvalue *values;
    int nvalues, values_cap;
    nb_instr *instrs;
    int ninstrs, instrs_cap;
    int stage_end[3];      /* nb_plan_run(upto) runs instructions [0, stage_end[upto]) */
    int loss;              /* the loss's value */
    int nnodes;            /* graph->count at compile time */
    int *node_value;       /* node id -> its value, -1 when the plan does not compute it */
    int *node_grad;        /* node id -> its kept gradient's value, -1 when none is kept */
    int forward_nodes;     /* ops in the forward graph */
    nb_graph_options opts; /* wrt cleared: the caller's array is not kept */
    nb_schedule *sched;    /* the per-thread schedule of the last multithreaded run, or NULL */
    nb_tensor *arena;      /* the one allocation */
    char *arena_data;
    size_t input_bytes, planned_bytes, per_value_bytes;
};

/* An instruction's name in dumps and profiles: its elementwise op's, or its kind's. */
const char *nb_instr_name(const nb_instr *ins);

/* Resolves value v (transposed when `transposed`) to a header: views become their root's
 * header or its transpose. NULL for masks. */
const nb_tensor *nb_plan_header(const nb_plan *p, int v, bool transposed);
/* The value that owns v's storage (v itself unless v is a view). */
int nb_plan_root(const nb_plan *p, int v);

/* For tests: checks that no two values whose live ranges overlap share bytes of the arena,
 * except a value written in place over one that dies at that instruction. Returns NB_OK or
 * NB_ERR_ARG naming the first conflict. */
nb_status nb_plan_check_memory(const nb_plan *p);

static inline int64_t nb_graph_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* The steps of nb_graph_compile, in order, each on the plan the one before left (compile.c):
 * values and instructions (lower.c), their buffers placed in the arena (memory.c), and every
 * instruction's loop or GEMM call over those buffers (resolve.c). */
nb_status nb_plan_lower(nb_plan *p, nb_gnode *loss, nb_gnode *const *params, int nparams, const nb_graph_options *o);
nb_status nb_plan_place(nb_plan *p);
nb_status nb_plan_resolve(nb_plan *p);

/* Executes instruction `ins` (run.c). */
void nb_instr_exec(const nb_plan *p, const nb_instr *ins);

/* ---- the per-thread schedule (schedule.c) ------------------------------------------------------
 * The plan's instructions cut into per-member blocks and grouped into phases for `members`
 * threads (2..64) under `kernel` (whose block_invariant decides whether products are cut). Built
 * once per member count and kernel; the results are the instruction-at-a-time results, bit for
 * bit. */
#define NB_PLAN_SCHEDULE_MAX_MEMBERS 64
/* How an instruction is cut: not at all (run on the caller), into row or column blocks of its
 * output, or a product into its kernel's k chunks (gemm.h, k_chunk) summed in k order. */
typedef enum nb_sched_split {
    NB_SPLIT_WHOLE = 0,
    NB_SPLIT_ROWS,
    NB_SPLIT_COLS,
    NB_SPLIT_K,
    NB_SPLIT_COUNT
} nb_sched_split;
/* forced: one split per instruction (tests; one an instruction cannot take runs it whole), or
 * NULL for the cost model's choice. */
nb_status nb_schedule_build(const nb_plan *p, int members, const nb_kernel *kernel, const nb_sched_split *forced,
                            nb_schedule **out);
void nb_schedule_free(nb_schedule *s);
int nb_schedule_members(const nb_schedule *s);
const nb_kernel *nb_schedule_kernel(const nb_schedule *s);
/* Runs instructions [0, limit) by the schedule. */
void nb_schedule_run(const nb_plan *p, const nb_schedule *s, int limit);
/* Its phases and splits, one line per phase (`nabla graph --schedule`). */
void nb_schedule_describe(const nb_plan *p, const nb_schedule *s, FILE *f);

#endif
