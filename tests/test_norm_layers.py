"""LayerNorm, GroupNorm, InstanceNorm2d and LocalResponseNorm: gradient checks for the input and the
parameters, PyTorch parity over random configurations (running statistics included), errors."""
import numpy as np
import pytest

from conftest import torch_parity
from convnp import functional as F
from convnp import gradcheck, nn


def randomise(layer, rng):
    """Random weight and bias (not 1 and 0: they would hide a missing factor); returns the layer."""
    for _, p in layer.named_parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1, 1], p.shape)
    return layer


# -- gradient checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("normalized_shape, shape, affine, bias", [
    ((4,), (3, 4), True, True), ((3, 4), (2, 3, 4), True, False), ((2, 3, 3), (2, 2, 3, 3), False, True),
    (5, (5,), True, True)])
def test_gradcheck_layer_norm(normalized_shape, shape, affine, bias):
    rng = np.random.default_rng(len(shape))
    layer = randomise(nn.LayerNorm(normalized_shape, elementwise_affine=affine, bias=bias).to(np.float64), rng)
    gradcheck.check_layer(layer, rng.standard_normal(shape) * 2 + 1, rng=rng)


@pytest.mark.parametrize("groups, channels, shape, affine", [
    (1, 4, (2, 4, 3), True), (2, 4, (2, 4, 2, 3), True), (4, 4, (1, 4, 3, 2), False), (3, 6, (2, 6), True)])
def test_gradcheck_group_norm(groups, channels, shape, affine):
    rng = np.random.default_rng(groups + channels)
    layer = randomise(nn.GroupNorm(groups, channels, affine=affine).to(np.float64), rng)
    gradcheck.check_layer(layer, rng.standard_normal(shape) * 2 - 1, rng=rng)


@pytest.mark.parametrize("affine, track, training", [(False, False, True), (True, False, True), (True, True, True),
                                                     (True, True, False)])
def test_gradcheck_instance_norm(affine, track, training):
    rng = np.random.default_rng(int(affine) + 2 * int(track) + 4 * int(training))
    layer = randomise(nn.InstanceNorm2d(3, affine=affine, track_running_stats=track).to(np.float64), rng)
    if track:
        layer.running_mean[:] = rng.standard_normal(3)
        layer.running_var[:] = rng.uniform(0.5, 2.0, 3)
    layer.train(training)
    gradcheck.check_layer(layer, rng.standard_normal((2, 3, 3, 2)), rng=rng)


@pytest.mark.parametrize("size, alpha, beta, k, shape", [(1, 1e-2, 0.75, 1.0, (2, 3, 2)), (2, 0.5, 0.75, 2.0, (1, 4, 2, 2)),
                                                         (3, 1.0, 0.5, 1.0, (2, 5, 3)), (5, 2.0, 1.3, 0.5, (1, 3, 2, 3))])
def test_gradcheck_local_response_norm(size, alpha, beta, k, shape):
    rng = np.random.default_rng(size)
    gradcheck.check_layer(nn.LocalResponseNorm(size, alpha, beta, k), rng.standard_normal(shape), rng=rng)


# -- PyTorch parity ------------------------------------------------------------------------------
DTYPES = [np.float64, np.float32]


def random_shape(rng, ndim, channels=None):
    shape = [int(s) for s in rng.integers(1, 5, ndim)]
    if channels is not None:
        shape[1] = channels
    return tuple(shape)


def at_least_4(shape, normalised):
    """Widen the last axis until each normalised group (the product of ``normalised``) holds >= 4 values.

    Over 1 value the true input gradient is exactly 0, over 2 it is O(eps / var): both libraries
    then return rounding noise, and comparing noise with noise says nothing.
    """
    size = int(np.prod(normalised))
    return shape[:-1] + (shape[-1] * -(-4 // size),) if size < 4 else shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_layer_norm_matches_torch(torch, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, int(rng.integers(2, 5)))
    k = int(rng.integers(1, len(shape)))
    shape = at_least_4(shape, shape[-k:])
    affine, bias = bool(rng.integers(2)), bool(rng.integers(2))
    eps = float(rng.choice([1e-5, 1e-3, 0.1]))
    layer = randomise(nn.LayerNorm(shape[-k:], eps=eps, elementwise_affine=affine, bias=bias).to(dtype), rng)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    torch_parity(layer, torch.nn.LayerNorm(shape[-k:], eps=eps, elementwise_affine=affine, bias=bias), x, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_group_norm_matches_torch(torch, dtype, seed):
    rng = np.random.default_rng(10 + seed)
    groups = int(rng.integers(1, 4))
    channels = groups * int(rng.integers(1, 4))
    shape = random_shape(rng, int(rng.integers(2, 5)), channels)
    shape = at_least_4(shape if len(shape) > 2 else shape + (1,), (channels // groups,) + shape[2:])
    affine = bool(rng.integers(2))
    layer = randomise(nn.GroupNorm(groups, channels, affine=affine).to(dtype), rng)
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    torch_parity(layer, torch.nn.GroupNorm(groups, channels, affine=affine), x, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_instance_norm_matches_torch_with_running_statistics(torch, dtype, seed):
    rng = np.random.default_rng(20 + seed)
    c = int(rng.integers(1, 5))
    affine, track = bool(rng.integers(2)), bool(rng.integers(2))
    momentum = float(rng.choice([0.1, 0.5, 1.0]))
    layer = randomise(nn.InstanceNorm2d(c, momentum=momentum, affine=affine, track_running_stats=track).to(dtype), rng)
    theirs = torch.nn.InstanceNorm2d(c, momentum=momentum, affine=affine, track_running_stats=track)
    for step in range(3):                             # running statistics move, then eval mode uses them
        layer.train(step < 2)
        shape = random_shape(rng, 4, c)
        x = (rng.standard_normal(at_least_4(shape, shape[2:])) * 2 + 1).astype(dtype)
        torch_parity(layer, theirs, x, dtype=dtype, seed=seed, what=f"InstanceNorm2d step {step}")
        assert not track or int(layer.num_batches_tracked) == int(theirs.num_batches_tracked) == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_local_response_norm_matches_torch(torch, dtype, seed):
    rng = np.random.default_rng(30 + seed)
    size = int(rng.integers(1, 7))
    alpha, beta, k = float(rng.choice([1e-4, 0.1, 1.0])), float(rng.choice([0.75, 0.5, 2.0])), float(rng.choice([1.0, 2.0]))
    shape = random_shape(rng, int(rng.integers(3, 5)))
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    torch_parity(nn.LocalResponseNorm(size, alpha, beta, k), torch.nn.LocalResponseNorm(size, alpha, beta, k), x,
                 dtype=dtype)


# -- behaviour ----------------------------------------------------------------------------------------
def test_group_norm_with_one_group_per_channel_is_instance_norm():
    rng = np.random.default_rng(40)
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(nn.GroupNorm(3, 3, affine=False)(x), nn.InstanceNorm2d(3)(x), rtol=1e-12, atol=1e-14)
    ln = nn.LayerNorm((3, 4, 5), elementwise_affine=False)(x)
    np.testing.assert_allclose(nn.GroupNorm(1, 3, affine=False)(x), ln, rtol=1e-12, atol=1e-14)


def test_instance_norm_momentum_none_keeps_running_statistics_as_torch_does():
    layer = nn.InstanceNorm2d(2, momentum=None, track_running_stats=True)
    layer(np.random.default_rng(41).standard_normal((2, 2, 3, 3)).astype(np.float32))
    np.testing.assert_array_equal(layer.running_mean, [0, 0])
    np.testing.assert_array_equal(layer.running_var, [1, 1])


def test_parameters_buffers_config_and_repr():
    assert [k for k in nn.LayerNorm(4).state_dict()] == ["weight", "bias"]
    assert [k for k in nn.LayerNorm(4, bias=False).state_dict()] == ["weight"]
    assert nn.LayerNorm(4, elementwise_affine=False).state_dict() == {}
    assert list(nn.InstanceNorm2d(3, track_running_stats=True).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.InstanceNorm2d(3, affine=True).state_dict()) == ["weight", "bias"]
    for layer, text in [(nn.LayerNorm([2, 3]), "LayerNorm((2, 3))"), (nn.LayerNorm(4, eps=1e-3), "LayerNorm((4,), eps=0.001)"),
                        (nn.GroupNorm(2, 4), "GroupNorm(2, 4)"), (nn.GroupNorm(1, 2, affine=False), "GroupNorm(1, 2, affine=False)"),
                        (nn.InstanceNorm2d(3), "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False,"
                                               " track_running_stats=False)"),
                        (nn.LocalResponseNorm(5), "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)")]:
        assert repr(layer) == text
        assert repr(type(layer)(**layer.config())) == text
        assert layer.output_shape((None, 4, 2, 3)) == (None, 4, 2, 3)


def test_torch_reprs_agree(torch):
    assert repr(nn.LocalResponseNorm(5)) == repr(torch.nn.LocalResponseNorm(5))


def test_functional_pairs_return_none_for_absent_parameters():
    x = np.random.default_rng(42).standard_normal((2, 4, 3))
    for forward, backward, args in [(F.layer_norm_forward, F.layer_norm_backward, ((3,),)),
                                    (F.group_norm_forward, F.group_norm_backward, (2,)),
                                    (F.instance_norm_forward, F.instance_norm_backward, ())]:
        y, cache = forward(x, *args)
        dx, dweight, dbias = backward(np.ones_like(y), cache)
        assert dx.shape == x.shape and dweight is None and dbias is None


def test_empty_batch():
    for layer in (nn.LayerNorm(3), nn.GroupNorm(2, 4)):
        x = np.zeros((0, 4, 3), np.float32)
        assert layer(x).shape == (0, 4, 3) and layer.backward(x).shape == (0, 4, 3)


# -- errors -------------------------------------------------------------------------------------------
def test_errors_name_the_layer_and_the_problem():
    with pytest.raises(ValueError, match=r"^GroupNorm: num_channels must be divisible by num_groups, got"
                                         r" num_channels=6, num_groups=4$"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"^GroupNorm\(2, 4\): expected input \(N, 4, \*\), got \(2, 6, 3\)$"):
        nn.GroupNorm(2, 4)(np.zeros((2, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"^LayerNorm\(\(2, 3\)\): expected input \(\*, 2, 3\) ending in normalized_shape"
                                         r" \(2, 3\), got \(4, 3, 2\)$"):
        nn.LayerNorm((2, 3))(np.zeros((4, 3, 2), np.float32))
    with pytest.raises(TypeError, match=r"^LayerNorm: normalized_shape must be an int or a non-empty tuple of ints, got \(\)$"):
        nn.LayerNorm(())
    with pytest.raises(ValueError, match=r"^LayerNorm: normalized_shape must be > 0, got 0$"):
        nn.LayerNorm((3, 0))
    with pytest.raises(TypeError, match=r"^LayerNorm: elementwise_affine must be a bool, got 'yes'$"):
        nn.LayerNorm(3, elementwise_affine="yes")
    with pytest.raises(ValueError, match=r"^InstanceNorm2d\(3, .*\): expected input \(N, 3, H, W\), got \(2, 3, 4\)$"):
        nn.InstanceNorm2d(3)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"^InstanceNorm2d\(2, .*\): expected more than 1 spatial element when using"
                                         r" input statistics, got input of shape \(3, 2, 1, 1\)$"):
        nn.InstanceNorm2d(2)(np.zeros((3, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"^InstanceNorm2d: momentum must be in \[0, 1\], got 1.5$"):
        nn.InstanceNorm2d(2, momentum=1.5)
    with pytest.raises(TypeError, match=r"^GroupNorm\(1, 2\): input dtype float64 does not match the parameters' dtype"):
        nn.GroupNorm(1, 2)(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"^LocalResponseNorm\(2, .*\): expected input \(N, C, \*\) with at least 3"
                                         r" dimensions, got \(4, 3\)$"):
        nn.LocalResponseNorm(2)(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"^LocalResponseNorm: size must be > 0, got 0$"):
        nn.LocalResponseNorm(0)
    with pytest.raises(ValueError, match=r"^layer_norm: expected weight of shape \(3,\) \(normalized_shape\), got \(4,\)$"):
        F.layer_norm_forward(np.zeros((2, 3)), (3,), np.ones(4))
    for cls in (nn.LayerNorm, nn.LocalResponseNorm):
        with pytest.raises(RuntimeError, match=r"\.backward\(\) called before forward\(\)"):
            cls(3).backward(np.ones((2, 3, 3)))


def test_new_layers_save_load_and_summary(tmp_path):
    import io

    import convnp

    rng = np.random.default_rng(50)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, rng=0), nn.GroupNorm(2, 4), nn.PReLU(4), nn.LocalResponseNorm(3),
        nn.InstanceNorm2d(4, affine=True, track_running_stats=True), nn.Hardswish(), nn.Dropout2d(0.2, rng=1),
        nn.LayerNorm([4, 5, 5]), nn.SiLU(), nn.Flatten(), nn.Linear(100, 6, rng=2), nn.Mish(), nn.Softplus(beta=2.0),
        nn.Hardtanh(-2.0, 2.0), nn.CELU(0.5), nn.ReLU6(), nn.SELU(), nn.Hardsigmoid(), nn.LogSigmoid(), nn.Softsign())
    for p in model.parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape)
    x = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
    model(x)                                       # moves the instance norm's running statistics
    model.eval()
    path = tmp_path / "m.npz"
    convnp.save(path, model)
    loaded = convnp.load(path)
    loaded.eval()
    np.testing.assert_array_equal(loaded(x), model(x))
    out = io.StringIO()
    model.summary((2, 5, 5), file=out)
    assert "GroupNorm" in out.getvalue() and "(None, 6)" in out.getvalue()


def test_new_layers_called_twice_inside_a_model_match_torch(torch):
    """A shared GroupNorm and PReLU called on two inputs before one backward (each call keeps its cache)."""

    class Twice(nn.Model):
        def __init__(self):
            super().__init__()
            self.norm, self.act = nn.GroupNorm(2, 4), nn.PReLU(4)

        def forward(self, a, b):
            return nn.add(self.act(self.norm(a)), self.act(self.norm(b)))

    class TorchTwice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.act = torch.nn.GroupNorm(2, 4), torch.nn.PReLU(4)

        def forward(self, a, b):
            return self.act(self.norm(a)) + self.act(self.norm(b))

    rng = np.random.default_rng(60)
    model = randomise(Twice().to(np.float64), rng)
    a, b = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    torch_parity(model, TorchTwice(), a, b, dtype=np.float64)
