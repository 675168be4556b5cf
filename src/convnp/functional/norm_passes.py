"""Batch norm's passes over memory, each sharded over the batch and blocked to stay in cache.

norm.py states the math; this module computes it in the fewest full passes: per channel,
    forward, training:  sum(x);  sum((x - mean)^2);  y = (x - mean) * a + b      3 reads of x, 1 write
    backward:           sum(dy) with sum(dy * (x - mean));  dx = dy * s - (x - mean) * k - t
                                                                      2 reads of x and dy, 1 write
where a, b, s, k, t are (C,) vectors. The statistics stay two passes (not Welford's one)
because the two per-channel sums are where SyncBatchNorm sums over processes (an allreduce
between them). The forward writes y only; the cache keeps x itself (by reference) with mean
and invstd, and backward recomputes x - mean block by block, as PyTorch does: x_hat is never
stored, so no array the size of x is written or allocated besides y and dx.

Blocks: each shard walks its samples BLOCK_ELEMENTS at a time; x - mean and the other
intermediate terms live in one small buffer per shard that stays in the core's L2 cache, so
each step of a formula costs a cache pass, not a memory pass. Shards: ``convnp.parallel``;
a shard's per-channel sums are added over its blocks, then over the shards in shard order.
"""
from .. import backend, parallel

# Elements per block: 2**15 float32 values are 128 KiB, which with the few blocks a formula
# touches at once stays in a 512 KiB-1 MiB L2 cache. (Measured on the EPYC, vgg_small's batch
# norms: 2**13-2**16 run within 5% of each other; 2**18 and whole shards are 1.3-1.6x slower.)
BLOCK_ELEMENTS = 1 << 15


def _shards(x3):
    n, c, length = x3.shape
    return parallel.split(n, c * length)


def _blocks(lo, hi, per_sample):
    """(a, b) sample ranges of at most BLOCK_ELEMENTS elements (at least one sample) covering lo:hi."""
    step = max(1, BLOCK_ELEMENTS // max(per_sample, 1))
    return [(a, min(a + step, hi)) for a in range(lo, hi, step)]


def _scratch(x3, lo, hi):
    """A buffer for one block of x3's samples lo:hi: (samples, C, L)."""
    n, c, length = x3.shape
    rows = _blocks(lo, hi, c * length)
    size = max((b - a for a, b in rows), default=0)
    return backend.array_module(x3).empty((size, c, length), dtype=x3.dtype)


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


def centred_squares(x3, mean):
    """sum over n and l of (x3 - mean)^2 per channel: (C,)."""
    xp = backend.array_module(x3)
    mean = mean[:, None]

    def shard(i, lo, hi):
        total, tmp = xp.zeros(x3.shape[1], dtype=x3.dtype), _scratch(x3, lo, hi)
        for a, b in _blocks(lo, hi, x3[0].size):
            d = xp.subtract(x3[a:b], mean, out=tmp[: b - a])
            total += xp.einsum("ncl,ncl->c", d, d)
        return total

    return parallel.total(parallel.run(shard, _shards(x3)))


def centred_affine(x3, mean, scale, shift):
    """A new array y = (x3 - mean) * scale + shift, scale and shift (C,) (or shift None)."""
    xp = backend.array_module(x3)
    y = xp.empty(x3.shape, dtype=x3.dtype)
    mean, scale = mean[:, None], scale[:, None]

    def shard(i, lo, hi):
        for a, b in _blocks(lo, hi, x3[0].size):  # each block of y stays in cache through the three steps
            block = xp.subtract(x3[a:b], mean, out=y[a:b])
            block *= scale
            if shift is not None:
                block += shift[:, None]

    parallel.run(shard, _shards(x3))
    return y


def grad_sums(dy3, x3, mean):
    """(sum of dy3, sum of dy3 * (x3 - mean)) per channel, in one pass over both."""
    xp = backend.array_module(x3)
    mean = mean[:, None]

    def shard(i, lo, hi):
        sum_dy, dot, tmp = xp.zeros(x3.shape[1], x3.dtype), xp.zeros(x3.shape[1], x3.dtype), _scratch(x3, lo, hi)
        for a, b in _blocks(lo, hi, x3[0].size):
            sum_dy += xp.einsum("ncl->c", dy3[a:b])
            dot += xp.einsum("ncl,ncl->c", dy3[a:b], xp.subtract(x3[a:b], mean, out=tmp[: b - a]))
        return sum_dy, dot

    parts = parallel.run(shard, _shards(x3))
    return parallel.total([p[0] for p in parts]), parallel.total([p[1] for p in parts])


def centred_input_grad(dy3, x3, mean, s, k, t):
    """A new array dx = dy3 * s - (x3 - mean) * k - t, with s, k, t (C,)."""
    xp = backend.array_module(x3)
    dx = xp.empty(x3.shape, dtype=x3.dtype)
    mean, s, k, t = mean[:, None], s[:, None], k[:, None], t[:, None]

    def shard(i, lo, hi):
        tmp = _scratch(x3, lo, hi)
        for a, b in _blocks(lo, hi, x3[0].size):
            d = xp.subtract(x3[a:b], mean, out=tmp[: b - a])
            d *= k
            xp.multiply(dy3[a:b], s, out=dx[a:b])
            dx[a:b] -= d
            dx[a:b] -= t
        return None

    parallel.run(shard, _shards(x3))
    return dx


def scaled(dy3, s):
    """A new array dy3 * s, s (C,): the input gradient in eval mode."""
    xp = backend.array_module(dy3)
    dx = xp.empty(dy3.shape, dtype=dy3.dtype)
    parallel.run(lambda i, lo, hi: xp.multiply(dy3[lo:hi], s[:, None], out=dx[lo:hi]), _shards(dy3))
    return dx
