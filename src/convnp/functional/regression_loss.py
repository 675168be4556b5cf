"""Regression losses of the difference d = pred - target: MSE, L1, smooth L1 and Huber.

``*_forward(pred, target, ...) -> (loss, cache)``; ``*_backward(dloss, cache, target_grad=False)``
gives d pred, or (d pred, d target) with ``target_grad=True`` (d target = -d pred). The
target is cast to pred's dtype; dloss is a scalar ('mean', 'sum') or an array of pred's
shape ('none'). Derivatives at the kinks are PyTorch's: L1'(0) = 0, and SmoothL1 / Huber
take the quadratic branch's slope at |d| = beta (delta), which equals the linear one there.
"""
from collections import namedtuple

from .. import backend
from .. import checks
from .binary_cross_entropy import check_target
from .reduction import check_reduction, reduce, upstream

DiffCache = namedtuple("DiffCache", "diff reduction")
RobustCache = namedtuple("RobustCache", "diff reduction threshold")


def _diff(pred, target, reduction, who):
    checks.floating(pred, who)
    target = check_target(pred, target, who)
    return pred - target, check_reduction(reduction, who)


def _grads(slope, cache, dloss, target_grad):
    """d pred = slope * u, d target = -d pred, in pred's dtype."""
    u = upstream(dloss, cache.reduction, size=cache.diff.size)
    dpred = (slope * u).astype(cache.diff.dtype, copy=False)
    return (dpred, -dpred) if target_grad else dpred


def mse_forward(pred, target, *, reduction="mean", who="mse"):
    """Squared error, by default its mean over all elements.

    Args: pred float array; target float array of the same shape; reduction.
    Shape: pred any, target same -> loss () or pred's shape for reduction='none'.
    forward:  l = (pred - target)^2;  'mean': 1/K * sum l,  K = pred.size
    backward: dpred = u * 2 * (pred - target),  u = dloss / K ('mean'), dloss otherwise
    Cache: DiffCache(diff, reduction).
    """
    diff, reduction = _diff(pred, target, reduction, who)
    return reduce(diff * diff, reduction), DiffCache(diff, reduction)


def mse_backward(dloss, cache, target_grad=False):
    return _grads(2 * cache.diff, cache, dloss, target_grad)


def l1_forward(pred, target, *, reduction="mean", who="l1"):
    """Absolute error, by default its mean over all elements.

    Shape: pred any, target same -> loss () or pred's shape for reduction='none'.
    forward:  l = |pred - target|
    backward: dpred = u * sign(pred - target)                  (0 where pred = target)
    Cache: DiffCache(diff, reduction).
    """
    diff, reduction = _diff(pred, target, reduction, who)
    return reduce(backend.array_module(diff).abs(diff), reduction), DiffCache(diff, reduction)


def l1_backward(dloss, cache, target_grad=False):
    return _grads(backend.array_module(cache.diff).sign(cache.diff), cache, dloss, target_grad)


def smooth_l1_forward(pred, target, *, beta=1.0, reduction="mean", who="smooth_l1"):
    """Smooth L1: quadratic below beta, linear above (Fast R-CNN's box loss).

    Args: beta >= 0 (0 gives the L1 loss).
    Shape: pred any, target same -> loss () or pred's shape for reduction='none'.
    forward:  z = |pred - target|,  l = 0.5 * z^2 / beta if z < beta else z - 0.5 * beta
    backward: dpred = u * clip((pred - target) / beta, -1, 1)  (sign(pred - target) when beta = 0)
    Cache: RobustCache(diff, reduction, threshold = beta).
    """
    diff, reduction = _diff(pred, target, reduction, who)
    beta = checks.real(beta, "beta", who, low=0)
    xp = backend.array_module(diff)
    z = xp.abs(diff)
    if beta == 0:
        loss = z
    else:
        loss = xp.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)
    return reduce(loss, reduction), RobustCache(diff, reduction, beta)


def smooth_l1_backward(dloss, cache, target_grad=False):
    xp = backend.array_module(cache.diff)
    if cache.threshold == 0:
        slope = xp.sign(cache.diff)
    else:
        slope = xp.clip(cache.diff / cache.threshold, -1, 1)
    return _grads(slope, cache, dloss, target_grad)


def huber_forward(pred, target, *, delta=1.0, reduction="mean", who="huber"):
    """Huber loss: quadratic below delta, linear with slope delta above (= delta * smooth L1 with beta = delta).

    Args: delta > 0.
    Shape: pred any, target same -> loss () or pred's shape for reduction='none'.
    forward:  z = |pred - target|,  l = 0.5 * z^2 if z < delta else delta * (z - 0.5 * delta)
    backward: dpred = u * clip(pred - target, -delta, delta)
    Cache: RobustCache(diff, reduction, threshold = delta).
    """
    diff, reduction = _diff(pred, target, reduction, who)
    delta = checks.real(delta, "delta", who, low=0, low_open=True)
    xp = backend.array_module(diff)
    z = xp.abs(diff)
    loss = xp.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))
    return reduce(loss, reduction), RobustCache(diff, reduction, delta)


def huber_backward(dloss, cache, target_grad=False):
    xp = backend.array_module(cache.diff)
    return _grads(xp.clip(cache.diff, -cache.threshold, cache.threshold), cache, dloss, target_grad)


__all__ = ["mse_forward", "mse_backward", "l1_forward", "l1_backward", "smooth_l1_forward",
           "smooth_l1_backward", "huber_forward", "huber_backward"]
