"""Upsample / functional.interpolate and PixelShuffle / PixelUnshuffle: gradient checks, PyTorch parity, errors."""
import numpy as np
import pytest
from conftest import torch_parity

from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function, check_layer


def random_upsample(seed):
    """Upsample arguments drawn from ``seed``: size or scale factors (non-integer, up and down), every mode option."""
    rng = np.random.default_rng(seed)
    mode = ["nearest", "bilinear"][seed % 2]
    kwargs = {"mode": mode}
    if seed % 3 == 0:
        kwargs["size"] = tuple(int(s) for s in rng.integers(1, 12, size=2)) if seed % 2 else int(rng.integers(1, 12))
    else:
        pair = tuple(float(s) for s in np.round(rng.uniform(0.5, 3.3, size=2), 2))
        kwargs["scale_factor"] = pair if seed % 4 else float(rng.choice([2.0, 3.0, 0.5, 1.5, 1.0]))
        kwargs["recompute_scale_factor"] = [None, True, False][seed % 3]
    if mode == "bilinear":
        kwargs["align_corners"] = [None, True, False][(seed // 2) % 3]
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3)), *(int(s) for s in rng.integers(2, 8, size=2)))
    return kwargs, shape


# -- PyTorch parity ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(60))
def test_upsample_matches_torch(torch, seed, dtype):
    kwargs, shape = random_upsample(seed)
    layer = nn.Upsample(**kwargs)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    y = torch_parity(layer, torch.nn.Upsample(**kwargs), x, dtype=dtype, seed=seed)
    assert y.dtype == dtype and layer.output_shape(shape) == y.shape
    np.testing.assert_array_equal(F.interpolate(x, **kwargs), y)


@pytest.mark.parametrize("align_corners", [None, True, False])
@pytest.mark.parametrize("size, out", [((1, 1), (5, 3)), ((5, 7), (1, 1)), ((3, 3), (3, 3)), ((7, 5), (4, 9)),
                                       ((2, 2), (9, 9)), ((9, 6), (3, 2))])
def test_bilinear_odd_sizes_match_torch(torch, size, out, align_corners):
    x = np.random.default_rng(0).standard_normal((1, 2, *size))
    for dtype in (np.float64, np.float32):
        layer = nn.Upsample(size=out, mode="bilinear", align_corners=align_corners)
        torch_parity(layer, torch.nn.Upsample(size=out, mode="bilinear", align_corners=align_corners),
                     x.astype(dtype), dtype=dtype)


def test_nearest_index_rounding_is_pytorchs(torch):
    # PyTorch computes floor(i * s) in float32 (s = 1/scale_factor, or H/H_out): for these sizes that
    # differs from the exact floor(i / scale) or floor(i * H / H_out) at some i (found by search)
    for n, kwargs in [(11, dict(scale_factor=3.7)), (16, dict(scale_factor=2.2)), (12, dict(scale_factor=4.9)),
                      (14, dict(size=(46, 2))), (26, dict(size=(22, 3)))]:
        x = np.arange(float(n * 2)).reshape(1, 1, n, 2)
        ours = F.interpolate(x, **kwargs)
        theirs = torch.nn.functional.interpolate(torch.tensor(x), **kwargs).numpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=f"n={n} {kwargs}")


# -- known values and gradient checks --------------------------------------------------------------


def test_known_values():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2), np.repeat(np.repeat(x, 2, 2), 2, 3))
    y = F.interpolate(x, size=3, mode="bilinear", align_corners=True)
    np.testing.assert_array_equal(y[0, 0], [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])  # corners kept, midpoints between
    y, cache = F.interpolate_forward(x, scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(F.interpolate_backward(np.ones_like(y), cache), np.full(x.shape, 4.0))


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2), dict(size=(3, 5)), dict(scale_factor=(0.6, 1.7)),
    dict(size=(5, 3), mode="bilinear"), dict(scale_factor=1.6, mode="bilinear", align_corners=True),
    dict(size=(2, 7), mode="bilinear", align_corners=False), dict(scale_factor=0.5, mode="bilinear"),
], ids=str)
def test_gradcheck(kwargs):
    rng = np.random.default_rng(1)
    check_layer(nn.Upsample(**kwargs), rng.standard_normal((2, 2, 4, 3)), rng=rng)
    check_function(lambda x: F.interpolate_forward(x, **kwargs), F.interpolate_backward,
                   [rng.standard_normal((1, 1, 3, 4))], rng=rng)


# -- pixel shuffle -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("r, shape", [(2, (2, 8, 3, 2)), (3, (1, 9, 2, 3)), (1, (2, 3, 2, 2)), (2, (4, 3, 1))])
def test_pixel_shuffle_matches_torch(torch, r, shape, dtype):
    x = np.random.default_rng(r).standard_normal(shape).astype(dtype)
    y = torch_parity(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), x, dtype=dtype)
    assert nn.PixelShuffle(r).output_shape(shape) == y.shape
    torch_parity(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), y, dtype=dtype)


def test_pixel_shuffle_gradcheck_and_inverse():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 2, 3))
    check_layer(nn.PixelShuffle(2), x, rng=rng)
    check_layer(nn.PixelUnshuffle(2), rng.standard_normal((1, 2, 4, 6)), rng=rng)
    np.testing.assert_array_equal(F.pixel_unshuffle_forward(F.pixel_shuffle_forward(x, 2)[0], 2)[0], x)
    assert nn.PixelUnshuffle(2).output_shape((None, 3, 4, 6)) == (None, 12, 2, 3)
    assert repr(nn.PixelShuffle(3)) == "PixelShuffle(3)" and nn.PixelUnshuffle(2).config() == {"downscale_factor": 2}


# -- layer config and errors ---------------------------------------------------------------------


def test_repr_and_config():
    layer = nn.Upsample(scale_factor=(2, 1.5), mode="bilinear", align_corners=True)
    assert repr(layer) == "Upsample(scale_factor=(2.0, 1.5), mode='bilinear', align_corners=True)"
    assert repr(nn.Upsample(size=[4, 5])) == "Upsample(size=(4, 5))"
    assert repr(type(layer)(**layer.config())) == repr(layer)
    assert nn.Upsample(scale_factor=2).output_shape((None, 3, 5, 4)) == (None, 3, 10, 8)


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(size=2, scale_factor=2), ValueError, r"^Upsample: exactly one of size and scale_factor must be given, got both$"),
    (dict(), ValueError, r"^Upsample: exactly one of size and scale_factor must be given, got neither$"),
    (dict(scale_factor=2, align_corners=True), ValueError,
     r"Upsample: align_corners can only be set with mode 'bilinear', got mode 'nearest' and align_corners=True"),
    (dict(size=3, recompute_scale_factor=True), ValueError,
     r"Upsample: recompute_scale_factor=True is not meaningful with an explicit size"),
    (dict(scale_factor=2, mode="bicubic"), ValueError, r"Upsample: mode must be one of 'nearest', 'bilinear', got 'bicubic'"),
    (dict(scale_factor=-1.0), ValueError, r"Upsample: scale_factor must be > 0, got -1.0"),
    (dict(scale_factor="2"), TypeError, r"Upsample: scale_factor must be a number or a pair of numbers, got '2'"),
    (dict(size=0), ValueError, r"Upsample: size must be >= 1, got \(0, 0\)"),
    (dict(scale_factor=2, mode="bilinear", align_corners=1), TypeError,
     r"Upsample: align_corners must be None, True or False, got 1"),
])
def test_constructor_errors(kwargs, error, text):
    with pytest.raises(error, match=text):
        nn.Upsample(**kwargs)


def test_input_errors():
    with pytest.raises(ValueError, match=r"^Upsample\(scale_factor=0.1\): scale_factor 0.1 gives an empty output"
                                         r" \(0, 0\) for the input \(1, 1, 4, 4\)$"):
        nn.Upsample(scale_factor=0.1)(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"Upsample\(size=3\): expected input \(N, C, H, W\), got \(4, 4\)"):
        nn.Upsample(size=3)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"interpolate: exactly one of size and scale_factor must be given, got neither"):
        F.interpolate(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"PixelShuffle\(2\): expected input \(\*, C\*4, H, W\) with channels divisible"
                                         r" by upscale_factor\*\*2 = 4, got \(1, 6, 2, 2\)"):
        nn.PixelShuffle(2)(np.zeros((1, 6, 2, 2)))
    with pytest.raises(ValueError, match=r"PixelUnshuffle\(3\): expected input \(\*, C, H, W\) with H and W divisible"
                                         r" by downscale_factor = 3, got \(1, 1, 3, 4\)"):
        nn.PixelUnshuffle(3)(np.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match=r"PixelShuffle: upscale_factor must be > 0, got 0"):
        nn.PixelShuffle(0)
