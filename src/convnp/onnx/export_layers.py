"""How each convnp layer is written as ONNX nodes: a table of small converters, one per layer class.

A converter is ``fn(ex, site)``: ``site`` is one recorded call (``Site`` below) and ``ex`` the
``Exporter`` (export.py) whose helpers add nodes and initializers. Adding a layer is a few lines:

    @exports(nn.ReLU)
    def relu(ex, s):
        ex.node("Relu", s.ins, s.outs, s.name)

A setting ONNX cannot express raises ``Unsupported``; export names the layer in the error.
"""
from collections import namedtuple

import numpy as np

from .. import checks, nn

EXPORTERS = {}

Site = namedtuple("Site", "name path layer ins outs in_shapes out_shapes cache")
Site.__doc__ = """One recorded call: its node name, the layer's attribute path (initializer names), the
layer, the ONNX names of its inputs (None for a constant argument) and outputs, their shapes
(traced batch), and the call's cache (for constants given to merge ops)."""


class Unsupported(Exception):
    """A layer setting ONNX cannot express; export adds the layer's path and repr."""


def exports(*classes):
    """Register the decorated converter for ``classes``."""
    def register(fn):
        for cls in classes:
            EXPORTERS[cls] = fn
        return fn
    return register


def pair(value):
    """An int or pair as a list of two ints (ONNX attributes)."""
    return list(checks.pair(value, "value", "export", minimum=0))


# -- linear -------------------------------------------------------------------------------------------
@exports(nn.Linear)
def linear(ex, s):
    l = s.layer
    ex.node("Gemm", [s.ins[0], ex.param(l.weight), ex.param(l.bias)], s.outs, s.name, transB=1)


# -- normalisation -------------------------------------------------------------------------------
@exports(nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)
def batch_norm(ex, s):
    """Inference form: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias (SyncBatchNorm's
    too: in eval mode it is BatchNorm)."""
    l = s.layer
    if not l.track_running_stats:
        raise Unsupported("without running statistics (track_running_stats=False) it normalises with the"
                          " batch's own statistics in eval mode, which ONNX BatchNormalization does not do")
    c = l.num_features
    scale = ex.param(l.weight) if l.affine else ex.fixed(f"{s.path}.ones", np.ones(c, ex.dtype))
    bias = ex.param(l.bias) if l.affine else ex.fixed(f"{s.path}.zeros", np.zeros(c, ex.dtype))
    mean = ex.buffer(s.path, "running_mean", l.running_mean)
    var = ex.buffer(s.path, "running_var", l.running_var)
    ex.node("BatchNormalization", [s.ins[0], scale, bias, mean, var], s.outs, s.name, epsilon=float(l.eps),
            momentum=1.0 - (0.1 if l.momentum is None else float(l.momentum)))


# -- activations ---------------------------------------------------------------------------------
def _simple(op, **attrs_of):
    """A converter for a one-node activation whose attributes are read off the layer."""
    def convert(ex, s):
        ex.node(op, s.ins, s.outs, s.name, **{k: float(getattr(s.layer, v)) for k, v in attrs_of.items()})
    return convert


for _cls, _op, _attrs in [(nn.ReLU, "Relu", {}), (nn.Sigmoid, "Sigmoid", {}), (nn.Tanh, "Tanh", {}),
                          (nn.LeakyReLU, "LeakyRelu", {"alpha": "negative_slope"}),
                          (nn.ELU, "Elu", {"alpha": "alpha"})]:
    EXPORTERS[_cls] = _simple(_op, **_attrs)


@exports(nn.Softmax, nn.LogSoftmax)
def softmax(ex, s):
    ex.node(type(s.layer).__name__, s.ins, s.outs, s.name, axis=s.layer.dim)


@exports(nn.GELU)
def gelu(ex, s):
    """Gelu from opset 20; before, exact:  x * 0.5 * (1 + erf(x / sqrt(2))),
    tanh:  x * 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))."""
    approximate = s.layer.approximate
    if ex.opset >= 20:
        ex.node("Gelu", s.ins, s.outs, s.name, approximate=approximate)
        return
    x = s.ins[0]
    if approximate == "tanh":
        cube = intermediate(ex, s, "Mul", [intermediate(ex, s, "Mul", [x, x], "x2"), x], "x3")
        inner = intermediate(ex, s, "Add", [x, intermediate(ex, s, "Mul", [cube, ex.scalar(0.044715)], "c_x3")],
                             "inner")
        scaled = intermediate(ex, s, "Mul", [inner, ex.scalar(np.sqrt(2 / np.pi))], "scaled")
        t = intermediate(ex, s, "Tanh", [scaled], "tanh")
    else:
        t = intermediate(ex, s, "Erf", [intermediate(ex, s, "Mul", [x, ex.scalar(np.sqrt(0.5))], "scaled")], "erf")
    half_x = intermediate(ex, s, "Mul", [x, ex.scalar(0.5)], "half_x")
    ex.node("Mul", [half_x, intermediate(ex, s, "Add", [t, ex.scalar(1.0)], "one_plus")], s.outs, s.name)


def intermediate(ex, s, op, inputs, what, **attrs):
    """One inner node of a converter that writes several nodes; returns the name of its output
    ("<node>/<what>"), the node named "<node>/<op>"."""
    out = ex.value(s.name, what)
    ex.node(op, inputs, [out], ex.unique(f"{s.name}/{op}", "node"), **attrs)
    return out


# -- shape, identity, dropout ----------------------------------------------------------------------
@exports(nn.Flatten)
def flatten(ex, s):
    shape = s.in_shapes[0]
    ndim = max(len(shape), 1)
    start, end = s.layer.start_dim % ndim, s.layer.end_dim % ndim
    if start == 1 and end == ndim - 1:
        ex.node("Flatten", s.ins, s.outs, s.name, axis=1)
        return
    # Reshape's 0 copies the input's size at the same index: right for the axes before start_dim
    target = [0] * start + [-1] + list(s.out_shapes[0][start + 1:])
    ex.node("Reshape", [s.ins[0], ex.ints(target, f"{s.name}.shape")], s.outs, s.name)


@exports(nn.Identity)
def identity(ex, s):
    ex.node("Identity", s.ins, s.outs, s.name)


@exports(nn.Dropout, nn.Dropout2d)
def dropout(ex, s):
    """Dropout in inference (no training_mode input): the identity; the ratio is kept for import."""
    ratio = ex.scalar(s.layer.p)
    ex.node("Dropout", [s.ins[0], ratio], s.outs, s.name)


# -- merge ops ------------------------------------------------------------------------------------
@exports(nn.Add)
def add(ex, s):
    ex.node("Add" if len(s.ins) == 2 else "Sum", s.ins, s.outs, s.name)


@exports(nn.Mul)
def mul(ex, s):
    ins = [name if name is not None else ex.scalar(operand) for name, operand in zip(s.ins, s.cache)]
    ex.node("Mul", ins, s.outs, s.name)


@exports(nn.Cat)
def cat(ex, s):
    ex.node("Concat", s.ins, s.outs, s.name, axis=s.layer.dim)


@exports(nn.Split)
def split(ex, s):
    axis = s.layer.dim % len(s.in_shapes[0])
    sizes = [shape[axis] for shape in s.out_shapes]
    ex.node("Split", [s.ins[0], ex.ints(sizes, f"{s.name}.split")], s.outs, s.name, axis=axis)


@exports(nn.Reshape)
def reshape(ex, s):
    shape = list(s.layer.shape)
    if ex.batch is not None and shape and shape[0] == ex.batch and s.in_shapes[0][0] == ex.batch:
        shape[0] = 0       # the traced batch size: copy the input's (dynamic) batch dimension
    ex.node("Reshape", [s.ins[0], ex.ints(shape, f"{s.name}.shape")], s.outs, s.name)
