"""External conformance: the ONNX backend node tests shipped with onnx, run against convnp two ways.

onnx 1.22 ships each node test as files: ``onnx/backend/test/data/node/test_*/model.onnx`` (one
node) and ``test_data_set_*/input_*.pb`` / ``output_*.pb``. Selected: the tests whose model is a
single node of one of OPERATORS (the 2-D float operators convnp has, their activations and
losses, and the shape/merge operators convnp records). The ``*_expanded`` variants are left
out: they repeat the same data through a function body of primitive operators (Constant,
CastLike, ReduceMean...) that convnp does not express as layers.

- ``layers``: each node's attributes mapped onto convnp's layer API (onnx_node_layers.py), its
  weight inputs set as the layer's parameters, the layer run on the data inputs.
- ``load``: the test's model with its weight inputs made initializers (a convnp layer owns its
  weights; the data inputs stay graph inputs), read with ``convnp.onnx.load`` and run.

Outputs are compared with the expected ones at the suite's own tolerance (rtol 1e-3, atol 1e-7,
as ``onnx.backend.test``'s runner: some expected outputs are stored rounded to 4 digits). A test
convnp cannot express is skipped with the reason (``pytest -rs`` lists them); the terminal
summary gives the passed / unsupported / failed counts of each way.

Where ONNX and PyTorch differ, convnp follows PyTorch: training-mode BatchNormalization updates
the running variance with the unbiased batch variance in PyTorch and the biased one in ONNX, so
that output is compared with PyTorch's rule computed from the test's own inputs; of
LayerNormalization's outputs only Y is compared (Mean and InvStdDev are not outputs of
PyTorch's LayerNorm). Losses (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss) are convnp
Loss objects, not layers of a graph: they run through the layer API only.
"""
import glob
import os
from collections import Counter

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

import convnp  # noqa: E402
import onnx_node_activations  # noqa: E402,F401  (adds the activations and losses to LAYERS)
import onnx_node_spatial  # noqa: E402,F401  (ConvTranspose, Pad, Resize, unpooling...)
from onnx_node_layers import LAYERS, Unsupported  # noqa: E402

OPERATORS = (
    "Conv ConvTranspose MaxPool AveragePool GlobalAveragePool GlobalMaxPool MaxUnpool BatchNormalization"
    " InstanceNormalization LayerNormalization GroupNormalization LRN Resize Upsample Pad DepthToSpace"
    " SpaceToDepth Relu LeakyRelu Elu Selu Celu Gelu Sigmoid Tanh HardSigmoid HardSwish Mish PRelu Softplus"
    " Softsign Swish ThresholdedRelu Clip Softmax LogSoftmax SoftmaxCrossEntropyLoss NegativeLogLikelihoodLoss"
    " Gemm MatMul Flatten Dropout Identity Add Sub Mul Div Sum Concat Split Reshape").split()
ALL_DATA = {"Add", "Sub", "Mul", "Sum", "Concat"}   # every input is data, none is a weight
DATA_INPUTS = {"MaxUnpool": 2}                      # x and the indices; otherwise the first input
Y_ONLY = {"LayerNormalization"}    # its Mean and InvStdDev outputs are not PyTorch's: Y is compared
RTOL, ATOL = 1e-3, 1e-7
NODE_TESTS = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")


class Case:
    """One node test: its folder, model, node, and first data set."""

    def __init__(self, folder):
        self.folder, self.name = folder, os.path.basename(folder)
        self.model = onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False)
        self.node = self.model.graph.node[0]
        self.op = self.node.op_type
        self.opset = next(o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx"))
        self.attrs = {a.name: _value(onnx.helper.get_attribute_value(a)) for a in self.node.attribute}
        self.n_outputs = len([o for o in self.node.output if o])

    def data(self):
        data_set = sorted(glob.glob(os.path.join(self.folder, "test_data_set_*")))[0]
        read = lambda kind: [numpy_helper.to_array(onnx.load_tensor(f))  # noqa: E731
                             for f in sorted(glob.glob(os.path.join(data_set, f"{kind}_*.pb")))]
        return read("input"), read("output")


def _value(v):
    return v.decode() if isinstance(v, bytes) else [_value(x) for x in v] if isinstance(v, list) else v


def _cases():
    cases = []
    for folder in sorted(glob.glob(os.path.join(NODE_TESTS, "test_*"))):
        if "_expanded" in folder:
            continue
        model = onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False)
        if len(model.graph.node) == 1 and model.graph.node[0].op_type in OPERATORS:
            cases.append(folder)
    return cases


if not os.path.isdir(NODE_TESTS):
    pytest.skip(f"onnx {onnx.__version__} ships no node test files (onnx 1.22.0 does: pip install onnx==1.22.0)",
                allow_module_level=True)
CASES = _cases()


# -- the two ways ------------------------------------------------------------------------------------
def _check_types(case):
    for v in list(case.model.graph.input) + list(case.model.graph.output):
        if not v.type.HasField("tensor_type"):
            raise Unsupported(f"{v.name!r} is not a tensor (sequences and optionals are not convnp values)")


def _float_data(case, inputs, n_data):
    for x in inputs[:n_data] if case.op in ALL_DATA else inputs[:1]:
        if x.dtype.kind != "f" or x.dtype == np.float16:
            raise Unsupported(f"a {x.dtype} input: convnp layers compute in float32 or float64")


def run_layers(case):
    _check_types(case)
    if case.op not in LAYERS:
        raise Unsupported(f"convnp has no layer for {case.op}")
    inputs, expected = case.data()
    by_name = dict(zip([v.name for v in case.model.graph.input], inputs))
    node_inputs = [by_name.get(name) if name else None for name in case.node.input]
    while node_inputs and node_inputs[-1] is None:
        node_inputs.pop()
    _float_data(case, node_inputs, len(node_inputs) if case.op in ALL_DATA else 1)
    with convnp.no_grad():
        out = LAYERS[case.op](case, node_inputs)
    return (out if isinstance(out, tuple) else (out,)), expected, node_inputs


def run_load(case, tmp_path):
    _check_types(case)
    inputs, expected = case.data()
    n_data = len(inputs) if case.op in ALL_DATA else DATA_INPUTS.get(case.op, 1)
    _float_data(case, inputs, n_data)
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    for v, x in list(zip(graph.input, inputs))[n_data:]:
        graph.initializer.append(numpy_helper.from_array(x, v.name))
    data = list(graph.input)[:n_data]
    del graph.input[:]
    graph.input.extend(data)
    if case.op in Y_ONLY:     # ONNX-only statistics outputs: compared through the layer API neither
        del graph.output[1:]
        expected = expected[:1]
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    try:
        imported = convnp.onnx.load(path)
    except ValueError as e:   # convnp says which node, operator or attribute it cannot express
        raise Unsupported(str(e).replace(str(path) + ": ", "")) from None
    with convnp.no_grad():
        out = imported(*inputs[:n_data])
    return (out if isinstance(out, tuple) else (out,)), expected, inputs


def _pytorch_running_var(case, inputs, expected):
    """Training-mode BatchNormalization's third output by PyTorch's rule (unbiased batch variance)."""
    x, m = inputs[0], case.attrs.get("momentum", 0.9)
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    var = x.astype(np.float64).var(axis=axes) * n / (n - 1)
    return [expected[0], expected[1], (inputs[4] * m + var * (1 - m)).astype(expected[2].dtype)]


# -- the test --------------------------------------------------------------------------------------------
class Tally:
    """Counts per way, printed in pytest's terminal summary."""

    def __init__(self):
        self.counts = {"layers": Counter(), "load": Counter()}
        self.unsupported = []

    def pytest_terminal_summary(self, terminalreporter):
        for way, c in self.counts.items():
            if sum(c.values()):
                terminalreporter.write_line(
                    f"ONNX backend node tests through convnp's {way}: {c['passed']} passed, {c['unsupported']}"
                    f" unsupported, {c['failed']} failed (of {sum(c.values())})")
        if terminalreporter.config.getoption("verbose") > 0:
            for line in self.unsupported:
                terminalreporter.write_line(f"  unsupported: {line}")


@pytest.fixture(scope="module")
def tally(request):
    t = Tally()
    request.config.pluginmanager.register(t, "onnx-conformance-tally")
    yield t


@pytest.mark.parametrize("folder", CASES, ids=[os.path.basename(c)[5:] for c in CASES])
@pytest.mark.parametrize("way", ["layers", "load"])
def test_node(folder, way, tally, tmp_path):
    case = Case(folder)
    try:
        outs, expected, inputs = run_layers(case) if way == "layers" else run_load(case, tmp_path)
        if case.op == "BatchNormalization" and case.attrs.get("training_mode"):
            expected = _pytorch_running_var(case, inputs, expected)
        assert len(outs) == len(expected), f"{len(outs)} outputs, expected {len(expected)}"
        for i, (ours, theirs) in enumerate(zip(outs, expected)):
            if ours is None and case.op in Y_ONLY:
                continue
            assert ours.shape == theirs.shape, f"output {i}: shape {ours.shape}, expected {theirs.shape}"
            np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{case.name} output {i}")
    except Unsupported as e:
        tally.counts[way]["unsupported"] += 1
        tally.unsupported.append(f"{case.name} ({way}): {e}")
        pytest.skip(f"unsupported: {e}")
    except Exception:
        tally.counts[way]["failed"] += 1
        raise
    tally.counts[way]["passed"] += 1
