"""Batch norm written as its formulas: the plain version the tuned ``norm.py`` is tested against.

No shards, no blocks, no buffers: whole-array NumPy expressions of the docstring of
batch_norm_forward (training mode; eval mode is the same with given mean and var).
"""
import numpy as np


def batch_norm(x, weight, bias, eps=1e-5, mean=None, var=None):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel; the batch's mean and var unless given.

    Shape: x (N, C, *), weight and bias (C,) -> y same as x. Returns (y, mean, var).
    """
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return x_hat * weight.reshape(shape) + bias.reshape(shape), mean, var


def batch_norm_backward(dy, x, weight, eps=1e-5, training=True, mean=None, var=None):
    """(dx, dweight, dbias): dx = weight / sqrt(var + eps) * (dy - mean(dy) - x_hat * mean(dy * x_hat)).

    In eval mode (training False, mean and var given) dx = dy * weight / sqrt(var + eps).
    """
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    s = 1 / np.sqrt(var.reshape(shape) + eps)
    x_hat = (x - mean.reshape(shape)) * s
    dbias, dweight = dy.sum(axis=axes), (dy * x_hat).sum(axis=axes)
    if not training:
        return dy * weight.reshape(shape) * s, dweight, dbias
    dx = weight.reshape(shape) * s * (dy - dy.mean(axis=axes, keepdims=True)
                                      - x_hat * (dy * x_hat).mean(axis=axes, keepdims=True))
    return dx, dweight, dbias


__all__ = ["batch_norm", "batch_norm_backward"]
