"""Train LeNet-5 and mnist_cnn on the full MNIST; print test accuracy and images per second.

    python benchmarks/mnist_accuracy.py                          # both models, ../shared/data/mnist
    python benchmarks/mnist_accuracy.py --models lenet5 --data-dir path/to/mnist

Targets (issue 3): LeNet-5 >= 99.0% test accuracy within 5 epochs, mnist_cnn >= 99.4% within
10. Each model trains with Adam and a cosine learning-rate schedule; mnist_cnn also sees random
2-pixel shifts. Images per second are training images over the whole run's wall time, the
test pass after each epoch included. Results go to benchmarks/results/mnist_accuracy.json.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from convnp import data, models, nn, optim, train  # noqa: E402

RECIPES = {
    # model: (epochs, batch size, Adam lr, augmentation)
    "lenet5": (5, 64, 2e-3, False),
    "mnist_cnn": (10, 128, 2e-3, True),
}


def run(name, train_set, test_set, epochs, seed, progress):
    default_epochs, batch_size, lr, augment = RECIPES[name]
    epochs = epochs or default_epochs
    model = models.get(name, rng=seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    transform = data.RandomCrop(28, padding=2, rng=seed) if augment else None
    start = time.perf_counter()
    history = train.fit(model, train_set, epochs=epochs, optimizer=opt, loss=nn.CrossEntropyLoss(),
                        batch_size=batch_size, val=test_set, scheduler=sched, seed=seed,
                        transform=transform, progress=progress)
    wall = time.perf_counter() - start
    for row in history.epochs:
        print(f"{name} epoch {row['epoch']}: test accuracy {row['val_accuracy']:.4f}", flush=True)
    return {
        "model": name, "epochs": epochs, "batch_size": batch_size, "lr": lr, "augment": augment,
        "test_accuracy": history["val_accuracy"][-1],
        "best_test_accuracy": max(history["val_accuracy"]),
        "accuracy_per_epoch": history["val_accuracy"],
        "images_per_second": len(train_set) * epochs / wall,
        "wall_seconds": wall,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="lenet5,mnist_cnn")
    p.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    p.add_argument("--epochs", type=int, default=None, help="override each model's epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "results", "mnist_accuracy.json"))
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    names = args.models.split(",")
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {sorted(RECIPES)}")
    train_set = data.mnist(args.data_dir, train=True, download=False)
    test_set = data.mnist(args.data_dir, train=False, download=False)
    results = []
    for name in names:
        r = run(name, train_set, test_set, args.epochs, args.seed, not args.quiet)
        results.append(r)
        print(f"{name}: test accuracy {r['test_accuracy']:.4f} after {r['epochs']} epochs"
              f" (best {r['best_test_accuracy']:.4f}), {r['images_per_second']:.0f} images/s,"
              f" {r['wall_seconds']:.0f} s in all", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"results": results, "cpu_count": os.cpu_count()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
