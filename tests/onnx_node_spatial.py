"""ONNX ConvTranspose, Pad, Resize/Upsample, DepthToSpace, SpaceToDepth, GlobalMaxPool and MaxUnpool
nodes mapped onto convnp's layer API (see onnx_node_layers.py)."""
from convnp import nn
from onnx_node_layers import maps, need, pads, pair, put, symmetric

PAD_LAYERS = {"reflect": nn.ReflectionPad2d, "edge": nn.ReplicationPad2d, "wrap": nn.CircularPad2d}


@maps("ConvTranspose")
def conv_transpose(node, inputs):
    """output_shape is PyTorch's output_size (forward's argument); SAME_* pads crop the output."""
    x, w = inputs[0], inputs[1]
    need(w.ndim == 4, f"a {w.ndim - 2}-D transposed convolution: ConvTranspose2d is 2-D")
    b = inputs[2] if len(inputs) > 2 else None
    g = node.attrs.get("group", 1)
    stride, dilation = pair(node, "strides"), pair(node, "dilations")
    output_padding = pair(node, "output_padding", 0)
    auto = node.attrs.get("auto_pad", "NOTSET")
    padding = (0, 0) if auto.startswith("SAME") else symmetric(pads(node, w.shape[2:], stride), "ConvTranspose2d")
    layer = nn.ConvTranspose2d(w.shape[0], w.shape[1] * g, w.shape[2:], stride, padding, output_padding, g,
                               bias=b is not None, dilation=dilation)
    put(layer, weight=w, **({"bias": b} if b is not None else {}))
    y = layer(x, output_size=node.attrs.get("output_shape"))
    if not auto.startswith("SAME"):
        return y
    extra = [o - i * s for o, i, s in zip(y.shape[2:], x.shape[2:], stride)]     # SAME: output = input * stride
    before = [e // 2 if auto == "SAME_UPPER" else e - e // 2 for e in extra]
    return nn.ZeroPad2d((-before[1], before[1] - extra[1], -before[0], before[0] - extra[0]))(y)


@maps("Pad")
def pad(node, inputs):
    x, p = inputs[0], [int(v) for v in inputs[1]]
    value = float(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else 0.0
    axes = [int(a) % x.ndim for a in inputs[3]] if len(inputs) > 3 else list(range(x.ndim))
    need(x.ndim in (3, 4), f"a rank-{x.ndim} input: the pad layers take (C, H, W) or (N, C, H, W)")
    begin, end = [0] * x.ndim, [0] * x.ndim
    for k, a in enumerate(axes):
        begin[a], end[a] = p[k], p[len(axes) + k]
    need(not any(begin[:-2] + end[:-2]), "padding of axes other than H and W")
    padding = (begin[-1], end[-1], begin[-2], end[-2])
    mode = node.attrs.get("mode", "constant")
    if mode == "constant":
        return (nn.ZeroPad2d(padding) if value == 0 else nn.ConstantPad2d(padding, value))(x)
    return PAD_LAYERS[mode](padding)(x)


@maps("Resize", "Upsample")
def resize(node, inputs):
    """PyTorch's interpolation: nearest = 'asymmetric' coordinates with 'floor' rounding (Upsample's
    nearest), bilinear = 'linear' with half-pixel or align-corners coordinates."""
    x = inputs[0]
    mode = node.attrs.get("mode", "nearest")
    ctm = node.attrs.get("coordinate_transformation_mode", "asymmetric" if node.op == "Upsample" else "half_pixel")
    need(x.ndim == 4 and not node.attrs.get("antialias", 0), "antialiasing, or an input that is not (N, C, H, W)")
    need(node.attrs.get("keep_aspect_ratio_policy", "stretch") == "stretch", "keep_aspect_ratio_policy")
    if mode == "nearest":
        need(ctm == "asymmetric" and node.attrs.get("nearest_mode", "floor" if node.op == "Upsample" else
                                                      "round_prefer_floor") == "floor",
             f"nearest with {ctm} coordinates and {node.attrs.get('nearest_mode', 'round_prefer_floor')} rounding"
             " (PyTorch's nearest is asymmetric with floor)")
    else:
        need(mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel", "align_corners"),
             f"mode {mode} with {ctm} coordinates")
    corners = None if mode == "nearest" else ctm == "align_corners"
    scales = inputs[1] if node.op == "Upsample" else (inputs[2] if len(inputs) > 2 else None)
    sizes = inputs[3] if len(inputs) > 3 else None
    axes = node.attrs.get("axes", [0, 1, 2, 3])
    values = dict(zip([a % 4 for a in axes], (sizes if sizes is not None else scales).tolist()))
    need({2, 3} <= set(values) and all(values.get(a, 1) in (1, x.shape[a]) for a in (0, 1)), "resizing N or C")
    out = [int(values[a]) if sizes is not None else int(x.shape[a] * values[a]) for a in (2, 3)]
    need(ctm != "pytorch_half_pixel" or min(out) > 1, "pytorch_half_pixel with an output length of 1: ONNX"
         " then reads coordinate 0, PyTorch (and convnp) the half-pixel formula's")
    need(not corners or sizes is not None or all(float(x.shape[a] * values[a]).is_integer() for a in (2, 3)),
         "align_corners with scales that do not give whole lengths: ONNX divides by the unrounded output"
         " length, PyTorch (and convnp) by the rounded one")
    kind = "nearest" if mode == "nearest" else "bilinear"
    if sizes is not None:
        return nn.Upsample(size=(int(values[2]), int(values[3])), mode=kind, align_corners=corners)(x)
    return nn.Upsample(scale_factor=(values[2], values[3]), mode=kind, align_corners=corners)(x)


@maps("DepthToSpace")
def depth_to_space(node, inputs):
    need(node.attrs.get("mode", "DCR") == "CRD", "DCR mode: channels (i, j, c), PixelShuffle's are (c, i, j)")
    return nn.PixelShuffle(node.attrs["blocksize"])(inputs[0])


@maps("SpaceToDepth")
def space_to_depth(node, inputs):
    need(inputs[0].shape[1] == 1, "channels ordered (i, j, c): PixelUnshuffle's (c, i, j) agree for C = 1 only")
    return nn.PixelUnshuffle(node.attrs["blocksize"])(inputs[0])


@maps("GlobalMaxPool")
def global_max_pool(node, inputs):
    need(inputs[0].ndim == 4, f"a {inputs[0].ndim - 2}-D pooling")
    return nn.AdaptiveMaxPool2d(1)(inputs[0])


@maps("MaxUnpool")
def max_unpool(node, inputs):
    """ONNX's indices are flat over the default-size output (N, C, H, W) (an output_shape pads it
    at the end), convnp's in each plane of the actual output: converted here."""
    x, indices = inputs[0], inputs[1]
    kernel, stride = pair(node, "kernel_shape"), pair(node, "strides")
    padding = symmetric(pads(node, kernel, stride), "MaxUnpool2d")
    frame = [(i - 1) * s + k - 2 * p for i, s, k, p in zip(x.shape[2:], stride, kernel, padding)]
    out = tuple(int(o) for o in (inputs[2][-2:] if len(inputs) > 2 else frame))
    p = indices % (frame[0] * frame[1])
    return nn.MaxUnpool2d(kernel, stride, padding)(x, (p // frame[1]) * out[1] + p % frame[1], output_size=out)
