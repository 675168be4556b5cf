"""Activation functions: ReLU, LeakyReLU, ELU, GELU, sigmoid and tanh.

Each op is a ``*_forward(x, ...) -> (y, cache)`` and ``*_backward(dy, cache) -> dx``
pair. Shapes are kept: x any -> y same. Values and derivatives follow PyTorch,
including the derivative taken at a kink (ReLU'(0) = 0, LeakyReLU'(0) = slope,
ELU'(0) = alpha). The dtype of ``x`` is kept end to end.

More activations: ``activation_hard`` (ReLU6, Hardtanh, Hardsigmoid, Hardswish, PReLU),
``activation_smooth`` (SiLU, Mish, SELU, CELU, Softplus, LogSigmoid, Softsign) and
``softmax`` (softmax, log-softmax).

The ops here run on every core, a cache-sized block at a time (``elementwise.py``): each
formula is written once, as a function of blocks, and is the same code on one thread.
"""
import math
from collections import namedtuple

from .. import backend
from .. import checks
from .elementwise import elementwise, formula, select
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
    # y and the mask in one pass over x
    y, mask = elementwise(lambda x, y, mask: (xp.maximum(x, 0, out=y), xp.greater(x, 0, out=mask)),
                          [x], [x.dtype, bool])
    return y, mask


def relu_backward(dy, mask):
    xp = backend.array_module(dy)
    return elementwise(lambda dy, mask, dx: xp.multiply(dy, mask, out=dx), [dy, mask], [dy.dtype])[0]


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

    # For 0 < a: y = max(x, a x) (min for a > 1), the values of "x if x > 0 else a x" without a
    # branch per element (a masked copy is 20x slower on random signs). For a <= 0 the max would
    # differ at signed zeros (a 0.0 = -0.0) and at x = inf with a = 0 (0 inf = NaN): select there.
    pick = xp.maximum if negative_slope <= 1 else xp.minimum

    def kernel(x, y, mask):
        xp.greater(x, 0, out=mask)
        xp.multiply(x, negative_slope, out=y)
        if negative_slope > 0:
            pick(y, x, out=y)
        else:
            select(mask, x, y, out=y)

    y, mask = elementwise(kernel, [x], [x.dtype, bool])
    return y, LeakyReLUCache(mask, negative_slope)


def leaky_relu_backward(dy, cache):
    xp = backend.array_module(dy)

    slopes = xp.asarray([cache.negative_slope, 1], dtype=dy.dtype)   # slopes[mask]: a where x <= 0, 1 where x > 0

    def kernel(dy, mask, dx):  # dx = dy * slopes[mask], exact (a lookup, not a blend)
        xp.take(slopes, mask.view(xp.uint8), out=dx)
        xp.multiply(dx, dy, out=dx)

    return elementwise(kernel, [dy, cache.mask], [dy.dtype])[0]


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

    def kernel(x, y, mask, neg):
        xp.greater(x, 0, out=mask)
        # min(x, 0): exp of a large positive x would overflow on the branch that is thrown away
        xp.multiply(xp.expm1(xp.minimum(x, 0)), alpha, out=neg)
        select(mask, x, neg, out=y)   # where's values without a branch per element (elementwise.select)

    y, mask, neg = elementwise(kernel, [x], [x.dtype, bool, x.dtype])
    return y, ELUCache(mask, neg, alpha)


def elu_backward(dy, cache):
    xp = backend.array_module(dy)

    def kernel(dy, mask, neg, dx):
        xp.multiply(dy, xp.add(neg, cache.alpha), out=dx)   # alpha * exp(x) = y + alpha
        select(mask, dy, dx, out=dx)                        # where's values without a branch per element

    return elementwise(kernel, [dy, cache.mask, cache.neg], [xp.result_type(dy, cache.neg)])[0]


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

    def kernel(x, y, s):
        if approximate == "tanh":
            xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_K * (x * x * x)), out=s)
            xp.copyto(y, x * 0.5 * (1 + s))
        else:
            xp.copyto(s, (1 + erf(x * math.sqrt(0.5))) * 0.5)
            xp.multiply(x, s, out=y)

    y, s = elementwise(kernel, [x], [x.dtype, x.dtype])
    return y, GELUCache(x, s, approximate)


def gelu_backward(dy, cache):
    xp = backend.array_module(dy)

    def grad(dy, x, s):
        if cache.approximate == "tanh":
            inner_grad = _SQRT_2_OVER_PI * (1 + 3 * _GELU_K * (x * x))
            return dy * ((1 + s) * 0.5 + x * 0.5 * (1 - s * s) * inner_grad)
        pdf = xp.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
        return dy * (s + x * pdf)

    return formula(grad, dy, cache.x, cache.s)


def sigmoid_forward(x, who="sigmoid"):
    """Logistic sigmoid, y = 1 / (1 + exp(-x)), without overflow for large |x|.

    Shape: x any -> y same.
    forward:  y = 1 / (1 + e) if x >= 0 else e / (1 + e),   e = exp(-|x|) <= 1
    backward: dx = dy * y * (1 - y)
    Cache: y.
    """
    checks.floating(x, who)
    xp = backend.array_module(x)

    def sigmoid(x):
        e = xp.exp(-xp.abs(x))
        # numerator: max(e, 1) = 1 for x >= 0 (e <= 1), max(e, 0) = e below (NaN stays NaN);
        # where(x >= 0, 1, e) would branch per element, 15-20x slower on random signs
        return xp.maximum(e, x >= 0) / (1 + e)

    y = formula(sigmoid, x)
    return y, y


def sigmoid_backward(dy, y):
    return formula(lambda dy, y: dy * (y * (1 - y)), dy, y)


def tanh_forward(x, who="tanh"):
    """Hyperbolic tangent, elementwise.

    Shape: x any -> y same.
    forward:  y = tanh(x)
    backward: dx = dy * (1 - y^2)
    Cache: y.
    """
    checks.floating(x, who)
    y = formula(backend.array_module(x).tanh, x)
    return y, y


def tanh_backward(dy, y):
    return formula(lambda dy, y: dy * (1 - y * y), dy, y)
