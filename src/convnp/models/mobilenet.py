"""MobileNetV2 (Sandler et al., 2018) as an nn.Model with torchvision's layout and names.

Inverted residual blocks: a 1x1 expansion conv (t times the channels), a 3x3 depthwise conv
(``groups`` = channels), a 1x1 linear projection; the input is added back when the block keeps
the shape. ReLU6 after the expansion and depthwise convs, none after the projection.
``features.<i>.conv.<j>...`` and ``classifier.1`` are where torchvision has them.
"""
from .. import nn
from ..init import as_rng

# (expansion t, output channels c, repeats n, first stride s) of each stage, from the paper
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))


def _make_divisible(v, divisor=8):
    """Round channels to a multiple of 8, never below 90% of v (torchvision's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn_relu6(c_in, c_out, kernel=3, stride=1, groups=1, rng=None):
    """Conv (no bias) -> BatchNorm -> ReLU6, as torchvision's Conv2dNormActivation: keys 0, 1, 2."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False, rng=rng),
                         nn.BatchNorm2d(c_out), nn.ReLU6())


class InvertedResidual(nn.Model):
    """x + project(depthwise(expand(x))) when stride 1 and the channels stay, else without the sum.

    Shape: (N, c_in, H, W) -> (N, c_out, H / stride, W / stride).
    """

    def __init__(self, c_in, c_out, stride, expand_ratio, rng=None):
        super().__init__()
        rng = as_rng(rng)
        hidden = int(round(c_in * expand_ratio))
        self.use_res_connect = stride == 1 and c_in == c_out
        layers = [conv_bn_relu6(c_in, hidden, 1, rng=rng)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden, rng=rng),
                   nn.Conv2d(hidden, c_out, 1, bias=False, rng=rng), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return nn.add(x, self.conv(x)) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Model):
    """MobileNetV2: ``features`` (a stem, 17 inverted residuals, a 1x1 conv to 1280), ``classifier``.

    Args: num_classes=1000, width_mult=1.0 (scales every width), in_channels=3, dropout=0.2,
    small_input=False (True: stride 1 in the stem and the second stage, for 32x32 images,
    as CIFAR versions do; the names do not change), rng=None.
    Shape: (N, in_channels, H, W) -> (N, num_classes); H/32 x W/32 before pooling (H/8 with small_input).
    """

    def __init__(self, num_classes=1000, width_mult=1.0, in_channels=3, dropout=0.2, small_input=False, rng=None):
        super().__init__()
        rng = as_rng(rng)
        c_in = _make_divisible(32 * width_mult)
        self.last_channel = last = _make_divisible(1280 * max(1.0, width_mult))
        features = [conv_bn_relu6(in_channels, c_in, 3, 1 if small_input else 2, rng=rng)]
        for i, (t, c, n, s) in enumerate(_SETTINGS):
            c_out = _make_divisible(c * width_mult)
            stride = 1 if small_input and i == 1 else s
            for k in range(n):
                features.append(InvertedResidual(c_in, c_out, stride if k == 0 else 1, t, rng))
                c_in = c_out
        features.append(conv_bn_relu6(c_in, last, 1, rng=rng))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng), nn.Linear(last, num_classes, rng=rng))

    def forward(self, x):
        return self.classifier(self.flatten(self.pool(self.features(x))))


def mobilenet_v2(num_classes=10, width_mult=1.0, in_channels=3, small_input=True, rng=None):
    """MobileNetV2 for 32x32 images by default (small_input); see MobileNetV2."""
    return MobileNetV2(num_classes, width_mult, in_channels, small_input=small_input, rng=rng)
