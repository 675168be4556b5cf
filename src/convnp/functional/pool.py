"""Pooling over (N, C, H, W) arrays: max, average, global and adaptive average.

Every window op here walks the KH*KW kernel offsets, not the pixels: for offset
(i, j) the strided view ``a[:, :, i::S, j::S]`` (trimmed to H_out x W_out) holds
element (i, j) of every window at once, so one offset costs one vectorised NumPy
operation over all samples, channels and windows. Windows overlap when S < K; the
backward passes then add into the input gradient instead of writing it.

The common case, 2x2 windows with stride 2 and no padding, needs no special code:
no padding is allocated, each offset view is the same (N, C, H/2, W/2) slice that
``x.reshape(N, C, H/2, 2, W/2, 2)[:, :, :, i, :, j]`` would give, and the
non-overlapping backward writes each view once instead of accumulating.

Output size along one axis, as PyTorch computes it (``pool_output_size``):
    floor mode: H_out = (H + 2*P - K) // S + 1
    ceil mode:  H_out = ceil((H + 2*P - K) / S) + 1, less one if the last window
                would start at or after H + P (inside the right padding or beyond)
"""
import math
from typing import NamedTuple

import numpy as np

from ..backend import array_module
from .. import checks


# -- geometry ---------------------------------------------------------------------------
class PoolGeometry(NamedTuple):
    """A pooling window's geometry, every field a pair (rows, columns).

    kernel (KH, KW), stride (SH, SW), padding (PH, PW) on each side, out_size (H_out, W_out).
    """

    kernel: tuple
    stride: tuple
    padding: tuple
    out_size: tuple


def pool_output_size(size, kernel_size, stride, padding=0, ceil_mode=False):
    """Number of windows along one axis of length ``size`` (PyTorch's rule; may be < 1).

    Args: size, kernel_size, stride, padding (ints), ceil_mode (bool).
    Returns: floor mode (size + 2*P - K) // S + 1; ceil mode ceil((size + 2*P - K) / S) + 1,
    less one when the last window would start at or after size + P.
    """
    span = size + 2 * padding - kernel_size
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1          # ceil division that also holds for span < 0
    if (out - 1) * stride >= size + padding:
        out -= 1                          # the last window must start inside input or left padding
    return out


def _pool_args(kernel_size, stride, padding, who):
    """Validated (kernel, stride, padding) pairs; stride None means stride = kernel."""
    kernel = checks.pair(kernel_size, "kernel_size", who)
    stride = kernel if stride is None else checks.pair(stride, "stride", who)
    padding = checks.pair(padding, "padding", who, minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"{who}: padding must be at most half of kernel_size, got padding {padding}"
            f" with kernel_size {kernel}"
        )
    return kernel, stride, padding


def _output_hw(shape, kernel, stride, padding, ceil_mode, who):
    """(H_out, W_out) for an input of ``shape`` (N, C, H, W); ValueError if a side has no window."""
    h, w = shape[2], shape[3]
    if h < 1 or w < 1:
        raise ValueError(f"{who}: expected input (N, C, H, W) with H, W >= 1, got {tuple(shape)}")
    out = tuple(pool_output_size(s, k, st, p, ceil_mode) for s, k, st, p in zip((h, w), kernel, stride, padding))
    if min(out) < 1:
        padded = (h + 2 * padding[0], w + 2 * padding[1])
        raise ValueError(
            f"{who}: kernel_size {kernel} is larger than the padded input {padded}"
            f" (input {tuple(shape)}, padding {padding})"
        )
    return out


def _checked(x, kernel_size, stride, padding, ceil_mode, who):
    """The PoolGeometry of a window over x (N, C, H, W); ValueError for a bad input or arguments."""
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, who)
    return PoolGeometry(kernel, stride, padding, _output_hw(x.shape, kernel, stride, padding, ceil_mode, who))


def _padded(x, geometry, fill):
    """``x`` inside a border of ``fill``, big enough for every window; ``x`` itself if none is needed.

    Padding is P on the top/left; on the bottom/right it is whatever the windows reach,
    which in ceil mode can run past the P padded rows (and in floor mode can stop short).
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = geometry.kernel, geometry.stride, geometry.padding
    oh, ow = geometry.out_size
    reach_h = sh * (oh - 1) + kh
    reach_w = sw * (ow - 1) + kw
    if ph == 0 and pw == 0 and reach_h <= h and reach_w <= w:
        return x
    xp = array_module(x)
    big = xp.full((n, c, max(reach_h, ph + h), max(reach_w, pw + w)), fill, dtype=x.dtype)
    big[:, :, ph:ph + h, pw:pw + w] = x
    return big


def _cropped(big, x_shape, padding):
    """The gradient of the real input inside a padded gradient ``big``."""
    h, w = x_shape[2], x_shape[3]
    if big.shape == tuple(x_shape):
        return big
    xp = array_module(big)
    return xp.ascontiguousarray(big[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w])


def _window_views(a, geometry):
    """For each kernel offset (i, j), row-major, the (N, C, H_out, W_out) view a[:, :, i + S*oh, j + S*ow]."""
    (kh, kw), (sh, sw), (ho, wo) = geometry.kernel, geometry.stride, geometry.out_size
    for i in range(kh):
        for j in range(kw):
            yield a[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def _overlapping(geometry):
    """Whether windows overlap (then backward adds into dx instead of writing it)."""
    return geometry.stride[0] < geometry.kernel[0] or geometry.stride[1] < geometry.kernel[1]


# -- max pooling --------------------------------------------------------------------------
class MaxPoolCache(NamedTuple):
    """What max_pool2d_backward needs (listed in max_pool2d_forward's docstring)."""

    x_padded: object
    y: object
    x_shape: tuple
    geometry: PoolGeometry


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, who="max_pool2d"):
    """Maximum over each KH x KW window (torch.nn.functional.max_pool2d).

    Args: x, kernel_size (int or pair), stride (default kernel_size), padding (<= kernel/2,
    filled with -inf), ceil_mode, who (names the caller in error messages).
    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out), H_out = (H + 2*P - K) // S + 1
    (ceil mode: see ``pool_output_size``).
    forward:  y[n, c, oh, ow] = max over (i, j) of x_pad[n, c, S*oh + i, S*ow + j]
    backward: dx[argmax of each window] += dy; on ties the first maximum in row-major
              window order takes it, as in PyTorch. NaN propagates to y.
    Returns: (y, cache); cache a MaxPoolCache: x_padded (x inside its -inf border, or x
    itself, by reference), y (by reference), x_shape, geometry (a PoolGeometry).
    """
    geometry = _checked(x, kernel_size, stride, padding, ceil_mode, who)
    xp = array_module(x)
    xw = _padded(x, geometry, -math.inf)
    views = _window_views(xw, geometry)
    y = next(views).copy()
    for v in views:
        xp.maximum(y, v, out=y)
    return y, MaxPoolCache(xw, y, tuple(x.shape), geometry)


def max_pool2d_backward(dy, cache):
    """Gradient of max pooling: each dy[n, c, oh, ow] goes to its window's (first) maximum.

    Shape: dy (N, C, H_out, W_out) -> dx (N, C, H, W).
    The cache keeps the (padded) input and the output by reference; the arg-max is
    found again here by comparing each offset view with the output.
    """
    xw, y, geometry = cache.x_padded, cache.y, cache.geometry
    xp = array_module(dy)
    dxw = xp.zeros(xw.shape, dtype=xw.dtype)
    unclaimed = xp.ones(y.shape, dtype=bool)     # windows whose maximum is not yet found
    overlap = _overlapping(geometry)
    for v, dv in zip(_window_views(xw, geometry), _window_views(dxw, geometry)):
        hit = v == y
        hit &= unclaimed                          # an earlier offset with the same value wins ties
        unclaimed ^= hit                          # hit is a subset of unclaimed: xor removes it
        if overlap:
            dv += dy * hit
        else:
            xp.multiply(dy, hit, out=dv)          # each input element is in at most one window
    return _cropped(dxw, cache.x_shape, geometry.padding)


# -- average pooling ------------------------------------------------------------------------
class AvgPoolCache(NamedTuple):
    """What avg_pool2d_backward needs (listed in avg_pool2d_forward's docstring)."""

    padded_shape: tuple
    x_shape: tuple
    dtype: object
    divisor: object
    geometry: PoolGeometry


def _divisor_1d(size, kernel, stride, padding, n_out, count_include_pad):
    """Per-window divisor along one axis, as PyTorch counts it.

    A window [start, start + K) is first clipped to the padded input's end, size + P
    (ceil-mode windows can run past it); count_include_pad counts what is left, padding
    included, otherwise only the real positions [max(start, 0), min(end, size)).
    """
    start = np.arange(n_out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if not count_include_pad:
        start = np.maximum(start, 0)
        end = np.minimum(end, size)
    return end - start


def _avg_divisor(x, geometry, count_include_pad):
    """The divisor of every window: a Python int when all windows share it, else an (H_out, W_out) array."""
    (kh, kw), (sh, sw), (ph, pw) = geometry.kernel, geometry.stride, geometry.padding
    oh, ow = geometry.out_size
    dh = _divisor_1d(x.shape[2], kh, sh, ph, oh, count_include_pad)
    dw = _divisor_1d(x.shape[3], kw, sw, pw, ow, count_include_pad)
    if np.all(dh == kh) and np.all(dw == kw):
        return kh * kw
    xp = array_module(x)
    return xp.asarray(np.outer(dh, dw), dtype=x.dtype)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                       who="avg_pool2d"):
    """Mean over each KH x KW window (torch.nn.functional.avg_pool2d, no divisor_override).

    Args: x, kernel_size (int or pair), stride (default kernel_size), padding (<= kernel/2,
    zeros), ceil_mode, count_include_pad (padded zeros count in the divisor), who.
    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out), sizes as for max pooling.
    forward:  y[n, c, oh, ow] = sum over (i, j) of x_pad[n, c, S*oh + i, S*ow + j] / d[oh, ow]
              d = window size clipped to the padded input (count_include_pad) or the
              number of real pixels in the window (otherwise)
    backward: dx_pad[n, c, S*oh + i, S*ow + j] += dy[n, c, oh, ow] / d[oh, ow]
    Returns: (y, cache); cache an AvgPoolCache: padded_shape (of x inside its zero border),
    x_shape, dtype, divisor (an int, or (H_out, W_out) where windows differ), geometry.
    """
    geometry = _checked(x, kernel_size, stride, padding, ceil_mode, who)
    xp = array_module(x)
    xw = _padded(x, geometry, 0)
    views = _window_views(xw, geometry)
    y = next(views).copy()
    for v in views:
        xp.add(y, v, out=y)               # row-major order, the order PyTorch sums in
    divisor = _avg_divisor(x, geometry, count_include_pad)
    y /= divisor
    return y, AvgPoolCache(xw.shape, tuple(x.shape), x.dtype, divisor, geometry)


def avg_pool2d_backward(dy, cache):
    """Gradient of average pooling: dy / divisor spread over each window.

    Shape: dy (N, C, H_out, W_out) -> dx (N, C, H, W).
    """
    xp = array_module(dy)
    g = dy / cache.divisor
    dxw = xp.zeros(cache.padded_shape, dtype=cache.dtype)
    overlap = _overlapping(cache.geometry)
    for dv in _window_views(dxw, cache.geometry):
        if overlap:
            dv += g
        else:
            dv[...] = g
    return _cropped(dxw, cache.x_shape, cache.geometry.padding)


# -- global and adaptive average pooling ------------------------------------------------------
class GlobalPoolCache(NamedTuple):
    """What global_avg_pool2d_backward needs: the input's shape and dtype."""

    x_shape: tuple
    dtype: object


class AdaptiveAvgCache(NamedTuple):
    """What adaptive_avg_pool2d_backward needs: the averaging matrices A (H_out, H) and B (W_out, W)."""

    rows: object
    cols: object


def global_avg_pool2d_forward(x, who="global_avg_pool2d"):
    """Mean over all of H and W (adaptive_avg_pool2d with output size 1).

    Shape: x (N, C, H, W) -> y (N, C, 1, 1).
    forward:  y[n, c] = sum over h, w of x[n, c, h, w] / (H*W)
    backward: dx[n, c, h, w] = dy[n, c] / (H*W)
    Returns: (y, cache); cache a GlobalPoolCache: x_shape, dtype.
    """
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{who}: expected input (N, C, H, W) with H, W >= 1, got {tuple(x.shape)}")
    return x.mean(axis=(2, 3), keepdims=True), GlobalPoolCache(tuple(x.shape), x.dtype)


def global_avg_pool2d_backward(dy, cache):
    """Gradient of global average pooling: dy / (H*W) broadcast over every position."""
    xp = array_module(dy)
    dx = xp.empty(cache.x_shape, dtype=cache.dtype)
    dx[...] = dy / (cache.x_shape[2] * cache.x_shape[3])
    return dx


def _adaptive_matrix(size, n_out, xp, dtype):
    """(n_out, size) averaging matrix: row o is 1/len over PyTorch's window [floor(o*size/n_out), ceil((o+1)*size/n_out))."""
    o = np.arange(n_out)
    start = (o * size) // n_out
    end = -((-(o + 1) * size) // n_out)
    idx = np.arange(size)
    inside = (idx >= start[:, None]) & (idx < end[:, None])
    return xp.asarray(inside / (end - start)[:, None], dtype=dtype)


def adaptive_avg_pool2d_forward(x, output_size, who="adaptive_avg_pool2d"):
    """Average over adaptive windows that split H and W into H_out and W_out parts (PyTorch's windows).

    Args: x, output_size (int or pair (H_out, W_out)), who.
    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out).
    Window of output row o: rows [floor(o*H/H_out), ceil((o+1)*H/H_out)); same for columns.
    With A (H_out, H) and B (W_out, W) the row and column averaging matrices:
    forward:  y = A @ x @ B.T
    backward: dx = A.T @ dy @ B
    Returns: (y, cache); cache an AdaptiveAvgCache: rows (A), cols (B).
    """
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    out_h, out_w = checks.pair(output_size, "output_size", who)
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{who}: expected input (N, C, H, W) with H, W >= 1, got {tuple(x.shape)}")
    xp = array_module(x)
    rows = _adaptive_matrix(x.shape[2], out_h, xp, x.dtype)
    cols = _adaptive_matrix(x.shape[3], out_w, xp, x.dtype)
    return rows @ x @ cols.T, AdaptiveAvgCache(rows, cols)


def adaptive_avg_pool2d_backward(dy, cache):
    """Gradient of adaptive average pooling: dx = A.T @ dy @ B."""
    return cache.rows.T @ dy @ cache.cols


__all__ = [
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward", "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward", "pool_output_size",
]
