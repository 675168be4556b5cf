"""ONNX converters of the pooling layers (max, average, adaptive, unpooling); see export_layers.py.

Index conventions differ: PyTorch's (and convnp's) MaxPool2d indices are flat within each
(H, W) plane, ONNX's MaxPool Indices flat over the whole (N, C, H, W) input. An exported
MaxPool2d(return_indices=True) keeps ONNX's for a MaxUnpool that reads them and gives the rest
of the graph PyTorch's (ONNX's modulo H*W).
"""
from .. import nn
from .export_layers import Unsupported, exports, pair


def _window(layer, dilation=False):
    k, st, p = pair(layer.kernel_size), pair(layer.stride), pair(layer.padding)
    attrs = {"kernel_shape": k, "strides": st, "pads": [p[0], p[1], p[0], p[1]], "ceil_mode": int(layer.ceil_mode)}
    if dilation:
        attrs["dilations"] = pair(layer.dilation)
    return attrs


@exports(nn.MaxPool2d)
def max_pool2d(ex, s):
    attrs = _window(s.layer, dilation=True)
    if not s.layer.return_indices:
        ex.node("MaxPool", s.ins, s.outs, s.name, **attrs)
        return
    h, w = s.in_shapes[0][2:]
    raw = ex.value(s.name, "onnx_indices")
    ex.node("MaxPool", s.ins, [s.outs[0], raw], s.name, **attrs)
    ex.node("Mod", [raw, ex.ints([h * w], f"{s.name}.plane")], [s.outs[1]], ex.unique(f"{s.name}/Mod", "node"))
    ex.pool_indices[s.outs[1]] = (raw, (h, w))


@exports(nn.AvgPool2d)
def avg_pool2d(ex, s):
    ex.node("AveragePool", s.ins, s.outs, s.name, **_window(s.layer), count_include_pad=int(s.layer.count_include_pad))


@exports(nn.AdaptiveAvgPool2d)
def adaptive_avg_pool2d(ex, s):
    _adaptive(ex, s, "GlobalAveragePool", "AveragePool")


@exports(nn.AdaptiveMaxPool2d)
def adaptive_max_pool2d(ex, s):
    if s.layer.return_indices:
        raise Unsupported("return_indices=True (ONNX's GlobalMaxPool has no indices)")
    _adaptive(ex, s, "GlobalMaxPool", "MaxPool")


def _adaptive(ex, s, global_op, window_op):
    """Global pooling for output size 1, else fixed windows when the sizes divide evenly."""
    h, w = s.in_shapes[0][2:]
    oh, ow = s.out_shapes[0][2:]
    if (oh, ow) == (1, 1):
        ex.node(global_op, s.ins, s.outs, s.name)
    elif h % oh == 0 and w % ow == 0:
        kernel = [h // oh, w // ow]
        ex.node(window_op, s.ins, s.outs, s.name, kernel_shape=kernel, strides=kernel)
    else:
        raise Unsupported(f"output size ({oh}, {ow}) does not divide the traced input size ({h}, {w}), and"
                          " ONNX has no adaptive pooling with uneven windows; export with an input size"
                          " that is a multiple of the output size")


@exports(nn.MaxUnpool2d)
def max_unpool2d(ex, s):
    """MaxUnpool on the ONNX indices of the MaxPool2d that made them; an output size other than
    the default becomes the output_shape input (only with a fixed batch size)."""
    layer = s.layer
    source = ex.pool_indices.get(s.ins[1])
    if source is None:
        raise Unsupported("its indices must come from a MaxPool2d(return_indices=True) in the same model")
    raw, pooled_hw = source
    k, st, p = pair(layer.kernel_size), pair(layer.stride), pair(layer.padding)
    (n, c, h, w), (oh, ow) = s.in_shapes[0], s.out_shapes[0][2:]
    if (oh, ow) != tuple(pooled_hw):
        raise Unsupported(f"an output size {(oh, ow)} other than the pooled input's {tuple(pooled_hw)}: the flat"
                          " indices would address other positions")
    inputs = [s.ins[0], raw]
    if (oh, ow) != tuple((i - 1) * a + b - 2 * q for i, a, b, q in zip((h, w), st, k, p)):
        if ex.batch is not None:
            raise Unsupported("an output_size other than the default needs a fixed batch (dynamic_batch=False)")
        inputs.append(ex.ints([n, c, oh, ow], f"{s.name}.output_shape"))
    ex.node("MaxUnpool", inputs, s.outs, s.name, kernel_shape=k, strides=st, pads=[p[0], p[1], p[0], p[1]])
