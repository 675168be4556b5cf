"""Dataset: images kept as uint8 (N, C, H, W) in memory, with int64 labels and class names."""
import numbers

import numpy as np


class Dataset:
    """A labelled image set held in memory: ``ds[i] -> (image, label)``.

    Pixels stay as stored (uint8 for every loader here, 1 byte a pixel); ``DataLoader``
    converts each batch to float32 in [0, 1] as it is drawn.

    Args:
        images: array (N, C, H, W), or (N, H, W) which becomes (N, 1, H, W); uint8, or a
            floating dtype for data that is already scaled (the DataLoader passes it through).
        labels: integer array (N,) with values in 0 .. len(classes) - 1; stored as int64.
        classes: the class names, label k being ``classes[k]``; None gives "0", "1", ...
            up to the largest label.
        name: a short name for messages and repr ("mnist", "cifar10", ...).

    Attributes: ``images``, ``labels``, ``classes`` (list of str), ``name``.
    Loaders may add more: ``cifar100`` adds ``coarse_labels`` and ``coarse_classes``,
    ``mnist_sample`` adds ``indices``; ``subset`` carries them along.

    Raises:
        TypeError: images or labels are not arrays of a usable dtype.
        ValueError: shapes disagree, or a label lies outside the classes.
    """

    def __init__(self, images, labels, classes=None, name="dataset"):
        self.name = str(name)
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8 and images.dtype.kind != "f":
            raise TypeError(f"{self.name}: images must be uint8 or floating, got dtype {images.dtype}")
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: labels must be integers, got dtype {labels.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"{self.name}: expected labels of shape ({images.shape[0]},) for {images.shape[0]} images,"
                f" got {labels.shape}"
            )
        labels = labels.astype(np.int64, copy=False)
        if classes is None:
            classes = [str(k) for k in range(int(labels.max()) + 1 if labels.size else 0)]
        classes = [str(c) for c in classes]
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f"{self.name}: labels must lie in 0..{len(classes) - 1} ({len(classes)} classes),"
                f" got values in {labels.min()}..{labels.max()}"
            )
        self.images = images
        self.labels = labels
        self.classes = classes

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        """``(image (C, H, W), label as int)`` of sample ``i`` (negative indices count from the end)."""
        if not isinstance(i, numbers.Integral) or isinstance(i, bool):
            raise TypeError(f"{self.name}: index must be an int, got {type(i).__name__}; use subset() for many")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.name}: index {i} is out of range for {n} samples")
        return self.images[i], int(self.labels[i])

    def subset(self, indices):
        """A new Dataset holding the samples at ``indices`` (copies them), same classes and name.

        Extra per-sample arrays a loader added (arrays of length N) are indexed the same way;
        other extra attributes are shared.
        """
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: subset() needs integer indices, got dtype {indices.dtype}")
        out = Dataset(self.images[indices], self.labels[indices], self.classes, self.name)
        for key, value in vars(self).items():
            if key not in vars(out):
                per_sample = isinstance(value, np.ndarray) and value.shape[:1] == (len(self),)
                setattr(out, key, value[indices] if per_sample else value)
        return out

    @property
    def shape(self):
        """The shape of one image, (C, H, W)."""
        return self.images.shape[1:]

    def __repr__(self):
        c, h, w = self.shape
        return (
            f"Dataset({self.name!r}, {len(self)} images, shape=({c}, {h}, {w}),"
            f" dtype={self.images.dtype}, {len(self.classes)} classes)"
        )
