"""The error function erf, vectorised (NumPy has none): GELU's exact form needs it.

W. J. Cody, "Rational Chebyshev approximations for the error function",
Math. Comp. 23 (1969), 631-638, with the coefficients of his CALERF routine.
"""
import math

from .. import backend

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
