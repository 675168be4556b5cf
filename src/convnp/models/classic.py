"""The classic chains: LeNet-5, the tutorial CNN, an MNIST CNN, a small VGG and a small ResNet.

Each returns an ``nn.Sequential`` that outputs logits (no softmax: CrossEntropyLoss takes
logits, ``convnp.train.predict`` gives probabilities).
"""
from .. import nn
from ..init import as_rng


def lenet5(num_classes=10, in_channels=1, rng=None):
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, for 28x28 inputs.

    Shape: (N, in_channels, 28, 28) -> (N, num_classes). The first conv pads by 2 so
    that 28x28 digits see the 32x32 field of the original: 28 -> 28 -> 14 -> 10 -> 5.
    Measured: 99.15% MNIST test accuracy after 5 epochs (batch 64, Adam 2e-3, cosine schedule;
    ``benchmarks/mnist_accuracy.py``).
    """
    rng = as_rng(rng)
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, rng=rng), nn.ReLU(),
        nn.Linear(120, 84, rng=rng), nn.ReLU(),
        nn.Linear(84, num_classes, rng=rng),
    )


def simple_cnn(num_classes=10, in_channels=1, rng=None):
    """The classic tutorial net: conv 3x3 with 8 filters, max-pool 2, one dense layer.

    Shape: (N, in_channels, 28, 28) -> conv (N, 8, 26, 26) -> pool (N, 8, 13, 13) -> (N, num_classes).
    """
    rng = as_rng(rng)
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, rng=rng), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 13 * 13, num_classes, rng=rng),
    )


def mnist_cnn(num_classes=10, in_channels=1, rng=None):
    """Two conv blocks (conv-BN-ReLU twice, max-pool, dropout) and a dense head, for 28x28 digits.

    Shape: (N, in_channels, 28, 28) -> (N, 32, 14, 14) -> (N, 64, 7, 7) -> (N, num_classes).
    Measured: 99.60% MNIST test accuracy after 10 epochs (batch 128, Adam 2e-3, cosine
    schedule, random 2-pixel shifts; ``benchmarks/mnist_accuracy.py``).
    """
    rng = as_rng(rng)
    return nn.Sequential(
        *_conv_bn_relu(in_channels, 32, rng), *_conv_bn_relu(32, 32, rng),
        nn.MaxPool2d(2), nn.Dropout(0.25, rng=rng),
        *_conv_bn_relu(32, 64, rng), *_conv_bn_relu(64, 64, rng),
        nn.MaxPool2d(2), nn.Dropout(0.25, rng=rng),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128, bias=False, rng=rng), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Dropout(0.5, rng=rng),
        nn.Linear(128, num_classes, rng=rng),
    )


def vgg_small(num_classes=10, in_channels=3, width=32, rng=None):
    """A small VGG for 32x32 images: three blocks of two 3x3 conv-BN-ReLU layers and a max-pool.

    Channels width, 2*width, 4*width; global average pooling; one dense layer.
    Shape: (N, in_channels, 32, 32) -> (N, 4*width, 4, 4) -> (N, num_classes).
    """
    rng = as_rng(rng)
    layers, c_in = [], in_channels
    for c_out in (width, 2 * width, 4 * width):
        layers += [*_conv_bn_relu(c_in, c_out, rng), *_conv_bn_relu(c_out, c_out, rng), nn.MaxPool2d(2)]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes, rng=rng))


def resnet_small(num_classes=10, in_channels=3, width=16, blocks_per_stage=1, rng=None):
    """A small ResNet for 32x32 images (He et al., 2016, CIFAR variant).

    A 3x3 stem, then three stages of basic blocks with width, 2*width, 4*width channels
    (the second and third halve the size with stride 2 and a 1x1 conv + BN shortcut),
    global average pooling and one dense layer. blocks_per_stage=3 gives ResNet-20.
    Shape: (N, in_channels, 32, 32) -> (N, 4*width, 8, 8) -> (N, num_classes).
    """
    rng = as_rng(rng)
    layers = [*_conv_bn_relu(in_channels, width, rng)]
    c_in = width
    for stage, c_out in enumerate((width, 2 * width, 4 * width)):
        for b in range(blocks_per_stage):
            stride = 2 if stage > 0 and b == 0 else 1
            layers += [_basic_block(c_in, c_out, stride, rng), nn.ReLU()]
            c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes, rng=rng))


def _conv_bn_relu(c_in, c_out, rng, stride=1):
    # No conv bias: the BatchNorm that follows subtracts the mean and adds its own bias.
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, rng=rng),
            nn.BatchNorm2d(c_out), nn.ReLU()]


def _basic_block(c_in, c_out, stride, rng):
    """y = BN(conv(ReLU(BN(conv(x))))) + shortcut(x); the ReLU after the sum comes next in the chain."""
    block = nn.Sequential(
        *_conv_bn_relu(c_in, c_out, rng, stride),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(c_out),
    )
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False, rng=rng), nn.BatchNorm2d(c_out))
    return nn.Residual(block, shortcut)
