"""The table of ONNX operators convnp imports, and the ``Node`` view each importer works with.

An importer turns one node of the description into a ``Step``: the convnp layer(s) it made
(registered on the model, so their parameters are found and saved) and a function that the
model's forward calls on the node's runtime inputs. Adding an operator is a few lines:

    @imports("Relu")
    def relu(n):
        return n.layer_step(nn.ReLU())

``attrs`` lists the attributes an importer understands, with their ONNX defaults (any other
attribute is refused, naming it); ``static`` the input positions that must be constants (a
shape, pads, scales), which the reader keeps in the description as JSON values.
"""
from collections import namedtuple

import numpy as np

from ..nn.module import Parameter

IMPORTERS = {}
OpSpec = namedtuple("OpSpec", "fn attrs static")


class Step(namedtuple("Step", "run inputs outputs")):
    """``run(*arrays)`` -> an array or a tuple; ``inputs``/``outputs``: value names read and written."""


def imports(*ops, attrs=None, static=()):
    """Register the decorated importer for the operators ``ops``."""
    def register(fn):
        for op in ops:
            IMPORTERS[op] = OpSpec(fn, dict(attrs or {}), frozenset(static))
        return fn
    return register


class Node:
    """One node being imported: its attributes, constants and weights, and where its layers go.

    ``model`` is the OnnxModel being built, ``arrays`` the tensors' values by name (None when the
    model is rebuilt from a .npz file: the weights come from the file afterwards, so zeros of the
    declared shapes stand in).
    """

    def __init__(self, spec, model, arrays):
        self.spec, self.model, self.arrays = spec, model, arrays
        self.name, self.op = spec["name"], spec["op"]
        self.inputs, self.outputs = spec["inputs"], spec["outputs"]
        self.opset = model.graph["opset"]
        self._attrs = spec["attrs"]
        known = IMPORTERS[self.op].attrs
        for key in self._attrs:
            if key not in known:
                self.fail(f"unsupported attribute {key!r} (supported: {', '.join(sorted(known)) or 'none'})")

    # -- reading the node -------------------------------------------------------------------------
    def fail(self, what):
        """Raise the ValueError naming this node and its operator."""
        raise ValueError(f"node {self.name!r} ({self.op}): {what}")

    def attr(self, key):
        """The attribute's value, or the ONNX default declared for this operator."""
        return self._attrs.get(key, IMPORTERS[self.op].attrs[key])

    def only(self, key, *allowed):
        """The attribute's value; ``fail`` unless it is one of ``allowed``."""
        value = self.attr(key)
        if value not in allowed:
            self.fail(f"attribute {key}={value!r} is not supported (supported: {', '.join(map(repr, allowed))})")
        return value

    def has(self, i):
        return i < len(self.inputs) and self.inputs[i] != ""

    def constant(self, i, default=None):
        """Input ``i`` as a NumPy array from the description's constants (``default`` if absent)."""
        if not self.has(i):
            return default
        c = self.model.graph["constants"].get(self.inputs[i])
        if c is None:
            self.fail(f"input {i} ({self.inputs[i]!r}) must be a constant (an initializer or a Constant node);"
                      " convnp builds this layer once, not from values computed while running")
        return np.array(c["values"], dtype=c["dtype"]).reshape(c["shape"])

    def weight(self, i, required=True):
        """Input ``i`` as an array: an initializer (which becomes a parameter), or a Constant."""
        if not self.has(i):
            if required:
                self.fail(f"input {i} is missing")
            return None
        name = self.inputs[i]
        info = self.model.graph["tensors"].get(name)
        if info is None:
            constant = self.model.graph["constants"].get(name)
            if constant is not None and constant["dtype"] in ("float32", "float64"):
                return self.constant(i)
            self.fail(f"input {i} ({name!r}) must be an initializer (a weight); convnp layers own their"
                      " weights, they do not take them as computed inputs")
        if self.arrays is not None:
            return self.arrays[name]
        return np.zeros(info["shape"], dtype=info["dtype"])

    def affine(self, i, j):
        """A norm's (scale, bias): each an array (a weight), or None where it is a fixed Constant
        of ones (scale) or zeros (bias), as convnp exports a norm without them; a missing bias is None."""
        constants = self.model.graph["constants"]
        scale, bias = self.weight(i), self.weight(j, required=False)
        if self.inputs[i] in constants and np.all(scale == 1):
            scale = None
        if bias is not None and self.inputs[j] in constants and np.all(bias == 0):
            bias = None
        return scale, bias

    def shape(self, i=0):
        """The shape of input ``i`` as shape inference found it (None for unknown sizes), or None."""
        return self.model.graph["shapes"].get(self.inputs[i]) if self.has(i) else None

    def rank(self, i=0):
        """The rank of input ``i`` as shape inference found it, or None."""
        shape = self.shape(i)
        return None if shape is None else len(shape)

    # -- making steps --------------------------------------------------------------------------------
    def add_layer(self, layer, suffix=""):
        """Register ``layer`` on the model (key: the node's name, made a valid unique key); returns it."""
        return self.model.add_node_layer(self.name + suffix, layer)

    def fixed(self, value, suffix):
        """A frozen Parameter holding ``value`` (an attribute turned operand), kept in ``tensors``."""
        return self.model.add_fixed(f"{self.name}_{suffix}", np.asarray(value))

    def layer_step(self, layer, n_inputs=1, n_outputs=1):
        """A step calling ``layer`` (registered here) on the node's first ``n_inputs`` inputs."""
        self.add_layer(layer)
        return self.step(layer, self.inputs[:n_inputs], n_outputs)

    def step(self, run, inputs, n_outputs=1):
        """A step calling ``run`` on the values ``inputs``, writing the node's first ``n_outputs`` outputs."""
        self._check_outputs(n_outputs)
        return Step(run, list(inputs), self.outputs[:n_outputs])

    def _check_outputs(self, n_outputs):
        used = self.model.used_values
        for i, out in enumerate(self.outputs[n_outputs:], n_outputs):
            if out and out in used:
                self.fail(f"output {i} ({out!r}) is not supported; only the first {n_outputs} output(s) are")


def set_tensor(node, layer, attr, array, source=None, converted=False):
    """Put ``array`` in ``layer.<attr>`` (a Parameter, or a buffer), checking its shape first.

    ``source``: the input position it came from, recorded for ``OnnxModel.initializer_names``.
    An initializer that several nodes use as it is (a convnp layer called twice, exported) becomes
    one Parameter shared by their layers, so that its gradient sums over them as it did; a
    ``converted`` one (transposed, scaled) gets a Parameter of its own.
    """
    old = getattr(layer, attr)
    is_param = isinstance(old, Parameter)
    shape = np.shape(old.data if is_param else old)
    if tuple(array.shape) != tuple(shape):
        node.fail(f"{attr} has shape {tuple(array.shape)}, expected {tuple(shape)}")
    name = node.inputs[source] if source is not None else None
    shared = node.model.shared
    if is_param and name is not None and not converted and name in shared:
        value = shared[name]
    else:
        value = np.array(array, copy=True)
        value = Parameter(value) if is_param else value
        if is_param and name is not None and not converted:
            shared[name] = value
    setattr(layer, attr, value)
    if name is not None:
        node.model.sources.setdefault(id(layer), {})[attr] = name


def pair_attr(n, key, default=1):
    """A 2-D attribute (strides, dilations, kernel_shape) as a pair; fail for another length."""
    value = n.attr(key)
    if value is None:
        return (default, default)
    if len(value) != 2:
        n.fail(f"attribute {key}={value} is not 2-D; convnp's layers are 2-D")
    return tuple(int(v) for v in value)


def pads_attr(n, kernel, stride, dilation):
    """(top, left, bottom, right) from pads or auto_pad (SAME_* resolved for stride 1)."""
    auto = n.only("auto_pad", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto.startswith("SAME"):
        if stride != (1, 1):
            n.fail(f"attribute auto_pad={auto} with strides {list(stride)} is not supported (its padding"
                   " depends on the input size; export with explicit pads)")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        before = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        return (before[0], before[1], totals[0] - before[0], totals[1] - before[1])
    pads = n.attr("pads") or [0, 0, 0, 0]
    if len(pads) != 4:
        n.fail(f"attribute pads={pads} is not 2-D")
    return tuple(int(p) for p in pads)
