"""Piecewise-linear activation layers: ReLU6, Hardtanh, Hardsigmoid, Hardswish and PReLU.

Thin wrappers over ``convnp.functional.activation_hard`` with PyTorch's names, arguments
and derivatives at the kinks. Shape: input any -> output same.
"""
import numpy as np

from .. import functional as F
from .. import checks
from ..init import full
from .activation import Activation
from .module import Parameter


class ReLU6(Activation):
    """y = min(max(x, 0), 6) (MobileNetV2); dx = dy where 0 < x < 6, else 0 (0 at both kinks)."""

    def forward(self, x):
        y, self._cache = F.relu6_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.relu6_backward(dy, self.take_cache())


class Hardtanh(Activation):
    """y = min(max(x, min_val), max_val); dx = dy where min_val < x < max_val, else 0.

    Args: min_val=-1.0, max_val=1.0 (max_val > min_val).
    """

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val = checks.real(min_val, "min_val", "Hardtanh")
        self.max_val = checks.real(max_val, "max_val", "Hardtanh")
        if self.max_val <= self.min_val:
            raise ValueError(f"Hardtanh: max_val must be greater than min_val, got min_val={self.min_val},"
                             f" max_val={self.max_val}")

    def config(self):
        return {"min_val": self.min_val, "max_val": self.max_val}

    def forward(self, x):
        y, self._cache = F.hardtanh_forward(x, self.min_val, self.max_val, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.hardtanh_backward(dy, self.take_cache())


class Hardsigmoid(Activation):
    """y = min(max(x + 3, 0), 6) / 6; dx = dy / 6 where -3 < x < 3, else 0."""

    def forward(self, x):
        y, self._cache = F.hardsigmoid_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.hardsigmoid_backward(dy, self.take_cache())


class Hardswish(Activation):
    """y = x * min(max(x + 3, 0), 6) / 6 (MobileNetV3); dx = 0 (x <= -3), dy (x >= 3), dy * (x/3 + 1/2)."""

    def forward(self, x):
        y, self._cache = F.hardswish_forward(x, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.hardswish_backward(dy, self.take_cache())


class PReLU(Activation):
    """Leaky ReLU with a learned negative slope, shared or one per channel (torch.nn.PReLU).

    Args: num_parameters=1 (1: one slope for every value; C: one per channel of axis 1),
    init=0.25 (the initial slope).
    Shape: input (N, C, *) (any shape when num_parameters is 1) -> output same.
    Parameters: weight (num_parameters,) = init.
    forward:  y = x if x > 0 else weight[c] * x
    backward: dx = dy if x > 0 else weight[c] * dy (weight at 0);
              weight.grad[c] += sum over all but axis 1 of (x <= 0) * x * dy
    """

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        # no num_parameters attribute, as PyTorch has: Layer.num_parameters() counts the weights
        k = checks.positive_int(num_parameters, "num_parameters", "PReLU")
        self.init = checks.real(init, "init", "PReLU")
        self.weight = Parameter(full(k, self.init))     # the argument `init` hides the module here

    def config(self):
        return {"num_parameters": self.weight.size, "init": self.init}

    def forward(self, x):
        checks.floating(x, self)
        k = self.weight.size
        if k > 1 and (x.ndim < 2 or x.shape[1] != k):
            raise ValueError(f"{self}: expected input (N, {k}, *) with one channel per parameter, got {tuple(x.shape)}")
        checks.same_dtype(x, self.weight.data, self)
        y, self._cache = F.prelu_forward(x, self.weight.data, who=self)
        return y

    def backward(self, dy, input_grad=True):
        dx, dweight = F.prelu_backward(dy, self.take_cache())
        self._accumulate(self.weight, dweight)
        return dx
