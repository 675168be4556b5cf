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
