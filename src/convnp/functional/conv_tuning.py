"""How ``functional/conv.py`` is made fast: threads, chunks, workspaces, which backward path runs when.

conv.py states the math (Y = W @ X with X = im2col(x); dW = dY @ X.T; dX = col2im(W.T @ dY))
and ``conv_reference.py`` computes it plainly; this module computes the same sums in an
order a CPU runs fast. Figures: a 2-core AMD EPYC, one BLAS thread, float32 (issue 4),
unless said otherwise; ``benchmarks/`` times whole training steps.

Threads (``convnp.parallel``): the batch is split into shards, one per thread, and each
shard runs the whole recipe below on its own samples with its own buffers and a one-thread
BLAS: padding, im2col, the GEMMs, the layout copies and col2im all run on every core, where a
multi-threaded BLAS alone would leave the copies (a third of the time) on one core. A 2-core
prototype ran one Conv2d forward + backward 1.2-1.45x faster this way than with 2 BLAS
threads (issue 12). Weight and bias gradients are summed per shard, then over the shards in
shard order. The split is the forward's (kept in the cache), so that each shard finds its X.

Forward (forward), always the same path:
- X is built CHUNK_BYTES (8 MiB, shared by the shards) of columns at a time, a few samples
  per chunk, into one buffer that stays in the CPU's caches between im2col writing it and
  BLAS reading it, and each chunk's product is written straight into its columns of Y.
- An X of at most KEEP_CHUNKS chunks is kept whole for backward (4-6% faster than building
  it twice) when backward will read it (not on path 1 below, which never does); a larger X
  is built again in backward where it is needed (dW of a strided layer or of a first layer):
  vgg_small measured as fast as with the whole X kept, for a fraction of the memory.
- Workspace: Conv2d passes a dict in which X, Y, the padded x and the backward's large
  temporaries live from one training step to the next (one set per shard). A new array of tens of MB comes fresh
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
2. col2im with the samples as the last axis (grads_col2im, when samples_last says so):
   small images and many kernel offsets, where col2im's cost is the overhead of its many
   short rows (2x faster for LeNet-5's second layer).
3. col2im chunk by chunk (grads_col2im): everything else (strided layers, 1x1
   shortcuts, larger images).
On paths 2 and 3 dW = dY @ X.T (weight_grad_columns), with the forward's X or X built again.
"""
import math

from .. import backend, parallel
from .columns import WindowGeometry, col2im_add, copy_interior, im2col_into, padded_buffer, reused

# Columns of at most this many bytes are built at a time, into one buffer per shard (the
# shards share the bytes), and multiplied at once: 8 MiB stays in a server CPU's L2/L3
# caches between im2col and the GEMM.
CHUNK_BYTES = 1 << 23
# An X of at most this many chunks is kept for backward (see the module docstring).
KEEP_CHUNKS = 2


def split(x_shape, geometry):
    """The shards of a convolution of an x of ``x_shape``: (lo, hi) sample ranges, by the size of X."""
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    return parallel.split(x_shape[0], x_shape[1] * kh * kw * oh * ow, blas=True)


def chunk_size(x_shape, geometry, itemsize, shards=1):
    """Samples per chunk: as many as have at most CHUNK_BYTES / shards of columns (at least 1)."""
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    return max(1, CHUNK_BYTES // shards // max(x_shape[1] * kh * kw * oh * ow * itemsize, 1))


def forward(x, weight, bias, geometry, groups, workspace, keep):
    """y = W @ im2col(x) + b per group, shard by shard; returns (y, x_t, X, chunk, shards).

    y is a new (N, F, OH, OW) array; x_t is x padded, as (C, N, H_pad, W_pad); X, when ``keep``
    is True and the columns are small enough (KEEP_CHUNKS), is a tuple of each shard's columns
    (kept for backward), else None; chunk is samples per chunk; shards the (lo, hi) ranges.
    Each shard's columns and products, and the padded x, live in the workspace.
    """
    xp = backend.array_module(x)
    n, c = x.shape[:2]
    f = weight.shape[0]
    w_g = weight.reshape(groups, f // groups, -1)
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    m, rows = oh * ow, c * kh * kw  # columns per sample, rows of X
    shards = split(x.shape, geometry)
    keep = keep and rows * n * m * x.dtype.itemsize <= KEEP_CHUNKS * CHUNK_BYTES
    chunk = max(n, 1) if keep else chunk_size(x.shape, geometry, x.dtype.itemsize, len(shards))
    x_pad = padded_buffer(x, geometry.padding, workspace, "x_pad")
    y = xp.empty((n, f, oh, ow), dtype=x.dtype)

    def shard(i, lo, hi):
        x_t = copy_interior(x_pad, x, lo, hi, geometry.padding).transpose(1, 0, 2, 3)  # (C, hi-lo, H_pad, W_pad)
        buffer = reused(xp, workspace, f"cols{i}", (rows * min(chunk, hi - lo) * m,), x.dtype)
        y_cols = reused(xp, workspace, f"y{i}", (groups, f // groups, (hi - lo) * m), x.dtype)
        cols = None
        for a in range(0, hi - lo, chunk):
            b = min(a + chunk, hi - lo)
            cols = im2col_into(buffer, x_t[:, a:b], geometry)  # (C*KH*KW, (b-a)*OH*OW)
            # matmul broadcasts over the leading group axis, which for groups=1 is a single GEMM;
            # out= a block of columns of Y: BLAS writes it in place (a row stride, no copy)
            xp.matmul(w_g, cols.reshape(groups, w_g.shape[2], -1), out=y_cols[:, :, a * m : b * m])
        to_nchw(y_cols, y[lo:hi], bias)
        return cols

    kept = parallel.run(shard, shards, blas=True)
    return y, x_pad.transpose(1, 0, 2, 3), (tuple(kept) if keep else None), chunk, shards


def to_nchw(y_cols, out, bias):
    """Y (groups, F/groups, n*OH*OW) written into out (n, F, OH, OW), plus the bias if any."""
    xp = backend.array_module(y_cols)
    n, f = out.shape[:2]
    y = y_cols.reshape(f, n, *out.shape[2:]).transpose(1, 0, 2, 3)  # a view, not contiguous
    if bias is None:
        xp.copyto(out, y)
    else:
        xp.add(y, bias.reshape(f, 1, 1), out=out)  # copy to NCHW and add b in the same pass


def bias_grad(dout, shards):
    """db = dout summed over (N, OH, OW): each shard's sum, then the shards' in order."""
    n, f = dout.shape[:2]
    m = math.prod(dout.shape[2:])
    # Each (n, f) row of dout is contiguous: numpy sums it pairwise, then the rows over n.
    return parallel.total(parallel.run(lambda i, lo, hi: dout[lo:hi].reshape(hi - lo, f, m).sum(axis=(0, 2)),
                                       shards))


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


def grads_full_conv(dout, cache, shards, full, weight_grad=True):
    """(dx, dW) of a stride-1 convolution, both from the columns X' of dy padded by ``full``.

    X'[f, p, q, n, h, w] = dy_full[n, f, h + p*D, w + q*D] (the forward's geometry, turned around):
        dx = W_flip @ X'      the full convolution of dy with the flipped, transposed kernel
        dW[f, c, p, q] = sum over n, h, w of x[n, c, h, w] * X'[f, KH-1-p, KW-1-q, n, h, w]
    i.e. dW is X' @ x.T (x as (C, N*H*W)) with its taps reversed: the forward's X is not needed.
    Each shard runs a chunk of its samples at a time; weight_grad=False skips dW (None).
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
    chunk = chunk_size(dout.shape, flipped, dout.dtype.itemsize, len(shards))
    dy_pad = padded_buffer(dout, full, workspace, "dy_pad")
    dx = xp.empty((n, c, h, w), dtype=dout.dtype)

    def shard(i, lo, hi):
        dy_t = copy_interior(dy_pad, dout, lo, hi, full).transpose(1, 0, 2, 3)  # (F, hi-lo, H + ..., W + ...)
        buffer = reused(xp, workspace, f"dy_cols{i}", (groups * taps * min(chunk, hi - lo) * h * w,), dout.dtype)
        dx_cols = reused(xp, workspace, f"dx{i}", (groups, c_g, (hi - lo) * h * w), dout.dtype)
        dweight_t = xp.zeros((groups, taps, c_g), dtype=dout.dtype) if weight_grad else None  # dW, taps reversed
        for a in range(0, hi - lo, chunk):
            b = min(a + chunk, hi - lo)
            cols = im2col_into(buffer, dy_t[:, a:b], flipped).reshape(groups, taps, -1)
            xp.matmul(w_flip, cols, out=dx_cols[:, :, a * h * w : b * h * w])
            if weight_grad:
                # x of these samples as (C, n*H*W): a copy out of the padded x, 1/(KH*KW) the size of X'
                x_c = xp.ascontiguousarray(cache.x_t[:, lo + a : lo + b, top : top + h, left : left + w])
                dweight_t += xp.matmul(cols, x_c.reshape(groups, c_g, -1).transpose(0, 2, 1))
        to_nchw(dx_cols, dx[lo:hi], None)
        return dweight_t

    partial = parallel.run(shard, shards, blas=True)
    if not weight_grad:
        return dx, None
    dweight = parallel.total(partial).reshape(groups, f_g, kh * kw, c_g)[:, :, ::-1].transpose(0, 1, 3, 2)
    return dx, dweight.reshape(weight.shape)


# -- backward, paths 2 and 3: dW = dY @ X.T and dx = col2im(W.T @ dY) -------------------------


def grads_col2im(dout, cache, shards, input_grad=True, weight_grad=True):
    """(dx, dW) shard by shard: dW = dY @ X.T, dx = col2im(W.T @ dY), dY = dout as (F, N*OH*OW).

    dx runs on path 2 (samples last) where samples_last says so, else on path 3; None when
    input_grad is False, and dW None when weight_grad is False.
    """
    xp = backend.array_module(dout)
    n, c, h, w = cache.x_shape
    top, bottom, left, right = cache.geometry.padding
    last = input_grad and samples_last(cache.weight.shape[0], cache.x_shape, cache.geometry)
    chunk = chunk_size(cache.x_shape, cache.geometry, dout.dtype.itemsize, len(shards))
    dx = None
    if input_grad:  # path 3 adds into a zero dx padded; path 2 writes each sample's dx whole
        dx = xp.empty((n, c, h, w), dout.dtype) if last else xp.zeros((n, c, h + top + bottom, w + left + right),
                                                                         dtype=dout.dtype)

    def shard(i, lo, hi):
        dy = None
        if weight_grad or not last:
            dy = dy_columns(dout[lo:hi], cache.groups, cache.workspace, f"dy{i}")  # (groups, F/groups, n*OH*OW)
        if input_grad and last:
            _col2im_samples_last(dout[lo:hi], cache, dx[lo:hi])
        elif input_grad:
            _col2im_chunks(dy, cache, dx[lo:hi], chunk)
        return weight_grad_columns(dy, cache, i, lo, hi) if weight_grad else None

    partial = parallel.run(shard, shards, blas=True)
    dweight = parallel.total(partial).reshape(cache.weight.shape) if weight_grad else None
    if input_grad and not last:
        dx = dx[:, :, top : top + h, left : left + w]  # slice to top+h, not -bottom: -0 would give nothing
    return dx, dweight


def dy_columns(dout, groups, workspace, name="dy"):
    """dout (n, F, OH, OW) as dY (groups, F/groups, n*OH*OW): one transposing copy."""
    xp = backend.array_module(dout)
    n, f = dout.shape[:2]
    m = math.prod(dout.shape[2:])
    dy = reused(xp, workspace, name, (f, n, m), dout.dtype)
    xp.copyto(dy, dout.reshape(n, f, m).transpose(1, 0, 2))
    return dy.reshape(groups, f // groups, n * m)


def weight_grad_columns(dy, cache, i, lo, hi):
    """Shard i's dW = dY @ X.T per group (samples lo:hi), with the forward's X if kept, else X built again."""
    xp = backend.array_module(dy)
    groups, f_g = dy.shape[:2]
    chunk, m = cache.chunk, math.prod(cache.geometry.out_size)
    rows = cache.weight[0].size  # spelled out, not -1: with N == 0 the sizes give no hint
    kept = cache.x_cols is not None
    buffer = None if kept else reused(xp, cache.workspace, f"cols{i}", (rows * groups * min(chunk, hi - lo) * m,),
                                      dy.dtype)
    dweight = xp.zeros((groups, f_g, rows), dtype=dy.dtype)
    for a in range(0, hi - lo, chunk):
        b = min(a + chunk, hi - lo)
        x_cols = cache.x_cols[i] if kept else im2col_into(buffer, cache.x_t[:, lo + a : lo + b], cache.geometry)
        # Transposed operands are views: matmul hands BLAS a "transposed" flag instead of copying.
        dweight += xp.matmul(dy[:, :, a * m : b * m], x_cols.reshape(groups, rows, -1).transpose(0, 2, 1))
    return dweight


def _col2im_chunks(dy, cache, dx_pad, chunk):
    """Path 3: col2im(W.T @ dY) added into dx_pad (n, C, H_pad, W_pad), ``chunk`` samples at a time.

    A chunk at a time, so that col2im reads W.T @ dY from the CPU's caches.
    """
    xp = backend.array_module(dy)
    geometry, groups = cache.geometry, cache.groups
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    n, c = dx_pad.shape[:2]
    m = oh * ow
    w_t = cache.weight.reshape(groups, dy.shape[1], -1).transpose(0, 2, 1)  # W.T per group: a view
    dx_t = dx_pad.transpose(1, 0, 2, 3)  # (C, n, H_pad, W_pad) view: writes land in dx_pad
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        dcols = xp.matmul(w_t, dy[:, :, lo * m : hi * m])  # (groups, C/groups*KH*KW, (hi-lo)*OH*OW)
        col2im_add(dcols.reshape(c, kh, kw, hi - lo, oh, ow), dx_t[:, lo:hi], geometry)


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


def _col2im_samples_last(dout, cache, out):
    """Path 2: out (n, C, H, W) = col2im(W.T @ dY) with the samples as the last axis of dY, W.T @ dY and dx.

    col2im's additions then run along rows of OW*n elements instead of OW, at the price of
    two transposing copies (dy and dx). The transposed views keep col2im_add's axes.
    """
    xp = backend.array_module(dout)
    geometry, groups = cache.geometry, cache.groups
    (kh, kw), (top, bottom, left, right), (oh, ow) = geometry.kernel, geometry.padding, geometry.out_size
    n, c, h, w = out.shape
    f = cache.weight.shape[0]
    w_t = cache.weight.reshape(groups, f // groups, -1).transpose(0, 2, 1)  # W.T per group: a view
    dy_l = xp.ascontiguousarray(dout.transpose(1, 2, 3, 0)).reshape(groups, f // groups, oh * ow * n)
    dcols = xp.matmul(w_t, dy_l).reshape(c, kh, kw, oh, ow, n)
    dx_l = xp.zeros((c, h + top + bottom, w + left + right, n), dtype=dout.dtype)
    col2im_add(dcols.transpose(0, 1, 2, 5, 3, 4), dx_l.transpose(0, 3, 1, 2), geometry)
    xp.copyto(out, dx_l[:, top : top + h, left : left + w].transpose(3, 0, 1, 2))
