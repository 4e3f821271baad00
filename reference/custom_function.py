"""reference/custom_function.py — the PyTorch twin of `nabla train --variant
custom-function`: the tutorial's MyReLU program (a torch.autograd.Function), taking nabla's
flags.

    /usr/bin/python3 reference/custom_function.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import twin

VARIANT = "custom-function"
DEFAULT_LR = 1e-6


def train(args, torch, recorder=None):
    """The tutorial's program with nabla's flags; returns (losses, loop_seconds)."""
    recorder = recorder or twin.Recorder()

    # Defined here rather than at the top: torch is imported only after the environment
    # is prepared (reference/twin.py), so the module itself cannot import it.
    class MyReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

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
    relu = MyReLU.apply
    report = twin.epoch_printer(args)
    losses = []
    with twin.Timer() as timer:
        for t in range(args.iters):
            y_pred = relu(x.mm(w1)).mm(w2)
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
