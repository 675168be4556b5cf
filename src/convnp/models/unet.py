"""U-Net (Ronneberger et al., 2015) as an nn.Model with the names of milesial/Pytorch-UNet.

An encoder of ``depth`` steps (2x2 max pool, then two 3x3 conv -> BatchNorm -> ReLU) doubles
the channels while halving H and W; a decoder of as many steps upsamples (a 2x2 stride-2
transposed conv, or bilinear resizing), concatenates the encoder's feature map of the same
size (the skip connection) and applies two convs again; a 1x1 conv gives per-pixel logits.
Names as in that code: ``inc.double_conv.0.weight``, ``down1.maxpool_conv.1.double_conv...``,
``up1.up.weight``, ``up1.conv.double_conv...``, ``outc.conv.weight``.
"""
from .. import checks, nn
from ..init import as_rng


class DoubleConv(nn.Model):
    """(3x3 conv, no bias -> BatchNorm -> ReLU) twice; H and W kept (padding 1).

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W); mid_channels (default
    out_channels) between the two convs.
    """

    def __init__(self, in_channels, out_channels, mid_channels=None, rng=None):
        super().__init__()
        rng = as_rng(rng)
        mid = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, out_channels, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Model):
    """2x2 max pool, then DoubleConv. Shape: (N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2)."""

    def __init__(self, in_channels, out_channels, rng=None):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, rng=rng))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Model):
    """Upsample x1 2x, pad it to x2's size, concatenate [x2, x1] on channels, DoubleConv.

    ``up`` is ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2), or with bilinear=True
    an Upsample(scale_factor=2, mode='bilinear', align_corners=True) that keeps the channels
    (then the DoubleConv's middle width is in_channels // 2), as milesial/Pytorch-UNet.
    The padding (zeros, split as evenly as possible, the extra pixel at the bottom/right)
    makes up for a pooled odd size: 2 * (H // 2) is one short of an odd H.
    Shape: x1 (N, C1, H, W), x2 (N, C2, H2, W2) with H2 - 2H in {0, 1} -> (N, out_channels, H2, W2).
    """

    def __init__(self, in_channels, out_channels, bilinear=False, rng=None):
        super().__init__()
        rng = as_rng(rng)
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2, rng=rng)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2, rng=rng)
            self.conv = DoubleConv(in_channels, out_channels, rng=rng)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.shape[2] - x1.shape[2], x2.shape[3] - x1.shape[3]
        if dy or dx:   # F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2]) in the PyTorch code
            x1 = nn.ZeroPad2d((dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))(x1)
        return self.conv(nn.cat([x2, x1], dim=1))


class OutConv(nn.Model):
    """The 1x1 conv to per-pixel class logits. Shape: (N, in_channels, H, W) -> (N, out_channels, H, W)."""

    def __init__(self, in_channels, out_channels, rng=None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, rng=rng)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Model):
    """U-Net: ``inc``, ``down1`` .. ``down<depth>``, ``up1`` .. ``up<depth>``, ``outc``.

    Args: in_channels=1, num_classes=2, width=16 (channels after ``inc``; step i has width * 2**i),
    depth=4 (poolings; milesial's UNet is depth 4, width 64), bilinear=False, rng=None.
    Shape: (N, in_channels, H, W) -> (N, num_classes, H, W) logits; H and W at least 2**depth.
    Any such size works: an odd size is floored by pooling and padded back in ``Up``.
    Raises: ValueError for an input of another rank or smaller than 2**depth.
    """

    def __init__(self, in_channels=1, num_classes=2, width=16, depth=4, bilinear=False, rng=None):
        super().__init__()
        rng = as_rng(rng)
        self.depth = checks.positive_int(depth, "depth", "UNet")
        checks.positive_int(width, "width", "UNet")
        factor = 2 if bilinear else 1   # bilinear upsampling keeps the channels: the bottom is halved
        self.inc = DoubleConv(in_channels, width, rng=rng)
        for i in range(1, depth + 1):
            c_out = width * 2 ** i
            setattr(self, f"down{i}", Down(c_out // 2, c_out // factor if i == depth else c_out, rng))
        for i in range(1, depth + 1):
            c_in = width * 2 ** (depth - i + 1)
            setattr(self, f"up{i}", Up(c_in, c_in // 2 // factor if i < depth else c_in // 2, bilinear, rng))
        self.outc = OutConv(width, num_classes, rng)

    def forward(self, x):
        self._check_input(x)
        skips = [self.inc(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for i in range(1, self.depth + 1):
            x = getattr(self, f"up{i}")(x, skips.pop())
        return self.outc(x)

    def _check_input(self, x):
        checks.input_shape(x, f"UNet(depth={self.depth})", "(N, C, H, W)", 4)
        least = 2 ** self.depth
        if min(x.shape[2:]) < least:
            raise ValueError(f"UNet(depth={self.depth}): H and W must be at least 2**depth = {least}"
                             f" ({self.depth} poolings by 2), got input {tuple(x.shape)}")


def unet(in_channels=1, num_classes=2, width=16, depth=4, bilinear=False, rng=None):
    """A U-Net for segmentation (per-pixel logits); see UNet."""
    return UNet(in_channels, num_classes, width, depth, bilinear, rng)
