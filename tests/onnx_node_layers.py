"""ONNX nodes mapped onto convnp's layer API, for the ONNX backend node tests (test_onnx_conformance.py).

``LAYERS[op](node, inputs)`` builds the convnp layer(s) that the node's attributes describe, puts
its weight inputs in the layers' parameters and runs them on its data inputs; it returns the
outputs. What convnp cannot express raises ``Unsupported`` with the reason. This mapping is
written against the layer API on purpose, apart from ``convnp.onnx``'s importers, so that the
two ways of running a node test check each other.
"""
import numpy as np

from convnp import nn
from convnp.nn.module import Parameter

LAYERS = {}


class Unsupported(Exception):
    """A node test convnp cannot express; the message says why."""


def maps(*ops):
    def register(fn):
        for op in ops:
            LAYERS[op] = fn
        return fn
    return register


def need(condition, reason):
    if not condition:
        raise Unsupported(reason)


def put(layer, **arrays):
    """Set the layer's parameters and buffers to the given arrays (shapes checked)."""
    for name, array in arrays.items():
        old = getattr(layer, name)
        have = old.data if isinstance(old, Parameter) else old
        assert tuple(array.shape) == tuple(have.shape), (name, array.shape, have.shape)
        setattr(layer, name, Parameter(array.copy()) if isinstance(old, Parameter) else array.copy())
    return layer


def pair(node, key, default=1):
    value = node.attrs.get(key)
    if value is None:
        return (default, default)
    need(len(value) == 2, f"{key}={value}: convnp's layers are 2-D")
    return tuple(value)


def pads(node, kernel, stride, dilation=(1, 1)):
    """(top, left, bottom, right); SAME_* only where it does not depend on the input size (stride 1)."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        need(stride == (1, 1), f"auto_pad={auto} with stride {stride}: the padding depends on the input size")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        before = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
        return (before[0], before[1], total[0] - before[0], total[1] - before[1])
    p = node.attrs.get("pads", [0, 0, 0, 0])
    need(len(p) == 4, f"pads={p}: convnp's layers are 2-D")
    return tuple(p)


def symmetric(p, what):
    need(p[:2] == p[2:], f"asymmetric pads {list(p)} for {what}")
    return p[:2]


# -- convolution, Gemm, MatMul ----------------------------------------------------------------------
@maps("Conv")
def conv(node, inputs):
    x, w = inputs[0], inputs[1]
    need(w.ndim == 4, f"a {w.ndim - 2}-D convolution: convnp's Conv2d is 2-D")
    b = inputs[2] if len(inputs) > 2 else None
    g = node.attrs.get("group", 1)
    stride, dilation = pair(node, "strides"), pair(node, "dilations")
    padding = symmetric(pads(node, w.shape[2:], stride, dilation), "Conv2d")
    layer = nn.Conv2d(w.shape[1] * g, w.shape[0], w.shape[2:], stride, padding, dilation, g, bias=b is not None)
    put(layer, weight=w, **({"bias": b} if b is not None else {}))
    return layer(x)


@maps("Gemm")
def gemm(node, inputs):
    a, b = inputs[0], inputs[1]
    need(not node.attrs.get("transA", 0), "transA=1: Linear takes (N, in_features) inputs")
    c = inputs[2] if len(inputs) > 2 else None
    weight = (b if node.attrs.get("transB", 0) else b.T) * np.float32(node.attrs.get("alpha", 1.0))
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=c is not None)
    if c is not None:
        need(c.size in (1, weight.shape[0]) and c.ndim <= 2 and (c.ndim < 2 or c.shape[0] == 1),
             f"C of shape {c.shape} is not a bias vector")
        put(layer, bias=np.broadcast_to(c.reshape(-1), (weight.shape[0],)) * np.float32(node.attrs.get("beta", 1.0)))
    return put(layer, weight=weight)(a)


@maps("MatMul")
def matmul(node, inputs):
    a, b = inputs
    need(a.ndim == 2 and b.ndim == 2, f"MatMul of shapes {a.shape} and {b.shape}: Linear takes a matrix")
    return put(nn.Linear(b.shape[0], b.shape[1], bias=False), weight=b.T)(a)


# -- pooling ----------------------------------------------------------------------------------------------
def window(node, dilation=False):
    kernel = pair(node, "kernel_shape")
    stride = pair(node, "strides")
    dilations = pair(node, "dilations")
    need(dilation or dilations == (1, 1), f"dilations={node.attrs.get('dilations')}")
    return kernel, stride, symmetric(pads(node, kernel, stride, dilations), "pooling"), dilations


@maps("MaxPool")
def max_pool(node, inputs):
    """Indices: convnp's are flat in each (H, W) plane, ONNX's over (N, C, H, W): offsets added here."""
    need(node.attrs.get("storage_order", 0) == 0, "storage_order=1")
    kernel, stride, padding, dilation = window(node, dilation=True)
    need(max(padding[0] * 2 - kernel[0], padding[1] * 2 - kernel[1]) <= 0, "padding over half the kernel")
    x = inputs[0]
    layer = nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=node.n_outputs == 2,
                         ceil_mode=bool(node.attrs.get("ceil_mode", 0)))
    if node.n_outputs == 1:
        return layer(x)
    y, indices = layer(x)
    n, c = indices.shape[:2]
    return y, indices + np.arange(n * c).reshape(n, c, 1, 1) * (x.shape[2] * x.shape[3])


@maps("AveragePool")
def average_pool(node, inputs):
    kernel, stride, padding, _ = window(node)
    need(max(padding[0] * 2 - kernel[0], padding[1] * 2 - kernel[1]) <= 0, "padding over half the kernel")
    return nn.AvgPool2d(kernel, stride, padding, ceil_mode=bool(node.attrs.get("ceil_mode", 0)),
                        count_include_pad=bool(node.attrs.get("count_include_pad", 0)))(inputs[0])


@maps("GlobalAveragePool")
def global_average_pool(node, inputs):
    need(inputs[0].ndim == 4, f"a {inputs[0].ndim - 2}-D pooling")
    return nn.AdaptiveAvgPool2d(1)(inputs[0])


# -- normalisation ------------------------------------------------------------------------------------
@maps("BatchNormalization")
def batch_norm(node, inputs):
    """Inference form from the running statistics; training_mode=1 trains one step. There ONNX
    updates the running variance with the biased batch variance, PyTorch (and convnp) with the
    unbiased one; the test compares that output with PyTorch's rule (see test_onnx_conformance)."""
    x, scale, bias, mean, var = inputs
    cls = nn.BatchNorm2d if x.ndim == 4 else nn.BatchNorm1d
    momentum = node.attrs.get("momentum", 0.9)
    layer = put(cls(scale.shape[0], eps=node.attrs.get("epsilon", 1e-5), momentum=1 - momentum),
                weight=scale, bias=bias, running_mean=mean, running_var=var)
    if not node.attrs.get("training_mode", 0):
        return layer.eval()(x)
    y = layer.train()(x)
    return y, layer.running_mean, layer.running_var


@maps("InstanceNormalization")
def instance_norm(node, inputs):
    x, scale, bias = inputs
    need(x.ndim == 4, f"a {x.ndim - 2}-D input: InstanceNorm2d takes (N, C, H, W)")
    layer = nn.InstanceNorm2d(x.shape[1], eps=node.attrs.get("epsilon", 1e-5), affine=True)
    return put(layer, weight=scale, bias=bias)(x)


@maps("LayerNormalization")
def layer_norm(node, inputs):
    """Y only: ONNX's Mean and InvStdDev outputs are not outputs of PyTorch's (or convnp's) LayerNorm."""
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    axis = node.attrs.get("axis", -1) % x.ndim
    layer = nn.LayerNorm(x.shape[axis:], eps=node.attrs.get("epsilon", 1e-5), bias=bias is not None)
    put(layer, weight=np.broadcast_to(scale, x.shape[axis:]), **({"bias": bias} if bias is not None else {}))
    return (layer(x),) + (None,) * (node.n_outputs - 1)


@maps("GroupNormalization")
def group_norm(node, inputs):
    x, scale, bias = inputs
    groups = node.attrs["num_groups"]
    need(node.opset >= 21, f"opset {node.opset}: scale and bias per group, PyTorch's are per channel")
    layer = nn.GroupNorm(groups, x.shape[1], eps=node.attrs.get("epsilon", 1e-5))
    return put(layer, weight=scale, bias=bias)(x)


@maps("LRN")
def lrn(node, inputs):
    size = node.attrs["size"]
    need(size % 2 == 1, f"size={size}: for even sizes ONNX's window is one channel later than PyTorch's")
    return nn.LocalResponseNorm(size, node.attrs.get("alpha", 1e-4), node.attrs.get("beta", 0.75),
                                node.attrs.get("bias", 1.0))(inputs[0])


# -- shape and merge ---------------------------------------------------------------------------------------
@maps("Flatten")
def flatten(node, inputs):
    x = inputs[0]
    axis = node.attrs.get("axis", 1) % max(x.ndim, 1)
    if axis == 0:
        return nn.reshape(x, (1, -1))
    head = nn.Flatten(0, axis - 1)(x) if axis > 1 else x      # (prod(shape[:axis]), *shape[axis:])
    return nn.Flatten(1, -1)(head) if head.ndim > 2 else (head if head.ndim == 2 else nn.reshape(head, (-1, 1)))


@maps("Reshape")
def reshape(node, inputs):
    x, shape = inputs
    need(not (node.attrs.get("allowzero", 0) and 0 in shape), "allowzero=1 with a 0 in the shape")
    return nn.reshape(x, tuple(x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)))


@maps("Identity")
def identity(node, inputs):
    return nn.Identity()(inputs[0])


@maps("Dropout")
def dropout(node, inputs):
    need(node.n_outputs == 1, "the mask output")
    ratio = float(inputs[1]) if len(inputs) > 1 else node.attrs.get("ratio", 0.5)
    training = bool(inputs[2]) if len(inputs) > 2 else False
    need(not training or ratio == 0, "training-mode dropout with ratio > 0 (random; ONNX's generator is not NumPy's)")
    layer = nn.Dropout(ratio)
    return (layer.train() if training else layer.eval())(inputs[0])


@maps("Add", "Sum")
def add(node, inputs):
    return nn.add(*inputs) if len(inputs) > 1 else nn.Identity()(inputs[0])


@maps("Mul")
def mul(node, inputs):
    return nn.mul(*inputs)


@maps("Sub")
def sub(node, inputs):
    return nn.add(inputs[0], nn.mul(inputs[1], -1.0))


@maps("Concat")
def concat(node, inputs):
    return nn.cat(list(inputs), dim=node.attrs["axis"])


@maps("Split")
def split(node, inputs):
    x, axis, k = inputs[0], node.attrs.get("axis", 0), node.n_outputs
    sizes = inputs[1] if len(inputs) > 1 else node.attrs.get("split")
    if sizes is not None:
        return nn.split(x, [int(s) for s in sizes], dim=axis)
    need("num_outputs" in node.attrs or x.shape[axis] % k == 0, "unequal pieces without sizes")
    return nn.split(x, -(-x.shape[axis] // k), dim=axis)
