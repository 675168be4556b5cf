"""A Siamese network: are two MNIST digits the same digit? One encoder, applied to both images.

``SiameseNet`` is an ``nn.Model`` with two inputs. Its forward calls the same encoder (a small
LeNet-style CNN that maps a digit to 32 numbers) on image a and on image b; the model records
both calls, each with its own cache, so ``backward`` adds the encoder's gradients from the two
branches. The two embeddings are compared as ``(fa - fb)^2`` (``nn.add`` and ``nn.mul``: NumPy's
``-`` would not be recorded) and a linear layer turns that into one logit, "same digit", trained
with ``nn.BCEWithLogitsLoss`` on pairs from the bundled MNIST sample (half of them the same
digit, new pairs every epoch). The score is the accuracy on pairs of held-out test digits.

Run:  python examples/siamese.py [--epochs 8] [--out examples/figures]
Figure: siamese_pairs.png (test pairs with the predicted probability of "same") in --out.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import convnp
from convnp import data, nn, optim
from convnp.init import as_rng

FIGURES = Path(__file__).resolve().parent / "figures"


class SiameseNet(nn.Model):
    """logit(same) = head((encoder(a) - encoder(b))^2): one encoder used twice.

    Shape: a, b (N, 1, 28, 28) -> (N, 1) logits. Symmetric: swapping a and b gives the same logit.
    """

    def __init__(self, embedding=32, rng=None):
        super().__init__()
        rng = as_rng(rng)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),     # 28 -> 14
            nn.Conv2d(16, 32, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2),               # 14 -> 10 -> 5
            nn.Flatten(), nn.Linear(32 * 5 * 5, embedding, rng=rng))
        self.head = nn.Linear(embedding, 1, rng=rng)

    def forward(self, a, b):
        fa, fb = self.encoder(a), self.encoder(b)       # two calls, two caches
        diff = nn.add(fa, nn.mul(fb, -1.0))
        return self.head(nn.mul(diff, diff))


def make_pairs(labels, n, rng):
    """n index pairs (i, j) into labels, half of the same class (j != i), and their targets (n,) 1.0 / 0.0."""
    by_class = [np.flatnonzero(labels == k) for k in range(int(labels.max()) + 1)]
    first = rng.integers(0, len(labels), n)
    same = rng.random(n) < 0.5
    second = np.empty(n, dtype=np.int64)
    for t, i in enumerate(first):
        k = labels[i] if same[t] else (labels[i] + rng.integers(1, len(by_class))) % len(by_class)
        j = i
        while j == i:                                   # never a digit paired with itself
            j = rng.choice(by_class[k])
        second[t] = j
    return first, second, same.astype(np.float32)


def train(model, images, labels, epochs, pairs, batch_size, lr, rng):
    """The explicit loop over new pairs every epoch: both images in, one logit out, BCE with logits."""
    loss_fn = nn.BCEWithLogitsLoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        model.train()
        start, total, correct = time.perf_counter(), 0.0, 0
        first, second, target = make_pairs(labels, pairs, rng)
        for b in range(0, pairs, batch_size):
            i, j, t = first[b:b + batch_size], second[b:b + batch_size], target[b:b + batch_size, None]
            opt.zero_grad()
            logits = model(images[i], images[j])          # (B, 1)
            loss = loss_fn(logits, t)
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
            total += loss * len(t)
            correct += int(np.sum((logits > 0) == (t > 0.5)))
        print(f"epoch {epoch}/{epochs}: train loss {total / pairs:.4f}, train accuracy {correct / pairs:.4f}"
              f" ({time.perf_counter() - start:.1f} s)")


def probability_same(model, a, b, batch_size=500):
    """sigmoid(logit) for every pair, in eval mode and without recording."""
    model.eval()
    with convnp.no_grad():
        logits = np.concatenate([model(a[s:s + batch_size], b[s:s + batch_size]) for s in range(0, len(a), batch_size)])
    return 1 / (1 + np.exp(-logits[:, 0]))


def save_figure(out, a, b, target, prob, n=12):
    """The first pairs, and up to a third of the row for the first mistakes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    right = (prob > 0.5) == (target > 0.5)
    wrong = np.flatnonzero(~right)[:n // 3]
    picks = np.concatenate([np.flatnonzero(right)[:n - len(wrong)], wrong]).astype(int)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, len(picks), figsize=(1.1 * len(picks), 2.9), squeeze=False)
    for col, k in enumerate(picks):
        for row, img in enumerate((a[k, 0], b[k, 0])):
            axes[row, col].imshow(img, cmap="gray")
            axes[row, col].set_axis_off()
        axes[0, col].set_title(f"{prob[k]:.2f}", fontsize=9, color="green" if right[k] else "red")
    fig.suptitle('P("same digit") for test pairs (green: right, red: wrong)', fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "siamese_pairs.png", dpi=80)
    plt.close(fig)
    return out / "siamese_pairs.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=10000, help="new training pairs per epoch")
    parser.add_argument("--test-pairs", type=int, default=2000, help="pairs of held-out test digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the figure")
    parser.add_argument("--smoke", action="store_true", help="a quick run for tests: 1 epoch of 512 pairs, 200 test pairs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.pairs, args.test_pairs = 1, 512, 200
    for name in ("epochs", "pairs", "test_pairs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")

    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    train_set, test_set = data.mnist_sample(train=True), data.mnist_sample(train=False)
    x_train, x_test = train_set.images.astype(np.float32) / 255, test_set.images.astype(np.float32) / 255
    first, second, target = make_pairs(test_set.labels, args.test_pairs, np.random.default_rng(args.seed + 1))
    print(f"data: {args.pairs} new pairs of the {len(x_train)} training digits per epoch;"
          f" {args.test_pairs} pairs of the {len(x_test)} test digits ({int(target.sum())} the same digit)")
    model = SiameseNet(rng=args.seed)
    print(f"model: SiameseNet, {model.num_parameters():,} parameters (one encoder, called twice)")
    train(model, x_train, train_set.labels, args.epochs, args.pairs, args.batch_size, args.lr, rng)

    prob = probability_same(model, x_test[first], x_test[second])
    print(f"held-out pair accuracy: {np.mean((prob > 0.5) == (target > 0.5)):.4f}")
    path = save_figure(args.out, x_test[first], x_test[second], target, prob)
    print(f"figure written to {path}")
    print(f"total time: {time.perf_counter() - start:.1f} s (CPU time {time.process_time() - cpu:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
