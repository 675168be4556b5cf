"""ConvTranspose2d: the layer that owns a transposed convolution's weight and bias (torch.nn.ConvTranspose2d's layout)."""
from .. import checks
from .. import functional as F
from .. import init
from ..functional.conv_transpose import check_output_padding, conv_transpose_output_size
from .conv import channels_and_groups
from .module import Layer, Parameter


class ConvTranspose2d(Layer):
    """Transposed convolution y = C^T x + b over an (N, C, H, W) batch, as torch.nn.ConvTranspose2d.

    The adjoint of Conv2d(out_channels, in_channels, kernel_size, stride, padding, dilation,
    groups): it maps that convolution's output shape back to its input shape (an upsampling
    for stride > 1), computed as that convolution's input gradient (docs/conv_transpose.md).
    Args: in_channels, out_channels, kernel_size (int or pair), stride=1, padding=0 (int or
    pair: removed from each side of the output), output_padding=0 (added at the bottom/right;
    smaller than stride or dilation), groups=1, bias=True, dilation=1, rng=None (seed or
    Generator, for init).
    Shape: input (N, C_in, H, W) -> output (N, C_out, H_out, W_out),
        H_out = (H - 1)*S - 2*P + D*(KH - 1) + output_padding + 1   (W_out likewise)
    Parameters: weight (C_in, C_out/groups, KH, KW), bias (C_out,); both ~ U(-k, k) with
        k = 1/sqrt(C_out/groups * KH * KW), PyTorch's default.
    forward(x, output_size=None): output_size (H_out, W_out) or (N, C, H_out, W_out) picks the
    output_padding that gives it, as in PyTorch.
    """

    _repr_positional = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, rng=None):
        super().__init__()
        who = "ConvTranspose2d"
        self.in_channels, self.out_channels, self.groups = channels_and_groups(in_channels, out_channels, groups,
                                                                               bias, who)
        self.kernel_size = checks.pair(kernel_size, "kernel_size", who)
        self.stride = checks.pair(stride, "stride", who)
        self.padding = checks.pair(padding, "padding", who, minimum=0)
        self.dilation = checks.pair(dilation, "dilation", who)
        self.output_padding = check_output_padding(output_padding, self.stride, self.dilation, who)
        # The arguments as given, lists for pairs: what config() (repr, model files) reports.
        self._args = {name: list(value) if isinstance(value, (tuple, list)) else value
                      for name, value in [("kernel_size", kernel_size), ("stride", stride), ("padding", padding),
                                          ("output_padding", output_padding), ("dilation", dilation)]}
        rng = init.as_rng(rng)  # one Generator, so weight and bias draw different numbers
        shape = (in_channels, out_channels // groups, *self.kernel_size)
        self.weight = Parameter(init.uniform_fan_in(shape, rng))  # fan_in = C_out/groups * KH * KW, as torch
        self.bias = Parameter(init.uniform_fan_in((out_channels,), rng, fan_in=init.fans(shape)[0])) if bias else None

    def forward(self, x, output_size=None):
        output_padding = self.output_padding if output_size is None else self._output_padding(x, output_size)
        bias = None if self.bias is None else self.bias.data
        y, self._cache = F.conv_transpose2d_forward(x, self.weight.data, bias, self.stride, self.padding,
                                                    output_padding, self.groups, self.dilation, who=self)
        return y

    def backward(self, dy, input_grad=True):
        """Accumulate the weight (and bias) gradients; return dx, or None when ``input_grad`` is False."""
        # Frozen parameters (requires_grad False) get no gradient computed; db alone still needs the pass.
        trains = self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
        cache = self.take_cache()  # RuntimeError if no forward ran
        dx, dweight, dbias = F.conv_transpose2d_backward(dy, cache, input_grad, weight_grad=trains)
        self._accumulate(self.weight, dweight)
        self._accumulate(self.bias, dbias)
        return dx

    def output_shape(self, input_shape):
        """(N, C_out, H_out, W_out) for an input (N, C_in, H, W); N may be None."""
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise ValueError(f"{self}: expected input (N, {self.in_channels}, H, W), got {tuple(input_shape)}")
        return (input_shape[0], self.out_channels, *self._sizes(input_shape[2:], self.output_padding))

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, **self._args,
                "groups": self.groups, "bias": self.bias is not None}

    def _sizes(self, in_size, output_padding):
        return tuple(conv_transpose_output_size(n, k, s, p, o, d) for n, k, s, p, o, d in
                     zip(in_size, self.kernel_size, self.stride, self.padding, output_padding, self.dilation))

    def _output_padding(self, x, output_size):
        """The output_padding that gives ``output_size`` (PyTorch's rule: within stride - 1 of the smallest size)."""
        size = tuple(output_size)[-2:] if isinstance(output_size, (tuple, list)) else output_size
        size = checks.pair(size, "output_size", self)
        smallest = self._sizes(x.shape[2:], (0, 0))
        if not all(lo <= o <= lo + s - 1 for o, lo, s in zip(size, smallest, self.stride)):
            largest = tuple(lo + s - 1 for lo, s in zip(smallest, self.stride))
            raise ValueError(f"{self}: requested output size {size}, but valid sizes range from {smallest} to"
                             f" {largest} for an input of size {tuple(x.shape[2:])}")
        return tuple(o - lo for o, lo in zip(size, smallest))
