"""reference/generate.py — writes the PyTorch reference fixtures that `nabla verify
--reference` reads: one directory per case under reference/fixtures/, laid out exactly as
docs/reference-format.md specifies (manifest.json, losses.npy, initial.*, grad0.*, final.*).
Each case runs a twin's train() (reference/<variant>.py) in this process with a Recorder.

    /usr/bin/python3 reference/generate.py                    # every case (`make reference`)
    /usr/bin/python3 reference/generate.py --cases 'nn-*'     # a subset, by shell-style glob
    /usr/bin/python3 reference/generate.py --check reference/fixtures
                  # regenerate into a scratch directory and compare; exit 1 on any difference
    python3 reference/generate.py --list                      # the case names; needs no torch

Generating also rewrites reference/cases.txt, the committed list of every case name that
CMake compiles into nabla: `nabla verify` expects exactly those cases, so a case missing from
the fixtures fails it. --check fails when cases.txt is not what this script would write.

torch runs with one thread and ATEN_CPU_CAPABILITY=default, so the output is deterministic
on a given machine: the same run twice writes identical bytes. Debian's torch is importable
only from /usr/bin/python3.
"""
import argparse
import difflib
import fnmatch
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import twin  # noqa: E402

# One thread for OpenMP, OpenBLAS and torch (OpenBLAS ignores torch.set_num_threads), and
# torch's scalar CPU kernels, whose random draws nabla replicates bit for bit. All of it must
# be in the environment before torch is imported. OPENBLAS_CORETYPE is left as it is: it is
# recorded, never changed (../shared/notes/torch-oracle.md).
THREADS = 1
# A capability asked for explicitly is refused in main(), not silently overridden.
REQUESTED_CAPABILITY = os.environ.get("ATEN_CPU_CAPABILITY")
twin.prepare_environment(THREADS)

# numpy and torch are imported by import_torch(), after the environment above is set: the
# case list (--list, cases.txt) comes from the twins' constants alone, so it needs neither.
np = torch = None

FORMAT = "nabla-reference/1"
# The format pins the torch release: torch promises no RNG stability across releases, and
# nabla's reader rejects any other version.
TORCH_VERSION = "1.13.0a0"
# Tensors above this many elements are stored as a strided sample (the hash covers them whole).
SAMPLE_LIMIT = 4096
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
NPY_DTYPES = {"f32": "<f4", "f64": "<f8"}
# Manifest fields that may differ between a correct regeneration and the committed fixtures
# without the tensors differing. None is expected to: every field is fixed by the case or
# by the pinned torch, and openblas_coretype changes the OpenBLAS kernels, hence the data.
VARYING_FIELDS = ()

# The twins in `nabla train --variant` order, each with the parameter names nabla gives its
# grad_entries (docs/reference-format.md); the twin's names are checked against them.
TWINS = ["tensors", "autograd", "custom_function", "static_graph", "nn", "optim", "module", "dynamic"]
PARAM_NAMES = {
    "tensors": ["w1", "w2"],
    "autograd": ["w1", "w2"],
    "custom-function": ["w1", "w2"],
    "static-graph": ["w1", "w2"],
    "nn": ["0.weight", "0.bias", "2.weight", "2.bias"],
    "optim": ["0.weight", "0.bias", "2.weight", "2.bias"],
    "module": ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"],
    "dynamic": ["input_linear.weight", "input_linear.bias", "middle_linear.weight",
                "middle_linear.bias", "output_linear.weight", "output_linear.bias"],
}
SEED_DIMS = (64, 1000, 100, 10)  # the tutorial's N, D_in, H, D_out
ODD_DIMS = (7, 13, 5, 3)         # every dimension distinct, odd and prime: no lucky blocking
TINY_DIMS = (1, 3, 8, 1)         # a batch and an output of one
# The committed list of every case name, in case_configs() order; CMake compiles it into
# nabla (src/CMakeLists.txt), which then knows which cases must exist without listing the
# fixtures directory. Its header lines start with '#'.
CASES_FILE = os.path.join(HERE, "cases.txt")
CASES_HEADER = ("# reference/cases.txt: every PyTorch reference case `nabla verify` expects, one fixtures/\n"
                "# directory name a line, in generate.py's order. reference/generate.py writes it: do not\n"
                "# edit it by hand. CMake compiles it into nabla; a case missing on disk fails verify.\n")


def import_torch():
    """Imports numpy and torch into this module's globals; twin.prepare_environment has
    already run (at import), as it must before torch is imported."""
    global np, torch
    import numpy as np  # noqa: F811
    import torch  # noqa: F811


def load_twins():
    """Imports every twin under a private module name (nn.py, optim.py must not shadow
    anything), keyed by its variant name."""
    twins = {}
    for stem in TWINS:
        spec = importlib.util.spec_from_file_location(f"nabla_twin_{stem}", os.path.join(HERE, f"{stem}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        twins[module.VARIANT] = module
    return twins


def case_configs(twins):
    """Every case, in a fixed order: the seed workload in both dtypes, then small cases with
    odd dimensions and other seeds (one above 2^32: torch keeps its low 32 bits)."""
    plans = [("f32", 0, SEED_DIMS, 500), ("f64", 0, SEED_DIMS, 500),
             ("f64", 1, ODD_DIMS, 60), ("f32", 42, ODD_DIMS, 60),
             ("f64", 4294967301, TINY_DIMS, 20)]
    configs = []
    for dtype, seed, (n, d_in, h, d_out), iters in plans:
        for variant, module in twins.items():
            configs.append({"variant": variant, "dtype": dtype, "seed": seed, "batch": n,
                            "d_in": d_in, "hidden": h, "d_out": d_out, "iters": iters,
                            "lr": module.DEFAULT_LR})
    return configs


def case_name(c):
    """<variant>-<dtype>-s<seed>-<N>x<D_in>x<H>x<D_out>-i<iters>, the format's directory name."""
    return (f"{c['variant']}-{c['dtype']}-s{c['seed']}-"
            f"{c['batch']}x{c['d_in']}x{c['hidden']}x{c['d_out']}-i{c['iters']}")


def cases_text(configs):
    """cases.txt's exact contents for these (all) configs."""
    return CASES_HEADER + "".join(case_name(c) + "\n" for c in configs)


def write_cases_file(configs, path=CASES_FILE):
    """Rewrites cases.txt, atomically, and only when its contents change: CMake reconfigures
    on its timestamp (CMAKE_CONFIGURE_DEPENDS), and every build would otherwise redo that."""
    text = cases_text(configs)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".cases-", suffix=".txt", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    print(f"{path}: {len(configs)} cases", flush=True)


def check_cases_file(configs, path=CASES_FILE):
    """Prints whether cases.txt is what write_cases_file would write; returns the number of
    failures (0 or 1). A stale list would make nabla expect cases generate.py no longer
    makes, or miss new ones."""
    want = cases_text(configs)
    try:
        with open(path, encoding="utf-8") as f:
            have = f.read()
    except OSError as e:
        print(f"check {os.path.basename(path)}: DIFFERS\n  unreadable ({e})")
        return 1
    if have == want:
        print(f"check {os.path.basename(path)}: OK ({len(configs)} cases)")
        return 0
    print(f"check {os.path.basename(path)}: DIFFERS (rewrite it with `make reference`)")
    for line in difflib.unified_diff(have.splitlines(), want.splitlines(), "committed", "generate.py", lineterm="", n=0):
        print(f"  {line}")
    return 1


def capability():
    """torch 1.13 has no API for its CPU dispatch level; its build summary reports it."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            value = line.split(":", 1)[1].strip()
            return "default" if value == "NO AVX" else value
    return None


def fnv1a64(data):
    """64-bit FNV-1a of a bytes object, as 16 lowercase hex digits."""
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return f"{h:016x}"


class FixtureRecorder(twin.Recorder):
    """Keeps a copy of every tensor a twin reports, as numpy arrays in the case dtype."""

    def __init__(self, variant, dtype):
        self.variant = variant
        self.dtype = np.dtype(NPY_DTYPES[dtype])
        self.phases = {}

    def _keep(self, phase, tensors, expected):
        if phase in self.phases:
            raise RuntimeError(f"{self.variant}: the twin reported '{phase}' twice")
        if list(tensors) != expected:
            raise RuntimeError(f"{self.variant}: the twin's {phase} tensors are {list(tensors)}, "
                               f"the format's are {expected}")
        kept = {}
        for name, t in tensors.items():
            if t is None:
                # A parameter the step did not use: its gradient is zero (twin.Recorder).
                kept[name] = np.zeros_like(self.phases["initial"][name])
                continue
            a = t.detach().numpy()
            if a.dtype.kind != "f" or a.dtype.itemsize != self.dtype.itemsize:
                raise RuntimeError(f"{self.variant}: {phase} {name} is {a.dtype}, the case is {self.dtype}")
            # A copy, little-endian and C order: the twin goes on updating the tensor in place.
            kept[name] = np.array(a, dtype=self.dtype, order="C", copy=True)
        self.phases[phase] = kept

    def initial(self, tensors):
        self._keep("initial", tensors, ["x", "y"] + PARAM_NAMES[self.variant])

    def grad0(self, tensors):
        self._keep("grad0", tensors, PARAM_NAMES[self.variant])

    def final(self, tensors):
        self._keep("final", tensors, PARAM_NAMES[self.variant])


def run_case(twins, c):
    """Trains one case; returns (losses as float64, the recorder)."""
    module = twins[c["variant"]]
    argv = ["--seed", str(c["seed"]), "--batch", str(c["batch"]), "--d-in", str(c["d_in"]),
            "--hidden", str(c["hidden"]), "--d-out", str(c["d_out"]), "--iters", str(c["iters"]),
            "--lr", repr(c["lr"]), "--dtype", c["dtype"], "--threads", str(THREADS),
            "--print-every", "0"]
    args = twin.make_args(module.VARIANT, module.DEFAULT_LR, argv)
    if args.lr != c["lr"]:
        raise RuntimeError(f"{case_name(c)}: lr {c['lr']!r} did not round-trip ({args.lr!r})")
    recorder = FixtureRecorder(c["variant"], c["dtype"])
    losses, _ = module.train(args, torch, recorder)
    missing = {"initial", "grad0", "final"} - set(recorder.phases)
    if missing:
        raise RuntimeError(f"{case_name(c)}: the twin never reported {sorted(missing)}")
    if len(losses) != c["iters"]:
        raise RuntimeError(f"{case_name(c)}: {len(losses)} losses for {c['iters']} steps")
    return np.asarray(losses, dtype="<f8"), recorder


def save_npy(path, array):
    # Version 1.0, little-endian, C order: np.save writes 1.0 whenever the header fits.
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


def write_entry(directory, phase, name, array):
    """Writes one tensor (whole, or its strided sample) and returns its manifest ENTRY."""
    numel = int(array.size)
    stride = 1 if numel <= SAMPLE_LIMIT else -(-numel // SAMPLE_LIMIT)
    stored = array if stride == 1 else array.reshape(-1)[::stride]
    file = f"{phase}.{name}.npy"
    save_npy(os.path.join(directory, file), stored)
    return {"name": name, "file": file, "shape": list(array.shape), "numel": numel,
            "stride": stride, "fnv1a64": fnv1a64(array.tobytes(order="C"))}


def write_case(directory, c, losses, recorder, env):
    """Writes a case's files and manifest into `directory` (which exists and is empty)."""
    save_npy(os.path.join(directory, "losses.npy"), losses)
    manifest = {
        "format": FORMAT,
        "case": case_name(c),
        "torch_version": env["torch_version"],
        "aten_cpu_capability": env["aten_cpu_capability"],
        "openblas_coretype": env["openblas_coretype"],
        "threads": THREADS,
        "config": c,
        "losses": {"file": "losses.npy", "count": int(losses.size)},
    }
    for phase in ("initial", "grad0", "final"):
        manifest[phase] = [write_entry(directory, phase, name, a)
                           for name, a in recorder.phases[phase].items()]
    with open(os.path.join(directory, "manifest.json"), "w", encoding="ascii") as f:
        json.dump(manifest, f, indent=2)  # floats as repr; keys in the order built above
        f.write("\n")


def generate(out, twins, configs, env, verbose=True):
    """Writes each case into a temporary directory beside its final place, then renames it
    into place, so a case directory is never seen half-written."""
    os.makedirs(out, exist_ok=True)
    for c in configs:
        name = case_name(c)
        start = time.perf_counter()
        losses, recorder = run_case(twins, c)
        tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=out)
        try:
            write_case(tmp, c, losses, recorder, env)
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
            final = os.path.join(out, name)
            old = None
            if os.path.exists(final):
                # rename() cannot replace a non-empty directory: move the old one aside first.
                old = tempfile.mkdtemp(prefix=f".old-{name}-", dir=out)
                os.rename(final, os.path.join(old, name))
            os.rename(tmp, final)
            if old:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if verbose:
            size = directory_bytes(final)
            print(f"{name}: {size} bytes, {time.perf_counter() - start:.2f} s", flush=True)


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def fixture_summary(out):
    cases = sorted(d for d in os.listdir(out)
                   if os.path.isfile(os.path.join(out, d, "manifest.json")))
    total = sum(directory_bytes(os.path.join(out, d)) for d in cases)
    return f"{out}: {len(cases)} cases, {total} bytes ({total / 1e6:.2f} MB)"


def compare_case(fresh_dir, committed_dir):
    """Every difference between a regenerated case and the committed one, as messages."""
    if not os.path.isdir(committed_dir):
        return ["missing from the committed fixtures"]
    problems = []
    fresh_files, committed_files = sorted(os.listdir(fresh_dir)), sorted(os.listdir(committed_dir))
    for f in sorted(set(fresh_files) - set(committed_files)):
        problems.append(f"{f}: missing from the committed fixtures")
    for f in sorted(set(committed_files) - set(fresh_files)):
        problems.append(f"{f}: committed but no longer generated")
    with open(os.path.join(fresh_dir, "manifest.json"), "rb") as f:
        fresh_bytes = f.read()
    try:
        with open(os.path.join(committed_dir, "manifest.json"), "rb") as f:
            committed_bytes = f.read()
        committed = json.loads(committed_bytes)
    except (OSError, ValueError) as e:
        return problems + [f"manifest.json: unreadable ({e})"]
    fresh = json.loads(fresh_bytes)
    keys = list(dict.fromkeys(list(fresh) + list(committed)))
    for key in keys:
        if key in VARYING_FIELDS or fresh.get(key) == committed.get(key):
            continue
        if key == "openblas_coretype":
            problems.append(f"manifest.json: OPENBLAS_CORETYPE is {fresh.get(key)!r} here but was "
                            f"{committed.get(key)!r} at generation; OpenBLAS's f32/f64 kernels differ "
                            f"between core types, so the tensors may differ too")
        elif key in ("initial", "grad0", "final"):
            problems += [f"manifest.json: {key} {d}" for d in entry_differences(fresh[key], committed.get(key))]
        elif isinstance(fresh.get(key), dict) and isinstance(committed.get(key), dict):
            sub = list(dict.fromkeys(list(fresh[key]) + list(committed[key])))
            problems += [f"manifest.json: {key}.{k}: committed {committed[key].get(k)!r}, "
                         f"regenerated {fresh[key].get(k)!r}"
                         for k in sub if fresh[key].get(k) != committed[key].get(k)]
        else:
            problems.append(f"manifest.json: {key}: committed {committed.get(key)!r}, regenerated {fresh.get(key)!r}")
    if not problems and fresh_bytes != committed_bytes:
        problems.append("manifest.json: same content, different formatting")
    for f in sorted(set(fresh_files) & set(committed_files)):
        if f.endswith(".npy"):
            problem = compare_npy(os.path.join(fresh_dir, f), os.path.join(committed_dir, f))
            if problem:
                problems.append(f"{f}: {problem}")
    return problems


def entry_differences(fresh, committed):
    if not isinstance(committed, list):
        return [f"committed {committed!r}"]
    out = []
    by_name = {e.get("name"): e for e in committed if isinstance(e, dict)}
    if [e["name"] for e in fresh] != [e.get("name") for e in committed if isinstance(e, dict)]:
        out.append(f"names {[e.get('name') for e in committed if isinstance(e, dict)]}, "
                   f"regenerated {[e['name'] for e in fresh]}")
    for e in fresh:
        old = by_name.get(e["name"])
        if old is not None and old != e:
            fields = [k for k in e if old.get(k) != e[k]]
            out.append(f"{e['name']}: " + ", ".join(f"{k}: committed {old.get(k)!r}, regenerated {e[k]!r}"
                                                    for k in fields))
    return out


def compare_npy(fresh_path, committed_path):
    """None when the two files are byte-identical; otherwise what differs."""
    with open(fresh_path, "rb") as f:
        fresh_bytes = f.read()
    with open(committed_path, "rb") as f:
        committed_bytes = f.read()
    if fresh_bytes == committed_bytes:
        return None
    try:
        a, b = np.load(fresh_path), np.load(committed_path)
    except ValueError as e:
        return f"committed file unreadable ({e})"
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"committed {b.dtype} {b.shape}, regenerated {a.dtype} {a.shape}"
    if a.tobytes() == b.tobytes():
        return "same data, different .npy header bytes"
    bits = np.dtype(f"<u{a.itemsize}")
    diff = np.flatnonzero(a.reshape(-1).view(bits) != b.reshape(-1).view(bits))
    with np.errstate(all="ignore"):
        worst = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))
    return f"{diff.size} of {a.size} values differ (first at index {diff[0]}, largest |difference| {worst:.3e})"


def check(committed, twins, configs, all_configs, globs, env):
    """Regenerates into a scratch directory and compares case by case; returns the exit code."""
    # The list first: it is the full one whatever the globs, and costs nothing to compare.
    list_failed = check_cases_file(all_configs)
    failed = 0
    coretype_differs = False
    with tempfile.TemporaryDirectory(prefix="nabla-reference-") as scratch:
        generate(scratch, twins, configs, env, verbose=False)
        names = [case_name(c) for c in configs]
        for name in names:
            problems = compare_case(os.path.join(scratch, name), os.path.join(committed, name))
            coretype_differs |= any("OPENBLAS_CORETYPE" in p for p in problems)
            print(f"check {name}: {'OK' if not problems else 'DIFFERS'}", flush=True)
            for p in problems:
                print(f"  {p}")
            failed += bool(problems)
        # Committed cases the generator no longer makes (within the selected glob) are stale.
        generated = set(names)
        stale = []
        if os.path.isdir(committed):
            stale = sorted(d for d in os.listdir(committed)
                           if os.path.isdir(os.path.join(committed, d)) and not d.startswith(".")
                           and d not in generated and any(fnmatch.fnmatchcase(d, g) for g in globs))
        for d in stale:
            print(f"check {d}: DIFFERS\n  committed but no longer generated")
        failed += len(stale)
    print(fixture_summary(committed) if os.path.isdir(committed) else f"{committed}: missing")
    if failed or list_failed:
        hint = ""
        if coretype_differs:
            hint = (f"; OPENBLAS_CORETYPE is {env['openblas_coretype']!r} here, not the recorded one, "
                    "and OpenBLAS's f32/f64 kernels differ between core types")
        what = [f"{failed} case(s) differ from {committed}"] if failed else []
        what += [f"{os.path.relpath(CASES_FILE)} is not the generator's list"] if list_failed else []
        print(f"FAIL: {' and '.join(what)}{hint}; "
              "regenerate with `make reference` if the change is intended")
        return 1
    print(f"OK: {len(names)} case(s) identical to {committed}, and {os.path.basename(CASES_FILE)} is the generator's list")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(HERE, "fixtures"),
                   help="where the case directories go (default: %(default)s)")
    p.add_argument("--cases", action="append", metavar="GLOB",
                   help="only the cases whose name matches (repeatable; default: all)")
    p.add_argument("--check", metavar="DIR",
                   help="regenerate into a scratch directory and compare with DIR instead of writing")
    p.add_argument("--list", action="store_true",
                   help="print the case names (cases.txt without its header) and exit; needs no torch")
    args = p.parse_args()

    twins = load_twins()
    globs = args.cases or ["*"]
    all_configs = case_configs(twins)
    configs = [c for c in all_configs if any(fnmatch.fnmatchcase(case_name(c), g) for g in globs)]
    if not configs:
        p.error(f"no case matches {globs}; see --list")
    if args.list:
        for c in configs:
            print(case_name(c))
        return 0

    import_torch()

    if REQUESTED_CAPABILITY not in (None, "", "default"):
        sys.exit(f"generate.py: ATEN_CPU_CAPABILITY={REQUESTED_CAPABILITY} in the environment; the "
                 "fixtures need 'default' (torch's vectorised random draws differ in the last bits)")
    cap = capability()
    if cap != "default":
        sys.exit(f"generate.py: torch runs the '{cap}' CPU capability; the fixtures need "
                 "ATEN_CPU_CAPABILITY=default (torch's vectorised random draws differ in the last bits)")
    if torch.__version__ != TORCH_VERSION:
        sys.exit(f"generate.py: torch {torch.__version__}; the fixture format pins {TORCH_VERSION} "
                 "(torch promises no RNG stability across releases)")
    torch.set_num_threads(THREADS)
    env = {"torch_version": torch.__version__, "aten_cpu_capability": cap,
           "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")}

    start = time.perf_counter()
    if args.check:
        code = check(args.check, twins, configs, all_configs, globs, env)
    else:
        # The whole list, whatever the globs: it names what generate.py makes, so a case added
        # here and not generated yet makes `nabla verify` say so rather than skip it.
        write_cases_file(all_configs)
        generate(args.out, twins, configs, env)
        print(fixture_summary(args.out))
        code = 0
    print(f"{len(configs)} case(s) in {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
