"""Piecewise-linear activations: ReLU6, Hardtanh, Hardsigmoid, Hardswish and PReLU (learned slope).

Each op is a ``*_forward(x, ...) -> (y, cache)`` and ``*_backward(dy, cache)`` pair; shapes are
kept. Values, and the derivative taken at each kink, are PyTorch's: a clamp passes the
gradient only strictly inside its range (Hardtanh'(min_val) = Hardtanh'(max_val) = 0,
ReLU6'(0) = ReLU6'(6) = 0, Hardsigmoid'(+-3) = 0), Hardswish'(-3) = 0 and Hardswish'(3) = 1,
PReLU'(0) = weight.
"""
from collections import namedtuple

from .. import backend
from .. import checks
from .elementwise import select

PReLUCache = namedtuple("PReLUCache", "x weight channel_axes")


def hardtanh_forward(x, min_val=-1.0, max_val=1.0, who="hardtanh"):
    """Clamp to [min_val, max_val].

    Shape: x any -> y same.
    forward:  y = min(max(x, min_val), max_val)
    backward: dx = dy if min_val < x < max_val else 0      (0 at both kinks, as in PyTorch)
    Cache: the mask min_val < x < max_val.
    """
    checks.floating(x, who)
    min_val = checks.real(min_val, "min_val", who)
    max_val = checks.real(max_val, "max_val", who)
    if max_val <= min_val:
        raise ValueError(f"{who}: max_val must be greater than min_val, got min_val={min_val}, max_val={max_val}")
    xp = backend.array_module(x)
    return xp.clip(x, min_val, max_val), (x > min_val) & (x < max_val)


def hardtanh_backward(dy, mask):
    return dy * mask


def relu6_forward(x, who="relu6"):
    """ReLU capped at 6 (MobileNet): hardtanh with min_val = 0, max_val = 6.

    Shape: x any -> y same.
    forward:  y = min(max(x, 0), 6)
    backward: dx = dy if 0 < x < 6 else 0                  (0 at x = 0 and x = 6, as in PyTorch)
    Cache: the mask 0 < x < 6.
    """
    return hardtanh_forward(x, 0.0, 6.0, who)


relu6_backward = hardtanh_backward


def hardsigmoid_forward(x, who="hardsigmoid"):
    """Piecewise-linear sigmoid: 0 below -3, 1 above 3, x/6 + 1/2 between.

    Shape: x any -> y same.
    forward:  y = min(max(x + 3, 0), 6) / 6
    backward: dx = dy / 6 if -3 < x < 3 else 0
    Cache: the mask -3 < x < 3.
    PyTorch's float64 backward multiplies by the float32 constant 1/6 (0.16666667163...);
    this one by 1/6 in the input's dtype.
    """
    checks.floating(x, who)
    xp = backend.array_module(x)
    return xp.clip(x + 3, 0, 6) / 6, (x > -3) & (x < 3)


def hardsigmoid_backward(dy, mask):
    return dy * mask / 6


def hardswish_forward(x, who="hardswish"):
    """x * hardsigmoid(x) (MobileNetV3).

    Shape: x any -> y same.
    forward:  y = x * min(max(x + 3, 0), 6) / 6
    backward: dx = 0 if x <= -3;  dy if x >= 3;  dy * (x / 3 + 1/2) between
    Cache: x.
    """
    checks.floating(x, who)
    xp = backend.array_module(x)
    return x * xp.clip(x + 3, 0, 6) / 6, x


def hardswish_backward(dy, x):
    inside = dy * (x / 3 + 0.5)
    # select: where's values without a branch per element (elementwise.select)
    return select(x <= -3, 0, select(x >= 3, dy, inside)).astype(dy.dtype, copy=False)


def prelu_forward(x, weight, who="prelu"):
    """Leaky ReLU with a learned slope: one shared, or one per channel (axis 1).

    Args: x float (N, C, *) (or any shape when weight has one entry); weight (1,) or (C,).
    Shape: x any -> y same; weight (1,) or (C,).
    forward:  y = x if x > 0 else a * x                  (a = weight[c] for channel c)
    backward: dx = dy if x > 0 else a * dy               (a at x = 0, as in PyTorch)
              dweight[c] = sum over every axis but 1 of (x <= 0) * x * dy   (all axes if shared)
    Cache: PReLUCache(x, weight, channel_axes) (channel_axes: the axes summed for dweight).
    """
    checks.floating(x, who)
    checks.floating(weight, who)
    k = weight.size
    if weight.ndim != 1 or (k != 1 and (x.ndim < 2 or x.shape[1] != k)):
        raise ValueError(f"{who}: expected weight of shape (1,) or (C,) with C = input.shape[1],"
                         f" got weight {tuple(weight.shape)} for input {tuple(x.shape)}")
    a = weight.astype(x.dtype, copy=False)
    if k == 1:
        a, axes = a.reshape(()), tuple(range(x.ndim))
    else:
        a, axes = a.reshape((1, k) + (1,) * (x.ndim - 2)), (0,) + tuple(range(2, x.ndim))
    # select: where's values without a branch per element (elementwise.select)
    return select(x > 0, x, a * x), PReLUCache(x, a, axes)


def prelu_backward(dy, cache):
    """Returns (dx, dweight); dweight has the weight's shape, (1,) or (C,)."""
    positive = cache.x > 0
    # select: where's values without a branch per element (elementwise.select)
    dx = select(positive, dy, cache.weight * dy)
    dweight = select(positive, 0, cache.x * dy).sum(axis=cache.channel_axes)
    return dx, dweight.reshape(-1).astype(dy.dtype, copy=False)


__all__ = ["hardtanh_forward", "hardtanh_backward", "relu6_forward", "relu6_backward",
           "hardsigmoid_forward", "hardsigmoid_backward", "hardswish_forward", "hardswish_backward",
           "prelu_forward", "prelu_backward"]
