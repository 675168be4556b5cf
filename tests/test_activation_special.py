"""inf, NaN, -0.0, subnormal and huge inputs (and upstream gradients) through the activations that
choose between two branches without np.where (elementwise.select, the sigmoid's max(e, x >= 0),
LeakyReLU's max(x, a x) and slope lookup):
the values of the docstring's formula written with np.where, bit for bit. Same computation, one
choice made another way, so the bits must agree; a NaN equals any NaN."""
import numpy as np
import pytest

from convnp import functional as F
from convnp.functional.activation_smooth import SELU_ALPHA, SELU_SCALE

DTYPES = [np.float32, np.float64]


def special_inputs(dtype):
    """x and dy: the special values (x also next to the kinks +-3 and 20), then random values."""
    fi = np.finfo(dtype)
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fi.tiny, -fi.tiny, fi.smallest_subnormal,
                   -fi.smallest_subnormal, 1.0, -1.0, 3.0, -3.0, 20.0, -20.0, 88.0, -88.0, 89.0, -89.0,
                   710.0, -710.0, 1e4, -1e4, fi.max, -fi.max], dtype=dtype)
    x = np.concatenate([sp, np.nextafter(sp[11:15], 0), np.repeat(sp, len(sp)), np.linspace(-5, 5, 41, dtype=dtype)])
    dy = np.concatenate([np.tile(sp, len(sp) + 3)[:x.size - 41], np.linspace(2, -2, 41, dtype=dtype)])
    return x.astype(dtype), dy.astype(dtype)      # every special x meets every special dy


def assert_same(got, want, what):
    assert got.dtype == want.dtype, what
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=what)
    bits = f"u{want.itemsize}"
    np.testing.assert_array_equal(got[~nan].view(bits), want[~nan].view(bits), err_msg=what)


def where_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def where_exp_unit(x, dy, alpha, scale, input_scale):
    z = np.minimum(x, 0) * input_scale
    slope = np.where(x > 0, scale, np.exp(z) * (alpha * scale * input_scale))
    return np.where(x > 0, x * scale, np.expm1(z) * (alpha * scale)), dy * slope


def reference(name, x, dy):
    """(y, dx) of the docstring's formula, with np.where choosing the branch."""
    if name.startswith("elu"):
        a = float(name[3:])
        neg = np.expm1(np.minimum(x, 0)) * a
        return np.where(x > 0, x, neg), np.where(x > 0, dy, dy * (neg + a))
    if name == "sigmoid":
        y = where_sigmoid(x)
        return y, dy * (y * (1 - y))
    if name == "selu":
        return where_exp_unit(x, dy, SELU_ALPHA, SELU_SCALE, 1.0)
    if name.startswith("celu"):
        a = float(name[4:])
        return where_exp_unit(x, dy, a, 1.0, 1.0 / a)
    if name.startswith("softplus"):
        beta, threshold = (float(v) for v in name[8:].split(","))
        bx = x * beta
        soft = np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))
        return np.where(bx > threshold, x, soft / beta), np.where(bx > threshold, dy, dy * where_sigmoid(bx))
    if name == "silu":
        s = where_sigmoid(x)
        return x * s, dy * (s * (1 + x * (1 - s)))
    if name.startswith("leaky"):
        a = float(name[5:])
        return np.where(x > 0, x, x * a), np.where(x > 0, dy, dy * a)
    if name == "hardswish":
        return x * np.clip(x + 3, 0, 6) / 6, np.where(x <= -3, 0, np.where(x >= 3, dy, dy * (x / 3 + 0.5)))
    raise KeyError(name)


OPS = {"elu1": lambda x: F.elu_forward(x), "elu0.5": lambda x: F.elu_forward(x, 0.5),
       "elu-1": lambda x: F.elu_forward(x, -1.0), "elu0": lambda x: F.elu_forward(x, 0.0),
       "sigmoid": F.sigmoid_forward, "selu": F.selu_forward, "celu1": lambda x: F.celu_forward(x),
       "celu-0.5": lambda x: F.celu_forward(x, -0.5), "softplus1,20": lambda x: F.softplus_forward(x),
       "softplus-0.5,20": lambda x: F.softplus_forward(x, -0.5), "softplus2,-3": lambda x: F.softplus_forward(x, 2.0, -3.0),
       "silu": F.silu_forward, "hardswish": F.hardswish_forward,
       **{f"leaky{a}": (lambda a: lambda x: F.leaky_relu_forward(x, a))(a) for a in (0.01, 0.2, 0.0, 1.0, 1.5, -0.5)}}
BACKWARD = {"elu": F.elu_backward, "sigmoid": F.sigmoid_backward, "selu": F.selu_backward, "celu": F.celu_backward,
            "softplus": F.softplus_backward, "silu": F.silu_backward, "hardswish": F.hardswish_backward,
            "leaky": F.leaky_relu_backward}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPS))
def test_special_values_give_the_where_formula(name, dtype):
    x, dy = special_inputs(dtype)
    backward = BACKWARD[name.rstrip("-0123456789.,")]
    with np.errstate(all="ignore"):
        y, cache = OPS[name](x)
        dx = backward(dy, cache)
        want_y, want_dx = reference(name, x, dy)
    assert_same(y, want_y, f"{name} forward")
    assert_same(dx, want_dx, f"{name} backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [[0.25], [-0.5, 0.0, 1.5]])
def test_prelu_special_values_give_the_where_formula(dtype, weight):
    x, dy = special_inputs(dtype)
    k = len(weight)
    x, dy = x[:x.size // (2 * k) * 2 * k].reshape(2, k, -1), dy[:dy.size // (2 * k) * 2 * k].reshape(2, k, -1)
    a = np.array(weight, dtype=dtype).reshape(-1 if k == 1 else (1, k, 1))
    axes = (0, 1, 2) if k == 1 else (0, 2)
    with np.errstate(all="ignore"):
        y, cache = F.prelu_forward(x, np.array(weight, dtype=dtype))
        dx, dweight = F.prelu_backward(dy, cache)
        positive = x > 0
        assert_same(y, np.where(positive, x, a * x), "forward")
        assert_same(dx, np.where(positive, dy, a * dy), "dx")
        assert_same(dweight, np.where(positive, 0, x * dy).sum(axis=axes).reshape(-1), "dweight")


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_special_values_give_the_where_formula(dtype):
    x, dy = special_inputs(dtype)
    t = (np.arange(x.size) % 3 / 2).astype(dtype)         # targets 0, 0.5, 1
    with np.errstate(all="ignore"):
        _, cache = F.binary_cross_entropy_with_logits_forward(x, t, reduction="none")
        dx = F.binary_cross_entropy_with_logits_backward(dy, cache)
        assert_same(dx, (where_sigmoid(x) - t) * dy, "dx")
