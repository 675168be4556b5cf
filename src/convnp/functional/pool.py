"""Window pooling over (N, C, H, W) arrays: max (with indices) and average.

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
    floor mode: H_out = (H + 2*P - D*(K - 1) - 1) // S + 1
    ceil mode:  H_out = ceil((H + 2*P - D*(K - 1) - 1) / S) + 1, less one if the last
                window would start at or after H + P (inside the right padding or beyond)
Global and adaptive pooling: ``pool_adaptive.py``; max unpooling: ``unpool.py``.
"""
import math
from typing import NamedTuple

import numpy as np

from ..backend import array_module
from .. import checks, parallel
from .elementwise import select
from .indexing import scatter_add_flat


# -- geometry ---------------------------------------------------------------------------
class PoolGeometry(NamedTuple):
    """A pooling window's geometry, every field a pair (rows, columns).

    kernel (KH, KW), stride (SH, SW), padding (PH, PW) on each side, dilation (DH, DW),
    out_size (H_out, W_out).
    """

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_size: tuple


def pool_output_size(size, kernel_size, stride, padding=0, ceil_mode=False, dilation=1):
    """Number of windows along one axis of length ``size`` (PyTorch's rule; may be < 1).

    Args: size, kernel_size, stride, padding (ints), ceil_mode (bool), dilation (int).
    Returns: floor mode (size + 2*P - D*(K - 1) - 1) // S + 1; ceil mode rounds the
    division up, less one when the last window would start at or after size + P.
    """
    span = size + 2 * padding - dilation * (kernel_size - 1) - 1
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


def _output_hw(shape, kernel, stride, padding, ceil_mode, who, dilation=(1, 1)):
    """(H_out, W_out) for an input of ``shape`` (N, C, H, W); ValueError if a side has no window."""
    h, w = shape[2], shape[3]
    if h < 1 or w < 1:
        raise ValueError(f"{who}: expected input (N, C, H, W) with H, W >= 1, got {tuple(shape)}")
    out = tuple(pool_output_size(n, k, s, p, ceil_mode, d)
                for n, k, s, p, d in zip((h, w), kernel, stride, padding, dilation))
    if min(out) < 1:
        padded = (h + 2 * padding[0], w + 2 * padding[1])
        how = "" if dilation == (1, 1) else f" with dilation {dilation}"
        raise ValueError(
            f"{who}: kernel_size {kernel}{how} is larger than the padded input {padded}"
            f" (input {tuple(shape)}, padding {padding})"
        )
    return out


def _checked(x, kernel_size, stride, padding, ceil_mode, who, dilation=1):
    """The PoolGeometry of a window over x (N, C, H, W); ValueError for a bad input or arguments."""
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    kernel, stride, padding = _pool_args(kernel_size, stride, padding, who)
    dilation = checks.pair(dilation, "dilation", who)
    out = _output_hw(x.shape, kernel, stride, padding, ceil_mode, who, dilation)
    return PoolGeometry(kernel, stride, padding, dilation, out)


def _padded(x, geometry, fill):
    """``x`` inside a border of ``fill``, big enough for every window; ``x`` itself if none is needed.

    Padding is P on the top/left; on the bottom/right it is whatever the windows reach,
    which in ceil mode can run past the P padded rows (and in floor mode can stop short).
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry.kernel, geometry.stride, geometry.padding, geometry.dilation
    oh, ow = geometry.out_size
    reach_h = sh * (oh - 1) + dh * (kh - 1) + 1
    reach_w = sw * (ow - 1) + dw * (kw - 1) + 1
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
    """For each kernel offset (i, j), row-major, the (N, C, H_out, W_out) view a[:, :, i*D + S*oh, j*D + S*ow]."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geometry.kernel, geometry.stride, geometry.dilation, geometry.out_size
    for i in range(kh):
        for j in range(kw):
            yield a[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]


def _overlapping(geometry):
    """Whether windows may share an input (then backward adds into dx instead of writing it)."""
    reach = [d * (k - 1) + 1 for d, k in zip(geometry.dilation, geometry.kernel)]
    return geometry.stride[0] < reach[0] or geometry.stride[1] < reach[1]


def _window_reduce(ufunc, xw, geometry, out):
    """out = ufunc over the window offsets' views of xw, in row-major order (maximum, or add for a sum).

    Strided views, not x.reshape(N, C, H/2, 2, W/2, 2).max(axis=(3, 5)) for 2x2 windows: NumPy
    reduces over two strided axes 30-60x slower than these 3 calls of maximum (measured).
    """
    views = list(_window_views(xw, geometry))
    if len(views) == 1:
        out[...] = views[0]
        return
    ufunc(views[0], views[1], out=out)
    for v in views[2:]:
        ufunc(out, v, out=out)


def _tiles(shape, geometry):
    """Whether the windows cover every element of an input of ``shape`` exactly once."""
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    return (geometry.stride == geometry.kernel and geometry.dilation == (1, 1)
            and shape[2] == oh * kh and shape[3] == ow * kw)


def _split(x):
    """Shards of a pooling over x (N, C, H, W): by samples (convnp.parallel)."""
    return parallel.split(x.shape[0], x[0].size)


# -- max pooling --------------------------------------------------------------------------
class MaxPoolCache(NamedTuple):
    """What max_pool2d_backward needs (listed in max_pool2d_forward's docstring)."""

    x_padded: object
    y: object
    x_shape: tuple
    geometry: PoolGeometry
    indices: object


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
                       who="max_pool2d"):
    """Maximum over each KH x KW window (torch.nn.functional.max_pool2d).

    Args: x, kernel_size (int or pair), stride (default kernel_size), padding (<= kernel/2,
    filled with -inf), dilation (D - 1 skipped pixels between taps), ceil_mode,
    return_indices, who (names the caller in error messages).
    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out), H_out = (H + 2*P - D*(K - 1) - 1) // S + 1
    (ceil mode: see ``pool_output_size``); indices likewise, int64, flat into H*W: h*W + w.
    forward:  y[n, c, oh, ow] = max over (i, j) of x_pad[n, c, S*oh + i*D, S*ow + j*D]
    backward: dx[argmax of each window] += dy; on ties the first maximum in row-major
              window order takes it, as in PyTorch. NaN propagates to y; with indices the
              last NaN of a window is its argmax and takes dy, as in PyTorch; without, a
              window whose maximum is NaN passes no gradient.
    Returns: (y, cache), or ((y, indices), cache) with return_indices; cache a MaxPoolCache:
    x_padded (x inside its -inf border, or x itself, by reference), y (by reference),
    x_shape, geometry (a PoolGeometry), indices (None without return_indices).
    """
    geometry = _checked(x, kernel_size, stride, padding, ceil_mode, who, dilation)
    xp = array_module(x)
    xw = _padded(x, geometry, -math.inf)
    if return_indices:
        y, indices = _max_and_indices(xw, geometry, x.shape)
        return (y, indices), MaxPoolCache(xw, y, tuple(x.shape), geometry, indices)
    y = xp.empty(tuple(x.shape[:2]) + geometry.out_size, dtype=x.dtype)
    parallel.run(lambda i, lo, hi: _window_reduce(xp.maximum, xw[lo:hi], geometry, y[lo:hi]), _split(x))
    return y, MaxPoolCache(xw, y, tuple(x.shape), geometry, None)


def max_pool2d_backward(dy, cache):
    """Gradient of max pooling: each dy[n, c, oh, ow] goes to its window's (first) maximum.

    Shape: dy (N, C, H_out, W_out) -> dx (N, C, H, W).
    With indices, dy goes where they point; without, the arg-max is found again by comparing
    each offset view of the (padded) input with the output, both kept by reference.
    """
    if cache.indices is not None:
        n, c, h, w = cache.x_shape
        return scatter_add_flat(dy.reshape(n * c, -1), cache.indices.reshape(n * c, -1), h * w).reshape(cache.x_shape)
    xw, y, geometry = cache.x_padded, cache.y, cache.geometry
    xp = array_module(dy)
    # Where the windows tile the input exactly (2x2, stride 2, even sizes), every dx entry is
    # written once below: no zero fill first.
    dxw = (xp.empty if _tiles(xw.shape, geometry) else xp.zeros)(xw.shape, dtype=xw.dtype)
    parallel.run(lambda i, lo, hi: _max_grad_shard(xw[lo:hi], y[lo:hi], dy[lo:hi], dxw[lo:hi], geometry),
                 _split(xw))
    return _cropped(dxw, cache.x_shape, geometry.padding)


def _max_grad_shard(xw, y, dy, dxw, geometry):
    """Samples of max_pool2d_backward: each dy to its window's first maximum, added into (or written to) dxw."""
    xp = array_module(dy)
    overlap = _overlapping(geometry)
    unclaimed = None                              # windows whose maximum is not yet found
    views = list(zip(_window_views(xw, geometry), _window_views(dxw, geometry)))
    for k, (v, dv) in enumerate(views):
        hit = v == y
        if unclaimed is not None:
            hit &= unclaimed                      # an earlier offset with the same value wins ties
        if k < len(views) - 1:
            unclaimed = ~hit if unclaimed is None else unclaimed ^ hit  # hit is a subset: xor removes it
        if overlap:
            dv += dy * hit
        else:
            xp.multiply(dy, hit, out=dv)          # each input element is in at most one window


def _max_and_indices(xw, geometry, x_shape):
    """y and the flat index (h*W + w) of each window's maximum, by PyTorch's rule.

    Offsets in row-major order; an element takes over when it is greater than the maximum so
    far or NaN. The index starts at the window's first real (not padded) element.
    """
    xp = array_module(xw)
    (sh, sw), (ph, pw), (dh, dw) = geometry.stride, geometry.padding, geometry.dilation
    (oh, ow), (kh, kw), width = geometry.out_size, geometry.kernel, x_shape[3]
    top, left = np.arange(oh) * sh - ph, np.arange(ow) * sw - pw  # each window's first row/column in x
    # a window starting in the padding: its first real row is the first tap at or below row 0
    first_h = np.where(top < 0, top + dh * ((-top + dh - 1) // dh), top)
    first_w = np.where(left < 0, left + dw * ((-left + dw - 1) // dw), left)
    y = xp.full(tuple(x_shape[:2]) + (oh, ow), -math.inf, dtype=xw.dtype)
    indices = xp.zeros(y.shape, dtype=np.int64) + xp.asarray(np.add.outer(first_h * width, first_w))
    offsets = [(i, j) for i in range(kh) for j in range(kw)]
    for (i, j), v in zip(offsets, _window_views(xw, geometry)):
        take = (v > y) | xp.isnan(v)
        # select: where's values without a branch per element (elementwise.select)
        select(take, v, y, out=y)
        select(take, xp.asarray(np.add.outer((top + i * dh) * width, left + j * dw)), indices, out=indices)
    return y, indices


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
    divisor = _avg_divisor(x, geometry, count_include_pad)
    y = xp.empty(tuple(x.shape[:2]) + geometry.out_size, dtype=x.dtype)

    def shard(i, lo, hi):
        _window_reduce(xp.add, xw[lo:hi], geometry, y[lo:hi])  # row-major order, the order PyTorch sums in
        y[lo:hi] /= divisor

    parallel.run(shard, _split(x))
    return y, AvgPoolCache(xw.shape, tuple(x.shape), x.dtype, divisor, geometry)


def avg_pool2d_backward(dy, cache):
    """Gradient of average pooling: dy / divisor spread over each window.

    Shape: dy (N, C, H_out, W_out) -> dx (N, C, H, W).
    """
    xp = array_module(dy)
    geometry = cache.geometry
    overlap = _overlapping(geometry)
    dxw = (xp.empty if _tiles(cache.padded_shape, geometry) else xp.zeros)(cache.padded_shape, dtype=cache.dtype)

    def shard(i, lo, hi):
        g = dy[lo:hi] / cache.divisor
        for dv in _window_views(dxw[lo:hi], geometry):
            if overlap:
                dv += g
            else:
                dv[...] = g

    parallel.run(shard, _split(dxw))
    return _cropped(dxw, cache.x_shape, cache.geometry.padding)


__all__ = [
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "pool_output_size",
]
