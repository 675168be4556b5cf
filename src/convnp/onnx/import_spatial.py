"""ONNX ConvTranspose, Pad, Resize, DepthToSpace, SpaceToDepth and Transpose as convnp layers.

ConvTranspose keeps its weight layout (C_in, C_out/groups, KH, KW), PyTorch's. Pad's modes map
onto the pad layers (constant -> ZeroPad2d/ConstantPad2d, reflect, edge -> ReplicationPad2d,
wrap -> CircularPad2d); Resize onto Upsample where the coordinates are PyTorch's: nearest with
'asymmetric' coordinates and 'floor' rounding, linear with 'half_pixel', 'pytorch_half_pixel' or
'align_corners' (other modes, antialiasing and aspect-ratio policies are refused).
"""
import numpy as np

from .. import nn
from .builder import imports, pair_attr, set_tensor
from .layers import Permute

PAD_LAYERS = {"reflect": nn.ReflectionPad2d, "edge": nn.ReplicationPad2d, "wrap": nn.CircularPad2d}


@imports("ConvTranspose", attrs={"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None,
                                 "output_padding": None, "output_shape": None, "pads": None, "strides": None})
def conv_transpose(n):
    w, b = n.weight(1), n.weight(2, required=False)
    if w.ndim != 4:
        n.fail(f"only 2-D transposed convolutions are supported; the weight has shape {w.shape}")
    kernel, group = tuple(int(k) for k in w.shape[2:]), n.attr("group")
    stride, dilation = pair_attr(n, "strides"), pair_attr(n, "dilations")
    output_padding = pair_attr(n, "output_padding", 0)
    top, left, bottom, right, output_padding = _transpose_pads(n, kernel, stride, dilation, output_padding)
    symmetric = (top, left) == (bottom, right)
    layer = nn.ConvTranspose2d(w.shape[0], w.shape[1] * group, kernel, stride, (top, left) if symmetric else 0,
                               output_padding, group, bias=b is not None, dilation=dilation)
    set_tensor(n, layer, "weight", w, source=1)
    if b is not None:
        set_tensor(n, layer, "bias", b, source=2)
    if symmetric:
        return n.layer_step(layer)
    crop = n.add_layer(nn.ZeroPad2d((-left, -right, -top, -bottom)), "_crop")   # negative padding crops
    n.add_layer(layer)
    return n.step(lambda x: crop(layer(x)), n.inputs[:1])


def _transpose_pads(n, kernel, stride, dilation, output_padding):
    """(top, left, bottom, right, output_padding): the pads, or those that output_shape or SAME_* ask
    for; an output_shape larger than the unpadded output adds to output_padding (at the end)."""
    auto = n.only("auto_pad", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")
    if n.attr("output_shape") is None and not auto.startswith("SAME"):
        pads = [0, 0, 0, 0] if auto == "VALID" else n.attr("pads") or [0, 0, 0, 0]
        return (*(int(p) for p in pads), output_padding)
    shape = n.shape()
    if not shape or len(shape) != 4 or None in shape[2:]:
        n.fail("output_shape or auto_pad=SAME_* need the input's height and width, which shape inference"
               " could not find")
    out = n.attr("output_shape")
    out = out[-2:] if out is not None else [i * s for i, s in zip(shape[2:], stride)]
    total = [s * (i - 1) + p + (k - 1) * d + 1 - o
             for i, o, k, s, d, p in zip(shape[2:], out, kernel, stride, dilation, output_padding)]
    output_padding = tuple(p - min(t, 0) for p, t in zip(output_padding, total))
    total = [max(t, 0) for t in total]
    before = [t - t // 2 if auto == "SAME_LOWER" else t // 2 for t in total]
    return (before[0], before[1], total[0] - before[0], total[1] - before[1], output_padding)


@imports("Pad", attrs={"mode": "constant"}, static=(1, 2, 3))
def pad(n):
    mode = n.only("mode", "constant", "reflect", "edge", "wrap")
    pads, value = [int(p) for p in n.constant(1)], n.constant(2)
    axes, rank = n.constant(3), n.rank()
    rank = rank if rank is not None else (len(pads) // 2 if axes is None else None)
    if rank is None or rank not in (3, 4):
        n.fail(f"padding of inputs of rank {rank} is not supported ((C, H, W) and (N, C, H, W) are)")
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[len(axes) + k]
    if any(begin[:-2]) or any(end[:-2]):
        n.fail(f"pads {pads} pad axes other than the last two; the pad layers pad H and W")
    padding = (begin[-1], end[-1], begin[-2], end[-2])       # (left, right, top, bottom)
    value = 0.0 if value is None else float(np.asarray(value).ravel()[0])
    if mode != "constant":
        return n.layer_step(PAD_LAYERS[mode](padding))
    return n.layer_step(nn.ZeroPad2d(padding) if value == 0 else nn.ConstantPad2d(padding, value))


@imports("Resize", attrs={"antialias": 0, "axes": None, "coordinate_transformation_mode": "half_pixel",
                          "cubic_coeff_a": -0.75, "exclude_outside": 0, "extrapolation_value": 0.0,
                          "keep_aspect_ratio_policy": "stretch", "mode": "nearest",
                          "nearest_mode": "round_prefer_floor"}, static=(1, 2, 3))
def resize(n):
    mode = n.only("mode", "nearest", "linear")
    n.only("antialias", 0)
    n.only("keep_aspect_ratio_policy", "stretch")
    if mode == "nearest":
        n.only("coordinate_transformation_mode", "asymmetric")
        n.only("nearest_mode", "floor")
        corners = None
    else:
        ctm = n.only("coordinate_transformation_mode", "half_pixel", "pytorch_half_pixel", "align_corners")
        corners = ctm == "align_corners"
    scales, sizes = n.constant(2), n.constant(3)
    rank = n.rank() or 4
    axes = [a % rank for a in n.attr("axes")] if n.attr("axes") else list(range(rank))
    if rank != 4 or not {2, 3} <= set(axes):
        n.fail(f"resizing axes {axes} of a rank-{rank} input is not supported (H and W of (N, C, H, W) are)")
    values = sizes if sizes is not None and sizes.size else scales
    if values is None or values.size != len(axes):
        n.fail("scales or sizes must be given, one per axis")
    by_axis = dict(zip(axes, values.tolist()))
    _pytorch_conventions(n, sizes is not None and sizes.size, by_axis, corners)
    keep = [by_axis.get(a) for a in (0, 1)]
    if sizes is None or not sizes.size:
        if any(k not in (None, 1.0) for k in keep):
            n.fail(f"scales {scales.tolist()} resize N or C; only H and W are resized")
        layer = nn.Upsample(scale_factor=(by_axis[2], by_axis[3]), mode="nearest" if mode == "nearest" else "bilinear",
                            align_corners=corners)
    else:
        layer = nn.Upsample(size=(int(by_axis[2]), int(by_axis[3])),
                            mode="nearest" if mode == "nearest" else "bilinear", align_corners=corners)
    return n.layer_step(layer)


def _pytorch_conventions(n, by_size, by_axis, corners):
    """Refuse what Upsample computes otherwise than ONNX: 'pytorch_half_pixel' for an output length
    of 1 (ONNX reads coordinate 0), align_corners with scales that do not give whole lengths (ONNX
    divides by the unrounded length). Needs the input size when scales are given."""
    shape = n.shape()
    hw = shape[2:] if shape and len(shape) == 4 and None not in shape[2:] else None
    exact = [by_axis[a] * hw[a - 2] for a in (2, 3)] if hw and not by_size else None
    out = [by_axis[a] for a in (2, 3)] if by_size else (None if exact is None else [int(e) for e in exact])
    if n.attr("coordinate_transformation_mode") == "pytorch_half_pixel" and n.attr("mode") == "linear":
        if out is None or min(out) == 1:
            n.fail("coordinate_transformation_mode=pytorch_half_pixel with an output length of 1 (or unknown)"
                   " is not supported: ONNX then reads coordinate 0, convnp's Upsample (as PyTorch) does not")
    if corners and not by_size and (exact is None or not all(float(e).is_integer() for e in exact)):
        n.fail("align_corners with scales that do not give whole output lengths (or an unknown input size) is"
               " not supported: ONNX divides by the unrounded length, convnp's Upsample (as PyTorch) by the"
               " rounded one")


@imports("DepthToSpace", attrs={"blocksize": None, "mode": "DCR"})
def depth_to_space(n):
    """CRD is PixelShuffle; DCR (channel (i, j, c)) the reshape-transpose-reshape of its definition."""
    r, mode = n.attr("blocksize"), n.only("mode", "DCR", "CRD")
    if mode == "CRD":
        return n.layer_step(nn.PixelShuffle(r))
    permute = n.add_layer(Permute((0, 3, 4, 1, 5, 2)))

    def dcr(x):
        b, c, h, w = x.shape
        blocks = permute(nn.reshape(x, (b, r, r, c // (r * r), h, w)))
        return nn.reshape(blocks, (b, c // (r * r), h * r, w * r))
    return n.step(dcr, n.inputs[:1])


@imports("SpaceToDepth", attrs={"blocksize": None})
def space_to_depth(n):
    """Channels ordered (i, j, c): not PixelUnshuffle's (c, i, j); the definition's reshapes."""
    r = n.attr("blocksize")
    permute = n.add_layer(Permute((0, 3, 5, 1, 2, 4)))

    def blocks(x):
        b, c, h, w = x.shape
        moved = permute(nn.reshape(x, (b, c, h // r, r, w // r, r)))
        return nn.reshape(moved, (b, c * r * r, h // r, w // r))
    return n.step(blocks, n.inputs[:1])


@imports("Transpose", attrs={"perm": None})
def transpose(n):
    perm, rank = n.attr("perm"), n.rank()
    if perm is None:
        if rank is None:
            n.fail("Transpose without perm needs the input's rank")
        perm = list(range(rank))[::-1]
    return n.layer_step(Permute(perm))
