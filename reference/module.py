"""reference/module.py — the PyTorch twin of `nabla train --variant module`: the tutorial's
"PyTorch: Custom nn Modules" program (TwoLayerNet trained by SGD), taking nabla's flags.

    /usr/bin/python3 reference/module.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import twin

VARIANT = "module"
DEFAULT_LR = 1e-4


def train(args, torch, recorder=None):
    """The tutorial's program with nabla's flags; returns (losses, loop_seconds)."""
    recorder = recorder or twin.Recorder()

    # Defined here rather than at the top: torch is imported only after the environment
    # is prepared (reference/twin.py), so the module itself cannot import it.
    class TwoLayerNet(torch.nn.Module):
        def __init__(self, D_in, H, D_out):
            super().__init__()
            self.linear1 = torch.nn.Linear(D_in, H)
            self.linear2 = torch.nn.Linear(H, D_out)

        def forward(self, x):
            h_relu = self.linear1(x).clamp(min=0)
            y_pred = self.linear2(h_relu)
            return y_pred

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(twin.torch_dtype(torch, args))
    torch.manual_seed(args.seed)
    N, D_in, H, D_out = args.batch, args.d_in, args.hidden, args.d_out

    x = torch.randn(N, D_in)
    y = torch.randn(N, D_out)
    model = TwoLayerNet(D_in, H, D_out)
    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    recorder.initial({"x": x, "y": y, **dict(model.named_parameters())})

    report = twin.epoch_printer(args)
    losses = []
    with twin.Timer() as timer:
        for t in range(args.iters):
            y_pred = model(x)
            loss = criterion(y_pred, y)
            losses.append(loss.item())
            report(t, losses[-1])
            optimizer.zero_grad()
            loss.backward()
            if t == 0:
                recorder.grad0({name: param.grad for name, param in model.named_parameters()})
            optimizer.step()
    recorder.final(dict(model.named_parameters()))
    return losses, timer.seconds


if __name__ == "__main__":
    twin.main(train, VARIANT, DEFAULT_LR)
