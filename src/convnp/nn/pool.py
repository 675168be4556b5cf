"""Pooling layers: MaxPool2d, AvgPool2d and AdaptiveAvgPool2d (no parameters)."""
from .. import functional as F
from .. import checks
from ..functional.pool import (
    _output_hw,
    _pool_args,
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
)
from .module import Layer


def _as_given(value):
    """An int or pair argument kept as the user wrote it (lists become tuples) for config()."""
    return tuple(value) if isinstance(value, list) else value


def _pool_output_shape(layer, input_shape):
    """(N, C, H_out, W_out) for (N, C, H, W); N (and C) may be None."""
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(f"{layer}: expected input (N, C, H, W), got {shape}")
    h, w = _output_hw(shape, layer._kernel, layer._stride, layer._padding, layer.ceil_mode, layer)
    return (shape[0], shape[1], h, w)


class _Pool2d(Layer):
    """Shared constructor, config and output_shape of the two window poolings."""

    _repr_positional = 0          # PyTorch shows every argument by name: "MaxPool2d(kernel_size=2, stride=2)"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        who = type(self).__name__
        self._kernel, self._stride, self._padding = _pool_args(kernel_size, stride, padding, who)
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"{who}: ceil_mode must be a bool, got {ceil_mode!r}")
        self.kernel_size = _as_given(kernel_size)
        self.stride = self.kernel_size if stride is None else _as_given(stride)   # as torch: stride defaults to kernel_size
        self.padding = _as_given(padding)
        self.ceil_mode = ceil_mode

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "ceil_mode": self.ceil_mode}

    def output_shape(self, input_shape):
        return _pool_output_shape(self, input_shape)


class MaxPool2d(_Pool2d):
    """Maximum over each window (torch.nn.MaxPool2d without dilation and return_indices).

    Args: kernel_size (int or pair), stride (default kernel_size), padding (<= kernel_size/2,
    padded with -inf), ceil_mode.
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out),
    H_out = (H + 2*P - K) // S + 1 (ceil_mode: see functional.pool_output_size).
    backward: each upstream gradient goes to its window's maximum (the first one on ties,
    as in PyTorch); overlapping windows add up.
    """

    def forward(self, x):
        y, self._cache = F.max_pool2d_forward(x, self._kernel, self._stride, self._padding, self.ceil_mode,
                                              who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.max_pool2d_backward(dy, self.take_cache())


class AvgPool2d(_Pool2d):
    """Mean over each window (torch.nn.AvgPool2d without divisor_override).

    Args: kernel_size (int or pair), stride (default kernel_size), padding (<= kernel_size/2,
    zeros), ceil_mode, count_include_pad (padded zeros count in the divisor).
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out), sizes as MaxPool2d.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        if not isinstance(count_include_pad, bool):
            raise TypeError(f"AvgPool2d: count_include_pad must be a bool, got {count_include_pad!r}")
        self.count_include_pad = count_include_pad

    def config(self):
        return {**super().config(), "count_include_pad": self.count_include_pad}

    def forward(self, x):
        y, self._cache = F.avg_pool2d_forward(x, self._kernel, self._stride, self._padding, self.ceil_mode,
                                              self.count_include_pad, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.avg_pool2d_backward(dy, self.take_cache())


class AdaptiveAvgPool2d(Layer):
    """Average over adaptive windows giving a fixed output size (torch.nn.AdaptiveAvgPool2d).

    Args: output_size (int or pair (H_out, W_out)); 1 is global average pooling.
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out).
    Output row o averages input rows [floor(o*H/H_out), ceil((o+1)*H/H_out)); columns alike.
    """

    _repr_positional = 0

    def __init__(self, output_size):
        super().__init__()
        self._size = checks.pair(output_size, "output_size", "AdaptiveAvgPool2d")
        self.output_size = _as_given(output_size)

    def config(self):
        return {"output_size": self.output_size}

    def forward(self, x):
        if self._size == (1, 1):  # the common case (a classifier's head): a plain mean
            y, self._cache = F.global_avg_pool2d_forward(x, who=self)
        else:
            y, self._cache = adaptive_avg_pool2d_forward(x, self._size, who=self)
        return y

    def backward(self, dy, input_grad=True):
        if self._size == (1, 1):
            return F.global_avg_pool2d_backward(dy, self.take_cache())
        return adaptive_avg_pool2d_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self}: expected input (N, C, H, W), got {shape}")
        return (shape[0], shape[1], *self._size)
