"""Dropout2d: whole channels dropped, the kept ones scaled, the same mask backwards, rng, errors.

PyTorch draws its masks from its own generator, so the comparison with it is by the rule
(torch's output divided by its input is a per-channel mask in {0, 1/(1-p)}, as ours).
"""
import numpy as np
import pytest

from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function


def test_whole_channels_are_dropped_and_the_rest_scaled():
    x = np.random.default_rng(0).uniform(1, 2, (8, 16, 5, 4)).astype(np.float32)
    layer = nn.Dropout2d(0.25, rng=1)
    y = layer(x)
    kept = (y != 0)[:, :, :1, :1]
    assert np.all((y != 0) == kept)                                       # whole channels, nothing else
    np.testing.assert_array_equal(y, x * (kept * np.float32(1 / 0.75)))
    dy = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy * (kept * np.float32(1 / 0.75)))
    assert y.dtype == np.float32


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_rate_and_mean_are_kept(p):
    x = np.ones((200, 50, 2, 2))
    y = nn.Dropout2d(p, rng=3)(x)
    dropped = np.mean(y[:, :, 0, 0] == 0)
    assert abs(dropped - p) < 4 * np.sqrt(p * (1 - p) / 10000)           # 4 standard deviations
    assert abs(y.mean() - 1) < 4 * np.sqrt(p / (1 - p) / 10000)


def test_eval_mode_and_p_zero_are_the_identity():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 4))
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x and layer.backward(x * 2) is not None
    layer = nn.Dropout2d(0.0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(x * 2), x * 2)


def test_seeded_masks_are_reproducible_and_fresh_each_call():
    x = np.ones((4, 8, 2, 2))
    a, b = nn.Dropout2d(0.5, rng=7), nn.Dropout2d(0.5, rng=7)
    first = a(x)
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, a(x))
    np.testing.assert_array_equal(F.dropout2d_forward(x, 0.5, rng=9)[1], F.dropout2d_forward(x, 0.5, rng=9)[1])


def test_gradcheck_with_a_fixed_mask():
    x = np.random.default_rng(5).standard_normal((2, 3, 2, 2))
    check_function(lambda a: F.dropout2d_forward(a, 0.4, rng=11), F.dropout2d_backward, [x], rng=6)


def test_same_rule_as_torch(torch):
    x = np.random.default_rng(8).uniform(1, 2, (6, 10, 3, 3))
    ratio = torch.nn.Dropout2d(0.3)(torch.tensor(x)).numpy() / x
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :, :1, :1], ratio.shape), rtol=1e-14)
    assert set(np.round(np.unique(ratio), 12)) <= {0.0, round(1 / 0.7, 12)}


def test_repr_config_and_errors():
    assert repr(nn.Dropout2d()) == "Dropout2d(p=0.5)"
    assert nn.Dropout2d(0.2).config() == {"p": 0.2}
    assert nn.Dropout2d().output_shape((None, 3, 8, 8)) == (None, 3, 8, 8)
    with pytest.raises(ValueError, match=r"^Dropout2d: p must be in \[0, 1\), got 1.0$"):
        nn.Dropout2d(1.0)
    with pytest.raises(ValueError, match=r"^Dropout2d\(p=0.5\): expected input \(N, C, H, W\), got \(3, 4, 5\)$"):
        nn.Dropout2d()(np.zeros((3, 4, 5)))
    with pytest.raises(RuntimeError, match=r"^Dropout2d.backward\(\) called before forward\(\)"):
        nn.Dropout2d().backward(np.ones((1, 1, 1, 1)))
