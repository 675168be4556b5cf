"""Initialisers: bounds and spreads as PyTorch defines them, randomness only through rng."""
import math

import numpy as np
import pytest

from convnp import init


def test_uniform_fan_in_bound_and_reproducible():
    w = init.uniform_fan_in((64, 16, 3, 3), rng=0)
    bound = 1 / math.sqrt(16 * 9)
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    np.testing.assert_array_equal(w, init.uniform_fan_in((64, 16, 3, 3), rng=0))
    assert not np.array_equal(w, init.uniform_fan_in((64, 16, 3, 3), rng=1))


@pytest.mark.parametrize("fn,std", [
    (init.kaiming_normal, math.sqrt(2.0) / math.sqrt(200 * 9)),
    (init.xavier_normal, math.sqrt(2.0 / (200 * 9 + 100 * 9))),
])
def test_normal_inits_spread(fn, std):
    kw = {"nonlinearity": "relu"} if fn is init.kaiming_normal else {}
    w = fn((100, 200, 3, 3), rng=0, **kw)
    assert abs(w.std() / std - 1) < 0.02


def test_uniform_inits_bounds():
    w = init.kaiming_uniform((50, 40), rng=0, nonlinearity="relu")
    assert np.abs(w).max() <= math.sqrt(2) * math.sqrt(3 / 40)
    w = init.xavier_uniform((50, 40), rng=0)
    assert np.abs(w).max() <= math.sqrt(6 / 90)


def test_fans_and_errors():
    assert init.fans((8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.fans((3,))
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.gain("swish")
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal((3, 3), mode="fan")


def test_matches_torch_gain():
    torch = pytest.importorskip("torch")
    for nl, p in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("linear", None)]:
        assert init.gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
