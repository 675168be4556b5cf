"""Train a small VGG or ResNet on CIFAR-10 with random crops and flips, using convnp.train.fit.

CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, in 10 classes. The script
downloads the binary archive (162 MB, md5-checked) into the convnp cache on first use, or
reads it from ``--data-dir``. Data augmentation, as in the ResNet paper: each training image
is padded by 4 pixels and a random 32x32 window is cut out of it, then mirrored left-right
with probability 1/2, a fresh choice every epoch. No mean/std normalisation: both models
start with a convolution followed by BatchNorm, which standardises its inputs anyway (and the
viz functions can then take the raw pixels).

Training uses ``fit`` (the explicit loop of examples/mnist_from_scratch.py plus a progress
bar, validation and a history), SGD with Nesterov momentum 0.9, weight decay 5e-4 and a
cosine learning-rate schedule. On a CPU one epoch of either model takes about 5 to 8 minutes
on 2 cores (100-150 images a second, forward and backward), so start with a few epochs or
``--limit``.

``--smoke`` needs no download: it trains a narrow model for one epoch on 32 generated images
(each class a noisy colour), to check that everything runs.

Run:  python examples/cifar10.py [--model vgg_small|resnet_small] [--epochs 10] [--data-dir DIR]
Figures: cifar10_curves.png, cifar10_confusion.png, cifar10_misclassified.png in --out.
"""
import argparse
from pathlib import Path

import numpy as np

from convnp import data, metrics, models, nn, optim
from convnp.train import fit, predict_classes

FIGURES = Path(__file__).resolve().parent / "figures"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def generated(n, seed):
    """n fake 32x32 colour images: class k is a noisy patch of colour k on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    colours = np.random.default_rng(1234).integers(0, 256, size=(10, 3))   # fixed per class
    images = rng.integers(0, 256, size=(n, 3, 32, 32)).astype(np.float64) * 0.3
    images[:, :, 8:24, 8:24] += 0.7 * colours[labels][:, :, None, None]
    return data.Dataset(images.astype(np.uint8), labels, CLASSES, name="generated")


def load(args):
    if args.smoke:
        return generated(32, args.seed), generated(16, args.seed + 1)
    train = data.cifar10(root=args.data_dir, train=True)
    test = data.cifar10(root=args.data_dir, train=False)
    if args.limit:
        idx = np.random.default_rng(args.seed).permutation(len(train))[: args.limit]
        train = data.Dataset(train.images[idx], train.labels[idx], train.classes, name=train.name)
    return train, test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vgg_small", choices=["vgg_small", "resnet_small"])
    parser.add_argument("--width", type=int, help="channels of the first stage (default 32 for vgg_small, 16 for resnet_small)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05, help="initial SGD learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, help="folder holding cifar-10-binary.tar.gz (default: the cache, downloading)")
    parser.add_argument("--limit", type=int, help="use only this many training images")
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the figures")
    parser.add_argument("--smoke", action="store_true", help="32 generated images, a narrow model, 1 epoch; no download")
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.batch_size, args.width = 1, 16, 4

    train, test = load(args)
    print(f"data: {train.name}, {len(train)} training and {len(test)} test images of shape {train.images.shape[1:]}")
    kwargs = {"width": args.width} if args.width else {}
    model = models.get(args.model, num_classes=10, in_channels=3, rng=args.seed, **kwargs)
    print(f"model: {args.model}, {model.num_parameters():,} parameters")

    augment = data.Compose([data.RandomCrop(32, padding=4, rng=args.seed),
                            data.RandomHorizontalFlip(0.5, rng=args.seed + 1)])
    loader = data.DataLoader(train, batch_size=args.batch_size, shuffle=True, rng=args.seed, transform=augment)
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = optim.CosineAnnealingLR(opt, T_max=args.epochs)
    history = fit(model, loader, epochs=args.epochs, optimizer=opt, loss=nn.CrossEntropyLoss(), val=test,
                  scheduler=sched, seed=args.seed, progress=not args.smoke)
    for row in history.epochs:
        print(f"epoch {row['epoch']}: train loss {row['loss']:.4f}, train accuracy {row['accuracy']:.4f},"
              f" test loss {row['val_loss']:.4f}, test accuracy {row['val_accuracy']:.4f}, lr {row['lr']:.4g}")

    pred = predict_classes(model, test.images)
    print(f"\ntest accuracy: {metrics.accuracy(test.labels, pred):.4f}\n")
    print(metrics.classification_report(test.labels, pred, class_names=test.classes, num_classes=10))
    cm = metrics.confusion_matrix(test.labels, pred, num_classes=10)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convnp import viz

    args.out.mkdir(parents=True, exist_ok=True)
    for fig in (viz.training_curves(history, path=args.out / "cifar10_curves.png"),
                viz.confusion_matrix(cm, test.classes, path=args.out / "cifar10_confusion.png"),
                viz.misclassified(model, test, n=16, path=args.out / "cifar10_misclassified.png")):
        plt.close(fig)
    print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
