"""Resizing: interpolate (nearest, bilinear) as torch.nn.functional.interpolate, pixel (un)shuffle.

Both interpolation modes are separable: each output row reads input rows, each output column
input columns, so one 1-D rule per axis defines them. For an axis of length n resized to m:

    nearest   src(i) = min(floor(i * s), n - 1)
    bilinear  src(i) = s * (i + 0.5) - 0.5, at least 0         (align_corners=False)
              src(i) = i * (n - 1) / (m - 1)                   (align_corners=True)
              y(i)   = (1 - l) * x[i0] + l * x[i1],  i0 = floor(src), i1 = min(i0 + 1, n - 1), l = src - i0

with s = 1 / scale_factor when a scale factor is given (and not recomputed), else n / m:
PyTorch's rules, in float32 for nearest and in the input's dtype for bilinear, as PyTorch
computes them. An axis that keeps its size is copied. In matrix form y = A_h @ x @ A_w.T with
A (m, n) holding the weights (nearest: a single 1 per row); the backward is
dx = A_h.T @ dy @ A_w for both modes (docs/upsampling.md).
"""
import math
import numbers
from typing import NamedTuple

import numpy as np

from ..backend import array_module
from .. import checks
from .indexing import gather_matrix

MODES = ("nearest", "bilinear")


class InterpolateCache(NamedTuple):
    """What interpolate_backward needs (listed in interpolate_forward's docstring)."""

    mode: str
    x_shape: tuple
    rows: object
    cols: object


def interpolate_forward(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                        recompute_scale_factor=None, who="interpolate"):
    """Resize the H and W of x (N, C, H, W), as torch.nn.functional.interpolate.

    Args: x; size (int or pair) or scale_factor (number or pair), exactly one; mode 'nearest'
    or 'bilinear'; align_corners (bilinear only; None means False); recompute_scale_factor:
    True computes s from the output size instead of using 1/scale_factor (torch's default
    None: use it); who (for errors).
    Shape: (N, C, H, W) -> (N, C, H_out, W_out), H_out = size or floor(H * scale_factor).
    forward and backward: see the module docstring.
    Returns: (y, cache); cache an InterpolateCache: mode, x_shape, rows and cols: the
    interpolation matrices A_h (H_out, H) and A_w (W_out, W).
    """
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    align_corners = check_resize_args(size, scale_factor, mode, align_corners, recompute_scale_factor, who)
    out, scales = output_size_and_scales(x.shape, size, scale_factor, recompute_scale_factor, who)
    (h, w), (oh, ow) = x.shape[2:], out
    if mode == "nearest":
        rows, cols = _nearest_index(h, oh, scales[0]), _nearest_index(w, ow, scales[1])
        xp = array_module(x)
        y = xp.take(xp.take(x, xp.asarray(cols), axis=3), xp.asarray(rows), axis=2)
        a_h, a_w = gather_matrix(rows, h, x.dtype), gather_matrix(cols, w, x.dtype)  # a single 1 per row
        return y, InterpolateCache(mode, tuple(x.shape), a_h, a_w)
    rows = _linear_weights(h, oh, align_corners, scales[0], x.dtype)
    cols = _linear_weights(w, ow, align_corners, scales[1], x.dtype)
    t = _lerp(x, cols, axis=3)        # along W, then along H: PyTorch's order of operations
    y = _lerp(t, rows, axis=2)
    return y, InterpolateCache(mode, tuple(x.shape), _matrix(rows, h, x.dtype), _matrix(cols, w, x.dtype))


def interpolate_backward(dy, cache):
    """Gradient of interpolate: each output's gradient back to the inputs it read, with their weights.

    dx = A_h.T @ dy @ A_w   (nearest: the sum of dy over the outputs that copied each input)
    """
    xp = array_module(dy)
    return xp.asarray(cache.rows).T @ dy @ xp.asarray(cache.cols)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    """torch.nn.functional.interpolate: the resized array alone (interpolate_forward without the cache)."""
    return interpolate_forward(x, size, scale_factor, mode, align_corners, recompute_scale_factor)[0]


# -- the 1-D rules ------------------------------------------------------------------------------


def _nearest_index(n, m, scale):
    """Source index of each of m outputs from n inputs: PyTorch's nearest_idx, in float32."""
    if m == n:
        return np.arange(m)
    if m == 2 * n:
        return np.arange(m) // 2
    s = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(m)
    return np.minimum(np.floor(np.arange(m, dtype=np.float32) * s).astype(np.int64), n - 1)


def _linear_weights(n, m, align_corners, scale, dtype):
    """(i0, i1, l0, l1) of each of m outputs from n inputs, computed in ``dtype`` as PyTorch does."""
    ft = np.dtype(dtype).type
    i = np.arange(m, dtype=dtype)
    if m == n:
        return np.arange(m), np.arange(m), np.ones(m, dtype), np.zeros(m, dtype)
    if align_corners:
        src = (ft(n - 1) / ft(m - 1) if m > 1 else ft(0)) * i
    else:
        s = ft(1.0 / scale) if scale else ft(n) / ft(m)
        src = np.maximum(s * (i + ft(0.5)) - ft(0.5), ft(0))
    # floorf: PyTorch floors in float32 even for float64 inputs
    i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n - 1)
    l1 = np.clip(src - i0, 0, 1).astype(dtype)
    return i0, i0 + (i0 < n - 1), (ft(1) - l1).astype(dtype), l1


def _lerp(a, weights, axis):
    """(1 - l) * a[i0] + l * a[i1] along ``axis``: gathers, so a NaN or inf stays where it was."""
    xp = array_module(a)
    i0, i1, l0, l1 = weights
    shape = (-1,) + (1,) * (a.ndim - 1 - axis)
    return (xp.take(a, xp.asarray(i0), axis=axis) * xp.asarray(l0).reshape(shape)
            + xp.take(a, xp.asarray(i1), axis=axis) * xp.asarray(l1).reshape(shape))


def _matrix(weights, n, dtype):
    """The (m, n) interpolation matrix A of one axis: A[i, i0] += l0, A[i, i1] += l1."""
    i0, i1, l0, l1 = weights
    a = np.zeros((len(i0), n), dtype=dtype)
    np.add.at(a, (np.arange(len(i0)), i0), l0)
    np.add.at(a, (np.arange(len(i0)), i1), l1)
    return a


# -- arguments ---------------------------------------------------------------------------------


def check_resize_args(size, scale_factor, mode, align_corners, recompute_scale_factor, who):
    """Validate interpolate's arguments that do not depend on x; return align_corners as a bool."""
    if (size is None) == (scale_factor is None):
        given = "both" if size is not None else "neither"
        raise ValueError(f"{who}: exactly one of size and scale_factor must be given, got {given}")
    if mode not in MODES:
        raise ValueError(f"{who}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    for name, value in (("align_corners", align_corners), ("recompute_scale_factor", recompute_scale_factor)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{who}: {name} must be None, True or False, got {value!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{who}: align_corners can only be set with mode 'bilinear', got mode 'nearest'"
                         f" and align_corners={align_corners}")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{who}: recompute_scale_factor=True is not meaningful with an explicit size")
    if size is not None:
        checks.pair(size, "size", who)
    else:
        _scales(scale_factor, who)
    return bool(align_corners)


def output_size_and_scales(x_shape, size, scale_factor, recompute_scale_factor, who):
    """((H_out, W_out), (s_h, s_w)): the scales the kernel uses, None where it uses n / m."""
    if size is not None:
        return checks.pair(size, "size", who), (None, None)
    scales = _scales(scale_factor, who)
    out = tuple(math.floor(float(n) * s) for n, s in zip(x_shape[-2:], scales))
    if min(out) < 1:
        raise ValueError(f"{who}: scale_factor {scale_factor} gives an empty output {out} for the input"
                         f" {checks.shape_str(x_shape)}")
    return out, ((None, None) if recompute_scale_factor else scales)


def _scales(scale_factor, who):
    """scale_factor as a pair of positive finite floats."""
    pair = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if len(pair) != 2 or not all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in pair):
        raise TypeError(f"{who}: scale_factor must be a number or a pair of numbers, got {scale_factor!r}")
    if not all(math.isfinite(s) and s > 0 for s in pair):
        raise ValueError(f"{who}: scale_factor must be > 0, got {scale_factor!r}")
    return tuple(float(s) for s in pair)


# -- pixel shuffle ------------------------------------------------------------------------------


class ShuffleCache(NamedTuple):
    """What the pixel (un)shuffle backward needs: the factor r."""

    factor: int


def pixel_shuffle_forward(x, upscale_factor, who="pixel_shuffle"):
    """Channels to space (torch.nn.functional.pixel_shuffle): each r*r block of channels becomes an r x r patch.

    Shape: (*, C*r*r, H, W) -> (*, C, H*r, W*r)
    forward:  y[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w]
    backward: dx = pixel_unshuffle(dy, r)   (a permutation: its adjoint is its inverse)
    Returns: (y, cache); cache a ShuffleCache: factor.
    """
    r = checks.positive_int(upscale_factor, "upscale_factor", who)
    checks.floating(x, who)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(f"{who}: expected input (*, C*{r * r}, H, W) with channels divisible by"
                         f" upscale_factor**2 = {r * r}, got {tuple(x.shape)}")
    return _shuffle(x, r), ShuffleCache(r)


def pixel_shuffle_backward(dy, cache):
    """Gradient of pixel_shuffle: the inverse permutation, pixel_unshuffle."""
    return _unshuffle(dy, cache.factor)


def pixel_unshuffle_forward(x, downscale_factor, who="pixel_unshuffle"):
    """Space to channels (torch.nn.functional.pixel_unshuffle): the inverse of pixel_shuffle.

    Shape: (*, C, H*r, W*r) -> (*, C*r*r, H, W)
    forward:  y[..., c*r*r + i*r + j, h, w] = x[..., c, h*r + i, w*r + j]
    backward: dx = pixel_shuffle(dy, r)
    Returns: (y, cache); cache a ShuffleCache: factor.
    """
    r = checks.positive_int(downscale_factor, "downscale_factor", who)
    checks.floating(x, who)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"{who}: expected input (*, C, H, W) with H and W divisible by downscale_factor"
                         f" = {r}, got {tuple(x.shape)}")
    return _unshuffle(x, r), ShuffleCache(r)


def pixel_unshuffle_backward(dy, cache):
    """Gradient of pixel_unshuffle: the inverse permutation, pixel_shuffle."""
    return _shuffle(dy, cache.factor)


def _shuffle(x, r):
    *lead, c, h, w = x.shape
    k = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)        # (..., C, i, j, H, W)
    y = y.transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (..., C, H, i, W, j)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def _unshuffle(x, r):
    *lead, c, h, w = x.shape
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)          # (..., C, H, i, W, j)
    y = y.transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (..., C, i, j, H, W)
    return y.reshape(*lead, c * r * r, h // r, w // r)


__all__ = ["interpolate", "interpolate_forward", "interpolate_backward", "pixel_shuffle_forward",
           "pixel_shuffle_backward", "pixel_unshuffle_forward", "pixel_unshuffle_backward"]
