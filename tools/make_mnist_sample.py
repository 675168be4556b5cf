"""Build src/convnp/data/mnist_sample.npz: a balanced, seeded subset of the real MNIST.

    python tools/make_mnist_sample.py [--src /work/shared/data/mnist] [--out ...] [--seed 0]

Takes 1,000 images per digit from the training split and 200 per digit from the test split
(without replacement, kept in their original order), and stores them as uint8 with their
labels and their indices in the full splits, compressed with np.savez_compressed.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from convnp.data import mnist  # noqa: E402  (after the path set-up, to use this checkout)

PER_CLASS = {"train": 1000, "test": 200}


def balanced_indices(labels, per_class, rng):
    """``per_class`` indices of each label, drawn without replacement, sorted."""
    chosen = [rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in range(10)]
    return np.sort(np.concatenate(chosen))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default="/work/shared/data/mnist", help="folder with the MNIST IDX files")
    parser.add_argument("--out", default=str(ROOT / "src/convnp/data/mnist_sample.npz"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for split, train in (("train", True), ("test", False)):
        ds = mnist(root=args.src, train=train, download=False)
        idx = balanced_indices(ds.labels, PER_CLASS[split], rng)
        arrays[f"{split}_images"] = ds.images[idx, 0]  # (N, 28, 28): the channel axis is added on load
        arrays[f"{split}_labels"] = ds.labels[idx].astype(np.uint8)
        arrays[f"{split}_indices"] = idx.astype(np.int32)
    np.savez_compressed(args.out, **arrays)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {size / 1e6:.2f} MB, "
          + ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
