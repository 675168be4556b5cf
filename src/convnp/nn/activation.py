"""Activation layers: thin wrappers over ``convnp.functional.activation``.

Names, arguments and reprs are PyTorch's ("LeakyReLU(negative_slope=0.2)"), without
the ``inplace`` option. Shape: input any -> output same.
"""
import numbers

from .. import functional as F
from .. import checks
from .module import Layer


class _Elementwise(Layer):
    """An activation without parameters: forward calls ``_fn``, backward ``_grad``."""

    _fn = None      # staticmethod(F.<op>_forward)
    _grad = None    # staticmethod(F.<op>_backward)

    def _args(self):
        return ()

    def forward(self, x):
        y, self._cache = self._fn(x, *self._args(), who=self)
        return y

    def backward(self, dy, input_grad=True):
        return self._grad(dy, self.take_cache())

    def extra_repr(self):
        # PyTorch shows every argument of these layers, defaults included
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())


class ReLU(_Elementwise):
    """y = max(x, 0); dx = dy * (x > 0) (0 at x = 0)."""

    _fn = staticmethod(F.relu_forward)
    _grad = staticmethod(F.relu_backward)


class LeakyReLU(_Elementwise):
    """y = x if x > 0 else negative_slope * x.

    Args: negative_slope=0.01.
    """

    _fn = staticmethod(F.leaky_relu_forward)
    _grad = staticmethod(F.leaky_relu_backward)

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = checks.real(negative_slope, "negative_slope", "LeakyReLU")

    def _args(self):
        return (self.negative_slope,)

    def config(self):
        return {"negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """y = x if x > 0 else alpha * (exp(x) - 1).

    Args: alpha=1.0.
    """

    _fn = staticmethod(F.elu_forward)
    _grad = staticmethod(F.elu_backward)

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = checks.real(alpha, "alpha", "ELU")

    def _args(self):
        return (self.alpha,)

    def config(self):
        return {"alpha": self.alpha}


class GELU(_Elementwise):
    """y = x * Phi(x), Phi the standard normal CDF (exact, with erf) or its tanh approximation.

    Args: approximate='none' | 'tanh'.
    """

    _fn = staticmethod(F.gelu_forward)
    _grad = staticmethod(F.gelu_backward)

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _args(self):
        return (self.approximate,)

    def config(self):
        return {"approximate": self.approximate}


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)), computed without overflow; dx = dy * y * (1 - y)."""

    _fn = staticmethod(F.sigmoid_forward)
    _grad = staticmethod(F.sigmoid_backward)


class Tanh(_Elementwise):
    """y = tanh(x); dx = dy * (1 - y^2)."""

    _fn = staticmethod(F.tanh_forward)
    _grad = staticmethod(F.tanh_backward)


class Softmax(_Elementwise):
    """Softmax along ``dim``: each slice along dim becomes positive and sums to 1.

    Args: dim=1 (the class axis of (N, C) scores; PyTorch's default is an implicit dim).
    """

    _fn = staticmethod(F.softmax_forward)
    _grad = staticmethod(F.softmax_backward)

    def __init__(self, dim=1):
        super().__init__()
        if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
            raise TypeError(f"{type(self).__name__}: dim must be an int, got {dim!r}")
        self.dim = int(dim)

    def _args(self):
        return (self.dim,)

    def config(self):
        return {"dim": self.dim}


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed stably (x - max - log sum exp(x - max)).

    Args: dim=1.
    """

    _fn = staticmethod(F.log_softmax_forward)
    _grad = staticmethod(F.log_softmax_backward)
