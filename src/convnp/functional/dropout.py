"""Inverted dropout: zero each element (dropout) or each whole channel (dropout2d) with
probability p, and scale what is kept by 1 / (1 - p)."""
import numpy as np

from ..backend import array_module
from ..init import as_rng
from .. import checks
from .elementwise import elementwise


def dropout_forward(x, p=0.5, rng=None, training=True, who="dropout"):
    """Inverted dropout (torch.nn.functional.dropout): y = x * mask, mask in {0, 1/(1-p)}.

    Args: x, p (drop probability in [0, 1)), rng (seed, Generator or None; a layer passes
    its own Generator so each call draws a fresh mask), training (False: identity), who.
    Shape: x any -> y same.
    forward:  keep ~ Bernoulli(1 - p) per element; mask = keep / (1 - p); y = x * mask
    backward: dx = dy * mask (the same mask)
    Returns: (y, mask); mask is None, and y is x itself, when not training or p == 0.
    """
    checks.floating(x, who)
    p = checks.real(p, "p", who, 0, 1, high_open=True)
    if not training or p == 0:
        return x, None
    draw_dtype = np.float32 if x.dtype == np.float32 else np.float64
    # One draw from rng for the whole array, as on one thread: the mask is the same on any
    # number of threads. Then, in shards on every core (elementwise.py), one pass:
    draws = as_rng(rng).random(x.shape, dtype=draw_dtype)
    xp = array_module(x)
    scale = 1.0 / (1.0 - p)                  # a Python float keeps the mask's dtype

    def kernel(draws, x, y, mask):
        xp.multiply(draws >= p, scale, out=mask)   # keep ~ Bernoulli(1 - p): P(draw >= p) = 1 - p
        xp.multiply(x, mask, out=y)

    y, mask = elementwise(kernel, [xp.asarray(draws), x], [x.dtype, x.dtype])
    return y, mask


def dropout_backward(dy, mask):
    """Gradient of dropout: dy * mask (dy itself when the forward was the identity)."""
    if mask is None:
        return dy
    xp = array_module(dy)
    if mask.shape != dy.shape:  # dropout2d's (N, C, 1, 1) mask, broadcast
        return dy * mask
    return elementwise(lambda dy, mask, dx: xp.multiply(dy, mask, out=dx), [dy, mask], [dy.dtype])[0]


def dropout2d_forward(x, p=0.5, rng=None, training=True, who="dropout2d"):
    """Channel dropout (torch.nn.functional.dropout2d): each (n, c) feature map kept or zeroed whole.

    Args: x float (N, C, H, W); p (drop probability in [0, 1)); rng (as dropout_forward);
    training (False: identity); who.
    Shape: x (N, C, H, W) -> y same; mask (N, C, 1, 1).
    forward:  keep ~ Bernoulli(1 - p) per (n, c); mask = keep / (1 - p); y = x * mask
    backward: dx = dy * mask (the same mask, broadcast over H and W)
    Returns: (y, mask); mask is None, and y is x itself, when not training or p == 0.
    """
    checks.floating(x, who)
    if x.ndim != 4:
        raise ValueError(f"{who}: expected input (N, C, H, W), got {tuple(x.shape)}")
    p = checks.real(p, "p", who, 0, 1, high_open=True)
    if not training or p == 0:
        return x, None
    draw_dtype = np.float32 if x.dtype == np.float32 else np.float64
    keep = as_rng(rng).random(x.shape[:2] + (1, 1), dtype=draw_dtype) >= p      # P(keep) = 1 - p
    mask = array_module(x).asarray(keep, dtype=x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * mask, mask


dropout2d_backward = dropout_backward


__all__ = ["dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward"]
