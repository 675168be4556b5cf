"""Resizing layers (no parameters): Upsample, PixelShuffle, PixelUnshuffle, as torch.nn's."""
from .. import checks
from .. import functional as F
from ..functional.resize import check_resize_args, output_size_and_scales
from .module import Layer


class Upsample(Layer):
    """Resize H and W by nearest or bilinear interpolation (torch.nn.Upsample).

    Args: size (int or pair) or scale_factor (number or pair): exactly one; mode 'nearest' or
    'bilinear'; align_corners (bilinear only: True maps the corner pixels of input and output
    onto each other); recompute_scale_factor (True: interpolate with input/output size ratios
    instead of 1/scale_factor).
    Shape: (N, C, H, W) -> (N, C, H_out, W_out), H_out = size or floor(H * scale_factor).
    The source-index rules and the backward: functional/resize.py, docs/upsampling.md.
    Example: Upsample(scale_factor=2) repeats every pixel into a 2x2 block.
    """

    _repr_positional = 0

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        check_resize_args(size, scale_factor, mode, align_corners, recompute_scale_factor, "Upsample")
        self.size = tuple(size) if isinstance(size, list) else size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = None if scale_factor is None else float(scale_factor)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def config(self):
        listed = {k: list(v) if isinstance(v, tuple) else v for k, v in (("size", self.size),
                                                                          ("scale_factor", self.scale_factor))}
        return {**listed, "mode": self.mode, "align_corners": self.align_corners,
                "recompute_scale_factor": self.recompute_scale_factor}

    def forward(self, x):
        y, self._cache = F.interpolate_forward(x, self.size, self.scale_factor, self.mode, self.align_corners,
                                               self.recompute_scale_factor, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.interpolate_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        """(N, C, H_out, W_out) for (N, C, H, W); N may be None."""
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"{self}: expected input (N, C, H, W), got {shape}")
        out, _ = output_size_and_scales(shape, self.size, self.scale_factor, self.recompute_scale_factor, self)
        return shape[:2] + tuple(out)


class PixelShuffle(Layer):
    """Rearrange (*, C*r*r, H, W) into (*, C, H*r, W*r) (torch.nn.PixelShuffle): sub-pixel convolution's upsampling.

    Args: upscale_factor r.
    forward:  y[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w];  backward: its inverse.
    """

    _repr_positional = 1

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = checks.positive_int(upscale_factor, "upscale_factor", "PixelShuffle")

    def config(self):
        return {"upscale_factor": self.upscale_factor}

    def forward(self, x):
        y, self._cache = F.pixel_shuffle_forward(x, self.upscale_factor, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.pixel_shuffle_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        *lead, c, h, w = _at_least_3d(self, input_shape)
        r = self.upscale_factor
        if c is not None and c % (r * r):
            raise ValueError(f"{self}: expected input (*, C*{r * r}, H, W), got {tuple(input_shape)}")
        return (*lead, _times(c, 1 / (r * r)), _times(h, r), _times(w, r))


class PixelUnshuffle(Layer):
    """Rearrange (*, C, H*r, W*r) into (*, C*r*r, H, W) (torch.nn.PixelUnshuffle): the inverse of PixelShuffle.

    Args: downscale_factor r.
    forward:  y[..., c*r*r + i*r + j, h, w] = x[..., c, h*r + i, w*r + j];  backward: its inverse.
    """

    _repr_positional = 1

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = checks.positive_int(downscale_factor, "downscale_factor", "PixelUnshuffle")

    def config(self):
        return {"downscale_factor": self.downscale_factor}

    def forward(self, x):
        y, self._cache = F.pixel_unshuffle_forward(x, self.downscale_factor, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.pixel_unshuffle_backward(dy, self.take_cache())

    def output_shape(self, input_shape):
        *lead, c, h, w = _at_least_3d(self, input_shape)
        r = self.downscale_factor
        if any(n is not None and n % r for n in (h, w)):
            raise ValueError(f"{self}: expected input (*, C, H, W) with H and W divisible by {r},"
                             f" got {tuple(input_shape)}")
        return (*lead, _times(c, r * r), _times(h, 1 / r), _times(w, 1 / r))


def _at_least_3d(layer, input_shape):
    shape = tuple(input_shape)
    if len(shape) < 3:
        raise ValueError(f"{layer}: expected input (*, C, H, W), got {shape}")
    return shape


def _times(n, factor):
    """n * factor as an int (exact: the factors divide), None for an unknown size."""
    return None if n is None else round(n * factor)
