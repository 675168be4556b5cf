"""Affine map y = x @ W.T + b (torch.nn.functional.linear, weight laid out (D_out, D_in))."""
from .. import checks


def linear_forward(x, weight, bias=None, who="linear"):
    """Affine map of each row: y = x @ W.T + b.

    Args: x, weight (D_out, D_in), bias (D_out,) or None, who (names the caller in errors).
    Shape: x (N, D_in) -> y (N, D_out).
    forward:  y[n, o] = sum over i of x[n, i] * W[o, i] + b[o]
    backward: dx = dy @ W,  dW = dy.T @ x,  db = sum over n of dy[n]
    Returns: (y, cache).
    """
    checks.input_shape(x, who, f"(N, {weight.shape[1]})", 2, channels=weight.shape[1])
    checks.same_dtype(x, weight, who)
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y, (x, weight, bias is not None)


def linear_backward(dy, cache, input_grad=True):
    """Gradients of the affine map; input_grad=False skips dx (returned as None).

    Shape: dy (N, D_out) -> dx (N, D_in), dW (D_out, D_in), db (D_out,) (None without a bias).
    """
    x, weight, has_bias = cache
    dx = dy @ weight if input_grad else None
    dw = dy.T @ x
    db = dy.sum(axis=0) if has_bias else None
    return dx, dw, db


__all__ = ["linear_forward", "linear_backward"]
