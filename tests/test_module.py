"""Layer and Parameter basics, containers, state_dict, with small layers defined here."""
import numpy as np
import pytest

from convnp import gradcheck, init
from convnp.nn import Layer, Parameter, Residual, Sequential


class Affine(Layer):
    """y = x * scale + shift, per feature; a buffer counts calls (for state_dict tests)."""

    _buffers = ("calls",)

    def __init__(self, features, rng=None):
        super().__init__()
        self.features = features
        self.scale = Parameter(init.uniform((features,), 1.0, rng, np.float64))
        self.shift = Parameter(np.zeros(features))
        self.calls = np.zeros((), dtype=np.int64)

    def forward(self, x):
        self._cache = x
        self.calls += 1
        return x * self.scale.data + self.shift.data

    def backward(self, dy, input_grad=True):
        x = self.take_cache()
        self.scale.grad += (dy * x).sum(0)
        self.shift.grad += dy.sum(0)
        return dy * self.scale.data

    def config(self):
        return {"features": self.features}


def test_parameters_in_declaration_order():
    model = Sequential(Affine(3, rng=0), Residual(Sequential(Affine(3, rng=1))))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.scale", "0.shift", "1.block.0.scale", "1.block.0.shift"]
    assert model.num_parameters() == 12


def test_state_dict_keys_and_round_trip():
    a = Sequential(Affine(2, rng=0), Affine(2, rng=1))
    b = Sequential(Affine(2, rng=2), Affine(2, rng=3))
    a(np.ones((1, 2)))
    state = a.state_dict()
    assert list(state) == ["0.scale", "0.shift", "0.calls", "1.scale", "1.shift", "1.calls"]
    b.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((4, 2))
    np.testing.assert_array_equal(a(x), b(x))
    state["0.scale"][:] = 99  # a copy: the model is not changed through it
    assert not np.any(a[0].scale.data == 99)


def test_load_state_dict_reports_missing_unexpected_and_shape():
    model = Sequential(Affine(2))
    with pytest.raises(ValueError, match=r"missing keys \['0.calls'\]"):
        model.load_state_dict({"0.scale": np.ones(2), "0.shift": np.ones(2)})
    with pytest.raises(ValueError, match=r"unexpected keys \['0.bogus'\]"):
        model.load_state_dict({**model.state_dict(), "0.bogus": np.ones(1)})
    with pytest.raises(ValueError, match=r"0.scale: expected shape \(2\), got \(3\)"):
        model.load_state_dict({**model.state_dict(), "0.scale": np.ones(3)})
    before = model[0].scale.data.copy()
    with pytest.raises(ValueError):
        model.load_state_dict({**model.state_dict(), "0.scale": np.zeros(2), "0.shift": np.ones(5)})
    np.testing.assert_array_equal(model[0].scale.data, before)


def test_sequential_and_residual_gradients():
    model = Sequential(Affine(3, rng=0), Residual(Sequential(Affine(3, rng=1), Affine(3, rng=2))))
    gradcheck.check_layer(model, np.random.default_rng(1).standard_normal((4, 3)), rng=2)


class _SkippingAffine(Affine):
    """Affine that can skip dx, and records the input_grad flag of each backward call."""

    def __init__(self, features, rng=None):
        super().__init__(features, rng)
        self.flags = []

    def backward(self, dy, input_grad=True):
        self.flags.append(input_grad)
        dx = super().backward(dy)
        return dx if input_grad else None


def _grads(model):
    return [p.grad.copy() for p in model.parameters()]


@pytest.mark.parametrize("first", [_SkippingAffine, Affine])
def test_sequential_backward_without_input_gradient(first):
    # The first layer is told it need not compute dx when it can skip it; either way the
    # parameter gradients are those of a full backward, and None is returned.
    x = np.random.default_rng(0).standard_normal((4, 3))
    dy = np.random.default_rng(1).standard_normal((4, 3))
    model = Sequential(first(3, rng=0), Affine(3, rng=1), Sequential(_SkippingAffine(3, rng=2)))
    model(x)
    assert model.backward(dy) is not None
    full = _grads(model)
    model.zero_grad()
    model(x)
    assert model.backward(dy, input_grad=False) is None
    for got, want in zip(_grads(model), full):
        np.testing.assert_array_equal(got, want)
    if first is _SkippingAffine:
        assert model[0].flags == [True, False]
    assert model[2][0].flags == [True, True]  # not the first layer: always asked for dx


def test_nested_sequential_passes_input_grad_to_its_first_layer():
    inner = Sequential(_SkippingAffine(2, rng=0), Affine(2, rng=1))
    model = Sequential(inner, Affine(2, rng=2))
    model(np.ones((3, 2)))
    assert model.backward(np.ones((3, 2)), input_grad=False) is None
    assert inner[0].flags == [False]
    # a Residual first in the chain passes it on: neither its block nor its shortcut needs dx
    block = Sequential(_SkippingAffine(2, rng=3))
    res = Sequential(Residual(block))
    res(np.ones((3, 2)))
    assert res.backward(np.ones((3, 2)), input_grad=False) is None
    assert block[0].flags == [False]


def test_empty_sequential_backward():
    dy = np.ones((2, 2))
    empty = Sequential()
    empty(np.zeros((2, 2)))
    assert empty.backward(dy) is dy
    empty(np.zeros((2, 2)))
    assert empty.backward(dy, input_grad=False) is None


def test_residual_with_shortcut_gradients():
    model = Residual(Affine(3, rng=0), shortcut=Affine(3, rng=1))
    gradcheck.check_layer(model, np.random.default_rng(1).standard_normal((5, 3)), rng=3)


def test_gradients_accumulate_and_zero_grad_resets():
    layer = Affine(3, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    dy = np.random.default_rng(1).standard_normal((4, 3))
    layer(x)
    layer.backward(dy)
    once = layer.scale.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.scale.grad, 2 * once)
    layer.zero_grad()
    assert not np.any(layer.scale.grad)


def test_backward_before_forward_is_runtime_error():
    with pytest.raises(RuntimeError, match=r"Affine.backward\(\) called before forward\(\)"):
        Affine(2).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="called before forward"):
        Residual(Affine(2)).backward(np.ones((1, 2)))


def test_train_eval_flags_reach_every_layer():
    model = Sequential(Affine(2), Residual(Affine(2)))
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_to_converts_parameters_and_float_buffers_only():
    model = Sequential(Affine(2))
    model.to(np.float32)
    assert model[0].scale.data.dtype == np.float32 and model[0].scale.grad.dtype == np.float32
    assert model[0].calls.dtype == np.int64
    with pytest.raises(TypeError, match="expected a floating dtype, got int32"):
        model.to(np.int32)


def test_repr_and_container_errors():
    model = Sequential(Affine(2), Residual(Affine(2)))
    assert repr(model).splitlines()[1] == "  (0): Affine(2)"
    with pytest.raises(TypeError, match="Sequential: argument 1 is not a Layer, got int"):
        Sequential(Affine(2), 3)
    with pytest.raises(ValueError, match=r"Residual: block output \(2, 3\) and shortcut output \(2, 2\)"):
        Residual(Sequential(Affine(2), _Widen()))(np.ones((2, 2)))


class _Widen(Layer):
    def forward(self, x):
        return np.concatenate([x, x[:, :1]], axis=1)


def test_gradcheck_catches_a_wrong_backward():
    class Broken(Affine):
        def backward(self, dy):
            return super().backward(dy) * 1.01

    with pytest.raises(gradcheck.GradcheckError, match="input"):
        gradcheck.check_layer(Broken(3, rng=0), np.ones((2, 3)), rng=0)


def test_gradcheck_function_and_numerical_gradient():
    # f(a, b) = a * b elementwise; grads (dy * b, dy * a)
    errors = gradcheck.check_function(
        lambda a, b: (a * b, (a, b)), lambda dy, c: (dy * c[1], dy * c[0]),
        [np.arange(3.0), np.ones(3)], rng=0,
    )
    assert set(errors) == {"input 0", "input 1"}
    g = gradcheck.numerical_gradient(lambda: np.sum(x**2), x := np.array([1.0, -2.0]))
    np.testing.assert_allclose(g, [2.0, -4.0], rtol=1e-8)


def test_load_state_dict_refuses_what_is_not_a_dict():
    with pytest.raises(TypeError, match=r"Sequential.load_state_dict: expected a dict of arrays keyed by name"
                                        r" \(as state_dict\(\) gives\), got list"):
        Sequential(Affine(2)).load_state_dict([1, 2])
