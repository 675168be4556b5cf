"""Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p)."""
import numpy as np

from ..backend import array_module
from ..init import as_rng
from .. import checks


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
    keep = as_rng(rng).random(x.shape, dtype=draw_dtype) >= p      # P(keep) = 1 - p
    xp = array_module(x)
    mask = xp.asarray(keep, dtype=x.dtype)
    mask *= 1.0 / (1.0 - p)                  # a Python float keeps the mask's dtype
    return x * mask, mask


def dropout_backward(dy, mask):
    """Gradient of dropout: dy * mask (dy itself when the forward was the identity)."""
    return dy if mask is None else dy * mask


__all__ = ["dropout_forward", "dropout_backward"]
