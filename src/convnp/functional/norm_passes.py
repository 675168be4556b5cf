"""Batch norm's passes over memory, each sharded over the batch and blocked to stay in cache.

norm.py states the math; this module computes it in few passes, with xc = x - mean:
    forward, training:  sum(x);  xc with sum(xc^2);  y = xc * a + bias                 5 steps
    backward:           sum(dy) with sum(dy * xc);  dx = ((dy - t) - xc * k) * s      6 steps
where a, t, k, s are (C,) vectors (norm.py). A step is one NumPy call over an array; the
forward used to take 6 (x_hat normalised in place, then y = x_hat * weight, then + bias).
The statistics stay two passes (not Welford's one) because the two per-channel sums are where
SyncBatchNorm sums over processes (an allreduce between them). The cache keeps xc, not x_hat:
invstd is folded into a and k, so the normalising step is not needed.

Blocks: each shard walks its samples BLOCK_ELEMENTS at a time; the steps of one formula run
on a block while it is in the core's L2 cache. Shards: ``convnp.parallel``; a shard's
per-channel sums are added over its blocks, then over the shards in shard order.
"""
from .. import backend, parallel

# Elements per block: 2**17 float32 values are 512 KiB, about a core's L2 cache. Measured on
# the EPYC (one thread, vgg_small's first batch norm, (64, 32, 32, 32)): backward 2.2 ms with
# blocks of 2**17 or more, 2.5-2.7 ms with 2**13-2**15, where the calls' own cost (an einsum
# call takes about 8 us) outweighs the cache; vgg_small's arrays (at most 8 MiB) fit in its
# 32 MiB L3 anyway. Blocks matter where an array outgrows L3 (large batches, smaller caches).
BLOCK_ELEMENTS = 1 << 17


def _shards(x3):
    n, c, length = x3.shape
    return parallel.split(n, c * length)


def _blocks(lo, hi, per_sample):
    """(a, b) sample ranges of at most BLOCK_ELEMENTS elements (at least one sample) covering lo:hi."""
    step = max(1, BLOCK_ELEMENTS // max(per_sample, 1))
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


def channel_sums(x3):
    """sum over n and l of x3 (N, C, L) per channel: (C,)."""
    xp = backend.array_module(x3)

    def shard(i, lo, hi):
        total = xp.zeros(x3.shape[1], dtype=x3.dtype)
        for a, b in _blocks(lo, hi, x3[0].size):
            # einsum sums over n and l in one pass with no temporary (x.sum over (0, 2) is 3x slower)
            total += xp.einsum("ncl->c", x3[a:b])
        return total

    return parallel.total(parallel.run(shard, _shards(x3)))


def centre(x3, mean, squares=True):
    """(xc, sum over n and l of xc^2 per channel (or None)): xc = x3 - mean, a new array."""
    xp = backend.array_module(x3)
    xc = xp.empty(x3.shape, dtype=x3.dtype)

    def shard(i, lo, hi):
        total = xp.zeros(x3.shape[1], dtype=x3.dtype) if squares else None
        for a, b in _blocks(lo, hi, x3[0].size):
            block = xp.subtract(x3[a:b], mean[:, None], out=xc[a:b])
            if squares:
                total += xp.einsum("ncl,ncl->c", block, block)
        return total

    parts = parallel.run(shard, _shards(x3))
    return xc, (parallel.total(parts) if squares else None)


def scale_shift(xc, a, bias):
    """A new array y = xc * a + bias, a and bias (C,) (bias None: no shift)."""
    xp = backend.array_module(xc)
    y = xp.empty(xc.shape, dtype=xc.dtype)

    def shard(i, lo, hi):
        for a_, b in _blocks(lo, hi, xc[0].size):
            block = xp.multiply(xc[a_:b], a[:, None], out=y[a_:b])
            if bias is not None:
                block += bias[:, None]

    parallel.run(shard, _shards(xc))
    return y


def grad_sums(dy3, xc):
    """(sum of dy3, sum of dy3 * xc) per channel, in one pass over both."""
    xp = backend.array_module(xc)

    def shard(i, lo, hi):
        sum_dy, dot = xp.zeros(xc.shape[1], xc.dtype), xp.zeros(xc.shape[1], xc.dtype)
        for a, b in _blocks(lo, hi, xc[0].size):
            sum_dy += xp.einsum("ncl->c", dy3[a:b])
            dot += xp.einsum("ncl,ncl->c", dy3[a:b], xc[a:b])
        return sum_dy, dot

    parts = parallel.run(shard, _shards(xc))
    return parallel.total([p[0] for p in parts]), parallel.total([p[1] for p in parts])


def input_grad(dy3, xc, t, k, s):
    """A new array dx = ((dy3 - t) - xc * k) * s, with t, k, s (C,)."""
    xp = backend.array_module(xc)
    dx = xp.empty(xc.shape, dtype=xc.dtype)

    def shard(i, lo, hi):
        for a, b in _blocks(lo, hi, xc[0].size):
            block = xp.multiply(xc[a:b], -k[:, None], out=dx[a:b])
            block -= t[:, None]
            block += dy3[a:b]
            block *= s[:, None]

    parallel.run(shard, _shards(xc))
    return dx


def scaled(dy3, s):
    """A new array dy3 * s, s (C,): the input gradient in eval mode."""
    xp = backend.array_module(dy3)
    dx = xp.empty(dy3.shape, dtype=dy3.dtype)
    parallel.run(lambda i, lo, hi: xp.multiply(dy3[lo:hi], s[:, None], out=dx[lo:hi]), _shards(dy3))
    return dx
