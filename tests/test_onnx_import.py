"""convnp.onnx.load: round trips convnp -> ONNX -> convnp, and models exported by PyTorch.

A round trip must give the same outputs and the same parameter (and input) gradients; the
imported model saves to .npz and loads back, and works with summary and convnp.viz.
"""
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import convnp  # noqa: E402
from conftest import max_rel_error  # noqa: E402
from convnp import models, nn  # noqa: E402
from test_onnx_export import CASES, Merges, PoolUnpool, _affine, random_stats  # noqa: E402


def round_trip(model, shapes, tmp_path, seed=0, opset=17):
    """Export and import ``model``; compare outputs and gradients (eval mode, float32)."""
    model.eval()
    convnp.onnx.export(model, tmp_path / "m.onnx", shapes, opset=opset)
    imported = convnp.onnx.load(tmp_path / "m.onnx")
    assert isinstance(imported, nn.Model) and not imported.training
    rng = np.random.default_rng(seed)
    shapes = shapes if isinstance(shapes[0], tuple) else [shapes]
    xs = [rng.standard_normal((3, *s)).astype(np.float32) for s in shapes]
    outs = [m(*xs) for m in (model, imported)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    douts = [rng.standard_normal(o.shape).astype(np.float32) if o.dtype.kind == "f" else None for o in outs[0]]
    grads = [m.backward(*douts) for m in (model, imported)]
    for a, b in zip(*outs):
        assert a.dtype == b.dtype and max_rel_error(b, a) <= 1e-6
    for a, b in zip(*[g if isinstance(g, tuple) else (g,) for g in grads]):
        assert max_rel_error(b, a) <= 1e-5
    theirs = dict(imported.named_parameters())
    sources = imported.initializer_names()
    by_source = {sources[k]: theirs[k] for k in theirs if k in sources}
    for name, p in model.named_parameters():      # (a per-channel slope may come back reshaped)
        assert max_rel_error(by_source[name].grad.ravel(), p.grad.ravel()) <= 1e-5, name
    assert len([p for p in theirs.values() if p.requires_grad]) == len(list(model.named_parameters()))
    return imported, xs


@pytest.mark.parametrize("name", list(models.MODELS))
def test_round_trip_every_model(name, tmp_path):
    shape = models.INPUT_SHAPES[name]
    if name == "resnet18":
        pytest.skip("resnet18 is covered by the PyTorch import and the export tests (11M parameters)")
    round_trip(random_stats(models.get(name, rng=0)), shape, tmp_path)


@pytest.mark.parametrize("make,shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip_every_layer(make, shape, tmp_path):
    layer = make()
    if isinstance(layer, nn.Conv2d) and layer.padding == "same" and not hasattr(nn, "ZeroPad2d"):
        pytest.skip("asymmetric 'same' padding imports as ZeroPad2d + Conv2d: no ZeroPad2d in convnp.nn yet")
    round_trip(nn.Sequential(random_stats(layer)), shape, tmp_path)


def test_round_trip_merge_ops_and_parameter_operand(tmp_path):
    imported, xs = round_trip(Merges(), [(2, 6, 6), (2, 6, 6)], tmp_path)
    assert "tensors.scale" in dict(imported.named_parameters())
    with convnp.no_grad():                       # a Parameter operand under no_grad too
        y = imported(*xs)
    assert y[0].shape == (3, 3)


def test_round_trip_pool_indices_unpool(tmp_path):
    imported, xs = round_trip(PoolUnpool(), (2, 6, 8), tmp_path)
    _, indices = imported(xs[0])
    np.testing.assert_array_equal(indices, PoolUnpool()(xs[0])[1])    # PyTorch's plane indices again


def test_round_trip_newer_opsets(tmp_path):
    model = nn.Sequential(nn.CircularPad2d((1, 0, 2, 1)), nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular", rng=0),
                          nn.Upsample(size=(7, 9)), nn.Upsample(size=(5, 4), mode="bilinear"), nn.GELU(),
                          _affine(nn.GroupNorm(1, 2)), nn.Mish())
    imported, _ = round_trip(model, (2, 4, 5), tmp_path, opset=21)
    kinds = {type(m).__name__ for m in imported.modules()}
    assert {"CircularPad2d", "Upsample", "GELU", "GroupNorm", "Mish"} <= kinds


def test_save_load_train_summary_viz(tmp_path):
    model = random_stats(nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                       nn.Flatten(), nn.Linear(4 * 13 * 13, 3, rng=0))).eval()
    convnp.onnx.export(model, tmp_path / "m.onnx", (1, 28, 28))
    imported = convnp.onnx.load(tmp_path / "m.onnx")
    convnp.save(tmp_path / "m.npz", imported)
    again = convnp.load(tmp_path / "m.npz")              # no classes=: OnnxModel is registered
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(again(x), imported(x))
    assert list(again.state_dict()) == list(imported.state_dict())
    assert again.config() == imported.config()
    text = again.summary((1, 28, 28), file=open(tmp_path / "s.txt", "w"))
    assert "layers.0 (Conv2d)" in text and f"Total params: {model.num_parameters():,}" in text
    # training: one step moves the weights, BatchNorm updates its running statistics in train mode
    again.train()
    opt = convnp.optim.SGD(again.parameters(), lr=0.1)
    before = again.state_dict()
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(again(x), np.array([1, 2]))
    again.backward(loss_fn.backward())
    opt.step()
    after = again.state_dict()
    assert not np.array_equal(before["layers.0.weight"], after["layers.0.weight"])
    assert not np.array_equal(before["layers.1.running_mean"], after["layers.1.running_mean"])
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from convnp import viz

    fig = viz.feature_maps(imported, x[:1], layer="all")
    plt.close(fig)


# -- models exported by PyTorch ------------------------------------------------------------------------
def torch_export(torch, model, x, path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, str(path), dynamo=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, **kwargs)


def lenet5_torch(torch):
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
        tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
        tnn.Linear(84, 10), tnn.LogSoftmax(dim=1))


@pytest.mark.parametrize("opset", [11, 17])
def test_pytorch_lenet5(torch, opset, tmp_path):
    torch.manual_seed(0)
    model = lenet5_torch(torch).eval()
    x = torch.randn(4, 1, 28, 28)
    torch_export(torch, model, x[:1], tmp_path / "lenet.onnx", opset_version=opset)
    imported = convnp.onnx.load(tmp_path / "lenet.onnx")
    xs = x.numpy()
    y = imported(xs)
    x.requires_grad_(True)
    t_y = model(x)
    assert max_rel_error(y, t_y.detach().numpy()) <= 1e-5
    dy = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    dx = imported.backward(dy)
    t_y.backward(torch.tensor(dy))
    assert max_rel_error(dx, x.grad.numpy()) <= 1e-4
    grads = {imported.initializer_names()[k]: p.grad for k, p in imported.named_parameters()}
    for name, p in model.named_parameters():
        assert max_rel_error(grads[name], p.grad.numpy()) <= 1e-4, name


def resnet18_cifar_torch(torch):
    """ResNet-18 for 32x32 images as CIFAR code writes it: 3x3 stem, no max pool, option-B shortcuts."""
    tnn, F = torch.nn, torch.nn.functional

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False), tnn.BatchNorm2d(cout)
            self.conv2, self.bn2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False), tnn.BatchNorm2d(cout)
            self.shortcut = tnn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    class ResNet18(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(3, 64, 3, 1, 1, bias=False), tnn.BatchNorm2d(64)
            blocks, cin = [], 64
            for i, c in enumerate((64, 128, 256, 512)):
                blocks += [Block(cin, c, 1 if i == 0 else 2), Block(c, c, 1)]
                cin = c
            self.layers = tnn.Sequential(*blocks)
            self.linear = tnn.Linear(512, 10)

        def forward(self, x):
            out = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))

    return ResNet18()


def _random_torch_stats(torch, model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def test_pytorch_resnet18_cifar(torch, tmp_path):
    torch.manual_seed(0)
    model = _random_torch_stats(torch, resnet18_cifar_torch(torch))
    x = torch.randn(2, 3, 32, 32)
    torch_export(torch, model, x[:1], tmp_path / "r18.onnx")       # BatchNorm folded into the convs
    imported = convnp.onnx.load(tmp_path / "r18.onnx")
    with torch.no_grad():
        expected = model(x).numpy()
    assert max_rel_error(imported(x.numpy()), expected) <= 1e-5
    assert imported.num_parameters() > 11_000_000


def test_pytorch_batchnorm_kept(torch, tmp_path):
    """Exported without constant folding, BatchNormalization nodes become BatchNorm2d layers."""
    torch.manual_seed(0)
    tnn = torch.nn
    model = _random_torch_stats(torch, tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4), tnn.ReLU(),
                                                      tnn.AvgPool2d(2), tnn.Flatten(), tnn.Linear(36, 5)))
    x = torch.randn(3, 3, 8, 8)
    torch_export(torch, model, x[:1], tmp_path / "bn.onnx", do_constant_folding=False)
    imported = convnp.onnx.load(tmp_path / "bn.onnx")
    assert any(isinstance(m, nn.BatchNorm2d) for m in imported.modules())
    with torch.no_grad():
        assert max_rel_error(imported(x.numpy()), model(x).numpy()) <= 1e-5


def unet_torch(torch):
    """A two-level U-Net: conv blocks, max pooling, ConvTranspose2d upsampling, Concat skips."""
    tnn = torch.nn

    def block(cin, cout):
        return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU(),
                              tnn.Conv2d(cout, cout, 3, padding=1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU())

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.enc2, self.mid = block(3, 8), block(8, 16), block(16, 32)
            self.pool = tnn.MaxPool2d(2)
            self.up2, self.dec2 = tnn.ConvTranspose2d(32, 16, 2, stride=2), block(32, 16)
            self.up1, self.dec1 = tnn.ConvTranspose2d(16, 8, 2, stride=2), block(16, 8)
            self.head = tnn.Conv2d(8, 2, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            m = self.mid(self.pool(e2))
            d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
            d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
            return self.head(d1)

    return UNet()


def test_pytorch_unet(torch, tmp_path):
    torch.manual_seed(0)
    model = _random_torch_stats(torch, unet_torch(torch))
    x = torch.randn(2, 3, 32, 32)
    torch_export(torch, model, x[:1], tmp_path / "unet.onnx")
    imported = convnp.onnx.load(tmp_path / "unet.onnx")
    kinds = [type(m).__name__ for m in imported.modules()]
    assert kinds.count("ConvTranspose2d") == 2
    y = imported(x.numpy())
    x.requires_grad_(True)
    t_y = model(x)
    assert max_rel_error(y, t_y.detach().numpy()) <= 1e-5
    dy = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    t_y.backward(torch.tensor(dy))
    assert max_rel_error(imported.backward(dy), x.grad.numpy()) <= 1e-4


# PyTorch layers whose export (TorchScript exporter, opset 17) convnp imports, made from torch.nn.
# Not yet: LogSigmoid and Softsign (written as Log/Abs/Div), LocalResponseNorm (an If), circular
# padding and bilinear resizing to a size (Slice/Gather on computed shapes): refused, naming the operator.
TORCH_LAYERS = {
    "gelu": lambda t: t.GELU(), "gelu_tanh": lambda t: t.GELU("tanh"), "hardswish": lambda t: t.Hardswish(),
    "silu": lambda t: t.SiLU(), "mish": lambda t: t.Mish(), "hardsigmoid": lambda t: t.Hardsigmoid(),
    "relu6": lambda t: t.ReLU6(), "prelu": lambda t: t.PReLU(4), "selu": lambda t: t.SELU(),
    "celu": lambda t: t.CELU(0.5), "softplus": lambda t: t.Softplus(), "hardtanh": lambda t: t.Hardtanh(-2, 2),
    "groupnorm": lambda t: t.GroupNorm(2, 4), "layernorm": lambda t: t.LayerNorm([6, 6]),
    "instancenorm": lambda t: t.InstanceNorm2d(4, affine=True), "upsample_nearest": lambda t: t.Upsample(scale_factor=2),
    "upsample_bilinear": lambda t: t.Upsample(scale_factor=2, mode="bilinear"),
    "pixel_shuffle": lambda t: t.PixelShuffle(2), "pixel_unshuffle": lambda t: t.PixelUnshuffle(2),
    "reflect": lambda t: t.ReflectionPad2d((1, 2, 0, 1)), "replicate": lambda t: t.ReplicationPad2d(1),
    "constant_pad": lambda t: t.ConstantPad2d(1, 0.5),
    "conv_reflect": lambda t: t.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
    "conv_transpose": lambda t: t.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
    "adaptive_max": lambda t: t.AdaptiveMaxPool2d(1), "adaptive_avg": lambda t: t.AdaptiveAvgPool2d(2),
    "maxpool_dilation": lambda t: t.MaxPool2d(2, 1, dilation=2), "dropout2d": lambda t: t.Dropout2d(),
}


@pytest.mark.parametrize("name", list(TORCH_LAYERS))
def test_pytorch_layers(torch, name, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(TORCH_LAYERS[name](torch.nn)).eval()
    x = torch.randn(2, 4, 6, 6)
    torch_export(torch, model, x[:1], tmp_path / "m.onnx", opset_version=17)
    imported = convnp.onnx.load(tmp_path / "m.onnx")
    with torch.no_grad():
        assert max_rel_error(imported(x.numpy()), model(x).numpy()) <= 1e-5
