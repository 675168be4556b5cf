"""Weight initialisers. Every one that draws takes an ``rng`` (seed, Generator or None).

Two forms: functions of a shape that return a new array (``kaiming_uniform(shape, rng)``,
used by the layers' constructors), and PyTorch's in-place forms, named as in
``torch.nn.init`` with a trailing underscore, which fill a Parameter's data or an array and
return it (``kaiming_normal_(layer.weight, nonlinearity="relu", rng=0)``).

PyTorch's defaults, which Conv2d and Linear use here too:
  weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (kaiming_uniform with a = sqrt(5))
  bias   ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
with fan_in = in_channels/groups * KH * KW for a conv, in_features for a linear layer.
"""
import contextvars
import math
import numbers
from contextlib import contextmanager

import numpy as np

# What rebuilding a model file's description may still allocate, in elements ([left, who]), or
# None: no limit. A file's weights bound its layers' sizes, checked before anything is allocated.
_budget = contextvars.ContextVar("convnp_allocation_budget", default=None)


@contextmanager
def allocation_budget(elements, who):
    """Inside, the shape initialisers and ``full`` create at most ``elements`` elements in all.

    convnp.load rebuilds a file's description under the number of elements the file's weights
    hold, so that a tampered description (Linear(100000, 100000) in a 1 MB file) is refused
    before its weights are allocated rather than after.
    """
    token = _budget.set([int(elements), who])
    try:
        yield
    finally:
        _budget.reset(token)


def _take(shape):
    """Count an allocation of ``shape`` against the budget; ValueError when it would go over."""
    budget = _budget.get()
    if budget is None:
        return
    n = math.prod(int(s) for s in shape)      # Python ints: no overflow for absurd shapes
    if n > budget[0]:
        raise ValueError(f"{budget[1]}: the description asks for an array of shape {tuple(shape)} ({n:,}"
                         f" elements), more than the file's weights hold (room left: {budget[0]:,})")
    budget[0] -= n


def full(shape, value, dtype=np.float32):
    """A new array filled with ``value`` (the ones and zeros of norm layers' weights and buffers)."""
    _take((shape,) if isinstance(shape, numbers.Integral) else shape)
    return np.full(shape, value, dtype=dtype)


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
    _take(shape)
    return as_rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def uniform_fan_in(shape, rng=None, fan_in=None, dtype=np.float32):
    """PyTorch's default for conv and linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    fan_in = fans(shape)[0] if fan_in is None else fan_in
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform(shape, bound, rng, dtype)


_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None, who="calculate_gain"):
    """The recommended gain for a nonlinearity, as torch.nn.init.calculate_gain gives it.

    1 for linear, conv and transposed-conv layers and sigmoid; 5/3 for tanh; sqrt(2) for relu;
    sqrt(2 / (1 + negative_slope^2)) for leaky_relu (param = negative_slope, default 0.01);
    3/4 for selu. ValueError for another name or a negative_slope that is not a number.
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            param = 0.01
        elif not isinstance(param, numbers.Real) or isinstance(param, bool):
            raise ValueError(f"{who}: negative_slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1 + param**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"{who}: unknown nonlinearity {nonlinearity!r}; expected one of"
                     f" {', '.join(_LINEAR + ('tanh', 'relu', 'leaky_relu', 'selu'))}")


def gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (calculate_gain under its short name)."""
    return calculate_gain(nonlinearity, param, who="gain")


def kaiming_uniform(shape, rng=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=np.float32):
    """He init, uniform: U(-b, b) with b = gain * sqrt(3 / fan)."""
    fan = _fan(shape, mode)
    bound = gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform(shape, bound, rng, dtype)


def kaiming_normal(shape, rng=None, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=np.float32):
    """He init, normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    _take(shape)
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def xavier_uniform(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot init, uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def xavier_normal(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot init, normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    _take(shape)
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def _fan(shape, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fans(shape)[0 if mode == "fan_in" else 1]


# -- in place, as torch.nn.init -----------------------------------------------------------------
def _array(tensor, who):
    """The array an in-place initialiser fills: a Parameter's data, or the array itself."""
    arr = tensor
    if not isinstance(tensor, np.ndarray) and hasattr(tensor, "grad") and hasattr(tensor, "data"):
        arr = tensor.data                      # a Parameter (not imported: nn imports this module)
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        got = f"an array of dtype {arr.dtype}" if isinstance(arr, np.ndarray) else type(tensor).__name__
        raise TypeError(f"{who}: expected a Parameter or a floating-point array, got {got}")
    return arr


def _fill(tensor, values, who):
    _array(tensor, who)[...] = values
    return tensor


def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """Fill with samples of U(a, b), in place; returns tensor (a Parameter or a float array)."""
    arr = _array(tensor, "uniform_")
    return _fill(tensor, as_rng(rng).uniform(a, b, size=arr.shape), "uniform_")


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """Fill with samples of N(mean, std^2), in place; returns tensor."""
    arr = _array(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill(tensor, as_rng(rng).normal(mean, std, size=arr.shape), "normal_")


def constant_(tensor, val):
    """Fill with the value ``val``, in place; returns tensor."""
    return _fill(tensor, val, "constant_")


def zeros_(tensor):
    """Fill with 0, in place; returns tensor."""
    return _fill(tensor, 0, "zeros_")


def ones_(tensor):
    """Fill with 1, in place; returns tensor."""
    return _fill(tensor, 1, "ones_")


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, rng=None, max_rounds=10000):
    """Fill with samples of N(mean, std^2) conditioned on [a, b] (a, b in the values' units), in place.

    Exact, by rejection, as PyTorch samples it: when [a, b] holds more than 30% of the
    normal's mass, values outside it are drawn again from the normal; otherwise candidates
    are drawn uniformly on [a, b] and each kept with probability pdf(x) / pdf(mode).
    Raises ValueError unless std > 0 and a < b, or when [a, b] is so improbable that
    ``max_rounds`` rounds keep rejecting.
    """
    arr = _array(tensor, "trunc_normal_")
    if not std > 0 or not a < b:
        raise ValueError(f"trunc_normal_: expected std > 0 and a < b, got std={std}, a={a}, b={b}")
    rng = as_rng(rng)
    wide = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std) > 0.3
    mode = max(a, min(mean, b))
    out = np.empty(arr.shape)
    pending = np.ones(arr.shape, dtype=bool)
    for _ in range(max_rounds):
        k = int(pending.sum())
        if not k:
            return _fill(tensor, out, "trunc_normal_")
        if wide:
            x = rng.normal(mean, std, k)
            keep = (x >= a) & (x <= b)
        else:
            x = rng.uniform(a, b, k)
            keep = rng.random(k) < np.exp(-0.5 * (((x - mean) / std) ** 2 - ((mode - mean) / std) ** 2))
        idx = np.flatnonzero(pending)[keep]
        out.flat[idx] = x[keep]
        pending.flat[idx] = False
    raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] is too improbable under N({mean}, {std}^2):"
                     f" still rejecting after {max_rounds} rounds")


def _fan_of(arr, mode, who):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{who}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fans(arr.shape)[0 if mode == "fan_in" else 1]


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He init in place: U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    arr = _array(tensor, "kaiming_uniform_")
    if arr.size == 0:                               # PyTorch: a no-op on an empty tensor
        return tensor
    bound = calculate_gain(nonlinearity, a, "kaiming_uniform_") * math.sqrt(3.0 / _fan_of(arr, mode, "kaiming_uniform_"))
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He init in place: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    arr = _array(tensor, "kaiming_normal_")
    if arr.size == 0:
        return tensor
    std = calculate_gain(nonlinearity, a, "kaiming_normal_") / math.sqrt(_fan_of(arr, mode, "kaiming_normal_"))
    return normal_(tensor, 0.0, std, rng)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """Glorot init in place: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(_array(tensor, "xavier_uniform_").shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """Glorot init in place: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(_array(tensor, "xavier_normal_").shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def orthogonal_(tensor, gain=1.0, rng=None):
    """Fill with a (semi-)orthogonal matrix times ``gain``, in place (Saxe et al., 2013; as PyTorch).

    The array is viewed as (rows, cols) = (shape[0], size / shape[0]); a Gaussian matrix's QR
    factor, with signs fixed by R's diagonal so that it is uniformly distributed, fills it:
    W @ W.T = gain^2 * I when rows <= cols, W.T @ W = gain^2 * I otherwise.
    """
    arr = _array(tensor, "orthogonal_")
    if arr.ndim < 2:
        raise ValueError(f"orthogonal_: expected an array with at least 2 dimensions, got shape {arr.shape}")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = as_rng(rng).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(arr.shape), "orthogonal_")
