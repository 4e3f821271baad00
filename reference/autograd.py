"""reference/autograd.py — the PyTorch twin of `nabla train --variant autograd`: the
tutorial's "PyTorch: Tensors and autograd" program, taking nabla's flags.

    /usr/bin/python3 reference/autograd.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import twin

VARIANT = "autograd"
DEFAULT_LR = 1e-6


def train(args, torch, recorder=None):
    """The tutorial's program with nabla's flags; returns (losses, loop_seconds)."""
    recorder = recorder or twin.Recorder()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dtype = twin.torch_dtype(torch, args)
    device = torch.device("cpu")
    N, D_in, H, D_out = args.batch, args.d_in, args.hidden, args.d_out

    x = torch.randn(N, D_in, device=device, dtype=dtype)
    y = torch.randn(N, D_out, device=device, dtype=dtype)
    w1 = torch.randn(D_in, H, device=device, dtype=dtype, requires_grad=True)
    w2 = torch.randn(H, D_out, device=device, dtype=dtype, requires_grad=True)
    recorder.initial({"x": x, "y": y, "w1": w1, "w2": w2})

    learning_rate = args.lr
    report = twin.epoch_printer(args)
    losses = []
    with twin.Timer() as timer:
        for t in range(args.iters):
            y_pred = x.mm(w1).clamp(min=0).mm(w2)
            loss = (y_pred - y).pow(2).sum()
            losses.append(loss.item())
            report(t, losses[-1])
            loss.backward()
            if t == 0:
                recorder.grad0({"w1": w1.grad, "w2": w2.grad})
            with torch.no_grad():
                w1 -= learning_rate * w1.grad
                w2 -= learning_rate * w2.grad
                w1.grad.zero_()
                w2.grad.zero_()
    recorder.final({"w1": w1, "w2": w2})
    return losses, timer.seconds


if __name__ == "__main__":
    twin.main(train, VARIANT, DEFAULT_LR)
