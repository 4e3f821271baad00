#!/usr/bin/python3
"""bench/plot.py — the plots of the benchmark suite (bench/run.sh), drawn from its JSON
files, plus the two parts of report.md that need those files parsed (context.md, losses.md).

    /usr/bin/python3 bench/plot.py DIR [--fixtures DIR] [--variants LIST]

Reads DIR/sweep.json, bench.json, hyperfine.json (+ hyperfine-naive.json), losses/*.json and
the PyTorch fixtures' losses.npy; writes DIR/sweep_squares.png, sweep_seed.png,
bench_loops.png, losses.png, losses_reldiff.png, hyperfine.png, context.md and losses.md. A
missing input skips what needs it with a one-line message; a malformed one does too, and
makes the exit status 1 once everything else is drawn.

Debian's /usr/bin/python3 has matplotlib and numpy; nothing else is needed.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: CI machines have none
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# One colour per kernel in every figure, so a reader learns them once. PyTorch is "torch" in
# bench.json and "pytorch" in hyperfine's command names.
KERNEL_COLORS = {
    "naive": "tab:gray",
    "blocked": "tab:blue",
    "openmp": "tab:green",
    "team": "tab:olive",
    "blas": "tab:orange",
    "auto": "tab:purple",
    "torch": "tab:red",
    "pytorch": "tab:red",
}
EXTRA_COLORS = ["tab:brown", "tab:pink", "tab:cyan"]
PEAK_STYLES = {"avx2": ("--", "AVX2"), "avx512": (":", "AVX-512")}
DPI = 110


class Skip(Exception):
    """An input is missing or not what this script reads: skip the plot, say why."""


class Malformed(Skip):
    """The input exists but does not parse or lacks what the plot needs."""


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise Skip(f"no {path.name} in {path.parent}") from None
    except (OSError, ValueError) as e:
        raise Malformed(f"{path} is not readable JSON ({e})") from None


_extra_assigned = {}


def kernel_color(name):
    """A kernel this script does not know yet still keeps one colour across the figures."""
    if name in KERNEL_COLORS:
        return KERNEL_COLORS[name]
    if name not in _extra_assigned:
        _extra_assigned[name] = EXTRA_COLORS[len(_extra_assigned) % len(EXTRA_COLORS)]
    return _extra_assigned[name]


def unique(values):
    """The distinct values in order of first appearance."""
    return list(dict.fromkeys(values))


def kernel_order(names):
    """Registry order (naive, blocked, openmp, team, blas), others after, PyTorch last."""
    known = ["naive", "blocked", "openmp", "team", "blas", "auto"]
    names = unique(names)
    head = [k for k in known if k in names]
    torch = [k for k in names if k in ("torch", "pytorch")]
    return head + [k for k in names if k not in head and k not in torch] + torch


def footnote(fig, ctx):
    """Where the numbers come from, on every figure: a plot copied out of the report keeps it."""
    if not ctx:
        return
    parts = [
        ctx.get("cpu_model", "unknown CPU"),
        f"{ctx.get('online_cpus', '?')} CPUs",
        f"OpenBLAS {ctx.get('openblas_core', '?')} ({ctx.get('openblas_threading', '?')})",
        ctx.get("compiler", ""),
        f"nabla {ctx.get('git_revision', '?')}",
        ctx.get("date", ""),
    ]
    if ctx.get("torch_version"):
        parts.insert(4, f"torch {ctx['torch_version']}")
    fig.text(0.005, 0.005, "  |  ".join(p for p in parts if p), fontsize=7, color="dimgray", ha="left", va="bottom")


def layout(fig, ctx, title, handles=(), labels=()):
    """The title top left, the legend on a line of its own under it, the context footnote at
    the bottom and the axes in between. Measured in inches, so it holds for any figure size
    and any number of title lines."""
    h = fig.get_figheight()
    line = 0.22 / h  # one 11-point line as a fraction of the figure's height
    top = 1 - 0.06 / h
    # fig.text, not suptitle: tight_layout makes room for a suptitle itself, and the rect below
    # already does, legend included
    fig.text(0.01, top, title, ha="left", va="top", fontsize=11)
    top -= line * (title.count("\n") + 1)
    if len(handles):
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, top), ncol=len(labels), fontsize=9,
                   frameon=False)
        top -= line * 1.4
    fig.tight_layout(rect=(0, 0.2 / h if ctx else 0, 1, top))
    footnote(fig, ctx)


def plain_log_axis(axis):
    """Log scale ticks at 1, 2, 5 per decade printed as plain numbers: a panel spanning less
    than a decade still gets labels, and 200 reads faster than 2 x 10^2."""
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def save(fig, path):
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def panel_grid(nrows, ncols, width, height, **kw):
    """nrows x ncols panels of width x height inches; never narrower than the title and the
    footnote need (a --quick sweep has a single column)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(9.0, width * ncols), height * nrows), squeeze=False, **kw)
    return fig, axes


def threads_label(t):
    return f"{t} thread" + ("" if t == 1 else "s")


# ---- sweep.json ----------------------------------------------------------------------------


def sweep_panels(doc):
    rows = doc["rows"]
    if not rows:
        raise Malformed("sweep.json has no rows")
    cfg = doc.get("config") or {}
    dtypes = cfg.get("dtypes") or unique(r["dtype"] for r in rows)
    threads = cfg.get("threads") or sorted(unique(r["threads"] for r in rows))
    return rows, dtypes, threads


def plot_sweep_squares(d, ctx):
    doc = load_json(d / "sweep.json")
    rows, dtypes, threads = sweep_panels(doc)
    squares = [r for r in rows if r["group"] == "square"]
    if not squares:
        raise Skip("sweep.json has no square rows")
    peaks = doc.get("peak") or []
    sizes = sorted(unique(r["m"] for r in squares))
    kernels = kernel_order(r["kernel"] for r in squares)
    fig, axes = panel_grid(len(dtypes), len(threads), 5.6, 4.2, sharex=True)
    for i, dtype in enumerate(dtypes):
        for j, t in enumerate(threads):
            ax = axes[i][j]
            for k in kernels:
                pts = sorted((r["m"], r["gflops"]) for r in squares
                             if r["kernel"] == k and r["dtype"] == dtype and r["threads"] == t)
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(xs, ys, marker="o", ms=4, lw=1.6, color=kernel_color(k), label=k)
            for p in peaks:
                if p["dtype"] != dtype or p["threads"] != t or p["isa"] not in PEAK_STYLES:
                    continue
                style, name = PEAK_STYLES[p["isa"]]
                ax.axhline(p["gflops"], ls=style, lw=1.1, color="black")
                ax.annotate(f"{name} FMA peak {p['gflops']:.0f}", (1.0, p["gflops"]), xycoords=("axes fraction", "data"),
                            xytext=(-3, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7)
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes)
            ax.set_xticklabels([str(s) for s in sizes])
            ax.minorticks_off()
            ax.set_yscale("log")
            plain_log_axis(ax.yaxis)
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{dtype}, {threads_label(t)}", fontsize=10)
            if i == len(dtypes) - 1:
                ax.set_xlabel("square size m = n = k")
            if j == 0:
                ax.set_ylabel("GFLOP/s (2mnk / median time), log scale")
    naive_max = (doc.get("config") or {}).get("naive_max")
    note = f"; naive stops at {naive_max}" if naive_max and "naive" in kernels and sizes[-1] > naive_max else ""
    layout(fig, ctx, f"GEMM throughput on squares per kernel, C = A B (nabla kernels --sweep){note}",
                     *axes[0][0].get_legend_handles_labels())
    return [save(fig, d / "sweep_squares.png")]


def plot_sweep_seed(d, ctx):
    doc = load_json(d / "sweep.json")
    rows, dtypes, threads = sweep_panels(doc)
    seed = [r for r in rows if r["group"] == "seed"]
    if not seed:
        raise Skip("sweep.json has no seed rows")
    products = unique((r["product"], r["shape"]) for r in seed)
    kernels = kernel_order(r["kernel"] for r in seed)
    fig, axes = panel_grid(len(dtypes), len(threads), max(6.0, 1.25 * len(products)), 4.2, sharey="row")
    width = 0.8 / len(kernels)
    x = np.arange(len(products))
    for i, dtype in enumerate(dtypes):
        for j, t in enumerate(threads):
            ax = axes[i][j]
            for n, k in enumerate(kernels):
                by = {(r["product"], r["shape"]): r["gflops"] for r in seed
                      if r["kernel"] == k and r["dtype"] == dtype and r["threads"] == t}
                ys = [by.get(p, np.nan) for p in products]
                ax.bar(x - 0.4 + width * (n + 0.5), ys, width, color=kernel_color(k), label=k)
            ax.set_xticks(x)
            # "grad_w2 = h_relu^T grad_y" over two lines, the shape under it: six fit side by side
            ax.set_xticklabels([f"{p.replace(' = ', ' =' + chr(10))}\n{s}" for p, s in products], fontsize=7)
            ax.grid(True, axis="y", alpha=0.3)
            ax.set_title(f"{dtype}, {threads_label(t)}", fontsize=10)
            if j == 0:
                ax.set_ylabel("GFLOP/s (2mnk / median time)")
    layout(fig, ctx, "GEMM throughput on the seed network's products, shape m x n x k : op(A) op(B) "
                     "(nabla kernels --sweep)", *axes[0][0].get_legend_handles_labels())
    return [save(fig, d / "sweep_seed.png")]


# ---- bench.json ----------------------------------------------------------------------------


def plot_bench(d, ctx):
    doc = load_json(d / "bench.json")
    cfg = doc.get("config") or {}
    cases = [c for c in doc["cases"] if "median_s" in c]
    if not cases:
        raise Skip("bench.json has no timed case yet")
    # One bar per variant, kernel and thread count: cases beside busy neighbours or of other
    # sizes (nabla bench --neighbours, --hidden, ...) would land on the same bar, so the plot
    # keeps the seed network run alone (bench/run.sh writes the others to directories of their own).
    sizes = ("batch", "d_in", "hidden", "d_out")
    seed = tuple(cfg.get(k) for k in sizes)
    cases = [c for c in cases if c.get("neighbours", 0) == 0 and tuple(c.get(k, s) for k, s in zip(sizes, seed)) == seed]
    if not cases:
        raise Skip("bench.json has no case of the seed network without neighbours")
    variants = unique(c["variant"] for c in cases)
    threads = sorted(unique(c["threads"] for c in cases))
    kernels = kernel_order(c["kernel"] for c in cases)
    # Bars need a linear axis from zero (on a log axis their heights mean nothing). When one
    # bar dwarfs the rest (naive; a loop slowed down by a busy machine) the axis stops at 4x
    # the typical bar and the bars past it carry their value.
    # One scale for every thread count's panel, so they compare at a glance.
    typical = float(np.median([c["median_s"] * 1e3 for c in cases]))
    top = min(max(c["max_s"] for c in cases) * 1e3 * 1.08, 4 * typical)
    fig, axes = panel_grid(len(threads), 1, max(8.0, 1.4 * len(variants)), 4.0)
    width = 0.8 / len(kernels)
    x = np.arange(len(variants))
    for i, t in enumerate(threads):
        ax = axes[i][0]
        for n, k in enumerate(kernels):
            by = {c["variant"]: c for c in cases if c["kernel"] == k and c["threads"] == t}
            med = np.array([by[v]["median_s"] * 1e3 if v in by else np.nan for v in variants])
            lo = np.array([by[v]["min_s"] * 1e3 if v in by else np.nan for v in variants])
            hi = np.array([by[v]["max_s"] * 1e3 if v in by else np.nan for v in variants])
            torch = k == "torch"
            xs = x - 0.4 + width * (n + 0.5)
            ax.bar(xs, med, width, yerr=[med - lo, hi - med], capsize=2, color=kernel_color(k),
                   hatch="//" if torch else None, edgecolor="white" if torch else None,
                   error_kw={"elinewidth": 0.8, "ecolor": "black"},
                   label="PyTorch twin" if torch else f"nabla {k}")
            for xi, m in zip(xs, med):
                if np.isfinite(m) and m > 4 * typical:
                    ax.annotate(f"{m / 1e3:.1f} s", (xi, 4 * typical), xytext=(0, -2), textcoords="offset points",
                                ha="center", va="top", rotation=90, fontsize=7, color="white", fontweight="bold")
        ax.set_ylim(0, top)
        ax.set_xticks(x)
        ax.set_xticklabels(variants)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_ylabel("loop time, ms")
        ax.set_title(threads_label(t), fontsize=10, loc="right")
    layout(fig, ctx, f"Training loop per variant and kernel, {cfg.get('iters', '?')} steps, {cfg.get('dtype', '?')} "
                     f"(nabla bench)\nbar: median of {cfg.get('repeats', '?')} loops, whiskers: min to max; "
                     "lower is better", *axes[0][0].get_legend_handles_labels())
    return [save(fig, d / "bench_loops.png")]


# ---- loss curves ---------------------------------------------------------------------------


def load_losses(d, fixtures):
    """[(variant, dtype, nabla losses, PyTorch losses, fixture case, fixture manifest)] for
    every nabla run that has a fixture with the same configuration."""
    files = sorted((d / "losses").glob("nabla-*.json"))
    if not files:
        raise Skip(f"no losses/nabla-*.json in {d}")
    pairs, missing = [], []
    for f in files:
        doc = load_json(f)
        c = doc["config"]
        case = f"{c['variant']}-{c['dtype']}-s{c['seed']}-{c['batch']}x{c['d_in']}x{c['hidden']}x{c['d_out']}-i{c['iters']}"
        npy = fixtures / case / "losses.npy"
        if not npy.is_file():
            missing.append(case)
            continue
        manifest = load_json(fixtures / case / "manifest.json")
        if manifest.get("config", {}).get("lr") != c["lr"]:
            raise Malformed(f"{f.name} ran with lr {c['lr']}, the fixture {case} with {manifest.get('config', {}).get('lr')}")
        ref = np.load(npy)
        ours = np.array([np.nan if v is None else v for v in doc["losses"]], dtype=np.float64)
        if ref.shape != ours.shape:
            raise Malformed(f"{f.name} has {ours.size} losses, the fixture {case} {ref.size}")
        pairs.append((c["variant"], c["dtype"], ours, ref, case, manifest))
    for case in missing:
        print(f"plot.py: no PyTorch fixture {case}; its curve is left out")
    if not pairs:
        raise Skip(f"no nabla run in {d / 'losses'} has a fixture in {fixtures}")
    return pairs


def order_variants(pairs, d, order):
    """In `order` (the registry's, as bench/run.sh passes it), else as bench.json lists its
    cases, then alphabetically."""
    if not order:
        try:
            order = unique(c["variant"] for c in load_json(d / "bench.json")["cases"])
        except (Skip, KeyError, TypeError):
            order = []
    rank = {v: i for i, v in enumerate(order)}
    return sorted(pairs, key=lambda p: (rank.get(p[0], len(rank)), p[0]))


def rel_diff(ours, ref):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(ours - ref) / np.abs(ref)


def plot_losses(d, ctx, fixtures, order):
    pairs = order_variants(load_losses(d, fixtures), d, order)
    ncols = min(4, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    fig, axes = panel_grid(nrows, ncols, 3.4, 2.9, sharex=True)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    for ax, (variant, dtype, ours, ref, case, _) in zip(axes.flat, pairs):
        steps = np.arange(1, ours.size + 1)
        ax.plot(steps, ours, lw=1.8, color=KERNEL_COLORS["blas"], label="nabla (blas)")
        ax.plot(steps, ref, lw=1.1, ls="--", color=KERNEL_COLORS["torch"], label="PyTorch")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.set_title(variant, fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for row in axes:
        row[0].set_ylabel("loss (sum of squares)")
    layout(fig, ctx, f"Loss per step, nabla against PyTorch ({_case_tail(pairs[0][4])})",
                     *axes[0][0].get_legend_handles_labels())
    written = [save(fig, d / "losses.png")]

    # The relative difference per step, one panel per variant on a shared log axis. Steps
    # where the two agree bit for bit (0) cannot sit on a log axis: the panel counts them.
    fig, axes = panel_grid(nrows, ncols, 3.4, 2.7, sharex=True, sharey=True)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    for ax, (variant, dtype, ours, ref, case, _) in zip(axes.flat, pairs):
        r = rel_diff(ours, ref)
        steps = np.arange(1, r.size + 1)
        nonzero = r > 0
        ax.plot(steps[nonzero], r[nonzero], ".", ms=2.5, color=KERNEL_COLORS["blas"])
        eps = float(np.finfo(np.float32 if dtype == "f32" else np.float64).eps)
        ax.axhline(eps, ls="--", lw=1, color="black")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{variant}: {int(np.sum(r == 0))}/{r.size} identical", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for row in axes:
        row[0].set_ylabel("|nabla - torch| / |torch|")
    layout(fig, ctx, f"Relative difference of the losses per step where they differ; dashed: "
                     f"{pairs[0][1]} machine epsilon ({_case_tail(pairs[0][4])})", [], [])
    written.append(save(fig, d / "losses_reldiff.png"))
    return written


def _case_tail(case):
    """'tensors-f32-s0-64x1000x100x10-i500' -> 'f32, seed 0, 64x1000x100x10, 500 steps'."""
    parts = case.split("-")
    if len(parts) < 4:
        return case
    dtype, seed, dims, iters = parts[-4:]
    return f"{dtype}, seed {seed[1:]}, N x D_in x H x D_out = {dims}, {iters[1:]} steps"


def write_losses_md(d, fixtures, order):
    pairs = order_variants(load_losses(d, fixtures), d, order)
    lines = [
        "| variant | steps | nabla final loss | PyTorch final loss | identical steps | median rel. diff | max rel. diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, dtype, ours, ref, case, _ in pairs:
        r = rel_diff(ours, ref)
        lines.append(f"| {variant} | {ours.size} | {ours[-1]:.6g} | {ref[-1]:.6g} | {int(np.sum(ours == ref))} | "
                     f"{np.nanmedian(r):.2g} | {np.nanmax(r):.2g} |")
    m = pairs[0][5]
    lines += ["", f"PyTorch side: fixtures from torch {m.get('torch_version', '?')} at {m.get('threads', '?')} thread(s), "
                  f"ATen capability `{m.get('aten_cpu_capability', '?')}`, OPENBLAS_CORETYPE "
                  f"`{m.get('openblas_coretype')}` when generated."]
    path = d / "losses.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path]


# ---- hyperfine -----------------------------------------------------------------------------


def plot_hyperfine(d, ctx):
    results = list(load_json(d / "hyperfine.json")["results"])
    try:
        results += load_json(d / "hyperfine-naive.json")["results"]
    except Malformed:
        raise
    except Skip:
        pass  # naive is optional (the --quick suite leaves it out)
    results = [r for r in results if r.get("times")]
    if not results:
        raise Malformed("hyperfine.json has no results with times")
    # boxplot stacks from the bottom: fastest first puts the slowest at the top
    results.sort(key=lambda r: r["median"])
    fig, ax = plt.subplots(figsize=(9, 0.7 * len(results) + 2.0))
    data = [r["times"] for r in results]
    labels = [f"{r['command']}\n({len(r['times'])} runs)" for r in results]
    box = ax.boxplot(data, vert=False, labels=labels, widths=0.55, patch_artist=True, showmeans=True,
                     meanprops={"marker": "D", "markersize": 4, "markerfacecolor": "white", "markeredgecolor": "black"},
                     medianprops={"color": "black"}, flierprops={"marker": ""})
    for patch, r in zip(box["boxes"], results):
        patch.set_facecolor(kernel_color(r["command"].split()[-1]))
        patch.set_alpha(0.55)
    # every run as a dot as well: with a handful of runs a box alone overstates what is known
    for n, times in enumerate(data, start=1):
        ax.plot(times, np.full(len(times), n) + np.linspace(-0.12, 0.12, len(times)), "o", ms=3, color="black",
                alpha=0.6)
    # a log axis: naive's runs next to blas's
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis)
    ax.grid(True, axis="x", which="major", alpha=0.3)
    ax.set_xlabel("wall time of one whole process, s (log scale)")
    # bench/run.sh passes the thread count as hyperfine's parameter, so the export records it
    threads = unique((r.get("parameters") or {}).get("threads") for r in results)
    what = f", {threads_label(int(threads[0]))} each" if len(threads) == 1 and threads[0] else ""
    layout(fig, ctx, f"hyperfine: train --variant tensors, per kernel and the PyTorch twin{what}\n"
                     "box: quartiles, whiskers: 1.5 IQR, line: median, diamond: mean, dots: every run")
    return [save(fig, d / "hyperfine.png")]


# ---- context.md ----------------------------------------------------------------------------


def find_context(d):
    """bench.json's context (it has the torch version), else sweep.json's."""
    for name in ("bench.json", "sweep.json"):
        try:
            ctx = load_json(d / name).get("context")
        except Skip:
            continue
        if isinstance(ctx, dict):
            return ctx
    return {}


def write_context_md(d, ctx):
    if not ctx:
        raise Skip("neither bench.json nor sweep.json has a context")
    env = ctx.get("environment") or {}
    rows = [
        ("CPU", f"{ctx.get('cpu_model', '?')}, {ctx.get('online_cpus', '?')} online CPUs"),
        ("OpenBLAS", f"{ctx.get('openblas_config', '?')}; core {ctx.get('openblas_core', '?')}, "
                     f"threading {ctx.get('openblas_threading', '?')}"),
        ("environment", ", ".join(f"{k}={'unset' if v is None else v}" for k, v in env.items()) or "?"),
        ("compiler", f"{ctx.get('compiler', '?')}, flags `{ctx.get('c_flags', '?')}`, build {ctx.get('build_type', '?')}"),
        ("nabla", f"{ctx.get('nabla_version', '?')} at git {ctx.get('git_revision', '?')}"),
        ("torch", str(ctx.get("torch_version") or "not run")),
        ("date", str(ctx.get("date", "?"))),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    path = d / "context.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path]


# ---- main ----------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description="Draw the PNGs of bench/run.sh's results directory.")
    p.add_argument("dir", type=Path, help="the results directory (bench/run.sh --out)")
    p.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parent.parent / "reference" / "fixtures",
                   help="the PyTorch reference fixtures (default: the repository's reference/fixtures)")
    p.add_argument("--variants", default="", help="comma-separated display order of the variants")
    args = p.parse_args()
    d = args.dir
    if not d.is_dir():
        p.error(f"{d} is not a directory")
    ctx = find_context(d)
    order = [v for v in args.variants.split(",") if v]
    jobs = [
        ("context.md", lambda: write_context_md(d, ctx)),
        ("the sweep plot", lambda: plot_sweep_squares(d, ctx)),
        ("the seed products plot", lambda: plot_sweep_seed(d, ctx)),
        ("the training loop plot", lambda: plot_bench(d, ctx)),
        ("the loss curves", lambda: plot_losses(d, ctx, args.fixtures, order)),
        ("losses.md", lambda: write_losses_md(d, args.fixtures, order)),
        ("the hyperfine plot", lambda: plot_hyperfine(d, ctx)),
    ]
    failed = 0
    for what, job in jobs:
        try:
            for path in job():
                print(f"wrote {path}")
        except Malformed as e:
            failed += 1
            print(f"plot.py: skipped {what}: {e}", file=sys.stderr)
        except Skip as e:
            print(f"plot.py: skipped {what}: {e}")
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            # a file with the right name and the wrong content: one line, never a traceback
            failed += 1
            print(f"plot.py: skipped {what}: unexpected content ({type(e).__name__}: {e})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
