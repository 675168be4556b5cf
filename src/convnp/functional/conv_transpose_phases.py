"""Transposed convolution by output phases (sub-pixel): s*s stride-1 correlations, no overlapping adds.

conv_transpose.py computes y = C^T x as conv2d's input gradient: a GEMM, then col2im, which
adds KH*KW overlapping strided slices into y. With stride S, output row oy = S*q + r (r the
row's phase, 0 <= r < S) is reached from input row i by kernel row ky only when

    oy = S*i + ky - P,   i.e.   ky = k0_r + S*t  with  k0_r = (r + P) mod S,   i = q + c_r - t,
    c_r = (r + P) // S,   t = 0 .. T-1,   T = KH / S   (KH a multiple of S, dilation 1)

so each phase receives only the kernel rows k0_r, k0_r + S, ...: T taps, and (the same along
columns) every one of the S*S phases is an ordinary stride-1 correlation of x with a T x T
sub-kernel:

    y[n, co, S*q + r, S*q' + r'] = sum over ci, a, b of
        x_pad[n, ci, q + off_r + a, q' + off_r' + b] * W[ci, co, k0_r + S*(T-1-a), k0_r' + S*(T-1-b)]

with x_pad x padded by T-1-c_min before (c_min = min over phases of c_r; negative: rows cut)
and off_r = c_r - c_min: the window of every phase starts at a shift of at most one row, so
ONE im2col of x_pad with a T x T window, (C_in*T*T, N*LH*LW) with LH = max_r(Q_r + off_r)
and Q_r = ceil((H_out - r) / S) the rows of phase r, serves all phases, and one GEMM per group

    Z = W_sub (S*S*C_out/groups, C_in/groups*T*T) @ X          Z: (S*S*C_out/groups, N*LH*LW)

gives every phase; phase (r, r') is Z's block [(r, r')] at rows off_r .. off_r + Q_r, written
into y[:, :, r::S, r'::S] by strided copies: each output pixel is written once.
The GEMM computes LH*LW positions per sample for the H_out*W_out / S^2 each phase needs (with
K = 2S, P = S/2: (H+1)(W+1) for H*W, 1.31x at 7x7, 1.15x at 14x14, 1.06x at 32x32); col2im's
overlapping adds are what it saves. kernel == stride, padding 0 (T = 1): no window shift at
all, LH = H, and X is x itself: a GEMM and a pixel shuffle. When it runs: ``use_phases``.
"""
from typing import NamedTuple

from .. import backend, parallel
from .columns import WindowGeometry, im2col_into


class AxisPhases(NamedTuple):
    """The phases along one axis: stride s, taps per phase T, x padded (pad_before, pad_after;
    negative: cut), L window positions, and per phase r (k0_r, off_r, Q_r) (Q_r > 0 only)."""

    stride: int
    taps: int
    pad_before: int
    pad_after: int
    length: int
    phases: tuple


def axis_phases(size, kernel, stride, padding, out):
    """AxisPhases of an axis of input ``size`` and output ``out``; None for a kernel not a multiple of the stride."""
    if kernel % stride:
        return None
    taps = kernel // stride
    rows = [((r + padding) % stride, (r + padding) // stride, (out - r + stride - 1) // stride) for r in range(stride)]
    rows = [(r, k0, c, q) for r, (k0, c, q) in enumerate(rows) if q > 0]
    c_min = min(c for _, _, c, _ in rows)
    phases = tuple((r, k0, c - c_min, q) for r, k0, c, q in rows)
    length = max(off + q for _, _, off, q in phases)
    before = taps - 1 - c_min
    return AxisPhases(stride, taps, before, length + taps - 1 - before - size, length, phases)


def phase_plan(x_shape, weight_shape, stride, padding, out_size, dilation):
    """(rows, cols) AxisPhases of a transposed convolution, or None when the phase path cannot run.

    It runs for dilation 1 and kernels that are multiples of the stride on both axes, stride > 1 on one.
    """
    if tuple(dilation) != (1, 1) or tuple(stride) == (1, 1):
        return None
    plan = tuple(axis_phases(n, k, s, p, o) for n, k, s, p, o in zip(x_shape[2:], weight_shape[2:], stride,
                                                                      padding, out_size))
    return None if None in plan else plan


# The phase path runs where col2im adds at least this many elements per element im2col copies
# (use_phases); measured, see there.
MIN_ADDS_PER_COPY = 1.6


def use_phases(plan, x_shape, weight_shape, groups):
    """Whether the phase path is faster than GEMM + col2im (conv_transpose.py) for this layer.

    col2im adds C_out*KH*KW*H*W elements per sample (overlapping strided slices); the phase
    path copies C_in*TH*TW*LH*LW into its columns and multiplies LH*LW/(H*W) more positions.
    Rule: phases when kernel == stride (T = 1: no im2col, the columns are x itself) or when
    that ratio of adds to copies is >= MIN_ADDS_PER_COPY. Measured forward, old / phases
    (above 1: phases faster), float32, 1 and 2 threads, 2-core EPYC shared with other jobs
    (benchmarks/conv_transpose_bench.py; figures vary about 20% between runs):
      K = 4, S = 2, P = 1, batch 32: 64 -> 32 at 7x7 0.86-0.89, 1.03-1.07 (ratio 1.53: DCGAN's
      main.3); 32 -> 1 at 14x14 0.38-0.39, 0.57-0.61 (0.11: DCGAN's main.6); 128 -> 64 at 8x8
      0.85-0.91, 0.92-0.99 (1.58); 64 -> 3 at 32x32 0.48, 0.47-0.51 (0.18); 64 -> 32 at 12x12
      1.22, 1.32 (1.70); at 16x16 1.0-1.4, 0.9-1.5 (1.77); 32 -> 16 at 28x28 1.50, 1.63 (1.86);
      32 -> 32 at 14x14 1.48, 2.06 (3.48); 64 -> 64 at 7x7 1.01, 1.21 (3.06); 16 -> 32 at 14x14
      2.17, 2.35 (6.97).  K = 6, S = 3: 32 -> 16 at 8x8 1.5, 1.2-1.4 (3.56); 64 -> 16 1.10,
      1.35 (1.78).  K = 8, S = 4: 1.75-2.6, 2.3-3.8.  K = S = 2: 1.2-1.6, 1.0-1.6 (64 -> 32 at
      7x7, 32 -> 16 at 14x14, 64 -> 4 at 14x14, 32 -> 1 at 28x28).
    Small images are where col2im is cheapest (conv_tuning.samples_last) and the extra
    positions costliest ((H+1)/H per axis); few output channels make col2im's adds few.
    """
    rows, cols = plan
    if rows.taps == cols.taps == 1:
        return True
    c_in, co_g, kh, kw = weight_shape
    h, w = x_shape[2:]
    adds = co_g * groups * kh * kw * h * w
    copies = c_in * rows.taps * cols.taps * rows.length * cols.length
    return adds >= MIN_ADDS_PER_COPY * copies


def sub_kernels(weight, plan, groups):
    """W_sub (groups, SH*SW*C_out/groups, C_in/groups*TH*TW): row (r, r', co), column (ci, a, b).

    W_sub[g, (r, r', co), (ci, a, b)] = W[g*C_in/groups + ci, co, k0_r + SH*(TH-1-a), k0_r' + SW*(TW-1-b)];
    the taps of phases with no output row (Q_r = 0) are never used: their rows are the first phase's.
    """
    xp = backend.array_module(weight)
    rows, cols = plan
    c_in, co_g = weight.shape[:2]

    def taps(axis):
        k0 = {r: k for r, k, _, _ in axis.phases}
        first = axis.phases[0][1]
        return xp.asarray([[k0.get(r, first) + axis.stride * (axis.taps - 1 - a) for a in range(axis.taps)]
                           for r in range(axis.stride)])

    ky, kx = taps(rows), taps(cols)
    w = weight[:, :, ky[:, :, None, None], kx[None, None, :, :]]  # (C_in, C_out/g, SH, TH, SW, TW)
    w = w.reshape(groups, c_in // groups, co_g, rows.stride, rows.taps, cols.stride, cols.taps)
    w = w.transpose(0, 3, 5, 2, 1, 4, 6)  # (g, SH, SW, C_out/g, C_in/g, TH, TW)
    return xp.ascontiguousarray(w).reshape(groups, rows.stride * cols.stride * co_g, -1)


def conv_transpose2d_phases(x, weight, bias, out_size, plan, groups):
    """y = C^T x + b by phases (module docstring), shard by shard over the batch.

    Shape: x (N, C_in, H, W), weight (C_in, C_out/groups, KH, KW), bias (C_out,) or None
    -> y (N, C_out, H_out, W_out), out_size (H_out, W_out); plan from phase_plan.
    """
    xp = backend.array_module(x)
    n = x.shape[0]
    rows, cols = plan
    w_sub = sub_kernels(weight, plan, groups)
    y = xp.empty((n, weight.shape[1] * groups) + tuple(out_size), dtype=x.dtype)
    shards = parallel.split(n, x.shape[1] * rows.taps * cols.taps * rows.length * cols.length, blas=True)

    def shard(i, lo, hi):
        _interleave(_phase_products(x[lo:hi], w_sub, plan, groups), y[lo:hi], plan, groups, bias)

    parallel.run(shard, shards, blas=True)
    return y


def _phase_products(x, w_sub, plan, groups):
    """Z = W_sub @ im2col(x_pad) per group: (groups, SH*SW*C_out/groups, n*LH*LW)."""
    xp = backend.array_module(x)
    rows, cols = plan
    n, c = x.shape[:2]
    th, tw, lh, lw = rows.taps, cols.taps, rows.length, cols.length
    x_t = xp.zeros((c, n, lh + th - 1, lw + tw - 1), dtype=x.dtype)  # x padded, channel-major
    # x's rows that some window reads, placed pad_before rows down (or cut from the top when it is negative)
    (top, x_top, h), (left, x_left, w) = (_overlap(a, s) for a, s in zip(plan, x.shape[2:]))
    x_t[:, :, top : top + h, left : left + w] = x[:, :, x_top : x_top + h, x_left : x_left + w].transpose(1, 0, 2, 3)
    if th == tw == 1:
        x_cols = x_t  # a 1x1 window (kernel == stride): the columns are x itself
    else:
        window = WindowGeometry((th, tw), (1, 1), (0, 0, 0, 0), (1, 1), (lh, lw))
        x_cols = im2col_into(xp.empty(c * th * tw * n * lh * lw, dtype=x.dtype), x_t, window)
    return xp.matmul(w_sub, x_cols.reshape(groups, w_sub.shape[2], -1))


def _overlap(axis, size):
    """(first row of x_pad written, first row of x read, rows copied) along one axis."""
    dst, src = max(axis.pad_before, 0), max(-axis.pad_before, 0)
    count = max(0, min(size - src, axis.length + axis.taps - 1 - dst))
    return dst, src, count


def _interleave(z, out, plan, groups, bias):
    """Each phase's block of Z written into out[:, :, r::SH, r'::SW] (n, C_out, H_out, W_out), plus the bias."""
    xp = backend.array_module(z)
    rows, cols = plan
    n, c_out = out.shape[:2]
    z = z.reshape(groups, rows.stride, cols.stride, c_out // groups, n, rows.length, cols.length)
    out_g = out.reshape(n, groups, c_out // groups, *out.shape[2:])  # a view: out is contiguous
    b = None if bias is None else bias.reshape(groups, c_out // groups, 1, 1)
    for r, _, off_r, q_r in rows.phases:
        for rc, _, off_c, q_c in cols.phases:
            block = z[:, r, rc, :, :, off_r : off_r + q_r, off_c : off_c + q_c].transpose(2, 0, 1, 3, 4)
            dest = out_g[:, :, :, r :: rows.stride, rc :: cols.stride]
            if b is None:
                xp.copyto(dest, block)
            else:
                xp.add(block, b, out=dest)


__all__ = []
