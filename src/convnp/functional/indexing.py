"""Gathers and their adjoints: the backward of padding, nearest resizing and pooling by index.

A gather along one axis, ``y = x[index]`` (y[j] = x[index[j]]), is a matrix product y = G @ x
with G the (len(index), n) matrix of zeros and ones, G[j, index[j]] = 1. Its backward is the
transpose:

    dx = G.T @ dy        dx[k] = the sum of dy[j] over every j with index[j] == k (0 if none)

The forward pass stays a gather (a copy: exact, and a NaN stays where it was); the backward
multiplies by G.T, which BLAS runs faster than NumPy's scatter-adds (measured: nearest
upsampling's backward by 2 on (32, 32, 64, 64) float32, 13 ms against 54 ms with a sorted
np.add.reduceat, one thread). A NaN or an infinity in dy spreads along its row there (0 * inf).
Max pooling's indices point into a flattened H*W: scatter_add_flat sums those with bincount.
"""
import numpy as np

from ..backend import array_module


def gather_matrix(index, size, dtype):
    """The (len(index), size) 0/1 matrix G with G @ v == v[index] (along the first axis of v)."""
    g = np.zeros((len(index), size), dtype=dtype)
    g[np.arange(len(index)), index] = 1
    return g


def scatter_add_flat(dy, index, size):
    """The gradient of a gather by flat index per row: dx (R, size) with dx[r, index[r, j]] += dy[r, j].

    Args: dy and index of one shape (R, M) (index: ints in [0, size)), size.
    Used by max pooling with indices: overlapping windows may pick the same input.
    """
    xp = array_module(dy)
    rows = dy.shape[0]
    flat = (xp.arange(rows).reshape(rows, 1) * size + index).ravel()
    # bincount sums in float64: at least as exact as PyTorch's float32 sums
    dx = xp.bincount(flat, weights=dy.ravel(), minlength=rows * size)
    return dx.astype(dy.dtype, copy=False).reshape(rows, size)
