"""Linear (affine) layer, Flatten and Identity."""
import math
import numbers

from .. import functional as F
from .. import init
from .. import checks
from .module import Layer, Parameter


class Linear(Layer):
    """Affine map y = x @ W.T + b (torch.nn.Linear).

    Args: in_features, out_features, bias=True, rng=None (seed, Generator or None, for init).
    Shape: input (N, in_features) -> output (N, out_features).
    Parameters: weight (out_features, in_features), bias (out_features,) -- torch's layout,
    both initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.
    backward: dx = dy @ W, weight.grad += dy.T @ x, bias.grad += sum over n of dy
    """

    def __init__(self, in_features, out_features, bias=True, rng=None):
        super().__init__()
        self.in_features = checks.positive_int(in_features, "in_features", "Linear")
        self.out_features = checks.positive_int(out_features, "out_features", "Linear")
        if not isinstance(bias, bool):
            raise TypeError(f"Linear: bias must be a bool, got {bias!r}")
        rng = init.as_rng(rng)
        self.weight = Parameter(init.uniform_fan_in((self.out_features, self.in_features), rng))
        self.bias = Parameter(init.uniform_fan_in((self.out_features,), rng, fan_in=self.in_features)) if bias else None

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias is not None}

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        y, self._cache = F.linear_forward(x, self.weight.data, b, who=self)
        return y

    def backward(self, dy, input_grad=True):
        """Accumulate the weight (and bias) gradients; return dx, or None when ``input_grad`` is False."""
        # Frozen parameters (requires_grad False) get no gradient computed; db alone still needs the pass.
        trains = self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
        dx, dw, db = F.linear_backward(dy, self.take_cache(), input_grad, weight_grad=trains)
        self._accumulate(self.weight, dw)      # accumulate; zero_grad() resets
        self._accumulate(self.bias, db)
        return dx

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[1] != self.in_features:
            raise ValueError(f"{self}: expected input (N, {self.in_features}), got {shape}")
        return (shape[0], self.out_features)


class Flatten(Layer):
    """Merge dimensions start_dim..end_dim into one (torch.nn.Flatten).

    Args: start_dim=1, end_dim=-1 (negative counts from the end).
    Shape: (N, C, H, W) -> (N, C*H*W) with the defaults.
    backward: dx = dy reshaped to the input's shape.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        for what, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"Flatten: {what} must be an int, got {value!r}")
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def config(self):
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}

    def _span(self, shape):
        """(start, end) as non-negative axes of ``shape``; ValueError when out of range or crossed."""
        ndim = max(len(shape), 1)                  # as torch, a 0-d input counts as 1-d: (,) -> (1,)
        start, end = self.start_dim, self.end_dim
        for what, d in (("start_dim", start), ("end_dim", end)):
            if not -ndim <= d < ndim:
                raise ValueError(f"{self}: {what}={d} is out of range for an input of shape {shape}")
        start, end = start % ndim, end % ndim
        if start > end:
            raise ValueError(f"{self}: start_dim={self.start_dim} comes after end_dim={self.end_dim}"
                             f" for an input of shape {shape}")
        return start, end

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        start, end = self._span(shape)
        merged = shape[start:end + 1]
        size = None if None in merged else math.prod(merged)
        return shape[:start] + (size,) + shape[end + 1:]

    def forward(self, x):
        if not hasattr(x, "shape"):
            raise TypeError(f"{self}: expected an array, got {type(x).__name__}")
        self._cache = tuple(x.shape)
        return x.reshape(self.output_shape(x.shape))     # explicit sizes, not -1: N may be 0

    def backward(self, dy, input_grad=True):
        return dy.reshape(self.take_cache())


class Identity(Layer):
    """y = x (torch.nn.Identity): a placeholder, e.g. a Residual shortcut or a removed head.

    Shape: any -> same.
    """

    def forward(self, x):
        self._cache = True                         # only to tell backward that forward ran
        return x

    def backward(self, dy, input_grad=True):
        self.take_cache()
        return dy
