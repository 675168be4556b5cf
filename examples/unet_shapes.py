"""Segment generated circles, squares and triangles on noise with a U-Net (per-pixel cross-entropy).

Every image is drawn here with NumPy: Gaussian noise, then one to three filled shapes (a
circle, a rotated square, a rotated triangle) of random size, position and brightness that do
not touch. Each pixel's label is what it shows: 0 background, 1 circle, 2 square, 3 triangle.
``convnp.models.unet`` outputs (N, 4, H, W) logits and ``nn.CrossEntropyLoss`` takes the
(N, H, W) label maps directly (a softmax over the classes at every pixel). The training loop is
written out, on new images every epoch. The score is the intersection over union per class
(IoU = |pred & true| / |pred | true|, over all pixels of a held-out generated set), averaged
over the four classes (mean IoU) and over the three shapes alone.

Run:  python examples/unet_shapes.py [--epochs 12] [--train 2000] [--out examples/figures]
Figure: unet_shapes.png (image / truth / prediction) in --out.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import convnp
from convnp import models, nn, optim

FIGURES = Path(__file__).resolve().parent / "figures"
CLASSES = ["background", "circle", "square", "triangle"]


def shape_mask(kind, yy, xx, cy, cx, r, angle):
    """Boolean mask of one filled shape of 'radius' r centred at (cy, cx), rotated by angle."""
    dy, dx = yy - cy, xx - cx
    if kind == 1:
        return dy ** 2 + dx ** 2 <= r ** 2
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy        # coordinates in the shape's own frame
    if kind == 2:
        half = r / np.sqrt(2)                        # the square inside the circle of radius r
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # an equilateral triangle: inside the three half-planes of its sides, r from centre to corner
    inside = np.ones_like(dy, dtype=bool)
    for k in range(3):
        normal = angle + np.pi / 3 + k * 2 * np.pi / 3   # halfway between two corners: a side's normal
        inside &= np.cos(normal) * dx + np.sin(normal) * dy <= r / 2
    return inside


def make_shapes(n, size, rng, noise=0.3):
    """n images (n, 1, size, size) float32 and their label maps (n, size, size) int64."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = rng.normal(0.0, noise, (n, 1, size, size))
    labels = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        placed = []                                  # (cy, cx, r) of the shapes so far
        for _ in range(rng.integers(1, 4)):
            kind, r = int(rng.integers(1, 4)), rng.uniform(size / 6, size / 4)
            spot = free_spot(placed, r, size, rng)
            if spot is None:
                continue
            placed.append((*spot, r))
            mask = shape_mask(kind, yy, xx, *spot, r, rng.uniform(0, 2 * np.pi))
            images[i, 0][mask] = rng.uniform(0.6, 1.0) + rng.normal(0.0, noise, int(mask.sum()))
            labels[i][mask] = kind
    return images.astype(np.float32), labels


def free_spot(placed, r, size, rng, tries=10):
    """A centre for a shape of radius r at least 1 pixel away from the placed ones, or None."""
    for _ in range(tries):
        cy, cx = rng.uniform(r, size - r, 2)
        if all(np.hypot(cy - py, cx - px) >= r + pr + 1 for py, px, pr in placed):
            return cy, cx
    return None


def iou_per_class(pred, truth, num_classes):
    """IoU of each class over all pixels: |pred == k and truth == k| / |pred == k or truth == k|."""
    out = []
    for k in range(num_classes):
        p, t = pred == k, truth == k
        union = np.count_nonzero(p | t)
        out.append(np.count_nonzero(p & t) / union if union else 1.0)
    return np.array(out)


def train(model, n, size, epochs, batch_size, lr, rng):
    """The explicit loop on n new images each epoch: per-pixel cross-entropy, Adam with a cosine schedule.

    Generating is cheap, so every epoch sees images it has never seen: no overfitting to a
    fixed training set. Returns the epoch losses.
    """
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs * -(-n // batch_size))
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        start, total = time.perf_counter(), 0.0
        x, y = make_shapes(n, size, rng)
        for b in range(0, n, batch_size):                # the images come in random order already
            xb, yb = x[b:b + batch_size], y[b:b + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)                # logits (B, 4, H, W), labels (B, H, W)
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
            sched.step()
            total += loss * len(xb)
        losses.append(total / n)
        print(f"epoch {epoch}/{epochs}: train loss {losses[-1]:.4f} ({time.perf_counter() - start:.1f} s)")
    return losses


def predict(model, x, batch_size=200):
    """Per-pixel class of every image, in eval mode and without recording."""
    model.eval()
    with convnp.no_grad():
        return np.concatenate([model(x[b:b + batch_size]).argmax(axis=1) for b in range(0, len(x), batch_size)])


def save_figure(out, x, y, pred, n=6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#202020", "#e41a1c", "#377eb8", "#4daf4a"])
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5.2))
    for j in range(n):
        for row, (img, kw) in enumerate([(x[j, 0], {"cmap": "gray"}), (y[j], {"cmap": cmap, "vmin": 0, "vmax": 3}),
                                         (pred[j], {"cmap": cmap, "vmin": 0, "vmax": 3})]):
            axes[row, j].imshow(img, interpolation="nearest", **kw)
            axes[row, j].set_axis_off()
    for row, title in enumerate(["image", "truth", "prediction"]):
        axes[row, 0].set_title(title, loc="left", fontsize=9)
    fig.suptitle("red: circle, blue: square, green: triangle", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "unet_shapes.png", dpi=80)
    plt.close(fig)
    return out / "unet_shapes.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train", type=int, default=2000, help="new generated training images per epoch")
    parser.add_argument("--test", type=int, default=500, help="generated held-out images")
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--width", type=int, default=8, help="U-Net channels after its first block")
    parser.add_argument("--depth", type=int, default=3, help="U-Net poolings")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's initial learning rate (cosine to 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the figure")
    parser.add_argument("--smoke", action="store_true", help="a quick run for tests: 64 images, 2 epochs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.train, args.test, args.epochs, args.size, args.width, args.depth = 64, 32, 2, 16, 4, 2
    for name in ("epochs", "train", "test", "width", "depth", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.size < 2 ** args.depth * 2:
        parser.error(f"--size must be at least {2 ** args.depth * 2} for --depth {args.depth}, got {args.size}")

    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)
    x_test, y_test = make_shapes(args.test, args.size, rng)   # held out: drawn before any training image
    print(f"data: {args.train} new generated {args.size}x{args.size} training images per epoch, {args.test} held out;"
          f" pixels per class (held out) {np.bincount(y_test.ravel(), minlength=4).tolist()}")
    model = models.unet(in_channels=1, num_classes=4, width=args.width, depth=args.depth, rng=args.seed)
    print(f"model: unet(width={args.width}, depth={args.depth}), {model.num_parameters():,} parameters")
    train(model, args.train, args.size, args.epochs, args.batch_size, args.lr, rng)

    pred = predict(model, x_test)
    ious = iou_per_class(pred, y_test, 4)
    print("held-out IoU: " + ", ".join(f"{c} {v:.4f}" for c, v in zip(CLASSES, ious)))
    print(f"pixel accuracy: {np.mean(pred == y_test):.4f}")
    print(f"mean IoU of the three shapes: {ious[1:].mean():.4f}")
    print(f"mean IoU: {ious.mean():.4f}")
    path = save_figure(args.out, x_test, y_test, pred)
    print(f"figure written to {path}")
    print(f"total time: {time.perf_counter() - start:.1f} s (CPU time {time.process_time() - cpu:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
