"""How ``functional/conv.py`` is made fast: chunks, workspaces, and which backward path runs when.

conv.py states the math (Y = W @ X with X = im2col(x); dW = dY @ X.T; dX = col2im(W.T @ dY))
and ``conv_reference.py`` computes it plainly; this module computes the same sums in an
order a CPU runs fast. Figures: a 2-core AMD EPYC, one BLAS thread, float32 (issue 4),
unless said otherwise; ``benchmarks/`` times whole training steps.

Forward (forward_columns), always the same path:
- X is built CHUNK_BYTES (8 MiB) of columns at a time, a few samples per chunk, into one
  buffer that stays in the CPU's caches between im2col writing it and BLAS reading it, and
  each chunk's product is written straight into its columns of Y.
- An X of at most KEEP_CHUNKS chunks is kept whole for backward (4-6% faster than building
  it twice); a larger X is built again in backward where it is needed (dW of a strided layer
  or of a first layer): vgg_small measured as fast as with the whole X kept, for a fraction
  of the memory.
- Workspace: Conv2d passes a dict in which X, Y, the padded x and the backward's large
  temporaries live from one training step to the next. A new array of tens of MB comes fresh
  from the OS, one page fault per page, and costs more than the copy into it (vgg_small
  steps 1.2x slower without). A cache is valid until the next forward with that workspace.

Backward: db is a sum over dy; dx and dW take one of three paths.
1. Full convolution (grads_full_conv), when full_padding says so: stride 1, padding at most
   the kernel's reach D*(K - 1) on every side, and dy's columns (F*KH*KW, N*H*W) at most
   twice the size of X (C*KH*KW, N*OH*OW). dx = W_flip @ im2col(dy padded): the input
   gradient as a convolution (docs/conv_backward.md, way two), and dW from the same columns.
   Why: im2col copies where col2im adds, and NumPy copies short strided rows 2-3x faster
   than it adds them (1.3-1.8x faster backward for vgg_small's 3x3 'same' layers). Where dy
   has many more channels than x the larger columns cost more than col2im saves (equal at
   2x, e.g. 32 -> 64 channels; col2im 1.5x faster at 5x, LeNet-5's 6 -> 16, 5x5, no padding).
2. col2im with the samples as the last axis (input_grad_col2im, when samples_last says so):
   small images and many kernel offsets, where col2im's cost is the overhead of its many
   short rows (2x faster for LeNet-5's second layer).
3. col2im chunk by chunk (input_grad_col2im): everything else (strided layers, 1x1
   shortcuts, larger images).
On paths 2 and 3 dW = dY @ X.T (weight_grad_columns), with the forward's X or X built again.
"""
import math

from .. import backend
from .columns import WindowGeometry, col2im_add, im2col_into, reused, zero_pad

# Columns of at most this many bytes are built at a time, into one buffer, and multiplied at
# once: 8 MiB stays in a server CPU's L2/L3 caches between im2col and the GEMM.
CHUNK_BYTES = 1 << 23
# An X of at most this many chunks is kept for backward (see the module docstring).
KEEP_CHUNKS = 2


def chunk_size(x_shape, geometry, itemsize):
    """Samples per chunk: as many as have at most CHUNK_BYTES of columns (at least 1)."""
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    return max(1, CHUNK_BYTES // max(x_shape[1] * kh * kw * oh * ow * itemsize, 1))


def forward_columns(x, weight, geometry, groups, workspace):
    """Y = W @ im2col(x) per group, a chunk of samples at a time; returns (Y, x_t, X or None, chunk).

    Y is (groups, F/groups, N*OH*OW); x_t is x padded, as (C, N, H_pad, W_pad); X is the
    forward's columns when they were built in one chunk (kept for backward), else None.
    Y, X and the padded x live in the workspace.
    """
    xp = backend.array_module(x)
    n, c = x.shape[:2]
    w_g = weight.reshape(groups, weight.shape[0] // groups, -1)
    rows = w_g.shape[2]
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    m = oh * ow  # columns per sample
    chunk = chunk_size(x.shape, geometry, x.dtype.itemsize)
    if chunk * KEEP_CHUNKS >= n:
        chunk = max(n, 1)  # X small enough to keep whole for backward: one chunk
    # (C, N, H_pad, W_pad) view: channel-major source for the channel-major columns
    x_t = zero_pad(x, geometry.padding, workspace, "x_pad").transpose(1, 0, 2, 3)
    buffer = reused(xp, workspace, "cols", (c * kh * kw * min(chunk, n) * m,), x.dtype)
    y_cols = reused(xp, workspace, "y", (groups, w_g.shape[1], n * m), x.dtype)
    cols = buffer.reshape(c * kh * kw, 0) if n == 0 else None  # N == 0: the loop does not run
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        cols = im2col_into(buffer, x_t[:, lo:hi], geometry)  # (C*KH*KW, (hi-lo)*OH*OW)
        # matmul broadcasts over the leading group axis, which for groups=1 is a single GEMM;
        # out= a block of columns of Y: BLAS writes it in place (a row stride, no copy)
        xp.matmul(w_g, cols.reshape(groups, rows, -1), out=y_cols[:, :, lo * m : hi * m])
    return y_cols, x_t, (cols if chunk >= n else None), chunk


def to_nchw(y_cols, n, out_size, bias):
    """A new (N, F, OH, OW) array from Y (groups, F/groups, N*OH*OW), plus the bias if any."""
    xp = backend.array_module(y_cols)
    f = y_cols.shape[0] * y_cols.shape[1]
    y = y_cols.reshape(f, n, *out_size).transpose(1, 0, 2, 3)  # a view, not contiguous
    out = xp.empty(y.shape, dtype=y.dtype)  # always a copy: Y may be the workspace's
    if bias is None:
        xp.copyto(out, y)
    else:
        xp.add(y, bias.reshape(f, 1, 1), out=out)  # copy to NCHW and add b in the same pass
    return out


# -- backward, path 1: the full convolution --------------------------------------------------


def full_padding(f, x_shape, geometry):
    """Padding (top, bottom, left, right) of dy that makes dx a stride-1 convolution; None for col2im.

    D*(K - 1) - P per side must be >= 0, and dy's columns (F*KH*KW, N*H*W) at most twice
    the size of x's (C*KH*KW, N*OH*OW) (measured; see the module docstring).
    """
    (kh, kw), (dh, dw), pads = geometry.kernel, geometry.dilation, geometry.padding
    _, c, h, w = x_shape
    (oh, ow) = geometry.out_size
    if geometry.stride != (1, 1):
        return None
    reach = (dh * (kh - 1),) * 2 + (dw * (kw - 1),) * 2
    full = tuple(r - p for r, p in zip(reach, pads))
    if min(full) < 0 or f * h * w > 2 * c * oh * ow:
        return None
    return full


def grads_full_conv(dout, cache, full, weight_grad=True):
    """(dx, dW) of a stride-1 convolution, both from the columns X' of dy padded by ``full``.

    X'[f, p, q, n, h, w] = dy_full[n, f, h + p*D, w + q*D] (the forward's geometry, turned around):
        dx = W_flip @ X'      the full convolution of dy with the flipped, transposed kernel
        dW[f, c, p, q] = sum over n, h, w of x[n, c, h, w] * X'[f, KH-1-p, KW-1-q, n, h, w]
    i.e. dW is X' @ x.T (x as (C, N*H*W)) with its taps reversed: the forward's X is not needed.
    Both run a chunk of samples at a time; weight_grad=False skips dW (returned as None).
    """
    xp = backend.array_module(dout)
    weight, groups, workspace = cache.weight, cache.groups, cache.workspace
    (kh, kw), (top, _, left, _) = cache.geometry.kernel, cache.geometry.padding
    n, c, h, w = cache.x_shape
    f_g, c_g = weight.shape[0] // groups, c // groups
    taps = f_g * kh * kw  # rows of X' per group
    # W_flip per group: (groups, C/groups, F/groups * KH*KW), taps reversed; a small copy
    w_flip = weight.reshape(groups, f_g, c_g, kh * kw)[:, :, :, ::-1].transpose(0, 2, 1, 3).reshape(groups, c_g, taps)
    flipped = WindowGeometry(cache.geometry.kernel, (1, 1), full, cache.geometry.dilation, (h, w))
    chunk = chunk_size(dout.shape, flipped, dout.dtype.itemsize)
    dy_t = zero_pad(dout, full, workspace, "dy_pad").transpose(1, 0, 2, 3)  # (F, N, H + ..., W + ...)
    buffer = reused(xp, workspace, "dy_cols", (groups * taps * min(chunk, n) * h * w,), dout.dtype)
    dx_cols = reused(xp, workspace, "dx", (groups, c_g, n * h * w), dout.dtype)
    dweight_t = xp.zeros((groups, taps, c_g), dtype=dout.dtype)  # dW with taps reversed, as (F*KH*KW, C)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        cols = im2col_into(buffer, dy_t[:, lo:hi], flipped).reshape(groups, taps, -1)
        xp.matmul(w_flip, cols, out=dx_cols[:, :, lo * h * w : hi * h * w])
        if weight_grad:
            # x of these samples as (C, n*H*W): a copy out of the padded x, 1/(KH*KW) the size of X'
            x_c = xp.ascontiguousarray(cache.x_t[:, lo:hi, top : top + h, left : left + w]).reshape(groups, c_g, -1)
            dweight_t += xp.matmul(cols, x_c.transpose(0, 2, 1))
    dx = to_nchw(dx_cols, n, (h, w), None)
    if not weight_grad:
        return dx, None
    dweight = dweight_t.reshape(groups, f_g, kh * kw, c_g)[:, :, ::-1].transpose(0, 1, 3, 2)
    return dx, dweight.reshape(weight.shape)


# -- backward, paths 2 and 3: dW = dY @ X.T and dx = col2im(W.T @ dY) -------------------------


def dy_columns(dout, groups, workspace):
    """dout (N, F, OH, OW) as dY (groups, F/groups, N*OH*OW): one transposing copy."""
    xp = backend.array_module(dout)
    n, f = dout.shape[:2]
    m = math.prod(dout.shape[2:])
    dy = reused(xp, workspace, "dy", (f, n, m), dout.dtype)
    xp.copyto(dy, dout.reshape(n, f, m).transpose(1, 0, 2))
    return dy.reshape(groups, f // groups, n * m)


def weight_grad_columns(dy, cache):
    """dW = dY @ X.T per group, with the forward's X if it kept it, else X built again a chunk at a time."""
    xp = backend.array_module(dy)
    groups, f_g = dy.shape[:2]
    n, chunk, m = cache.x_shape[0], cache.chunk, math.prod(cache.geometry.out_size)
    rows = cache.weight[0].size  # spelled out, not -1: with N == 0 the sizes give no hint
    kept = cache.x_cols is not None
    buffer = None if kept else reused(xp, cache.workspace, "cols", (rows * groups * chunk * m,), dy.dtype)
    dweight = xp.zeros((groups, f_g, rows), dtype=dy.dtype)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        x_cols = cache.x_cols if kept else im2col_into(buffer, cache.x_t[:, lo:hi], cache.geometry)
        # Transposed operands are views: matmul hands BLAS a "transposed" flag instead of copying.
        dweight += xp.matmul(dy[:, :, lo * m : hi * m], x_cols.reshape(groups, rows, -1).transpose(0, 2, 1))
    return dweight.reshape(cache.weight.shape)


def input_grad_col2im(dout, dy, cache):
    """dx = col2im(W.T @ dY), dY being dout as (groups, F/groups, N*OH*OW); a chunk of samples at a time."""
    if samples_last(cache.weight.shape[0], cache.x_shape, cache.geometry):
        return _col2im_samples_last(dout, cache)
    xp = backend.array_module(dy)
    geometry, groups = cache.geometry, cache.groups
    (kh, kw), (top, bottom, left, right), (oh, ow) = geometry.kernel, geometry.padding, geometry.out_size
    n, c, h, w = cache.x_shape
    m = oh * ow
    w_t = cache.weight.reshape(groups, dy.shape[1], -1).transpose(0, 2, 1)  # W.T per group: a view
    dx_pad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=dy.dtype)
    dx_t = dx_pad.transpose(1, 0, 2, 3)  # (C, N, H_pad, W_pad) view: writes land in dx_pad
    # A chunk of samples at a time, so that col2im reads W.T @ dY from the CPU's caches
    chunk = chunk_size(cache.x_shape, geometry, dy.dtype.itemsize)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        dcols = xp.matmul(w_t, dy[:, :, lo * m : hi * m])  # (groups, C/groups*KH*KW, (hi-lo)*OH*OW)
        col2im_add(dcols.reshape(c, kh, kw, hi - lo, oh, ow), dx_t[:, lo:hi], geometry)
    # Slice to top+h, not -bottom: -0 would give an empty array. A view, no copy.
    return dx_pad[:, :, top : top + h, left : left + w]


def samples_last(f, x_shape, geometry):
    """Whether col2im runs faster with the samples as the last axis (path 2).

    It saves the overhead of C*KH*KW*N*OH short additions (one per row of OW elements) and
    costs two transposing copies, N*(F*OH*OW + C*H*W) elements read with a stride. Measured
    on the EPYC one row costs about as much as 6 strided elements, hence the 6 below: 2x
    faster for LeNet-5's second layer (6 -> 16, 14x14, 5x5), and the plain layout chosen
    where it is faster (larger images or fewer kernel offsets).
    """
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    n, c, h, w = x_shape
    return n > 1 and 6 * c * kh * kw * oh > f * oh * ow + c * h * w


def _col2im_samples_last(dout, cache):
    """dx = col2im(W.T @ dY) with the samples as the last axis of dY, W.T @ dY and dx.

    col2im's additions then run along rows of OW*N elements instead of OW, at the price of
    two transposing copies (dy and dx). The transposed views keep col2im_add's axes.
    """
    xp = backend.array_module(dout)
    geometry, groups = cache.geometry, cache.groups
    (kh, kw), (top, bottom, left, right), (oh, ow) = geometry.kernel, geometry.padding, geometry.out_size
    n, c, h, w = cache.x_shape
    f = cache.weight.shape[0]
    w_t = cache.weight.reshape(groups, f // groups, -1).transpose(0, 2, 1)  # W.T per group: a view
    dy_l = xp.ascontiguousarray(dout.transpose(1, 2, 3, 0)).reshape(groups, f // groups, oh * ow * n)
    dcols = xp.matmul(w_t, dy_l).reshape(c, kh, kw, oh, ow, n)
    dx_l = xp.zeros((c, h + top + bottom, w + left + right, n), dtype=dout.dtype)
    col2im_add(dcols.transpose(0, 1, 2, 5, 3, 4), dx_l.transpose(0, 3, 1, 2), geometry)
    return xp.ascontiguousarray(dx_l[:, top : top + h, left : left + w].transpose(3, 0, 1, 2))
