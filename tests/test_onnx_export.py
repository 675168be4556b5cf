"""convnp.onnx.export: every model and every layer written as ONNX, checked, and run by ONNX Runtime.

Each export is checked with onnx.checker (full check, inside export) and run by ONNX Runtime on
random batches of 1 and 5 in float32; the outputs must equal convnp's within 1e-5 (relative to
the output's largest value).
"""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import convnp  # noqa: E402
from conftest import max_rel_error  # noqa: E402
from convnp import models, nn  # noqa: E402
from convnp.nn.module import Layer, Parameter  # noqa: E402
from convnp.onnx import runtime  # noqa: E402

TOL = 1e-5


def random_stats(model, seed=0):
    """Running statistics that are not 0 and 1, so that the inference form is really tested."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if getattr(m, "running_mean", None) is not None:
            m.running_mean = rng.standard_normal(m.running_mean.shape).astype(m.running_mean.dtype)
            m.running_var = rng.uniform(0.5, 2.0, m.running_var.shape).astype(m.running_var.dtype)
    return model


def export_and_compare(model, shape, tmp_path, opset=17, batches=(1, 5), dynamic_batch=True, name="model.onnx"):
    """Export ``model`` for samples of ``shape``; ONNX Runtime's outputs against convnp's, per batch size."""
    path = tmp_path / name
    model.eval()
    proto = convnp.onnx.export(model, path, shape, opset=opset, dynamic_batch=dynamic_batch)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    shapes = shape if isinstance(shape[0], tuple) else [shape]
    rng = np.random.default_rng(1)
    for n in batches:
        xs = [rng.standard_normal((n, *s)).astype(np.float32) for s in shapes]
        with convnp.no_grad():
            ours = model(*xs)
        ours = ours if isinstance(ours, tuple) else (ours,)
        theirs = runtime.run(path, *xs)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape
            assert max_rel_error(b, a) <= TOL, f"batch {n}: max relative error {max_rel_error(b, a):.3g}"
    return proto


# -- every model -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model(name, tmp_path):
    shape = models.INPUT_SHAPES[name]
    model = random_stats(models.get(name, rng=0))
    proto = export_and_compare(model, shape, tmp_path)
    names = {n.name for n in proto.graph.node}
    initializers = {t.name for t in proto.graph.initializer}
    params = dict(model.named_parameters())
    assert set(params) <= initializers             # weights are initializers named by their state_dict keys
    assert {name for name, m in model.named_modules() if name and not m._records_calls} & names


def test_resnet18_names_shared_layers_and_merge_ops(tmp_path):
    proto = convnp.onnx.export(models.resnet18(rng=0), tmp_path / "r.onnx", (3, 32, 32))
    names = [n.name for n in proto.graph.node]
    assert names[:4] == ["conv1", "bn1", "relu", "layer1.0.conv1"]
    assert "layer1.0.add" in names and "layer1.0.relu_1" in names      # a ReLU called twice: two nodes
    assert "layer2.0.downsample.0" in names


# -- every layer -----------------------------------------------------------------------------------------
def _cases():
    """(id, layer factory, sample shape): several settings of every layer that ONNX can express."""
    c = [
        ("conv", lambda: nn.Conv2d(3, 4, 3, rng=0), (3, 9, 8)),
        ("conv_stride_pad", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, rng=0), (3, 9, 8)),
        ("conv_same_even_kernel", lambda: nn.Conv2d(2, 3, (4, 3), padding="same", rng=0), (2, 7, 6)),
        ("conv_valid_dilation", lambda: nn.Conv2d(2, 3, 3, padding="valid", dilation=2, rng=0), (2, 9, 9)),
        ("conv_groups_no_bias", lambda: nn.Conv2d(4, 6, (1, 3), groups=2, bias=False, rng=0), (4, 5, 6)),
        ("linear", lambda: nn.Linear(7, 3, rng=0), (7,)),
        ("linear_no_bias", lambda: nn.Linear(7, 3, bias=False, rng=0), (7,)),
        ("maxpool", lambda: nn.MaxPool2d(2), (3, 8, 6)),
        ("maxpool_ceil", lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 8, 7)),
        ("avgpool", lambda: nn.AvgPool2d(2), (3, 8, 6)),
        ("avgpool_pad_exclude", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 7, 8)),
        ("avgpool_pad_include_ceil", lambda: nn.AvgPool2d((3, 2), 2, 1, ceil_mode=True), (2, 7, 8)),
        ("adaptive_avg_global", lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 7)),
        ("adaptive_avg_2x2", lambda: nn.AdaptiveAvgPool2d((2, 3)), (3, 8, 9)),
        ("batchnorm2d", lambda: nn.BatchNorm2d(3), (3, 4, 5)),
        ("batchnorm2d_no_affine", lambda: nn.BatchNorm2d(3, affine=False, eps=1e-3), (3, 4, 5)),
        ("batchnorm1d", lambda: nn.BatchNorm1d(6), (6,)),
        ("batchnorm1d_seq", lambda: nn.BatchNorm1d(4), (4, 7)),
        ("sync_batchnorm", lambda: nn.SyncBatchNorm(3), (3, 4, 5)),
        ("relu", nn.ReLU, (3, 4, 5)),
        ("leaky_relu", lambda: nn.LeakyReLU(0.2), (3, 4, 5)),
        ("elu", lambda: nn.ELU(0.7), (3, 4, 5)),
        ("gelu", nn.GELU, (3, 4, 5)),
        ("gelu_tanh", lambda: nn.GELU("tanh"), (3, 4, 5)),
        ("sigmoid", nn.Sigmoid, (3, 4, 5)),
        ("tanh", nn.Tanh, (3, 4, 5)),
        ("softmax", nn.Softmax, (10,)),
        ("softmax_dim1_4d", lambda: nn.Softmax(1), (3, 4, 5)),
        ("log_softmax", lambda: nn.LogSoftmax(-1), (3, 4, 5)),
        ("flatten", nn.Flatten, (3, 4, 5)),
        ("flatten_2_3", lambda: nn.Flatten(2, 3), (3, 4, 5, 2)),
        ("identity", nn.Identity, (3, 4)),
        ("dropout", lambda: nn.Dropout(0.3), (3, 4)),
        ("dropout2d", lambda: nn.Dropout2d(0.3), (3, 4, 4)),
        ("relu6", nn.ReLU6, (3, 4, 5)),
        ("hardtanh", lambda: nn.Hardtanh(-0.5, 2.0), (3, 4, 5)),
        ("hardsigmoid", nn.Hardsigmoid, (3, 4, 5)),
        ("hardswish", nn.Hardswish, (3, 4, 5)),
        ("prelu_shared", nn.PReLU, (3, 4, 5)),
        ("prelu_per_channel", lambda: _prelu(3), (3, 4, 5)),
        ("prelu_2d", lambda: _prelu(6), (6,)),
        ("silu", nn.SiLU, (3, 4, 5)),
        ("mish", nn.Mish, (3, 4, 5)),
        ("selu", nn.SELU, (3, 4, 5)),
        ("celu", lambda: nn.CELU(0.7), (3, 4, 5)),
        ("softplus", nn.Softplus, (3, 4, 5)),
        ("softplus_beta", lambda: nn.Softplus(beta=2.0, threshold=15.0), (3, 4, 5)),
        ("logsigmoid", nn.LogSigmoid, (3, 4, 5)),
        ("softsign", nn.Softsign, (3, 4, 5)),
        ("layernorm", lambda: _affine(nn.LayerNorm(5)), (3, 4, 5)),
        ("layernorm_2d_no_bias", lambda: _affine(nn.LayerNorm((4, 5), eps=1e-3, bias=False)), (3, 4, 5)),
        ("layernorm_no_affine", lambda: nn.LayerNorm((3, 4, 5), elementwise_affine=False), (3, 4, 5)),
        ("groupnorm", lambda: _affine(nn.GroupNorm(2, 4)), (4, 3, 5)),
        ("groupnorm_3d_no_affine", lambda: nn.GroupNorm(3, 6, eps=1e-3, affine=False), (6, 7)),
        ("instancenorm", lambda: nn.InstanceNorm2d(3), (3, 4, 5)),
        ("instancenorm_affine", lambda: _affine(nn.InstanceNorm2d(3, affine=True)), (3, 4, 5)),
        ("instancenorm_running_stats", lambda: nn.InstanceNorm2d(3, track_running_stats=True), (3, 4, 5)),
        ("lrn", lambda: nn.LocalResponseNorm(3, alpha=1e-2, beta=0.6, k=1.5), (6, 4, 5)),
        ("lrn_5", lambda: nn.LocalResponseNorm(5), (6, 4, 5)),
        ("conv_reflect", lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", rng=0), (2, 6, 5)),
        ("conv_replicate_same", lambda: nn.Conv2d(2, 3, (2, 3), padding="same", padding_mode="replicate", rng=0),
         (2, 6, 5)),
        ("conv_transpose", lambda: nn.ConvTranspose2d(3, 4, 3, rng=0), (3, 5, 4)),
        ("conv_transpose_stride_pad", lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1,
                                                                  groups=2, dilation=(1, 2), rng=0), (4, 5, 4)),
        ("conv_transpose_no_bias", lambda: nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1, bias=False, rng=0), (2, 4, 4)),
        ("maxpool_dilation", lambda: nn.MaxPool2d(2, stride=1, dilation=2), (2, 7, 6)),
        ("adaptive_max_global", lambda: nn.AdaptiveMaxPool2d(1), (3, 5, 7)),
        ("adaptive_max_2x3", lambda: nn.AdaptiveMaxPool2d((2, 3)), (3, 8, 9)),
        ("zero_pad", lambda: nn.ZeroPad2d((1, 2, 0, 3)), (2, 4, 5)),
        ("zero_pad_crop", lambda: nn.ZeroPad2d((-1, 2, 1, -1)), (2, 4, 5)),
        ("constant_pad", lambda: nn.ConstantPad2d(2, 0.5), (2, 4, 5)),
        ("reflection_pad", lambda: nn.ReflectionPad2d((1, 2, 3, 0)), (2, 4, 5)),
        ("replication_pad", lambda: nn.ReplicationPad2d(2), (2, 4, 5)),
        ("upsample_nearest", lambda: nn.Upsample(scale_factor=2), (2, 3, 4)),
        ("upsample_nearest_3", lambda: nn.Upsample(scale_factor=(3, 1.5)), (2, 3, 4)),
        ("upsample_bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4)),
        ("upsample_bilinear_corners", lambda: nn.Upsample(scale_factor=(2, 3), mode="bilinear", align_corners=True),
         (2, 3, 4)),
        ("downsample_bilinear_to_1", lambda: nn.Upsample(scale_factor=(0.5, 0.3), mode="bilinear"), (2, 3, 4)),
        ("downsample_nearest", lambda: nn.Upsample(scale_factor=0.6), (2, 5, 4)),
        ("pixel_shuffle", lambda: nn.PixelShuffle(2), (8, 3, 4)),
        ("pixel_unshuffle", lambda: nn.PixelUnshuffle(2), (3, 4, 6)),
    ]
    return c


def _prelu(c):
    layer = nn.PReLU(c)
    layer.weight.data = np.linspace(-0.5, 0.5, c, dtype=np.float32)
    return layer


def _affine(layer):
    """Weights and biases that are not 1 and 0."""
    rng = np.random.default_rng(2)
    for p in layer.parameters():
        p.data = rng.standard_normal(p.shape).astype(p.dtype)
    return layer


CASES = _cases()
COVERED = {type(make()) for _, make, _ in CASES} | {nn.CircularPad2d, nn.MaxUnpool2d}   # tested below
NOT_EXPORTED = {  # containers and merge ops are exported through models (below); losses are not layers of a graph
    nn.Layer, nn.Model, nn.Sequential, nn.Residual, nn.ModuleList, nn.ModuleDict,
    nn.Add, nn.Mul, nn.Cat, nn.Split, nn.Reshape, nn.Loss}


@pytest.mark.parametrize("make,shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_layer(make, shape, tmp_path):
    layer = random_stats(make())
    proto = export_and_compare(layer, shape, tmp_path)
    if layer.parameters():
        assert {t.name for t in proto.graph.initializer} >= {name for name, _ in layer.named_parameters()}


def test_every_layer_class_is_covered():
    """A layer added to convnp.nn must be added here: exported, or listed with its reason."""
    classes = {c for c in vars(nn).values() if isinstance(c, type) and issubclass(c, Layer)}
    missing = {c.__name__ for c in classes if c not in COVERED and c not in NOT_EXPORTED
               and not issubclass(c, nn.Loss)}
    assert not missing, f"layers without an ONNX export test: {sorted(missing)}"


@pytest.mark.parametrize("opset", [13, 17, 18, 20, 21, 27])
def test_opsets(opset, tmp_path):
    """Operators that arrived in later opsets (HardSwish 14, Mish 18, Gelu 20, GroupNormalization 21)
    are written as their formulas before."""
    layers = [nn.Conv2d(2, 4, 3, rng=0), nn.GELU(), nn.GELU("tanh"), nn.Hardswish(), nn.Mish(), _affine(nn.GroupNorm(2, 4))]
    if opset >= 17:
        layers.append(nn.LayerNorm(4))
    proto = export_and_compare(nn.Sequential(*layers, nn.Softmax(1)), (2, 6, 6), tmp_path, opset=opset)
    assert proto.opset_import[0].version == opset
    ops = {n.op_type for n in proto.graph.node}
    for op, since in (("HardSwish", 14), ("Mish", 18), ("Gelu", 20), ("GroupNormalization", 21)):
        assert (op in ops) == (opset >= since), op


# -- merge ops and models ---------------------------------------------------------------------------------
class Merges(nn.Model):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, rng=0)
        self.scale = Parameter(np.linspace(0.5, 1.5, 4, dtype=np.float32).reshape(1, 4, 1, 1))
        self.head = nn.Linear(4 * 6 * 6, 3, rng=1)

    def forward(self, x, y):
        h = self.conv(x)
        a, b = nn.split(h, [1, 3], dim=1)
        h = nn.cat([nn.mul(b, 0.5), a], dim=1)
        h = nn.add(h, nn.mul(h, self.scale), self.conv(y))      # three terms: Sum; a Parameter operand
        flat = nn.reshape(h, (h.shape[0], -1))                      # the traced batch becomes 0 (copy N)
        return self.head(flat), h


def test_model_with_merge_ops_two_inputs_two_outputs(tmp_path):
    proto = export_and_compare(Merges(), [(2, 6, 6), (2, 6, 6)], tmp_path)
    ops = [n.op_type for n in proto.graph.node]
    assert {"Split", "Concat", "Mul", "Sum", "Reshape"} <= set(ops)
    assert [i.name for i in proto.graph.input] == ["input_0", "input_1"]
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]
    assert "scale" in {t.name for t in proto.graph.initializer}
    assert ops.count("Conv") == 2 and {"conv", "conv_1"} <= {n.name for n in proto.graph.node}


class PoolUnpool(nn.Model):
    """SegNet's pattern: MaxPool2d indices to a MaxUnpool2d, and the indices as an output too."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, rng=0)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)

    def forward(self, x):
        y, indices = self.pool(self.conv(x))
        return self.unpool(y, indices), indices


def test_maxpool_indices_and_unpool(tmp_path):
    proto = export_and_compare(PoolUnpool(), (2, 6, 8), tmp_path)
    assert {"MaxPool", "MaxUnpool", "Mod"} <= {n.op_type for n in proto.graph.node}


def test_circular_pad_and_upsample_size_need_newer_opsets(tmp_path):
    model = nn.Sequential(nn.CircularPad2d((1, 0, 2, 1)), nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular", rng=0),
                          nn.Upsample(size=(7, 9)), nn.Upsample(size=(5, 4), mode="bilinear"),
                          nn.Upsample(scale_factor=0.6, mode="bilinear", align_corners=True))
    export_and_compare(model, (2, 4, 5), tmp_path, opset=19)
    with pytest.raises(ValueError, match=r"layer '0' CircularPad2d\(.*\): circular padding needs opset 19"):
        convnp.onnx.export(model, tmp_path / "old.onnx", (2, 4, 5), opset=18)
    with pytest.raises(ValueError, match=r"layer '0' Upsample\(size=\(7, 9\)\): this size \(a size.* needs opset 18"):
        convnp.onnx.export(model[2:], tmp_path / "old.onnx", (2, 4, 5), opset=17)


class PassThrough(nn.Model):
    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):
        return x, self.relu(x), self.relu(x)


def test_outputs_that_are_inputs_get_identity_nodes(tmp_path):
    proto = export_and_compare(PassThrough(), (3, 4), tmp_path)
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1", "output_2"]


def test_dynamic_batch(tmp_path):
    model = models.lenet5(rng=0).eval()
    proto = export_and_compare(model, (1, 28, 28), tmp_path, batches=(1, 5, 3), name="dynamic.onnx")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    fixed = export_and_compare(model, (1, 28, 28), tmp_path, batches=(1,), dynamic_batch=False, name="fixed.onnx")
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        runtime.run(tmp_path / "fixed.onnx", np.zeros((5, 1, 28, 28), np.float32))


def test_float64_model(tmp_path):
    # (ONNX Runtime's CPU Conv is float32 only; Gemm, Relu and Softmax run in float64)
    model = nn.Sequential(nn.Linear(5, 4, rng=0), nn.ReLU(), nn.Linear(4, 3, rng=0), nn.Softmax()).to(np.float64)
    convnp.onnx.export(model, tmp_path / "m.onnx", (5,))
    x = np.random.default_rng(0).standard_normal((2, 5))
    (y,) = runtime.run(tmp_path / "m.onnx", x)
    assert y.dtype == np.float64 and max_rel_error(y, model.eval()(x)) < 1e-12


# -- what cannot be exported -------------------------------------------------------------------------------
class Custom(Layer):
    def forward(self, x):
        self._cache = True
        return x * 2


@pytest.mark.parametrize("model,message", [
    (nn.Sequential(nn.ReLU(), Custom()), r"layer '1' \(Custom\) has no ONNX form; layers that export: .*Conv2d"),
    (nn.Sequential(nn.BatchNorm2d(3, track_running_stats=False)),
     r"layer '0' BatchNorm2d\(3.*\): without running statistics"),
    (nn.Sequential(nn.Conv2d(3, 3, 1), nn.AdaptiveAvgPool2d(3)),
     r"layer '1' AdaptiveAvgPool2d\(output_size=3\): output size \(3, 3\) does not divide the traced input size \(8, 8\)"),
    (nn.Sequential(nn.LocalResponseNorm(4)), r"layer '0' LocalResponseNorm\(4.*\): size=4 is even"),
    (nn.Sequential(nn.Softplus(threshold=5)), r"layer '0' Softplus\(.*\): threshold=5 < 15"),
])
def test_layers_onnx_cannot_express_are_named(model, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        convnp.onnx.export(model, tmp_path / "m.onnx", (3, 8, 8))


@pytest.mark.parametrize("kwargs,error,message", [
    ({"opset": 12}, ValueError, "opset must be an int from 13 to"),
    ({"input_shape": (1, 0, 28)}, ValueError, "input_shape must be one sample's shape of positive ints"),
])
def test_bad_arguments(kwargs, error, message, tmp_path):
    args = {"input_shape": (1, 28, 28), **kwargs}
    with pytest.raises(error, match=message):
        convnp.onnx.export(models.lenet5(rng=0), tmp_path / "m.onnx", **args)
    with pytest.raises(TypeError, match="expected a convnp layer or model, got str"):
        convnp.onnx.export("lenet5", tmp_path / "m.onnx", (1, 28, 28))
