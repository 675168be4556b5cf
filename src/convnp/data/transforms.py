"""Batch transforms: each takes a float batch (N, C, H, W) and returns a new one.

They follow torchvision's transforms of the same names, applied to a whole batch at once
(each sample still gets its own random crop offset or flip, by fancy indexing, without a
Python loop over samples). Random transforms own a Generator made from ``rng`` (seed,
Generator or None). The input batch is never modified.
"""
import numbers

from .. import backend
from .. import checks
from ..init import as_rng


def _check_batch(x, who):
    """Refuse anything but a floating-point (N, C, H, W) array."""
    if not hasattr(x, "ndim") or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{who}: expected a batch (N, C, H, W), got {shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating-point batch (DataLoader makes one), got dtype {x.dtype}")


class Normalize:
    """Per-channel standardisation: ``y[:, c] = (x[:, c] - mean[c]) / std[c]``.

    Args: mean, std: a number or one value per channel (a single value applies to all).
    Shape: (N, C, H, W) -> same, in x's dtype (the constants are cast to it, as torchvision does).
    """

    def __init__(self, mean, std):
        self.mean = self._values(mean, "mean")
        self.std = self._values(std, "std")
        if any(s == 0 for s in self.std):
            raise ValueError(f"{self}: std must not be 0")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"{self}: mean and std must have the same length")

    def _values(self, v, what):
        values = (v,) if isinstance(v, numbers.Real) else tuple(v)
        if not values:
            raise ValueError(f"Normalize: {what} must not be empty")
        return tuple(checks.real(x, what, "Normalize") for x in values)

    def __call__(self, x):
        _check_batch(x, self)
        channels = max(len(self.mean), len(self.std))
        if channels != 1 and x.shape[1] != channels:
            raise ValueError(f"{self}: expected {channels} channels, got input of shape {x.shape}")
        xp = backend.array_module(x)
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape(1, -1, 1, 1)
        std = xp.asarray(self.std, dtype=x.dtype).reshape(1, -1, 1, 1)
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomCrop:
    """A random (H_out, W_out) window of each image, after zero padding of ``padding`` on each side.

    Args:
        size: int (square) or (H_out, W_out).
        padding: int >= 0, zeros added on all four sides first (torchvision's fill=0).
        rng: seed, Generator or None; every sample gets its own offset.
    Shape: (N, C, H, W) -> (N, C, H_out, W_out); needs H_out <= H + 2*padding (and so for W).
    """

    def __init__(self, size, padding=0, rng=None):
        self.size = checks.pair(size, "size", "RandomCrop")
        if not isinstance(padding, numbers.Integral) or isinstance(padding, bool):
            raise TypeError(f"RandomCrop: padding must be an int, got {padding!r}")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.rng = as_rng(rng)

    def __call__(self, x):
        _check_batch(x, self)
        xp = backend.array_module(x)
        p = self.padding
        if p:
            x = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        n, c, h, w = x.shape
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(
                f"{self}: crop {th}x{tw} is larger than the padded input {h}x{w} (input shape"
                f" {(n, c, h - 2 * p, w - 2 * p)})"
            )
        top = xp.asarray(self.rng.integers(0, h - th + 1, size=n))
        left = xp.asarray(self.rng.integers(0, w - tw + 1, size=n))
        # windows[i, c, a, b] is the (th, tw) window at offset (a, b) of image i: a view, no copy;
        # one fancy index picks window (top[i], left[i]) of each image -> (N, C, th, tw)
        windows = xp.lib.stride_tricks.sliding_window_view(x, (th, tw), axis=(2, 3))
        return windows[xp.arange(n), :, top, left]

    def __repr__(self):
        size = self.size[0] if self.size[0] == self.size[1] else self.size
        return f"RandomCrop(size={size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (drawn per sample).

    Args: p in [0, 1]; rng: seed, Generator or None.
    Shape: (N, C, H, W) -> same.
    """

    def __init__(self, p=0.5, rng=None):
        self.p = checks.real(p, "p", "RandomHorizontalFlip", low=0.0, high=1.0)
        self.rng = as_rng(rng)

    def __call__(self, x):
        _check_batch(x, self)
        xp = backend.array_module(x)
        flip = xp.asarray(self.rng.random(x.shape[0]) < self.p)
        out = x.copy()
        out[flip] = x[flip, ..., ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms one after the other: ``Compose([t1, t2])(x) == t2(t1(x))``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"
