"""ONNX converters of LayerNorm, GroupNorm, InstanceNorm2d and LocalResponseNorm; see export_layers.py."""
import numpy as np

from .. import nn
from .export_layers import Unsupported, exports, intermediate


def _affine(ex, s, shape):
    """(scale, bias): the layer's parameters (initializers), or fixed ones and zeros (Constants)."""
    layer = s.layer
    weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
    scale = ex.param(weight) if weight is not None else ex.fixed(f"{s.path}.ones", np.ones(shape, ex.dtype))
    shift = ex.param(bias) if bias is not None else ex.fixed(f"{s.path}.zeros", np.zeros(shape, ex.dtype))
    return scale, shift


@exports(nn.LayerNorm)
def layer_norm(ex, s):
    """LayerNormalization over the last len(normalized_shape) axes (opset 17 on)."""
    if ex.opset < 17:
        raise Unsupported(f"LayerNormalization needs opset 17 or later, got {ex.opset}")
    shape = s.layer.normalized_shape
    scale, shift = _affine(ex, s, shape)
    ex.node("LayerNormalization", [s.ins[0], scale, shift], s.outs, s.name, axis=-len(shape),
            epsilon=float(s.layer.eps))


@exports(nn.GroupNorm)
def group_norm(ex, s):
    """GroupNormalization with per-channel scale (opset 21 on); before, as PyTorch's own exporter
    writes it: reshape to (N, G, -1, 1), InstanceNormalization, reshape back, per-channel affine."""
    layer, in_shape = s.layer, s.in_shapes[0]
    c, g = layer.num_channels, layer.num_groups
    if ex.opset >= 21:
        scale, shift = _affine(ex, s, (c,))
        ex.node("GroupNormalization", [s.ins[0], scale, shift], s.outs, s.name, num_groups=g,
                epsilon=float(layer.eps))
        return
    grouped = intermediate(ex, s, "Reshape", [s.ins[0], ex.ints([0, g, -1, 1], f"{s.name}.grouped")], "grouped")
    ones, zeros = (ex.fixed(f"{s.path}.{n}", f(g, ex.dtype)) for n, f in (("ones", np.ones), ("zeros", np.zeros)))
    normed = intermediate(ex, s, "InstanceNormalization", [grouped, ones, zeros], "normed", epsilon=float(layer.eps))
    if not layer.affine:
        ex.node("Reshape", [normed, ex.ints([0, *in_shape[1:]], f"{s.name}.shape")], s.outs, s.name)
        return
    back = intermediate(ex, s, "Reshape", [normed, ex.ints([0, *in_shape[1:]], f"{s.name}.shape")], "normalized")
    per_channel = (c,) + (1,) * (len(in_shape) - 2)
    weight = ex.converted(layer.weight, layer.weight.data.reshape(per_channel))
    bias = ex.converted(layer.bias, layer.bias.data.reshape(per_channel))
    ex.node("Add", [intermediate(ex, s, "Mul", [back, weight], "scaled"), bias], s.outs, s.name)


@exports(nn.InstanceNorm2d)
def instance_norm(ex, s):
    """InstanceNormalization; with running statistics in eval mode, the BatchNormalization formula."""
    layer = s.layer
    scale, shift = _affine(ex, s, (layer.num_features,))
    if layer.track_running_stats:
        mean = ex.buffer(s.path, "running_mean", layer.running_mean)
        var = ex.buffer(s.path, "running_var", layer.running_var)
        ex.node("BatchNormalization", [s.ins[0], scale, shift, mean, var], s.outs, s.name, epsilon=float(layer.eps))
        return
    ex.node("InstanceNormalization", [s.ins[0], scale, shift], s.outs, s.name, epsilon=float(layer.eps))


@exports(nn.LocalResponseNorm)
def local_response_norm(ex, s):
    """LRN: the same window as PyTorch's for odd sizes (for even ones ONNX's is one channel later)."""
    layer = s.layer
    if layer.size % 2 == 0:
        raise Unsupported(f"size={layer.size} is even: ONNX's LRN window then starts one channel later than"
                          " PyTorch's (size // 2 before the channel)")
    ex.node("LRN", s.ins, s.outs, s.name, size=layer.size, alpha=float(layer.alpha), beta=float(layer.beta),
            bias=float(layer.k))
