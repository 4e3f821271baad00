"""reference/nn_optim_fixture.py -- writes tests/data/nn_optim_torch.txt: nn.Linear's default
initialisation and torch.optim.SGD / Adam trajectories as PyTorch 1.13 computes them, which
tests/test_nn.c and tests/test_optim.c replay through src/nn and src/optim bit for bit.

Usage (Debian's torch is importable only from /usr/bin/python3):
    /usr/bin/python3 reference/nn_optim_fixture.py [--out tests/data/nn_optim_torch.txt]
The script sets ATEN_CPU_CAPABILITY=default before importing torch and refuses to run on
another capability: torch's AVX2 kernels fuse `a + alpha * b` (add_ with alpha, addcmul_)
into one FMA, the scalar default path that nabla replicates rounds the product first.
The output is deterministic: running it twice gives the same file.

Format (line oriented; '#' lines are comments):
    fixture nabla-nn-optim 1
    torch <torch.__version__>
    capability <capability>
  nn.Linear initialisation, one block per torch.manual_seed:
    linear_case <name> <f32|f64> <seed>
    randn <tensor>                     a torch.randn draw made before the layers (x, y)
    linear <in> <out> <bias 0|1>       nn.Linear(in, out, bias) constructed next
    weight <tensor>                    its weight, then (when bias is 1) its bias
    bias <tensor>
    end
  an optimizer's inputs (initial params, then each step's grads; the same for every case):
    stream <name> <f32|f64> <nparams> <nsteps>
    param <i> <ndim> <shape...> <n> <hex>...
    grad <step> <i> <n> <hex>...       n = 0: p.grad is None for that step
    end
  a trajectory: the options, then every param after every optimizer.step():
    optim_case <name> <stream> sgd <lr> <momentum> <dampening> <weight_decay> <nesterov 0|1>
    optim_case <name> <stream> adam <lr> <beta1> <beta2> <eps> <weight_decay>
    after <step> <i> <n> <hex>...
    end
<tensor> is `<ndim> <shape...> <fnv1a64> <nhead> <hex>... <ntail> <hex>...`: FNV-1a 64 over
the little-endian bytes of every element's bit pattern, then every value when numel <= 32,
else the first and last 8. Values are element bit patterns in hex (8 digits for f32, 16 for
f64); options are Python floats written with float.hex().
"""

import argparse
import os
import sys

# Before importing torch: the capability is fixed when ATen first dispatches a kernel.
os.environ["ATEN_CPU_CAPABILITY"] = "default"

import torch  # noqa: E402

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
SMALL = 32  # tensors up to this size are stored whole
EDGE = 8    # otherwise: first and last EDGE values
DTYPES = {"f32": torch.float32, "f64": torch.float64}
STEPS = 10


def capability():
    """torch 1.13 has no API for the dispatch level; its build summary reports it."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            value = line.split(":", 1)[1].strip()
            return "default" if value == "NO AVX" else value
    return None


def bit_patterns(t):
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.float32:
        return [v & 0xFFFFFFFF for v in t.view(torch.int32).tolist()], 4
    if t.dtype == torch.float64:
        return [v & MASK64 for v in t.view(torch.int64).tolist()], 8
    raise ValueError(f"unsupported dtype {t.dtype}")


def hexes(t):
    pats, width = bit_patterns(t)
    return [f"{v:0{2 * width}x}" for v in pats]


def fnv1a64(patterns, width):
    h = FNV_OFFSET
    for v in patterns:
        for b in v.to_bytes(width, "little"):
            h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def tensor_record(t):
    pats, width = bit_patterns(t)
    n = len(pats)
    head, tail = (pats, []) if n <= SMALL else (pats[:EDGE], pats[-EDGE:])
    fields = [str(t.dim())] + [str(s) for s in t.shape]
    fields.append(f"{fnv1a64(pats, width):016x}")
    for part in (head, tail):
        fields.append(str(len(part)))
        fields += [f"{v:0{2 * width}x}" for v in part]
    return " ".join(fields)


def values_record(t):
    """`<n> <hex>...`: every value of a small tensor."""
    h = hexes(t)
    return " ".join([str(len(h))] + h)


# ---- nn.Linear initialisation -----------------------------------------------------------

def linear_case(lines, name, dt, seed, draws, layers):
    """torch.manual_seed(seed), then torch.randn(*shape) for each of draws, then
    nn.Linear(in, out, bias) for each of layers, all in dtype dt (the process-wide generator,
    which nn.init uses)."""
    torch.manual_seed(seed)
    lines.append(f"linear_case {name} {dt} {seed}")
    for shape in draws:
        lines.append("randn " + tensor_record(torch.randn(*shape, dtype=DTYPES[dt])))
    for fan_in, fan_out, bias in layers:
        layer = torch.nn.Linear(fan_in, fan_out, bias=bias, dtype=DTYPES[dt])
        lines.append(f"linear {fan_in} {fan_out} {int(bias)}")
        lines.append("weight " + tensor_record(layer.weight))
        if bias:
            lines.append("bias " + tensor_record(layer.bias))
    lines.append("end")


def linear_cases(lines):
    N, D_in, H, D_out = 64, 1000, 100, 10
    for dt in ("f32", "f64"):
        # The tutorial's nn / optim programs: x, y, then Sequential(Linear, ReLU, Linear).
        linear_case(lines, f"tutorial_{dt}", dt, 0, [(N, D_in), (N, D_out)],
                    [(D_in, H, True), (H, D_out, True)])
        # Small layers stored whole; a layer without bias draws no bias values; fan_in 1.
        linear_case(lines, f"small_{dt}", dt, 7, [],
                    [(3, 2, True), (5, 3, False), (2, 2, True), (1, 4, True)])


# ---- optimizers -------------------------------------------------------------------------

# Three params: p0 and p1 get a gradient every step except p1 at SKIP_STEP (its .grad is
# None then, so torch skips it: no momentum update, no Adam step count); p2 never gets one.
SHAPES = [(2, 3), (4,), (3,)]
SKIP_STEP = 3
# Gradient magnitudes from 1e-7 to 10: with Adam, sqrt(v) of the small ones is comparable
# to eps, so where eps is added (and in which dtype) changes bits.
SCALES = {0: [1.0, 1e-3, 1e-7, 10.0, 0.5, 3e-5], 1: [2.0, 1e-6, 0.25, 1.0]}


def make_stream(lines, name, dt, seed):
    torch.manual_seed(seed)
    dtype = DTYPES[dt]
    params = [torch.randn(*s, dtype=dtype) for s in SHAPES]
    grads = []
    for step in range(STEPS):
        row = []
        for i in range(len(SHAPES)):
            if i == 2 or (i == 1 and step == SKIP_STEP):
                row.append(None)
            else:
                scale = torch.tensor(SCALES[i], dtype=dtype).reshape(SHAPES[i])
                row.append(torch.randn(*SHAPES[i], dtype=dtype) * scale)
        grads.append(row)
    lines.append(f"stream {name} {dt} {len(SHAPES)} {STEPS}")
    for i, p in enumerate(params):
        shape = " ".join(str(s) for s in p.shape)
        lines.append(f"param {i} {p.dim()} {shape} {values_record(p)}")
    for step, row in enumerate(grads):
        for i, g in enumerate(row):
            lines.append(f"grad {step} {i} " + ("0" if g is None else values_record(g)))
    lines.append("end")
    return params, grads


def run_optim(lines, name, stream, params0, grads, kind, opts):
    params = [p.clone().requires_grad_(True) for p in params0]
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=opts["lr"], momentum=opts["momentum"],
                              dampening=opts["dampening"], weight_decay=opts["weight_decay"],
                              nesterov=opts["nesterov"])
        fields = [opts[k].hex() for k in ("lr", "momentum", "dampening", "weight_decay")]
        fields.append(str(int(opts["nesterov"])))
    else:
        opt = torch.optim.Adam(params, lr=opts["lr"], betas=(opts["beta1"], opts["beta2"]),
                               eps=opts["eps"], weight_decay=opts["weight_decay"])
        fields = [opts[k].hex() for k in ("lr", "beta1", "beta2", "eps", "weight_decay")]
    # The single-tensor paths are the ones nabla replicates (foreach=None means False in 1.13).
    assert all(g["foreach"] is None for g in opt.param_groups)
    lines.append(f"optim_case {name} {stream} {kind} " + " ".join(fields))
    for step, row in enumerate(grads):
        for p, g in zip(params, row):
            p.grad = None if g is None else g.clone()
        opt.step()
        for i, p in enumerate(params):
            lines.append(f"after {step} {i} {values_record(p)}")
    lines.append("end")


SGD_CASES = [
    ("sgd_plain", dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd_lr", dict(lr=0.0123, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd_momentum", dict(lr=1e-3, momentum=0.9, dampening=0.0, weight_decay=0.0,
                          nesterov=False)),
    ("sgd_dampening", dict(lr=1e-3, momentum=0.9, dampening=0.1, weight_decay=0.0,
                           nesterov=False)),
    ("sgd_weight_decay", dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.01,
                              nesterov=False)),
    ("sgd_all", dict(lr=3e-2, momentum=0.7, dampening=0.3, weight_decay=0.05, nesterov=False)),
    ("sgd_nesterov", dict(lr=1e-3, momentum=0.9, dampening=0.0, weight_decay=0.01,
                          nesterov=True)),
]
ADAM_CASES = [
    ("adam_default", dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)),
    ("adam_weight_decay", dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01)),
    ("adam_eps", dict(lr=0.1, beta1=0.5, beta2=0.9, eps=1e-4, weight_decay=0.0)),
]


def optim_cases(lines):
    for dt, seed in (("f64", 11), ("f32", 12)):
        stream = f"grads_{dt}"
        params0, grads = make_stream(lines, stream, dt, seed)
        for name, opts in SGD_CASES:
            run_optim(lines, f"{name}_{dt}", stream, params0, grads, "sgd", opts)
        for name, opts in ADAM_CASES:
            run_optim(lines, f"{name}_{dt}", stream, params0, grads, "adam", opts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "tests", "data",
                                                "nn_optim_torch.txt"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out, help="fixture path (default: %(default)s)")
    args = ap.parse_args()

    cap = capability()
    if cap != "default":
        sys.exit(f"nn_optim_fixture.py: torch runs the '{cap}' CPU capability; "
                 "ATEN_CPU_CAPABILITY=default did not take effect")
    torch.set_num_threads(1)

    lines = []
    linear_cases(lines)
    optim_cases(lines)
    header = [
        "# nn.Linear init and SGD/Adam trajectories for tests/test_nn.c and tests/test_optim.c;",
        "# generated by reference/nn_optim_fixture.py (do not edit by hand; the format is",
        "# described at the top of that script).",
        "fixture nabla-nn-optim 1",
        f"torch {torch.__version__}",
        f"capability {cap}",
    ]
    text = "\n".join(header + lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="ascii") as f:
        f.write(text)
    ncases = sum(l.startswith(("linear_case ", "optim_case ")) for l in lines)
    print(f"wrote {args.out}: {ncases} cases, {len(text)} bytes")


if __name__ == "__main__":
    main()
