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
