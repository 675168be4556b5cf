"""Affine map y = x @ W.T + b (torch.nn.functional.linear, weight laid out (D_out, D_in))."""
from typing import NamedTuple

from .. import checks


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
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y, LinearCache(x, weight, bias is not None)


def linear_backward(dy, cache, input_grad=True, weight_grad=True):
    """Gradients of the affine map: (dx, dW, db).

    input_grad=False skips dx, weight_grad=False skips dW and db (each returned as None).
    Shape: dy (N, D_out) -> dx (N, D_in), dW (D_out, D_in), db (D_out,) (None without a bias).
    """
    dx = dy @ cache.weight if input_grad else None
    dw = dy.T @ cache.x if weight_grad else None
    db = dy.sum(axis=0) if weight_grad and cache.has_bias else None
    return dx, dw, db


__all__ = ["linear_forward", "linear_backward"]
