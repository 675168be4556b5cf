"""The column matrix: a sliding window's geometry, im2col, its adjoint col2im, and their buffers.

im2col copies every receptive field of x into a column of X (C*KH*KW, N*OH*OW): rows in the
order (c, p, q) of ``weight.reshape(F, -1)``, columns in the order (n, i, j), so that a
convolution is the matrix product W @ X (docs/im2col.md works an example by hand). Both
loops run over the KH*KW kernel offsets only, each one strided-slice copy (im2col) or
in-place addition (col2im) of a whole (C, N, OH, OW) block: no loop over pixels.
``convnp.functional.conv`` builds the convolution and its gradients from these pieces.
"""
import math
from typing import NamedTuple

from .. import backend
from .. import checks


class WindowGeometry(NamedTuple):
    """A sliding window's geometry: what im2col, col2im and the convolution need to know.

    kernel (KH, KW), stride (SH, SW), padding (top, bottom, left, right), dilation (DH, DW),
    out_size (H_out, W_out): the number of window positions along each axis.
    """

    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_size: tuple


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Output length along one axis: (size + P_before + P_after - D*(K - 1) - 1) // S + 1.

    Args: size, kernel_size (K), stride (S), dilation (D) are ints; padding (P) is an int
    (added on both sides) or a (before, after) pair, as 'same' padding may be uneven.
    The result is < 1 when the kernel does not fit in the padded input.
    """
    before, after = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    return (size + before + after - dilation * (kernel_size - 1) - 1) // stride + 1


def resolve_padding(padding, kernel_size, stride, dilation, who="conv2d"):
    """(top, bottom, left, right) padding from an int, a pair, 'valid' or 'same'.

    'same' follows PyTorch: per axis a total of D*(K - 1) zeros, total // 2 before and the
    rest after (so an odd total puts the extra row/column at the bottom/right). It keeps the
    size only for stride 1, so 'same' with a stride > 1 is refused, as in PyTorch.
    ``kernel_size``, ``stride`` and ``dilation`` are pairs here.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if tuple(stride) != (1, 1):
                raise ValueError(
                    f"{who}: padding='same' is not supported for strided convolutions, got stride={tuple(stride)}"
                )
            th, tw = (d * (k - 1) for d, k in zip(dilation, kernel_size))
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"{who}: padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    ph, pw = checks.pair(padding, "padding", who, minimum=0)
    return (ph, ph, pw, pw)


def window_geometry(x_shape, kernel_size, stride, padding, dilation, who):
    """The WindowGeometry of these arguments over an input (..., H, W); ValueError if no window fits."""
    kernel = checks.pair(kernel_size, "kernel_size", who)
    stride = checks.pair(stride, "stride", who)
    dilation = checks.pair(dilation, "dilation", who)
    pads = resolve_padding(padding, kernel, stride, dilation, who)
    h, w = x_shape[-2:]
    padded = (h + pads[0] + pads[1], w + pads[2] + pads[3])
    reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))  # the effective kernel size
    if padded[0] < reach[0] or padded[1] < reach[1]:
        how = f" (kernel {kernel} with dilation {dilation})" if dilation != (1, 1) else ""
        raise ValueError(
            f"{who}: padded input size {padded} is smaller than the effective kernel size {reach}{how}"
        )
    out = (
        conv_output_size(h, kernel[0], stride[0], pads[0:2], dilation[0]),
        conv_output_size(w, kernel[1], stride[1], pads[2:4], dilation[1]),
    )
    return WindowGeometry(kernel, stride, pads, dilation, out)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Every receptive field of x as a column: the matrix X with W.reshape(F, -1) @ X = conv.

    Args: x (N, C, H, W); kernel_size, stride, dilation: int or pair; padding: int, pair,
    'valid' or 'same'.
    Shape: -> (C*KH*KW, N*H_out*W_out); reshaped to (C, KH, KW, N, H_out, W_out),
        X[c, p, q, n, i, j] = x_pad[n, c, i*S_h + p*D_h, j*S_w + q*D_w]
    """
    geometry = window_geometry(x.shape, kernel_size, stride, padding, dilation, "im2col")
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    buffer = backend.array_module(x).empty(x.shape[1] * kh * kw * x.shape[0] * oh * ow, dtype=x.dtype)
    return im2col_into(buffer, zero_pad(x, geometry.padding).transpose(1, 0, 2, 3), geometry)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """Adjoint of im2col: add every column entry back onto the pixel it was copied from.

    Args: cols (C*KH*KW, N*H_out*W_out); x_shape (N, C, H, W); the geometry as for im2col.
    Shape: -> (N, C, H, W). Overlapping receptive fields sum, so that for all X and C
        sum(col2im(C) * X) == sum(C * im2col(X)).
    """
    geometry = window_geometry(x_shape, kernel_size, stride, padding, dilation, "col2im")
    (kh, kw), (top, bottom, left, right), (oh, ow) = geometry.kernel, geometry.padding, geometry.out_size
    n, c, h, w = x_shape
    want = (c * kh * kw, n * oh * ow)
    if tuple(cols.shape) != want:
        raise ValueError(f"col2im: expected cols of shape {checks.shape_str(want)}, got {checks.shape_str(cols.shape)}")
    xp = backend.array_module(cols)
    dx_pad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=cols.dtype)
    col2im_add(cols.reshape(c, kh, kw, n, oh, ow), dx_pad.transpose(1, 0, 2, 3), geometry)
    return dx_pad[:, :, top : top + h, left : left + w]


# -- buffers and the two loops over kernel offsets ------------------------------------------


def reused(xp, workspace, name, shape, dtype):
    """An uninitialised array of ``shape``: a view of the buffer ``workspace[name]``, made or
    enlarged as needed; without a workspace (None), a new array.

    Why: a new array of many MB comes fresh from the OS, one page fault per page on first
    write (measured: im2col 2.4x slower into a new 75 MB array than into a used one).
    """
    size = math.prod(shape)
    if workspace is None:
        return xp.empty(shape, dtype=dtype)
    buf = workspace.get(name)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = workspace[name] = xp.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def im2col_into(buffer, x_t, geometry):
    """Columns of the padded channel-major x_t (C, n, H_pad, W_pad), written into the start of the flat ``buffer``.

    One strided slice copy per kernel offset (p, q); returns (C*KH*KW, n*OH*OW), a view of buffer.
    """
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    oh, ow = geometry.out_size
    c, n = x_t.shape[:2]
    cols = buffer[: c * kh * kw * n * oh * ow].reshape(c, kh, kw, n, oh, ow)  # buffer is flat
    for p in range(kh):
        for q in range(kw):
            # stop just past the last row/column read (i = OH-1), so the slice has exactly OH rows
            cols[:, p, q] = x_t[:, :, p * dh : p * dh + sh * (oh - 1) + 1 : sh, q * dw : q * dw + sw * (ow - 1) + 1 : sw]
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im_add(cols, dx_t, geometry):
    """Add columns (C, KH, KW, n, OH, OW) onto the padded channel-major gradient dx_t (C, n, H_pad, W_pad)."""
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel, geometry.stride, geometry.dilation
    oh, ow = geometry.out_size
    for p in range(kh):
        for q in range(kw):
            # += on a basic slice is in place: no temporary the size of the slice
            dx_t[:, :, p * dh : p * dh + sh * (oh - 1) + 1 : sh, q * dw : q * dw + sw * (ow - 1) + 1 : sw] += cols[:, p, q]


def zero_pad(x, pads, workspace=None, name="x_pad"):
    """x with zero padding (top, bottom, left, right); x itself (no copy) when all are 0."""
    return copy_interior(padded_buffer(x, pads, workspace, name), x, 0, x.shape[0], pads)


def padded_buffer(x, pads, workspace=None, name="x_pad"):
    """An array for x padded by (top, bottom, left, right): its border zero, its interior not yet
    written (copy_interior fills it, shard by shard); x itself when all pads are 0.

    With a workspace the padded array is kept there: its border stays zero from one call to
    the next with the same shape, so only the interior is written again.
    """
    top, bottom, left, right = pads
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + top + bottom, w + left + right)
    x_pad = None if workspace is None else workspace.get(name)
    if x_pad is None or x_pad.shape != shape or x_pad.dtype != x.dtype:
        # zeros + interior assignments: cheaper than np.pad's general machinery
        x_pad = backend.array_module(x).zeros(shape, dtype=x.dtype)
        if workspace is not None:
            workspace[name] = x_pad
    return x_pad


def copy_interior(x_pad, x, lo, hi, pads):
    """Samples lo:hi of x copied into the interior of padded_buffer's x_pad; returns x_pad[lo:hi]."""
    if x_pad is not x:
        top, left, (h, w) = pads[0], pads[2], x.shape[2:]
        x_pad[lo:hi, :, top : top + h, left : left + w] = x[lo:hi]
    return x_pad[lo:hi]


__all__ = ["im2col", "col2im", "conv_output_size", "resolve_padding"]
