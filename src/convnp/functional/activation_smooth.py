"""Smooth activations: SiLU, Mish, SELU, CELU, Softplus, LogSigmoid and Softsign.

Each op is a ``*_forward(x, ...) -> (y, cache)`` and ``*_backward(dy, cache) -> dx`` pair;
shapes and dtypes are kept. The exponentials are written so that no intermediate overflows
(exp of -|x| only); values and derivatives are PyTorch's, SELU'(0) = scale * alpha and
CELU'(0) = 1 included.
"""
from collections import namedtuple

from .. import backend
from .. import checks
from .elementwise import select

# torch.nn.SELU's constants (Klambauer et al., 2017), as Python floats so float32 stays float32
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

SiLUCache = namedtuple("SiLUCache", "x s")
MishCache = namedtuple("MishCache", "x t")
ExpUnitCache = namedtuple("ExpUnitCache", "mask slope")
SoftplusCache = namedtuple("SoftplusCache", "linear s")


def _sigmoid(x):
    """1 / (1 + exp(-x)) computed with exp(-|x|) only."""
    xp = backend.array_module(x)
    e = xp.exp(-xp.abs(x))
    # numerator: max(e, 1) = 1 for x >= 0 (e <= 1), max(e, 0) = e below (NaN stays NaN);
    # where(x >= 0, 1, e) would branch per element, 15-20x slower on random signs
    return xp.maximum(e, x >= 0) / (1 + e)


def _softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), without overflow."""
    xp = backend.array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def silu_forward(x, who="silu"):
    """Sigmoid-weighted linear unit (swish), y = x * sigmoid(x).

    Shape: x any -> y same.
    forward:  s = sigmoid(x),  y = x * s
    backward: dx = dy * s * (1 + x * (1 - s))
    Cache: SiLUCache(x, s).
    """
    checks.floating(x, who)
    s = _sigmoid(x)
    return x * s, SiLUCache(x, s)


def silu_backward(dy, cache):
    x, s = cache
    return dy * (s * (1 + x * (1 - s)))


def mish_forward(x, who="mish"):
    """Mish, y = x * tanh(softplus(x)).

    Shape: x any -> y same.
    forward:  t = tanh(log(1 + exp(x))),  y = x * t
    backward: dx = dy * (t + x * sigmoid(x) * (1 - t^2))
    Cache: MishCache(x, t).
    """
    checks.floating(x, who)
    t = backend.array_module(x).tanh(_softplus(x))
    return x * t, MishCache(x, t)


def mish_backward(dy, cache):
    x, t = cache
    return dy * (t + x * _sigmoid(x) * (1 - t * t))


def _exp_unit(x, alpha, scale, input_scale):
    """PyTorch's ELU family: scale * x if x > 0 else scale * alpha * (exp(input_scale * x) - 1)."""
    xp = backend.array_module(x)
    mask = x > 0
    # min(x, 0): exp of a large positive x would overflow on the branch that is thrown away
    z = xp.minimum(x, 0) * input_scale
    neg = xp.expm1(z) * (alpha * scale)
    # select: where's values without a branch per element (elementwise.select)
    slope = select(mask, scale, xp.exp(z) * (alpha * scale * input_scale))
    return select(mask, x * scale, neg), ExpUnitCache(mask, slope.astype(x.dtype, copy=False))


def selu_forward(x, who="selu"):
    """Scaled ELU (self-normalising networks), with alpha = 1.6732632..., scale = 1.0507009...

    Shape: x any -> y same.
    forward:  y = scale * x if x > 0 else scale * alpha * (exp(x) - 1)
    backward: dx = dy * scale if x > 0 else dy * scale * alpha * exp(x)   (scale * alpha at 0)
    Cache: ExpUnitCache(mask = x > 0, slope = dy/dx).
    """
    checks.floating(x, who)
    return _exp_unit(x, SELU_ALPHA, SELU_SCALE, 1.0)


def celu_forward(x, alpha=1.0, who="celu"):
    """Continuously differentiable ELU, y = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

    Args: alpha != 0.
    Shape: x any -> y same.
    forward:  y = x if x > 0 else alpha * (exp(x / alpha) - 1)
    backward: dx = dy if x > 0 else dy * exp(x / alpha)                   (1 at x = 0)
    Cache: ExpUnitCache(mask = x > 0, slope = dy/dx).
    PyTorch's float64 backward uses 1 / float32(alpha) (its derivative formula calls
    alpha.toFloat()), off by ~1e-8 for an alpha such as 0.4; this one the exact 1 / alpha.
    """
    checks.floating(x, who)
    alpha = checks.real(alpha, "alpha", who)
    if alpha == 0:
        raise ValueError(f"{who}: alpha must not be 0, got {alpha}")
    return _exp_unit(x, alpha, 1.0, 1.0 / alpha)


def exp_unit_backward(dy, cache):
    """The backward of SELU and CELU: dx = dy * slope."""
    return dy * cache.slope


selu_backward = celu_backward = exp_unit_backward


def softplus_forward(x, beta=1.0, threshold=20.0, who="softplus"):
    """Smooth ReLU, y = log(1 + exp(beta * x)) / beta, linear where beta * x > threshold.

    Args: beta != 0, threshold.
    Shape: x any -> y same.
    forward:  y = x if beta * x > threshold else log(1 + exp(beta * x)) / beta
    backward: dx = dy if beta * x > threshold else dy * sigmoid(beta * x)
    Cache: SoftplusCache(linear = beta * x > threshold, s = sigmoid(beta * x)).
    """
    checks.floating(x, who)
    beta = checks.real(beta, "beta", who)
    threshold = checks.real(threshold, "threshold", who)
    if beta == 0:
        raise ValueError(f"{who}: beta must not be 0, got {beta}")
    bx = x * beta
    linear = bx > threshold
    # select: where's values without a branch per element (elementwise.select)
    return select(linear, x, _softplus(bx) / beta), SoftplusCache(linear, _sigmoid(bx))


def softplus_backward(dy, cache):
    return select(cache.linear, dy, dy * cache.s)


def logsigmoid_forward(x, who="logsigmoid"):
    """log(sigmoid(x)) = -softplus(-x), computed without overflow.

    Shape: x any -> y same.
    forward:  y = min(x, 0) - log(1 + exp(-|x|))
    backward: dx = dy * sigmoid(-x)
    Cache: sigmoid(-x).
    """
    checks.floating(x, who)
    xp = backend.array_module(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x))), _sigmoid(-x)


def logsigmoid_backward(dy, sigmoid_neg):
    return dy * sigmoid_neg


def softsign_forward(x, who="softsign"):
    """y = x / (1 + |x|).

    Shape: x any -> y same.
    forward:  d = 1 + |x|,  y = x / d
    backward: dx = dy / d^2
    Cache: d.
    """
    checks.floating(x, who)
    d = 1 + backend.array_module(x).abs(x)
    return x / d, d


def softsign_backward(dy, d):
    return dy / (d * d)


__all__ = ["silu_forward", "silu_backward", "mish_forward", "mish_backward", "selu_forward",
           "selu_backward", "celu_forward", "celu_backward", "softplus_forward", "softplus_backward",
           "logsigmoid_forward", "logsigmoid_backward", "softsign_forward", "softsign_backward"]
