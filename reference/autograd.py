"""reference/autograd.py — the PyTorch twin of `nabla train --variant autograd`: the
tutorial's "PyTorch: Tensors and autograd" program, taking nabla's flags.

    /usr/bin/python3 reference/autograd.py --seed 0 [--dtype f64] [--json]
"""
import twin

args = twin.parse_args("autograd", default_lr=1e-6)
import torch  # noqa: E402  (after parse_args has set ATEN_CPU_CAPABILITY and the thread counts)

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
dtype = twin.torch_dtype(torch, args)
device = torch.device("cpu")
N, D_in, H, D_out = args.batch, args.d_in, args.hidden, args.d_out

x = torch.randn(N, D_in, device=device, dtype=dtype)
y = torch.randn(N, D_out, device=device, dtype=dtype)
w1 = torch.randn(D_in, H, device=device, dtype=dtype, requires_grad=True)
w2 = torch.randn(H, D_out, device=device, dtype=dtype, requires_grad=True)

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
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()

twin.finish(args, torch, losses, timer.seconds)
