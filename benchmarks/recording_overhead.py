"""What recording costs: a training step through nn.Model's tape against the same layers chained by hand.

    python benchmarks/recording_overhead.py                 # vgg_small, batch 64, 20 steps x 5 rounds
    python benchmarks/recording_overhead.py --model lenet5 --batch 64

Both ways run the same layers on the same batch with the same weights; the hand-chained step
calls each layer's forward and backward directly (no tape, no value matching, no replay), which
is what a Sequential did before models recorded their calls. Rounds alternate between the two;
the figure is the ratio of the median step times (recorded / hand-chained).
"""
import argparse
import statistics
import time

import numpy as np

from convnp import models, nn, optim


def chained_step(model, loss_fn, opt, x, y):
    """forward and backward layer by layer, without the recording machinery."""
    layers = list(model.layers)
    opt.zero_grad()
    h = x
    for layer in layers:
        h = layer.forward(h)
    loss_fn(h, y)
    dy = loss_fn.backward()
    for layer in reversed(layers[1:]):
        dy = layer.backward(dy)
    layers[0].backward(dy, input_grad=False)
    opt.step()


def recorded_step(model, loss_fn, opt, x, y):
    opt.zero_grad()
    loss_fn(model(x), y)
    model.backward(loss_fn.backward(), input_grad=False)
    opt.step()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg_small", choices=["vgg_small", "lenet5"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    shape = (3, 32, 32) if args.model == "vgg_small" else (1, 28, 28)
    x = rng.standard_normal((args.batch, *shape)).astype(np.float32)
    y = rng.integers(0, 10, args.batch)
    model = models.get(args.model, rng=0)
    assert all(not isinstance(m, nn.Model) for m in model.layers), "a flat Sequential is needed"
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.0)        # lr 0: every step does the same work
    times = {"recorded": [], "chained": []}
    steps = {"recorded": recorded_step, "chained": chained_step}
    for name in steps:                                  # warm-up: workspaces, caches
        for _ in range(3):
            steps[name](model, loss_fn, opt, x, y)
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(model, loss_fn, opt, x, y)
            times[name].append((time.perf_counter() - start) / args.steps)
    rec, chain = statistics.median(times["recorded"]), statistics.median(times["chained"])
    print(f"{args.model}, batch {args.batch}: recorded {rec * 1e3:.2f} ms/step, hand-chained"
          f" {chain * 1e3:.2f} ms/step, overhead {100 * (rec / chain - 1):+.2f}%")
    print("per round (recorded/chained):", ", ".join(f"{a / b:.3f}" for a, b in zip(times["recorded"], times["chained"])))


if __name__ == "__main__":
    main()
