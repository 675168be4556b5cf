"""Conv2d: the layer that owns a convolution's weight and bias (torch.nn.Conv2d's layout)."""
from .. import init
from .. import checks
from .. import functional as F
from ..functional.columns import window_geometry
from ..functional.conv import PADDING_MODES
from .module import Layer, Parameter


def channels_and_groups(in_channels, out_channels, groups, bias, who):
    """Check a convolution's channel counts, groups and bias flag; return (in_channels, out_channels, groups).

    Both channel counts must be divisible by groups (Conv2d and ConvTranspose2d alike).
    """
    in_channels = checks.positive_int(in_channels, "in_channels", who)
    out_channels = checks.positive_int(out_channels, "out_channels", who)
    groups = checks.positive_int(groups, "groups", who)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{who}: in_channels ({in_channels}) and out_channels ({out_channels}) must be"
                         f" divisible by groups ({groups})")
    if not isinstance(bias, bool):
        raise TypeError(f"{who}: bias must be True or False, got {bias!r}")
    return in_channels, out_channels, groups


class Conv2d(Layer):
    """2-D convolution y = W * x + b over an (N, C, H, W) batch, as torch.nn.Conv2d.

    Args: in_channels, out_channels, kernel_size (int or pair), stride=1, padding=0 (int,
    pair, 'valid' or 'same'), dilation=1, groups=1, bias=True, padding_mode='zeros' (or
    'reflect', 'replicate', 'circular': x is padded so first, then convolved with padding 0,
    as PyTorch does), rng=None (seed or Generator, for init).
    Shape: input (N, C_in, H, W) -> output (N, C_out, H_out, W_out),
        H_out = (H + P_top + P_bottom - D*(KH - 1) - 1) // S + 1   (W_out likewise)
    Parameters: weight (C_out, C_in/groups, KH, KW), bias (C_out,); both ~ U(-k, k) with
        k = 1/sqrt(C_in/groups * KH * KW), PyTorch's default.
    The math of forward and backward: convnp.functional.conv2d_forward.
    Example: Conv2d(3, 8, kernel_size=3, padding=1)(x) keeps H and W.
    """

    _repr_positional = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", rng=None):
        super().__init__()
        who = "Conv2d"
        self.in_channels, self.out_channels, self.groups = channels_and_groups(in_channels, out_channels, groups,
                                                                               bias, who)
        self.kernel_size = checks.pair(kernel_size, "kernel_size", who)
        self.stride = checks.pair(stride, "stride", who)
        self.dilation = checks.pair(dilation, "dilation", who)
        F.resolve_padding(padding, self.kernel_size, self.stride, self.dilation, who)  # refuses bad values now
        self.padding = padding
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{who}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))},"
                             f" got {padding_mode!r}")
        self.padding_mode = padding_mode
        # The arguments as given, lists for pairs: what config() (repr, model files) reports.
        self._args = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in [("kernel_size", kernel_size), ("stride", stride),
                                ("padding", padding), ("dilation", dilation)]
        }
        rng = init.as_rng(rng)  # one Generator, so weight and bias draw different numbers
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        self.weight = Parameter(init.uniform_fan_in((out_channels, in_channels // groups, *self.kernel_size), rng))
        self.bias = Parameter(init.uniform_fan_in((out_channels,), rng, fan_in=fan_in)) if bias else None
        # Scratch buffers (the columns X and other large temporaries) that each training step
        # reuses: allocated anew they cost page faults (measured: vgg_small steps 1.2x slower).
        # A call's cache uses its workspace until that call's backward, so each call takes one
        # of its own from this list and backward gives it back: a conv called twice in one
        # forward has two.
        self._workspaces = []

    def forward(self, x):
        bias = None if self.bias is None else self.bias.data
        workspace = None
        if self.training:
            workspace = self._workspaces.pop() if self._workspaces else {}
        else:
            # Evaluation, often on other batch sizes, gets new arrays, and the training
            # buffers are let go: a model kept for inference should not hold them.
            self._workspaces.clear()
        y, self._cache = F.conv2d_forward(
            x, self.weight.data, bias, self.stride, self.padding, self.dilation, self.groups, who=self,
            workspace=workspace, padding_mode=self.padding_mode,
        )
        return y

    def backward(self, dy, input_grad=True):
        """Accumulate the weight (and bias) gradients; return dx, or None when ``input_grad`` is False."""
        # Frozen parameters (requires_grad False) get no gradient computed; db alone still needs the pass.
        trains = self.weight.requires_grad or (self.bias is not None and self.bias.requires_grad)
        cache = self.take_cache()  # RuntimeError if no forward is waiting for this backward
        dx, dweight, dbias = F.conv2d_backward(dy, cache, input_grad, weight_grad=trains)
        if cache.workspace is not None:
            self._workspaces.append(cache.workspace)  # this call's workspace is free again
        self._accumulate(self.weight, dweight)  # accumulate; zero_grad() resets
        self._accumulate(self.bias, dbias)
        return dx

    def output_shape(self, input_shape):
        """(N, C_out, H_out, W_out) for an input (N, C_in, H, W); N may be None."""
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise ValueError(f"{self}: expected input (N, {self.in_channels}, H, W), got {tuple(input_shape)}")
        geometry = window_geometry(input_shape, self.kernel_size, self.stride, self.padding, self.dilation, self)
        return (input_shape[0], self.out_channels, *geometry.out_size)

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, **self._args,
                "groups": self.groups, "bias": self.bias is not None, "padding_mode": self.padding_mode}
