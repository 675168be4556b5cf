"""Batch normalisation: normalise each channel over the batch (and spatial positions).

The arguments follow ``torch.nn.functional.batch_norm``: in training mode the batch
statistics normalise the input and, when running statistics are given, those are
updated in place; otherwise the running statistics normalise it.
"""
import math
from collections import namedtuple

import numpy as np

from .. import backend
from .. import checks
from . import norm_passes as passes

# What backward needs: the centred input x - mean (N, C, L), 1/sqrt(var + eps) (C,), the weight or None,
# whether there is a bias, the mode, the count M of values per channel the statistics came from
# (over every process with allreduce) and the allreduce itself (None on one process).
BatchNormCache = namedtuple("BatchNormCache", "xc invstd weight has_bias training count allreduce")


def check_channel_arrays(x, running_mean, running_var, weight, bias, use_batch_stats, flag, min_ndim, who):
    """The checks batch and instance norm share: x (N, C, *) with at least ``min_ndim`` dimensions,
    each given per-channel array of shape (C,), both running statistics or neither, and those
    given when ``flag`` (the argument that chooses batch statistics) is False."""
    checks.floating(x, who)
    if x.ndim < min_ndim:
        raise ValueError(f"{who}: expected input (N, C, *) with at least {min_ndim} dimensions, got {tuple(x.shape)}")
    c = x.shape[1]
    for what, arr in (("running_mean", running_mean), ("running_var", running_var),
                      ("weight", weight), ("bias", bias)):
        if arr is not None and tuple(arr.shape) != (c,):
            raise ValueError(
                f"{who}: expected {what} of shape ({c},) for input {tuple(x.shape)}, got {tuple(arr.shape)}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{who}: give both running_mean and running_var, or neither")
    if not use_batch_stats and running_mean is None:
        raise ValueError(f"{who}: running_mean and running_var are needed when {flag}=False")


def _check(x, running_mean, running_var, weight, bias, training, who):
    check_channel_arrays(x, running_mean, running_var, weight, bias, training, "training", 2, who)
    c = x.shape[1]
    values = x.size // c if c else 0
    if training and values <= 1:
        raise ValueError(
            f"{who}: expected more than 1 value per channel when training,"
            f" got input of shape {tuple(x.shape)}"
        )


def batch_norm_forward(x, running_mean, running_var, weight=None, bias=None, training=False,
                       momentum=0.1, eps=1e-5, who="batch_norm", allreduce=None):
    """Per-channel normalisation y = (x - mean) / sqrt(var + eps) * weight + bias.

    Args: x; running_mean, running_var (C,) or None; weight, bias (C,) or None (meaning
    1 and 0); training (use batch statistics); momentum (weight of the new batch in the
    running statistics); eps; allreduce: None, or a function that returns the sum of a
    float64 vector over every process (SyncBatchNorm's, see sync_batch_norm.py): the four
    per-channel sums below, sum(x), sum((x - mean)^2), sum(dy) and sum(dy * x_hat), and the
    count M are then those of the whole batch, spread over the processes.
    Shape: x (N, C), (N, C, L) or (N, C, H, W) -> y same; statistics over all axes but C,
    M = N * L (or N * H * W) values per channel.
    forward (training):
      mean = sum(x) / M,  var = sum((x - mean)^2) / M          (biased, for normalising)
      running_mean = (1 - momentum) * running_mean + momentum * mean          (in place)
      running_var  = (1 - momentum) * running_var + momentum * var * M / (M - 1)   (unbiased)
    forward (not training): mean, var = running_mean, running_var
    x_hat = (x - mean) / sqrt(var + eps),  y = x_hat * weight + bias
    backward (training, the gradient flows through mean and var too):
      dbias = sum(dy),  dweight = sum(dy * x_hat)
      dx = weight / sqrt(var + eps) * (dy - dbias / M - x_hat * dweight / M)
    backward (not training): dx = dy * weight / sqrt(var + eps), dweight and dbias as above
    Cache: BatchNormCache(xc = x - mean (N, C, L), invstd (C,), weight or None, has_bias,
    training, count M, allreduce or None); x_hat = xc * invstd is not stored.
    How: five steps over the array forward, six backward, on every core (norm_passes.py).
    Plain version: norm_reference.py.
    Returns: (y, cache); backward returns (dx, dweight, dbias), None for an absent weight/bias.
    Raises: ValueError for mismatched shapes, or one value per channel when training.
    """
    _check(x, running_mean, running_var, weight, bias, training, who)
    # Python floats: NumPy float64 scalars would turn float32 arrays into float64
    eps = checks.real(eps, "eps", who, low=0)
    momentum = checks.real(momentum, "momentum", who, 0, 1)
    xp = backend.array_module(x)
    x3 = _as_ncl(x)
    m = x3.shape[0] * x3.shape[2]  # values per channel
    if training:
        total = passes.channel_sums(x3)
        if allreduce is not None:
            total, m = _sum_over_processes(allreduce, total, m)
        mean = total / m
        xc, squares = passes.centre(x3, mean)  # xc = x - mean, and sum(xc^2)
        if allreduce is not None:
            (squares,) = _sum_over_processes(allreduce, squares)
        var = squares / m
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += (momentum * m / (m - 1)) * var
    else:
        xc, _ = passes.centre(x3, running_mean.astype(x.dtype, copy=False), squares=False)
        var = running_var.astype(x.dtype, copy=False)
    invstd = 1 / xp.sqrt(var + eps)
    # y = x_hat * weight + bias = xc * (invstd * weight) + bias
    y = passes.scale_shift(xc, invstd if weight is None else invstd * weight, bias)
    cache = BatchNormCache(xc, invstd, weight, bias is not None, training, m, allreduce if training else None)
    return y.reshape(x.shape), cache


def batch_norm_backward(dy, cache):
    """(dx, dweight, dbias) from the cache of batch_norm_forward; see its docstring for the math.

    With an allreduce, dx uses sum(dy) and sum(dy * x_hat) over every process, while dweight
    and dbias stay this process's own sums (averaging gradients over the processes adds them up).
    """
    xc, invstd, weight = cache.xc, cache.invstd, cache.weight
    dy3 = dy.reshape(xc.shape)
    dbias, sum_dy_xc = passes.grad_sums(dy3, xc)
    dweight = sum_dy_xc * invstd  # sum(dy * x_hat), x_hat = xc * invstd
    scale = invstd if weight is None else weight * invstd
    if cache.training:
        m, sum_dy, sum_dy_xhat = cache.count, dbias, dweight
        if cache.allreduce is not None:
            sum_dy, sum_dy_xhat = _sum_over_processes(cache.allreduce, dbias, dweight)
        # dx = scale * (dy - sum_dy / m - x_hat * sum_dy_xhat / m)
        dx = passes.input_grad(dy3, xc, sum_dy / m, invstd * sum_dy_xhat / m, scale)
    else:
        dx = passes.scaled(dy3, scale)
    return dx.reshape(dy.shape), (None if weight is None else dweight), (dbias if cache.has_bias else None)


def _sum_over_processes(allreduce, *parts):
    """Each part (a (C,) array or a count) summed over every process, with one allreduce.

    The parts travel in one float64 vector (a float32 count is exact only up to 2**24) and
    come back in their own types: arrays in their dtype, the count as an int.
    """
    xp = backend.array_module(*[p for p in parts if not isinstance(p, int)])
    sizes = [1 if isinstance(p, int) else p.size for p in parts]
    packed = xp.concatenate([xp.asarray([p], dtype=np.float64) if isinstance(p, int) else p.astype(np.float64)
                             for p in parts])
    packed = allreduce(packed)
    out, start = [], 0
    for p, size in zip(parts, sizes):
        chunk = packed[start:start + size]
        out.append(int(round(float(chunk[0]))) if isinstance(p, int) else chunk.astype(p.dtype))
        start += size
    return out


def _as_ncl(x):
    """x as (N, C, L): L = H*W for (N, C, H, W), L for (N, C, L), 1 for (N, C); a view when x is contiguous."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))
