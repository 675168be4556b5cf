"""In-place initialisers (torch.nn.init's names): statistics, bounds, in-place semantics, and the
gains, fans, bounds and spreads PyTorch derives from the shape, recovered exactly from PyTorch."""
import math

import numpy as np
import pytest

from convnp import init, nn
from convnp.nn import Parameter

SHAPE = (256, 64, 3, 3)                      # 147456 values: sample statistics within ~0.4 %


def sample_std_close(values, std, sigmas=5):
    """|sample std / std - 1| within ``sigmas`` standard errors of a sample standard deviation."""
    return abs(values.std() / std - 1) < sigmas / math.sqrt(2 * values.size)


def torch_scale(torch, name, shape, uniform, **kwargs):
    """The bound (uniform) or std (normal) torch.nn.init.<name> uses, recovered exactly.

    PyTorch fills with -b + 2b*u or std*z; the same generator seed gives the same u or z, so
    dividing by the unit draw leaves b or std, up to rounding.
    """
    g = torch.Generator().manual_seed(0)
    t = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), generator=g, **kwargs)
    g.manual_seed(0)
    unit = torch.empty(shape, dtype=torch.float64)
    unit = unit.uniform_(-1, 1, generator=g) if uniform else unit.normal_(0, 1, generator=g)
    return float(torch.median(t / unit))


CASES = [("kaiming_uniform_", True, {}), ("kaiming_uniform_", True, {"a": math.sqrt(5)}),
         ("kaiming_uniform_", True, {"mode": "fan_out", "nonlinearity": "relu"}),
         ("kaiming_normal_", False, {"nonlinearity": "relu"}), ("kaiming_normal_", False, {"a": 0.2, "mode": "fan_out"}),
         ("kaiming_normal_", False, {"nonlinearity": "tanh"}), ("xavier_uniform_", True, {}),
         ("xavier_uniform_", True, {"gain": 2.0}), ("xavier_normal_", False, {"gain": 0.5})]


@pytest.mark.parametrize("name, uniform, kwargs", CASES)
@pytest.mark.parametrize("shape", [SHAPE, (300, 500)])
def test_bounds_and_spreads_match_torch(torch, name, uniform, kwargs, shape):
    expected = torch_scale(torch, name, shape, uniform, **kwargs)
    w = getattr(init, name)(np.empty(shape), rng=1, **kwargs)
    if uniform:
        assert np.abs(w).max() <= expected and np.abs(w).max() > 0.999 * expected
        assert sample_std_close(w, expected / math.sqrt(3))
    else:
        assert sample_std_close(w, expected) and abs(w.mean()) < 5 * expected / math.sqrt(w.size)


def test_calculate_gain_and_fans_match_torch(torch):
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                 "sigmoid", "tanh", "relu", "selu", "leaky_relu"):
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for slope in (0, 0.2, 3):
        assert init.calculate_gain("leaky_relu", slope) == torch.nn.init.calculate_gain("leaky_relu", slope)
    for shape in [(3, 4), (8, 3, 5, 5), (2, 6, 1, 3, 3), (5, 1)]:
        assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_normal_uniform_constant_in_place_on_parameters_and_arrays():
    p = Parameter(np.zeros(SHAPE, np.float32))
    data, grad = p.data, p.grad
    assert init.normal_(p, 0.5, 2.0, rng=0) is p
    assert p.data is data and p.grad is grad and p.data.dtype == np.float32 and not grad.any()
    assert abs(p.data.mean() - 0.5) < 5 * 2.0 / math.sqrt(p.size) and sample_std_close(p.data, 2.0)
    a = np.empty((1000, 100))
    assert init.uniform_(a, -3.0, 1.0, rng=0) is a
    assert a.min() >= -3 and a.max() < 1 and abs(a.mean() + 1) < 0.01
    np.testing.assert_array_equal(init.constant_(a, 0.25), np.full_like(a, 0.25))
    assert not init.zeros_(p).data.any() and np.all(init.ones_(a) == 1)
    np.testing.assert_array_equal(init.normal_(np.empty(5), rng=3), init.normal_(np.empty(5), rng=3))


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (1.0, 0.5, 0.0, 3.0), (0.0, 1.0, 1.0, 3.0),
                                             (0.0, 0.02, -0.04, 0.04), (0.0, 1.0, 4.0, 5.0)])
def test_trunc_normal_moments(mean, std, a, b):
    """Mean and variance of the truncated normal, both branches (wide interval and narrow tail)."""
    w = init.trunc_normal_(np.empty(200000), mean, std, a, b, rng=0)
    assert w.min() >= a and w.max() <= b
    al, be = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)          # noqa: E731
    z = init._norm_cdf(be) - init._norm_cdf(al)
    mu = mean + std * (pdf(al) - pdf(be)) / z
    var = std ** 2 * (1 + (al * pdf(al) - be * pdf(be)) / z - ((pdf(al) - pdf(be)) / z) ** 2)
    assert abs(w.mean() - mu) < 5 * math.sqrt(var / w.size)
    assert sample_std_close(w, math.sqrt(var))


@pytest.mark.parametrize("shape, gain", [((3, 5), 1.0), ((5, 3), 2.0), ((4, 2, 3, 3), 0.5), ((6, 6), 1.0)])
def test_orthogonal(shape, gain):
    w = init.orthogonal_(Parameter(np.empty(shape, np.float64)), gain, rng=0).data
    flat = w.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-12)


def test_layers_can_be_reinitialised():
    conv = nn.Conv2d(3, 8, 3, rng=0)
    init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu", rng=1)
    init.zeros_(conv.bias)
    assert conv.weight.data.dtype == np.float32 and not conv.bias.data.any()
    assert init.kaiming_uniform_(np.empty((0, 3)), rng=0).shape == (0, 3)       # empty: nothing to fill


def test_errors():
    with pytest.raises(TypeError, match=r"^normal_: expected a Parameter or a floating-point array, got an array of"
                                        r" dtype int64$"):
        init.normal_(np.zeros(3, np.int64))
    with pytest.raises(TypeError, match=r"^zeros_: expected a Parameter or a floating-point array, got list$"):
        init.zeros_([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^orthogonal_: expected an array with at least 2 dimensions, got shape \(4,\)$"):
        init.orthogonal_(np.empty(4))
    with pytest.raises(ValueError, match=r"^kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan'$"):
        init.kaiming_normal_(np.empty((3, 3)), mode="fan")
    with pytest.raises(ValueError, match=r"^calculate_gain: unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match=r"^calculate_gain: negative_slope must be a number, got True$"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match=r"^fans: need a weight with at least 2 dimensions, got shape \(3,\)$"):
        init.xavier_uniform_(np.empty(3))
    with pytest.raises(ValueError, match=r"^trunc_normal_: expected std > 0 and a < b, got std=1.0, a=2.0, b=1.0$"):
        init.trunc_normal_(np.empty(3), a=2.0, b=1.0)
    with pytest.raises(ValueError, match=r"^trunc_normal_: \[a, b\] = \[50.0, 51.0\] is too improbable"):
        init.trunc_normal_(np.empty(3), a=50.0, b=51.0, rng=0, max_rounds=20)
