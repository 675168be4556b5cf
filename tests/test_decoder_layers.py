"""The upsampling, padding and pooling layers together: an encoder-decoder in a Sequential, its summary, model files."""
import io as text_io

import numpy as np
import pytest

from convnp import io, nn


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
