"""Smooth activation layers: SiLU, Mish, SELU, CELU, Softplus, LogSigmoid and Softsign.

Thin wrappers over ``convnp.functional.activation_smooth`` with PyTorch's names, arguments
and numerics. Shape: input any -> output same.
"""
from .. import functional as F
from .. import checks
from .activation import Activation


class SiLU(Activation):
    """y = x * sigmoid(x) (swish; EfficientNet); dx = dy * s * (1 + x * (1 - s)), s = sigmoid(x)."""

    def forward(self, x):
        y, self._cache = F.silu_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.silu_backward(dy, self.take_cache())


class Mish(Activation):
    """y = x * tanh(softplus(x)); dx = dy * (t + x * sigmoid(x) * (1 - t^2)), t = tanh(softplus(x))."""

    def forward(self, x):
        y, self._cache = F.mish_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.mish_backward(dy, self.take_cache())


class SELU(Activation):
    """y = scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.6732632..., scale = 1.0507009..."""

    def forward(self, x):
        y, self._cache = F.selu_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.selu_backward(dy, self.take_cache())


class CELU(Activation):
    """y = x if x > 0 else alpha * (exp(x / alpha) - 1); dx = dy or dy * exp(x / alpha) (1 at 0).

    Args: alpha=1.0 (not 0).
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = checks.real(alpha, "alpha", "CELU")
        if self.alpha == 0:
            raise ValueError(f"CELU: alpha must not be 0, got {self.alpha}")

    def config(self):
        return {"alpha": self.alpha}

    def forward(self, x):
        y, self._cache = F.celu_forward(x, self.alpha, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.celu_backward(dy, self.take_cache())


class Softplus(Activation):
    """y = log(1 + exp(beta * x)) / beta, or x where beta * x > threshold; dx = dy * sigmoid(beta * x).

    Args: beta=1.0 (not 0), threshold=20.0.
    """

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = checks.real(beta, "beta", "Softplus")
        self.threshold = checks.real(threshold, "threshold", "Softplus")
        if self.beta == 0:
            raise ValueError(f"Softplus: beta must not be 0, got {self.beta}")

    def config(self):
        return {"beta": self.beta, "threshold": self.threshold}

    def forward(self, x):
        y, self._cache = F.softplus_forward(x, self.beta, self.threshold, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.softplus_backward(dy, self.take_cache())


class LogSigmoid(Activation):
    """y = log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)); dx = dy * sigmoid(-x)."""

    def forward(self, x):
        y, self._cache = F.logsigmoid_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.logsigmoid_backward(dy, self.take_cache())


class Softsign(Activation):
    """y = x / (1 + |x|); dx = dy / (1 + |x|)^2."""

    def forward(self, x):
        y, self._cache = F.softsign_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.softsign_backward(dy, self.take_cache())
