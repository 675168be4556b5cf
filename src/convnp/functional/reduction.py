"""How a loss reduces its elementwise values: PyTorch's ``reduction='mean' | 'sum' | 'none'``.

Every loss computes one value per element (or per sample), then
  'none':  returns them as they are,
  'sum':   returns their sum,
  'mean':  returns their sum divided by a total: the number of values, or what the loss says
           (the sum of the class weights for a weighted cross-entropy, N for 'batchmean').
Backward runs the other way: each elementwise value receives dloss ('sum'), dloss / total
('mean') or its own entry of dloss ('none').
"""
import numpy as np

from .. import backend

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, who, allowed=REDUCTIONS):
    """Return ``reduction`` if it is one of ``allowed``; ValueError naming them otherwise."""
    if not isinstance(reduction, str) or reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ValueError(f"{who}: reduction must be {names}, got {reduction!r}")
    return reduction


def reduce(loss, reduction, total=None):
    """The reduced loss (a 0-d array in loss's dtype for 'mean' and 'sum', loss itself for 'none').

    'mean' divides by ``total`` (default: loss.size); 0 / 0 gives NaN, as in PyTorch.
    """
    if reduction == "none":
        return loss
    xp = backend.array_module(loss)
    summed = xp.asarray(loss.sum(), dtype=loss.dtype)
    if reduction == "sum":
        return summed
    total = loss.size if total is None else total
    with np.errstate(invalid="ignore", divide="ignore"):
        return (summed / total).astype(loss.dtype, copy=False)


def upstream(dloss, reduction, total=None, size=None):
    """The gradient each elementwise loss receives: dloss / total ('mean'), dloss otherwise.

    ``total`` defaults to ``size`` (the number of elementwise values). For 'none' dloss is
    an array of the elementwise losses' shape (or a scalar meaning that value everywhere).
    """
    if reduction != "mean":
        return dloss
    total = size if total is None else total
    with np.errstate(invalid="ignore", divide="ignore"):      # a total of 0 gives inf or NaN, as in PyTorch
        # a Python float: a NumPy float64 scalar would turn float32 gradients into float64
        return float(np.float64(dloss) / np.float64(total))


__all__ = ["REDUCTIONS", "check_reduction", "reduce", "upstream"]
