"""MNIST and Fashion-MNIST from their IDX files: a local folder, the cache, or a download.

The official MNIST site no longer serves the files; the mirrors below do. Each entry of
``MNIST_FILES`` / ``FASHION_MNIST_FILES`` is the published md5 of the .gz file, checked on
every download and on every use of a cached file. The mirror lists are module globals so
that a test (or a user behind a proxy) can point them elsewhere; ``mirrors=`` overrides
them for one call.
"""
import numpy as np

from .dataset import Dataset
from .download import find_or_download
from .idx import read_idx

MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
FASHION_MNIST_MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

_OFFLINE_HINT = (
    "Offline? Pass root= a folder holding the four IDX files (--data-dir on the command line),"
    " or use convnp.data.mnist_sample() (--dataset mnist-sample), which is bundled."
)


def mnist(root=None, train=True, download=True, *, mirrors=None):
    """The MNIST digits: 60,000 training or 10,000 test images (N, 1, 28, 28) uint8, labels 0-9.

    Args:
        root: a folder holding the standard files (``train-images-idx3-ubyte.gz`` ...,
            gzip-compressed or not); their IDX structure is checked, not their md5. None
            uses the cache ``$CONVNP_DATA/mnist`` (default ``~/.cache/convnp/mnist``), where
            each file must match its published md5.
        train: the training split if true, else the test split.
        download: fetch missing files (into ``root`` or the cache) from ``MNIST_MIRRORS``.
        mirrors: base URLs to use instead of ``MNIST_MIRRORS``.

    Returns: a Dataset named "mnist" with classes "0" .. "9".

    Raises:
        FileNotFoundError: a file is missing and cannot be downloaded (download=False).
        DownloadError: every mirror failed (the message lists them and how to work offline).
        ValueError: a file is not valid IDX (wrong magic, type, dimensions, truncated), or
            images and labels disagree.
    """
    return _idx_dataset("mnist", "mnist", MNIST_FILES, MNIST_MIRRORS if mirrors is None else mirrors,
                        MNIST_CLASSES, root, train, download)


def fashion_mnist(root=None, train=True, download=True, *, mirrors=None):
    """Fashion-MNIST (Zalando): 60,000 / 10,000 clothing images (N, 1, 28, 28) uint8, 10 classes.

    Same files, format and arguments as ``mnist``; the cache is ``$CONVNP_DATA/fashion-mnist``
    and the mirrors ``FASHION_MNIST_MIRRORS``. Class names as torchvision's FashionMNIST.
    """
    return _idx_dataset("fashion_mnist", "fashion-mnist", FASHION_MNIST_FILES,
                        FASHION_MNIST_MIRRORS if mirrors is None else mirrors,
                        FASHION_MNIST_CLASSES, root, train, download)


def _idx_dataset(who, dataset, files, mirrors, classes, root, train, download):
    """Load the images and labels of one split and check that they agree."""
    prefix = "train" if train else "t10k"
    arrays = []
    names = []
    for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        filename = f"{prefix}-{kind}.gz"
        path = find_or_download(who, filename, root, dataset, files[filename], mirrors, download,
                                hint=_OFFLINE_HINT, alternatives=(filename[:-3],))
        arrays.append(read_idx(path, who=who, type_byte=0x08, ndim=ndim))
        names.append(path.name)
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{who}: {names[0]} has {images.shape[0]} images but {names[1]} has {labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= len(classes):
        raise ValueError(f"{who}: {names[1]} has label {labels.max()}, expected 0..{len(classes) - 1}")
    return Dataset(images[:, None], labels.astype(np.int64), classes, dataset)
