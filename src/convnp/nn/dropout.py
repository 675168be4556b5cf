"""Dropout layers (elements, or whole channels): inverted dropout while training, identity in eval mode."""
from collections import namedtuple

from .. import functional as F
from .. import init
from .. import checks
from .module import Layer

# The mask of one forward (None in eval mode or with p = 0); a tuple, so that an identity
# forward still leaves a cache that tells backward a forward ran.
DropoutCache = namedtuple("DropoutCache", "mask")


class Dropout(Layer):
    """Zero each element with probability p while training; scale the rest by 1 / (1 - p).

    Args: p=0.5 (in [0, 1)), rng=None (seed, Generator or None): the layer keeps its own
    Generator, so a seed fixes the sequence of masks and nothing global is touched.
    Shape: any -> same.
    forward (training): y = x * mask, mask = Bernoulli(1 - p) / (1 - p) in x's dtype
    forward (eval):     y = x
    backward: dx = dy * mask (the mask of the last forward)
    """

    _repr_positional = 0

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = checks.real(p, "p", type(self).__name__, 0, 1, high_open=True)
        self._rng = init.as_rng(rng)

    def config(self):
        return {"p": self.p}

    def extra_repr(self):
        return f"p={self.p}"                       # PyTorch always shows p: "Dropout(p=0.5)"

    def forward(self, x):
        y, mask = F.dropout_forward(x, self.p, self._rng, self.training, who=self)
        self._cache = DropoutCache(mask)
        return y

    def backward(self, dy, input_grad=True):
        return F.dropout_backward(dy, self.take_cache().mask)


class Dropout2d(Dropout):
    """Zero whole channels with probability p while training; scale the rest by 1 / (1 - p).

    Neighbouring pixels of a feature map are strongly correlated, so dropping single values
    regularises a convolution little; dropping the whole map does (Tompson et al., 2015).
    Args: p=0.5 (in [0, 1)), rng=None (seed, Generator or None; the layer keeps its own Generator).
    Shape: (N, C, H, W) -> same.
    forward (training): y = x * mask, mask (N, C, 1, 1) = Bernoulli(1 - p) / (1 - p) in x's dtype
    forward (eval):     y = x
    backward: dx = dy * mask
    """

    def forward(self, x):
        y, mask = F.dropout2d_forward(x, self.p, self._rng, self.training, who=self)
        self._cache = DropoutCache(mask)
        return y

    def backward(self, dy, input_grad=True):
        return F.dropout2d_backward(dy, self.take_cache().mask)
