"""reference/dynamic.py — the PyTorch twin of `nabla train --variant dynamic`: the
tutorial's "Control Flow + Weight Sharing" program (DynamicNet, SGD with momentum), taking
nabla's flags. The tutorial draws the depth with Python's random.randint(0, 3); here it is
torch.randint(0, 4, (1,)) from torch's generator, so nabla can replay it exactly.

    /usr/bin/python3 reference/dynamic.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import twin

VARIANT = "dynamic"
DEFAULT_LR = 1e-4


def train(args, torch, recorder=None):
    """The tutorial's program with nabla's flags; returns (losses, loop_seconds)."""
    recorder = recorder or twin.Recorder()

    # Defined here rather than at the top: torch is imported only after the environment
    # is prepared (reference/twin.py), so the module itself cannot import it.
    class DynamicNet(torch.nn.Module):
        def __init__(self, D_in, H, D_out):
            super().__init__()
            self.input_linear = torch.nn.Linear(D_in, H)
            self.middle_linear = torch.nn.Linear(H, H)
            self.output_linear = torch.nn.Linear(H, D_out)

        def forward(self, x):
            h_relu = self.input_linear(x).clamp(min=0)
            for _ in range(torch.randint(0, 4, (1,)).item()):
                h_relu = self.middle_linear(h_relu).clamp(min=0)
            y_pred = self.output_linear(h_relu)
            return y_pred

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(twin.torch_dtype(torch, args))
    torch.manual_seed(args.seed)
    N, D_in, H, D_out = args.batch, args.d_in, args.hidden, args.d_out

    x = torch.randn(N, D_in)
    y = torch.randn(N, D_out)
    model = DynamicNet(D_in, H, D_out)
    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
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
                # A depth-0 step leaves middle_linear's grads None (see twin.Recorder).
                recorder.grad0({name: param.grad for name, param in model.named_parameters()})
            optimizer.step()
    recorder.final(dict(model.named_parameters()))
    return losses, timer.seconds


if __name__ == "__main__":
    twin.main(train, VARIANT, DEFAULT_LR)
