"""Cross-entropy and negative log-likelihood over the classes on axis 1, as PyTorch computes them.

Inputs are (N, C) or (N, C, d1, ...) (per pixel: (N, C, H, W)). Targets are class indices
(an integer array of shape (N, d1, ...), where ``ignore_index`` marks elements that count for
nothing) or, for cross-entropy, class probabilities (a float array of the input's shape).
``*_forward -> (loss, cache)``; ``*_backward(dloss, cache)`` gives d(dloss * loss)/d input,
with dloss a scalar ('mean', 'sum') or an array of the elementwise losses' shape ('none').
The derivation of the gradient is in docs/softmax_cross_entropy.md.
"""
import numbers
from collections import namedtuple

import numpy as np

from .. import backend
from .. import checks
from .reduction import check_reduction, reduce, upstream
from .softmax import log_softmax_forward

NLLCache = namedtuple("NLLCache", "shape dtype at_target target_weight valid reduction total")
ClassTargetCache = namedtuple("ClassTargetCache",
                              "log_p at_target target_weight valid weight label_smoothing reduction total")
ProbTargetCache = namedtuple("ProbTargetCache", "log_p target reduction total")


# -- checks and shared steps -------------------------------------------------------------------
def _check_input(x, what, who):
    checks.floating(x, who)
    if x.ndim < 2:
        raise ValueError(f"{who}: expected {what} of shape (N, C) or (N, C, d1, ...), got {tuple(x.shape)}")


def _class_weight(weight, x, who):
    """The class weights in x's dtype (None stays None); ValueError unless one per class."""
    if weight is None:
        return None
    checks.floating(weight, who)
    c = x.shape[1]
    if tuple(weight.shape) != (c,):
        raise ValueError(f"{who}: expected weight of shape ({c},), one per class of input"
                         f" {tuple(x.shape)}, got {tuple(weight.shape)}")
    return weight.astype(x.dtype, copy=False)


def _class_targets(targets, x, ignore_index, who):
    """(index, valid): the targets with ignored entries replaced by class 0, and the mask of the rest."""
    if not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool):
        raise TypeError(f"{who}: ignore_index must be an int, got {ignore_index!r}")
    if not hasattr(targets, "dtype") or targets.dtype.kind not in "iu":
        got = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(f"{who}: targets must be an integer array of class indices, got {got}")
    expected = (x.shape[0],) + tuple(x.shape[2:])
    if tuple(targets.shape) != expected:
        raise ValueError(f"{who}: expected targets of shape {expected} for input {tuple(x.shape)},"
                         f" got {tuple(targets.shape)}")
    xp = backend.array_module(x)
    c = x.shape[1]
    valid = targets != ignore_index
    bad = valid & ((targets < 0) | (targets >= c))
    if bad.any():
        raise ValueError(f"{who}: target labels must be in [0, {c - 1}] (or ignore_index={int(ignore_index)}),"
                         f" got {int(targets[bad].reshape(-1)[0])}")
    return xp.where(valid, targets, 0), valid


def _target_weight(index, valid, weight, dtype):
    """weight[target] for each element (1 without weights), 0 where the target is ignored."""
    return valid.astype(dtype) if weight is None else weight[index] * valid


def _at_target(index):
    """The index tuple that selects each element's target-class entry of an (N, C, d1, ...) array.

    a[_at_target(t)][n, i, ...] = a[n, t[n, i, ...], i, ...], of shape (N, d1, ...): index
    arrays for N and d1, ... (open, broadcasting) with the targets for the class axis.
    """
    grids = backend.array_module(index).indices(index.shape, sparse=True)
    return (grids[0], index) + tuple(grids[1:])


def _per_class(u):
    """An upstream gradient of shape (N, d1, ...) made to broadcast over the class axis."""
    return u[:, None] if getattr(u, "ndim", 0) else u


# -- negative log-likelihood -------------------------------------------------------------------
def nll_forward(log_probs, targets, *, weight=None, ignore_index=-100, reduction="mean", who="nll"):
    """Negative log-likelihood of the target classes, given log-probabilities.

    Args: log_probs float (N, C, *) (e.g. from log_softmax); targets int (N, *) in [0, C) or
    ignore_index; weight (C,) class weights or None; ignore_index; reduction.
    Shape: log_probs (N, C, *), targets (N, *) -> loss () or (N, *) for reduction='none'.
    forward:  w_i = weight[t_i] (1 without weights; 0 where t_i = ignore_index)
              l_i = -w_i * log_probs[i, t_i]
              'mean': sum_i l_i / sum_i w_i  (NaN when every target is ignored)
    backward: dlog_probs[i, c] = -w_i * [c = t_i] * u_i,  u_i = dloss / sum w ('mean'),
              dloss ('sum') or dloss_i ('none')
    Cache: NLLCache(shape, dtype, at_target (the index of each target entry), target_weight,
    valid, reduction, total).
    """
    _check_input(log_probs, "log-probabilities", who)
    reduction = check_reduction(reduction, who)
    index, valid = _class_targets(targets, log_probs, ignore_index, who)
    tw = _target_weight(index, valid, _class_weight(weight, log_probs, who), log_probs.dtype)
    xp = backend.array_module(log_probs)
    at_target = _at_target(index)
    loss = xp.where(valid, -tw * log_probs[at_target], 0).astype(log_probs.dtype, copy=False)
    total = tw.sum()
    return reduce(loss, reduction, total), NLLCache(log_probs.shape, log_probs.dtype, at_target, tw, valid,
                                                    reduction, total)


def nll_backward(dloss, cache):
    xp = backend.array_module(cache.target_weight)
    grad = xp.zeros(cache.shape, dtype=cache.dtype)
    u = upstream(dloss, cache.reduction, cache.total)
    with np.errstate(invalid="ignore"):           # 0 * inf where every target is ignored
        grad[cache.at_target] = xp.where(cache.valid, -cache.target_weight * u, 0)
    return grad


# -- cross-entropy -----------------------------------------------------------------------------
def cross_entropy_forward(logits, targets, *, weight=None, ignore_index=-100, reduction="mean",
                          label_smoothing=0.0, who="cross_entropy"):
    """Cross-entropy between softmax(logits) over axis 1 and the targets (PyTorch's formula).

    Args: logits float (N, C, *); targets int (N, *) class indices (or ignore_index), or float
    (N, C, *) class probabilities; weight (C,) or None; ignore_index (index targets only; a
    value >= 0 with probability targets is refused, as PyTorch refuses it);
    reduction; label_smoothing eps in [0, 1].
    Shape: logits (N, C, *) -> loss () or (N, *) for reduction='none'.
    forward:  log p = logits - m - log(sum_c exp(logits_c - m)),  m = max_c logits_c
      index targets: w_i = weight[t_i] (0 where ignored),  W = sum_i w_i
        l_i = (1 - eps) * w_i * (-log p[i, t_i]) + eps / C * sum_c weight[c] * (-log p[i, c])
        (0 where ignored);  'mean': sum_i l_i / W
      probability targets: q = (1 - eps) * t + eps / C
        l_i = -sum_c weight[c] * q[i, c] * log p[i, c];  'mean': sum_i l_i / (number of i)
    backward (dlogits[i] = u_i * (a_i * softmax(logits)[i] - b_i), u_i as for nll_forward):
      index targets:  a_i = (1 - eps) * w_i + eps / C * sum(weight),
                      b_i = (1 - eps) * w_i * onehot(t_i) + eps / C * weight   (0 where ignored)
      probability targets: b_i = weight * q_i,  a_i = sum_c b_i[c]
    Cache: ClassTargetCache(log_p, at_target (the index of each target entry), target_weight,
    valid, weight, label_smoothing, reduction, total) or ProbTargetCache(log_p, target = weight * q, reduction, total).
    """
    _check_input(logits, "logits", who)
    reduction = check_reduction(reduction, who)
    eps = checks.real(label_smoothing, "label_smoothing", who, 0, 1)
    weight = _class_weight(weight, logits, who)
    if hasattr(targets, "dtype") and targets.dtype.kind == "f":
        if isinstance(ignore_index, numbers.Integral) and ignore_index >= 0:     # as PyTorch refuses it
            raise ValueError(f"{who}: ignore_index is not supported with class-probability (float) targets,"
                             f" got ignore_index={ignore_index}")
        return _cross_entropy_probabilities(logits, targets, weight, reduction, eps, who)
    index, valid = _class_targets(targets, logits, ignore_index, who)
    log_p, _ = log_softmax_forward(logits, dim=1, who=who)
    xp = backend.array_module(logits)
    tw = _target_weight(index, valid, weight, logits.dtype)
    at_target = _at_target(index)
    loss = -(1 - eps) * tw * log_p[at_target]
    if eps:
        smooth = -(log_p if weight is None else log_p * _class_axis(weight, logits.ndim)).sum(axis=1)
        loss = loss + smooth * (eps / logits.shape[1])
    loss = xp.where(valid, loss, 0).astype(logits.dtype, copy=False)
    total = tw.sum()
    return reduce(loss, reduction, total), ClassTargetCache(log_p, at_target, tw, valid, weight, eps,
                                                                reduction, total)


def _class_axis(weight, ndim):
    """weight (C,) shaped (1, C, 1, ...) to broadcast against an (N, C, *) array."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


def _cross_entropy_probabilities(logits, targets, weight, reduction, eps, who):
    if tuple(targets.shape) != tuple(logits.shape):
        raise ValueError(
            f"{who}: expected targets as class indices (an integer array of shape"
            f" {(logits.shape[0],) + tuple(logits.shape[2:])}) or class probabilities (a float array of"
            f" shape {tuple(logits.shape)}), got a {targets.dtype} array of shape {tuple(targets.shape)}")
    log_p, _ = log_softmax_forward(logits, dim=1, who=who)
    c = logits.shape[1]
    q = targets.astype(logits.dtype, copy=False)
    if eps:
        q = q * (1 - eps) + eps / c
    if weight is not None:
        q = q * _class_axis(weight, logits.ndim)
    loss = -(log_p * q).sum(axis=1)
    total = logits.size // c if c else 0
    return reduce(loss, reduction, total), ProbTargetCache(log_p, q, reduction, total)


def cross_entropy_backward(dloss, cache):
    xp = backend.array_module(cache.log_p)
    u = upstream(dloss, cache.reduction, cache.total)
    p = xp.exp(cache.log_p)
    if isinstance(cache, ProbTargetCache):
        q = cache.target
        return ((p * q.sum(axis=1, keepdims=True) - q) * _per_class(u)).astype(p.dtype, copy=False)
    tw, valid, weight, eps = cache.target_weight, cache.valid, cache.weight, cache.label_smoothing
    c = p.shape[1]
    a = tw * (1 - eps)                                    # in p's dtype, as tw is
    if eps:
        a += (eps / c * float(c if weight is None else weight.sum())) * valid
    grad = p * a[:, None]
    if eps:
        grad -= (eps / c) * (1 if weight is None else _class_axis(weight, p.ndim)) * valid[:, None]
    grad[cache.at_target] -= (1 - eps) * tw
    # each row times its upstream gradient; ignored rows times 0, not inf (when every target is ignored)
    grad *= _per_class(xp.where(valid, u, 0).astype(p.dtype, copy=False))
    return grad


__all__ = ["nll_forward", "nll_backward", "cross_entropy_forward", "cross_entropy_backward"]
