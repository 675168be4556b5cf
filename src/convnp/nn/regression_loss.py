"""Regression losses of d = pred - target: MSELoss, L1Loss, SmoothL1Loss and HuberLoss.

Each is a Loss (see ``loss``) that calls its pure pair in ``convnp.functional``. The target
may come from a model too: ``backward(target_grad=True)`` returns (d pred, d target), with
d target = -d pred.
"""
from .. import functional as F
from .. import checks
from .loss import Loss


class MSELoss(Loss):
    """Squared error (pred - target)^2, by default its mean over all elements.

    Args: reduction='mean' | 'sum' | 'none'.
    Shape: pred any float, target same shape float (cast to pred's dtype) -> float, or pred's
    shape for reduction='none'.
    backward: dpred = 2 * (pred - target) * u, u = 1 / pred.size for 'mean'.
    """

    _repr_positional = 0

    def forward(self, pred, target):
        loss, self._cache = F.mse_forward(pred, target, reduction=self.reduction, who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None, target_grad=False):
        cache = self.take_cache()
        return F.mse_backward(self._upstream(dloss, cache.diff.shape, cache.reduction), cache, target_grad)


class L1Loss(Loss):
    """Absolute error |pred - target|, by default its mean over all elements.

    Args: reduction='mean' | 'sum' | 'none'.
    Shape: as MSELoss.
    backward: dpred = sign(pred - target) * u (0 where pred = target, as in PyTorch).
    """

    _repr_positional = 0

    def forward(self, pred, target):
        loss, self._cache = F.l1_forward(pred, target, reduction=self.reduction, who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None, target_grad=False):
        cache = self.take_cache()
        return F.l1_backward(self._upstream(dloss, cache.diff.shape, cache.reduction), cache, target_grad)


class SmoothL1Loss(Loss):
    """0.5 * d^2 / beta where |d| < beta, |d| - 0.5 * beta elsewhere (Fast R-CNN).

    Args: reduction='mean' | 'sum' | 'none'; beta=1.0 (>= 0; 0 gives the L1 loss).
    Shape: as MSELoss.
    backward: dpred = clip(d / beta, -1, 1) * u.
    """

    _repr_positional = 0

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = checks.real(beta, "beta", type(self).__name__, low=0)

    def config(self):
        return {"reduction": self.reduction, "beta": self.beta}

    def forward(self, pred, target):
        loss, self._cache = F.smooth_l1_forward(pred, target, beta=self.beta, reduction=self.reduction,
                                                who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None, target_grad=False):
        cache = self.take_cache()
        return F.smooth_l1_backward(self._upstream(dloss, cache.diff.shape, cache.reduction), cache, target_grad)


class HuberLoss(Loss):
    """0.5 * d^2 where |d| < delta, delta * (|d| - 0.5 * delta) elsewhere.

    Args: reduction='mean' | 'sum' | 'none'; delta=1.0 (> 0).
    Shape: as MSELoss.
    backward: dpred = clip(d, -delta, delta) * u.
    """

    _repr_positional = 0

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = checks.real(delta, "delta", type(self).__name__, low=0, low_open=True)

    def config(self):
        return {"reduction": self.reduction, "delta": self.delta}

    def forward(self, pred, target):
        loss, self._cache = F.huber_forward(pred, target, delta=self.delta, reduction=self.reduction,
                                            who=type(self).__name__)
        return self._result(loss)

    def backward(self, dloss=None, target_grad=False):
        cache = self.take_cache()
        return F.huber_backward(self._upstream(dloss, cache.diff.shape, cache.reduction), cache, target_grad)
