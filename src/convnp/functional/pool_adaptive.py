"""Global and adaptive pooling: windows that split H and W into a fixed number of parts.

An adaptive window for output row o of H_out, over H input rows, is PyTorch's

    rows [floor(o*H/H_out), ceil((o+1)*H/H_out))

so the windows cover every row, have sizes that differ by at most one (plus one where they
overlap), and the output size does not depend on the input size. Columns alike. Global
average pooling is the case H_out = W_out = 1, written as the plain mean.
"""
import math
from typing import NamedTuple

import numpy as np

from ..backend import array_module
from .. import checks
from .elementwise import select
from .indexing import scatter_add_flat


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


def adaptive_windows(size, n_out):
    """(start, end) arrays of PyTorch's n_out windows over ``size``: [floor(o*size/n_out), ceil((o+1)*size/n_out))."""
    o = np.arange(n_out)
    return (o * size) // n_out, -((-(o + 1) * size) // n_out)


def adaptive_output_size(output_size, who):
    """output_size as a pair whose entries are ints >= 1 or None (None keeps that input size)."""
    pair = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(pair) == 2 and None in pair:
        return tuple(None if v is None else checks.positive_int(v, "output_size", who) for v in pair)
    return checks.pair(output_size, "output_size", who)


def _checked(x, output_size, who):
    """(H_out, W_out) for x (N, C, H, W); None entries of output_size become H or W."""
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{who}: expected input (N, C, H, W) with H, W >= 1, got {tuple(x.shape)}")
    size = adaptive_output_size(output_size, who)
    return tuple(n if s is None else s for s, n in zip(size, x.shape[2:]))


def _adaptive_matrix(size, n_out, xp, dtype):
    """(n_out, size) averaging matrix: row o is 1/len over window o (adaptive_windows)."""
    start, end = adaptive_windows(size, n_out)
    idx = np.arange(size)
    inside = (idx >= start[:, None]) & (idx < end[:, None])
    return xp.asarray(inside / (end - start)[:, None], dtype=dtype)


def adaptive_avg_pool2d_forward(x, output_size, who="adaptive_avg_pool2d"):
    """Average over adaptive windows that split H and W into H_out and W_out parts (PyTorch's windows).

    Args: x, output_size (int or pair (H_out, W_out); None in the pair keeps that input size), who.
    Shape: x (N, C, H, W) -> y (N, C, H_out, W_out).
    Window of output row o: rows [floor(o*H/H_out), ceil((o+1)*H/H_out)); same for columns.
    With A (H_out, H) and B (W_out, W) the row and column averaging matrices:
    forward:  y = A @ x @ B.T
    backward: dx = A.T @ dy @ B
    Returns: (y, cache); cache an AdaptiveAvgCache: rows (A), cols (B).
    """
    out_h, out_w = _checked(x, output_size, who)
    xp = array_module(x)
    rows = _adaptive_matrix(x.shape[2], out_h, xp, x.dtype)
    cols = _adaptive_matrix(x.shape[3], out_w, xp, x.dtype)
    return rows @ x @ cols.T, AdaptiveAvgCache(rows, cols)


def adaptive_avg_pool2d_backward(dy, cache):
    """Gradient of adaptive average pooling: dx = A.T @ dy @ B."""
    return cache.rows.T @ dy @ cache.cols


# -- adaptive max pooling ------------------------------------------------------------------------
class AdaptiveMaxCache(NamedTuple):
    """What adaptive_max_pool2d_backward needs: indices (N, C, H_out, W_out) into H*W, x_shape."""

    indices: object
    x_shape: tuple


def adaptive_max_pool2d_forward(x, output_size, who="adaptive_max_pool2d"):
    """Maximum over adaptive windows (torch.nn.functional.adaptive_max_pool2d with return_indices).

    Args: x, output_size (int or pair; None in the pair keeps that input size), who.
    Shape: x (N, C, H, W) -> y, indices (N, C, H_out, W_out); indices are int64, flat into H*W.
    forward:  y = max over the window, indices = where (the first maximum in row-major order;
              a NaN wins over any number, the last NaN over earlier ones: PyTorch's rule)
    backward: dx.flat[indices] += dy  (windows may overlap)
    Returns: ((y, indices), cache); cache an AdaptiveMaxCache: indices, x_shape.
    """
    out_h, out_w = _checked(x, output_size, who)
    xp = array_module(x)
    n, c, h, w = x.shape
    (r0, r1), (c0, c1) = adaptive_windows(h, out_h), adaptive_windows(w, out_w)
    y = xp.full((n, c, out_h, out_w), -math.inf, dtype=x.dtype)
    indices = xp.asarray(np.add.outer(r0 * w, c0)) + xp.zeros((n, c, 1, 1), dtype=np.int64)  # the first element
    # Offset i of every window at once; a window shorter than the longest repeats its last row/column
    for i in range(int(np.max(r1 - r0))):
        rows = np.minimum(r0 + i, r1 - 1)
        x_rows = x[:, :, rows, :]
        for j in range(int(np.max(c1 - c0))):
            cols = np.minimum(c0 + j, c1 - 1)
            v = x_rows[:, :, :, cols]
            take = (v > y) | xp.isnan(v)
            # select: where's values without a branch per element (elementwise.select)
            select(take, v, y, out=y)
            select(take, xp.asarray(np.add.outer(rows * w, cols)), indices, out=indices)
    return (y, indices), AdaptiveMaxCache(indices, tuple(x.shape))


def adaptive_max_pool2d_backward(dy, cache):
    """Gradient of adaptive max pooling: each dy to the input its index names; shared inputs add."""
    n, c, h, w = cache.x_shape
    rows = n * c
    dx = scatter_add_flat(dy.reshape(rows, -1), cache.indices.reshape(rows, -1), h * w)
    return dx.reshape(cache.x_shape)


__all__ = [
    "global_avg_pool2d_forward", "global_avg_pool2d_backward", "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward", "adaptive_max_pool2d_backward",
]
