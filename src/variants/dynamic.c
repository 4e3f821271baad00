/* src/variants/dynamic.c — the tutorial's "Control Flow + Weight Sharing": DynamicNet draws,
 * on every forward, how many times (0 to 3) to reuse its middle layer, so each step builds a
 * different graph and the middle weights collect gradient from every use. The draw comes from
 * the torch-compatible generator (torch.randint(0, 4, (1,)).item()), so runs replay. */
#include "base/alloc.h"
#include "variants/module_net.h"

/* Gradient checks compare repeated evaluations (and an f32 model with an f64 one), so they
 * need the same graph every time: they use this fixed depth, which still reuses the middle
 * layer, instead of a draw. */
#define CHECK_DEPTH 2
/* The draw is torch.randint(0, MAX_DEPTH + 1): the deepest forward uses the middle layer this
 * often (the footprint counts that step). */
#define MAX_DEPTH 3

typedef struct dynamic_net {
    nb_module base;
    nb_module *input_linear;  /* Linear(D_in, H) */
    nb_module *middle_linear; /* Linear(H, H), shared by every middle step */
    nb_module *output_linear; /* Linear(H, D_out) */
    nb_rng *rng;              /* borrowed: the variant's generator */
    bool fixed_depth;
} dynamic_net;

static nb_var *dynamic_forward(nb_module *self, nb_var *x) {
    dynamic_net *net = (dynamic_net *)self;
    nb_var *h_relu = nb_ag_clamp_min(nb_module_forward(net->input_linear, x), 0.0); /* (N, H) */
    int64_t depth = net->fixed_depth ? CHECK_DEPTH : nb_rng_randint(net->rng, 0, MAX_DEPTH + 1);
    for (int64_t i = 0; i < depth; i++)
        h_relu = nb_ag_clamp_min(nb_module_forward(net->middle_linear, h_relu), 0.0); /* (N, H) */
    return nb_module_forward(net->output_linear, h_relu);                             /* (N, D_out) */
}

static nb_status dynamic_parameters(nb_module *self, nb_param_list *list) {
    dynamic_net *net = (dynamic_net *)self;
    NB_TRY(nb_module_parameters(net->input_linear, list));
    NB_TRY(nb_module_parameters(net->middle_linear, list));
    return nb_module_parameters(net->output_linear, list);
}

static void dynamic_destroy(nb_module *self) {
    dynamic_net *net = (dynamic_net *)self;
    nb_module_free(net->input_linear);
    nb_module_free(net->middle_linear);
    nb_module_free(net->output_linear);
}

static const nb_module_vtable dynamic_vtable = {
    .type = "DynamicNet",
    .forward = dynamic_forward,
    .parameters = dynamic_parameters,
    .destroy = dynamic_destroy,
};

static nb_module *dynamic_net_new(const nb_train_config *cfg, nb_rng *rng) {
    dynamic_net *net = nb_alloc_zeroed(sizeof *net);
    if (!net) {
        nb_error(NB_ERR_NOMEM, "out of memory creating DynamicNet");
        return NULL;
    }
    net->base.vtable = &dynamic_vtable;
    net->rng = rng;
    net->fixed_depth = cfg->grad_check;
    net->input_linear = nb_linear_new(cfg->d_in, cfg->hidden, true, cfg->dtype, rng);
    net->middle_linear = net->input_linear ? nb_linear_new(cfg->hidden, cfg->hidden, true, cfg->dtype, rng) : NULL;
    net->output_linear = net->middle_linear ? nb_linear_new(cfg->hidden, cfg->d_out, true, cfg->dtype, rng) : NULL;
    if (!net->output_linear) {
        nb_module_free(&net->base);
        return NULL;
    }
    return &net->base;
}

static const char *const dynamic_names[] = {"input_linear.weight", "input_linear.bias",    "middle_linear.weight",
                                            "middle_linear.bias",  "output_linear.weight", "output_linear.bias"};

/* optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9) */
static nb_optimizer *sgd_momentum(nb_var *const *params, int nparams, double lr) {
    nb_sgd_options o = nb_sgd_defaults(lr);
    o.momentum = 0.9;
    return nb_sgd_new(params, nparams, o);
}

/* DynamicNet on module_net's loop, SGD with momentum (one buffer per parameter, made at the
 * first step):
 *   x, y (and x.grad for gradient checks)                   module_net
 *   Linear(D_in, H), Linear(H, H), Linear(H, D_out)         weights, biases, .grad, momentum
 * A step's graph at the deepest draw, freed when its scope ends:
 *   forward  the input linear and its clamp, then per reuse the middle linear and its
 *            clamp: 2 + 2 * MAX_DEPTH outputs (N, H); the output linear's and MSELoss's
 *            squares (N, D_out); the loss ()
 *   backward the seed (); a dout for every (N, H) output above and for the output linear
 *            (N, D_out); the middle layer's gradients accumulate into its .grad in place
 * counted as all live at once (an upper bound of what the allocator's cache keeps, which
 * after a deep step holds the shallower steps' blocks too). */
static bool dynamic_footprint(const nb_train_config *cfg, int64_t *bytes) {
    const int64_t n = cfg->batch, h = cfg->hidden, d_out = cfg->d_out;
    nb_fp f;
    nb_module_net_footprint_begin(&f, cfg);
    nb_fp_linear(&f, cfg->d_in, h, 1);
    nb_fp_linear(&f, h, h, 1);
    nb_fp_linear(&f, h, d_out, 1);
    nb_fp_tensors(&f, 2 * (2 + 2 * MAX_DEPTH), n, h);
    nb_fp_tensors(&f, 3, n, d_out);
    nb_fp_tensors(&f, 2, 1, 1);
    return nb_fp_end(&f, bytes);
}

static const nb_module_net_spec dynamic_spec = {
    .build = dynamic_net_new,
    .optimizer = sgd_momentum,
    .param_names = dynamic_names,
};

static nb_status dynamic_create(const nb_train_config *cfg, double lr, void **state) {
    return nb_module_net_create(&dynamic_spec, cfg, lr, state);
}

const nb_variant nb_variant_dynamic = {
    .name = "dynamic",
    .description = "DynamicNet: a middle layer reused 0-3 times per forward (drawn), SGD with momentum",
    .default_lr = 1e-4,
    .create = dynamic_create,
    .step = nb_module_net_step,
    .destroy = nb_module_net_destroy,
    .loss_and_grad = nb_module_net_loss_and_grad,
    .grad_entries = nb_module_net_grad_entries,
    .footprint = dynamic_footprint,
};
