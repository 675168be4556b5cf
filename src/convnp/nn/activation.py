"""Activation layers: ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax and LogSoftmax.

Thin wrappers over ``convnp.functional``: forward calls the op and keeps its cache, backward
hands the cache back. Names, arguments and reprs are PyTorch's ("LeakyReLU(negative_slope=0.2)"),
without the ``inplace`` option. Shape: input any -> output same. More activations are in
``activation_hard`` (ReLU6, Hardtanh, Hardsigmoid, Hardswish, PReLU) and ``activation_smooth``.
"""
import numbers

from .. import functional as F
from .. import checks
from .module import Layer


class Activation(Layer):
    """Base of the activation layers: no parameters, and a repr that shows every argument."""

    def extra_repr(self):
        # PyTorch shows every argument of these layers, defaults included
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())


class ReLU(Activation):
    """y = max(x, 0); dx = dy * (x > 0) (0 at x = 0)."""

    def forward(self, x):
        y, self._cache = F.relu_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.relu_backward(dy, self.take_cache())


class LeakyReLU(Activation):
    """y = x if x > 0 else negative_slope * x; dx = dy or negative_slope * dy (the slope at 0).

    Args: negative_slope=0.01.
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = checks.real(negative_slope, "negative_slope", "LeakyReLU")

    def config(self):
        return {"negative_slope": self.negative_slope}

    def forward(self, x):
        y, self._cache = F.leaky_relu_forward(x, self.negative_slope, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.leaky_relu_backward(dy, self.take_cache())


class ELU(Activation):
    """y = x if x > 0 else alpha * (exp(x) - 1); dx = dy or dy * alpha * exp(x) (alpha at 0).

    Args: alpha=1.0.
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = checks.real(alpha, "alpha", "ELU")

    def config(self):
        return {"alpha": self.alpha}

    def forward(self, x):
        y, self._cache = F.elu_forward(x, self.alpha, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.elu_backward(dy, self.take_cache())


class GELU(Activation):
    """y = x * Phi(x), Phi the standard normal CDF (exact, with erf) or its tanh approximation.

    Args: approximate='none' | 'tanh'.
    """

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def config(self):
        return {"approximate": self.approximate}

    def forward(self, x):
        y, self._cache = F.gelu_forward(x, self.approximate, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.gelu_backward(dy, self.take_cache())


class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)), computed without overflow; dx = dy * y * (1 - y)."""

    def forward(self, x):
        y, self._cache = F.sigmoid_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.sigmoid_backward(dy, self.take_cache())


class Tanh(Activation):
    """y = tanh(x); dx = dy * (1 - y^2)."""

    def forward(self, x):
        y, self._cache = F.tanh_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.tanh_backward(dy, self.take_cache())


class Softmax(Activation):
    """Softmax along ``dim``: each slice along dim becomes positive and sums to 1.

    Args: dim=1 (the class axis of (N, C) scores; PyTorch's default is an implicit dim).
    backward: dx = y * (dy - sum(dy * y)) along dim.
    """

    def __init__(self, dim=1):
        super().__init__()
        if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
            raise TypeError(f"{type(self).__name__}: dim must be an int, got {dim!r}")
        self.dim = int(dim)

    def config(self):
        return {"dim": self.dim}

    def forward(self, x):
        y, self._cache = F.softmax_forward(x, self.dim, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.softmax_backward(dy, self.take_cache())


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed stably (x - max - log sum exp(x - max)).

    Args: dim=1.
    backward: dx = dy - exp(y) * sum(dy) along dim.
    """

    def forward(self, x):
        y, self._cache = F.log_softmax_forward(x, self.dim, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.log_softmax_backward(dy, self.take_cache())
