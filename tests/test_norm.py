"""BatchNorm1d / BatchNorm2d: gradient checks, PyTorch parity (outputs, gradients, running
statistics, state_dict), modes, dtypes and errors."""
import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import functional as F
from convnp import gradcheck, nn

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)

SHAPES = {"1d (N, C)": (nn.BatchNorm1d, (5, 3)),
          "1d (N, C, L)": (nn.BatchNorm1d, (3, 2, 4)),
          "2d": (nn.BatchNorm2d, (2, 3, 3, 3))}


def float64_layer(cls, c, rng, **kwargs):
    """A float64 layer with random weight, bias and running statistics (so none is trivial)."""
    layer = cls(c, **kwargs).to(np.float64)
    if layer.affine:
        layer.weight.data = rng.uniform(0.5, 2.0, c)
        layer.bias.data = rng.standard_normal(c)
    if layer.track_running_stats:
        layer.running_mean = rng.standard_normal(c)
        layer.running_var = rng.uniform(0.5, 2.0, c)
    return layer


def channel_data(rng, shape, dtype=np.float64):
    """Random input whose channels have different means and spreads."""
    c = shape[1]
    bshape = (1, c) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0, bshape) + rng.uniform(-2, 2, bshape)
    return x.astype(dtype)


# -- gradient checks -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("affine, track", [(True, True), (False, True), (True, False)])
def test_gradcheck(kind, mode, affine, track):
    cls, shape = SHAPES[kind]
    rng = np.random.default_rng(len(shape) + 10 * affine + 100 * track)
    layer = float64_layer(cls, shape[1], rng, affine=affine, track_running_stats=track)
    layer.train(mode == "train")
    errors = gradcheck.check_layer(layer, channel_data(rng, shape), rng=rng)
    assert set(errors) == ({"input", "weight", "bias"} if affine else {"input"})


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_functional(training):
    rng = np.random.default_rng(7)
    x = channel_data(rng, (4, 3, 5))
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)

    def forward(x, w, b):
        # copies: in training mode the running statistics are updated in place
        return F.batch_norm_forward(x, mean.copy(), var.copy(), w, b, training=training, eps=1e-3)

    gradcheck.check_function(forward, F.batch_norm_backward,
                             [x, rng.uniform(0.5, 2, 3), rng.standard_normal(3)], rng=rng)


def test_train_backward_differs_from_the_affine_one():
    """Training mode sends the gradient through the batch mean and variance too: with eps = 0
    the output is centred and of unit variance whatever x is, so dx is orthogonal to 1 and to y."""
    rng = np.random.default_rng(8)
    x = channel_data(rng, (6, 2))
    dy = rng.standard_normal(x.shape)
    y, cache = F.batch_norm_forward(x, None, None, training=True, eps=0.0)
    dx = F.batch_norm_backward(dy, cache)[0]
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose((dx * y).sum(axis=0), 0, atol=1e-12)
    assert np.max(np.abs(dx - dy / x.std(axis=0))) > 1e-2


# -- PyTorch parity ------------------------------------------------------------------------
def random_config(rng):
    kind = ["1d (N, C)", "1d (N, C, L)", "2d"][int(rng.integers(3))]
    c = int(rng.integers(1, 6))
    if kind == "1d (N, C)":
        shape = (int(rng.integers(2, 9)), c)
    elif kind == "1d (N, C, L)":
        shape = (int(rng.integers(1, 5)), c, int(rng.integers(2, 7)))
    else:
        shape = (int(rng.integers(1, 4)), c, int(rng.integers(2, 5)), int(rng.integers(2, 6)))
    kwargs = {"eps": float(rng.choice([1e-5, 1e-3])), "momentum": [0.1, 0.3, None][int(rng.integers(3))],
              "affine": bool(rng.integers(2))}
    return SHAPES[kind][0], shape, kwargs


def torch_bn(torch, cls, c, kwargs, dtype):
    tcls = getattr(torch.nn, cls.__name__)
    return tcls(c, **kwargs).to(getattr(torch, np.dtype(dtype).name))


def step(torch, ours, theirs, x, dy, dtype, what):
    y = ours(x)
    dx = ours.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    ty.backward(torch.from_numpy(dy))
    assert y.dtype == dtype and dx.dtype == dtype
    assert_matches(y, to_numpy(ty), dtype, f"{what} output")
    assert_matches(dx, to_numpy(tx.grad), dtype, f"{what} input gradient")
    if ours.affine:
        assert_matches(ours.weight.grad, to_numpy(theirs.weight.grad), dtype, f"{what} weight gradient")
        assert_matches(ours.bias.grad, to_numpy(theirs.bias.grad), dtype, f"{what} bias gradient")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_train_steps_then_eval_match_torch(dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    cls, shape, kwargs = random_config(rng)
    c = shape[1]
    ours = cls(c, **kwargs).to(dtype)
    theirs = torch_bn(torch, cls, c, kwargs, dtype)
    if ours.affine:
        ours.weight.data = rng.uniform(0.5, 2, c).astype(dtype)
        ours.bias.data = rng.standard_normal(c).astype(dtype)
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.weight.data))
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    for i in range(4):
        x, dy = channel_data(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
        step(torch, ours, theirs, x, dy, dtype, f"train step {i}")
        assert ours.running_mean.dtype == dtype and ours.running_var.dtype == dtype
        assert_matches(ours.running_mean, to_numpy(theirs.running_mean), dtype, "running_mean")
        assert_matches(ours.running_var, to_numpy(theirs.running_var), dtype, "running_var")
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == i + 1
    ours.eval()
    theirs.eval()
    x, dy = channel_data(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    step(torch, ours, theirs, x, dy, dtype, "eval")
    assert int(ours.num_batches_tracked) == 4
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(their_state)
    for key in ours_state:
        assert ours_state[key].dtype == to_numpy(their_state[key]).dtype, key
        assert_matches(ours_state[key], to_numpy(their_state[key]), dtype, key)


@pytest.mark.parametrize("shape", [(64, 16, 16, 16), (256, 32)])
def test_float32_realistic_batch_matches_torch(shape):
    # Sums over 16,384 (or 256) values per channel in float32, with channel means far from 0.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    cls = nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d
    ours, theirs = cls(shape[1]), torch_bn(torch, cls, shape[1], {}, np.float32)
    for i in range(2):
        x = channel_data(rng, shape, np.float32) + np.float32(5)
        step(torch, ours, theirs, x, rng.standard_normal(shape).astype(np.float32), np.float32, f"step {i}")
        assert_matches(ours.running_var, to_numpy(theirs.running_var), np.float32, "running_var")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_without_running_stats_matches_torch_in_both_modes(dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(100 + seed)
    cls, shape, kwargs = random_config(rng)
    kwargs["track_running_stats"] = False
    ours = cls(shape[1], **kwargs).to(dtype)
    theirs = torch_bn(torch, cls, shape[1], kwargs, dtype)
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        x, dy = channel_data(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
        step(torch, ours, theirs, x, dy, dtype, f"training={mode}")
    assert ours.running_mean is None and ours.num_batches_tracked is None
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"track_running_stats": False},
                                    {"affine": False, "track_running_stats": False}])
def test_state_dict_keys_equal_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.BatchNorm1d(4, **kwargs), nn.ReLU(), nn.BatchNorm2d(3, **kwargs))
    theirs = torch.nn.Sequential(torch.nn.BatchNorm1d(4, **kwargs), torch.nn.ReLU(),
                                 torch.nn.BatchNorm2d(3, **kwargs))
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(their_state)
    for key, value in their_state.items():
        assert ours_state[key].shape == tuple(value.shape), key
        assert ours_state[key].dtype == to_numpy(value).dtype, key


def test_load_torch_state_then_eval_matches():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    theirs = torch.nn.BatchNorm2d(3)
    for _ in range(3):
        theirs(torch.from_numpy(channel_data(rng, (4, 3, 5, 5), np.float32)))
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 2, generator=torch.Generator().manual_seed(0))
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict({k: to_numpy(v) for k, v in theirs.state_dict().items()})
    assert ours.num_batches_tracked.dtype == np.int64 and int(ours.num_batches_tracked) == 3
    ours.eval()
    theirs.eval()
    x = channel_data(rng, (2, 3, 4, 4), np.float32)
    assert_matches(ours(x), to_numpy(theirs(torch.from_numpy(x))), np.float32, "eval output")


# -- running statistics and modes, without torch ------------------------------------------
def test_momentum_none_gives_the_plain_average_of_batch_statistics():
    rng = np.random.default_rng(12)
    layer = nn.BatchNorm1d(3, momentum=None).to(np.float64)
    batches = [channel_data(rng, (5, 3, 4)) for _ in range(4)]
    for x in batches:
        layer(x)
    means = [x.mean(axis=(0, 2)) for x in batches]
    variances = [x.var(axis=(0, 2), ddof=1) for x in batches]             # unbiased
    np.testing.assert_allclose(layer.running_mean, np.mean(means, axis=0), rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, np.mean(variances, axis=0), rtol=1e-13)
    assert layer.num_batches_tracked.dtype == np.int64 and int(layer.num_batches_tracked) == 4


def test_running_statistics_update_rule_and_eval_uses_them():
    rng = np.random.default_rng(13)
    layer = nn.BatchNorm2d(2, momentum=0.25).to(np.float64)
    x = channel_data(rng, (3, 2, 4, 4))
    y = layer(x)
    np.testing.assert_allclose(layer.running_mean, 0.25 * x.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, 0.75 + 0.25 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-13)
    # training mode normalises with the biased batch variance
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1 / (1 + 1e-5 / x.var(axis=(0, 2, 3))), rtol=1e-12)
    layer.eval()
    before = (layer.running_mean.copy(), layer.running_var.copy())
    y_eval = layer(x)
    expect = (x - before[0][None, :, None, None]) / np.sqrt(before[1][None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, expect, rtol=1e-13)
    np.testing.assert_array_equal(layer.running_mean, before[0])
    assert int(layer.num_batches_tracked) == 1
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy / np.sqrt(before[1][None, :, None, None] + 1e-5),
                               rtol=1e-13)


def test_float32_is_kept_and_to_float64_converts_buffers():
    rng = np.random.default_rng(14)
    layer = nn.BatchNorm2d(3)
    x = channel_data(rng, (2, 3, 4, 4), np.float32)
    y = layer(x)
    dx = layer.backward(rng.standard_normal(x.shape).astype(np.float32))
    assert y.dtype == dx.dtype == np.float32
    assert layer.weight.grad.dtype == layer.running_var.dtype == np.float32
    layer.to(np.float64)
    assert layer.running_mean.dtype == layer.running_var.dtype == layer.weight.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64
    assert layer(x.astype(np.float64)).dtype == np.float64


def test_functional_keeps_float32_with_numpy_scalar_arguments():
    rng = np.random.default_rng(16)
    x = channel_data(rng, (4, 3), np.float32)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, cache = F.batch_norm_forward(x, mean, var, training=True, momentum=np.float64(0.2), eps=np.float64(1e-3))
    assert y.dtype == mean.dtype == var.dtype == np.float32
    assert F.batch_norm_backward(np.ones_like(y), cache)[0].dtype == np.float32


def test_gradients_accumulate_and_zero_grad_resets():
    rng = np.random.default_rng(15)
    layer = float64_layer(nn.BatchNorm1d, 3, rng)
    x, dy = channel_data(rng, (4, 3)), rng.standard_normal((4, 3))
    layer(x)
    layer.backward(dy)
    once = (layer.weight.grad.copy(), layer.bias.grad.copy())
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * once[0], rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, 2 * once[1], rtol=1e-14)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


# -- description and errors ----------------------------------------------------------------
def test_repr_config_output_shape():
    layer = nn.BatchNorm2d(16)
    assert repr(layer) == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    other = nn.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False, track_running_stats=False)
    assert repr(other) == "BatchNorm1d(4, eps=0.001, momentum=None, affine=False, track_running_stats=False)"
    assert repr(type(other)(**other.config())) == repr(other)
    assert other.config() == {"num_features": 4, "eps": 0.001, "momentum": None, "affine": False,
                              "track_running_stats": False}
    assert layer.output_shape((None, 16, 8, 8)) == (None, 16, 8, 8)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in layer.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert other.parameters() == [] and list(other.named_buffers()) == []


def test_one_value_per_channel_in_training_is_an_error():
    layer = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"^BatchNorm1d\(3, .*\): expected more than 1 value per channel"
                                         r" when training, got input of shape \(1, 3\)"):
        layer(np.zeros((1, 3), np.float32))
    assert int(layer.num_batches_tracked) == 0                       # a failed call changes nothing
    np.testing.assert_array_equal(layer.running_mean, 0)
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got input of shape \(1, 2, 1, 1\)"):
        nn.BatchNorm2d(2)(np.zeros((1, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        nn.BatchNorm1d(3, track_running_stats=False).eval()(np.zeros((1, 3), np.float32))
    layer.eval()
    assert layer(np.ones((1, 3), np.float32)).shape == (1, 3)       # eval uses the running statistics
    assert nn.BatchNorm1d(3)(np.ones((1, 3, 2), np.float32)).shape == (1, 3, 2)


def test_input_errors_name_the_layer():
    prefix = r"^BatchNorm2d\(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True\): "
    with pytest.raises(ValueError, match=prefix + r"expected input \(N, 4, H, W\), got \(2, 3, 5, 5\)$"):
        nn.BatchNorm2d(4)(np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=prefix + r"expected input \(N, 4, H, W\), got \(2, 4, 5\)$"):
        nn.BatchNorm2d(4)(np.zeros((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match=r"^BatchNorm1d\(4, .*\): expected input \(N, 4\) or \(N, 4, L\), got \(2, 4, 3, 3\)$"):
        nn.BatchNorm1d(4)(np.zeros((2, 4, 3, 3), np.float32))
    with pytest.raises(TypeError, match=r"^BatchNorm1d\(4, .*\): input dtype float64 does not match the parameters' dtype float32"):
        nn.BatchNorm1d(4)(np.zeros((2, 4)))
    with pytest.raises(TypeError, match=r"^BatchNorm1d\(4, .*\): expected a floating-point array .*got dtype int64"):
        nn.BatchNorm1d(4)(np.zeros((2, 4), np.int64))
    with pytest.raises(RuntimeError, match=r"^BatchNorm2d\.backward\(\) called before forward\(\)"):
        nn.BatchNorm2d(4).backward(np.zeros((2, 4, 3, 3), np.float32))


def test_constructor_and_functional_errors():
    with pytest.raises(ValueError, match=r"^BatchNorm2d: num_features must be > 0, got 0"):
        nn.BatchNorm2d(0)
    with pytest.raises(TypeError, match=r"^BatchNorm1d: num_features must be an int, got 3.0"):
        nn.BatchNorm1d(3.0)
    with pytest.raises(ValueError, match=r"^BatchNorm2d: momentum must be in \[0, 1\], got 1.5"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"^BatchNorm2d: eps must be >= 0, got -1.0"):
        nn.BatchNorm2d(3, eps=-1)
    with pytest.raises(ValueError, match=r"^batch_norm: expected weight of shape \(3,\) for input \(2, 3\), got \(4,\)"):
        F.batch_norm_forward(np.zeros((2, 3)), None, None, np.ones(4), training=True)
    with pytest.raises(ValueError, match=r"^batch_norm: running_mean and running_var are needed when training=False"):
        F.batch_norm_forward(np.zeros((2, 3)), None, None)
    with pytest.raises(ValueError, match=r"^batch_norm: expected input \(N, C, \*\) with at least 2 dimensions, got \(5,\)"):
        F.batch_norm_forward(np.zeros(5), None, None, training=True)
