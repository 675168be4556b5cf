"""Transposed convolution (torch.nn.functional.conv_transpose2d): the adjoint of a convolution.

A convolution C with weight W maps an x of shape (N, C_out, H_out, W_out) to (N, C_in, H, W)
(here W is laid out (C_in, C_out/groups, KH, KW), PyTorch's layout for both). Its transpose
C^T maps back the other way, and C^T is exactly what carries a gradient back through C:

    conv_transpose2d(x, W) = C^T x = the input gradient of conv2d(., W) for the output gradient x

so the forward pass here is conv2d's backward for dx (conv.conv2d_input_grad), and the
backward pass is a convolution forward (dx = C dy) plus conv2d's weight gradient with the
roles swapped (dW = the weight gradient of C, its input dy and its output gradient x).
docs/conv_transpose.md derives it. No new loops: the tuned convolution code does the work.

Forward, two paths: conv2d's input gradient (conv_transpose2d_col2im: a GEMM, then col2im's
overlapping strided adds) for every configuration, the reference; and, for dilation 1 and
kernels that are multiples of the stride (K = 2S, P = S/2 upsampling; K = S), where
conv_transpose_phases.use_phases finds it faster, one stride-1 correlation per output phase
(conv_transpose_phases.py: each output pixel written once). Backward has one path: dx is a
stride-S convolution of dy (im2col copies, one GEMM: no overlapping adds to save), and dW
conv2d's weight gradient.
"""
from typing import NamedTuple

from ..backend import array_module
from .. import checks
from . import conv_transpose_phases as phases
from .columns import WindowGeometry, window_geometry
from .conv import conv2d_backward, conv2d_forward, conv2d_input_grad


class ConvTransposeCache(NamedTuple):
    """What conv_transpose2d_backward needs (listed in conv_transpose2d_forward's docstring)."""

    x: object
    weight: object
    has_bias: bool
    geometry: WindowGeometry
    groups: int
    in_size: tuple


def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                             who="conv_transpose2d"):
    """Transposed convolution y = C^T x + b, as torch.nn.functional.conv_transpose2d.

    Args: x, weight, bias (or None); stride, padding, output_padding, dilation: int or pair;
    groups: int dividing C_in and C_out; who (names the caller in errors). output_padding
    (rows/columns added at the bottom/right of y) must be smaller than stride or dilation.
    Shape:
        x (N, C_in, H, W), weight (C_in, C_out/groups, KH, KW), bias (C_out,) -> y (N, C_out, H_out, W_out)
        H_out = (H - 1)*S - 2*P + D*(KH - 1) + output_padding + 1   (W_out likewise)
    forward:  y = the dx of conv2d(., W) (stride S, padding P, dilation D) for dout = x, plus b:
              y_pad[n, g*Co_g + c, i*S + p*D, j*S + q*D] += x[n, f, i, j] * W[f, c, p, q]
              (or by output phases, same sums in another order: conv_transpose_phases.py)
    backward: dx = conv2d(dy, W)          (same S, P, D, groups)
              dW = conv2d's weight gradient for the input dy and the output gradient x
              db = sum of dy over (N, H_out, W_out)
    Returns: (y, cache); cache a ConvTransposeCache: x (by reference; zero rows/columns added
    when output_padding >= stride), weight, has_bias, geometry (of the convolution from y back
    to x), groups, in_size (H, W).
    """
    geometry, y_shape = _check(x, weight, bias, stride, padding, output_padding, groups, dilation, who)
    x_ext = _extend(x, geometry.out_size)
    plan = phases.phase_plan(x.shape, weight.shape, geometry.stride, geometry.padding[::2], y_shape[2:],
                             geometry.dilation)
    if plan is not None and phases.use_phases(plan, x.shape, weight.shape, groups):
        y = phases.conv_transpose2d_phases(x, weight, bias, y_shape[2:], plan, groups)
    else:
        y = conv_transpose2d_col2im(x_ext, weight, bias, y_shape, geometry, groups)
    return y, ConvTransposeCache(x_ext, weight, bias is not None, geometry, groups, tuple(x.shape[2:]))


def conv_transpose2d_col2im(x_ext, weight, bias, y_shape, geometry, groups):
    """y = C^T x + b as conv2d's input gradient (GEMM, then col2im): the path for every configuration.

    The reference for conv_transpose_phases.py, which runs instead where use_phases says so.
    """
    y = conv2d_input_grad(x_ext, weight, y_shape, geometry, groups)
    if bias is not None:
        y += bias.reshape(-1, 1, 1)
    return y


def conv_transpose2d_backward(dy, cache, input_grad=True, weight_grad=True):
    """Gradients of conv_transpose2d: (dx, dweight, dbias), each None when skipped or absent.

    input_grad=False skips dx, weight_grad=False skips dweight and dbias.
    Shape: dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dweight (C_in, C_out/groups, KH, KW), dbias (C_out,)
    """
    if not (input_grad or weight_grad):
        return None, None, None
    g = cache.geometry
    # One convolution of dy: its output is dx, and its columns X = im2col(dy) give dW = x @ X.T
    dx, conv_cache = conv2d_forward(dy, cache.weight, None, g.stride, (g.padding[0], g.padding[2]), g.dilation,
                                    cache.groups)
    h, w = cache.in_size
    dweight = conv2d_backward(cache.x, conv_cache, input_grad=False)[1] if weight_grad else None
    dbias = dy.sum(axis=(0, 2, 3)) if weight_grad and cache.has_bias else None
    return (dx[:, :, :h, :w] if input_grad else None), dweight, dbias


def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Output length along one axis: (size - 1)*S - 2*P + D*(K - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def _extend(x, size):
    """x with zero rows/columns at the bottom/right up to ``size``; x itself when it has that size.

    With output_padding >= stride (allowed when it is below the dilation) the convolution from
    y counts more output positions than x has; they are outside every window of x: zeros.
    """
    if tuple(x.shape[2:]) == tuple(size):
        return x
    out = array_module(x).zeros(x.shape[:2] + tuple(size), dtype=x.dtype)
    out[:, :, : x.shape[2], : x.shape[3]] = x
    return out


def _check(x, weight, bias, stride, padding, output_padding, groups, dilation, who):
    """Validate the arguments; return the geometry of the convolution from y to x, and y's shape."""
    checks.floating(weight, who)
    if weight.ndim != 4:
        raise ValueError(f"{who}: expected weight (C_in, C_out/groups, KH, KW), got {tuple(weight.shape)}")
    groups = checks.positive_int(groups, "groups", who)
    c_in, co_g, kh, kw = weight.shape
    if c_in % groups:
        raise ValueError(f"{who}: in channels {c_in} (weight.shape[0]) must be divisible by groups={groups}")
    checks.input_shape(x, who, f"(N, {c_in}, H, W)", 4, c_in)
    checks.same_dtype(x, weight, who)
    if bias is not None:
        checks.floating(bias, who)
        if tuple(bias.shape) != (co_g * groups,):
            raise ValueError(f"{who}: expected bias of shape ({co_g * groups},), got {tuple(bias.shape)}")
        checks.same_dtype(x, bias, who)
    stride, dilation = checks.pair(stride, "stride", who), checks.pair(dilation, "dilation", who)
    padding = checks.pair(padding, "padding", who, minimum=0)
    out_pad = check_output_padding(output_padding, stride, dilation, who)
    size = tuple(conv_transpose_output_size(n, k, s, p, o, d)
                 for n, k, s, p, o, d in zip(x.shape[2:], (kh, kw), stride, padding, out_pad, dilation))
    if min(size) < 1:
        raise ValueError(f"{who}: output size {size} is not positive (input {tuple(x.shape)}, kernel {(kh, kw)},"
                         f" stride {stride}, padding {padding}, dilation {dilation})")
    y_shape = (x.shape[0], co_g * groups, *size)
    return window_geometry(y_shape, (kh, kw), stride, padding, dilation, who), y_shape


def check_output_padding(output_padding, stride, dilation, who):
    """output_padding as a pair, each smaller than the stride or the dilation of its axis (PyTorch's rule)."""
    out_pad = checks.pair(output_padding, "output_padding", who, minimum=0)
    if any(o >= s and o >= d for o, s, d in zip(out_pad, stride, dilation)):
        raise ValueError(f"{who}: output_padding must be smaller than either stride or dilation, got"
                         f" output_padding={out_pad} with stride={stride} and dilation={dilation}")
    return out_pad


__all__ = ["conv_transpose2d_forward", "conv_transpose2d_backward", "conv_transpose_output_size"]
