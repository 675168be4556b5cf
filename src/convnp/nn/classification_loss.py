"""Classification losses: CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss and KLDivLoss.

Each is a Loss (see ``loss``) that calls its pure pair in ``convnp.functional``. Class and
element weights are buffers named as PyTorch names them (``weight``, ``pos_weight``).
"""
import numbers

from .. import functional as F
from .. import checks
from .loss import Loss, weight_buffer


def _ignore_index(value, who):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{who}: ignore_index must be an int, got {value!r}")
    return int(value)


def _listed(arr):
    return None if arr is None else arr.tolist()


class _ClassIndexLoss(Loss):
    """What CrossEntropyLoss and NLLLoss share: class weights, ignore_index, the loss's shape."""

    _repr_positional = 0

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        who = type(self).__name__
        self.weight = weight_buffer(weight, "weight", who, ndim=1)
        self.ignore_index = _ignore_index(ignore_index, who)
        self._buffers = ("weight",) if self.weight is not None else ()

    def config(self):
        return {"weight": _listed(self.weight), "ignore_index": self.ignore_index, "reduction": self.reduction}

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        return shape[:1] + shape[2:] if self.reduction == "none" else ()


class CrossEntropyLoss(_ClassIndexLoss):
    """Cross-entropy of raw class scores (logits) against class indices or class probabilities.

    The log-softmax over axis 1 is fused in, computed stably; do not put a Softmax before it.
    Args: weight=None (C,) class weights; ignore_index=-100 (index targets with this value
    count for nothing); reduction='mean' | 'sum' | 'none'; label_smoothing=0.0 (eps in [0, 1]).
    Shape: pred (N, C) or (N, C, H, W) (any (N, C, *)) float logits; target (N,) / (N, H, W)
    integer class indices, or a float array of pred's shape holding class probabilities
    -> float, or (N,) / (N, H, W) for reduction='none'.
    'mean' divides by the summed weights of the targets that are not ignored (index targets)
    or by the number of samples and positions (probability targets), as PyTorch does.
    backward: dlogits = u * (a * softmax(logits) - b), see functional.cross_entropy_forward.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = checks.real(label_smoothing, "label_smoothing", type(self).__name__, 0, 1)

    def config(self):
        return {**super().config(), "label_smoothing": self.label_smoothing}

    def forward(self, pred, target):
        loss, self._cache = F.cross_entropy_forward(
            pred, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
            label_smoothing=self.label_smoothing, who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None):
        cache = self.take_cache()
        shape = cache.log_p.shape[:1] + cache.log_p.shape[2:]
        return F.cross_entropy_backward(self._upstream(dloss, shape, cache.reduction), cache)


class NLLLoss(_ClassIndexLoss):
    """Negative log-likelihood of class indices given log-probabilities (after LogSoftmax(dim=1)).

    LogSoftmax + NLLLoss equals CrossEntropyLoss.
    Args: weight=None (C,); ignore_index=-100; reduction='mean' | 'sum' | 'none'.
    Shape: pred (N, C) or (N, C, H, W) float log-probabilities, target (N,) / (N, H, W) integer
    -> float, or (N,) / (N, H, W) for reduction='none'.
    backward: dpred[i, target_i] = -u_i * weight[target_i], 0 elsewhere ('mean': u = 1 / sum of
    the targets' weights).
    """

    def forward(self, pred, target):
        loss, self._cache = F.nll_forward(pred, target, weight=self.weight, ignore_index=self.ignore_index,
                                          reduction=self.reduction, who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None):
        cache = self.take_cache()
        return F.nll_backward(self._upstream(dloss, cache.shape[:1] + cache.shape[2:], cache.reduction), cache)


class BCELoss(Loss):
    """Binary cross-entropy of probabilities in [0, 1] (after a Sigmoid) against float targets.

    Args: weight=None (an array broadcastable to pred's shape); reduction.
    Shape: pred any float, every value in [0, 1]; target same shape float -> float, or pred's
    shape for reduction='none'.
    forward: -weight * (t * log p + (1 - t) * log(1 - p)), each log clamped at -100 as in PyTorch.
    backward: dpred = u * weight * (p - t) / max(p (1 - p), 1e-12); target_grad=True also
    returns dtarget = u * weight * (log(1 - p) - log p).
    Raises: ValueError for a prediction outside [0, 1].
    """

    _repr_positional = 0

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.weight = weight_buffer(weight, "weight", type(self).__name__)
        self._buffers = ("weight",) if self.weight is not None else ()

    def config(self):
        return {"weight": _listed(self.weight), "reduction": self.reduction}

    def forward(self, pred, target):
        loss, self._cache = F.binary_cross_entropy_forward(pred, target, weight=self.weight,
                                                           reduction=self.reduction, who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None, target_grad=False):
        cache = self.take_cache()
        return F.binary_cross_entropy_backward(self._upstream(dloss, cache.p.shape, cache.reduction), cache,
                                               target_grad)


class BCEWithLogitsLoss(Loss):
    """Sigmoid and binary cross-entropy in one numerically stable step (logits in, no Sigmoid before).

    Args: weight=None (broadcastable to pred's shape); reduction; pos_weight=None (weight of
    the positive term, broadcastable to pred's shape: (C,) for (N, C) logits, (C, 1, 1) for
    (N, C, H, W)).
    Shape: pred any float logits; target same shape float -> float, or pred's shape for 'none'.
    forward: weight * ((1 - t) * x - (1 + (pos_weight - 1) * t) * log sigmoid(x))
    backward: dpred = u * weight * ((1 + (pos_weight - 1) * t) * sigmoid(x) - pos_weight * t);
    target_grad=True also returns dtarget = u * weight * (log sigmoid(-x) - pos_weight * log sigmoid(x)).
    """

    _repr_positional = 0

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        who = type(self).__name__
        self.weight = weight_buffer(weight, "weight", who)
        self.pos_weight = weight_buffer(pos_weight, "pos_weight", who)
        self._buffers = tuple(name for name in ("weight", "pos_weight") if getattr(self, name) is not None)

    def config(self):
        return {"weight": _listed(self.weight), "reduction": self.reduction, "pos_weight": _listed(self.pos_weight)}

    def forward(self, pred, target):
        loss, self._cache = F.binary_cross_entropy_with_logits_forward(
            pred, target, weight=self.weight, pos_weight=self.pos_weight, reduction=self.reduction,
            who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None, target_grad=False):
        cache = self.take_cache()
        return F.binary_cross_entropy_with_logits_backward(
            self._upstream(dloss, cache.x.shape, cache.reduction), cache, target_grad)


class KLDivLoss(Loss):
    """KL divergence KL(target || q) given log q (after LogSoftmax) (torch.nn.KLDivLoss).

    Args: reduction='mean' (over all elements, as PyTorch) | 'batchmean' (sum / N: the KL
    divergence per sample, what the math means) | 'sum' | 'none'; log_target=False (True:
    the target is given as log-probabilities too).
    Shape: pred any float log-probabilities; target same shape float -> float, or pred's
    shape for 'none'.
    forward: target * (log target - pred)  (0 where target = 0), or exp(t) * (t - pred) with log_target.
    backward: dpred = -u * target (or -u * exp(target)).
    """

    _reductions = F.kl_div.KL_REDUCTIONS

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        if not isinstance(log_target, bool):
            raise TypeError(f"KLDivLoss: log_target must be a bool, got {log_target!r}")
        self.log_target = log_target

    def config(self):
        return {"reduction": self.reduction, "log_target": self.log_target}

    def forward(self, pred, target):
        loss, self._cache = F.kl_div_forward(pred, target, reduction=self.reduction, log_target=self.log_target,
                                             who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None):
        cache = self.take_cache()
        return F.kl_div_backward(self._upstream(dloss, cache.target.shape, cache.reduction), cache)
