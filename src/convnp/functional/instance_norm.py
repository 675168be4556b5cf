"""Instance normalisation: each channel of each sample normalised over its own positions.

With input statistics this is group normalisation with one channel per group; the running
statistics (optional) are kept as PyTorch's ``instance_norm`` keeps them: the batch norm
update applied to every sample, then averaged over the samples.
"""
import math
from collections import namedtuple

from .. import backend
from .. import checks
from .norm import check_channel_arrays
from .layer_norm import channel_affine_backward, normalize_rows, normalize_rows_backward

InstanceNormCache = namedtuple("InstanceNormCache", "x_hat invstd weight has_bias use_input_stats")


def _check(x, running_mean, running_var, weight, bias, use_input_stats, who):
    check_channel_arrays(x, running_mean, running_var, weight, bias, use_input_stats, "use_input_stats", 3, who)
    if use_input_stats and math.prod(x.shape[2:]) <= 1:
        raise ValueError(f"{who}: expected more than 1 spatial element when using input statistics,"
                         f" got input of shape {tuple(x.shape)}")


def instance_norm_forward(x, running_mean=None, running_var=None, weight=None, bias=None,
                          use_input_stats=True, momentum=0.1, eps=1e-5, who="instance_norm"):
    """Per-sample, per-channel normalisation y = (x - mean) / sqrt(var + eps) * weight + bias.

    Args: x float (N, C, *); running_mean, running_var (C,) or None (updated in place when
    use_input_stats); weight, bias (C,) or None; use_input_stats (False: normalise with the
    running statistics); momentum; eps.
    Shape: x (N, C, *) -> y same; statistics over the L = prod(*) positions of each (n, c).
    forward (use_input_stats):
      mean[n, c], var[n, c] over the L positions (biased)
      running_mean = (1 - momentum) * running_mean + momentum * mean over n of mean[n, c]
      running_var  = (1 - momentum) * running_var + momentum * mean over n of var[n, c] * L / (L - 1)
    forward (not use_input_stats): mean, var = running_mean[c], running_var[c]
    x_hat = (x - mean) / sqrt(var + eps),  y = x_hat * weight[c] + bias[c]
    backward (use_input_stats): the rows backward of layer/group norm with dx_hat = dy * weight[c]
    backward (not use_input_stats): dx = dy * weight[c] / sqrt(running_var[c] + eps)
    dweight[c] = sum of dy * x_hat over N and *,  dbias[c] = sum of dy over N and *
    Cache: InstanceNormCache(x_hat (N, C, L), invstd ((N*C, 1) or (C, 1)), weight or None,
    has_bias, use_input_stats).
    Returns: (y, cache); backward returns (dx, dweight, dbias), None for an absent weight/bias.
    """
    _check(x, running_mean, running_var, weight, bias, use_input_stats, who)
    eps = checks.real(eps, "eps", who, low=0)
    momentum = checks.real(momentum, "momentum", who, 0, 1)
    xp = backend.array_module(x)
    n, c = x.shape[:2]
    length = math.prod(x.shape[2:])
    if use_input_stats:
        x_hat, mean, var, invstd = normalize_rows(x.reshape(n * c, length), eps)
        if running_mean is not None and n:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(n, c).mean(axis=0).astype(running_mean.dtype)
            running_var *= 1 - momentum
            unbiased = var.reshape(n, c).mean(axis=0) * (length / (length - 1))
            running_var += momentum * unbiased.astype(running_var.dtype)
    else:
        invstd = (1 / xp.sqrt(running_var.astype(x.dtype) + eps))[:, None]
        x_hat = (x.reshape(n, c, length) - running_mean.astype(x.dtype)[:, None]) * invstd
    x_hat = x_hat.reshape(n, c, length)
    y = x_hat if weight is None else x_hat * weight[:, None]
    if bias is not None:
        y = y + bias[:, None]
    return y.reshape(x.shape), InstanceNormCache(x_hat, invstd, weight, bias is not None, use_input_stats)


def instance_norm_backward(dy, cache):
    x_hat, invstd, weight, has_bias, use_input_stats = cache
    n, c, length = x_hat.shape
    dy3, dweight, dbias = channel_affine_backward(dy.reshape(x_hat.shape), x_hat, weight, has_bias)
    if use_input_stats:
        dx = normalize_rows_backward(dy3.reshape(n * c, length), x_hat.reshape(n * c, length), invstd)
    else:
        dx = dy3 * invstd
    return dx.reshape(dy.shape), dweight, dbias


__all__ = ["instance_norm_forward", "instance_norm_backward"]
