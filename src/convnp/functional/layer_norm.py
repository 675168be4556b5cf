"""Layer and group normalisation: each sample normalised by its own statistics, no running ones.

Both reshape the input so that each row holds the values that share one mean and variance,
normalise the rows (``normalize_rows``) and apply a learned elementwise (LayerNorm) or
per-channel (GroupNorm) scale and shift. The derivation of the backward pass is in
docs/layer_group_norm.md.
"""
import math
from collections import namedtuple

from .. import backend
from .. import checks

LayerNormCache = namedtuple("LayerNormCache", "x_hat invstd weight has_bias normalized_shape")
GroupNormCache = namedtuple("GroupNormCache", "x_hat invstd weight has_bias num_groups")


def normalize_rows(x2, eps):
    """Standardise each row of a 2-d array: (x_hat, mean, var, invstd), statistics of shape (B, 1).

    mean = sum(x) / M,  var = sum((x - mean)^2) / M  (biased),  invstd = 1 / sqrt(var + eps),
    x_hat = (x - mean) * invstd, for rows of M values.
    """
    xp = backend.array_module(x2)
    mean = x2.mean(axis=1, keepdims=True)
    centred = x2 - mean
    var = (centred * centred).mean(axis=1, keepdims=True)
    invstd = 1 / xp.sqrt(var + eps)
    return centred * invstd, mean, var, invstd


def normalize_rows_backward(dx_hat, x_hat, invstd):
    """The gradient through normalize_rows (rows of M values; the means are along each row).

    dx = invstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    """
    return invstd * (dx_hat - dx_hat.mean(axis=1, keepdims=True)
                     - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True))


def _check_affine(weight, bias, shape, what, who):
    for name, arr in (("weight", weight), ("bias", bias)):
        if arr is not None and tuple(arr.shape) != tuple(shape):
            raise ValueError(f"{who}: expected {name} of shape {tuple(shape)} ({what}), got {tuple(arr.shape)}")


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5, who="layer_norm"):
    """Normalise over the trailing ``normalized_shape`` dimensions of each sample.

    Args: x float (*, *normalized_shape); normalized_shape a tuple of ints; weight, bias
    of shape normalized_shape or None (meaning 1 and 0); eps.
    Shape: x (*, *normalized_shape) -> y same; B rows of M = prod(normalized_shape) values.
    forward:  mean, var over each row (biased),  x_hat = (x - mean) / sqrt(var + eps)
              y = x_hat * weight + bias                        (elementwise over the row)
    backward: dbias = sum over rows of dy,  dweight = sum over rows of dy * x_hat
              dx_hat = dy * weight
              dx = invstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))   (per row)
    Cache: LayerNormCache(x_hat (B, M), invstd (B, 1), weight or None, has_bias, normalized_shape).
    Returns: (y, cache); backward returns (dx, dweight, dbias), None for an absent weight/bias.
    """
    checks.floating(x, who)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ValueError(f"{who}: expected input (*, {', '.join(map(str, normalized_shape))}) ending in"
                         f" normalized_shape {normalized_shape}, got {tuple(x.shape)}")
    _check_affine(weight, bias, normalized_shape, "normalized_shape", who)
    eps = checks.real(eps, "eps", who, low=0)
    m = math.prod(normalized_shape)
    x_hat, _, _, invstd = normalize_rows(x.reshape(-1, m), eps)
    y = x_hat if weight is None else x_hat * weight.reshape(m)
    if bias is not None:
        y = y + bias.reshape(m)
    return y.reshape(x.shape), LayerNormCache(x_hat, invstd, weight, bias is not None, normalized_shape)


def layer_norm_backward(dy, cache):
    x_hat, invstd, weight, has_bias, normalized_shape = cache
    m = x_hat.shape[1]
    dy2 = dy.reshape(-1, m)
    dweight = dbias = None
    if has_bias:
        dbias = dy2.sum(axis=0).reshape(normalized_shape)
    if weight is not None:
        dweight = (dy2 * x_hat).sum(axis=0).reshape(normalized_shape)
        dy2 = dy2 * weight.reshape(m)
    return normalize_rows_backward(dy2, x_hat, invstd).reshape(dy.shape), dweight, dbias


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5, who="group_norm"):
    """Normalise each group of C / G channels of each sample, then scale and shift per channel.

    Args: x float (N, C, *); num_groups G dividing C; weight, bias (C,) or None; eps.
    Shape: x (N, C, *) -> y same; N * G rows of M = C/G * prod(*) values.
    forward:  mean, var over each (sample, group) row (biased),  x_hat = (x - mean) / sqrt(var + eps)
              y = x_hat * weight[c] + bias[c]
    backward: dbias[c] = sum of dy over N and *,  dweight[c] = sum of dy * x_hat over N and *
              dx_hat = dy * weight[c]
              dx = invstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))   (per row)
    Cache: GroupNormCache(x_hat (N, C, L), invstd (N*G, 1), weight or None, has_bias, num_groups),
    L = prod(*).
    Returns: (y, cache); backward returns (dx, dweight, dbias), None for an absent weight/bias.
    """
    checks.floating(x, who)
    num_groups = checks.positive_int(num_groups, "num_groups", who)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"{who}: expected input (N, C, *) with C divisible by num_groups={num_groups},"
                         f" got {tuple(x.shape)}")
    n, c = x.shape[:2]
    _check_affine(weight, bias, (c,), "one per channel", who)
    eps = checks.real(eps, "eps", who, low=0)
    m = c // num_groups * math.prod(x.shape[2:])     # explicit, not -1: N may be 0
    x_hat, _, _, invstd = normalize_rows(x.reshape(n * num_groups, m), eps)
    x_hat = x_hat.reshape(n, c, math.prod(x.shape[2:]))
    y = x_hat if weight is None else x_hat * weight[:, None]
    if bias is not None:
        y = y + bias[:, None]
    return y.reshape(x.shape), GroupNormCache(x_hat, invstd, weight, bias is not None, num_groups)


def channel_affine_backward(dy3, x_hat, weight, has_bias):
    """Backward of y = x_hat * weight[c] + bias[c] on (N, C, L) arrays: (d x_hat, dweight, dbias).

    dbias[c] = sum over n, l of dy;  dweight[c] = sum over n, l of dy * x_hat;  d x_hat = dy * weight[c]
    (group and instance normalisation share it).
    """
    dbias = dy3.sum(axis=(0, 2)) if has_bias else None
    if weight is None:
        return dy3, None, dbias
    return dy3 * weight[:, None], (dy3 * x_hat).sum(axis=(0, 2)), dbias


def group_norm_backward(dy, cache):
    x_hat, invstd, weight, has_bias, num_groups = cache
    n, c, length = x_hat.shape
    dy3, dweight, dbias = channel_affine_backward(dy.reshape(x_hat.shape), x_hat, weight, has_bias)
    rows = (n * num_groups, c // num_groups * length)
    dx = normalize_rows_backward(dy3.reshape(rows), x_hat.reshape(rows), invstd)
    return dx.reshape(dy.shape), dweight, dbias


__all__ = ["layer_norm_forward", "layer_norm_backward", "group_norm_forward", "group_norm_backward",
           "normalize_rows", "normalize_rows_backward", "channel_affine_backward"]
