"""ONNX LayerNormalization, GroupNormalization, InstanceNormalization and LRN as convnp norm layers."""
import numpy as np

from .. import nn
from .builder import imports, set_tensor


@imports("LayerNormalization", attrs={"axis": -1, "epsilon": 1e-5, "stash_type": 1})
def layer_norm(n):
    """LayerNorm over the axes from ``axis`` on; its normalized_shape is the scale's shape."""
    scale, bias = n.affine(1, 2)
    if scale is None and bias is not None:
        scale = n.weight(1)           # LayerNorm has no bias without a weight: the ones become one
    shape = n.weight(1).shape
    axis, rank = n.attr("axis"), n.rank()
    count = -axis if axis < 0 else (rank - axis if rank is not None else len(shape))
    if len(shape) != count:
        n.fail(f"a scale of shape {shape} for {count} normalised axes is not supported (it must have"
               " their shape)")
    layer = nn.LayerNorm(shape, eps=n.attr("epsilon"), elementwise_affine=scale is not None, bias=bias is not None)
    if scale is not None:
        set_tensor(n, layer, "weight", scale, source=1)
    if bias is not None:
        set_tensor(n, layer, "bias", bias, source=2)
    return n.layer_step(layer)


@imports("GroupNormalization", attrs={"num_groups": None, "epsilon": 1e-5, "stash_type": 1})
def group_norm(n):
    """GroupNorm; before opset 21 scale and bias are per group: repeated for each group's channels."""
    groups, shape = n.attr("num_groups"), n.shape()
    affine = any(a is not None for a in n.affine(1, 2))
    channels = n.weight(1).size if n.opset >= 21 else (shape[1] if shape and len(shape) > 1 else None)
    if groups is None or channels is None:
        n.fail("num_groups, and before opset 21 the input's channel count, must be known")
    layer = nn.GroupNorm(groups, channels, eps=n.attr("epsilon"), affine=affine)
    if affine:
        scale, bias = n.weight(1), n.weight(2)
        if n.opset < 21:
            scale, bias = (np.repeat(a, channels // groups) for a in (scale, bias))
        set_tensor(n, layer, "weight", scale, source=1, converted=n.opset < 21)
        set_tensor(n, layer, "bias", bias, source=2, converted=n.opset < 21)
    return n.layer_step(layer)


@imports("InstanceNormalization", attrs={"epsilon": 1e-5})
def instance_norm(n):
    """InstanceNorm2d (affine unless scale and bias are fixed ones and zeros); inputs other than (N, C, H, W) (PyTorch writes GroupNorm as a
    reshape to (N, G, -1) and this) are reshaped to (N, C, -1, 1) around it."""
    affine = any(a is not None for a in n.affine(1, 2))
    layer = nn.InstanceNorm2d(n.weight(1).size, eps=n.attr("epsilon"), affine=affine)
    if affine:
        set_tensor(n, layer, "weight", n.weight(1), source=1)
        set_tensor(n, layer, "bias", n.weight(2), source=2)
    n.add_layer(layer)

    def normalise(x):
        if x.ndim == 4:
            return layer(x)
        return nn.reshape(layer(nn.reshape(x, (x.shape[0], x.shape[1], -1, 1))), x.shape)
    return n.step(normalise, n.inputs[:1])


@imports("LRN", attrs={"size": None, "alpha": 1e-4, "beta": 0.75, "bias": 1.0})
def local_response_norm(n):
    size = n.attr("size")
    if size is None or size % 2 == 0:
        n.fail(f"attribute size={size} is not supported (odd sizes are: for even ones ONNX's window is one"
               " channel later than PyTorch's)")
    return n.layer_step(nn.LocalResponseNorm(size, n.attr("alpha"), n.attr("beta"), n.attr("bias")))
