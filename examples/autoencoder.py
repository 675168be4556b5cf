"""A denoising convolutional autoencoder on the bundled MNIST sample: noisy digits in, clean digits out.

``convnp.models.autoencoder()`` squeezes a 28x28 digit through two stride-2 convolutions and a
7x7 convolution into 64 numbers, then transposed convolutions draw it again (sigmoid output in
[0, 1]). Here it is trained to undo noise: the input is the digit plus Gaussian noise
(std 0.4, clipped to [0, 1], drawn anew for every batch), the target the clean digit, the loss
the mean squared error per pixel (``nn.MSELoss``). The training loop is written out. The
score is the test MSE between the reconstruction of a noisy test digit and the clean digit,
printed next to the MSE of the noisy input itself (what doing nothing scores).

Run:  python examples/autoencoder.py [--epochs 10] [--noise 0.4] [--out examples/figures]
Figure: autoencoder.png (noisy / clean / reconstructed rows, one test digit of each class) in --out.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import convnp
from convnp import data, models, nn, optim

FIGURES = Path(__file__).resolve().parent / "figures"


def add_noise(x, std, rng):
    """x + N(0, std^2) noise, clipped back to the pixel range [0, 1]."""
    return np.clip(x + rng.normal(0.0, std, x.shape).astype(x.dtype), 0.0, 1.0)


def train(model, train_set, epochs, batch_size, lr, noise, seed):
    """The explicit loop: noisy batch -> model -> MSE against the clean batch -> backward -> Adam."""
    loss_fn = nn.MSELoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = data.DataLoader(train_set, batch_size=batch_size, shuffle=True, rng=seed)
    rng = np.random.default_rng(seed + 1)
    for epoch in range(1, epochs + 1):
        model.train()
        start, total, seen = time.perf_counter(), 0.0, 0
        for x, _ in loader:                       # x (B, 1, 28, 28) in [0, 1]; the labels are not used
            opt.zero_grad()
            loss = loss_fn(model(add_noise(x, noise, rng)), x)
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
            total, seen = total + loss * len(x), seen + len(x)
        print(f"epoch {epoch}/{epochs}: train MSE {total / seen:.5f} ({time.perf_counter() - start:.1f} s)")


def reconstruct(model, x, batch_size=500):
    """The model's output for every image of x, in eval mode and without recording."""
    model.eval()
    with convnp.no_grad():
        return np.concatenate([model(x[b:b + batch_size]) for b in range(0, len(x), batch_size)])


def save_figure(out, noisy, clean, recon, labels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = [int(np.flatnonzero(labels == k)[0]) for k in range(10) if np.any(labels == k)]
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, len(picks), figsize=(1.2 * len(picks), 4), squeeze=False)
    for row, (title, images) in enumerate([("noisy", noisy), ("clean", clean), ("reconstructed", recon)]):
        for j, i in enumerate(picks):
            axes[row, j].imshow(images[i, 0], cmap="gray", vmin=0, vmax=1)
            axes[row, j].set_axis_off()
        axes[row, 0].set_title(title, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "autoencoder.png", dpi=80)
    plt.close(fig)
    return out / "autoencoder.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate")
    parser.add_argument("--noise", type=float, default=0.4, help="std of the Gaussian noise added to the input")
    parser.add_argument("--latent", type=int, default=64, help="channels of the 1x1 code")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the figure")
    parser.add_argument("--smoke", action="store_true", help="a quick run for tests: 500 training and 200 test digits, 1 epoch")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "latent"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.noise < 0:
        parser.error(f"--noise must be >= 0, got {args.noise}")

    start, cpu = time.perf_counter(), time.process_time()
    train_set, test_set = data.mnist_sample(train=True), data.mnist_sample(train=False)
    if args.smoke:
        args.epochs = 1
        train_set = data.Dataset(train_set.images[:500], train_set.labels[:500], train_set.classes, "mnist-sample")
        test_set = data.Dataset(test_set.images[::10], test_set.labels[::10], test_set.classes, "mnist-sample")
    print(f"data: {train_set.name}, {len(train_set)} training and {len(test_set)} test digits, noise std {args.noise}")
    model = models.autoencoder(latent=args.latent, rng=args.seed)
    print(f"model: autoencoder(latent={args.latent}), {model.num_parameters():,} parameters")
    train(model, train_set, args.epochs, args.batch_size, args.lr, args.noise, args.seed)

    clean = test_set.images.astype(np.float32) / 255
    noisy = add_noise(clean, args.noise, np.random.default_rng(args.seed + 2))   # the same noise on every run
    recon = reconstruct(model, noisy)
    print(f"test MSE of the noisy input:    {np.mean((noisy - clean) ** 2):.5f}")
    print(f"test MSE of the reconstruction: {np.mean((recon - clean) ** 2):.5f}")
    path = save_figure(args.out, noisy, clean, recon, test_set.labels)
    print(f"figure written to {path}")
    print(f"total time: {time.perf_counter() - start:.1f} s (CPU time {time.process_time() - cpu:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
