"""Merge and shape ops between layers: add, multiply, concatenate, split, reshape.

Each is a ``*_forward -> (out, cache)`` / ``*_backward(dout, cache)`` pair like every other op.
add and mul broadcast as NumPy does (a (N, C, 1, 1) gate times a (N, C, H, W) map); their
backward sums the gradient back over the broadcast axes (``unbroadcast``).
"""
from collections import namedtuple

import numpy as np

from .. import backend, checks


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes along which an operand of ``shape`` was broadcast; returns ``shape``.

    forward broadcast: (C, 1, 1) -> (N, C, H, W) repeats the operand over N, H and W, so
    backward adds up the gradient over those axes: the leading extra axes, and every axis of size 1.
    """
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _operand(x, who, i):
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x
    checks.floating(x, f"{who} (argument {i})")
    return x


AddCache = namedtuple("AddCache", "shapes")
MulCache = namedtuple("MulCache", "a b")
CatCache = namedtuple("CatCache", "sizes axis")
SplitCache = namedtuple("SplitCache", "shape dtype sizes axis")


def add_forward(*xs, who="add"):
    """Elementwise sum of arrays (NumPy broadcasting).

    Shape: x_1, ..., x_k broadcastable -> y (the broadcast shape).
    forward:  y = x_1 + ... + x_k
    backward: dx_i = dy summed over the axes x_i was broadcast along
    Cache: AddCache(shapes) -- each operand's shape.
    """
    if len(xs) < 2:
        raise ValueError(f"{who}: expected at least 2 arrays, got {len(xs)}")
    for i, x in enumerate(xs):
        checks.floating(x, f"{who} (argument {i})")
    try:
        np.broadcast_shapes(*(x.shape for x in xs))
    except ValueError:
        raise ValueError(f"{who}: shapes {', '.join(str(tuple(x.shape)) for x in xs)} do not broadcast") from None
    y = xs[0] + xs[1]
    for x in xs[2:]:
        y = y + x
    return y, AddCache(tuple(tuple(x.shape) for x in xs))


def add_backward(dy, cache):
    return tuple(unbroadcast(dy, s) for s in cache.shapes)


def mul_forward(a, b, who="mul"):
    """Elementwise product a * b (NumPy broadcasting; either may be a Python number).

    Shape: a, b broadcastable -> y.
    forward:  y = a * b
    backward: da = dy * b,  db = dy * a   (each summed back over its broadcast axes;
              None for a number)
    Cache: MulCache(a, b).
    """
    a, b = _operand(a, who, 0), _operand(b, who, 1)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        raise TypeError(f"{who}: expected at least one array, got {a!r} and {b!r}")
    try:
        y = a * b
    except ValueError:
        raise ValueError(f"{who}: shapes {tuple(np.shape(a))} and {tuple(np.shape(b))} do not broadcast") from None
    return y, MulCache(a, b)


def mul_backward(dy, cache):
    a, b = cache
    da = None if isinstance(a, (int, float)) else unbroadcast(dy * b, a.shape)
    db = None if isinstance(b, (int, float)) else unbroadcast(dy * a, b.shape)
    return da, db


def cat_forward(xs, dim=1, who="cat"):
    """Concatenate arrays along ``dim`` (torch.cat): U-Net skips, Inception and DenseNet branches.

    Shape: (N, C_1, H, W), ..., (N, C_k, H, W) -> (N, C_1 + ... + C_k, H, W) for dim=1.
    forward:  y = [x_1 | x_2 | ... | x_k] along dim
    backward: dx_i = the slice of dy that x_i filled
    Cache: CatCache(sizes, axis).
    """
    xs = list(xs)
    if not xs:
        raise ValueError(f"{who}: expected at least one array, got none")
    for i, x in enumerate(xs):
        checks.floating(x, f"{who} (array {i})")
    axis = _axis(dim, xs[0].ndim, who)
    for i, x in enumerate(xs[1:], 1):
        if x.ndim != xs[0].ndim or x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:]:
            raise ValueError(f"{who}: arrays must match except along dim {dim}: array 0 has shape"
                             f" {tuple(xs[0].shape)}, array {i} has {tuple(x.shape)}")
    y = backend.array_module(xs[0]).concatenate(xs, axis=axis)
    return y, CatCache(tuple(x.shape[axis] for x in xs), axis)


def cat_backward(dy, cache):
    sizes, axis = cache
    edges = np.cumsum(sizes)[:-1]
    return tuple(np.split(dy, edges, axis=axis))


def split_forward(x, split_size_or_sections, dim=1, who="split"):
    """Split an array along ``dim`` into pieces (torch.split): an int is each piece's size (the
    last may be smaller), a list gives every piece's size.

    Shape: (N, C, H, W) -> ((N, C_1, H, W), ..., (N, C_k, H, W)) for dim=1.
    forward:  views of x
    backward: dx = the pieces' gradients concatenated (zeros for a piece nothing used)
    Cache: SplitCache(shape, dtype, sizes, axis).
    """
    checks.floating(x, who)
    axis = _axis(dim, x.ndim, who)
    length = x.shape[axis]
    sizes = _sizes(split_size_or_sections, length, who)
    edges = np.cumsum(sizes)[:-1]
    return tuple(np.split(x, edges, axis=axis)), SplitCache(tuple(x.shape), x.dtype, sizes, axis)


def split_backward(dys, cache):
    shape, dtype, sizes, axis = cache
    pieces = []
    for d, size in zip(dys, sizes):
        if d is None:
            piece_shape = shape[:axis] + (size,) + shape[axis + 1:]
            d = np.zeros(piece_shape, dtype=dtype)
        pieces.append(d)
    return np.concatenate(pieces, axis=axis)


def reshape_forward(x, shape, who="reshape"):
    """The same values in another shape (one entry may be -1, as in NumPy).

    forward:  y = x.reshape(shape)
    backward: dx = dy.reshape(x.shape)
    Cache: the input's shape.
    """
    checks.floating(x, who)
    try:
        y = x.reshape(shape)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{who}: cannot reshape an array of shape {tuple(x.shape)} into {shape!r}: {e}") from None
    return y, tuple(x.shape)


def reshape_backward(dy, x_shape):
    return dy.reshape(x_shape)


def _axis(dim, ndim, who):
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{who}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{who}: dim {dim} is out of range for arrays with {ndim} dimensions")
    return dim % ndim


def _sizes(split, length, who):
    if isinstance(split, int) and not isinstance(split, bool):
        if split <= 0:
            raise ValueError(f"{who}: split size must be > 0, got {split}")
        return tuple(min(split, length - lo) for lo in range(0, length, split)) or (0,)
    sizes = tuple(split)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes) or sum(sizes) != length:
        raise ValueError(f"{who}: sizes {list(sizes)} must be non-negative ints summing to {length}"
                         f" (the length along dim), got a sum of {sum(s for s in sizes if isinstance(s, int))}")
    return sizes


__all__ = ["add_forward", "add_backward", "mul_forward", "mul_backward", "cat_forward", "cat_backward",
           "split_forward", "split_backward", "reshape_forward", "reshape_backward", "unbroadcast"]
