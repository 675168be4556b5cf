"""ResNet-18 for 32x32 images (He et al., 2016), written as an nn.Model with torchvision's names.

The CIFAR variant: a 3x3 stride-1 stem without max pooling (torchvision's ImageNet stem, a 7x7
stride-2 conv and a max pool, would leave a 32x32 image 8x8 before the first block). Otherwise
torchvision's layout: ``conv1``, ``bn1``, ``layer1`` .. ``layer4`` of two ``BasicBlock`` each
(``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``), ``fc``; so
``layer2.0.downsample.0.weight`` is where PyTorch has it.
"""
from .. import nn
from ..init import as_rng


class BasicBlock(nn.Model):
    """y = ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)); the shortcut a 1x1 conv + BN when the shape changes.

    Shape: (N, in_planes, H, W) -> (N, planes, H / stride, W / stride).
    """

    def __init__(self, in_planes, planes, stride=1, rng=None):
        super().__init__()
        rng = as_rng(rng)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False, rng=rng)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False, rng=rng),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(nn.add(out, identity))


class ResNet(nn.Model):
    """A ResNet of BasicBlocks for 32x32 images: ``blocks`` per stage, widths 64, 128, 256, 512.

    Args: blocks=(2, 2, 2, 2) (ResNet-18), num_classes=10, in_channels=3, rng=None.
    Shape: (N, in_channels, 32, 32) -> (N, 512, 4, 4) -> (N, num_classes).
    """

    def __init__(self, blocks=(2, 2, 2, 2), num_classes=10, in_channels=3, rng=None):
        super().__init__()
        rng = as_rng(rng)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        planes, stages = 64, []
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            layer = [BasicBlock(planes, width, 1 if i == 0 else 2, rng)]
            layer += [BasicBlock(width, width, 1, rng) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layer))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512, num_classes, rng=rng)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(num_classes=10, in_channels=3, rng=None):
    """ResNet-18 for 32x32 images (CIFAR): 11.2 million parameters; see ResNet."""
    return ResNet((2, 2, 2, 2), num_classes, in_channels, rng)
