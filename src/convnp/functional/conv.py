"""2-D convolution as torch.nn.functional.conv2d computes it: im2col, then one matrix product.

The layer computes a cross-correlation (no kernel flip), as every deep-learning library does:

    y[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, g*C_g + c, i*S + p*D, j*S + q*D]

with g = f // F_g the group of output channel f, C_g = C / groups, F_g = F / groups.

im2col (``functional/columns.py``) copies every receptive field into a column, so the sum
above becomes a matrix product that BLAS runs at full speed. The column matrix is laid out
as (C*KH*KW, N*OH*OW): rows in the order (c, p, q) of ``weight.reshape(F, -1)``, columns in
the order (n, i, j). With this layout the whole batch is ONE GEMM per group,
(F_g, C_g*KH*KW) @ (C_g*KH*KW, N*OH*OW), and so are both products of the backward pass.
Measured on the benchmark shape (batch 32, 16 -> 32 channels, 28x28, 3x3) against the
per-sample layout (N, C*KH*KW, OH*OW) (32 smaller products): the GEMMs run 1.3-2x faster
with 2 BLAS threads (5% with 1) and col2im 1.5x faster; the price is one transposing copy
of y (forward) and of dy (backward), each about 4% of one GEMM.

The plain version, the definition the tests hold this one to: ``conv_reference.py``. How
this one is made fast (chunks of columns, reused workspaces, and the three ways backward
can run, with when and why): ``conv_tuning.py``.
"""
from typing import NamedTuple

from .. import checks
from . import conv_tuning as tuning
from .columns import WindowGeometry, window_geometry
from .padding import PadCache, pad_backward, pad_forward

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class ConvCache(NamedTuple):
    """What conv2d_backward needs from conv2d_forward (the fields are listed in its docstring)."""

    x_cols: object
    x_t: object
    chunk: int
    weight: object
    has_bias: bool
    x_shape: tuple
    geometry: WindowGeometry
    groups: int
    workspace: object
    pad: PadCache
    shards: list


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, who="conv2d",
                   workspace=None, padding_mode="zeros"):
    """2-D convolution (cross-correlation) y = W * x + b, as torch.nn.functional.conv2d.

    Args: x, weight, bias (or None); stride, dilation: int or pair; padding: int, pair,
    'valid' or 'same'; groups: int dividing C and F; who: names the caller in error messages;
    workspace: None, or a dict that the caller keeps between calls (Conv2d passes its own):
    the column matrix X and the other large temporary arrays of forward and backward are
    then kept there and reused, so the cache of a call is valid only until the next call
    with the same workspace. padding_mode: 'zeros', or 'reflect', 'replicate', 'circular':
    x is then padded so first (functional.pad) and convolved with padding 0, as PyTorch does.
    Shape:
        x (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) -> y (N, F, H_out, W_out)
        H_out = (H + P_top + P_bottom - D*(KH - 1) - 1) // S + 1   (W_out likewise)
    forward (per group, X = im2col(x) of shape (C*KH*KW, N*H_out*W_out)):
        Y = W.reshape(F, -1) @ X + b            then Y (F, N, H_out, W_out) -> (N, F, H_out, W_out)
    backward (dY = dy as (F, N*H_out*W_out)):
        dW = dY @ X.T      dX = col2im(W.reshape(F, -1).T @ dY)      db = sum of dy over (N, H, W)
    Threads: the batch is split into shards that run at once (convnp.parallel, conv_tuning.py).
    Returns: (y, cache); y has the dtype of x (float32 stays float32); cache a ConvCache:
        x_cols     X, one array per shard, when it is small enough to keep for backward and
                   backward will read it, else None
        x_t        x padded, channel-major (C, N, H_pad, W_pad): X is built again from it
        chunk      samples per chunk of X (conv_tuning.py)
        weight     the weight (F, C/groups, KH, KW), by reference
        has_bias   whether a bias was given (backward then returns db)
        x_shape    (N, C, H, W) (of x padded first, with a padding_mode)
        geometry   the WindowGeometry: kernel, stride, padding, dilation, out_size
        groups     the number of groups
        workspace  the workspace dict given, or None
        pad        the PadCache of a padding_mode's padding, or None
        shards     the (lo, hi) sample ranges the forward ran in (backward runs in the same)
    """
    geometry = _check(x, weight, bias, stride, padding, dilation, groups, who)
    pad_cache = None
    if padding_mode != "zeros":
        x, pad_cache = _pad_first(x, geometry, padding_mode, who)
        geometry = geometry._replace(padding=(0, 0, 0, 0))  # the same out_size
    # Y = W @ X, one GEMM per chunk of samples in each shard; X is kept when it is small and
    # backward will read it (not on the full-convolution path), else rebuilt from x_t
    keep = tuning.full_padding(weight.shape[0], x.shape, geometry) is None
    y, x_t, x_cols, chunk, shards = tuning.forward(x, weight, bias, geometry, groups, workspace, keep)
    cache = ConvCache(x_cols, x_t, chunk, weight, bias is not None, tuple(x.shape), geometry, groups, workspace,
                      pad_cache, shards)
    return y, cache


def conv2d_backward(dout, cache, input_grad=True, weight_grad=True):
    """Gradients of conv2d: (dx, dweight, dbias); dbias is None when the forward had no bias.

    Args: dout; cache (a ConvCache from conv2d_forward); input_grad: False skips dx (returned
    as None), about half of the backward's time: a network's first layer never needs dx;
    weight_grad: False skips dweight and dbias (both None): frozen parameters.
    Shape: dout (N, F, H_out, W_out) -> dx (N, C, H, W), dweight (F, C/groups, KH, KW), dbias (F,)
    With X the forward's columns and dY = dout as (F, N*H_out*W_out), per group:
        dW = dY @ X.T        (each weight meets every column it multiplied)
        db = dY summed over its columns
        dX = W.T @ dY        then dx = col2im(dX): each column entry goes back to its pixel
    Stride-1 layers mostly compute dx instead as what it equals (docs/conv_backward.md, way
    two): the "full" convolution of dy with the flipped kernel, and dW from the same columns.
    Which way runs when, and why: conv_tuning.py.
    """
    shards = cache.shards or tuning.split(cache.x_shape, cache.geometry)
    dbias = tuning.bias_grad(dout, shards) if cache.has_bias and weight_grad else None
    full = tuning.full_padding(cache.weight.shape[0], cache.x_shape, cache.geometry) if input_grad else None
    if full is not None:
        dx, dweight = tuning.grads_full_conv(dout, cache, shards, full, weight_grad)
    elif input_grad or weight_grad:
        dx, dweight = tuning.grads_col2im(dout, cache, shards, input_grad, weight_grad)
    else:
        dx = dweight = None
    if dx is not None and cache.pad is not None:
        dx = pad_backward(dx, cache.pad)  # through a padding_mode's padding
    return dx, dweight, dbias


def conv2d_input_grad(dout, weight, x_shape, geometry, groups, workspace=None):
    """dx of a convolution of an x of ``x_shape`` with ``weight``, for the output gradient dout.

    conv2d_backward's dx without a forward pass: what a transposed convolution computes
    (functional/conv_transpose.py). geometry: the convolution's WindowGeometry over x_shape,
    its out_size dout's (H, W).
    """
    cache = ConvCache(None, None, None, weight, False, tuple(x_shape), geometry, groups, workspace, None, None)
    return conv2d_backward(dout, cache, weight_grad=False)[0]


def _pad_first(x, geometry, padding_mode, who):
    """x padded by a non-zero padding_mode (functional.pad's order: left, right, top, bottom), and its cache."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{who}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))},"
                         f" got {padding_mode!r}")
    top, bottom, left, right = geometry.padding
    return pad_forward(x, (left, right, top, bottom), padding_mode, who=who)


# -- checks --------------------------------------------------------------------------------


def _check(x, weight, bias, stride, padding, dilation, groups, who):
    """Validate conv2d_forward's arguments; return the geometry."""
    checks.floating(weight, who)
    if weight.ndim != 4:
        raise ValueError(f"{who}: expected weight (F, C/groups, KH, KW), got {tuple(weight.shape)}")
    groups = checks.positive_int(groups, "groups", who)
    f, c_g, kh, kw = weight.shape
    if f % groups:
        raise ValueError(f"{who}: out channels {f} (weight.shape[0]) must be divisible by groups={groups}")
    checks.input_shape(x, who, f"(N, {c_g * groups}, H, W)", 4, c_g * groups)
    checks.same_dtype(x, weight, who)
    if bias is not None:
        checks.floating(bias, who)
        if tuple(bias.shape) != (f,):
            raise ValueError(f"{who}: expected bias of shape ({f},), got {tuple(bias.shape)}")
        checks.same_dtype(x, bias, who)
    return window_geometry(x.shape, (kh, kw), stride, padding, dilation, who)


__all__ = ["conv2d_forward", "conv2d_backward"]
