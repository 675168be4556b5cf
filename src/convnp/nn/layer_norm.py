"""Layer and group normalisation layers: per-sample statistics, the same in training and eval."""
import numbers

import numpy as np

from .. import functional as F
from .. import checks
from .. import init
from .module import Layer, Parameter


def _flag(value, what, who):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{who}: {what} must be a bool, got {value!r}")
    return bool(value)


def _shape(normalized_shape, who):
    """normalized_shape as a tuple of positive ints (an int n means (n,))."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
        raise TypeError(f"{who}: normalized_shape must be an int or a non-empty tuple of ints, got {normalized_shape!r}")
    return tuple(checks.positive_int(s, "normalized_shape", who) for s in normalized_shape)


class LayerNorm(Layer):
    """Normalise each sample over its last dimensions, then scale and shift elementwise (torch.nn.LayerNorm).

    Args: normalized_shape (int or tuple: the trailing dimensions normalised together),
    eps=1e-5, elementwise_affine=True (learn weight and bias), bias=True (learn the bias).
    Shape: input (*, *normalized_shape) -> output same.
    Parameters: weight normalized_shape = 1, bias normalized_shape = 0.
    forward: y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) var over the
    normalised dimensions of each sample; see convnp.functional.layer_norm_forward for the
    backward and docs/layer_group_norm.md for its derivation.
    """

    _repr_positional = 1

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "LayerNorm")
        self.eps = checks.real(eps, "eps", "LayerNorm", low=0)
        self.elementwise_affine = _flag(elementwise_affine, "elementwise_affine", "LayerNorm")
        has_bias = _flag(bias, "bias", "LayerNorm")
        affine = self.elementwise_affine
        self.weight = Parameter(init.full(self.normalized_shape, 1.0)) if affine else None
        self.bias = Parameter(init.full(self.normalized_shape, 0.0)) if affine and has_bias else None

    def config(self):
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None}

    def forward(self, x):
        checks.floating(x, self)
        if self.weight is not None:
            checks.same_dtype(x, self.weight.data, self)
        y, self._cache = F.layer_norm_forward(x, self.normalized_shape, _data(self.weight), _data(self.bias),
                                              self.eps, who=self)
        return y

    def backward(self, dy, input_grad=True):
        dx, dweight, dbias = F.layer_norm_backward(dy, self.take_cache())
        self._accumulate(self.weight, dweight)
        self._accumulate(self.bias, dbias)
        return dx


class GroupNorm(Layer):
    """Normalise each group of channels of each sample, then scale and shift per channel (torch.nn.GroupNorm).

    Args: num_groups (G, dividing num_channels), num_channels (C), eps=1e-5, affine=True.
    Shape: input (N, C, *) -> output same.
    Parameters: weight (C,) = 1, bias (C,) = 0.
    forward: y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c], mean and (biased) var
    over the C/G channels and all positions of each (sample, group); num_groups=1 is a layer
    norm over (C, *) with per-channel affine, num_groups=C an instance norm.
    """

    _repr_positional = 2

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        self.num_groups = checks.positive_int(num_groups, "num_groups", "GroupNorm")
        self.num_channels = checks.positive_int(num_channels, "num_channels", "GroupNorm")
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups, got num_channels="
                             f"{self.num_channels}, num_groups={self.num_groups}")
        self.eps = checks.real(eps, "eps", "GroupNorm", low=0)
        self.affine = _flag(affine, "affine", "GroupNorm")
        c = self.num_channels
        self.weight = Parameter(init.full(c, 1.0)) if self.affine else None
        self.bias = Parameter(init.full(c, 0.0)) if self.affine else None

    def config(self):
        return {"num_groups": self.num_groups, "num_channels": self.num_channels, "eps": self.eps,
                "affine": self.affine}

    def forward(self, x):
        checks.floating(x, self)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self}: expected input (N, {self.num_channels}, *), got {tuple(x.shape)}")
        if self.affine:
            checks.same_dtype(x, self.weight.data, self)
        y, self._cache = F.group_norm_forward(x, self.num_groups, _data(self.weight), _data(self.bias),
                                              self.eps, who=self)
        return y

    def backward(self, dy, input_grad=True):
        dx, dweight, dbias = F.group_norm_backward(dy, self.take_cache())
        self._accumulate(self.weight, dweight)
        self._accumulate(self.bias, dbias)
        return dx


def _data(param):
    return None if param is None else param.data
