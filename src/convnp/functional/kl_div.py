"""Kullback-Leibler divergence between a target distribution and predicted log-probabilities."""
from collections import namedtuple

import numpy as np

from .. import backend
from .. import checks
from .binary_cross_entropy import check_target
from .reduction import check_reduction, reduce, upstream

KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")

KLDivCache = namedtuple("KLDivCache", "target log_target reduction total")


def kl_div_forward(log_q, target, *, reduction="mean", log_target=False, who="kl_div"):
    """KL(target || q) elementwise, with q given as log-probabilities (torch.nn.functional.kl_div).

    Args: log_q float any shape (e.g. log_softmax output); target float of the same shape:
    probabilities, or log-probabilities when log_target; reduction 'mean' (over all elements,
    as PyTorch does), 'batchmean' (sum / N, the true KL divergence per sample), 'sum' or 'none'.
    Shape: log_q any, target same -> loss () or log_q's shape for reduction='none'.
    forward:  l = t * (log t - log_q)  (0 where t = 0)       or, log_target: l = exp(t) * (t - log_q)
    backward: dlog_q = -u * t                                or, log_target: dlog_q = -u * exp(t)
              u = dloss / log_q.size ('mean'), dloss / N ('batchmean'), dloss otherwise
    Cache: KLDivCache(target, log_target, reduction, total).
    """
    checks.floating(log_q, who)
    t = check_target(log_q, target, who)
    reduction = check_reduction(reduction, who, KL_REDUCTIONS)
    xp = backend.array_module(log_q)
    if log_target:
        loss = xp.exp(t) * (t - log_q)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):     # t log t = 0 at t = 0 (xlogy)
            loss = xp.where(t == 0, 0, t * xp.log(t)) - t * log_q
    total = log_q.size
    if reduction == "batchmean":
        total = log_q.shape[0] if log_q.ndim else 1
    return reduce(loss, "mean" if reduction == "batchmean" else reduction, total), \
        KLDivCache(t, bool(log_target), reduction, total)


def kl_div_backward(dloss, cache):
    xp = backend.array_module(cache.target)
    reduction = "mean" if cache.reduction == "batchmean" else cache.reduction
    u = upstream(dloss, reduction, cache.total)
    t = xp.exp(cache.target) if cache.log_target else cache.target
    return (-t * u).astype(cache.target.dtype, copy=False)


__all__ = ["KL_REDUCTIONS", "kl_div_forward", "kl_div_backward"]
