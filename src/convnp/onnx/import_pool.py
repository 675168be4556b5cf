"""ONNX pooling operators as convnp layers: MaxPool, AveragePool, the global poolings, MaxUnpool, and
Mod (on indices).

Indices: ONNX's MaxPool Indices are flat over the whole (N, C, H, W) input, convnp's (PyTorch's)
flat in each (H, W) plane. An imported MaxPool whose Indices are used gives ONNX's (OnnxIndices
after MaxPool2d(return_indices=True)); MaxUnpool takes them back modulo its output plane.
"""
from .. import nn
from .builder import imports, pads_attr, pair_attr
from .layers import OnnxIndices, PlaneIndices

_WINDOW = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None, "pads": None,
           "strides": None}


def _pool_args(n):
    """(kernel, stride, padding, dilation); fail for what convnp's pools do not take."""
    if n.attr("kernel_shape") is None:
        n.fail("attribute kernel_shape is missing")
    kernel, stride, dilation = pair_attr(n, "kernel_shape"), pair_attr(n, "strides"), pair_attr(n, "dilations")
    top, left, bottom, right = pads_attr(n, kernel, stride, dilation)
    if (top, left) != (bottom, right):
        n.fail(f"asymmetric pads {[top, left, bottom, right]} are not supported for pooling")
    return kernel, stride, (top, left), dilation


@imports("MaxPool", attrs={**_WINDOW, "storage_order": 0})
def max_pool(n):
    n.only("storage_order", 0)
    kernel, stride, padding, dilation = _pool_args(n)
    with_indices = len(n.outputs) > 1 and n.outputs[1] in n.model.used_values
    layer = nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=with_indices,
                         ceil_mode=bool(n.attr("ceil_mode")))
    if not with_indices:
        return n.layer_step(layer)
    n.add_layer(layer)
    to_onnx = n.add_layer(OnnxIndices(), "_indices")

    def pool(x):
        y, indices = layer(x)
        return y, to_onnx(indices, x)
    return n.step(pool, n.inputs[:1], n_outputs=2)


@imports("AveragePool", attrs={**_WINDOW, "count_include_pad": 0})
def average_pool(n):
    kernel, stride, padding, dilation = _pool_args(n)
    if dilation != (1, 1):
        n.fail(f"attribute dilations={list(dilation)} is not supported (AvgPool2d has no dilation)")
    return n.layer_step(nn.AvgPool2d(kernel, stride, padding, ceil_mode=bool(n.attr("ceil_mode")),
                                     count_include_pad=bool(n.attr("count_include_pad"))))


@imports("GlobalAveragePool", "GlobalMaxPool")
def global_pool(n):
    if n.rank() not in (None, 4):
        n.fail(f"only 2-D pooling (input rank 4) is supported, got rank {n.rank()}")
    return n.layer_step(nn.AdaptiveAvgPool2d(1) if n.op == "GlobalAveragePool" else nn.AdaptiveMaxPool2d(1))


@imports("MaxUnpool", attrs={"kernel_shape": None, "pads": None, "strides": None}, static=(2,))
def max_unpool(n):
    """MaxUnpool2d. ONNX's indices are flat over the default-size output (N, C, H, W), which an
    output_shape pads at the end: they become positions in each plane of the actual output."""
    if n.attr("kernel_shape") is None:
        n.fail("attribute kernel_shape is missing")
    kernel, stride = pair_attr(n, "kernel_shape"), pair_attr(n, "strides")
    top, left, bottom, right = (int(p) for p in n.attr("pads") or [0, 0, 0, 0])
    if (top, left) != (bottom, right):
        n.fail(f"asymmetric pads {[top, left, bottom, right]} are not supported")
    out_shape = n.constant(2)
    size = None if out_shape is None else tuple(int(d) for d in out_shape[-2:])
    layer = n.add_layer(nn.MaxUnpool2d(kernel, stride, (top, left)))
    to_plane = n.add_layer(PlaneIndices(), "_indices")

    def unpool(x, indices):
        frame = tuple((i - 1) * s + k - 2 * p for i, s, k, p in zip(x.shape[2:], stride, kernel, (top, left)))
        out = size or frame
        return layer(x, to_plane(indices, frame, out[1]), output_size=out)
    return n.step(unpool, n.inputs[:2])


@imports("Mod", attrs={"fmod": 0}, static=(1,))
def mod(n):
    """Integer a mod k for a constant k (the plane index of ONNX's flat indices)."""
    k = n.constant(1)
    if k is None or k.size != 1 or k.dtype.kind not in "iu":
        n.fail("only integers modulo a constant integer are supported")
    frame = (1, int(k.ravel()[0]))
    to_plane = n.add_layer(PlaneIndices())
    return n.step(lambda a: to_plane(a, frame), n.inputs[:1])
