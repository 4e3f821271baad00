"""reference/static_graph.py — the PyTorch twin of `nabla train --variant static-graph`: the
tutorial's TensorFlow contrast computes exactly what its autograd program computes (the same
network, loss and update, defined once instead of every step), so its twin is the autograd
twin under this variant's name.

    /usr/bin/python3 reference/static_graph.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import importlib.util
import os

import twin

VARIANT = "static-graph"
DEFAULT_LR = 1e-6

# Loaded under a private name: a module called `autograd` must not shadow anything, and
# generate.py loads reference/autograd.py under its own private name too.
_spec = importlib.util.spec_from_file_location(
    "nabla_twin_static_graph_autograd", os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograd.py"))
_autograd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_autograd)
assert _autograd.DEFAULT_LR == DEFAULT_LR


def train(args, torch, recorder=None):
    """The autograd program: x.mm(w1).clamp(min=0).mm(w2), (y_pred - y).pow(2).sum(),
    loss.backward(), w -= learning_rate * w.grad; returns (losses, loop_seconds)."""
    return _autograd.train(args, torch, recorder)


if __name__ == "__main__":
    twin.main(train, VARIANT, DEFAULT_LR)
