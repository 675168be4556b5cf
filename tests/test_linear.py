"""Linear, Flatten and Identity, and the functional linear op."""
import math

import numpy as np
import pytest
from conftest import assert_matches, to_numpy

from convnp import functional as F
from convnp import nn
from convnp.gradcheck import check_function, check_layer

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)

DTYPES = [np.float64, np.float32]


# -- Linear ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(bias):
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 4, bias=bias, rng=1).to(np.float64)
    errors = check_layer(layer, rng.standard_normal((3, 5)), rng=rng)
    assert set(errors) == ({"input", "weight", "bias"} if bias else {"input", "weight"})


def test_linear_function_gradcheck():
    rng = np.random.default_rng(2)
    inputs = [rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)]
    errors = check_function(F.linear_forward, F.linear_backward, inputs, rng=rng)
    assert set(errors) == {"input 0", "input 1", "input 2"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_linear_matches_torch(seed, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n, d_in, d_out = int(rng.choice([1, 2, 7, 32])), int(rng.integers(1, 40)), int(rng.integers(1, 20))
    bias = bool(seed % 3)
    layer = nn.Linear(d_in, d_out, bias=bias, rng=seed).to(dtype)
    ref = torch.nn.Linear(d_in, d_out, bias=bias).to(torch.float64 if dtype == np.float64 else torch.float32)
    ref.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    x = rng.standard_normal((n, d_in)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    y = layer(x)
    yt = ref(xt)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    yt.backward(torch.tensor(dy))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == dtype
    assert_matches(y, to_numpy(yt), dtype, "forward")
    assert_matches(dx, to_numpy(xt.grad), dtype, "dx")
    assert_matches(layer.weight.grad, to_numpy(ref.weight.grad), dtype, "dW")
    if bias:
        assert_matches(layer.bias.grad, to_numpy(ref.bias.grad), dtype, "db")


def test_linear_init_like_torch():
    layer = nn.Linear(50, 30, rng=0)
    bound = 1 / math.sqrt(50)
    assert layer.weight.shape == (30, 50) and layer.bias.shape == (30,)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    # U(-b, b): extremes near the bounds, mean near 0, variance b^2 / 3 (1500 samples)
    w = layer.weight.data
    assert w.max() > 0.95 * bound and w.min() < -0.95 * bound
    assert abs(w.mean()) < 0.1 * bound
    assert abs(w.var() / (bound**2 / 3) - 1) < 0.1


def test_linear_rng_reproducible():
    a, b, c = nn.Linear(8, 4, rng=3), nn.Linear(8, 4, rng=3), nn.Linear(8, 4, rng=4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    g = np.random.default_rng(5)
    d, e = nn.Linear(8, 4, rng=g), nn.Linear(8, 4, rng=g)       # one Generator: different weights
    assert not np.array_equal(d.weight.data, e.weight.data)


def test_linear_gradients_accumulate_and_zero_grad_resets():
    rng = np.random.default_rng(6)
    layer = nn.Linear(4, 3, rng=0).to(np.float64)
    x, dy = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    layer(x)
    layer.backward(dy)
    once = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer(x)
    layer.backward(dy)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-14)
    layer.zero_grad()
    for p in layer.parameters():
        assert not p.grad.any()
    np.testing.assert_allclose(layer.weight.grad + once["weight"], dy.T @ x, rtol=1e-14)


def test_linear_backward_without_input_gradient():
    layer = nn.Linear(4, 3, rng=0)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    layer(x)
    assert layer.backward(dy).shape == (5, 4)
    grads = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer(x)
    assert layer.backward(dy, input_grad=False) is None
    for p, g in zip(layer.parameters(), grads):
        np.testing.assert_array_equal(p.grad, g)
    dx, dw, db = F.linear_backward(dy, F.linear_forward(x, layer.weight.data, layer.bias.data)[1], input_grad=False)
    assert dx is None and dw.shape == (3, 4) and db.shape == (3,)


def test_linear_state_dict_and_parameters():
    layer = nn.Linear(3, 2)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.num_parameters() == 8
    assert list(nn.Linear(3, 2, bias=False).state_dict()) == ["weight"]


def test_linear_repr_and_config():
    assert repr(nn.Linear(784, 10)) == "Linear(784, 10)"
    assert repr(nn.Linear(3, 4, bias=False)) == "Linear(3, 4, bias=False)"
    layer = nn.Linear(3, 4, bias=False)
    assert layer.config() == {"in_features": 3, "out_features": 4, "bias": False}
    assert repr(nn.Linear(**layer.config())) == repr(layer)


def test_linear_output_shape():
    layer = nn.Linear(6, 2)
    assert layer.output_shape((None, 6)) == (None, 2)
    assert layer.output_shape((5, 6)) == layer(np.zeros((5, 6), np.float32)).shape
    with pytest.raises(ValueError, match=r"Linear\(6, 2\): expected input \(N, 6\), got \(None, 3, 2\)"):
        layer.output_shape((None, 3, 2))


def test_linear_errors():
    layer = nn.Linear(784, 10)
    with pytest.raises(ValueError, match=r"^Linear\(784, 10\): expected input \(N, 784\), got \(32, 1, 28, 28\)$"):
        layer(np.zeros((32, 1, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"Linear\(784, 10\): expected input \(N, 784\), got \(32, 783\)"):
        layer(np.zeros((32, 783), np.float32))
    with pytest.raises(TypeError, match=r"Linear\(784, 10\): input dtype float64 does not match the parameters' dtype float32"):
        layer(np.zeros((2, 784)))
    with pytest.raises(TypeError, match=r"Linear\(784, 10\): expected a floating-point array .* got dtype int64"):
        layer(np.zeros((2, 784), dtype=np.int64))
    with pytest.raises(RuntimeError, match=r"Linear.backward\(\) called before forward\(\)"):
        nn.Linear(2, 2).backward(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"Linear: in_features must be > 0, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match=r"Linear: out_features must be an int, got 2.0"):
        nn.Linear(3, 2.0)
    with pytest.raises(TypeError, match=r"Linear: bias must be a bool, got 'yes'"):
        nn.Linear(3, 2, bias="yes")
    with pytest.raises(ValueError, match=r"linear: expected input \(N, 3\), got \(3,\)"):
        F.linear_forward(np.zeros(3), np.zeros((2, 3)))


# -- Flatten --------------------------------------------------------------------------------
@pytest.mark.parametrize("start, end", [(1, -1), (0, -1), (1, 2), (2, 3), (-3, -2), (0, 0), (3, 3)])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 1), (0, 3, 2, 2)])
def test_flatten_matches_torch(shape, start, end):
    torch = pytest.importorskip("torch")
    layer = nn.Flatten(start, end)
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    y = layer(x)
    expected = torch.nn.Flatten(start, end)(torch.tensor(x))
    np.testing.assert_array_equal(y, to_numpy(expected))
    assert layer.output_shape(shape) == y.shape
    assert layer.output_shape((None, *shape[1:])) == (None, *y.shape[1:])    # a merged None stays None
    dy = np.arange(y.size, dtype=np.float32).reshape(y.shape) * 2
    dx = layer.backward(dy)
    assert dx.shape == shape and dx.dtype == np.float32
    np.testing.assert_array_equal(dx.ravel(), dy.ravel())


def test_flatten_gradcheck():
    rng = np.random.default_rng(7)
    check_layer(nn.Flatten(), rng.standard_normal((2, 3, 2, 2)), rng=rng)
    check_layer(nn.Flatten(0, 2), rng.standard_normal((2, 3, 2, 2)), rng=rng)


def test_flatten_output_shape_with_unknown_batch():
    assert nn.Flatten().output_shape((None, 8, 7, 7)) == (None, 392)
    assert nn.Flatten(0, -1).output_shape((None, 8, 7)) == (None,)
    assert nn.Flatten(2).output_shape((None, 8, 7, 7)) == (None, 8, 49)


def test_flatten_repr_and_errors():
    assert repr(nn.Flatten()) == "Flatten()"
    assert repr(nn.Flatten(0, 2)) == "Flatten(start_dim=0, end_dim=2)"
    with pytest.raises(ValueError, match=r"Flatten\(\): start_dim=1 is out of range for an input of shape \(5,\)"):
        nn.Flatten()(np.zeros(5))
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=2, end_dim=1\): start_dim=2 comes after end_dim=1"):
        nn.Flatten(2, 1)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"end_dim=4 is out of range for an input of shape \(2, 3, 4\)"):
        nn.Flatten(1, 4).output_shape((2, 3, 4))
    with pytest.raises(TypeError, match=r"Flatten: start_dim must be an int, got 1.5"):
        nn.Flatten(1.5)
    with pytest.raises(RuntimeError, match=r"Flatten.backward\(\) called before forward\(\)"):
        nn.Flatten().backward(np.zeros((2, 3)))


# -- Identity -------------------------------------------------------------------------------
def test_identity():
    layer = nn.Identity()
    x = np.random.default_rng(8).standard_normal((2, 3)).astype(np.float32)
    with pytest.raises(RuntimeError, match=r"Identity.backward\(\) called before forward\(\)"):
        layer.backward(x)
    assert layer(x) is x
    assert layer.backward(x) is x
    assert layer.output_shape((None, 3)) == (None, 3)
    assert repr(layer) == "Identity()" and layer.config() == {} and layer.parameters() == []
    check_layer(nn.Identity(), x.astype(np.float64))


def test_mlp_end_to_end_matches_torch():
    """Flatten -> Linear -> Linear chained in a Sequential, forward and backward against torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5, rng=0), nn.Identity(), nn.Linear(5, 3, rng=1)).to(np.float64)
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Identity(),
                              torch.nn.Linear(5, 3)).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    x = rng.standard_normal((4, 3, 2, 2))
    dy = rng.standard_normal((4, 3))
    xt = torch.tensor(x, requires_grad=True)
    ref(xt).backward(torch.tensor(dy))
    assert_matches(model(x), to_numpy(ref(xt)), np.float64, "forward")
    assert_matches(model.backward(dy), to_numpy(xt.grad), np.float64, "dx")
    grads = {name: p.grad for name, p in model.named_parameters()}
    for name, p in ref.named_parameters():
        assert_matches(grads[name], to_numpy(p.grad), np.float64, name)


def test_linear_backward_without_weight_gradient():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    dy = rng.standard_normal((5, 3))
    _, cache = F.linear_forward(x, w, b)
    assert cache.x is x and cache.weight is w and cache.has_bias
    dx, no_dw, no_db = F.linear_backward(dy, cache, weight_grad=False)
    assert no_dw is None and no_db is None
    np.testing.assert_array_equal(dx, F.linear_backward(dy, cache)[0])
    assert F.linear_backward(dy, cache, input_grad=False, weight_grad=False) == (None, None, None)
