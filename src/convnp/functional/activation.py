"""Activation functions: ReLU, LeakyReLU, ELU, GELU, sigmoid and tanh.

Each op is a ``*_forward(x, ...) -> (y, cache)`` and ``*_backward(dy, cache) -> dx``
pair. Shapes are kept: x any -> y same. Values and derivatives follow PyTorch,
including the derivative taken at a kink (ReLU'(0) = 0, LeakyReLU'(0) = slope,
ELU'(0) = alpha). The dtype of ``x`` is kept end to end.

More activations: ``activation_hard`` (ReLU6, Hardtanh, Hardsigmoid, Hardswish, PReLU),
``activation_smooth`` (SiLU, Mish, SELU, CELU, Softplus, LogSigmoid, Softsign) and
``softmax`` (softmax, log-softmax).
"""
import math
from collections import namedtuple

from .. import backend
from .. import checks
from .erf import erf
from .softmax import log_softmax_backward, log_softmax_forward, softmax_backward, softmax_forward  # noqa: F401 (their old home)

LeakyReLUCache = namedtuple("LeakyReLUCache", "mask negative_slope")
ELUCache = namedtuple("ELUCache", "mask neg alpha")
GELUCache = namedtuple("GELUCache", "x s approximate")

# Python floats, not NumPy float64 scalars: NumPy 2 lets a Python float take the
# array's dtype, so float32 inputs stay float32.
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_K = 0.044715


# ---------------------------------------------------------------------------------------
# Piecewise-linear and exponential units
def relu_forward(x, who="relu"):
    """Rectified linear unit, y = max(x, 0).

    Shape: x any -> y same.
    forward:  y = max(x, 0)
    backward: dx = dy * (x > 0)          (the derivative at 0 is taken as 0, as in PyTorch)
    Cache: the mask x > 0.
    """
    checks.floating(x, who)
    xp = backend.array_module(x)
    mask = x > 0
    return xp.maximum(x, 0), mask


def relu_backward(dy, mask):
    return dy * mask


def leaky_relu_forward(x, negative_slope=0.01, who="leaky_relu"):
    """Leaky ReLU, y = x for x > 0, negative_slope * x otherwise.

    Shape: x any -> y same.
    forward:  y = x if x > 0 else a * x                 (a = negative_slope)
    backward: dx = dy if x > 0 else a * dy              (a at x = 0, as in PyTorch)
    Cache: LeakyReLUCache(mask = x > 0, negative_slope).
    """
    checks.floating(x, who)
    # a Python float: a NumPy float64 scalar would turn float32 arrays into float64
    negative_slope = checks.real(negative_slope, "negative_slope", who)
    xp = backend.array_module(x)
    mask = x > 0
    return xp.where(mask, x, x * negative_slope), LeakyReLUCache(mask, negative_slope)


def leaky_relu_backward(dy, cache):
    xp = backend.array_module(dy)
    return xp.where(cache.mask, dy, dy * cache.negative_slope)


def elu_forward(x, alpha=1.0, who="elu"):
    """Exponential linear unit, y = x for x > 0, alpha * (exp(x) - 1) otherwise.

    Shape: x any -> y same.
    forward:  y = x if x > 0 else alpha * (exp(x) - 1)
    backward: dx = dy if x > 0 else dy * alpha * exp(x)   (alpha at x = 0, as in PyTorch)
    Cache: ELUCache(mask = x > 0, neg = alpha * (exp(min(x, 0)) - 1), alpha).
    """
    checks.floating(x, who)
    alpha = checks.real(alpha, "alpha", who)
    xp = backend.array_module(x)
    mask = x > 0
    # min(x, 0): exp of a large positive x would overflow on the branch that is thrown away
    neg = xp.expm1(xp.minimum(x, 0)) * alpha
    return xp.where(mask, x, neg), ELUCache(mask, neg, alpha)


def elu_backward(dy, cache):
    xp = backend.array_module(dy)
    return xp.where(cache.mask, dy, dy * (cache.neg + cache.alpha))      # alpha * exp(x) = y + alpha


def gelu_forward(x, approximate="none", who="gelu"):
    """Gaussian error linear unit, y = x * Phi(x) with Phi the standard normal CDF.

    Shape: x any -> y same.
    approximate='none':
      forward:  y = x * Phi(x),                      Phi(x) = (1 + erf(x / sqrt(2))) / 2
      backward: dx = dy * (Phi(x) + x * phi(x)),     phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    approximate='tanh':
      forward:  y = x/2 * (1 + t),                   t = tanh(sqrt(2/pi) * (x + k x^3)), k = 0.044715
      backward: dx = dy * ((1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3k x^2))
    Cache: GELUCache(x, s, approximate), s = Phi(x) ('none') or t ('tanh').
    """
    checks.floating(x, who)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{who}: approximate must be 'none' or 'tanh', got {approximate!r}")
    xp = backend.array_module(x)
    if approximate == "tanh":
        t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_K * (x * x * x)))
        return x * 0.5 * (1 + t), GELUCache(x, t, approximate)
    cdf = (1 + erf(x * math.sqrt(0.5))) * 0.5
    return x * cdf, GELUCache(x, cdf, approximate)


def gelu_backward(dy, cache):
    x = cache.x
    xp = backend.array_module(dy)
    if cache.approximate == "tanh":
        t = cache.s
        inner_grad = _SQRT_2_OVER_PI * (1 + 3 * _GELU_K * (x * x))
        return dy * ((1 + t) * 0.5 + x * 0.5 * (1 - t * t) * inner_grad)
    pdf = xp.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
    return dy * (cache.s + x * pdf)


def sigmoid_forward(x, who="sigmoid"):
    """Logistic sigmoid, y = 1 / (1 + exp(-x)), without overflow for large |x|.

    Shape: x any -> y same.
    forward:  y = 1 / (1 + e) if x >= 0 else e / (1 + e),   e = exp(-|x|) <= 1
    backward: dx = dy * y * (1 - y)
    Cache: y.
    """
    checks.floating(x, who)
    xp = backend.array_module(x)
    e = xp.exp(-xp.abs(x))
    y = xp.where(x >= 0, 1, e) / (1 + e)
    return y, y


def sigmoid_backward(dy, y):
    return dy * (y * (1 - y))


def tanh_forward(x, who="tanh"):
    """Hyperbolic tangent, elementwise.

    Shape: x any -> y same.
    forward:  y = tanh(x)
    backward: dx = dy * (1 - y^2)
    Cache: y.
    """
    checks.floating(x, who)
    y = backend.array_module(x).tanh(x)
    return y, y


def tanh_backward(dy, y):
    return dy * (1 - y * y)
