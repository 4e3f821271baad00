"""tests/train_all.py — every variant trains the seed workload (N=64, D_in=1000, H=100,
D_out=10, 500 steps, f32) with every kernel, and its loss falls as the tutorial's does; and a
step's graph is freed: peak memory after 3000 steps is what it is after 30.

    /usr/bin/python3 tests/train_all.py --nabla build/nabla
"""
import argparse
import json
import math
import resource
import subprocess
import sys

# The tutorial's programs end 3 to 12 orders of magnitude below where they start; the
# slowest here (DynamicNet, whose depth changes every step) falls about 3.5.
FALL = 1e-2
RSS_GROWTH_KIB = 2048  # a leaked graph of the seed network is ~1 MiB a step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nabla", required=True)
    args = p.parse_args()
    run = lambda *a: subprocess.run([args.nabla, *a], check=True, capture_output=True, text=True).stdout
    variants = [v.strip() for v in run("train", "--help").split("variants:")[1].splitlines()[0].split(",")]
    # every concrete kernel; auto is a choice among them and needs a tuning table
    kernels = [line.split()[0] for line in run("kernels").splitlines() if line.strip() and not line.startswith("auto ")]
    failures = 0
    for variant in variants:
        for kernel in kernels:
            losses = json.loads(run("train", "--variant", variant, "--kernel", kernel, "--json"))["losses"]
            first, last = losses[0], losses[-1]
            ok = len(losses) == 500 and all(v is not None and math.isfinite(v) for v in losses) and last < FALL * first
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {variant:16s} {kernel:8s} loss {first:.4g} -> {last:.4g}")

    def peak_rss_kib(variant, iters):
        # a fresh interpreter per measurement: ru_maxrss of children is a running maximum
        code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        cmd = [sys.executable, "-c", code, args.nabla, "train", "--variant", variant, "--kernel", "blas",
               "--threads", "1", "--iters", str(iters), "--print-every", "0"]
        return int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    for variant in variants:
        short, long = peak_rss_kib(variant, 30), peak_rss_kib(variant, 3000)
        ok = long - short < RSS_GROWTH_KIB
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {variant:16s} peak RSS {short} KiB after 30 steps, {long} KiB after 3000")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
