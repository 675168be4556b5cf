"""Softmax and log-softmax along one axis.

Each op is a ``*_forward(x, dim) -> (y, cache)`` and ``*_backward(dy, cache) -> dx`` pair;
the cache is a ``SoftmaxCache(y, axis)``. The dtype of ``x`` is kept.
"""
from collections import namedtuple

from .. import backend
from .. import checks

SoftmaxCache = namedtuple("SoftmaxCache", "y axis")


def _axis(x, dim, who):
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(
            f"{who}: dim {dim} is out of range for an input of shape {tuple(x.shape)}"
            f" (expected a dim in [{-x.ndim}, {x.ndim - 1}])"
        )
    return dim % x.ndim


def softmax_forward(x, dim=1, who="softmax"):
    """Softmax along ``dim``: y_i = exp(x_i - m) / sum_j exp(x_j - m),  m = max_j x_j.

    Shape: x any (ndim >= 1) -> y same; each slice along ``dim`` sums to 1.
    forward:  subtracting the max keeps exp from overflowing and does not change y
    backward: dx = y * (dy - sum_j(dy_j * y_j))       (sum along dim)
    Cache: SoftmaxCache(y, axis).
    """
    checks.floating(x, who)
    axis = _axis(x, dim, who)
    xp = backend.array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, SoftmaxCache(y, axis)


def softmax_backward(dy, cache):
    y = cache.y
    return y * (dy - (dy * y).sum(axis=cache.axis, keepdims=True))


def log_softmax_forward(x, dim=1, who="log_softmax"):
    """Log of the softmax along ``dim``: y_i = x_i - m - log(sum_j exp(x_j - m)),  m = max_j x_j.

    Shape: x any (ndim >= 1) -> y same.
    forward:  computed from the shifted logits, never as log(softmax(x)) (which underflows)
    backward: dx = dy - exp(y) * sum_j(dy_j)          (sum along dim)
    Cache: SoftmaxCache(y, axis) (y the log-probabilities).
    """
    checks.floating(x, who)
    axis = _axis(x, dim, who)
    xp = backend.array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return y, SoftmaxCache(y, axis)


def log_softmax_backward(dy, cache):
    xp = backend.array_module(dy)
    return dy - xp.exp(cache.y) * dy.sum(axis=cache.axis, keepdims=True)
