"""Instance normalisation of (N, C, H, W) feature maps (style transfer, GAN generators)."""
from .. import functional as F
from .. import checks
from .layer_norm import _data, _flag
from .norm import RunningStatsNorm


class InstanceNorm2d(RunningStatsNorm):
    """Normalise each channel of each sample over its H x W positions (torch.nn.InstanceNorm2d).

    Args: num_features (C), eps=1e-5, momentum=0.1 (None: the running statistics stay as they
    are, as in PyTorch), affine=False (learn weight and bias), track_running_stats=False (keep
    running statistics and use them in eval mode).
    Shape: input (N, C, H, W) -> output same.
    Parameters (affine): weight (C,) = 1, bias (C,) = 0.
    Buffers (track_running_stats): running_mean (C,) = 0, running_var (C,) = 1,
    num_batches_tracked () int64 (kept at 0, as PyTorch keeps it).
    forward: y = (x - mean) / sqrt(var + eps) * weight + bias with the statistics of each
    (sample, channel), or the running ones in eval mode when tracked; see
    convnp.functional.instance_norm_forward.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        who = "InstanceNorm2d"
        super().__init__(num_features, eps, momentum, _flag(affine, "affine", who),
                         _flag(track_running_stats, "track_running_stats", who))

    def forward(self, x):
        checks.input_shape(x, self, f"(N, {self.num_features}, H, W)", 4, channels=self.num_features)
        reference = self.weight.data if self.affine else self.running_mean
        if reference is not None:
            checks.same_dtype(x, reference, self)
        y, self._cache = F.instance_norm_forward(
            x, self.running_mean, self.running_var, _data(self.weight), _data(self.bias),
            use_input_stats=self.training or not self.track_running_stats,
            momentum=0.0 if self.momentum is None else self.momentum, eps=self.eps, who=self)
        return y

    def backward(self, dy, input_grad=True):
        dx, dweight, dbias = F.instance_norm_backward(dy, self.take_cache())
        self._accumulate(self.weight, dweight)
        self._accumulate(self.bias, dbias)
        return dx
