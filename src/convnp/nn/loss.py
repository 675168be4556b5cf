"""Loss layers: ``loss = loss_fn(pred, target)`` gives a float, ``loss_fn.backward()`` d loss / d pred.

    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
"""
from .. import functional as F
from .. import checks
from .module import Layer


class Loss(Layer):
    """Base of the losses: a Layer without parameters whose call takes (pred, target).

    ``forward`` returns the loss as a Python float and keeps what ``backward`` needs;
    ``backward()`` takes no upstream gradient (the loss is the end of the chain) and
    returns the gradient with respect to ``pred``, in ``pred``'s dtype.
    """

    _fn = None      # staticmethod(F.<loss>_forward)
    _grad = None    # staticmethod(F.<loss>_backward)

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def _args(self):
        return ()

    def forward(self, pred, target):
        # named by class, not repr: "CrossEntropyLoss: target labels must be in [0, 9], got 10"
        loss, self._cache = self._fn(pred, target, *self._args(), who=type(self).__name__)
        return float(loss)

    def backward(self):
        return self._grad(1.0, self.take_cache())

    def output_shape(self, input_shape):
        return ()


class CrossEntropyLoss(Loss):
    """Mean cross-entropy of integer class targets given raw scores (logits).

    The log-softmax is fused in, computed stably; do not put a Softmax before it.
    Args: label_smoothing=0.0 (in [0, 1]: the target becomes (1 - eps) * onehot + eps / C).
    Shape: pred (N, C) float logits, target (N,) integer in [0, C) -> float.
    backward: dlogits = (softmax(logits) - smoothed onehot) / N
    """

    _fn = staticmethod(F.cross_entropy_forward)
    _grad = staticmethod(F.cross_entropy_backward)

    def __init__(self, label_smoothing=0.0):
        super().__init__()
        self.label_smoothing = checks.real(label_smoothing, "label_smoothing", "CrossEntropyLoss", 0, 1)

    def _args(self):
        return (self.label_smoothing,)

    def config(self):
        return {"label_smoothing": self.label_smoothing}


class NLLLoss(Loss):
    """Mean negative log-likelihood of integer class targets given log-probabilities.

    Use after LogSoftmax(dim=1); LogSoftmax + NLLLoss equals CrossEntropyLoss.
    Shape: pred (N, C) float log-probabilities, target (N,) integer in [0, C) -> float.
    backward: dpred[n, target_n] = -1 / N, 0 elsewhere
    """

    _fn = staticmethod(F.nll_forward)
    _grad = staticmethod(F.nll_backward)


class MSELoss(Loss):
    """Mean squared error over all elements.

    Shape: pred any float, target same shape float (cast to pred's dtype) -> float.
    backward: dpred = 2 * (pred - target) / pred.size
    """

    _fn = staticmethod(F.mse_forward)
    _grad = staticmethod(F.mse_backward)
