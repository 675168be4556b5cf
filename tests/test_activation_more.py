"""ReLU6, Hardtanh, Hardsigmoid, Hardswish, PReLU, SiLU, Mish, SELU, CELU, Softplus, LogSigmoid and
Softsign: gradient checks, PyTorch parity (kinks included), stability, layer behaviour, errors."""
import numpy as np
import pytest

from conftest import assert_matches, to_numpy, torch_parity
from convnp import functional as F
from convnp import gradcheck, nn

# name -> (our layer, torch layer's constructor name and arguments)
CASES = {
    "relu6": (lambda: nn.ReLU6(), ("ReLU6",)),
    "hardtanh": (lambda: nn.Hardtanh(), ("Hardtanh",)),
    "hardtanh_-2_0.5": (lambda: nn.Hardtanh(-2.0, 0.5), ("Hardtanh", -2.0, 0.5)),
    "hardsigmoid": (lambda: nn.Hardsigmoid(), ("Hardsigmoid",)),
    "hardswish": (lambda: nn.Hardswish(), ("Hardswish",)),
    "silu": (lambda: nn.SiLU(), ("SiLU",)),
    "mish": (lambda: nn.Mish(), ("Mish",)),
    "selu": (lambda: nn.SELU(), ("SELU",)),
    "celu": (lambda: nn.CELU(), ("CELU",)),
    # an alpha exact in float32: PyTorch's float64 CELU backward uses 1 / float32(alpha)
    "celu_0.375": (lambda: nn.CELU(alpha=0.375), ("CELU", 0.375)),
    "softplus": (lambda: nn.Softplus(), ("Softplus",)),
    "softplus_2_5": (lambda: nn.Softplus(beta=2.0, threshold=5.0), ("Softplus", 2.0, 5.0)),
    "softplus_-0.5": (lambda: nn.Softplus(beta=-0.5), ("Softplus", -0.5)),
    "logsigmoid": (lambda: nn.LogSigmoid(), ("LogSigmoid",)),
    "softsign": (lambda: nn.Softsign(), ("Softsign",)),
}
# every kink of the piecewise ones, and the thresholds of Softplus
KINKS = np.array([0.0, -1.0, 1.0, -2.0, 0.5, -3.0, 3.0, 6.0, 20.0, 2.5, -10.0])


def torch_layer(torch, name):
    cls, *args = CASES[name][1]
    return getattr(torch.nn, cls)(*args)


def away_from_kinks(rng, shape):
    """Values at least 0.05 from every kink (central differences need a smooth neighbourhood)."""
    x = rng.uniform(-7, 7, shape)
    close = np.abs(x[..., None] - KINKS).min(axis=-1) < 0.05
    return np.where(close, x + 0.1, x)


def torch_reference(torch, name, x, dy):
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_layer(torch, name)(tx)
    ty.backward(torch.from_numpy(dy))
    dx = to_numpy(tx.grad)
    if name == "hardsigmoid" and x.dtype == np.float64:
        # PyTorch's float64 kernel multiplies by the float32 constant 1/6 (0.1666666716...): undo it
        dx = dx * ((1 / 6) / float(np.float32(1 / 6)))
    return to_numpy(ty), dx


# -- gradient checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    rng = np.random.default_rng(list(CASES).index(name))
    gradcheck.check_layer(CASES[name][0](), away_from_kinks(rng, (2, 3, 4)), rng=rng)


@pytest.mark.parametrize("num_parameters, shape", [(1, (5,)), (1, (2, 3, 4)), (3, (2, 3)), (3, (2, 3, 2, 2))])
def test_gradcheck_prelu_input_and_weight(num_parameters, shape):
    rng = np.random.default_rng(num_parameters + len(shape))
    layer = nn.PReLU(num_parameters, init=0.3).to(np.float64)
    layer.weight.data[:] = rng.uniform(-0.5, 0.5, num_parameters)
    gradcheck.check_layer(layer, away_from_kinks(rng, shape), rng=rng)


# -- PyTorch parity ------------------------------------------------------------------------------
def random_input(rng, dtype):
    shape = tuple(int(s) for s in rng.integers(1, 6, int(rng.integers(1, 5))))
    x = rng.standard_normal(shape) * rng.choice([0.5, 3.0, 10.0])
    x.flat[rng.integers(0, x.size, max(1, x.size // 3))] = rng.choice(KINKS, max(1, x.size // 3))
    return x.astype(dtype)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(4))
def test_matches_torch(torch, name, dtype, seed):
    rng = np.random.default_rng(seed)
    x = random_input(rng, dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    layer = CASES[name][0]()
    y = layer(x)
    dx = layer.backward(dy)
    ty, tdx = torch_reference(torch, name, x, dy)
    assert y.dtype == dtype and dx.dtype == dtype
    assert_matches(y, ty, dtype, f"{name} forward")
    assert_matches(dx, tdx, dtype, f"{name} backward")


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_kink_and_extreme_input_matches_torch(torch, name, dtype):
    x = np.concatenate([KINKS, -KINKS, [-1e4, -1000.0, -88.0, -30.0, 30.0, 88.0, 1000.0, 1e4]]).astype(dtype)
    dy = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    layer = CASES[name][0]()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layer(x)
        dx = layer.backward(dy)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    ty, tdx = torch_reference(torch, name, x, dy)
    assert_matches(y, ty, dtype, f"{name} forward")
    assert_matches(dx, tdx, dtype, f"{name} backward")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("num_parameters, shape", [(1, (7,)), (1, (2, 3, 4)), (4, (3, 4)), (4, (2, 4, 3, 5))])
def test_prelu_matches_torch(torch, dtype, num_parameters, shape):
    rng = np.random.default_rng(num_parameters * 10 + len(shape))
    layer = nn.PReLU(num_parameters).to(dtype)
    layer.weight.data[:] = rng.uniform(-0.5, 1.5, num_parameters)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::3] = 0.0                                      # the kink: slope weight at 0
    torch_parity(layer, torch.nn.PReLU(num_parameters), x, dtype=dtype)


def test_derivatives_at_the_kinks():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
    expected = {"relu6": [0, 0, 0, 1, 1, 0], "hardtanh": [0, 0, 1, 0, 0, 0], "hardswish": [0, 1 / 6, 0.5, 5 / 6, 1, 1],
                "hardsigmoid": [0, 1 / 6, 1 / 6, 1 / 6, 0, 0], "selu": [None, None, 1.0507009873554805 * 1.6732632423543772,
                                                                         1.0507009873554805, None, None],
                "celu": [None, None, 1, 1, 1, 1], "softsign": [1 / 16, 1 / 4, 1, 1 / 4, 1 / 16, 1 / 49]}
    for name, want in expected.items():
        layer = CASES[name][0]()
        layer(x)
        got = layer.backward(np.ones_like(x))
        for g, w in zip(got, want):
            if w is not None:
                assert g == pytest.approx(w, rel=1e-15), name
    prelu = nn.PReLU(init=0.375).to(np.float64)
    prelu(np.zeros(3))
    np.testing.assert_array_equal(prelu.backward(np.ones(3)), np.full(3, 0.375))
    celu = nn.CELU(alpha=0.4)                              # any alpha, exact derivative (gradcheck covers it)
    celu(np.array([-1.0, 0.0]))
    np.testing.assert_allclose(celu.backward(np.ones(2)), [np.exp(-1 / 0.4), 1.0], rtol=1e-15)


# -- layer behaviour -----------------------------------------------------------------------------
REPRS = [(nn.ReLU6(), "ReLU6()"), (nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)"),
         (nn.Hardsigmoid(), "Hardsigmoid()"), (nn.Hardswish(), "Hardswish()"), (nn.SiLU(), "SiLU()"),
         (nn.Mish(), "Mish()"), (nn.SELU(), "SELU()"), (nn.CELU(0.5), "CELU(alpha=0.5)"),
         (nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"), (nn.LogSigmoid(), "LogSigmoid()"),
         (nn.Softsign(), "Softsign()"), (nn.PReLU(3), "PReLU(num_parameters=3, init=0.25)")]


@pytest.mark.parametrize("layer, text", REPRS, ids=[t for _, t in REPRS])
def test_repr_config_and_output_shape(layer, text):
    assert repr(layer) == text
    assert repr(type(layer)(**layer.config())) == text
    assert layer.output_shape((None, 3, 4)) == (None, 3, 4)
    assert layer(np.zeros((2, 3, 4), np.float32)).shape == (2, 3, 4)


def test_prelu_parameters_accumulate_and_freeze():
    layer = nn.PReLU(2)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.data.dtype == np.float32 and np.all(layer.weight.data == 0.25)
    x = -np.ones((1, 2, 3), np.float32)
    layer(x)
    layer.backward(np.ones_like(x))
    layer(x)
    layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(layer.weight.grad, [-6.0, -6.0])
    layer.zero_grad()
    layer.requires_grad_(False)
    layer(x)
    layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(layer.weight.grad, [0.0, 0.0])


def test_functional_keeps_float32_with_numpy_scalar_arguments():
    x = np.linspace(-4, 4, 9, dtype=np.float32)
    for y, _ in (F.hardtanh_forward(x, np.float64(-0.5), np.float64(2.0)), F.celu_forward(x, np.float64(0.7)),
                 F.softplus_forward(x, np.float64(2.0), np.float64(3.0))):
        assert y.dtype == np.float32


@pytest.mark.parametrize("name", list(CASES))
def test_backward_before_forward_is_an_error(name):
    with pytest.raises(RuntimeError, match=r"\.backward\(\) called before forward\(\)"):
        CASES[name][0]().backward(np.ones(3))


def test_errors_name_the_layer_and_the_problem():
    with pytest.raises(ValueError, match=r"^Hardtanh: max_val must be greater than min_val, got min_val=1.0, max_val=1.0$"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(ValueError, match=r"^CELU: alpha must not be 0, got 0.0$"):
        nn.CELU(0.0)
    with pytest.raises(ValueError, match=r"^Softplus: beta must not be 0, got 0.0$"):
        nn.Softplus(beta=0)
    with pytest.raises(TypeError, match=r"^Softplus: threshold must be a number, got '20'$"):
        nn.Softplus(threshold="20")
    with pytest.raises(ValueError, match=r"^PReLU: num_parameters must be > 0, got 0$"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match=r"^PReLU\(num_parameters=3, init=0.25\): expected input \(N, 3, \*\) with"
                                         r" one channel per parameter, got \(2, 4\)$"):
        nn.PReLU(3)(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match=r"^PReLU\(num_parameters=1, init=0.25\): input dtype float64 does not match"):
        nn.PReLU()(np.zeros(3))
    with pytest.raises(TypeError, match=r"^SiLU\(\): expected a floating-point array .*got dtype int64"):
        nn.SiLU()(np.arange(3))
    with pytest.raises(ValueError, match=r"^prelu: expected weight of shape \(1,\) or \(C,\) with C = input.shape\[1\],"
                                         r" got weight \(2,\) for input \(3,\)$"):
        F.prelu_forward(np.zeros(3), np.ones(2))
