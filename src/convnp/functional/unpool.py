"""Max unpooling (torch.nn.functional.max_unpool2d): max pooling's values put back where they came from.

max_pool2d(..., return_indices=True) gives, with each maximum, the flat index h*W + w of the
input it came from. Unpooling writes each value at that index of a zero array of the pooled
input's size: everything but the maxima is lost, hence "partial inverse". Its backward is a
gather: each input's gradient is the output gradient at its index.
"""
from typing import NamedTuple

from ..backend import array_module
from .. import checks


class MaxUnpoolCache(NamedTuple):
    """What max_unpool2d_backward needs: the indices, as (N*C, H*W), and x's shape."""

    indices: object
    x_shape: tuple


def max_unpool2d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None, who="max_unpool2d"):
    """The partial inverse of max pooling (torch.nn.functional.max_unpool2d): values back where their indices point.

    Args: x; indices (int64, as max_pool2d returns them: flat into H_out*W_out); kernel_size,
    stride (default kernel_size), padding: those of the pooling; output_size: (H_out, W_out)
    or (N, C, H_out, W_out), each strictly within stride of the default; who.
    Shape: x, indices (N, C, H, W) -> y (N, C, H_out, W_out), default H_out = (H - 1)*S - 2*P + K
    forward:  y = 0 except y.flat[n, c, indices[n, c, h, w]] = x[n, c, h, w]
              (an index named twice keeps one of its values, as in PyTorch)
    backward: dx[n, c, h, w] = dy.flat[n, c, indices[n, c, h, w]]
    Returns: (y, cache); cache a MaxUnpoolCache: indices (N*C, H*W), x_shape.
    """
    out = _unpool_check(x, indices, kernel_size, stride, padding, output_size, who)
    xp = array_module(x)
    n, c = x.shape[:2]
    flat = indices.reshape(n * c, -1)
    y = xp.zeros((n * c, out[0] * out[1]), dtype=x.dtype)
    y[xp.arange(n * c).reshape(-1, 1), flat] = x.reshape(n * c, -1)
    return y.reshape(n, c, *out), MaxUnpoolCache(flat, tuple(x.shape))


def max_unpool2d_backward(dy, cache):
    """Gradient of max unpooling: dx gathers dy where the indices point."""
    xp = array_module(dy)
    rows = cache.indices.shape[0]
    return dy.reshape(rows, -1)[xp.arange(rows).reshape(-1, 1), cache.indices].reshape(cache.x_shape)


def _unpool_check(x, indices, kernel_size, stride, padding, output_size, who):
    """Validate max_unpool2d_forward's arguments; return (H_out, W_out)."""
    checks.input_shape(x, who, "(N, C, H, W)", 4)
    if not hasattr(indices, "dtype") or indices.dtype.kind not in "iu":
        raise TypeError(f"{who}: indices must be an integer array, got {getattr(indices, 'dtype', type(indices).__name__)}")
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(f"{who}: expected indices of the input's shape {tuple(x.shape)}, got {tuple(indices.shape)}")
    kernel = checks.pair(kernel_size, "kernel_size", who)
    stride = kernel if stride is None else checks.pair(stride, "stride", who)
    padding = checks.pair(padding, "padding", who, minimum=0)
    default = tuple((n - 1) * s + k - 2 * p for n, s, k, p in zip(x.shape[2:], stride, kernel, padding))
    out = default if output_size is None else _unpool_size(output_size, default, stride, who)
    if min(out) < 1:
        raise ValueError(f"{who}: output size {out} is not positive (input {tuple(x.shape)}, kernel_size {kernel},"
                         f" stride {stride}, padding {padding})")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= out[0] * out[1]):
        bad = int(indices.min()) if int(indices.min()) < 0 else int(indices.max())
        raise ValueError(f"{who}: index {bad} is outside the output of size {out[0]}x{out[1]}")
    return out


def _unpool_size(output_size, default, stride, who):
    """(H_out, W_out) from output_size (a pair, or a 4-tuple whose last two count), PyTorch's range check."""
    size = tuple(output_size)[-2:] if isinstance(output_size, (tuple, list)) and len(output_size) == 4 else output_size
    size = checks.pair(size, "output_size", who)
    for d, (o, n, s) in enumerate(zip(size, default, stride)):
        if not n - s < o < n + s:
            raise ValueError(f"{who}: invalid output_size {tuple(output_size)}: dimension {d} must be between"
                             f" {n - s} and {n + s} (exclusive)")
    return size


__all__ = ["max_unpool2d_forward", "max_unpool2d_backward"]
