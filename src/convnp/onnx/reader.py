"""load: an ONNX file read, checked and bounded, described as JSON values and arrays, built as a model.

Nothing in the file is trusted. In order: its size is bounded and it must parse as an ONNX
ModelProto with a graph, an IR version and an opset this onnx package knows (11 up); the
numbers of nodes, tensors and attribute values are bounded; every tensor's declared size is
checked against the file (or its external file, which must lie in the model's folder) before
anything is read; ``onnx.checker`` validates the graph; only then are arrays made. Operators and
attributes are looked up in convnp's own table (``builder.IMPORTERS``); nothing named in a file
is imported or executed.

The description (``describe``) is what ``OnnxModel`` is built from and what a .npz model file
stores as its config: opset, inputs, outputs, nodes (name, op, inputs, outputs, attributes as
JSON values), the float initializers' shapes and dtypes (their values become the model's
parameters and buffers), constants inline (shapes, pads, scales given as inputs; the values of
Constant nodes, which stay fixed) and the shape of each value that shape inference finds
(None for a size it cannot say, such as the batch).
"""
import os

from ._require import onnx_package
from . import import_ops  # noqa: F401  (fills the table of importers)
from .builder import IMPORTERS
from .fold import FOLDABLE, fold
from .tensors import DTYPES, TensorReader

MIN_OPSET = 11
MAX_FILE_BYTES = 2 ** 31 - 1        # protobuf's own limit for one message
MAX_NODES = 100_000
MAX_TENSORS = 100_000
MAX_ATTRIBUTE_VALUES = 1_000_000    # summed over all attributes' lists
MAX_CONSTANT_VALUES = 65_536        # a constant kept in the description (shapes, pads, scales)
FORMAT = "convnp-onnx-graph"


def load(path):
    """The ONNX model in ``path`` as an ``OnnxModel`` (an ``nn.Model``), in eval mode.

    Its forward runs the graph's nodes in topological order as convnp layer calls and merge
    ops, so ``backward``, training, ``summary``, ``convnp.viz`` and ``convnp.save`` work on it.
    Initializers become the layers' parameters (Conv weights, Gemm matrices) and buffers
    (BatchNormalization's running statistics); other float initializers become parameters.
    Raises: FileNotFoundError; ValueError naming the file (not ONNX, truncated, too large,
        external data outside its folder, a declared size larger than the file) or the node,
        operator and attribute convnp cannot express; ImportError without the onnx package.
    """
    from .model import OnnxModel

    graph, arrays = read(path)
    return OnnxModel(graph, arrays).eval()


def read(path):
    """(description, {tensor name: array}) of the ONNX file ``path``, checked as the module says."""
    onnx = onnx_package("convnp.onnx.load")
    path = os.fspath(path)
    proto, size = _parse(onnx, path)
    opset = _check_header(onnx, proto, path)
    tensors = TensorReader(path, size)
    _check_tensors(proto.graph, tensors)
    external = any(t.data_location == 1 for t in proto.graph.initializer)
    try:   # by path when data lies outside: the checker then looks for it next to the file (checked above)
        onnx.checker.check_model(path if external else proto)
    except Exception as e:  # onnx.checker.ValidationError and the C++ errors it passes on
        raise ValueError(f"{path}: not a valid ONNX model: {str(e).strip().splitlines()[0]}") from None
    return describe(proto.graph, opset, tensors, _shapes(onnx, proto))


def _parse(onnx, path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such ONNX file: {path}")
    size = os.path.getsize(path)
    if size == 0 or size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {size:,} bytes; an ONNX file holds 1 to {MAX_FILE_BYTES:,} bytes")
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES)
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # google.protobuf.message.DecodeError
        raise ValueError(f"{path}: not an ONNX model, or truncated: the protobuf does not parse ({e})") from None
    return proto, size


def _check_header(onnx, proto, path):
    """The default-domain opset; ValueError unless the file looks like a complete ONNX model."""
    if not proto.HasField("graph") or not proto.graph.node or not proto.graph.output or proto.ir_version < 3:
        raise ValueError(f"{path}: not an ONNX model, or truncated: no graph with nodes and outputs, or no"
                         f" IR version (got ir_version {proto.ir_version})")
    versions = {o.domain: o.version for o in proto.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    newest = onnx.defs.onnx_opset_version()
    if opset is None or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"{path}: ONNX opset {opset} is not supported; convnp reads opsets {MIN_OPSET} to"
                         f" {newest} (the newest this onnx package knows)")
    if proto.ir_version > onnx.IR_VERSION:
        raise ValueError(f"{path}: IR version {proto.ir_version} is newer than this onnx package reads"
                         f" ({onnx.IR_VERSION})")
    return opset


def _check_tensors(graph, tensors):
    """Counts bounded, every tensor's declared size and external path checked; nothing read yet."""
    where = tensors.path
    if len(graph.node) > MAX_NODES or len(graph.initializer) > MAX_TENSORS:
        raise ValueError(f"{where}: {len(graph.node):,} nodes and {len(graph.initializer):,} initializers;"
                         f" convnp reads at most {MAX_NODES:,} and {MAX_TENSORS:,}")
    if graph.sparse_initializer:
        raise ValueError(f"{where}: sparse initializers are not supported")
    for t in graph.initializer:
        tensors.declared(t, f"initializer {t.name!r}")
    count = 0
    for node in graph.node:
        for a in node.attribute:
            count += len(a.ints) + len(a.floats) + len(a.strings) + len(a.tensors) + len(a.graphs)
            if a.HasField("t"):
                tensors.declared(a.t, f"node {node.name!r} ({node.op_type}) attribute {a.name!r}")
    if count > MAX_ATTRIBUTE_VALUES:
        raise ValueError(f"{where}: {count:,} attribute values; convnp reads at most {MAX_ATTRIBUTE_VALUES:,}")


def _shapes(onnx, proto):
    """{value name: [size or None, ...]} from ONNX shape inference (absent where it cannot say)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:  # shape inference is a help here, not a requirement
        inferred = proto.graph
    shapes = {}
    for v in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
    return shapes


# -- the description -------------------------------------------------------------------------------
def describe(graph, opset, tensors, shapes):
    """(description, arrays): see the module docstring; ValueError for what convnp cannot express."""
    path = tensors.path
    sources = {t.name: (t, f"initializer {t.name!r}") for t in graph.initializer}
    nodes = []
    for i, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{i}"
        if node.domain not in ("", "ai.onnx"):
            raise ValueError(f"{path}: node {name!r}: operator {node.op_type} of domain {node.domain!r} is not"
                             " supported (only the default ONNX domain)")
        if node.op_type == "Constant":
            sources[node.output[0]] = (_constant_tensor(node, name, path), f"node {name!r} (Constant)")
            continue
        if node.op_type == "Identity" and node.input[0] in sources:   # PyTorch shares equal constants so
            sources[node.output[0]] = sources[node.input[0]]           # (all-zero conv biases)
            continue
        if _folded(node, name, sources, tensors, opset):
            continue
        if node.op_type not in IMPORTERS:
            raise ValueError(f"{path}: node {name!r}: operator {node.op_type} is not supported; supported:"
                             f" {', '.join(sorted(IMPORTERS))}")
        nodes.append({"name": name, "op": node.op_type, "inputs": list(node.input), "outputs": list(node.output),
                      "attrs": {a.name: _attribute(a, name, node.op_type, path) for a in node.attribute}})
    constants, weights, arrays = {}, {}, {}
    for node in nodes:
        static = IMPORTERS[node["op"]].static
        for i, value in enumerate(node["inputs"]):
            if value not in sources or value in constants or value in weights:
                continue
            t, where = sources[value]
            array = _array(sources[value], tensors)
            if i in static or (not hasattr(t, "dims") and array.size <= MAX_CONSTANT_VALUES):
                constants[value] = _inline(array, where, path)     # Constant nodes' values stay fixed
            else:
                weights[value] = {"shape": list(array.shape), "dtype": array.dtype.name}
                arrays[value] = array
    inputs = [_value_info(v) for v in graph.input if v.name not in sources]
    description = {"format": FORMAT, "version": 1, "opset": opset, "inputs": inputs,
                   "outputs": [v.name for v in graph.output], "nodes": nodes, "tensors": weights,
                   "constants": constants, "shapes": shapes}
    return description, arrays


def _folded(node, name, sources, tensors, opset):
    """Fold ``node`` (fold.py) when its inputs are all constants; its outputs become sources."""
    if node.op_type not in FOLDABLE or not all(i in sources for i in node.input if i):
        return False
    inputs = [None if not i else _array(sources[i], tensors) for i in node.input]
    outputs = fold(node, inputs, opset)
    if outputs is None:
        return False
    for out, array in zip(node.output, outputs):
        sources[out] = (array, f"node {name!r} ({node.op_type}, folded)")
    return True


def _array(source, tensors):
    t, where = source
    return t if not hasattr(t, "dims") else tensors.to_array(t, where)


def _constant_tensor(node, name, path):
    """A Constant node's value as an array (its tensor is checked like an initializer)."""
    import numpy as np
    from onnx import helper

    for a in node.attribute:
        if a.name == "value":
            return TensorReader(path, os.path.getsize(path)).to_array(a.t, f"node {name!r} (Constant)")
        if a.name in ("value_float", "value_floats", "value_int", "value_ints"):
            value = helper.get_attribute_value(a)
            return np.array(value, dtype=np.float32 if "float" in a.name else np.int64)
    raise ValueError(f"{path}: node {name!r} (Constant): attribute {node.attribute[0].name!r} is not supported"
                     " (value, value_float(s) and value_int(s) are)")


_ATTRIBUTE_KINDS = {1: "f", 2: "i", 3: "s", 6: "floats", 7: "ints", 8: "strings"}


def _attribute(a, node, op, path):
    """An attribute as a JSON value (number, string or list); ValueError for tensors and graphs."""
    kind = _ATTRIBUTE_KINDS.get(a.type)
    if kind is None:
        raise ValueError(f"{path}: node {node!r} ({op}): attribute {a.name!r} is of a type convnp does not"
                         " read (tensors and graphs in attributes are not supported)")
    if kind in ("f", "i"):
        return getattr(a, kind)
    if kind == "s":
        return a.s.decode("utf-8", "replace")
    if kind == "strings":
        return [s.decode("utf-8", "replace") for s in a.strings]
    return list(getattr(a, kind))


def _inline(array, where, path):
    if array.size > MAX_CONSTANT_VALUES:
        raise ValueError(f"{path}: {where} is used as a constant (a shape, sizes, pads or scales) but holds"
                         f" {array.size:,} values; at most {MAX_CONSTANT_VALUES:,} are read")
    return {"shape": list(array.shape), "dtype": array.dtype.name, "values": array.ravel().tolist()}


def _value_info(v):
    t = v.type.tensor_type
    dtype = DTYPES.get(t.elem_type, (None,))[0]
    shape = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] if t.HasField("shape") else None
    return {"name": v.name, "dtype": None if dtype is None else dtype.__name__, "shape": shape}
