"""Weight initialisers. Every one takes an ``rng`` (seed, Generator or None) and a dtype.

PyTorch's defaults, which Conv2d and Linear use here too:
  weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (kaiming_uniform with a = sqrt(5))
  bias   ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
with fan_in = in_channels/groups * KH * KW for a conv, in_features for a linear layer.
"""
import math

import numpy as np


def as_rng(rng):
    """A ``np.random.Generator`` from a seed, a Generator (returned as is) or None (fresh entropy)."""
    return np.random.default_rng(rng)


def fans(shape):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as PyTorch computes them."""
    if len(shape) < 2:
        raise ValueError(f"fans: need a weight with at least 2 dimensions, got shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform(shape, bound, rng=None, dtype=np.float32):
    """Samples of U(-bound, bound)."""
    return as_rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def uniform_fan_in(shape, rng=None, fan_in=None, dtype=np.float32):
    """PyTorch's default for conv and linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    fan_in = fans(shape)[0] if fan_in is None else fan_in
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(shape, bound, rng, dtype)


def gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    if nonlinearity in ("linear", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"gain: unknown nonlinearity {nonlinearity!r}")


def kaiming_uniform(shape, rng=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=np.float32):
    """He init, uniform: U(-b, b) with b = gain * sqrt(3 / fan)."""
    fan = _fan(shape, mode)
    bound = gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform(shape, bound, rng, dtype)


def kaiming_normal(shape, rng=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=np.float32):
    """He init, normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def xavier_uniform(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot init, uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def xavier_normal(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot init, normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def _fan(shape, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fans(shape)[0 if mode == "fan_in" else 1]
