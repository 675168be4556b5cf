"""convnp.onnx.load refuses bad files with a clear message, before allocating anything large."""
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import convnp  # noqa: E402
from convnp import models, nn  # noqa: E402
from convnp.io import ModelFileError  # noqa: E402


def small_model(nodes, initializers=(), opset=17, inputs=None, outputs=None):
    """A model whose input is x (N, 2) float and whose output is y."""
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.fixture
def lenet_file(tmp_path):
    path = tmp_path / "lenet.onnx"
    convnp.onnx.export(models.lenet5(rng=0), path, (1, 28, 28))
    return path


def test_truncated(lenet_file, tmp_path):
    data = lenet_file.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 100):
        bad = tmp_path / f"cut{cut}.onnx"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not an ONNX model, or truncated"):
            convnp.onnx.load(bad)


def test_random_bytes_empty_and_missing(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        bad = tmp_path / f"random{i}.onnx"
        bad.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with pytest.raises(ValueError, match=f"random{i}.onnx: not an ONNX model"):
            convnp.onnx.load(bad)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.onnx: 0 bytes; an ONNX file holds 1 to"):
        convnp.onnx.load(tmp_path / "empty.onnx")
    with pytest.raises(FileNotFoundError, match="no such ONNX file"):
        convnp.onnx.load(tmp_path / "nothing.onnx")
    npz = tmp_path / "m.npz"
    convnp.save(npz, models.lenet5(rng=0))
    with pytest.raises(ValueError, match="not an ONNX model"):
        convnp.onnx.load(npz)


def test_unsupported_operator_and_attribute(tmp_path):
    onnx.save(small_model([helper.make_node("Cos", ["x"], ["y"], name="the_cos")]), tmp_path / "cos.onnx")
    with pytest.raises(ValueError, match=r"node 'the_cos': operator Cos is not supported; supported: Add, "):
        convnp.onnx.load(tmp_path / "cos.onnx")
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    gemm = helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transA=1)
    onnx.save(small_model([gemm], [w]), tmp_path / "gemm.onnx")
    with pytest.raises(ValueError, match=r"node 'fc' \(Gemm\): attribute transA=1 is not supported"):
        convnp.onnx.load(tmp_path / "gemm.onnx")
    pool = helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], dilations=[2, 2])
    onnx.save(small_model([pool], opset=19), tmp_path / "pool.onnx")
    with pytest.raises(ValueError, match=r"node 'pool' \(AveragePool\): attribute dilations=\[2, 2\] is not supported"):
        convnp.onnx.load(tmp_path / "pool.onnx")
    other = helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")
    model = small_model([other])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(model, tmp_path / "domain.onnx")
    with pytest.raises(ValueError, match=r"node 'r': operator Relu of domain 'com.example' is not supported"):
        convnp.onnx.load(tmp_path / "domain.onnx")


def test_opset_out_of_range(tmp_path):
    onnx.save(small_model([helper.make_node("Relu", ["x"], ["y"])], opset=10), tmp_path / "old.onnx")
    with pytest.raises(ValueError, match="ONNX opset 10 is not supported; convnp reads opsets 11 to"):
        convnp.onnx.load(tmp_path / "old.onnx")


def _external(location, tmp_path, dims=(3, 2), length=None):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(dims), data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", str(length or 24))):
        w.external_data.add(key=key, value=value)
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    onnx.save(small_model([helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)], [w]),
              folder / "m.onnx")
    return folder / "m.onnx"


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin", "link.bin"])
def test_external_data_outside_the_folder(location, tmp_path):
    (tmp_path / "secret.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    path = _external(location, tmp_path)
    if location == "link.bin":
        os.symlink(tmp_path / "secret.bin", path.parent / "link.bin")    # a link leading out of the folder
    with pytest.raises(ValueError, match="refers to external data at .* outside the model file's folder|leads"
                                         " outside the model file's folder"):
        convnp.onnx.load(path)


def test_external_data_inside_the_folder(tmp_path):
    path = _external("weights.bin", tmp_path)
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    (path.parent / "weights.bin").write_bytes(w.tobytes())
    model = convnp.onnx.load(path)
    x = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(model(x), x @ w.T)
    (path.parent / "weights.bin").write_bytes(w.tobytes()[:12])        # shorter than declared
    with pytest.raises(ValueError, match="declares shape \\[3, 2\\] \\(24 bytes\\), more than the external file"):
        convnp.onnx.load(path)


def test_declared_size_far_larger_than_the_file(tmp_path):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[100_000, 100_000], raw_data=b"\0" * 16)
    onnx.save(small_model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [w]), tmp_path / "big.onnx")
    with pytest.raises(ValueError, match=r"initializer 'w' declares shape \[100000, 100000\] \(40,000,000,000"
                                         r" bytes\), more than the whole model file holds"):
        convnp.onnx.load(tmp_path / "big.onnx")
    small = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 2], raw_data=b"\0" * 16)
    onnx.save(small_model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [small]), tmp_path / "s.onnx")
    with pytest.raises(ValueError, match="declares 24 bytes of data, the file holds 16"):
        convnp.onnx.load(tmp_path / "s.onnx")


def test_computed_weight_and_constant(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["w"]), helper.make_node("Gemm", ["x", "w"], ["y"], name="g")]
    onnx.save(small_model(nodes), tmp_path / "w.onnx")
    with pytest.raises(ValueError, match=r"node 'g' \(Gemm\): input 1 \('w'\) must be an initializer"):
        convnp.onnx.load(tmp_path / "w.onnx")
    shape = helper.make_node("Shape", ["x"], ["s"])
    concat = helper.make_node("Concat", ["s", "s"], ["pads"], axis=0)
    onnx.save(small_model([shape, concat, helper.make_node("Pad", ["x", "pads"], ["y"], name="p")]), tmp_path / "s.onnx")
    with pytest.raises(ValueError, match=r"node 'p' \(Pad\): input 1 \('pads'\) must be a constant"):
        convnp.onnx.load(tmp_path / "s.onnx")


# -- an imported model's .npz file: its description is checked like any file content ----------------------
def _saved(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3, rng=0))
    convnp.onnx.export(model, tmp_path / "m.onnx", (2,))
    imported = convnp.onnx.load(tmp_path / "m.onnx")
    convnp.save(tmp_path / "m.npz", imported)
    return tmp_path / "m.npz"


def _tamper(path, change):
    import json

    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(bytes(arrays["__convnp__"]).decode())
    change(header["architecture"]["config"]["graph"])
    arrays["__convnp__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change,message", [
    (lambda g: g["nodes"][0].update(op="Exec"), "node '0': operator Exec is not supported"),
    (lambda g: g["tensors"]["0.weight"].update(shape=[2 ** 20, 2 ** 20]),
     "the graph declares 1,099,511,627,779 tensor values in all; at most 268,435,456 are built"),
    (lambda g: g.update(nodes="everything"), "malformed graph description: nodes must be a list"),
    (lambda g: g["nodes"][0]["attrs"].update(transB={"module": "os"}), "malformed graph description: node '0'"),
    (lambda g: g["nodes"][0]["attrs"].update(transB=[{"__class__": "os.system"}]), "unexpected tagged value"),
])
def test_tampered_npz_description(change, message, tmp_path):
    path = _saved(tmp_path)
    convnp.load(path)
    _tamper(path, change)
    with pytest.raises(ModelFileError, match=message):
        convnp.load(path)
