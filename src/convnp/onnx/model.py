"""OnnxModel: an imported ONNX graph as a convnp model whose forward runs the nodes as layer calls.

The model is built from the graph's description (``reader.describe``: JSON values only), which
is also its ``config()``: ``convnp.save`` stores it with the weights, and ``convnp.load``
rebuilds the same layers from it (weights from the file). The description comes from a file,
so it is checked here, value by value, before anything is built; operators are looked up in
convnp's own table, and the declared tensor sizes are bounded before zeros are allocated.
No NumPy code of the graph runs outside layer calls: every operation is a recorded convnp call,
so ``backward`` works through the whole graph.
"""
import math
import re
from collections import deque

import numpy as np

from .. import checks, init
from ..nn.container import ModuleDict
from ..nn.model import Model
from ..nn.module import Layer, Parameter
from . import import_ops  # noqa: F401  (fills the table of importers)
from .builder import IMPORTERS, Node
from ..io import register_layer

FLOAT_DTYPES = ("float32", "float64")
CONSTANT_DTYPES = FLOAT_DTYPES + ("int64", "int32", "int16", "int8", "uint8", "bool")
MAX_ELEMENTS = 2 ** 28          # all tensors together (1 GiB of float32) when rebuilt from a description
MAX_NAMES = 1_000_000


class Tensors(Layer):
    """The float initializers a graph uses directly (an Add's bias, a Mul's scale), as Parameters."""

    def forward(self, *args):
        raise TypeError("Tensors is not callable: it holds an imported model's constant operands")


class OnnxModel(Model):
    """A convnp model made from an ONNX graph (``convnp.onnx.load``).

    Args: graph: the description (``convnp.onnx.reader.describe``); arrays: the tensors'
    values by name (None: zeros, as when ``convnp.load`` rebuilds it before reading the weights).
    Sub-layers: ``layers`` (a ModuleDict keyed by node name, "/" and "." made "_") and
    ``tensors`` (float operands used directly), so state_dict keys read "layers.conv1.weight".
    forward(*inputs) takes the graph's inputs in order and returns its output(s).
    """

    def __init__(self, graph, arrays=None):
        super().__init__()
        self.__dict__["_init_args"] = ((), {})   # config() is the description; keep no arrays alive
        self.graph = check_graph(graph)
        if arrays is None:
            _check_sizes(self.graph)
        self.layers = ModuleDict()
        self.tensors = Tensors()
        self._keys = set()
        self.sources = {}          # id(layer) -> {attribute: initializer name}
        self.shared = {}           # initializer name -> the Parameter made of it (see builder.set_tensor)
        self.used_values = {v for n in self.graph["nodes"] for v in n["inputs"]} | set(self.graph["outputs"])
        self._steps = [self._build(spec, arrays) for spec in _topological(self.graph)]
        del self.used_values, self.shared
        self._constants = self._operands(arrays)

    def config(self):
        return {"graph": self.graph}

    def extra_repr(self):
        return f"{len(self.graph['nodes'])} nodes, opset {self.graph['opset']}"

    def _build(self, spec, arrays):
        node = Node(spec, self, arrays)
        try:
            return IMPORTERS[spec["op"]].fn(node)
        except ValueError as e:
            if str(e).startswith("node "):
                raise
            node.fail(str(e))

    def add_node_layer(self, name, layer):
        """Put a node's layer in ``layers`` under a unique valid key made from ``name``."""
        key = re.sub(r"[^0-9A-Za-z_]", "_", name.lstrip("/")).strip("_") or "node"
        base, k = key, 0
        while key in self._keys:
            k += 1
            key = f"{base}_{k}"
        self._keys.add(key)
        self.layers[key] = layer
        return layer

    def add_fixed(self, name, array):
        """A frozen Parameter (requires_grad False) in ``tensors``, under a key made from ``name``."""
        key = self._tensor_key(name)
        setattr(self.tensors, key, Parameter(np.array(array, copy=True), requires_grad=False))
        return getattr(self.tensors, key)

    def _tensor_key(self, name):
        key = re.sub(r"[^0-9A-Za-z_]", "_", name.lstrip("/")).strip("_") or "tensor"
        while key in vars(self.tensors):
            key += "_"
        return key

    def _operands(self, arrays):
        """{value name: key in ``tensors``} for the tensors that steps read as values, not as layer
        weights: float initializers become Parameters, Constant nodes' values frozen ones."""
        produced = {v["name"] for v in self.graph["inputs"]} | {o for s in self._steps for o in s.outputs}
        operands = {}
        for step in self._steps:
            for name in step.inputs:
                if name in produced or name in operands or not name:
                    continue
                info, constant = self.graph["tensors"].get(name), self.graph["constants"].get(name)
                if info is not None:
                    data = arrays[name] if arrays is not None else init.full(info["shape"], 0, info["dtype"])
                elif constant is not None and constant["dtype"] in FLOAT_DTYPES:
                    data = np.array(constant["values"], constant["dtype"]).reshape(constant["shape"])
                else:
                    raise ValueError(f"OnnxModel: value {name!r} is used but no node makes it (or it is not"
                                     " a float tensor)")
                key = self._tensor_key(name)
                setattr(self.tensors, key, Parameter(np.array(data, copy=True), requires_grad=info is not None))
                operands[name] = key
        return operands

    def forward(self, *inputs):
        specs = self.graph["inputs"]
        if len(inputs) != len(specs):
            raise ValueError(f"OnnxModel: expected {len(specs)} input(s) ({', '.join(s['name'] for s in specs)}),"
                             f" got {len(inputs)}")
        values = {}
        for spec, x in zip(specs, inputs):
            _check_input(spec, x)
            values[spec["name"]] = x
        values.update((name, getattr(self.tensors, key)) for name, key in self._constants.items())
        for step in self._steps:
            out = step.run(*[values[n] if n else None for n in step.inputs])
            values.update(zip(step.outputs, out if isinstance(out, tuple) else (out,)))
        outs = tuple(values[n] for n in self.graph["outputs"])
        return outs[0] if len(outs) == 1 else outs

    def initializer_names(self):
        """{state_dict key: the ONNX initializer it holds} (Gemm's B with transB=0 and alpha != 1,
        and BatchNormalization's momentum, are held converted; see import_ops.py)."""
        names = {}
        for prefix, m in self.named_modules():
            for attr, source in self.sources.get(id(m), {}).items():
                names[f"{prefix}.{attr}"] = source
        names.update((f"tensors.{key}", name) for name, key in self._constants.items())
        return names

    def input_shape(self):
        """The first input's sample shape (C, H, W) when the graph fixes it, else None."""
        shape = self.graph["inputs"][0]["shape"] if self.graph["inputs"] else None
        if shape and len(shape) > 1 and all(isinstance(d, int) and d > 0 for d in shape[1:]):
            return tuple(shape[1:])
        return None


def _check_input(spec, x):
    """A float array of the declared shape; the first dimension is the batch: any size (convnp
    trains and evaluates in batches, where a file exported for batch 1 fixes it at 1)."""
    shape = spec["shape"]
    if spec["dtype"] not in CONSTANT_DTYPES[2:] or not hasattr(x, "dtype") or x.dtype.kind not in "iub":
        checks.floating(x, f"OnnxModel input {spec['name']!r}")      # integer inputs where declared so
    if shape is not None and (len(shape) != x.ndim or any(d not in (None, 0) and d != s
                                                         for d, s in zip(shape[1:], x.shape[1:]))):
        want = "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"
        raise ValueError(f"OnnxModel: input {spec['name']!r} expected shape {want}, got {tuple(x.shape)}")


def _topological(graph):
    """The nodes in an order where each runs after the nodes making its inputs (Kahn's algorithm)."""
    nodes = graph["nodes"]
    maker = {}
    for i, n in enumerate(nodes):
        for out in n["outputs"]:
            if out:
                if out in maker:
                    raise ValueError(f"OnnxModel: value {out!r} is made by two nodes")
                maker[out] = i
    waiting = [{maker[v] for v in n["inputs"] if v in maker} for n in nodes]
    users = [[] for _ in nodes]
    for i, deps in enumerate(waiting):
        for d in deps:
            users[d].append(i)
    ready = deque(i for i, deps in enumerate(waiting) if not deps)
    order = []
    while ready:
        i = ready.popleft()
        order.append(nodes[i])
        for u in users[i]:
            waiting[u].discard(i)
            if not waiting[u]:
                ready.append(u)
    if len(order) != len(nodes):
        raise ValueError("OnnxModel: the graph has a cycle")
    return order


# -- checking a description that came from a file -------------------------------------------------
def check_graph(graph):
    """``graph`` if it is a well-formed description (types, names, bounds); ValueError otherwise."""
    def fail(what):
        raise ValueError(f"OnnxModel: malformed graph description: {what}")

    if not isinstance(graph, dict) or graph.get("format") != "convnp-onnx-graph" or graph.get("version") != 1:
        fail("expected a dict with format 'convnp-onnx-graph', version 1")
    keys = {"format", "version", "opset", "inputs", "outputs", "nodes", "tensors", "constants", "shapes"}
    if set(graph) != keys:
        fail(f"expected the keys {sorted(keys)}, got {sorted(graph)}")
    if not isinstance(graph["opset"], int) or not 1 <= graph["opset"] <= 1000:
        fail(f"opset {graph['opset']!r}")
    _check_list(graph["inputs"], "inputs", fail, _check_value_info)
    _check_list(graph["outputs"], "outputs", fail, lambda o, f: isinstance(o, str) or f(f"output {o!r}"))
    _check_list(graph["nodes"], "nodes", fail, _check_node)
    for key, check in (("tensors", _check_tensor), ("constants", _check_constant), ("shapes", _check_shape)):
        table = graph[key]
        if not isinstance(table, dict) or len(table) > MAX_NAMES:
            fail(f"{key} must be a dict")
        for name, value in table.items():
            check(name, value, fail)
    return graph


def _check_list(items, what, fail, check):
    if not isinstance(items, list) or len(items) > MAX_NAMES:
        fail(f"{what} must be a list")
    for item in items:
        check(item, fail)


def _check_value_info(v, fail):
    ok = isinstance(v, dict) and set(v) == {"name", "dtype", "shape"} and isinstance(v["name"], str)
    shape = v.get("shape") if ok else None
    if not ok or not (shape is None or (isinstance(shape, list) and all(_dim(d) for d in shape))):
        fail(f"input {v!r}")


def _dim(d):
    return d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)


def _check_node(n, fail):
    ok = isinstance(n, dict) and set(n) == {"name", "op", "inputs", "outputs", "attrs"}
    ok = ok and isinstance(n["name"], str) and isinstance(n["op"], str) and isinstance(n["attrs"], dict)
    ok = ok and all(isinstance(n[k], list) and all(isinstance(v, str) for v in n[k]) for k in ("inputs", "outputs"))
    if not ok:
        fail(f"node {str(n)[:200]}")
    if n["op"] not in IMPORTERS:
        raise ValueError(f"node {n['name']!r}: operator {n['op']} is not supported; supported:"
                         f" {', '.join(sorted(IMPORTERS))}")
    for key, value in n["attrs"].items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (int, float, str)) for v in values):
            fail(f"node {n['name']!r} attribute {key!r}")


def _check_tensor(name, t, fail):
    if not (isinstance(t, dict) and set(t) == {"shape", "dtype"} and t["dtype"] in FLOAT_DTYPES
            and isinstance(t["shape"], list) and all(_dim(d) and d is not None for d in t["shape"])):
        fail(f"tensor {name!r}: {str(t)[:200]}")


def _check_constant(name, c, fail):
    ok = isinstance(c, dict) and set(c) == {"shape", "dtype", "values"} and c["dtype"] in CONSTANT_DTYPES
    ok = ok and isinstance(c["shape"], list) and all(_dim(d) and d is not None for d in c["shape"])
    ok = ok and isinstance(c["values"], list) and len(c["values"]) == math.prod(c["shape"])
    if not ok or not all(isinstance(v, (int, float)) for v in c["values"]):
        fail(f"constant {name!r}")


def _check_shape(name, shape, fail):
    if not isinstance(shape, list) or len(shape) > 64 or not all(_dim(d) for d in shape):
        fail(f"shape of {name!r}: {str(shape)[:200]}")


def _check_sizes(graph):
    total = sum(math.prod(t["shape"]) for t in graph["tensors"].values())
    if total > MAX_ELEMENTS:
        raise ValueError(f"OnnxModel: the graph declares {total:,} tensor values in all; at most {MAX_ELEMENTS:,}"
                         " are built")


register_layer(OnnxModel)   # convnp.save / convnp.load know it without classes=[...]
