"""Datasets, a DataLoader and batch transforms.

    from convnp.data import mnist_sample, DataLoader, Normalize
    train = mnist_sample(train=True)                  # bundled: works offline
    for x, y in DataLoader(train, batch_size=64, shuffle=True, rng=0,
                           transform=Normalize(0.1307, 0.3081)):
        ...                                           # x float32 (64, 1, 28, 28), y int64 (64,)

Loaders return a ``Dataset`` with images kept as uint8 (N, C, H, W): ``mnist``,
``fashion_mnist`` (IDX files), ``cifar10``, ``cifar100`` (binary archives),
``image_folder`` (root/<class>/<image>, with Pillow) and ``mnist_sample``. Downloads go
to ``$CONVNP_DATA/<dataset>`` (default ``~/.cache/convnp/<dataset>``) and are md5-checked.
"""
from .cifar import cifar10, cifar100
from .dataset import Dataset
from .download import DownloadError, cache_dir, download_file, md5sum
from .folder import image_folder, load_image
from .idx import parse_idx, read_idx
from .loader import DataLoader
from .mnist_data import fashion_mnist, mnist
from .sample import mnist_sample
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip

__all__ = [
    "Dataset", "DataLoader",
    "mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder", "mnist_sample",
    "load_image", "read_idx", "parse_idx",
    "cache_dir", "download_file", "md5sum", "DownloadError",
    "Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip",
]
