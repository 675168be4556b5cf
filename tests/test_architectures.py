"""The nn.Model architectures in convnp.models against the usual PyTorch code, key for key."""
import numpy as np
import pytest

import convnp
from convnp import models

from conftest import torch_parity


def torch_resnet18(torch, num_classes=10):
    """torchvision's ResNet-18 layout with the CIFAR stem (3x3 conv, no max pool), written out."""
    tnn = torch.nn

    class BasicBlock(tnn.Module):
        def __init__(self, inp, planes, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inp != planes:
                self.downsample = tnn.Sequential(tnn.Conv2d(inp, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1, self.relu = tnn.Conv2d(3, 64, 3, 1, 1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU()
            planes = 64
            for i, width in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", tnn.Sequential(BasicBlock(planes, width, stride), BasicBlock(width, width, 1)))
                planes = width
            self.avgpool, self.fc = tnn.AdaptiveAvgPool2d(1), tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def test_resnet18_matches_torch(torch):
    model = models.resnet18(rng=0).to(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    theirs = torch_resnet18(torch)
    assert list(model.state_dict()) == list(theirs.state_dict())
    assert model.num_parameters() == sum(p.numel() for p in theirs.parameters())
    torch_parity(model, theirs, x, dtype=np.float64)


def test_resnet18_saves_and_loads_without_code(tmp_path):
    model = models.resnet18(num_classes=4, rng=0).eval()   # the mode is saved too
    convnp.save(tmp_path / "r.npz", model)
    loaded = convnp.load(tmp_path / "r.npz")
    assert not loaded.training and not loaded.layer3[1].bn2.training
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def torch_mobilenet_v2(torch, num_classes, width_mult, small_input):
    """torchvision's MobileNetV2 written out (Conv2dNormActivation as Sequential(conv, bn, ReLU6))."""
    tnn = torch.nn
    from convnp.models.mobilenet import _SETTINGS, _make_divisible

    def cbr(i, o, k=3, s=1, g=1):
        return tnn.Sequential(tnn.Conv2d(i, o, k, s, (k - 1) // 2, groups=g, bias=False), tnn.BatchNorm2d(o), tnn.ReLU6())

    class IR(tnn.Module):
        def __init__(self, i, o, s, t):
            super().__init__()
            h = int(round(i * t))
            self.res = s == 1 and i == o
            layers = [cbr(i, h, 1)] if t != 1 else []
            self.conv = tnn.Sequential(*layers, cbr(h, h, 3, s, h), tnn.Conv2d(h, o, 1, bias=False), tnn.BatchNorm2d(o))

        def forward(self, x):
            return x + self.conv(x) if self.res else self.conv(x)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            c = _make_divisible(32 * width_mult)
            last = _make_divisible(1280 * max(1.0, width_mult))
            feats = [cbr(3, c, 3, 1 if small_input else 2)]
            for j, (t, ch, n, s) in enumerate(_SETTINGS):
                o = _make_divisible(ch * width_mult)
                for k in range(n):
                    feats.append(IR(c, o, (1 if small_input and j == 1 else s) if k == 0 else 1, t))
                    c = o
            feats.append(cbr(c, last, 1))
            self.features = tnn.Sequential(*feats)
            self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(last, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(tnn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))

    return Net()


def test_mobilenet_v2_matches_torch(torch):
    model = models.mobilenet_v2(num_classes=10, width_mult=0.5, rng=0).to(np.float64)
    model.classifier[0].p = 0.0                       # dropout off in both: the same function
    theirs = torch_mobilenet_v2(torch, 10, 0.5, True)
    theirs.classifier[0].p = 0.0
    assert list(model.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    torch_parity(model, theirs, x, dtype=np.float64)


def test_mobilenet_v2_torchvision_parameter_count():
    # torchvision.models.mobilenet_v2() has 3,504,872 parameters (1000 classes, width 1.0)
    assert models.MobileNetV2(num_classes=1000).num_parameters() == 3_504_872


# -- U-Net (milesial/Pytorch-UNet) ------------------------------------------------------------------
def torch_unet(torch, n_channels, n_classes, width, bilinear):
    """milesial/Pytorch-UNet's unet_parts.py and unet_model.py, written out; 64 there is ``width`` here."""
    tnn, F = torch.nn, torch.nn.functional

    class DoubleConv(tnn.Module):
        def __init__(self, in_channels, out_channels, mid_channels=None):
            super().__init__()
            mid_channels = mid_channels or out_channels
            self.double_conv = tnn.Sequential(
                tnn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False), tnn.BatchNorm2d(mid_channels),
                tnn.ReLU(inplace=True),
                tnn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False), tnn.BatchNorm2d(out_channels),
                tnn.ReLU(inplace=True))

        def forward(self, x):
            return self.double_conv(x)

    class Down(tnn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.maxpool_conv = tnn.Sequential(tnn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

        def forward(self, x):
            return self.maxpool_conv(x)

    class Up(tnn.Module):
        def __init__(self, in_channels, out_channels, bilinear):
            super().__init__()
            if bilinear:
                self.up = tnn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
                self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
            else:
                self.up = tnn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
                self.conv = DoubleConv(in_channels, out_channels)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            diff_y, diff_x = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
            x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
            return self.conv(torch.cat([x2, x1], dim=1))

    class OutConv(tnn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.conv = tnn.Conv2d(in_channels, out_channels, kernel_size=1)

        def forward(self, x):
            return self.conv(x)

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            w, factor = width, 2 if bilinear else 1
            self.inc = DoubleConv(n_channels, w)
            self.down1, self.down2, self.down3 = Down(w, 2 * w), Down(2 * w, 4 * w), Down(4 * w, 8 * w)
            self.down4 = Down(8 * w, 16 * w // factor)
            self.up1, self.up2 = Up(16 * w, 8 * w // factor, bilinear), Up(8 * w, 4 * w // factor, bilinear)
            self.up3, self.up4 = Up(4 * w, 2 * w // factor, bilinear), Up(2 * w, w, bilinear)
            self.outc = OutConv(w, n_classes)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            x4 = self.down3(x3)
            x5 = self.down4(x4)
            x = self.up1(x5, x4)
            x = self.up2(x, x3)
            x = self.up3(x, x2)
            x = self.up4(x, x1)
            return self.outc(x)

    return UNet()


@pytest.mark.parametrize("bilinear,size", [(False, (19, 17)), (True, (16, 21))])
def test_unet_matches_torch(torch, bilinear, size):
    """The hard case of skip connections: odd sizes make Up pad (19 -> 9 -> 4 -> 2 -> 1 and back)."""
    model = models.unet(in_channels=2, num_classes=3, width=2, depth=4, bilinear=bilinear, rng=0).to(np.float64)
    theirs = torch_unet(torch, 2, 3, 2, bilinear)
    assert list(model.state_dict()) == list(theirs.state_dict())
    assert "up1.up.weight" in model.state_dict() or bilinear
    x = np.random.default_rng(0).standard_normal((2, 2, *size))
    assert torch_parity(model, theirs, x, dtype=np.float64).shape == (2, 3, *size)


def test_unet_depth_and_size_errors():
    model = models.unet(width=2, depth=2, rng=0)
    assert [k for k in model.state_dict() if k.endswith(".up.weight")] == ["up1.up.weight", "up2.up.weight"]
    assert model(np.zeros((2, 1, 5, 4), np.float32)).shape == (2, 2, 5, 4)
    with pytest.raises(ValueError, match=r"UNet\(depth=2\): H and W must be at least 2\*\*depth = 4 \(2 poolings"
                                         r" by 2\), got input \(1, 1, 3, 8\)"):
        model(np.zeros((1, 1, 3, 8), np.float32))
    with pytest.raises(ValueError, match=r"UNet\(depth=2\): expected input \(N, C, H, W\), got \(8, 8\)"):
        model(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="UNet: depth must be"):
        models.unet(depth=0)


# -- autoencoder and DCGAN --------------------------------------------------------------------------
def torch_autoencoder(torch, latent):
    tnn = torch.nn

    class Autoencoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = tnn.Sequential(tnn.Conv2d(1, 16, 3, stride=2, padding=1), tnn.ReLU(),
                                          tnn.Conv2d(16, 32, 3, stride=2, padding=1), tnn.ReLU(), tnn.Conv2d(32, latent, 7))
            self.decoder = tnn.Sequential(tnn.ConvTranspose2d(latent, 32, 7), tnn.ReLU(),
                                          tnn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), tnn.ReLU(),
                                          tnn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), tnn.Sigmoid())

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return Autoencoder()


def torch_dcgan(torch, nz, ngf, ndf, nc=1):
    """The DCGAN tutorial's Generator and Discriminator, resized for 28x28, D ending in a logit."""
    tnn = torch.nn

    class Generator(tnn.Module):
        def __init__(self):
            super().__init__()
            self.main = tnn.Sequential(
                tnn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False), tnn.BatchNorm2d(ngf * 4), tnn.ReLU(True),
                tnn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf * 2), tnn.ReLU(True),
                tnn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False), tnn.Tanh())

        def forward(self, z):
            return self.main(z)

    class Discriminator(tnn.Module):
        def __init__(self):
            super().__init__()
            self.main = tnn.Sequential(
                tnn.Conv2d(nc, ndf * 2, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2, inplace=True),
                tnn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 4), tnn.LeakyReLU(0.2, inplace=True),
                tnn.Conv2d(ndf * 4, 1, 7, 1, 0, bias=False), tnn.Flatten())

        def forward(self, x):
            return self.main(x)

    return Generator(), Discriminator()


def test_autoencoder_matches_torch(torch):
    model = models.autoencoder(latent=8, rng=0).to(np.float64)
    theirs = torch_autoencoder(torch, 8)
    assert list(model.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    assert torch_parity(model, theirs, x, dtype=np.float64).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"Autoencoder: H and W must be multiples of 4 and at least 28 \(28x28 MNIST\),"
                                         r" got input \(1, 1, 30, 28\)"):
        model(np.zeros((1, 1, 30, 28)))


def test_dcgan_matches_torch(torch):
    g, d = models.dcgan_generator(nz=6, ngf=2, rng=0).to(np.float64), models.dcgan_discriminator(ndf=2, rng=1).to(np.float64)
    tg, td = torch_dcgan(torch, 6, 2, 2)
    assert list(g.state_dict()) == list(tg.state_dict()) and list(d.state_dict()) == list(td.state_dict())
    z = np.random.default_rng(0).standard_normal((3, 6, 1, 1))
    fake = torch_parity(g, tg, z, dtype=np.float64)
    assert fake.shape == (3, 1, 28, 28)
    assert torch_parity(d, td, fake, dtype=np.float64).shape == (3, 1)
    with pytest.raises(ValueError, match=r"DCGANDiscriminator: expected input \(N, 1, 28, 28\), got \(3, 1, 32, 32\)"):
        d(np.zeros((3, 1, 32, 32)))
    with pytest.raises(ValueError, match=r"DCGANGenerator: expected input \(N, 6, 1, 1\), got \(3, 6\)"):
        g(np.zeros((3, 6)))


def test_dcgan_weights_init():
    """N(0, 0.02) conv weights, N(1, 0.02) BatchNorm weights, zero BatchNorm biases; the rng decides them."""
    g, again = models.dcgan_generator(ngf=16, rng=0), models.dcgan_generator(ngf=16, rng=0)
    conv = np.concatenate([g.main[i].weight.data.ravel() for i in (0, 3, 6)])
    assert abs(conv.mean()) < 1e-3 and conv.std() == pytest.approx(0.02, rel=0.02)
    bn = np.concatenate([g.main[i].weight.data for i in (1, 4)])
    assert abs(bn.mean() - 1) < 0.01 and 0.01 < bn.std() < 0.03
    assert not np.any(g.main[1].bias.data) and not np.any(g.main[4].bias.data)
    for (k, a), b in zip(g.state_dict().items(), again.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert not np.array_equal(g.main[0].weight.data, models.dcgan_generator(ngf=16, rng=1).main[0].weight.data)


@pytest.mark.parametrize("build,shape", [
    (lambda: models.unet(in_channels=1, num_classes=3, width=2, depth=2, bilinear=True, rng=0), (2, 1, 9, 8)),
    (lambda: models.autoencoder(latent=4, rng=0), (2, 1, 28, 28)),
    (lambda: models.dcgan_generator(nz=5, ngf=2, rng=0), (2, 5, 1, 1)),
    (lambda: models.dcgan_discriminator(ndf=2, rng=0), (2, 1, 28, 28)),
])
def test_generative_and_unet_save_and_load_without_code(tmp_path, build, shape):
    model = build()
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    model.backward(np.ones_like(model(x)))          # a training step's forward: running statistics move
    convnp.save(tmp_path / "m.npz", model.eval())
    loaded = convnp.load(tmp_path / "m.npz")
    assert type(loaded) is type(model) and loaded.config() == model.config()
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_architecture_takes_its_input_shape(name):
    """models.INPUT_SHAPES (used by `convnp summary --model`) fits each architecture's defaults."""
    model = models.get(name, rng=0)
    out = model.output_shape((2, *models.INPUT_SHAPES[name]))
    assert out[0] == 2 and len(out) in (2, 4)
