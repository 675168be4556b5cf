"""export: a convnp model as an ONNX file, one node (or a few) per recorded layer call.

    convnp.onnx.export(model, "lenet5.onnx", input_shape=(1, 28, 28))

How: the model runs once on zeros under ``convnp.nn.model.trace`` (eval mode), which records
every layer call with the value numbers it read and wrote. Each call becomes ONNX nodes through
the converter registered for its layer class (``export_layers.py``); a call of a sub-model
(``Sequential`` inside a model, a ``Residual`` block) is walked into, its values mapped onto
the outer ones. Node names are the layers' attribute paths ("3.block.0"; "_1", "_2" for a
second and third call of a shared layer), initializers the parameters' state_dict names
("3.block.0.weight"). The graph is built with ``onnx.helper`` and checked with ``onnx.checker``.
"""
import os

import numpy as np

from ..nn.model import trace
from ..nn.module import Layer, Parameter
from ._require import onnx_package
from . import export_activations, export_norms, export_pool, export_spatial  # noqa: F401  (converters)
from .export_layers import EXPORTERS, Site, Unsupported

MIN_OPSET = 13          # Softmax/LogSoftmax on one axis, Split sizes as an input
TRACE_BATCH = 2         # the batch traced; a Reshape's leading 2 on a batch of 2 becomes 0 (copy N)


def export(model, path, input_shape, opset=17, dynamic_batch=True):
    """Write ``model`` to the ONNX file ``path``; returns the ``onnx.ModelProto``.

    Args:
        model: a convnp layer or model (``Sequential``, ``Residual``, any ``nn.Model``).
        path: the .onnx file written.
        input_shape: one sample's shape, e.g. (1, 28, 28) (no batch dimension); a list of
            shapes for a model with several inputs.
        opset: the ONNX opset (13 to the newest the installed onnx knows).
        dynamic_batch: the batch dimension is the symbol "N" (any batch size); otherwise 1.
    Raises: ValueError naming the layer (its attribute path and class) that ONNX cannot
        express, or for a bad opset or shape; TypeError for a model that is not a Layer;
        ImportError without the onnx package.
    """
    onnx = onnx_package("convnp.onnx.export")
    if not isinstance(model, Layer):
        raise TypeError(f"convnp.onnx.export: expected a convnp layer or model, got {type(model).__name__}")
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"convnp.onnx.export: opset must be an int from {MIN_OPSET} to {newest}, got {opset!r}")
    shapes = _input_shapes(input_shape)
    proto = build_model(onnx, model, shapes, opset, dynamic_batch)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, os.fspath(path))
    return proto


def _input_shapes(input_shape):
    """A list of sample shapes (tuples of positive ints) from one shape or a list of them."""
    many = isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple))
    shapes = [tuple(s) for s in input_shape] if many else [tuple(input_shape)]
    for s in shapes:
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in s):
            raise ValueError(f"convnp.onnx.export: input_shape must be one sample's shape of positive ints"
                             f" such as (1, 28, 28), or a list of them; got {input_shape!r}")
    return shapes


def build_model(onnx, model, shapes, opset, dynamic_batch):
    """The ModelProto of ``model`` traced on zeros of ``shapes`` (sample shapes)."""
    batch = TRACE_BATCH if dynamic_batch else 1
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    zeros = [np.zeros((batch, *s), dtype=dtype) for s in shapes]
    traced = model if model._records_calls else _Single(model)
    out, tape = trace(traced, *zeros)
    out_dtypes = [o.dtype for o in (out if isinstance(out, tuple) else (out,))]
    ex = Exporter(onnx, model, opset, dtype, batch if dynamic_batch else None)
    in_names = ["input"] if len(shapes) == 1 else [f"input_{i}" for i in range(len(shapes))]
    n_out = len(tape.outputs)
    out_names = ["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]
    for name in in_names + out_names:
        ex.unique(name, "value")
    ex.walk(tape, in_names, out_names, "")
    dim = "N" if dynamic_batch else 1
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    inputs = [onnx.helper.make_tensor_value_info(n, elem, [dim, *s]) for n, s in zip(in_names, shapes)]
    outputs = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(t),
                                                  [dim if i == 0 and d == batch else d for i, d in enumerate(s)])
               for n, s, t in zip(out_names, tape.out_shapes, out_dtypes)]
    graph = onnx.helper.make_graph(ex.nodes, type(model).__name__, inputs, outputs, list(ex.initializers.values()))
    opsets = [onnx.helper.make_opsetid("", opset)]
    return onnx.helper.make_model(graph, opset_imports=opsets, producer_name="convnp",
                                  ir_version=_ir_version(onnx, opsets))


def _ir_version(onnx, opsets):
    """The oldest IR version that has the opset (what runtimes of that time read); the newest one
    for an opset newer than the onnx package's table lists."""
    try:
        return onnx.helper.find_min_ir_version_for(opsets)
    except ValueError:
        return onnx.IR_VERSION


class _Single(Layer):
    """A one-layer model, so that a plain layer (``Conv2d``) is traced like a model."""

    _records_calls = True

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, *xs):
        return self.layer(*xs)


class Exporter:
    """The nodes and initializers being built, the names in use, and helpers for the converters.

    ``walk`` turns a tape into nodes; the converters in ``export_layers.py`` call ``node``,
    ``param``, ``buffer``, ``scalar`` and ``ints``.
    """

    def __init__(self, onnx, model, opset, dtype, batch):
        self.onnx, self.opset, self.dtype, self.batch = onnx, opset, np.dtype(dtype), batch
        self.nodes, self.initializers = [], {}
        self._paths = {id(m): name for name, m in model.named_modules()}
        self._params = {id(p): name for name, p in model.named_parameters()}
        self._tensor_names = {}            # id(Parameter or buffer array) -> initializer name
        self._used = {"node": set(), "value": set()}     # ONNX keeps node and value names apart
        self.pool_indices = {}             # MaxPool2d indices value -> (ONNX's indices, pooled (H, W))

    # -- walking the recorded calls -----------------------------------------------------------
    def walk(self, tape, in_names, out_names, prefix):
        """Nodes for ``tape``'s calls; its inputs are called ``in_names``, its outputs ``out_names``."""
        names = {n: name for n, name in zip(tape.inputs, in_names) if n is not None}
        wanted = {}
        for n, name in zip(tape.outputs, out_names):
            wanted.setdefault(n, name)
        for call in tape.calls:
            self._call(call, names, wanted, prefix)
        for n, name in zip(tape.outputs, out_names):   # outputs that are inputs, or repeated
            if names[n] != name:
                self.node("Identity", [names[n]], [name], self.unique(f"{prefix or 'output'}.identity", "node"))

    def _call(self, call, names, wanted, prefix):
        layer = call.layer
        path = self._paths.get(id(layer))
        base = path or f"{prefix}.{type(layer).__name__.lower()}".lstrip(".")
        node_name = self.unique(base or type(layer).__name__.lower(), "node")
        ins = [self._input(x, names) for x in call.inputs]
        outs = []
        for i, n in enumerate(call.outputs):
            name = wanted.get(n) if n is not None else None
            name = name or self.unique(node_name if len(call.outputs) == 1 else f"{node_name}.{i}", "value")
            outs.append(name)
            if n is not None:
                names[n] = name
        if layer._records_calls:
            self.walk(call.cache, ins, outs, path or node_name)
            return
        exporter = EXPORTERS.get(type(layer))
        where = f"'{path}' " if path else ""
        if exporter is None:
            raise ValueError(f"convnp.onnx.export: layer {where}({type(layer).__name__}) has no ONNX form;"
                             f" layers that export: {', '.join(sorted(c.__name__ for c in EXPORTERS))}")
        site = Site(node_name, path or node_name, layer, ins, outs, call.in_shapes, call.out_shapes, call.cache)
        try:
            exporter(self, site)
        except Unsupported as e:
            raise ValueError(f"convnp.onnx.export: layer {where}{layer!r}: {e}".replace("\n", " ")) from None

    def _input(self, x, names):
        if isinstance(x, Parameter):
            return self.param(x)
        return None if x is None else names[x]

    # -- for the converters ---------------------------------------------------------------------
    def unique(self, name, kind):
        """``name``, or ``name_1``, ``name_2``... if taken; ``kind`` "node" or "value" (initializers too)."""
        used = self._used[kind]
        candidate, k = name, 0
        while candidate in used:
            k += 1
            candidate = f"{name}_{k}"
        used.add(candidate)
        return candidate

    def node(self, op, inputs, outputs, name, **attrs):
        """Add a node; ``inputs`` may end with None (an optional input left out) or hold "" for one."""
        while inputs and inputs[-1] is None:
            inputs = inputs[:-1]
        inputs = ["" if i is None else i for i in inputs]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, name=name, **attrs))

    def value(self, node_name, what):
        """A fresh name for an intermediate value of a converter that makes several nodes."""
        return self.unique(f"{node_name}/{what}", "value")

    def param(self, param, fallback=None):
        """The initializer holding a Parameter (its state_dict name); None for None."""
        if param is None:
            return None
        return self._tensor(param, param.data, self._params.get(id(param), fallback or "param"))

    def converted(self, param, array):
        """An initializer holding ``array``, a reshaped copy of ``param``, under the parameter's name."""
        return self._add(self._params.get(id(param), "param"), np.asarray(array))

    def buffer(self, layer_path, name, array):
        """The initializer holding a layer's buffer (running statistics): "<path>.<name>"."""
        return self._tensor(array, array, f"{layer_path}.{name}" if layer_path else name)

    def scalar(self, value, dtype=None):
        """A 0-d Constant of ``value`` in the model's dtype (or ``dtype``), shared by equal constants."""
        dtype = np.dtype(dtype or self.dtype)
        key = ("scalar", dtype.str, float(value))
        if key not in self._tensor_names:
            self._tensor_names[key] = self.fixed(f"const_{dtype.name}_{value:g}", np.array(value, dtype=dtype))
        return self._tensor_names[key]

    def fixed(self, name, array):
        """A Constant node's output holding ``array``. Not an initializer: importers keep it fixed
        (an initializer is a weight, trainable once imported)."""
        name = self.unique(name, "value")
        tensor = self.onnx.numpy_helper.from_array(np.array(array, order="C", copy=True), name)
        self.nodes.append(self.onnx.helper.make_node("Constant", [], [name], name=self.unique(name, "node"),
                                                     value=tensor))
        return name

    def ints(self, values, name):
        """An int64 1-d initializer (shapes, sizes, pads)."""
        return self._add(name, np.array(list(values), dtype=np.int64))

    def _tensor(self, owner, array, name):
        key = id(owner) if owner is not None else None
        if key is not None and key in self._tensor_names:
            return self._tensor_names[key]
        name = self._add(name, np.asarray(array))
        if key is not None:
            self._tensor_names[key] = name
        return name

    def _add(self, name, array):
        name = self.unique(name, "value")
        self.initializers[name] = self.onnx.numpy_helper.from_array(np.array(array, order="C", copy=True), name)
        return name
