"""DataLoader: float batches (x, y) drawn from a Dataset kept as uint8."""
import numpy as np

from .. import checks
from ..init import as_rng
from .dataset import Dataset


class DataLoader:
    """Iterate over a dataset in batches ``(x, y)``: x float32 (B, C, H, W) in [0, 1], y int64 (B,).

    Each batch is gathered with one fancy index into ``dataset.images`` and converted
    as ``x = images[idx].astype(float32) / 255`` (as torchvision's ToTensor), so only a
    batch at a time exists in float. Images already floating point are passed through in
    their own dtype, unscaled. ``transform`` (e.g. ``Compose([RandomCrop(32, 4), Normalize(...)])``)
    is then applied to the whole float batch.

    Args:
        dataset: a Dataset (anything with ``images`` (N, C, H, W) and ``labels`` (N,)), or a
            tuple ``(images, labels)`` of arrays.
        batch_size: samples per batch (> 0); the last batch may be smaller.
        shuffle: draw a new random order at the start of every epoch (every ``iter()``).
        drop_last: skip the last batch when it is smaller than ``batch_size``.
        rng: seed, np.random.Generator or None, for the shuffling; a seed makes the
            sequence of epochs reproducible. A Generator passed in is used (and advanced) as is.
        transform: a callable applied to each float batch x.

    ``len(loader)`` is the number of batches an epoch yields:
    ``ceil(N / batch_size)``, or ``N // batch_size`` with drop_last.

    Raises:
        TypeError: batch_size is not an int, the dataset has no images/labels, or transform
            is not callable.
        ValueError: batch_size <= 0, an empty dataset, or images and labels of different length.
    """

    def __init__(self, dataset, batch_size=64, shuffle=False, drop_last=False, rng=None, transform=None):
        if isinstance(dataset, tuple) and len(dataset) == 2:
            dataset = Dataset(*dataset, name="arrays")
        if not hasattr(dataset, "images") or not hasattr(dataset, "labels"):
            raise TypeError(
                f"DataLoader: expected a Dataset or an (images, labels) tuple, got {type(dataset).__name__}"
            )
        self.batch_size = checks.positive_int(batch_size, "batch_size", "DataLoader")
        n = len(dataset.images)
        if n == 0:
            raise ValueError(f"DataLoader: the dataset {getattr(dataset, 'name', '')!r} is empty")
        if len(dataset.labels) != n:
            raise ValueError(f"DataLoader: {n} images but {len(dataset.labels)} labels")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.rng = as_rng(rng)

    def __len__(self):
        n = len(self.dataset.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        images, labels = self.dataset.images, self.dataset.labels
        n = len(images)
        order = self.rng.permutation(n) if self.shuffle else None
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            idx = order[lo:hi] if order is not None else slice(lo, hi)
            yield self._batch(images[idx], labels[idx])

    def _batch(self, x, y):
        """Convert one gathered batch to float and apply the transform."""
        if x.dtype == np.uint8:
            x = x.astype(np.float32)
            x /= np.float32(255)
        elif not x.flags.owndata:
            x = x.copy()  # a slice of float images: never hand out a view of the dataset
        y = np.array(y, dtype=np.int64)
        if self.transform is not None:
            x = self.transform(x)
        return x, y

    def __repr__(self):
        return (
            f"DataLoader({getattr(self.dataset, 'name', 'dataset')!r}, batch_size={self.batch_size},"
            f" shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})"
        )
