"""Dropout: inverted dropout while training, identity in eval mode."""
import numpy as np
import pytest
from conftest import assert_matches, to_numpy

from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function, check_layer

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fraction_dropped_and_scaling(p, dtype):
    n = 200_000
    layer = nn.Dropout(p, rng=0)
    x = np.random.default_rng(1).uniform(0.5, 1.5, size=(100, n // 100)).astype(dtype)   # no zeros in x
    y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape
    dropped = y == 0
    # the fraction dropped is Binomial(n, p) / n: within 5 standard deviations
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    # kept units are scaled by 1 / (1 - p)
    np.testing.assert_allclose(y[~dropped], x[~dropped] / dtype(1 - p), rtol=4 * np.finfo(dtype).eps)
    # so the expectation is unchanged
    ones = layer(np.ones((400, 500), dtype=dtype))
    assert abs(ones.mean() - 1) < 5 * np.sqrt(p / (1 - p) / ones.size)


def test_scaling_matches_torch():
    """Where both masks keep an element the values agree (PyTorch's masks differ: another RNG)."""
    torch = pytest.importorskip("torch")
    for dtype, tdtype in [(np.float64, torch.float64), (np.float32, torch.float32)]:
        x = np.random.default_rng(2).standard_normal((64, 64)).astype(dtype)
        y = nn.Dropout(0.3, rng=0)(x)
        torch.manual_seed(0)
        yt = to_numpy(torch.nn.functional.dropout(torch.tensor(x, dtype=tdtype), 0.3, training=True))
        both = (y != 0) & (yt != 0)
        assert both.sum() > 1000
        assert_matches(y[both], yt[both], dtype, "kept values")


def test_backward_uses_the_same_mask():
    layer = nn.Dropout(0.4, rng=3)
    rng = np.random.default_rng(4)
    x = rng.uniform(1, 2, size=(8, 3, 5, 5))
    y = layer(x)
    dy = rng.standard_normal(x.shape)
    dx = layer.backward(dy)
    kept = y != 0
    np.testing.assert_array_equal(dx[~kept], 0)
    np.testing.assert_allclose(dx[kept], dy[kept] / 0.6, rtol=1e-15)
    # a second backward after one forward is refused; a new forward draws a new mask
    with pytest.raises(RuntimeError, match="twice after one forward"):
        layer.backward(dy)
    layer(x)
    assert not np.array_equal(layer.backward(dy), dx)


def test_gradcheck_functional_with_fixed_mask():
    rng = np.random.default_rng(5)
    # an int seed builds a new Generator on each call: every forward draws the same mask
    check_function(lambda x: F.dropout_forward(x, 0.3, rng=11), F.dropout_backward,
                   [rng.standard_normal((4, 6))], rng=rng)


class _SameMaskDropout(nn.Dropout):
    """Dropout that restarts its Generator on every forward, so finite differences see one mask."""

    def forward(self, x):
        self._rng = np.random.default_rng(12)
        return super().forward(x)


def test_gradcheck_layer():
    rng = np.random.default_rng(6)
    layer = _SameMaskDropout(0.5)
    check_layer(layer, rng.standard_normal((3, 2, 3, 3)), rng=rng)
    assert (layer(np.ones(50)) == 0).any()          # the check really ran with a mask
    check_layer(nn.Dropout(0.5).eval(), rng.standard_normal((3, 4)), rng=rng)


def test_same_seed_same_masks():
    x = np.ones((20, 30), dtype=np.float32)
    a, b, c = nn.Dropout(0.5, rng=7), nn.Dropout(0.5, rng=7), nn.Dropout(0.5, rng=8)
    first_a, first_b = a(x), b(x)
    np.testing.assert_array_equal(first_a, first_b)
    np.testing.assert_array_equal(a(x), b(x))          # the sequence of masks agrees too
    assert not np.array_equal(a(x), first_a)           # each forward draws a new mask
    assert not np.array_equal(c(x), first_a)
    np.testing.assert_array_equal(F.dropout_forward(x, 0.5, rng=3)[1], F.dropout_forward(x, 0.5, rng=3)[1])


def test_eval_mode_is_identity():
    layer = nn.Dropout(0.5, rng=0)
    x = np.random.default_rng(9).standard_normal((4, 5)).astype(np.float32)
    layer.eval()
    assert layer(x) is x
    dy = np.ones_like(x)
    assert layer.backward(dy) is dy
    layer.train()
    assert (layer(x) == 0).any()


def test_p_zero_is_identity():
    x = np.random.default_rng(10).standard_normal((4, 5))
    layer = nn.Dropout(0.0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(x * 2), x * 2)


def test_mask_keeps_dtype():
    x = np.ones((10, 10), dtype=np.float32)
    y, mask = F.dropout_forward(x, 0.2, rng=0)
    assert y.dtype == mask.dtype == np.float32
    assert F.dropout_backward(np.ones((10, 10), np.float32), mask).dtype == np.float32
    assert set(np.unique(mask)) <= {np.float32(0), np.float32(1 / 0.8)}


def test_repr_config_and_shape():
    assert repr(nn.Dropout()) == "Dropout(p=0.5)"
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
    layer = nn.Dropout(0.1)
    assert layer.config() == {"p": 0.1} and repr(nn.Dropout(**layer.config())) == repr(layer)
    assert layer.output_shape((None, 7, 3)) == (None, 7, 3)
    assert layer.parameters() == [] and layer.state_dict() == {}


@pytest.mark.parametrize("p", [1, 1.0, -0.1, 1.5, float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match=rf"Dropout: p must be in \[0, 1\), got {float(p)}"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\)"):
        F.dropout_forward(np.ones(3), p)


def test_other_errors():
    with pytest.raises(TypeError, match=r"Dropout: p must be a number, got '0.5'"):
        nn.Dropout("0.5")
    with pytest.raises(RuntimeError, match=r"Dropout.backward\(\) called before forward\(\)"):
        nn.Dropout().backward(np.ones(3))
    with pytest.raises(TypeError, match=r"Dropout\(p=0.5\): expected a floating-point array .* got dtype int64"):
        nn.Dropout()(np.ones(3, dtype=np.int64))
