"""Activations: erf accuracy, gradient checks, PyTorch parity, stability, layer behaviour, errors."""
import math

import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import functional as F
from convnp import gradcheck, nn
from convnp.functional.activation import erf

pytestmark = pytest.mark.usefixtures("threads")  # every test on 1, 2 and 3 threads (conftest.py)

# name -> (our layer, torch layer's constructor name and arguments); dim is filled in for softmaxes
CASES = {
    "relu": (lambda d: nn.ReLU(), ("ReLU",)),
    "leaky_relu": (lambda d: nn.LeakyReLU(), ("LeakyReLU",)),
    "leaky_relu_0.2": (lambda d: nn.LeakyReLU(0.2), ("LeakyReLU", 0.2)),
    "elu": (lambda d: nn.ELU(), ("ELU",)),
    "elu_0.7": (lambda d: nn.ELU(alpha=0.7), ("ELU", 0.7)),
    "gelu": (lambda d: nn.GELU(), ("GELU",)),
    "gelu_tanh": (lambda d: nn.GELU("tanh"), ("GELU", "tanh")),
    "sigmoid": (lambda d: nn.Sigmoid(), ("Sigmoid",)),
    "tanh": (lambda d: nn.Tanh(), ("Tanh",)),
    "softmax": (lambda d: nn.Softmax(d), ("Softmax", "dim")),
    "log_softmax": (lambda d: nn.LogSoftmax(d), ("LogSoftmax", "dim")),
}


def torch_layer(torch, name, dim):
    cls, *args = CASES[name][1]
    return getattr(torch.nn, cls)(*[dim if a == "dim" else a for a in args])


def away_from_kinks(rng, shape):
    """Values with |x| in [0.05, 2]: central differences are exact enough away from x = 0."""
    return rng.uniform(0.05, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


# -- erf ------------------------------------------------------------------------------------
def ulps(ours, ref):
    return np.abs(ours - ref) / np.spacing(np.abs(ref))


def test_erf_matches_math_erf_within_a_few_ulps():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        np.linspace(-6, 6, 24001),                       # all three of Cody's intervals
        rng.standard_normal(5000) * 2,
        np.geomspace(1e-300, 1e-3, 200) * rng.choice([-1, 1], 200),   # tiny: erf(x) ~ 2x/sqrt(pi)
        np.linspace(4, 30, 2001), -np.linspace(4, 30, 2001),           # tails
        [0.46875, np.nextafter(0.46875, 1), 4.0, np.nextafter(4.0, 5), -4.0, 5.9, 26.5, 27.0],
    ])
    ref = np.array([math.erf(v) for v in x])
    err = ulps(erf(x), ref)
    assert err.max() <= 4, f"max error {err.max()} ulps at x = {x[err.argmax()]!r}"
    assert err.mean() < 0.3


def test_erf_special_values_and_symmetry():
    got = erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-320, 40.0, -40.0]))
    assert got[0] == 0 and not np.signbit(got[0])
    assert got[1] == 0 and np.signbit(got[1])
    assert got[2] == 1 and got[3] == -1
    assert np.isnan(got[4])
    assert got[5] == pytest.approx(2 / math.sqrt(math.pi) * 1e-320, rel=1e-3)
    assert got[6] == 1 and got[7] == -1
    x = np.random.default_rng(1).uniform(0, 8, 1000)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    assert erf(np.zeros((2, 0, 3))).shape == (2, 0, 3)


def test_erf_float32_keeps_dtype_and_float32_accuracy():
    x = np.linspace(-5, 5, 10001).astype(np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    ref = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert np.max(np.abs(got - ref)) < 4 * np.finfo(np.float32).eps


def test_erf_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal(20000) * 3
    ref = torch.special.erf(torch.from_numpy(x)).numpy()
    assert ulps(erf(x), ref).max() <= 4


# -- gradient checks -----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("shape, dim", [((3, 5), 1), ((2, 3, 4), -1), ((2, 2, 3, 3), 0)])
def test_gradcheck(name, shape, dim):
    rng = np.random.default_rng(list(CASES).index(name) * 10 + len(shape))
    layer = CASES[name][0](dim)
    gradcheck.check_layer(layer, away_from_kinks(rng, shape), rng=rng)


@pytest.mark.parametrize("forward, backward, args", [
    (F.gelu_forward, F.gelu_backward, ("none",)),
    (F.gelu_forward, F.gelu_backward, ("tanh",)),
    (F.softmax_forward, F.softmax_backward, (0,)),
    (F.log_softmax_forward, F.log_softmax_backward, (-1,)),
    (F.elu_forward, F.elu_backward, (1.3,)),
])
def test_gradcheck_functional(forward, backward, args):
    rng = np.random.default_rng(3)
    x = away_from_kinks(rng, (4, 6))
    gradcheck.check_function(lambda a: forward(a, *args), backward, [x], rng=rng)


def test_derivatives_at_zero():
    x = np.zeros((2, 3))
    expected = {"relu": 0.0, "leaky_relu": 0.01, "leaky_relu_0.2": 0.2, "elu": 1.0, "elu_0.7": 0.7,
                "gelu": 0.5, "gelu_tanh": 0.5, "sigmoid": 0.25, "tanh": 1.0}
    for name, slope in expected.items():
        layer = CASES[name][0](1)
        layer(x)
        np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.full_like(x, slope), err_msg=name)


# -- PyTorch parity ------------------------------------------------------------------------
def random_input(rng, dtype):
    ndim = int(rng.integers(1, 5))
    shape = tuple(int(s) for s in rng.integers(1, 6, ndim))
    scale = rng.choice([0.1, 1.0, 5.0, 30.0])
    x = rng.standard_normal(shape) * scale
    x.flat[rng.integers(0, x.size, max(1, x.size // 5))] = 0.0   # exact zeros: the kinks
    return x.astype(dtype)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_matches_torch(name, dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = random_input(rng, dtype)
    dim = int(rng.integers(-x.ndim, x.ndim))
    dy = rng.standard_normal(x.shape).astype(dtype)
    layer, tlayer = CASES[name][0](dim), torch_layer(torch, name, dim)
    y = layer(x)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    ty.backward(torch.from_numpy(dy))
    assert y.dtype == dtype and dx.dtype == dtype
    assert_matches(y, to_numpy(ty), dtype, f"{name} forward")
    assert_matches(dx, to_numpy(tx.grad), dtype, f"{name} backward")


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_inputs_are_stable_and_match_torch(name, dtype):
    torch = pytest.importorskip("torch")
    x = np.array([[-1e4, -1000.0, -88.0, -30.0, -1.0, 0.0, 1.0, 30.0, 88.0, 1000.0, 1e4],
                  [5.0, 1e4, -1e4, 3.0, 2.0, 1.0, 0.5, 0.0, -0.5, -2.0, -3.0]], dtype=dtype)
    dy = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    layer = CASES[name][0](1)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layer(x)
        dx = layer.backward(dy)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_layer(torch, name, 1)(tx)
    ty.backward(torch.from_numpy(dy))
    assert_matches(y, to_numpy(ty), dtype, f"{name} forward")
    assert_matches(dx, to_numpy(tx.grad), dtype, f"{name} backward")


def test_numpy_scalar_arguments_keep_float32():
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    assert F.leaky_relu_forward(x, np.float64(0.2))[0].dtype == np.float32
    y, cache = F.elu_forward(x, np.float64(0.5))
    assert y.dtype == F.elu_backward(np.ones_like(x), cache).dtype == np.float32


def test_sigmoid_saturates_exactly_and_softmax_rows_sum_to_one():
    y, _ = F.sigmoid_forward(np.array([-800.0, 800.0]))
    assert y[0] == 0.0 and y[1] == 1.0
    x = np.random.default_rng(5).standard_normal((4, 7)) * 500
    p, _ = F.softmax_forward(x, dim=1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    lp, _ = F.log_softmax_forward(x, dim=1)
    np.testing.assert_allclose(np.exp(lp), p, rtol=1e-12, atol=1e-300)


# -- layer behaviour -----------------------------------------------------------------------
REPRS = [
    (nn.ReLU(), "ReLU()"),
    (nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
    (nn.LeakyReLU(negative_slope=0.2), "LeakyReLU(negative_slope=0.2)"),
    (nn.ELU(), "ELU(alpha=1.0)"),
    (nn.GELU(), "GELU(approximate='none')"),
    (nn.GELU(approximate="tanh"), "GELU(approximate='tanh')"),
    (nn.Sigmoid(), "Sigmoid()"),
    (nn.Tanh(), "Tanh()"),
    (nn.Softmax(), "Softmax(dim=1)"),
    (nn.LogSoftmax(dim=-1), "LogSoftmax(dim=-1)"),
]


@pytest.mark.parametrize("layer, text", REPRS, ids=[t for _, t in REPRS])
def test_repr_config_and_output_shape(layer, text):
    assert repr(layer) == text
    assert repr(type(layer)(**layer.config())) == text
    assert layer.output_shape((None, 3, 4)) == (None, 3, 4)
    assert layer(np.zeros((2, 3, 4), np.float32)).shape == (2, 3, 4)
    assert layer.parameters() == []


def test_repr_equals_torch():
    torch = pytest.importorskip("torch")
    ours = [repr(m) for m, _ in REPRS]
    theirs = [repr(torch.nn.ReLU()), repr(torch.nn.LeakyReLU()), repr(torch.nn.LeakyReLU(0.2)),
              repr(torch.nn.ELU()), repr(torch.nn.GELU()), repr(torch.nn.GELU("tanh")),
              repr(torch.nn.Sigmoid()), repr(torch.nn.Tanh()), repr(torch.nn.Softmax(1)),
              repr(torch.nn.LogSoftmax(-1))]
    assert ours == theirs


@pytest.mark.parametrize("name", list(CASES))
def test_backward_before_forward_is_an_error(name):
    layer = CASES[name][0](1)
    with pytest.raises(RuntimeError, match=r"\.backward\(\) called before forward\(\)"):
        layer.backward(np.ones((2, 3)))


def test_errors_name_the_layer_and_the_problem():
    with pytest.raises(TypeError, match=r"^ReLU\(\): expected a floating-point array .*got dtype int64"):
        nn.ReLU()(np.arange(6).reshape(2, 3))
    with pytest.raises(TypeError, match=r"^Sigmoid\(\): expected an array, got list"):
        nn.Sigmoid()([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^Softmax\(dim=2\): dim 2 is out of range for an input of shape \(4, 5\)"):
        nn.Softmax(dim=2)(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"^LogSoftmax\(dim=-3\): dim -3 is out of range"):
        nn.LogSoftmax(dim=-3)(np.zeros((4, 5)))
    with pytest.raises(TypeError, match=r"^Softmax: dim must be an int, got 1.5"):
        nn.Softmax(dim=1.5)
    with pytest.raises(ValueError, match=r"^GELU: approximate must be 'none' or 'tanh', got 'fast'"):
        nn.GELU(approximate="fast")
    with pytest.raises(ValueError, match=r"^gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu_forward(np.zeros(3), approximate="erf")
    with pytest.raises(TypeError, match=r"^LeakyReLU: negative_slope must be a number, got '0.1'"):
        nn.LeakyReLU("0.1")
    with pytest.raises(ValueError, match=r"^ELU: alpha must be finite, got nan"):
        nn.ELU(alpha=float("nan"))
