"""Batch normalisation layers: BatchNorm1d for (N, C) or (N, C, L), BatchNorm2d for (N, C, H, W)."""
import numpy as np

from .. import functional as F
from .. import checks
from .. import init
from .module import Layer, Parameter


class RunningStatsNorm(Layer):
    """What batch and instance normalisation share: their arguments, the affine weight and bias,
    the running statistics (buffers), config() and PyTorch's repr. ``affine`` and
    ``track_running_stats`` arrive checked by the subclass.

    Parameters (affine): weight (C,) = 1, bias (C,) = 0.
    Buffers (track_running_stats): running_mean (C,) = 0, running_var (C,) = 1,
    num_batches_tracked () int64; none saved without track_running_stats, as PyTorch.
    """

    _buffers = ("running_mean", "running_var", "num_batches_tracked")
    _repr_positional = 1

    def __init__(self, num_features, eps, momentum, affine, track_running_stats):
        super().__init__()
        who = type(self).__name__
        self.num_features = checks.positive_int(num_features, "num_features", who)
        self.eps = checks.real(eps, "eps", who, low=0)
        self.momentum = None if momentum is None else checks.real(momentum, "momentum", who, 0, 1)
        self.affine, self.track_running_stats = affine, track_running_stats
        c = self.num_features
        self.weight = Parameter(init.full(c, 1.0)) if self.affine else None
        self.bias = Parameter(init.full(c, 0.0)) if self.affine else None
        if self.track_running_stats:
            self.running_mean = init.full(c, 0.0)
            self.running_var = init.full(c, 1.0)
            self.num_batches_tracked = np.zeros((), dtype=np.int64)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
            self._buffers = ()

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}

    def extra_repr(self):
        # PyTorch shows every argument of a batch or instance norm layer, defaults included
        c = self.config()
        return (f"{c['num_features']}, eps={c['eps']}, momentum={c['momentum']}, "
                f"affine={c['affine']}, track_running_stats={c['track_running_stats']}")


class _BatchNorm(RunningStatsNorm):
    """Shared body of BatchNorm1d and BatchNorm2d (they differ only in the input shapes accepted).

    Training mode normalises with the batch statistics and updates the running ones;
    eval mode normalises with the running statistics (or with the batch statistics
    when ``track_running_stats=False``, as PyTorch does).
    """

    _ndims = ()            # input ndims accepted
    _pattern = ""          # the expected input shape, "{C}" standing for num_features

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__(num_features, eps, momentum, bool(affine), bool(track_running_stats))

    def forward(self, x):
        checks.input_shape(x, self, self._pattern.format(C=self.num_features), self._ndims,
                              channels=self.num_features)
        reference = self.weight.data if self.affine else self.running_mean
        if reference is not None:
            checks.same_dtype(x, reference, self)
        update = self.training and self.track_running_stats
        momentum = 0.0
        if update:
            # momentum=None: running statistics are the plain average of all batches so far
            seen = int(self.num_batches_tracked) + 1
            momentum = 1.0 / seen if self.momentum is None else self.momentum
        y, self._cache = F.batch_norm_forward(
            x, self.running_mean, self.running_var,
            self.weight.data if self.affine else None, self.bias.data if self.affine else None,
            training=self.training or not self.track_running_stats,
            momentum=momentum, eps=self.eps, who=self, allreduce=self._allreduce(),
        )
        if update:
            self.num_batches_tracked += 1
        return y

    def _allreduce(self):
        """None: this process's batch statistics (SyncBatchNorm sums them over every process)."""
        return None

    def backward(self, dy, input_grad=True):
        dx, dweight, dbias = F.batch_norm_backward(dy, self.take_cache())
        self._accumulate(self.weight, dweight)
        self._accumulate(self.bias, dbias)
        return dx


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, per channel C.

    Args: num_features (C), eps=1e-5, momentum=0.1 (None: cumulative average),
    affine=True (learn weight and bias), track_running_stats=True.
    Shape: input (N, C) or (N, C, L) -> output same.
    Parameters: weight (C,) = 1, bias (C,) = 0.
    Buffers: running_mean (C,) = 0, running_var (C,) = 1, num_batches_tracked () int64.
    forward: y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over N (and L);
    see convnp.functional.batch_norm_forward for the running statistics and the backward.
    """

    _ndims = (2, 3)
    _pattern = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) feature maps, per channel C.

    Args: num_features (C), eps=1e-5, momentum=0.1 (None: cumulative average),
    affine=True (learn weight and bias), track_running_stats=True.
    Shape: input (N, C, H, W) -> output same.
    Parameters: weight (C,) = 1, bias (C,) = 0.
    Buffers: running_mean (C,) = 0, running_var (C,) = 1, num_batches_tracked () int64.
    forward: y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over N, H and W;
    see convnp.functional.batch_norm_forward for the running statistics and the backward.
    """

    _ndims = (4,)
    _pattern = "(N, {C}, H, W)"
