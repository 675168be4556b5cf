"""``mnist_sample``: a balanced subset of the real MNIST shipped inside the package.

10,000 training images (1,000 per digit) and 2,000 test images (200 per digit), drawn with
a fixed seed by ``tools/make_mnist_sample.py`` from the original IDX files and stored as
uint8 in ``mnist_sample.npz`` (np.savez_compressed; loaded with allow_pickle=False).
MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, licensed CC BY-SA 3.0;
see ``MNIST_SAMPLE.md`` next to the file.
"""
from importlib import resources

import numpy as np

from .dataset import Dataset
from .mnist_data import MNIST_CLASSES

SAMPLE_FILE = "mnist_sample.npz"


def mnist_sample(train=True):
    """The bundled MNIST subset: works offline, no download.

    Args:
        train: the 10,000 training images (1,000 per class) if true, else the 2,000 test
            images (200 per class).

    Returns: a Dataset named "mnist-sample", images (N, 1, 28, 28) uint8, classes "0" .. "9".
    It also has ``indices``: each image's position in the full MNIST split it came from.
    """
    split = "train" if train else "test"
    with resources.files(__package__).joinpath(SAMPLE_FILE).open("rb") as f:
        with np.load(f, allow_pickle=False) as npz:
            images = npz[f"{split}_images"]
            labels = npz[f"{split}_labels"]
            indices = npz[f"{split}_indices"]
    ds = Dataset(images, labels.astype(np.int64), MNIST_CLASSES, "mnist-sample")
    ds.indices = indices.astype(np.int64)
    return ds
