"""ONNX converters of the layers that move pixels: Conv2d (padding modes), ConvTranspose2d, the pad
layers, Upsample, PixelShuffle and PixelUnshuffle; see export_layers.py."""
import numpy as np

from .. import nn
from ..functional.columns import resolve_padding
from .export_layers import Unsupported, exports, intermediate, pair

PAD_MODES = {"zeros": "constant", "constant": "constant", "reflect": "reflect", "replicate": "edge",
             "circular": "wrap"}


def pad(ex, s, x, rank, pads, mode, value=0.0, out=None):
    """A Pad node on the last two axes; ``pads`` (top, bottom, left, right); returns its output."""
    onnx_mode = PAD_MODES[mode]
    if onnx_mode == "wrap" and ex.opset < 19:
        raise Unsupported(f"circular padding needs opset 19 or later (Pad mode 'wrap'), got {ex.opset}")
    top, bottom, left, right = pads
    zeros = [0] * (rank - 2)
    inputs = [x, ex.ints(zeros + [top, left] + zeros + [bottom, right], f"{s.name}.pads")]
    if onnx_mode == "constant" and value != 0:
        inputs.append(ex.scalar(value))
    if out is None:
        return intermediate(ex, s, "Pad", inputs, "padded", mode=onnx_mode)
    ex.node("Pad", inputs, [out], s.name, mode=onnx_mode)
    return out


@exports(nn.Conv2d)
def conv2d(ex, s):
    """Conv with the padding resolved to explicit pads; a padding mode other than zeros is a Pad first."""
    l = s.layer
    k, st, d = pair(l.kernel_size), pair(l.stride), pair(l.dilation)
    top, bottom, left, right = resolve_padding(l.padding, k, st, d, repr(l))
    x, pads = s.ins[0], [top, left, bottom, right]
    mode = getattr(l, "padding_mode", "zeros")
    if mode != "zeros" and any(pads):
        x, pads = pad(ex, s, x, 4, (top, bottom, left, right), mode), [0, 0, 0, 0]
    ex.node("Conv", [x, ex.param(l.weight), ex.param(l.bias)], s.outs, s.name,
            kernel_shape=k, strides=st, dilations=d, pads=pads, group=l.groups)


@exports(nn.ConvTranspose2d)
def conv_transpose2d(ex, s):
    """ConvTranspose (the same weight layout); output_padding as the traced call produced its size."""
    l = s.layer
    k, st, d, p = pair(l.kernel_size), pair(l.stride), pair(l.dilation), pair(l.padding)
    sizes = zip(s.in_shapes[0][2:], s.out_shapes[0][2:], k, st, d, p)
    output_padding = [o - ((i - 1) * a - 2 * q + e * (b - 1) + 1) for i, o, b, a, e, q in sizes]
    ex.node("ConvTranspose", [s.ins[0], ex.param(l.weight), ex.param(l.bias)], s.outs, s.name, kernel_shape=k,
            strides=st, dilations=d, pads=[p[0], p[1], p[0], p[1]], output_padding=output_padding, group=l.groups)


@exports(nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.CircularPad2d)
def pad2d(ex, s):
    left, right, top, bottom = s.layer.padding
    pad(ex, s, s.ins[0], len(s.in_shapes[0]), (top, bottom, left, right), s.layer._mode, s.layer.value, s.outs[0])


@exports(nn.Upsample)
def upsample(ex, s):
    """Resize: nearest is ONNX's 'asymmetric' coordinates with 'floor' rounding, bilinear 'linear'
    with 'half_pixel' (PyTorch's formula, also for an output length of 1, where ONNX's
    'pytorch_half_pixel' takes 0) or 'align_corners' coordinates. A scale_factor (unless recomputed)
    is Resize's scales, a size its sizes; so is a scale with align_corners that does not give whole
    output lengths (ONNX then divides by the unrounded length, PyTorch by the rounded one)."""
    l = s.layer
    if l.mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if l.align_corners else "half_pixel"}
    factor = l.scale_factor if isinstance(l.scale_factor, tuple) else (l.scale_factor,) * 2
    whole = l.size is None and all(float(n * f).is_integer() for n, f in zip(s.in_shapes[0][2:], factor))
    if l.size is None and not l.recompute_scale_factor and (whole or not l.align_corners):
        scales = ex.fixed(f"{s.name}.scales", np.array([1.0, 1.0, *factor], np.float32))
        ex.node("Resize", [s.ins[0], "", scales], s.outs, s.name, **attrs)
        return
    if ex.opset < 18:
        raise Unsupported("this size (a size, recomputed scales, or align_corners with scales that do not give"
                          " whole output lengths) needs opset 18 or later (Resize's axes)")
    sizes = ex.ints(s.out_shapes[0][2:], f"{s.name}.sizes")
    ex.node("Resize", [s.ins[0], "", "", sizes], s.outs, s.name, axes=[2, 3], **attrs)


@exports(nn.PixelShuffle)
def pixel_shuffle(ex, s):
    """DepthToSpace in 'CRD' mode: channel c*r*r + i*r + j goes to (c, h*r + i, w*r + j), as PyTorch."""
    if len(s.in_shapes[0]) != 4:
        raise Unsupported("only (N, C, H, W) inputs (ONNX's DepthToSpace is 4-D)")
    ex.node("DepthToSpace", s.ins, s.outs, s.name, blocksize=s.layer.upscale_factor, mode="CRD")


@exports(nn.PixelUnshuffle)
def pixel_unshuffle(ex, s):
    """Reshape (N, C, H, r, W, r), Transpose to (N, C, r, r, H, W), Reshape (N, C*r*r, H, W): ONNX's
    SpaceToDepth orders the channels (i, j, c), PyTorch's (c, i, j)."""
    if len(s.in_shapes[0]) != 4:
        raise Unsupported("only (N, C, H, W) inputs")
    r = s.layer.downscale_factor
    _, c, h, w = s.in_shapes[0]
    split = intermediate(ex, s, "Reshape", [s.ins[0], ex.ints([0, c, h // r, r, w // r, r], f"{s.name}.split")],
                         "blocks")
    moved = intermediate(ex, s, "Transpose", [split], "moved", perm=[0, 1, 3, 5, 2, 4])
    ex.node("Reshape", [moved, ex.ints([0, c * r * r, h // r, w // r], f"{s.name}.shape")], s.outs, s.name)
