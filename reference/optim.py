"""reference/optim.py — the PyTorch twin of `nabla train --variant optim`: the tutorial's
"PyTorch: optim" program (the nn model trained by Adam), taking nabla's flags.

    /usr/bin/python3 reference/optim.py --seed 0 [--dtype f64] [--json]
"""
import twin

args = twin.parse_args("optim", default_lr=1e-4)
import torch  # noqa: E402  (after parse_args has set ATEN_CPU_CAPABILITY and the thread counts)

torch.set_num_threads(args.threads)
torch.set_default_dtype(twin.torch_dtype(torch, args))
torch.manual_seed(args.seed)
N, D_in, H, D_out = args.batch, args.d_in, args.hidden, args.d_out

x = torch.randn(N, D_in)
y = torch.randn(N, D_out)
model = torch.nn.Sequential(
    torch.nn.Linear(D_in, H),
    torch.nn.ReLU(),
    torch.nn.Linear(H, D_out),
)
loss_fn = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

report = twin.epoch_printer(args)
losses = []
with twin.Timer() as timer:
    for t in range(args.iters):
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        report(t, losses[-1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

twin.finish(args, torch, losses, timer.seconds)
