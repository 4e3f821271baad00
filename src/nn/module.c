/* src/nn/module.c — the module machinery of nn.h: the parameter list, vtable dispatch
 * (forward, parameters, zero_grad, free), and the two parameterless built-ins, nn.ReLU and
 * nn.Sequential. nn.Linear is in linear.c. */
#include "nn/nn.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"

/* ---- parameter list ------------------------------------------------------------------- */

nb_status nb_param_list_push(nb_param_list *list, nb_var *param) {
    if (!list) return nb_error(NB_ERR_ARG, "param_list_push: list is NULL");
    if (!param) return nb_error(NB_ERR_ARG, "param_list_push: param is NULL");
    if (list->count < 0 || list->count > list->capacity || (list->capacity > 0 && !list->items))
        return nb_error(NB_ERR_ARG, "param_list_push: list is not initialised (zero it first)");
    if (list->count == list->capacity) {
        int cap = list->capacity ? 2 * list->capacity : 8;
        if (cap <= list->capacity)
            return nb_error(NB_ERR_NOMEM, "param_list_push: more than %d params", list->capacity);
        nb_var **grown = nb_realloc(list->items, (size_t)cap * sizeof *grown);
        if (!grown) return nb_error(NB_ERR_NOMEM, "param_list_push: out of memory");
        list->items = grown;
        list->capacity = cap;
    }
    list->items[list->count++] = param;
    return NB_OK;
}

void nb_param_list_free(nb_param_list *list) {
    if (!list) return;
    nb_free(list->items);
    /* Zeroed, so the list can be reused or freed again. */
    list->items = NULL;
    list->count = list->capacity = 0;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

nb_var *nb_module_forward(nb_module *m, nb_var *x) {
    if (!m || !m->vtable || !m->vtable->forward) {
        nb_error(NB_ERR_ARG, "module forward: module is NULL or has no forward");
        return NULL;
    }
    /* A NULL input is an earlier failure whose message is already set: propagate it. */
    if (!x) return NULL;
    return m->vtable->forward(m, x);
}

nb_status nb_module_parameters(nb_module *m, nb_param_list *list) {
    if (!m || !m->vtable) return nb_error(NB_ERR_ARG, "module parameters: module is NULL");
    if (!list) return nb_error(NB_ERR_ARG, "module parameters: list is NULL");
    if (!m->vtable->parameters) return NB_OK; /* a module without parameters */
    int before = list->count;
    nb_status st = m->vtable->parameters(m, list);
    /* All or nothing: a failure halfway leaves the list as it was. */
    if (st != NB_OK && list->count > before) list->count = before;
    return st;
}

nb_status nb_module_zero_grad(nb_module *m) {
    nb_param_list params = {0};
    nb_status st = nb_module_parameters(m, &params);
    if (st == NB_OK)
        for (int i = 0; i < params.count; i++) nb_var_zero_grad(params.items[i]);
    nb_param_list_free(&params);
    return st;
}

void nb_module_free(nb_module *m) {
    if (!m) return;
    if (m->vtable && m->vtable->destroy) m->vtable->destroy(m);
    nb_free(m);
}

/* ---- nn.ReLU ----------------------------------------------------------------------------- */

static nb_var *relu_forward(nb_module *self, nb_var *x) {
    (void)self;
    return nb_ag_relu(x); // x (any shape) -> same shape
}

static const nb_module_vtable relu_vtable = {
    .type = "ReLU", .forward = relu_forward, .parameters = NULL, .destroy = NULL};

nb_module *nb_relu_new(void) {
    nb_module *m = nb_alloc_zeroed(sizeof *m);
    if (!m) {
        nb_error(NB_ERR_NOMEM, "ReLU: out of memory");
        return NULL;
    }
    m->vtable = &relu_vtable;
    return m;
}

/* ---- nn.Sequential ----------------------------------------------------------------------- */

typedef struct nb_sequential {
    nb_module base;
    nb_module **children; /* owned */
    int n;
} nb_sequential;

/* Chains the children. Each child's output is owned like an op result, and the vars between
 * children are this function's to drop: with a scope open the scope drops them, without one
 * the caller would have to, and forward cannot tell which case it is in. So the first n-1
 * children run inside an inner scope, which drops everything they made at its end (the graph
 * keeps what backward needs: nodes hold their inputs); the last child's input is retained
 * across the scope end, and the last child runs outside it, so the result is owned exactly as
 * a single op's result would be (by the caller's scope, else by the caller). */
static nb_var *sequential_forward(nb_module *self, nb_var *x) {
    nb_sequential *s = (nb_sequential *)self;
    if (s->n == 1) return nb_module_forward(s->children[0], x);
    nb_scope *inner = nb_scope_begin();
    if (!inner) {
        nb_error(NB_ERR_NOMEM, "Sequential forward: out of memory");
        return NULL;
    }
    nb_var *h = x;
    for (int i = 0; i < s->n - 1 && h; i++) h = nb_module_forward(s->children[i], h);
    if (h) nb_var_retain(h);
    nb_scope_end(inner);
    if (!h) return NULL;
    nb_var *out = nb_module_forward(s->children[s->n - 1], h);
    nb_var_release(h);
    return out;
}

static nb_status sequential_parameters(nb_module *self, nb_param_list *list) {
    nb_sequential *s = (nb_sequential *)self;
    for (int i = 0; i < s->n; i++) NB_TRY(nb_module_parameters(s->children[i], list));
    return NB_OK;
}

static void sequential_destroy(nb_module *self) {
    nb_sequential *s = (nb_sequential *)self;
    for (int i = 0; i < s->n; i++) nb_module_free(s->children[i]);
    nb_free(s->children);
    s->children = NULL;
    s->n = 0;
}

static const nb_module_vtable sequential_vtable = {.type = "Sequential",
                                                   .forward = sequential_forward,
                                                   .parameters = sequential_parameters,
                                                   .destroy = sequential_destroy};

/* Frees each distinct module once (a list may name the same module twice by mistake). */
static void free_modules(nb_module **modules, int n) {
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = modules[j] == modules[i];
        if (!seen) nb_module_free(modules[i]);
    }
}

nb_module *nb_sequential_new(nb_module **modules, int n) {
    if (n < 1 || !modules) {
        if (modules && n > 0) free_modules(modules, n);
        nb_error(NB_ERR_ARG, "Sequential: needs at least one module (got %d%s)", n, modules ? "" : ", modules is NULL");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!modules[i]) {
            /* Usually a constructor in the argument list failed: keep its message. */
            char earlier[400];
            snprintf(earlier, sizeof earlier, "%s", nb_last_error());
            free_modules(modules, n);
            nb_error(NB_ERR_ARG, "Sequential: module %d is NULL%s%s", i, earlier[0] ? "; last error: " : "", earlier);
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (modules[j] == modules[i]) {
                /* Sequential owns its children: one module twice would be freed twice. */
                free_modules(modules, n);
                nb_error(NB_ERR_ARG, "Sequential: modules %d and %d are the same module", j, i);
                return NULL;
            }
        }
    }
    nb_sequential *s = nb_alloc_zeroed(sizeof *s);
    nb_module **children = s ? nb_alloc((size_t)n * sizeof *children) : NULL;
    if (!s || !children) {
        nb_free(s);
        nb_free(children);
        free_modules(modules, n);
        nb_error(NB_ERR_NOMEM, "Sequential: out of memory");
        return NULL;
    }
    memcpy(children, modules, (size_t)n * sizeof *children);
    s->base.vtable = &sequential_vtable;
    s->children = children;
    s->n = n;
    return &s->base;
}
