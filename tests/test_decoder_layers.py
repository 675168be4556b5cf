"""The upsampling, padding and pooling layers together: an encoder-decoder in a Sequential, its summary, model files."""
import io as text_io

import numpy as np
import pytest
from conftest import assert_matches

from convnp import io, nn
from convnp.gradcheck import check_layer


def decoder(rng=0):
    """A small U-Net-like path down and up that uses every new layer with a single input and output."""
    return nn.Sequential(
        nn.ReflectionPad2d(1), nn.Conv2d(2, 4, 3, padding_mode="zeros", rng=rng), nn.ReLU(),
        nn.MaxPool2d(2, dilation=1, ceil_mode=True),
        nn.Conv2d(4, 8, 3, padding=1, padding_mode="circular", rng=rng), nn.AdaptiveMaxPool2d((3, None)),
        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, rng=rng),
        nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=False), nn.ReplicationPad2d((0, 1, 1, 0)),
        nn.Conv2d(4, 8, 1, padding_mode="reflect", rng=rng), nn.PixelShuffle(2), nn.PixelUnshuffle(2),
        nn.ZeroPad2d((1, -1, 0, 1)), nn.ConstantPad2d(1, 0.5), nn.CircularPad2d(1), nn.AdaptiveAvgPool2d((4, 5)),
        nn.Upsample(size=(6, 7)),
    )


def test_summary_agrees_with_forward():
    model = decoder()
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 7)).astype(np.float32)
    y = model(x)
    assert model.output_shape(x.shape) == y.shape == (2, 8, 6, 7)
    text = model.summary((2, 9, 7), file=text_io.StringIO())
    assert "ConvTranspose2d" in text and "(None, 8, 6, 7)" in text
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32


def test_model_file_round_trip(tmp_path):
    model = decoder(rng=3)
    x = np.random.default_rng(4).standard_normal((1, 2, 9, 7)).astype(np.float32)
    io.save(tmp_path / "decoder.npz", model)
    loaded = io.load(tmp_path / "decoder.npz")
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2),
                                   nn.AdaptiveMaxPool2d(2, return_indices=True)], ids=repr)
def test_two_output_and_two_input_layers_save_and_rebuild(tmp_path, layer):
    io.save(tmp_path / "m.npz", nn.Sequential(layer))
    assert repr(io.load(tmp_path / "m.npz")[0]) == repr(layer)


class SegNetBlock(nn.Model):
    """SegNet's idea: max pooling remembers where the maxima were, unpooling puts features back there."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate", rng=0)
        self.unpool = nn.MaxUnpool2d(2)
        self.up = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, rng=1)
        self.resize = nn.Upsample(scale_factor=0.5, mode="bilinear")

    def forward(self, x):
        y, indices = self.pool(x)
        h = self.unpool(self.conv(y), indices, output_size=x.shape)
        return self.resize(self.up(h))


def test_indices_through_a_model_gradcheck():
    model = SegNetBlock().to(np.float64)
    x = np.random.default_rng(5).permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) * 0.01   # no ties
    check_layer(model, x, rng=6)


def test_indices_through_a_model_match_torch(torch):
    model = SegNetBlock().to(np.float64)
    t = torch.nn.ModuleDict({"conv": torch.nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate"),
                             "up": torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)}).double()
    t.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(7).standard_normal((2, 2, 6, 5))
    tx = torch.tensor(x, requires_grad=True)
    ty, t_idx = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
    ty = torch.nn.functional.max_unpool2d(t["conv"](ty), t_idx, 2, output_size=tx.shape)
    ty = torch.nn.functional.interpolate(t["up"](ty), scale_factor=0.5, mode="bilinear")
    y = model(x)
    dy = np.random.default_rng(8).standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    dx = model.backward(dy)
    assert_matches(y, ty.detach().numpy(), np.float64, "output")
    assert_matches(dx, tx.grad.numpy(), np.float64, "input gradient")
    for name, p in model.named_parameters():
        assert_matches(p.grad, dict(t.named_parameters())[name].grad.numpy(), np.float64, name)
