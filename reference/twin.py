"""reference/twin.py — what every PyTorch twin of a nabla variant shares: the flags of
`nabla train`, the environment that makes torch comparable (ATEN_CPU_CAPABILITY=default for
bit-exact random draws, thread counts matched), and output in nabla's formats (the
tutorial's epoch lines, or one JSON object with the same schema as `nabla train --json`).

Each twin is a script and a module. As a script it calls main(); as a module it offers
VARIANT, DEFAULT_LR and train(args, torch, recorder=None), which runs the tutorial's program
and returns (losses, loop_seconds), reporting its tensors to a Recorder at three points.
reference/generate.py drives the twins that way to write the fixtures.

Run the twins with Debian's /usr/bin/python3: it is the only interpreter that imports torch.
"""
import argparse
import json
import math
import os
import sys
import time


def make_args(variant, default_lr, argv=None):
    """Parses `nabla train`'s flags into an args namespace, touching nothing else; a
    generator that drives the twins in one process builds its args with this."""
    p = argparse.ArgumentParser(description=f"PyTorch twin of `nabla train --variant {variant}`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--d-in", type=int, default=1000)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--d-out", type=int, default=10)
    p.add_argument("--iters", type=int, default=500)
    p.add_argument("--lr", type=float, default=default_lr)
    p.add_argument("--dtype", choices=["f32", "f64"], default="f32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--print-every", type=int, default=50)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    for name in ("batch", "d_in", "hidden", "d_out", "iters", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    args.variant = variant
    return args


def prepare_environment(threads):
    """Sets what must be in the environment before torch is imported."""
    # torch's AVX2/AVX-512 random paths differ from the scalar one in the last bits; nabla
    # replicates the scalar ("default") path. It must be set before torch is imported.
    os.environ["ATEN_CPU_CAPABILITY"] = "default"
    # torch.set_num_threads does not reach OpenBLAS's own threads: match both runtimes.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)


def parse_args(variant, default_lr, argv=None):
    """Parses `nabla train`'s flags and prepares the environment; call before importing torch."""
    args = make_args(variant, default_lr, argv)
    prepare_environment(args.threads)
    return args


def main(train, variant, default_lr):
    """What running a twin as a script does: parse the flags, import torch into the prepared
    environment, train, print in nabla's format."""
    args = parse_args(variant, default_lr)
    import torch
    losses, loop_seconds = train(args, torch)
    finish(args, torch, losses, loop_seconds)


class Recorder:
    """Where a twin reports its tensors; this base class records nothing (a plain run).

    A twin calls each hook once, with a dict of tensors in nabla's grad_entries order and
    with nabla's names (docs/reference-format.md):
      initial(tensors)  after the initial tensors are made: x, y, then the parameters;
      grad0(tensors)    after step 0's backward, before its update: each parameter's
                        gradient (None for a parameter the step did not use: DynamicNet's
                        middle layer at depth 0; d loss / d p is then zero);
      final(tensors)    after the last step: the parameters.
    The tensors are live and change after the hook returns: a recorder copies what it keeps.
    Hooks must not draw from torch's generator (DynamicNet draws during training).
    """

    def initial(self, tensors):
        pass

    def grad0(self, tensors):
        pass

    def final(self, tensors):
        pass


def torch_dtype(torch, args):
    return torch.float32 if args.dtype == "f32" else torch.float64


def epoch_printer(args):
    """The tutorial's `if t % 50 == 49: print("epoch: ", t+1, "  loss:", loss.item())`."""
    def report(t, loss):
        if not args.json and args.print_every > 0 and (t + 1) % args.print_every == 0:
            print("epoch: ", t + 1, "  loss:", loss)
    return report


def matmul_flops_per_step(args):
    """2*m*n*k over the five products of a step of the two-layer net (forward 2, backward 3),
    the same count nabla's matmul dispatcher makes."""
    n, d, h, o = args.batch, args.d_in, args.hidden, args.d_out
    return 2 * (2 * n * d * h + 3 * n * h * o)


def finish(args, torch, losses, loop_seconds):
    """Prints the JSON object or the summary line, in `nabla train`'s format."""
    flops = matmul_flops_per_step(args) * len(losses)
    gflops = flops / loop_seconds * 1e-9 if loop_seconds > 0 else 0.0
    ms_per_step = loop_seconds * 1e3 / len(losses) if losses else 0.0
    if args.json:
        doc = {
            "implementation": "pytorch",
            "version": torch.__version__,
            "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
            "config": {
                "variant": args.variant, "kernel": "torch", "threads": args.threads,
                "dtype": args.dtype, "seed": args.seed, "batch": args.batch, "d_in": args.d_in,
                "hidden": args.hidden, "d_out": args.d_out, "iters": args.iters, "lr": args.lr,
                "print_every": args.print_every,
            },
            # JSON has no NaN: a diverged step is null, as nabla writes it.
            "losses": [v if math.isfinite(v) else None for v in losses],
            "timing": {"loop_seconds": loop_seconds, "ms_per_step": ms_per_step,
                       "matmul_flops": flops, "gflops": gflops},
        }
        json.dump(doc, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        print(f"summary: variant={args.variant} kernel=torch threads={args.threads} dtype={args.dtype} "
              f"steps={len(losses)} loop_s={loop_seconds:.6f} ms_per_step={ms_per_step:.4f} gflops={gflops:.2f}")


class Timer:
    """Wall time of the training loop, as nabla measures it."""
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
