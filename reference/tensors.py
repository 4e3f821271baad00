"""reference/tensors.py — the PyTorch twin of `nabla train --variant tensors`: the
tutorial's "PyTorch: Tensors" program (manual forward and backward), taking nabla's flags.

    /usr/bin/python3 reference/tensors.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import twin

VARIANT = "tensors"
DEFAULT_LR = 1e-6


def train(args, torch, recorder=None):
    """The tutorial's program with nabla's flags; returns (losses, loop_seconds)."""
    recorder = recorder or twin.Recorder()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dtype = twin.torch_dtype(torch, args)
    device = torch.device("cpu")
    N, D_in, H, D_out = args.batch, args.d_in, args.hidden, args.d_out

    # Random input and output data, then random weights, in the tutorial's order.
    x = torch.randn(N, D_in, device=device, dtype=dtype)
    y = torch.randn(N, D_out, device=device, dtype=dtype)
    w1 = torch.randn(D_in, H, device=device, dtype=dtype)
    w2 = torch.randn(H, D_out, device=device, dtype=dtype)
    recorder.initial({"x": x, "y": y, "w1": w1, "w2": w2})

    learning_rate = args.lr
    report = twin.epoch_printer(args)
    losses = []
    with twin.Timer() as timer:
        for t in range(args.iters):
            # Forward pass: compute predicted y
            h = x.mm(w1)
            h_relu = h.clamp(min=0)
            y_pred = h_relu.mm(w2)

            # Compute and print loss
            loss = (y_pred - y).pow(2).sum().item()
            losses.append(loss)
            report(t, loss)

            # Backprop to compute gradients of w1 and w2 with respect to loss
            grad_y_pred = 2.0 * (y_pred - y)
            grad_w2 = h_relu.t().mm(grad_y_pred)
            grad_h_relu = grad_y_pred.mm(w2.t())
            grad_h = grad_h_relu.clone()
            grad_h[h < 0] = 0
            grad_w1 = x.t().mm(grad_h)
            if t == 0:
                recorder.grad0({"w1": grad_w1, "w2": grad_w2})

            # Update weights using gradient descent
            w1 -= learning_rate * grad_w1
            w2 -= learning_rate * grad_w2
    recorder.final({"w1": w1, "w2": w2})
    return losses, timer.seconds


if __name__ == "__main__":
    twin.main(train, VARIANT, DEFAULT_LR)
