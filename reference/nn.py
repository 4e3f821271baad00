"""reference/nn.py — the PyTorch twin of `nabla train --variant nn`: the tutorial's
"PyTorch: nn" program (Sequential, MSELoss(sum), manual update), taking nabla's flags.

    /usr/bin/python3 reference/nn.py --seed 0 [--dtype f64] [--json]

Importable too: train(args, torch, recorder) is the program (reference/twin.py).
"""
import twin

VARIANT = "nn"
DEFAULT_LR = 1e-4


def train(args, torch, recorder=None):
    """The tutorial's program with nabla's flags; returns (losses, loop_seconds)."""
    recorder = recorder or twin.Recorder()
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
    # Sequential's parameter names (0.weight, 0.bias, 2.weight, 2.bias) are nabla's.
    recorder.initial({"x": x, "y": y, **dict(model.named_parameters())})

    learning_rate = args.lr
    report = twin.epoch_printer(args)
    losses = []
    with twin.Timer() as timer:
        for t in range(args.iters):
            y_pred = model(x)
            loss = loss_fn(y_pred, y)
            losses.append(loss.item())
            report(t, losses[-1])
            model.zero_grad()
            loss.backward()
            if t == 0:
                recorder.grad0({name: param.grad for name, param in model.named_parameters()})
            with torch.no_grad():
                for param in model.parameters():
                    param -= learning_rate * param.grad
    recorder.final(dict(model.named_parameters()))
    return losses, timer.seconds


if __name__ == "__main__":
    twin.main(train, VARIANT, DEFAULT_LR)
