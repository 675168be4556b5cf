"""Activation functions: elementwise nonlinearities, softmax and log-softmax.

Each op is a ``*_forward(x, ...) -> (y, cache)`` and ``*_backward(dy, cache) -> dx``
pair. Shapes are kept: x any -> y same. Values and derivatives follow PyTorch,
including the derivative taken at a kink (ReLU'(0) = 0, LeakyReLU'(0) = slope,
ELU'(0) = alpha). The dtype of ``x`` is kept end to end.

``erf`` is here too: GELU needs it, and NumPy has no vectorised error function.
"""
import math

from .. import backend
from .. import checks

# ---------------------------------------------------------------------------------------
# erf: W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969), 631-638, with the coefficients of his CALERF routine.
#   |x| <= 0.46875:       erf(x)  = x * A(x^2) / B(x^2)
#   0.46875 < |x| <= 4:   erfc(y) = exp(-y^2) * C(y) / D(y)
#   |x| > 4:              erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - z * P(z) / Q(z)),  z = 1/y^2
# Coefficients are listed from the highest power down (Horner order).
_ERF_A = (1.85777706184603153e-1, 3.16112374387056560e0, 1.13864154151050156e2,
          3.77485237685302021e2, 3.20937758913846947e3)
_ERF_B = (1.0, 2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3,
          2.84423683343917062e3)
_ERF_C = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e0,
          6.61191906371416295e1, 2.98635138197400131e2, 8.81952221241769090e2,
          1.71204761263407058e3, 2.05107837782607147e3, 1.23033935479799725e3)
_ERF_D = (1.0, 1.57449261107098347e1, 1.17693950891312499e2, 5.37181101862009858e2,
          1.62138957456669019e3, 3.29079923573345963e3, 4.36261909014324716e3,
          3.43936767414372164e3, 1.23033935480374942e3)
_ERF_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
          1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_ERF_Q = (1.0, 2.56852019228982242e0, 1.87295284992346047e0, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_ERF_THRESH = 0.46875
_ERF_TAIL_CLIP = 30.0      # erfc(30) ~ 1e-393 underflows: clipping keeps inf out of the tail formula


def _horner(coeffs, t):
    acc = t * coeffs[0]
    acc += coeffs[1]
    for c in coeffs[2:]:        # in place: large temporaries cost more than the arithmetic
        acc *= t
        acc += c
    return acc


def _exp_neg_square(y):
    """exp(-y^2) for y >= 0, with y^2 split as s^2 + (y - s)(y + s), s = floor(16 y) / 16.

    s^2 is exact, so the rounding error of y*y never reaches the exponent (Cody's trick).
    """
    xp = backend.array_module(y)
    s = xp.floor(y * 16)
    s /= 16
    rest = y - s
    rest *= y + s
    s *= s
    return xp.exp(-s) * xp.exp(-rest)


def _erfc_positive(y):
    """erfc(y) for y > 0.46875 (either of Cody's two erfc approximations)."""
    xp = backend.array_module(y)
    out = xp.empty_like(y)
    mid = y <= 4
    ym = y[mid]
    out[mid] = _horner(_ERF_C, ym) / _horner(_ERF_D, ym) * _exp_neg_square(ym)
    yt = xp.minimum(y[~mid], _ERF_TAIL_CLIP)
    z = 1 / (yt * yt)
    tail = (1 / math.sqrt(math.pi) - z * _horner(_ERF_P, z) / _horner(_ERF_Q, z)) / yt
    out[~mid] = tail * _exp_neg_square(yt)
    return out


def erf(x):
    """The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise.

    Cody's rational Chebyshev approximations (about 18 digits in exact arithmetic);
    in float64 the result is within a few units in the last place of the true value.
    A floating ``x`` keeps its dtype (others become float64); NaN stays NaN, erf(+-inf) = +-1.
    """
    xp = backend.array_module(x)
    x = xp.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(float)
    y = xp.abs(x)
    out = xp.empty_like(x)
    small = y <= _ERF_THRESH                 # False for NaN, which the erfc branch passes on
    xs = x[small]
    t = xs * xs
    out[small] = xs * _horner(_ERF_A, t) / _horner(_ERF_B, t)
    large = ~small
    out[large] = xp.copysign(1 - _erfc_positive(y[large]), x[large])
    return out


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
    """
    checks.floating(x, who)
    # a Python float: a NumPy float64 scalar would turn float32 arrays into float64
    negative_slope = checks.real(negative_slope, "negative_slope", who)
    xp = backend.array_module(x)
    mask = x > 0
    return xp.where(mask, x, x * negative_slope), (mask, negative_slope)


def leaky_relu_backward(dy, cache):
    xp = backend.array_module(dy)
    mask, negative_slope = cache
    return xp.where(mask, dy, dy * negative_slope)


def elu_forward(x, alpha=1.0, who="elu"):
    """Exponential linear unit, y = x for x > 0, alpha * (exp(x) - 1) otherwise.

    Shape: x any -> y same.
    forward:  y = x if x > 0 else alpha * (exp(x) - 1)
    backward: dx = dy if x > 0 else dy * alpha * exp(x)   (alpha at x = 0, as in PyTorch)
    """
    checks.floating(x, who)
    alpha = checks.real(alpha, "alpha", who)
    xp = backend.array_module(x)
    mask = x > 0
    # min(x, 0): exp of a large positive x would overflow on the branch that is thrown away
    neg = xp.expm1(xp.minimum(x, 0)) * alpha
    return xp.where(mask, x, neg), (mask, neg, alpha)


def elu_backward(dy, cache):
    xp = backend.array_module(dy)
    mask, neg, alpha = cache
    return xp.where(mask, dy, dy * (neg + alpha))      # alpha * exp(x) = y + alpha


def gelu_forward(x, approximate="none", who="gelu"):
    """Gaussian error linear unit, y = x * Phi(x) with Phi the standard normal CDF.

    Shape: x any -> y same.
    approximate='none':
      forward:  y = x * Phi(x),                      Phi(x) = (1 + erf(x / sqrt(2))) / 2
      backward: dx = dy * (Phi(x) + x * phi(x)),     phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    approximate='tanh':
      forward:  y = x/2 * (1 + t),                   t = tanh(sqrt(2/pi) * (x + k x^3)), k = 0.044715
      backward: dx = dy * ((1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3k x^2))
    """
    checks.floating(x, who)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{who}: approximate must be 'none' or 'tanh', got {approximate!r}")
    xp = backend.array_module(x)
    if approximate == "tanh":
        t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_K * (x * x * x)))
        return x * 0.5 * (1 + t), (x, t, approximate)
    cdf = (1 + erf(x * math.sqrt(0.5))) * 0.5
    return x * cdf, (x, cdf, approximate)


def gelu_backward(dy, cache):
    x, aux, approximate = cache
    xp = backend.array_module(dy)
    if approximate == "tanh":
        t = aux
        inner_grad = _SQRT_2_OVER_PI * (1 + 3 * _GELU_K * (x * x))
        return dy * ((1 + t) * 0.5 + x * 0.5 * (1 - t * t) * inner_grad)
    pdf = xp.exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
    return dy * (aux + x * pdf)


def sigmoid_forward(x, who="sigmoid"):
    """Logistic sigmoid, y = 1 / (1 + exp(-x)), without overflow for large |x|.

    Shape: x any -> y same.
    forward:  y = 1 / (1 + e) if x >= 0 else e / (1 + e),   e = exp(-|x|) <= 1
    backward: dx = dy * y * (1 - y)
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
    """
    checks.floating(x, who)
    y = backend.array_module(x).tanh(x)
    return y, y


def tanh_backward(dy, y):
    return dy * (1 - y * y)


# ---------------------------------------------------------------------------------------
# Softmax along one axis
def _axis(x, dim, who):
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(
            f"{who}: dim {dim} is out of range for an input of shape {tuple(x.shape)}"
            f" (expected a dim in [{-x.ndim}, {x.ndim - 1}])"
        )
    return dim % x.ndim


def softmax_forward(x, dim=1, who="softmax"):
    """Softmax along ``dim``: y_i = exp(x_i - m) / sum_j exp(x_j - m),  m = max_j x_j.

    Shape: x any (ndim >= 1) -> y same; each slice along ``dim`` sums to 1.
    forward:  subtracting the max keeps exp from overflowing and does not change y
    backward: dx = y * (dy - sum_j(dy_j * y_j))       (sum along dim)
    """
    checks.floating(x, who)
    axis = _axis(x, dim, who)
    xp = backend.array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(dy, cache):
    y, axis = cache
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def log_softmax_forward(x, dim=1, who="log_softmax"):
    """Log of the softmax along ``dim``: y_i = x_i - m - log(sum_j exp(x_j - m)),  m = max_j x_j.

    Shape: x any (ndim >= 1) -> y same.
    forward:  computed from the shifted logits, never as log(softmax(x)) (which underflows)
    backward: dx = dy - exp(y) * sum_j(dy_j)          (sum along dim)
    """
    checks.floating(x, who)
    axis = _axis(x, dim, who)
    xp = backend.array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return y, (y, axis)


def log_softmax_backward(dy, cache):
    y, axis = cache
    xp = backend.array_module(dy)
    return dy - xp.exp(y) * dy.sum(axis=axis, keepdims=True)
