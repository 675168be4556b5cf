"""Padding layers (no parameters), as torch.nn's: ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d.

Each pads H and W by (left, right, top, bottom) with functional.pad in its mode; the math of
each mode and of the backward is in functional/padding.py.
"""
import numbers

from .. import checks
from .. import functional as F
from .module import Layer


class _Pad2d(Layer):
    """Shared constructor, forward, backward and output_shape of the 2-D padding layers."""

    _mode = "constant"
    _repr_positional = 1

    def __init__(self, padding):
        super().__init__()
        who = type(self).__name__
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (int(padding),) * 4
        if not (isinstance(padding, (tuple, list)) and len(padding) == 4
                and all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding)):
            raise TypeError(f"{who}: padding must be an int or a 4-tuple of ints (left, right, top, bottom),"
                            f" got {padding!r}")
        self.padding = tuple(int(p) for p in padding)
        if self._mode != "constant" and min(self.padding) < 0:
            raise ValueError(f"{who}: padding must be >= 0 (only constant padding crops), got {self.padding}")
        self.value = 0.0

    def config(self):
        return {"padding": list(self.padding)}

    def forward(self, x):
        checks.input_shape(x, self, "(N, C, H, W) or (C, H, W)", (3, 4))
        y, self._cache = F.pad_forward(x, self.padding, self._mode, self.value, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.pad_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        """(..., H + top + bottom, W + left + right); N may be None."""
        shape = tuple(input_shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"{self}: expected input (N, C, H, W) or (C, H, W), got {shape}")
        left, right, top, bottom = self.padding
        return shape[:-2] + (shape[-2] + top + bottom, shape[-1] + left + right)


class ZeroPad2d(_Pad2d):
    """Zeros around H and W (torch.nn.ZeroPad2d); negative padding crops.

    Args: padding: int, or (left, right, top, bottom).
    Shape: (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    backward: dx = dy without the border.
    """


class ConstantPad2d(_Pad2d):
    """A constant value around H and W (torch.nn.ConstantPad2d); negative padding crops.

    Args: padding: int, or (left, right, top, bottom); value: the fill.
    Shape: (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    """

    def __init__(self, padding, value):
        super().__init__(padding)
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"ConstantPad2d: value must be a number, got {value!r}")
        self.value = float(value)

    def config(self):
        return {"padding": list(self.padding), "value": self.value}


class ReflectionPad2d(_Pad2d):
    """The input mirrored at its edges, the edge not repeated (torch.nn.ReflectionPad2d).

    Args: padding: int, or (left, right, top, bottom), each smaller than the padded size.
    Shape: (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    Example: [1, 2, 3] padded by (2, 1) -> [3, 2, 1, 2, 3, 2].
    """

    _mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """The edge values repeated (torch.nn.ReplicationPad2d).

    Args: padding: int, or (left, right, top, bottom).
    Shape: (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    Example: [1, 2, 3] padded by (2, 1) -> [1, 1, 1, 2, 3, 3].
    """

    _mode = "replicate"


class CircularPad2d(_Pad2d):
    """The input wrapped around, as on a torus (torch.nn.CircularPad2d).

    Args: padding: int, or (left, right, top, bottom), each at most the padded size.
    Shape: (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    Example: [1, 2, 3] padded by (2, 1) -> [2, 3, 1, 2, 3, 1].
    """

    _mode = "circular"
