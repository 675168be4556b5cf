"""Binary cross-entropy, from probabilities and from logits, as PyTorch computes them.

Each value is an independent yes/no prediction (multi-label classification, GAN
discriminators, per-pixel masks). Targets are floats of the prediction's shape (soft labels
allowed); ``weight`` (and ``pos_weight``) broadcast against it. Backward returns d input, or
(d input, d target) with ``target_grad=True`` (targets produced by a model).
"""
from collections import namedtuple

import numpy as np

from .. import backend
from .. import checks
from .reduction import check_reduction, reduce, upstream

# PyTorch's EPSILON in binary_cross_entropy_backward is the C float 1e-12 (not the double)
_BCE_EPS = float(np.float32(1e-12))

BCECache = namedtuple("BCECache", "p target weight reduction")
BCEWithLogitsCache = namedtuple("BCEWithLogitsCache", "x target weight pos_weight reduction")


def check_target(pred, target, who):
    """The target in pred's dtype; TypeError unless a float array, ValueError unless pred's shape."""
    if not hasattr(target, "dtype") or target.dtype.kind != "f":
        got = getattr(target, "dtype", type(target).__name__)
        raise TypeError(f"{who}: target must be a floating-point array, got {got}")
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"{who}: expected target of the prediction's shape {tuple(pred.shape)},"
                         f" got {tuple(target.shape)}")
    return target.astype(pred.dtype, copy=False)


def _broadcast_weight(weight, pred, what, who):
    """``weight`` in pred's dtype if it broadcasts to pred's shape (None stays None)."""
    if weight is None:
        return None
    checks.floating(weight, who)
    try:
        fits = np.broadcast_shapes(weight.shape, pred.shape) == tuple(pred.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{who}: expected {what} that broadcasts to the input's shape {tuple(pred.shape)},"
                         f" got {tuple(weight.shape)}")
    return weight.astype(pred.dtype, copy=False)


def binary_cross_entropy_forward(p, target, *, weight=None, reduction="mean", who="binary_cross_entropy"):
    """Binary cross-entropy of probabilities p in [0, 1] (e.g. after a sigmoid).

    Args: p float any shape, every value in [0, 1]; target float, p's shape; weight
    broadcastable to p's shape, or None; reduction.
    Shape: p any, target same -> loss () or p's shape for reduction='none'.
    forward:  l = -weight * (t * max(log p, -100) + (1 - t) * max(log(1 - p), -100))
              (the clamp keeps p = 0 or 1 finite, as in PyTorch);  'mean' over all elements
    backward: dp = u * weight * (p - t) / max(p * (1 - p), 1e-12)     (PyTorch's formula)
              dt = u * weight * (log(1 - p) - log p)                   (PyTorch's: -logit(p), unclamped)
              u = dloss / p.size ('mean'), dloss ('sum') or dloss elementwise ('none')
    Cache: BCECache(p, target, weight, reduction).
    Raises: ValueError for a value of p outside [0, 1] (NaN included).
    """
    checks.floating(p, who)
    target = check_target(p, target, who)
    weight = _broadcast_weight(weight, p, "weight", who)
    reduction = check_reduction(reduction, who)
    outside = ~((p >= 0) & (p <= 1))
    if outside.any():
        raise ValueError(f"{who}: expected probabilities in [0, 1] as input (apply a sigmoid, or use"
                         f" BCEWithLogitsLoss on logits), got {float(p[outside].reshape(-1)[0])}")
    xp = backend.array_module(p)
    with np.errstate(divide="ignore"):                       # log 0 = -inf, clamped next
        log_p = xp.maximum(xp.log(p), -100)
        log_1mp = xp.maximum(xp.log1p(-p), -100)
    loss = -(target * log_p + (1 - target) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return reduce(loss, reduction), BCECache(p, target, weight, reduction)


def binary_cross_entropy_backward(dloss, cache, target_grad=False):
    xp = backend.array_module(cache.p)
    p, t = cache.p, cache.target
    u = upstream(dloss, cache.reduction, size=p.size)
    if cache.weight is not None:
        u = cache.weight * u
    dp = ((p - t) / xp.maximum((1 - p) * p, _BCE_EPS) * u).astype(p.dtype, copy=False)
    if not target_grad:
        return dp
    with np.errstate(divide="ignore"):                       # p = 0 or 1 gives an infinite slope
        dt = (xp.log1p(-p) - xp.log(p)) * u
    return dp, dt.astype(p.dtype, copy=False)


def binary_cross_entropy_with_logits_forward(x, target, *, weight=None, pos_weight=None, reduction="mean",
                                             who="binary_cross_entropy_with_logits"):
    """Sigmoid and binary cross-entropy in one numerically stable step (PyTorch's formula).

    Args: x float logits, any shape; target float, x's shape; weight broadcastable to x's
    shape, or None; pos_weight (the weight of the positive term; for (N, C, H, W) logits
    one per class has shape (C, 1, 1)), or None; reduction.
    Shape: x any, target same -> loss () or x's shape for reduction='none'.
    forward:  log sigmoid(x) = min(x, 0) - log(1 + exp(-|x|))          (no overflow)
              r = 1 + (pos_weight - 1) * t                             (1 without pos_weight)
              l = weight * ((1 - t) * x - r * log sigmoid(x))
                = weight * -(pos_weight * t * log sigmoid(x) + (1 - t) * log sigmoid(-x))
    backward: dx = u * weight * (r * sigmoid(x) - pos_weight * t)
              dt = u * weight * (log sigmoid(-x) - pos_weight * log sigmoid(x))
    Cache: BCEWithLogitsCache(x, target, weight, pos_weight, reduction).
    """
    checks.floating(x, who)
    target = check_target(x, target, who)
    weight = _broadcast_weight(weight, x, "weight", who)
    pos_weight = _broadcast_weight(pos_weight, x, "pos_weight", who)
    reduction = check_reduction(reduction, who)
    log_sig = _log_sigmoid(x)
    if pos_weight is not None:
        log_sig = log_sig * (1 + (pos_weight - 1) * target)
    loss = (1 - target) * x - log_sig
    if weight is not None:
        loss = loss * weight
    return reduce(loss, reduction), BCEWithLogitsCache(x, target, weight, pos_weight, reduction)


def _log_sigmoid(x):
    xp = backend.array_module(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


def binary_cross_entropy_with_logits_backward(dloss, cache, target_grad=False):
    xp = backend.array_module(cache.x)
    x, t, pw = cache.x, cache.target, cache.pos_weight
    u = upstream(dloss, cache.reduction, size=x.size)
    if cache.weight is not None:
        u = cache.weight * u
    e = xp.exp(-xp.abs(x))
    # sigmoid's numerator: max(e, 1) = 1 for x >= 0 (e <= 1), max(e, 0) = e below (NaN stays
    # NaN); where(x >= 0, 1, e) would branch per element, 15-20x slower on random signs
    sig = xp.maximum(e, x >= 0) / (1 + e)
    if pw is None:
        dx = (sig - t) * u
    else:
        dx = ((pw * t + 1 - t) * sig - pw * t) * u
    dx = dx.astype(x.dtype, copy=False)
    if not target_grad:
        return dx
    dt = -x if pw is None else _log_sigmoid(-x) - pw * _log_sigmoid(x)
    return dx, (dt * u).astype(x.dtype, copy=False)


__all__ = ["binary_cross_entropy_forward", "binary_cross_entropy_backward",
           "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward"]
