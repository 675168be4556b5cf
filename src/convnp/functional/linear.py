"""Affine map y = x @ W.T + b (torch.nn.functional.linear, weight laid out (D_out, D_in))."""
from typing import NamedTuple

from .. import backend, checks, parallel

# A row's product costs D_in * D_out multiply-adds, which BLAS runs about 16 times faster than
# an elementwise pass runs through elements (about 30 GFLOP/s against 1-2 G elements/s on the
# EPYC): so that is a row's size in convnp.parallel's units.
MULTIPLY_ADDS_PER_ELEMENT = 16


class LinearCache(NamedTuple):
    """What linear_backward needs (listed in linear_forward's docstring)."""

    x: object
    weight: object
    has_bias: bool


def linear_forward(x, weight, bias=None, who="linear"):
    """Affine map of each row: y = x @ W.T + b.

    Args: x, weight (D_out, D_in), bias (D_out,) or None, who (names the caller in errors).
    Shape: x (N, D_in) -> y (N, D_out).
    forward:  y[n, o] = sum over i of x[n, i] * W[o, i] + b[o]
    backward: dx = dy @ W,  dW = dy.T @ x,  db = sum over n of dy[n]
    Returns: (y, cache); cache a LinearCache: x and weight (by reference), has_bias.
    """
    checks.input_shape(x, who, f"(N, {weight.shape[1]})", 2, channels=weight.shape[1])
    checks.same_dtype(x, weight, who)
    xp = backend.array_module(x)
    y = xp.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)

    def shard(i, lo, hi):  # rows lo:hi, on every core (convnp.parallel)
        out = xp.matmul(x[lo:hi], weight.T, out=y[lo:hi])
        if bias is not None:
            out += bias

    parallel.run(shard, _split(x.shape[0], weight), blas=True)
    return y, LinearCache(x, weight, bias is not None)


def linear_backward(dy, cache, input_grad=True, weight_grad=True):
    """Gradients of the affine map: (dx, dW, db).

    input_grad=False skips dx, weight_grad=False skips dW and db (each returned as None).
    Shape: dy (N, D_out) -> dx (N, D_in), dW (D_out, D_in), db (D_out,) (None without a bias).
    """
    xp = backend.array_module(dy)
    x, weight = cache.x, cache.weight
    dx = xp.empty(x.shape, dtype=dy.dtype) if input_grad else None

    def shard(i, lo, hi):  # rows lo:hi: their dx, and their share of dW and db (summed below)
        if input_grad:
            xp.matmul(dy[lo:hi], weight, out=dx[lo:hi])
        if weight_grad:
            return dy[lo:hi].T @ x[lo:hi], (dy[lo:hi].sum(axis=0) if cache.has_bias else None)
        return None, None

    parts = parallel.run(shard, _split(dy.shape[0], weight), blas=True)
    dw = parallel.total([p[0] for p in parts]) if weight_grad else None
    db = parallel.total([p[1] for p in parts]) if weight_grad and cache.has_bias else None
    return dx, dw, db


def _split(n, weight):
    return parallel.split(n, weight.size // MULTIPLY_ADDS_PER_ELEMENT, blas=True)


__all__ = ["linear_forward", "linear_backward"]
