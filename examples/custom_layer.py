"""How to write your own layer, with its backward pass, and prove the gradient right.

A convnp layer is a small class: ``forward(x)`` computes the output and keeps in
``self._cache`` what the backward pass will need; ``backward(dy)`` takes the gradient of the
loss with respect to the output and returns the gradient with respect to the input, adding
the gradients of its parameters into ``p.grad``. This script writes two:

- ``SiLU`` (also called Swish): y = x * sigmoid(x), no parameters;
- ``ChannelScale``: y = x * gamma[c], one learned factor per channel (a Parameter).

and checks both with ``convnp.gradcheck.check_layer``, which compares the backward pass with
central differences in float64. Then it shows the check catching a plausible mistake (a SiLU
whose backward forgets half of the product rule), puts the new layers in a small CNN, checks
the whole model, and trains it for a few steps on the bundled MNIST sample.

Run:  python examples/custom_layer.py [--steps 100]
"""
import argparse

import numpy as np

from convnp import data, gradcheck, nn, optim
from convnp.functional import sigmoid_forward
from convnp.nn import Layer, Parameter


class SiLU(Layer):
    """Sigmoid-weighted linear unit y = x * sigmoid(x) (torch.nn.SiLU).

    Shape: any -> the same.
    forward:  s = sigmoid(x),  y = x * s
    backward: dy/dx = s + x * s * (1 - s)   (product rule; sigmoid' = s * (1 - s))
              dx = dy * s * (1 + x * (1 - s))
    """

    def forward(self, x):
        s, _ = sigmoid_forward(x)       # the library's sigmoid: no overflow for large |x|
        self._cache = (x, s)            # what backward needs, nothing more
        return x * s

    def backward(self, dy):
        x, s = self.take_cache()        # RuntimeError if forward has not run
        return dy * s * (1 + x * (1 - s))


class ChannelScale(Layer):
    """Multiply each channel by a learned factor: y[n, c, h, w] = x[n, c, h, w] * gamma[c].

    Args: num_channels.
    Shape: (N, C, H, W) -> the same.
    Parameters: gamma (C,), starting at 1.
    backward: dx = dy * gamma,  dgamma[c] = sum over n, h, w of dy * x
    """

    def __init__(self, num_channels):
        super().__init__()
        self.num_channels = num_channels
        self.gamma = Parameter(np.ones(num_channels, dtype=np.float32))   # created here, not lazily

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self}: expected input (N, {self.num_channels}, H, W), got {x.shape}")
        self._cache = x
        return x * self.gamma.data.reshape(1, -1, 1, 1)

    def backward(self, dy):
        x = self.take_cache()
        self.gamma.grad += (dy * x).sum(axis=(0, 2, 3))    # accumulate: zero_grad() resets
        return dy * self.gamma.data.reshape(1, -1, 1, 1)

    def config(self):
        return {"num_channels": self.num_channels}       # what repr (and model files) show


class BuggySiLU(SiLU):
    """SiLU with a classic mistake: sigmoid's derivative used alone, the product rule forgotten."""

    def backward(self, dy):
        x, s = self.take_cache()
        return dy * s * (1 - s) * x      # d/dx of x*s is s + x*s*(1-s): the "s +" is missing


def check(name, layer, x):
    """Run gradcheck on one layer and print the outcome."""
    try:
        errors = gradcheck.check_layer(layer, x, rng=0)
    except gradcheck.GradcheckError as e:
        print(f"{name}: gradient check FAILED: {e}")
        return False
    worst = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    print(f"{name}: gradient check passed (max abs error: {worst})")
    return True


def small_cnn(seed, size=28):
    """A CNN using both new layers, for (N, 1, size, size) images (size divisible by 4)."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng), ChannelScale(4), SiLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1, rng=rng), SiLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * (size // 4) ** 2, 10, rng=rng),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps on the MNIST sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="fewer training steps, for tests")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    print("== 1. gradient checks in float64 (random upstream gradient) ==")
    x = rng.standard_normal((2, 3, 4, 5)) * 3          # float64, values well into both tails
    check("SiLU", SiLU(), x)
    scale = ChannelScale(3).to(np.float64)               # check in float64: see convnp.gradcheck
    scale.gamma.data[...] = rng.standard_normal(3)       # not all ones: ones hide mistakes
    check("ChannelScale", scale, x)
    caught = not check("BuggySiLU", BuggySiLU(), x)
    print(f"the wrong backward pass was caught: {caught}")

    print("\n== 2. the whole model, checked end to end (8x8 inputs keep the check small) ==")
    model = small_cnn(args.seed)
    print(model)
    tiny = small_cnn(args.seed, size=8).to(np.float64)
    tiny[1].gamma.data[...] = rng.uniform(0.5, 1.5, 4)
    check("model", tiny, rng.standard_normal((2, 1, 8, 8)))

    print("\n== 3. training it (float32) on the bundled MNIST sample ==")
    steps = 10 if args.smoke else args.steps
    train = data.mnist_sample(train=True)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loader = data.DataLoader(train, batch_size=64, shuffle=True, rng=args.seed)
    losses = []
    for step, (xb, yb) in zip(range(steps), loader):
        opt.zero_grad()
        losses.append(loss_fn(model(xb), yb))
        model.backward(loss_fn.backward())
        opt.step()
    k = max(1, min(5, steps // 2))
    print(f"{steps} steps: mean loss of the first {k} {np.mean(losses[:k]):.3f}, of the last {k} {np.mean(losses[-k:]):.3f}")
    print(f"learned channel scales: {np.array2string(model[1].gamma.data, precision=3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
