"""Pooling layers (no parameters): MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, MaxUnpool2d."""
from .. import functional as F
from .. import checks
from ..functional.pool import _output_hw, _pool_args
from ..functional.pool_adaptive import adaptive_output_size
from .module import Layer


def _as_given(value):
    """An int or pair argument kept as the user wrote it (lists become tuples) for config()."""
    return tuple(value) if isinstance(value, list) else value


def _flag(value, what, who):
    if not isinstance(value, bool):
        raise TypeError(f"{who}: {what} must be a bool, got {value!r}")
    return value


def _no_index_gradient(layer, d_indices):
    """A layer that returns indices takes None as their gradient (integers have none)."""
    if d_indices is not None:
        raise TypeError(f"{layer}.backward: the indices output has no gradient; pass None for it,"
                        f" got {type(d_indices).__name__}")


class _Pool2d(Layer):
    """Shared constructor, config and output_shape of the two window poolings."""

    _repr_positional = 0          # PyTorch shows every argument by name: "MaxPool2d(kernel_size=2, stride=2)"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        who = type(self).__name__
        self._kernel, self._stride, self._padding = _pool_args(kernel_size, stride, padding, who)
        self._dilation = (1, 1)
        self.kernel_size = _as_given(kernel_size)
        self.stride = self.kernel_size if stride is None else _as_given(stride)   # as torch: stride defaults to kernel_size
        self.padding = _as_given(padding)
        self.ceil_mode = _flag(ceil_mode, "ceil_mode", who)

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "ceil_mode": self.ceil_mode}

    def output_shape(self, input_shape):
        """(N, C, H_out, W_out) for (N, C, H, W); N (and C) may be None."""
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self}: expected input (N, C, H, W), got {shape}")
        h, w = _output_hw(shape, self._kernel, self._stride, self._padding, self.ceil_mode, self, self._dilation)
        return (shape[0], shape[1], h, w)


class MaxPool2d(_Pool2d):
    """Maximum over each window (torch.nn.MaxPool2d).

    Args: kernel_size (int or pair), stride (default kernel_size), padding (<= kernel_size/2,
    padded with -inf), dilation (taps D apart), return_indices (forward also returns where
    each maximum came from, for MaxUnpool2d), ceil_mode.
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out), with return_indices also the
    int64 indices (N, C, H_out, W_out), flat into H*W;
    H_out = (H + 2*P - D*(K - 1) - 1) // S + 1 (ceil_mode: see functional.pool_output_size).
    backward(dy, d_indices=None): each upstream gradient goes to its window's maximum (the
    first one on ties, as in PyTorch); overlapping windows add up. The indices get no gradient.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self._dilation = checks.pair(dilation, "dilation", "MaxPool2d")
        self.dilation = _as_given(dilation)
        self.return_indices = _flag(return_indices, "return_indices", "MaxPool2d")

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "return_indices": self.return_indices, "ceil_mode": self.ceil_mode}

    def forward(self, x):
        out, self._cache = F.max_pool2d_forward(x, self._kernel, self._stride, self._padding, self._dilation,
                                                self.ceil_mode, self.return_indices, who=self)
        return out

    def backward(self, dy, d_indices=None, input_grad=True):
        _no_index_gradient(self, d_indices)
        return F.max_pool2d_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        shape = super().output_shape(input_shape)
        return (shape, shape) if self.return_indices else shape


class AvgPool2d(_Pool2d):
    """Mean over each window (torch.nn.AvgPool2d without divisor_override).

    Args: kernel_size (int or pair), stride (default kernel_size), padding (<= kernel_size/2,
    zeros), ceil_mode, count_include_pad (padded zeros count in the divisor).
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out), sizes as MaxPool2d.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = _flag(count_include_pad, "count_include_pad", "AvgPool2d")

    def config(self):
        return {**super().config(), "count_include_pad": self.count_include_pad}

    def forward(self, x):
        y, self._cache = F.avg_pool2d_forward(x, self._kernel, self._stride, self._padding, self.ceil_mode,
                                              self.count_include_pad, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.avg_pool2d_backward(dy, self.take_cache())


class _AdaptivePool2d(Layer):
    """Shared constructor, config and output_shape of the adaptive poolings."""

    _repr_positional = 0

    def __init__(self, output_size):
        super().__init__()
        self._size = adaptive_output_size(output_size, type(self).__name__)
        self.output_size = _as_given(output_size)

    def config(self):
        return {"output_size": self.output_size}

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self}: expected input (N, C, H, W), got {shape}")
        return shape[:2] + tuple(n if s is None else s for s, n in zip(self._size, shape[2:]))


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Average over adaptive windows giving a fixed output size (torch.nn.AdaptiveAvgPool2d).

    Args: output_size (int or pair (H_out, W_out); None in the pair keeps that input size);
    1 is global average pooling.
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out).
    Output row o averages input rows [floor(o*H/H_out), ceil((o+1)*H/H_out)); columns alike.
    """

    def forward(self, x):
        if self._size == (1, 1):  # the common case (a classifier's head): a plain mean
            y, self._cache = F.global_avg_pool2d_forward(x, who=self)
        else:
            y, self._cache = F.adaptive_avg_pool2d_forward(x, self._size, who=self)
        return y

    def backward(self, dy, input_grad=True):
        if self._size == (1, 1):
            return F.global_avg_pool2d_backward(dy, self.take_cache())
        return F.adaptive_avg_pool2d_backward(dy, self.take_cache())


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Maximum over adaptive windows giving a fixed output size (torch.nn.AdaptiveMaxPool2d).

    Args: output_size (int or pair; None in the pair keeps that input size), return_indices.
    Shape: input (N, C, H, W) -> output (N, C, H_out, W_out) (and the int64 indices, flat
    into H*W, with return_indices). Windows as AdaptiveAvgPool2d's.
    backward(dy, d_indices=None): dy goes to each window's (first) maximum.
    """

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = _flag(return_indices, "return_indices", "AdaptiveMaxPool2d")

    def config(self):
        return {"output_size": self.output_size, "return_indices": self.return_indices}

    def forward(self, x):
        (y, indices), self._cache = F.adaptive_max_pool2d_forward(x, self._size, who=self)
        return (y, indices) if self.return_indices else y

    def backward(self, dy, d_indices=None, input_grad=True):
        _no_index_gradient(self, d_indices)
        return F.adaptive_max_pool2d_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        shape = super().output_shape(input_shape)
        return (shape, shape) if self.return_indices else shape


class MaxUnpool2d(Layer):
    """The partial inverse of MaxPool2d (torch.nn.MaxUnpool2d): maxima back where they came from, zeros elsewhere.

    Args: kernel_size, stride (default kernel_size), padding: those of the MaxPool2d.
    forward(x, indices, output_size=None): indices as MaxPool2d(return_indices=True) gives them;
    output_size (H_out, W_out) or (N, C, H_out, W_out) picks among the sizes the pooling
    could have come from.
    Shape: x, indices (N, C, H, W) -> (N, C, H_out, W_out), default H_out = (H - 1)*S - 2*P + K.
    backward(dy) -> (dx, None): the indices get no gradient.
    """

    _repr_positional = 0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        who = "MaxUnpool2d"
        self._kernel = checks.pair(kernel_size, "kernel_size", who)
        self._stride = self._kernel if stride is None else checks.pair(stride, "stride", who)
        self._padding = checks.pair(padding, "padding", who, minimum=0)
        self.kernel_size = _as_given(kernel_size)
        self.stride = self.kernel_size if stride is None else _as_given(stride)
        self.padding = _as_given(padding)

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def forward(self, x, indices, output_size=None):
        y, self._cache = F.max_unpool2d_forward(x, indices, self._kernel, self._stride, self._padding, output_size,
                                                who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.max_unpool2d_backward(dy, self.take_cache()), None

    def output_shape(self, input_shape):
        """(N, C, H_out, W_out) for the input (N, C, H, W) without an output_size; N may be None."""
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self}: expected input (N, C, H, W), got {shape}")
        return shape[:2] + tuple((n - 1) * s + k - 2 * p
                                 for n, s, k, p in zip(shape[2:], self._stride, self._kernel, self._padding))
