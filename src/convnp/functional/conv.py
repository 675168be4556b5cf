"""2-D convolution as torch.nn.functional.conv2d computes it: im2col, then one matrix product.

The layer computes a cross-correlation (no kernel flip), as every deep-learning library does:

    y[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, g*C_g + c, i*S + p*D, j*S + q*D]

with g = f // F_g the group of output channel f, C_g = C / groups, F_g = F / groups.

im2col (``functional/columns.py``) copies every receptive field into a column, so the sum
above becomes a matrix product that BLAS runs at full speed. The column matrix is laid out
as (C*KH*KW, N*OH*OW): rows in the order (c, p, q) of ``weight.reshape(F, -1)``, columns in
the order (n, i, j). With this layout the whole batch is ONE GEMM per group, (F_g, C_g*KH*KW) @ (C_g*KH*KW, N*OH*OW), and so are both
products of the backward pass. Measured on the benchmark shape (batch 32, 16 -> 32 channels,
28x28, 3x3) against the per-sample layout (N, C*KH*KW, OH*OW) (32 smaller products): the
GEMMs run 1.3-2x faster with 2 BLAS threads (5% with 1) and col2im 1.5x faster; the price is
one transposing copy of y (forward) and of dy (backward), each about 4% of one GEMM.

What makes it fast beyond that (issue 4; measured on a 2-core EPYC, one BLAS thread):
- Conv2d passes a ``workspace`` dict in which X and the other large temporary arrays live
  from one step to the next: a new array of tens of MB comes fresh from the OS, a page fault
  per page, and costs more than the copy into it.
- A large X is built and multiplied a chunk of samples at a time (_CHUNK_BYTES), in the
  CPU's caches, and built again in backward rather than kept: as fast, far less memory.
- The gradients of a stride-1 convolution come from the convolution of dy with the flipped
  kernel: im2col of dy + GEMMs, like the forward pass, instead of GEMM + col2im. NumPy
  copies short strided rows (im2col) 2-3x faster than it adds them (col2im).
"""
from .. import backend
from .. import checks
from .columns import col2im_add, im2col_into, pad, reused, window_geometry


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, who="conv2d",
                   workspace=None):
    """2-D convolution (cross-correlation) y = W * x + b, as torch.nn.functional.conv2d.

    Args: x, weight, bias (or None); stride, dilation: int or pair; padding: int, pair,
    'valid' or 'same'; groups: int dividing C and F; who: names the caller in error messages;
    workspace: None, or a dict that the caller keeps between calls (Conv2d passes its own):
    the column matrix X and the other large temporary arrays of forward and backward are
    then kept there and reused, so the cache of a call is valid only until the next call
    with the same workspace.
    Shape:
        x (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) -> y (N, F, H_out, W_out)
        H_out = (H + P_top + P_bottom - D*(KH - 1) - 1) // S + 1   (W_out likewise)
    forward (per group, X = im2col(x) of shape (C*KH*KW, N*H_out*W_out)):
        Y = W.reshape(F, -1) @ X + b            then Y (F, N, H_out, W_out) -> (N, F, H_out, W_out)
    backward (dY = dy as (F, N*H_out*W_out)):
        dW = dY @ X.T      dX = col2im(W.reshape(F, -1).T @ dY)      db = sum of dy over (N, H, W)
    Returns: (y, cache); y has the dtype of x (float32 stays float32).
    """
    geometry = _check(x, weight, bias, stride, padding, dilation, groups, who)
    n, f = x.shape[0], weight.shape[0]
    chunk = _chunk(x.shape, geometry, x.dtype.itemsize)
    if chunk * _KEEP_CHUNKS >= n:
        chunk = max(n, 1)  # X small enough to keep whole for backward: one chunk
    y_cols, x_t, cols = _conv_columns(x, weight.reshape(groups, f // groups, -1), geometry, chunk, workspace)
    # Backward may need X again: kept when it is one chunk, else rebuilt there from x_t.
    cache = (cols if chunk >= n else None, x_t, chunk, weight, bias is not None, x.shape, geometry, groups, workspace)
    return _to_nchw(y_cols, n, geometry[4], bias), cache


def conv2d_backward(dout, cache, input_grad=True):
    """Gradients of conv2d: (dx, dweight, dbias); dbias is None when the forward had no bias.

    Args: dout; cache (from conv2d_forward); input_grad: False skips dx (returned as None),
    about half of the backward's time: a network's first layer never needs dx.
    Shape: dout (N, F, H_out, W_out) -> dx (N, C, H, W), dweight (F, C/groups, KH, KW), dbias (F,)
    With X the forward's columns and dY = dout as (F, N*H_out*W_out), per group:
        dW = dY @ X.T        (each weight meets every column it multiplied)
        db = dY summed over its columns
        dX = W.T @ dY        then dx = col2im(dX): each column entry goes back to its pixel
    For stride 1, dx is mostly computed instead as what it equals (docs/conv_backward.md, way
    two): the "full" convolution of dy with the flipped kernel, and dW then from the same
    columns (_grads_full_conv). im2col copies where col2im adds, and NumPy adds short rows far
    slower than it copies them (measured: 1.3-1.8x faster for vgg_small's 3x3 'same' layers;
    _full_padding says when). Where col2im stays, small images may run it with the samples
    as the last axis (_samples_last).
    """
    xp = backend.array_module(dout)
    cols, x_t, chunk, weight, has_bias, x_shape, geometry, groups, workspace = cache
    n, f, m = x_shape[0], weight.shape[0], geometry[4][0] * geometry[4][1]
    # Each (n, f) row of dout is contiguous: numpy sums it pairwise, then the rows over n.
    dbias = dout.reshape(n, f, m).sum(axis=(0, 2)) if has_bias else None
    full = _full_padding(f, x_shape, geometry) if input_grad else None
    if full is not None:
        dx, dweight = _grads_full_conv(dout, x_t, weight, x_shape, geometry, groups, full, workspace)
        return dx, dweight, dbias
    # (N, F, OH, OW) -> (F, N*OH*OW): one copy
    dy = reused(xp, workspace, "dy", (f, n, m), dout.dtype)
    xp.copyto(dy, dout.reshape(n, f, m).transpose(1, 0, 2))
    dy = dy.reshape(groups, f // groups, n * m)
    rows = weight[0].size  # spelled out, not -1: with N == 0 the sizes give no hint
    buffer = None if cols is not None else reused(xp, workspace, "cols", (rows * groups * chunk * m,), dout.dtype)
    dweight = xp.zeros((groups, f // groups, rows), dtype=dout.dtype)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        # X of these samples: the forward's X if it kept it, else built again from the padded x
        x_cols = cols if buffer is None else im2col_into(buffer, x_t[:, lo:hi], geometry)
        # Transposed operands are views: matmul hands BLAS a "transposed" flag instead of copying.
        dweight += xp.matmul(dy[:, :, lo * m : hi * m], x_cols.reshape(groups, rows, -1).transpose(0, 2, 1))
    dx = _input_grad_col2im(dout, dy, weight, x_shape, geometry, groups) if input_grad else None
    return dx, dweight.reshape(weight.shape), dbias


# -- the pieces of forward and backward -------------------------------------------------------

# Columns of at most this many bytes are built at a time, into one buffer, and multiplied at
# once: the buffer stays in the CPU's caches between im2col writing it and BLAS reading it.
# An X larger than _KEEP_CHUNKS chunks is built again in backward where it is needed (dW of
# a strided layer or of a first layer), and vgg_small still measured as fast as with the
# whole X kept, for a fraction of the memory; a smaller X is kept (4-6% faster than twice).
_CHUNK_BYTES = 1 << 23
_KEEP_CHUNKS = 2


def _chunk(x_shape, geometry, itemsize):
    """Samples per chunk: as many as have at most _CHUNK_BYTES of columns (at least 1)."""
    (kh, kw), _, _, _, (oh, ow) = geometry
    return max(1, _CHUNK_BYTES // max(x_shape[1] * kh * kw * oh * ow * itemsize, 1))


def _conv_columns(x, w_g, geometry, chunk, workspace):
    """Y = W @ im2col(x) per group, as (groups, F/groups, N*OH*OW); also x_t and the last chunk's X.

    x_t is x padded, as (C, N, H_pad, W_pad). im2col runs on ``chunk`` samples at a time into
    one buffer, and BLAS writes each chunk's product straight into its columns of Y. Y, X and
    the padded x live in the workspace.
    """
    xp = backend.array_module(x)
    n, c = x.shape[:2]
    groups, f_g, rows = w_g.shape
    (kh, kw), _, pads, _, (oh, ow) = geometry
    m = oh * ow  # columns per sample
    # (C, N, H_pad, W_pad) view: channel-major source for the channel-major columns
    x_t = pad(x, pads, workspace, "x_pad").transpose(1, 0, 2, 3)
    buffer = reused(xp, workspace, "cols", (c * kh * kw * min(chunk, n) * m,), x.dtype)
    y_cols = reused(xp, workspace, "y", (groups, f_g, n * m), x.dtype)
    cols = buffer.reshape(c * kh * kw, 0) if n == 0 else None  # N == 0: the loop does not run
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        cols = im2col_into(buffer, x_t[:, lo:hi], geometry)  # (C*KH*KW, (hi-lo)*OH*OW)
        # matmul broadcasts over the leading group axis, which for groups=1 is a single GEMM;
        # out= a block of columns of Y: BLAS writes it in place (a row stride, no copy)
        xp.matmul(w_g, cols.reshape(groups, rows, -1), out=y_cols[:, :, lo * m : hi * m])
    return y_cols, x_t, cols


def _to_nchw(y_cols, n, out_size, bias):
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


def _full_padding(f, x_shape, geometry):
    """Padding (top, bottom, left, right) of dy that makes dx a stride-1 convolution; None to use col2im.

    D*(K - 1) - P per side must be >= 0, and dy's columns (F*KH*KW, N*H*W) at most twice
    the size of x's (C*KH*KW, N*OH*OW): when larger, col2im does less work (measured: equal
    at 2x, e.g. 32 -> 64 channels; col2im 1.5x faster at 5x, e.g. LeNet's 6 -> 16, 5x5, no padding).
    """
    kernel, stride, pads, dilation, (oh, ow) = geometry
    _, c, h, w = x_shape
    if stride != (1, 1):
        return None
    reach = (dilation[0] * (kernel[0] - 1),) * 2 + (dilation[1] * (kernel[1] - 1),) * 2
    full = tuple(r - p for r, p in zip(reach, pads))
    if min(full) < 0 or f * h * w > 2 * c * oh * ow:
        return None
    return full


def _grads_full_conv(dout, x_t, weight, x_shape, geometry, groups, full, workspace):
    """dx and dW of a stride-1 convolution, both from the columns X' of dy padded by ``full``.

    X'[f, p, q, n, h, w] = dy_full[n, f, h + p*D, w + q*D] (the forward's geometry, turned around):
        dx = W_flip @ X'      the full convolution of dy with the flipped, transposed kernel
        dW[f, c, p, q] = sum over n, h, w of x[n, c, h, w] * X'[f, KH-1-p, KW-1-q, n, h, w]
    i.e. dW is X' @ x.T (x as (C, N*H*W)) with its taps reversed: the forward's X is not needed.
    Both run a chunk of samples at a time.
    """
    xp = backend.array_module(dout)
    (kh, kw), _, (top, _, left, _), dilation, _ = geometry
    n, c, h, w = x_shape
    f_g, c_g = weight.shape[0] // groups, c // groups
    taps = f_g * kh * kw  # rows of X' per group
    # W_flip per group: (groups, C/groups, F/groups * KH*KW), taps reversed; a small copy
    w_flip = weight.reshape(groups, f_g, c_g, kh * kw)[:, :, :, ::-1].transpose(0, 2, 1, 3).reshape(groups, c_g, taps)
    flipped = ((kh, kw), (1, 1), full, dilation, (h, w))  # the geometry of the full convolution
    chunk = _chunk(dout.shape, flipped, dout.dtype.itemsize)
    dy_t = pad(dout, full, workspace, "dy_pad").transpose(1, 0, 2, 3)  # (F, N, H + ..., W + ...)
    buffer = reused(xp, workspace, "dy_cols", (groups * taps * min(chunk, n) * h * w,), dout.dtype)
    dx_cols = reused(xp, workspace, "dx", (groups, c_g, n * h * w), dout.dtype)
    dweight_t = xp.zeros((groups, taps, c_g), dtype=dout.dtype)  # dW with taps reversed, as (F*KH*KW, C)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        cols = im2col_into(buffer, dy_t[:, lo:hi], flipped).reshape(groups, taps, -1)
        xp.matmul(w_flip, cols, out=dx_cols[:, :, lo * h * w : hi * h * w])
        # x of these samples as (C, n*H*W): a copy out of the padded x, 1/(KH*KW) the size of X'
        x_c = xp.ascontiguousarray(x_t[:, lo:hi, top : top + h, left : left + w]).reshape(groups, c_g, -1)
        dweight_t += xp.matmul(cols, x_c.transpose(0, 2, 1))
    dweight = dweight_t.reshape(groups, f_g, kh * kw, c_g)[:, :, ::-1].transpose(0, 1, 3, 2)
    return _to_nchw(dx_cols, n, (h, w), None), dweight.reshape(weight.shape)


def _input_grad_col2im(dout, dy, weight, x_shape, geometry, groups):
    """dx = col2im(W.T @ dY), dY being dout as (groups, F/groups, N*OH*OW)."""
    xp = backend.array_module(dy)
    kernel, _, (top, bottom, left, right), _, (oh, ow) = geometry
    n, c, h, w = x_shape
    f = weight.shape[0]
    m = oh * ow
    rows = c // groups * kernel[0] * kernel[1]
    w_t = weight.reshape(groups, f // groups, rows).transpose(0, 2, 1)  # W.T per group: a view
    if _samples_last(f, x_shape, geometry):
        # The same sums with the samples as the last axis of dY, W.T @ dY and dx: col2im's
        # additions then run along rows of OW*N elements instead of OW, at the price of two
        # transposing copies (dy and dx). The transposed views below keep col2im_add's axes.
        dy_l = xp.ascontiguousarray(dout.transpose(1, 2, 3, 0)).reshape(groups, f // groups, m * n)
        dcols = xp.matmul(w_t, dy_l).reshape(c, kernel[0], kernel[1], oh, ow, n)
        dx_l = xp.zeros((c, h + top + bottom, w + left + right, n), dtype=dy.dtype)
        col2im_add(dcols.transpose(0, 1, 2, 5, 3, 4), dx_l.transpose(0, 3, 1, 2), geometry)
        return xp.ascontiguousarray(dx_l[:, top : top + h, left : left + w].transpose(3, 0, 1, 2))
    dx_pad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=dy.dtype)
    dx_t = dx_pad.transpose(1, 0, 2, 3)  # (C, N, H_pad, W_pad) view: writes land in dx_pad
    # A chunk of samples at a time, so that col2im reads W.T @ dY from the CPU's caches
    chunk = _chunk(x_shape, geometry, dy.dtype.itemsize)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        dcols = xp.matmul(w_t, dy[:, :, lo * m : hi * m])  # (groups, C/groups*KH*KW, (hi-lo)*OH*OW)
        col2im_add(dcols.reshape(c, kernel[0], kernel[1], hi - lo, oh, ow), dx_t[:, lo:hi], geometry)
    # Slice to top+h, not -bottom: -0 would give an empty array. A view, no copy.
    return dx_pad[:, :, top : top + h, left : left + w]


def _samples_last(f, x_shape, geometry):
    """Whether col2im runs faster with the samples as the last axis (see _input_grad_col2im).

    It saves the overhead of C*KH*KW*N*OH short additions (one per row of OW elements) and
    costs two transposing copies, N*(F*OH*OW + C*H*W) elements read with a stride. Measured
    on this machine one row costs about as much as 6 strided elements, hence the 6 below:
    2x faster for LeNet-5's second layer (6 -> 16, 14x14, 5x5), and the plain layout chosen
    where it is faster (larger images or fewer kernel offsets).
    """
    kernel, _, _, _, (oh, ow) = geometry
    n, c, h, w = x_shape
    return n > 1 and 6 * c * kernel[0] * kernel[1] * oh > f * oh * ow + c * h * w


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
