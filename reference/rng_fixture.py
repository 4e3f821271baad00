"""reference/rng_fixture.py -- writes tests/data/rng_torch.txt, the bit patterns PyTorch's CPU
generator draws, which tests/test_rng.c replays through src/tensor/rng.c bit for bit.

Usage (Debian's torch is importable only from /usr/bin/python3):
    /usr/bin/python3 reference/rng_fixture.py [--out tests/data/rng_torch.txt]
The script sets ATEN_CPU_CAPABILITY=default itself before importing torch (torch's AVX2 and
AVX-512 normal/uniform kernels differ in the last bits; the scalar default path is the one
nabla replicates) and refuses to run if torch reports another capability. The output is
deterministic: running it twice gives the same file.

Format (line oriented, '#' lines are comments; docs/rng.md has the full description):
    fixture nabla-rng 1
    torch <torch.__version__>
    capability <capability>
    case <name> <seed | fresh>   seed: torch.manual_seed(seed); fresh: a new torch.Generator()
    op <kind> <dtype> <n> <p1> <p2> <fnv1a64> <nhead> <hex>... <ntail> <hex>...
    end
kinds: normal (p1 mean, p2 std; contiguous), normal_serial (the same on a strided view, which
torch fills element by element on the double path at any size; replayed as n one-element
calls), uniform (p1 from, p2 to), all with p1, p2 as float.hex();
randint (p1 low, p2 high) as decimal integers; linear_weight / linear_bias (p1 fan_in,
p2 the bound torch used, as float.hex()). dtype is f32, f64 or i64. The hash is FNV-1a 64
over the little-endian bytes of every element's bit pattern; values are the element bit
patterns in hex (8 digits for f32, 16 for f64 and i64). n <= 32 stores every value;
larger tensors store the first and last 8.
"""

import argparse
import math
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

DTYPES = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64}


def capability():
    """torch 1.13 has no API for the dispatch level; its build summary reports it."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            value = line.split(":", 1)[1].strip()
            return "default" if value == "NO AVX" else value
    return None


def bit_patterns(t):
    """Element bit patterns of a tensor as unsigned Python ints, plus their byte width."""
    t = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.float32:
        return [v & 0xFFFFFFFF for v in t.view(torch.int32).tolist()], 4
    if t.dtype == torch.float64:
        return [v & MASK64 for v in t.view(torch.int64).tolist()], 8
    if t.dtype == torch.int64:
        return [v & MASK64 for v in t.tolist()], 8
    raise ValueError(f"unsupported dtype {t.dtype}")


def fnv1a64(patterns, width):
    h = FNV_OFFSET
    for v in patterns:
        for b in v.to_bytes(width, "little"):
            h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


class Writer:
    def __init__(self):
        self.lines = []
        self.names = set()
        self.gen = None

    def case(self, name, seed):
        """Starts a case: 'seed' is an int for manual_seed, or None for a fresh Generator."""
        assert name not in self.names, name
        self.names.add(name)
        if seed is None:
            self.gen = torch.Generator()
        else:
            torch.manual_seed(seed)  # exactly what a user script calls
            self.gen = torch.random.default_generator
        self.lines.append(f"case {name} {'fresh' if seed is None else seed}")

    def end(self):
        self.lines.append("end")
        self.gen = None

    def record(self, kind, dtype, t, p1, p2):
        assert t.dtype == DTYPES[dtype], (t.dtype, dtype)
        pats, width = bit_patterns(t)
        digits = 2 * width
        n = len(pats)
        if n <= SMALL:
            head, tail = pats, []
        else:
            head, tail = pats[:EDGE], pats[-EDGE:]
        fields = ["op", kind, dtype, str(n), p1, p2, f"{fnv1a64(pats, width):016x}"]
        fields.append(str(len(head)))
        fields += [f"{v:0{digits}x}" for v in head]
        fields.append(str(len(tail)))
        fields += [f"{v:0{digits}x}" for v in tail]
        self.lines.append(" ".join(fields))

    # The draws, all on this case's generator (torch.randn etc. with generator=; for a
    # seeded case that is the default generator, so generator= changes nothing).
    def randn(self, dtype, *shape):
        self.normal(dtype, 0.0, 1.0, *shape, via_randn=True)

    def normal(self, dtype, mean, std, *shape, via_randn=False):
        if via_randn:
            t = torch.randn(*shape, dtype=DTYPES[dtype], generator=self.gen)
        else:
            t = torch.empty(*shape, dtype=DTYPES[dtype]).normal_(mean, std, generator=self.gen)
        self.record("normal", dtype, t, float(mean).hex(), float(std).hex())

    def normal_serial(self, dtype, mean, std, n):
        """normal_ on a non-contiguous view: torch takes the per-element double path
        (cached second sample included) even for n >= 16, as it does for n < 16."""
        t = torch.empty(2 * n, dtype=DTYPES[dtype])[::2]
        assert not t.is_contiguous()
        t.normal_(mean, std, generator=self.gen)
        self.record("normal_serial", dtype, t, float(mean).hex(), float(std).hex())

    def rand(self, dtype, *shape):
        t = torch.rand(*shape, dtype=DTYPES[dtype], generator=self.gen)
        self.record("uniform", dtype, t, (0.0).hex(), (1.0).hex())

    def uniform(self, dtype, lo, hi, *shape):
        t = torch.empty(*shape, dtype=DTYPES[dtype]).uniform_(lo, hi, generator=self.gen)
        self.record("uniform", dtype, t, float(lo).hex(), float(hi).hex())

    def randint(self, dtype, low, high, *shape):
        t = torch.randint(low, high, shape, dtype=DTYPES[dtype], generator=self.gen)
        self.record("randint", dtype, t, str(low), str(high))

    def linear(self, dtype, fan_in, fan_out):
        """nn.Linear(fan_in, fan_out) default init on this generator, as torch 1.13 does it."""
        # nn.init draws from the process-wide generator, which seeded cases use.
        assert self.gen is torch.random.default_generator
        layer = torch.nn.Linear(fan_in, fan_out, dtype=DTYPES[dtype])
        # Bounds exactly as torch.nn.init computes them (kaiming_uniform_ with a=sqrt(5)).
        a = math.sqrt(5)
        gain = math.sqrt(2.0 / (1 + a ** 2))
        w_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
        b_bound = 1 / math.sqrt(fan_in)
        self.record("linear_weight", dtype, layer.weight, str(fan_in), w_bound.hex())
        self.record("linear_bias", dtype, layer.bias, str(fan_in), b_bound.hex())


def build(w):
    seeds = [0, 1, 42, 2**32 - 1, 2**32 + 7]
    sizes = [1, 3, 15, 16, 17, 31, 64000]

    # A fresh torch.Generator() is seeded with default_rng_seed_val = 67280421310721.
    # (torch's *process-wide* default generator is seeded nondeterministically instead.)
    w.case("fresh_generator", None)
    w.randn("f32", 3)
    w.randn("f32", 20)
    w.rand("f64", 2)
    w.end()

    for s in seeds:
        for dt in ("f32", "f64"):
            for n in sizes:
                w.case(f"randn_{dt}_n{n}_seed{s}", s)
                w.randn(dt, n)
                w.end()
            for n in (1, 17, 64000):
                w.case(f"rand_{dt}_n{n}_seed{s}", s)
                w.rand(dt, n)
                w.end()
        w.case(f"randint_0_4_seed{s}", s)
        for _ in range(4):
            w.randint("i64", 0, 4, 1)  # the dynamic net's per-step draw
        w.randint("i64", 0, 4, 1000)
        w.end()
        w.case(f"randint_wide_seed{s}", s)
        w.randint("i64", -(2**40) - 5, 2**41 + 3, 20)   # range >= 2^32: random64
        w.randint("i64", -7, 2**32 - 8, 20)             # range = 2^32 - 1: random()
        w.randint("i64", -9, 2**32 - 9, 20)             # range = 2^32 exactly: random64
        w.end()

    # The cached second Box-Muller sample crossing calls, dtypes and other distributions.
    for s in (0, 42):
        for dt in ("f32", "f64"):
            w.case(f"cache_chain_{dt}_seed{s}", s)
            for n in (1, 3, 1, 5, 15, 17, 1):
                w.randn(dt, n)
            w.end()
        w.case(f"cache_mixed_seed{s}", s)
        w.randn("f64", 3)
        w.randn("f32", 1)
        w.randn("f32", 2)
        w.randint("i64", 0, 4, 1)         # randint does not touch the cache
        w.randn("f64", 1)
        w.rand("f32", 5)
        w.randn("f32", 1)
        w.randn("f64", 16)                # the n >= 16 path neither uses nor sets it
        w.randn("f32", 1)
        w.randn("f32", 1)
        w.end()

    # mean/std not representable in float: the small path keeps them in double, the
    # 16-wide path casts them to the dtype first. Also uniform_ with a general interval.
    w.case("normal_mean_std_seed3", 3)
    for dt in ("f32", "f64"):
        w.normal(dt, 0.1, 1.7, 5)
        w.normal(dt, 0.1, 1.7, 37)
        w.normal(dt, -2.3, 0.3, 1)
        w.normal(dt, 0.1, 1.7, 4000)
    w.end()

    # Many samples of the per-element double path (a strided view takes it at any size):
    # log(1 - u) against log1p(-u) and the mean/std precision differ only now and then.
    w.case("normal_serial_seed11", 11)
    w.normal_serial("f64", 0.0, 1.0, 4000)
    w.normal_serial("f32", 0.0, 1.0, 4000)
    w.normal_serial("f32", 0.1, 1.7, 4000)
    w.normal_serial("f64", 0.1, 1.7, 1001)  # odd: leaves a cached sample for the next op
    w.normal("f32", 0.1, 1.7, 1)
    w.end()
    w.case("uniform_interval_seed4", 4)
    for dt in ("f32", "f64"):
        w.uniform(dt, -0.1, 0.7, 1000)
        w.uniform(dt, -1.0 / 3.0, 1.0 / 3.0, 7)
        w.uniform(dt, 5.0, 5.0, 3)
    w.end()
    w.case("randint_float_dtypes_seed5", 5)
    w.randint("f32", -3, 10, 20)
    w.randint("f64", -3, 10, 20)
    w.randint("f64", -(2**40), 2**40, 20)  # range >= 2^32 in a float dtype: random64
    w.end()

    # The tutorial: x, y, w1, w2 (N=64, D_in=1000, H=100, D_out=10) after manual_seed(0).
    N, D_in, H, D_out = 64, 1000, 100, 10
    for dt in ("f32", "f64"):
        w.case(f"tutorial_tensors_{dt}", 0)
        w.randn(dt, N, D_in)
        w.randn(dt, N, D_out)
        w.randn(dt, D_in, H)
        w.randn(dt, H, D_out)
        for _ in range(3):
            w.randint("i64", 0, 4, 1)
        w.end()
        w.case(f"linear_init_{dt}", 0)
        w.linear(dt, D_in, H)
        w.linear(dt, H, D_out)
        w.end()
        w.case(f"tutorial_nn_{dt}", 0)   # the nn variants: x, y, then the layers
        w.randn(dt, N, D_in)
        w.randn(dt, N, D_out)
        w.linear(dt, D_in, H)
        w.linear(dt, H, D_out)
        w.end()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "tests", "data", "rng_torch.txt"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out, help="fixture path (default: %(default)s)")
    args = ap.parse_args()

    cap = capability()
    if cap != "default":
        sys.exit(f"rng_fixture.py: torch runs the '{cap}' CPU capability; "
                 "ATEN_CPU_CAPABILITY=default did not take effect")
    torch.set_num_threads(1)

    w = Writer()
    build(w)
    header = [
        "# PyTorch CPU generator draws for tests/test_rng.c; generated by",
        "# reference/rng_fixture.py (do not edit by hand; docs/rng.md describes the format).",
        "fixture nabla-rng 1",
        f"torch {torch.__version__}",
        f"capability {cap}",
    ]
    text = "\n".join(header + w.lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="ascii") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(w.names)} cases, "
          f"{sum(l.startswith('op ') for l in w.lines)} ops, {len(text)} bytes")


if __name__ == "__main__":
    main()
