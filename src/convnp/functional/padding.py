"""Padding as torch.nn.functional.pad: constant (negative pads crop), reflect, replicate, circular.

``pad`` lists the padded axes from the last one backwards, PyTorch's order: (left, right)
pads W, (left, right, top, bottom) pads W and H. Along one padded axis of length n, with
``before`` entries added at its start, output position j reads x at p = j - before:

    constant    x[p] if 0 <= p < n, else value          negative pads crop
    reflect     p mirrored at the edges, the edge itself not repeated: -1 -> 1, n -> n - 2
    replicate   p clamped to [0, n - 1]: the edge repeated
    circular    p mod n: the other side wraps around

so every mode but constant is a gather x[..., index] with one index array per axis, and its
backward is the gather's adjoint: dx[k] = the sum of dy[j] over every j that read x[k], i.e.
dx = G.T @ dy with G the gather's 0/1 matrix (``indexing.gather_matrix``). The backward of
constant padding is dy cropped back.
"""
import numbers
from typing import NamedTuple

import numpy as np

from ..backend import array_module
from .. import checks
from .indexing import gather_matrix

MODES = ("constant", "reflect", "replicate", "circular")


class PadCache(NamedTuple):
    """What pad_backward needs (listed in pad_forward's docstring)."""

    x_shape: tuple
    mode: str
    gathers: tuple
    kept: tuple
    placed: tuple


def pad_forward(x, pad, mode="constant", value=0.0, who="pad"):
    """Pad the last len(pad) // 2 axes of x, as torch.nn.functional.pad.

    Args: x; pad: ints (left, right[, top, bottom]) in PyTorch's order; mode: 'constant',
    'reflect', 'replicate' or 'circular'; value: the fill of constant mode; who (for errors).
    Non-constant modes take 2 pads for a 2-D or 3-D x and 4 pads for a 3-D or 4-D x, as
    PyTorch; reflect pads must be smaller than the axis, circular ones at most its length.
    Shape: (..., H, W) -> (..., H + top + bottom, W + left + right)
    forward:  see the module docstring (y[..., j] = x[..., index[j]] or the constant)
    backward: dx = G_h.T @ dy @ G_w, the adjoint of the gathers (constant: dy cropped)
    Returns: (y, cache); cache a PadCache: x_shape, mode, gathers ((axis, G) per padded axis,
    G the gather's 0/1 matrix; non-constant modes), kept and placed (the slices of x kept and
    where they went in y; constant mode).
    """
    pairs = _check(x, pad, mode, value, who)
    xp = array_module(x)
    if mode == "constant":
        kept, placed, shape = _crop_slices(x.shape, pairs, who)
        y = xp.full(shape, value, dtype=x.dtype)
        y[placed] = x[kept]
        return y, PadCache(tuple(x.shape), mode, (), kept, placed)
    gathers = []
    y = x
    for axis, before, after in pairs:
        index = _source_index(x.shape[axis], before, after, mode)
        y = xp.take(y, xp.asarray(index), axis=axis)
        gathers.append((axis, xp.asarray(gather_matrix(index, x.shape[axis], x.dtype))))
    return y, PadCache(tuple(x.shape), mode, tuple(gathers), (), ())


def pad_backward(dy, cache):
    """Gradient of pad: the sum of dy over every output that read each input (constant: dy cropped)."""
    if cache.mode == "constant":
        dx = array_module(dy).zeros(cache.x_shape, dtype=dy.dtype)
        dx[cache.kept] = dy[cache.placed]  # cropped inputs (negative pads) get 0
        return dx
    dx = dy
    for axis, gather in cache.gathers:  # the last axis (W) or the one before (H): nothing else pads so
        dx = dx @ gather if axis == len(cache.x_shape) - 1 else gather.T @ dx
    return dx


def pad(x, pad, mode="constant", value=0.0):
    """torch.nn.functional.pad: the padded array alone (pad_forward without the cache)."""
    return pad_forward(x, pad, mode, value)[0]


def _source_index(n, before, after, mode):
    """For each output position along an axis of length n, the input position it reads."""
    p = np.arange(-before, n + after)
    if mode == "reflect":
        p = np.abs(p)                               # -1 -> 1: mirrored, the edge not repeated
        return np.where(p >= n, 2 * (n - 1) - p, p)  # n -> n - 2
    if mode == "replicate":
        return np.clip(p, 0, n - 1)
    return p % n                                    # circular


def _crop_slices(shape, pairs, who):
    """Constant mode: (slices of x kept, slices of y they go to, y's shape); negative pads crop."""
    kept, placed, out = [slice(None)] * len(shape), [slice(None)] * len(shape), list(shape)
    for axis, before, after in pairs:
        n = shape[axis]
        out[axis] = n + before + after
        if out[axis] < 0:
            raise ValueError(f"{who}: pad ({before}, {after}) gives dimension {axis} of input"
                             f" {checks.shape_str(shape)} a negative size {out[axis]}")
        lo, hi = max(-before, 0), n - max(-after, 0)  # the part of x that stays
        kept[axis] = slice(lo, max(hi, lo))
        placed[axis] = slice(max(before, 0), max(before, 0) + max(hi - lo, 0))
    return tuple(kept), tuple(placed), tuple(out)


def _check(x, pad, mode, value, who):
    """Validate pad_forward's arguments; return (axis, before, after) per padded axis."""
    checks.floating(x, who)
    if not isinstance(pad, (tuple, list)) or not all(
            isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"{who}: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2 or not 0 < len(pad) // 2 <= x.ndim:
        raise ValueError(f"{who}: pad must have an even length of at most 2 * x.ndim = {2 * x.ndim}, got {tuple(pad)}")
    if mode not in MODES:
        raise ValueError(f"{who}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{who}: value must be a number, got {value!r}")
    pairs = [(x.ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)]
    if mode != "constant":
        _check_mode(x.shape, tuple(pad), pairs, mode, who)
    return pairs


def _check_mode(shape, pad, pairs, mode, who):
    """The limits of reflect, replicate and circular padding (PyTorch's)."""
    k = len(pairs)
    if k > 2 or len(shape) not in (k + 1, k + 2):
        raise ValueError(f"{who}: mode {mode!r} with {len(pad)} pads expects a {k + 1}-D or {k + 2}-D"
                         f" input, got shape {checks.shape_str(shape)}")
    if min(pad) < 0:
        raise ValueError(f"{who}: negative padding is only supported in constant mode, got pad {pad} with mode {mode!r}")
    for axis, before, after in pairs:
        n = shape[axis]
        if n == 0:
            raise ValueError(f"{who}: mode {mode!r} cannot pad an empty dimension, got input {checks.shape_str(shape)}")
        if mode == "reflect" and max(before, after) >= n:
            raise ValueError(f"{who}: reflect padding must be smaller than the padded dimension, got pad"
                             f" ({before}, {after}) for dimension {axis} of size {n}")
        if mode == "circular" and max(before, after) > n:
            raise ValueError(f"{who}: circular padding must be at most the padded dimension's size, got pad"
                             f" ({before}, {after}) for dimension {axis} of size {n}")


__all__ = ["pad", "pad_forward", "pad_backward"]
