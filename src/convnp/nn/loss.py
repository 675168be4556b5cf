"""The base of the loss layers: ``loss = loss_fn(pred, target)``, ``loss_fn.backward()`` d loss / d pred.

    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())

The losses themselves: ``classification_loss`` (CrossEntropyLoss, NLLLoss, BCELoss,
BCEWithLogitsLoss, KLDivLoss) and ``regression_loss`` (MSELoss, L1Loss, SmoothL1Loss, HuberLoss).
"""
import numbers

import numpy as np

from .. import functional as F
from .module import Layer


class Loss(Layer):
    """Base of the losses: a Layer without parameters whose call takes (pred, target).

    Args: reduction='mean' | 'sum' | 'none' (how the elementwise losses are combined).
    ``forward`` returns the loss as a Python float ('mean', 'sum') or as an array ('none')
    and keeps what ``backward`` needs. ``backward(dloss=None)`` returns the gradient with
    respect to ``pred``, in ``pred``'s dtype; dloss is the upstream gradient: a number for
    'mean' and 'sum', an array of the loss's shape for 'none'; None means 1 (the loss is
    what is minimised). Losses whose target may come from a model too (MSELoss, L1Loss,
    SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss) take ``target_grad=True`` and then
    return (d pred, d target).
    """

    _reductions = F.reduction.REDUCTIONS

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = F.check_reduction(reduction, type(self).__name__, self._reductions)

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def _result(self, loss):
        """What forward returns: the array for reduction='none', a Python float otherwise."""
        return loss if self.reduction == "none" else float(loss)

    def _upstream(self, dloss, loss_shape, reduction):
        """dloss checked against the forward's reduction: None means 1 (ones for 'none')."""
        who = type(self).__name__
        if dloss is None:
            return 1.0
        if reduction != "none":
            if isinstance(dloss, numbers.Real) and not isinstance(dloss, bool):
                return float(dloss)
            if hasattr(dloss, "shape") and np.ndim(dloss) == 0:
                return float(dloss)
            raise ValueError(f"{who}.backward: expected a number as dloss for reduction={reduction!r},"
                             f" got {_describe(dloss)}")
        if not hasattr(dloss, "shape") or tuple(dloss.shape) != tuple(loss_shape):
            raise ValueError(f"{who}.backward: expected dloss of the loss's shape {tuple(loss_shape)}"
                             f" (reduction='none'), got {_describe(dloss)}")
        return dloss

    def output_shape(self, input_shape):
        return tuple(input_shape) if self.reduction == "none" else ()

    def config(self):
        return {"reduction": self.reduction}


def _describe(value):
    shape = getattr(value, "shape", None)
    return f"an array of shape {tuple(shape)}" if shape is not None else repr(value)


def weight_buffer(weight, what, who, ndim=None):
    """A loss's weight as a float array (lists become float64), or None; TypeError/ValueError otherwise."""
    if weight is None:
        return None
    if isinstance(weight, (numbers.Number, str, bytes)):
        hint = " (label smoothing is the keyword argument label_smoothing=)" if what == "weight" and ndim == 1 else ""
        raise TypeError(f"{who}: {what} must be an array or None, got {weight!r}{hint}")
    arr = np.array(weight)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float64)
    if arr.dtype.kind != "f":
        raise TypeError(f"{who}: {what} must be an array of numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{who}: {what} must be a {ndim}-d array (one value per class), got shape {arr.shape}")
    return arr
