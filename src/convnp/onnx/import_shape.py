"""ONNX shape and merge operators as recorded convnp calls: Flatten, Reshape, Identity, Dropout,
Add/Sub/Mul/Div/Sum (nn.add, nn.mul), Concat (nn.cat), Split (nn.split).

Shapes are worked out when the step runs, from the array it gets (Reshape's 0 copies the input's
size there, so a dynamic batch dimension stays dynamic).
"""
import numpy as np

from .. import nn
from .builder import imports


@imports("Flatten", attrs={"axis": 1})
def flatten(n):
    axis = n.attr("axis")
    if axis == 1:
        return n.layer_step(nn.Flatten())

    def flat(x):
        a = axis % x.ndim if x.ndim else 0
        return nn.reshape(x, (int(np.prod(x.shape[:a])), -1))
    return n.step(flat, n.inputs[:1])


@imports("Reshape", attrs={"allowzero": 0}, static=(1,))
def reshape(n):
    """To a constant shape (0 copies the input's size at that index, -1 is inferred), or to a shape
    computed while running (PyTorch's GroupNorm: Reshape(y, Shape(x)))."""
    if n.inputs[1] not in n.model.graph["constants"]:
        return n.step(lambda x, shape: nn.reshape(x, _target(x, shape)), n.inputs[:2])
    target = [int(v) for v in n.constant(1)]
    if n.attr("allowzero") and 0 in target:
        n.fail("attribute allowzero=1 with a 0 in the shape is not supported")
    return n.step(lambda x: nn.reshape(x, _target(x, target)), n.inputs[:1])


def _target(x, shape):
    return tuple(x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape))


@imports("Shape", attrs={"start": 0, "end": None})
def shape(n):
    """The input's shape as an int64 array (a runtime value for Reshape; no gradient)."""
    start, end = n.attr("start"), n.attr("end")
    return n.step(lambda x: np.array(x.shape[start:end], dtype=np.int64), n.inputs[:1])


@imports("Identity")
def identity(n):
    return n.layer_step(nn.Identity())


@imports("Dropout", attrs={"seed": 0, "ratio": 0.5}, static=(1, 2))
def dropout(n):
    """Identity in eval mode; a convnp Dropout(p) in train mode. ``ratio`` is an input from opset 12."""
    p = float(n.constant(1, np.array(n.attr("ratio"))))
    if bool(n.constant(2, np.array(False))):
        n.fail("input training_mode=True is not supported (an imported model drops out in train mode)")
    if not 0 <= p < 1:
        n.fail(f"ratio {p} is not in [0, 1)")
    return n.layer_step(nn.Dropout(p))


@imports("Add", "Sum")
def add(n):
    if len(n.inputs) == 1:
        return n.layer_step(nn.Identity())
    return n.step(lambda *xs: nn.add(*xs), n.inputs)


@imports("Mul")
def mul(n):
    return n.step(lambda a, b: nn.mul(a, b), n.inputs[:2])


@imports("Sub")
def sub(n):
    """a - b as nn.add(a, nn.mul(b, -1)): both recorded, so b gets its gradient too."""
    return n.step(lambda a, b: nn.add(a, nn.mul(b, -1.0)), n.inputs[:2])


@imports("Div", static=(1,))
def div(n):
    """a / c for a constant scalar c (normalising inputs), as nn.mul(a, 1 / c)."""
    c = n.constant(1)
    if c.size != 1:
        n.fail(f"only division by a constant scalar is supported, got a constant of shape {c.shape}")
    scale = 1.0 / float(c.ravel()[0])
    return n.step(lambda a: nn.mul(a, scale), n.inputs[:1])


@imports("Concat", attrs={"axis": None})
def concat(n):
    if n.attr("axis") is None:
        n.fail("attribute axis is missing")
    axis = n.attr("axis")
    return n.step(lambda *xs: nn.cat(list(xs), dim=axis), n.inputs)


@imports("Split", attrs={"axis": 0, "split": None, "num_outputs": None}, static=(1,))
def split(n):
    """Sizes from the ``split`` input (opset 13 on) or attribute (before); else ``num_outputs``
    (opset 18: pieces of ceil(size / k), the last one smaller) or equal pieces."""
    axis, k = n.attr("axis"), len(n.outputs)
    sizes = n.constant(1)
    sizes = [int(s) for s in (sizes if sizes is not None else n.attr("split") or [])]
    if sizes and len(sizes) != k:
        n.fail(f"{len(sizes)} split sizes for {k} outputs")

    equal, name = n.attr("num_outputs") is None, n.name    # the step keeps values, not the node

    def pieces(x):
        if sizes:
            return nn.split(x, sizes, dim=axis)
        size = x.shape[axis]
        if equal and size % k:
            raise ValueError(f"node {name!r} (Split): size {size} does not split into {k} equal pieces")
        return nn.split(x, -(-size // k), dim=axis)
    return n.step(pieces, n.inputs[:1], n_outputs=k)
