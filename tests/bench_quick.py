"""tests/bench_quick.py — the smoke of `make bench`: runs `bench/run.sh NABLA --quick --out DIR`
and checks what it leaves: every file there and parsing, bench.json with timed cases and the
OpenBLAS and torch context, the neighbours/ and large/ sets with their dimension in every case, sweep.json with rows, hyperfine.json with every run's times, real
PNGs, and a report.md whose every link resolves. Numbers are not judged: a benchmark is not
a timed test (DESIGN.md). Exits 77 (ctest's skip) when torch, matplotlib or hyperfine is missing.

    /usr/bin/python3 tests/bench_quick.py --nabla build/nabla --out build/tests/bench_quick
    /usr/bin/python3 tests/bench_quick.py --check-only DIR     # only check an existing DIR
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# ctest's skip; CI sets NABLA_NO_SKIP=1 (.ci/run), where a missing tool is a broken install and a
# skipped check would be a silent pass, so there it fails instead.
SKIP = 1 if os.environ.get("NABLA_NO_SKIP") == "1" else 77
ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNGS = ["bench_loops.png", "sweep_squares.png", "sweep_seed.png", "hyperfine.png", "losses.png", "losses_reldiff.png"]
TEXT_FILES = ["bench.csv", "bench.md", "sweep.csv", "sweep.md", "hyperfine.md", "hyperfine.csv", "context.md",
              "losses.md", "report.md"]
CONTEXT_KEYS = ["cpu_model", "online_cpus", "environment", "openblas_config", "openblas_core", "openblas_threading",
                "compiler", "c_flags", "build_type", "git_revision", "date"]


class Checks:
    """Collects failures so one run reports all of them, not only the first."""

    def __init__(self):
        self.failures = []

    def expect(self, ok, message):
        if not ok:
            self.failures.append(message)
        return ok


def load_json(c, path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        c.expect(False, f"{path.name} is missing")
    except ValueError as e:
        c.expect(False, f"{path.name} is not JSON: {e}")
    return None


def positive(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0


def check_bench(c, d):
    doc = load_json(c, d / "bench.json")
    if doc is None:
        return
    cases = doc.get("cases") or []
    c.expect(cases, "bench.json has no cases")
    for case in cases:
        label = f"bench.json case {case.get('variant')}/{case.get('kernel')}/{case.get('threads')}"
        c.expect("error" not in case, f"{label} failed: {case.get('error')}")
        c.expect(positive(case.get("median_s")), f"{label} has no positive median_s")
    c.expect(any(case.get("kernel") == "torch" for case in cases), "bench.json has no PyTorch twin case")
    ctx = doc.get("context") or {}
    for key in CONTEXT_KEYS:
        c.expect(ctx.get(key) not in (None, ""), f"bench.json's context lacks {key}")
    c.expect(ctx.get("openblas_threading") in ("sequential", "pthreads", "openmp"),
             f"bench.json's openblas_threading is {ctx.get('openblas_threading')!r}")
    c.expect(isinstance(ctx.get("torch_version"), str) and ctx["torch_version"],
             f"bench.json's context has torch_version {ctx.get('torch_version')!r}, not the twins' version")


def check_bench_set(c, d, name, want):
    """A set of its own (neighbours/, large/): every case timed, without error, twins included,
    and `want(case)` true of each: the dimension the set is about is in every record."""
    doc = load_json(c, d / name / "bench.json")
    if doc is None:
        return
    cases = doc.get("cases") or []
    c.expect(cases, f"{name}/bench.json has no cases")
    for case in cases:
        label = f"{name}/bench.json case {case.get('variant')}/{case.get('kernel')}/{case.get('threads')}"
        c.expect("error" not in case, f"{label} failed: {case.get('error')}")
        c.expect(positive(case.get("median_s")), f"{label} has no positive median_s")
        c.expect(want(case), f"{label} lacks the set's dimension: {case}")
    c.expect(any(case.get("kernel") == "torch" for case in cases), f"{name}/bench.json has no PyTorch twin case")
    for name_md in ("bench.md", "bench.csv"):
        path = d / name / name_md
        c.expect(path.is_file() and path.stat().st_size > 0, f"{name}/{name_md} is missing or empty")


def check_sets(c, d):
    check_bench_set(c, d, "neighbours", lambda case: case.get("neighbours") in (0, 1))
    doc = load_json(c, d / "neighbours" / "bench.json") or {}
    for kernel in ("blas", "torch"):
        got = sorted(case.get("neighbours") for case in doc.get("cases", []) if case.get("kernel") == kernel)
        c.expect(got == [0, 1], f"neighbours/bench.json: {kernel} cases have neighbours {got}, not [0, 1]")
    c.expect((doc.get("config") or {}).get("neighbours_started", 0) > 0, "neighbours/bench.json started no neighbour")
    check_bench_set(c, d, "large", lambda case: (case.get("batch"), case.get("d_in"), case.get("hidden"),
                                                 case.get("d_out")) == (512, 2048, 1024, 100))


def check_sweep(c, d):
    doc = load_json(c, d / "sweep.json")
    if doc is None:
        return
    rows = doc.get("rows") or []
    c.expect(rows, "sweep.json has no rows")
    for key in ("context", "config", "peak"):
        c.expect(key in doc, f"sweep.json lacks {key}")
    for r in rows:
        ok = all(k in r for k in ("group", "shape", "dtype", "threads", "kernel", "median_s", "gflops"))
        if not c.expect(ok, f"sweep.json row lacks a key of the schema: {r}"):
            break
        c.expect(r["group"] in ("seed", "square"), f"sweep.json row has group {r['group']!r}")
        c.expect(positive(r["gflops"]), f"sweep.json row {r['kernel']} {r['shape']} has gflops {r['gflops']!r}")
    c.expect({r.get("group") for r in rows} >= {"seed", "square"}, "sweep.json lacks seed or square rows")


def check_hyperfine(c, d):
    doc = load_json(c, d / "hyperfine.json")
    if doc is None:
        return
    results = doc.get("results") or []
    c.expect(results, "hyperfine.json has no results")
    for r in results:
        times = r.get("times") or []
        c.expect(times and all(positive(t) for t in times), f"hyperfine.json: {r.get('command')} has no times")
        c.expect(all(code == 0 for code in r.get("exit_codes") or [1]),
                 f"hyperfine.json: {r.get('command')} exited {r.get('exit_codes')}")
    c.expect(any("pytorch" in (r.get("command") or "") for r in results), "hyperfine.json has no PyTorch twin")


def check_files(c, d):
    for name in PNGS:
        path = d / name
        if c.expect(path.is_file(), f"{name} is missing"):
            with open(path, "rb") as f:
                c.expect(f.read(8) == PNG_MAGIC, f"{name} is not a PNG")
    for name in TEXT_FILES:
        path = d / name
        c.expect(path.is_file() and path.stat().st_size > 0, f"{name} is missing or empty")
    losses = sorted((d / "losses").glob("nabla-*.json"))
    c.expect(losses, "losses/nabla-*.json are missing")
    for path in losses:
        doc = load_json(c, path)
        if doc is not None:
            c.expect(len(doc.get("losses") or []) == 500, f"{path.name} does not hold 500 losses")


def check_report(c, d):
    path = d / "report.md"
    if not path.is_file():
        return  # check_files said so
    text = path.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    c.expect(links, "report.md links nothing")
    for target in links:
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        c.expect(not target.startswith("/"), f"report.md links {target} by an absolute path")
        c.expect((d / target.split("#")[0]).is_file(), f"report.md links {target}, which does not exist")
    for name in PNGS:
        c.expect(f"]({name})" in text, f"report.md does not show {name}")


def missing_tools(python_ok):
    missing = [m for m in ("torch", "matplotlib", "numpy") if importlib.util.find_spec(m) is None]
    if shutil.which("hyperfine") is None:
        missing.append("hyperfine")
    if not python_ok:
        missing.append("/usr/bin/python3")
    return missing


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nabla", help="the nabla binary to run the suite with")
    p.add_argument("--out", type=Path, help="where the suite writes (emptied first)")
    p.add_argument("--check-only", type=Path, metavar="DIR", help="check DIR without running the suite")
    args = p.parse_args()
    if args.check_only:
        d = args.check_only
    else:
        if not args.nabla or not args.out:
            p.error("--nabla and --out are needed unless --check-only DIR")
        missing = missing_tools(Path("/usr/bin/python3").is_file())
        if missing:
            print(f"SKIP: bench/run.sh needs {', '.join(missing)}")
            return SKIP
        d = args.out
        shutil.rmtree(d, ignore_errors=True)
        cmd = ["bash", str(ROOT / "bench" / "run.sh"), args.nabla, "--quick", "--out", str(d)]
        print("$", " ".join(cmd), flush=True)
        rc = subprocess.run(cmd).returncode
        if rc != 0:
            print(f"FAIL: bench/run.sh exited {rc}")
            return 1
    c = Checks()
    check_bench(c, d)
    check_sets(c, d)
    check_sweep(c, d)
    check_hyperfine(c, d)
    check_files(c, d)
    check_report(c, d)
    for f in c.failures:
        print(f"FAIL: {f}")
    print(f"bench_quick: {len(c.failures)} failures in {d}")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
