"""Shared argument checks whose errors say what was expected and what was given.

``who`` names the caller in the message. It may be any object (a layer passes
itself); it is only formatted when a check fails, so passing ``self`` costs nothing.
"""
import math
import numbers


def pair(value, what, who, minimum=1):
    """Return ``value`` as a pair of ints >= ``minimum`` (an int means (v, v))."""
    # Plain ints and pairs of them first: layers pass them on every call, and isinstance
    # against numbers.Integral is slow (a third of LeNet-5's batch-1 inference time went here).
    if type(value) is int:
        value = (value, value)
    elif type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        pass
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        value = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{who}: {what} must be an int or a pair of ints, got {value!r}")
    if min(value) < minimum:
        raise ValueError(f"{who}: {what} must be >= {minimum}, got {value}")
    return value


def positive_int(value, what, who):
    """Return ``value`` as an int > 0."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{who}: {what} must be an int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{who}: {what} must be > 0, got {value}")
    return int(value)


def real(value, what, who, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a finite float inside [low, high] (ends open if asked)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{who}: {what} must be a number, got {value!r}")
    value = float(value)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        if low is not None and high is not None:
            want = f"in {lo}{low}, {high}{hi}"
        elif low is not None:
            want = f"{'>' if low_open else '>='} {low}"
        elif high is not None:
            want = f"{'<' if high_open else '<='} {high}"
        else:
            want = "finite"
        raise ValueError(f"{who}: {what} must be {want}, got {value}")
    return value


def floating(x, who):
    """Refuse anything that is not a floating-point array (ints, lists, None)."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        raise TypeError(f"{who}: expected an array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(
            f"{who}: expected a floating-point array (float32 or float64), got dtype {x.dtype}"
        )


def same_dtype(x, param, who):
    """Refuse mixing float32 inputs with float64 weights (or the reverse)."""
    if x.dtype != param.dtype:
        raise TypeError(
            f"{who}: input dtype {x.dtype} does not match the parameters' dtype {param.dtype};"
            f" convert one side (model.to(np.{x.dtype}) or x.astype(np.{param.dtype}))"
        )


def input_shape(x, who, pattern, ndim, channels=None, channel_axis=1):
    """Check ``x.ndim == ndim`` and, if given, ``x.shape[channel_axis] == channels``.

    ``pattern`` is the expected shape in letters, e.g. ``"(N, 3, H, W)"``.
    """
    floating(x, who)
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in ndims or (channels is not None and x.shape[channel_axis] != channels):
        raise ValueError(f"{who}: expected input {pattern}, got {tuple(x.shape)}")


def shape_str(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def labels(targets, num_classes, n, who):
    """Check integer class labels of shape (N,) with values in [0, num_classes)."""
    if not hasattr(targets, "dtype") or targets.dtype.kind not in "iu":
        got = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(f"{who}: targets must be an integer array of class indices, got {got}")
    if targets.shape != (n,):
        raise ValueError(f"{who}: expected targets of shape ({n},), got {tuple(targets.shape)}")
    if n and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        bad = int(targets.min()) if int(targets.min()) < 0 else int(targets.max())
        raise ValueError(
            f"{who}: target labels must be in [0, {num_classes - 1}], got {bad}"
        )


__all__ = ["pair", "positive_int", "real", "floating", "same_dtype", "input_shape", "labels", "shape_str"]
