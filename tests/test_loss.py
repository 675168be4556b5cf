"""Losses: gradient checks, PyTorch parity (values and gradients), stability, dtypes, errors."""
import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import functional as F
from convnp import gradcheck, nn


def classification_data(rng, n=None, c=None, dtype=np.float64, scale=None):
    n = int(rng.integers(1, 17)) if n is None else n
    c = int(rng.integers(2, 11)) if c is None else c
    scale = float(rng.choice([1.0, 10.0, 100.0])) if scale is None else scale
    logits = (rng.standard_normal((n, c)) * scale).astype(dtype)
    return logits, rng.integers(0, c, n)


# -- gradient checks -----------------------------------------------------------------------
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.5, 1.0])
def test_gradcheck_cross_entropy(label_smoothing):
    rng = np.random.default_rng(0)
    logits, targets = classification_data(rng, 6, 5, scale=2.0)
    gradcheck.check_loss(nn.CrossEntropyLoss(label_smoothing=label_smoothing), logits, targets)


def test_gradcheck_nll_and_mse():
    rng = np.random.default_rng(1)
    log_probs, targets = classification_data(rng, 5, 4, scale=1.0)
    gradcheck.check_loss(nn.NLLLoss(), log_probs, targets)
    pred = rng.standard_normal((3, 2, 4))
    gradcheck.check_loss(nn.MSELoss(), pred, rng.standard_normal((3, 2, 4)))


@pytest.mark.parametrize("forward, backward, make", [
    (F.cross_entropy_forward, F.cross_entropy_backward, lambda rng: rng.integers(0, 5, 4)),
    (F.nll_forward, F.nll_backward, lambda rng: rng.integers(0, 5, 4)),
    (F.mse_forward, F.mse_backward, lambda rng: rng.standard_normal((4, 5))),
])
def test_gradcheck_functional_with_an_upstream_scalar(forward, backward, make):
    """backward(dloss, cache) scales by the upstream gradient (a random scalar here)."""
    rng = np.random.default_rng(2)
    target = make(rng)
    gradcheck.check_function(lambda x: forward(x, target), backward, [rng.standard_normal((4, 5))], rng=rng)


# -- PyTorch parity ------------------------------------------------------------------------
def compare(torch, loss_fn, torch_fn, pred, target, torch_target, dtype, what):
    value = loss_fn(pred, target)
    grad = loss_fn.backward()
    tp = torch.tensor(pred, requires_grad=True)
    tv = torch_fn(tp, torch_target)
    tv.backward()
    assert isinstance(value, float)
    assert grad.dtype == dtype
    assert_matches(np.array(value), to_numpy(tv), dtype, f"{what} value")
    assert_matches(grad, to_numpy(tp.grad), dtype, f"{what} gradient")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(10))
def test_cross_entropy_matches_torch(dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    logits, targets = classification_data(rng, dtype=dtype)
    eps = float(rng.choice([0.0, 0.05, 0.3, 1.0]))
    compare(torch, nn.CrossEntropyLoss(label_smoothing=eps), torch.nn.CrossEntropyLoss(label_smoothing=eps),
            logits, targets, torch.from_numpy(targets), dtype, f"cross-entropy eps={eps}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_nll_matches_torch(dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(50 + seed)
    logits, targets = classification_data(rng, dtype=dtype)
    log_probs = F.log_softmax_forward(logits)[0]
    compare(torch, nn.NLLLoss(), torch.nn.NLLLoss(), log_probs, targets, torch.from_numpy(targets),
            dtype, "nll")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(6))
def test_mse_matches_torch(dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, int(rng.integers(1, 5))))
    pred = (rng.standard_normal(shape) * 3).astype(dtype)
    target = rng.standard_normal(shape).astype(dtype)
    compare(torch, nn.MSELoss(), torch.nn.MSELoss(), pred, target, torch.from_numpy(target), dtype, "mse")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_with_huge_logits_is_stable_and_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    logits = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 5e3], [800.0, 799.0, -800.0]], dtype=dtype)
    targets = np.array([1, 2, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, targets)
    assert np.isfinite(value)
    compare(torch, nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1),
            logits, targets, torch.from_numpy(targets), dtype, "huge logits")


# -- formulas and behaviour, without torch ------------------------------------------------
def test_log_softmax_then_nll_equals_cross_entropy():
    rng = np.random.default_rng(3)
    logits, targets = classification_data(rng, 7, 4)
    ce = nn.CrossEntropyLoss()
    log_softmax, nll = nn.LogSoftmax(dim=1), nn.NLLLoss()
    assert nll(log_softmax(logits), targets) == pytest.approx(ce(logits, targets), rel=1e-14)
    np.testing.assert_allclose(log_softmax.backward(nll.backward()), ce.backward(), rtol=1e-12, atol=1e-15)


def test_label_smoothing_formula():
    rng = np.random.default_rng(4)
    logits, targets = classification_data(rng, 5, 3)
    log_p = F.log_softmax_forward(logits)[0]
    nll = -log_p[np.arange(5), targets].mean()
    uniform = -log_p.mean()                               # -1/N sum_n 1/C sum_c log p
    for eps in (0.0, 0.2, 1.0):
        got = nn.CrossEntropyLoss(label_smoothing=eps)(logits, targets)
        assert got == pytest.approx((1 - eps) * nll + eps * uniform, rel=1e-13)
    grad = nn.CrossEntropyLoss(label_smoothing=0.2)
    grad(logits, targets)
    q = np.full((5, 3), 0.2 / 3)
    q[np.arange(5), targets] += 0.8
    np.testing.assert_allclose(grad.backward(), (np.exp(log_p) - q) / 5, rtol=1e-13, atol=1e-16)


def test_float32_stays_float32_and_values_are_python_floats():
    rng = np.random.default_rng(5)
    logits, targets = classification_data(rng, 4, 3, dtype=np.float32)
    for loss_fn, pred, target in [(nn.CrossEntropyLoss(label_smoothing=0.1), logits, targets),
                                  (nn.NLLLoss(), logits, targets),
                                  (nn.MSELoss(), logits, rng.standard_normal((4, 3)))]:   # float64 target
        value = loss_fn(pred, target)
        assert type(value) is float
        assert loss_fn.backward().dtype == np.float32, type(loss_fn).__name__


def test_backward_uses_the_latest_call_and_mse_value():
    loss_fn = nn.MSELoss()
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert loss_fn(pred, np.zeros((2, 2))) == pytest.approx(7.5)
    assert loss_fn(pred, pred) == 0.0
    np.testing.assert_array_equal(loss_fn.backward(), np.zeros((2, 2)))


def test_repr_config_and_output_shape():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == "CrossEntropyLoss(label_smoothing=0.1)"
    assert repr(nn.NLLLoss()) == "NLLLoss()" and repr(nn.MSELoss()) == "MSELoss()"
    assert nn.CrossEntropyLoss(label_smoothing=0.25).config() == {
        "weight": None, "ignore_index": -100, "reduction": "mean", "label_smoothing": 0.25}
    assert nn.CrossEntropyLoss().output_shape((None, 10)) == ()
    assert isinstance(nn.CrossEntropyLoss(), nn.loss.Loss) and nn.MSELoss().parameters() == []


# -- errors --------------------------------------------------------------------------------
def test_cross_entropy_target_errors():
    loss_fn = nn.CrossEntropyLoss()
    logits = np.zeros((4, 10), np.float32)
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: target labels must be in \[0, 9\]"
                                         r" \(or ignore_index=-100\), got 10$"):
        loss_fn(logits, np.array([0, 10, 3, 2]))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: target labels must be in \[0, 9\] \(or ignore_index=-100\), got -1$"):
        loss_fn(logits, np.array([0, -1, 3, 2]))
    # float targets are class probabilities, which must have the logits' shape
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: expected targets as class indices \(an integer array of"
                                         r" shape \(4,\)\) or class probabilities \(a float array of shape \(4, 10\)\),"
                                         r" got a float64 array of shape \(4,\)$"):
        loss_fn(logits, np.array([0.0, 1.0, 3.0, 2.0]))
    with pytest.raises(TypeError, match=r"^CrossEntropyLoss: targets must be an integer array of class indices, got list"):
        loss_fn(logits, [0, 1, 3, 2])
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: expected targets of shape \(4,\) for input \(4, 10\),"
                                         r" got \(4, 1\)$"):
        loss_fn(logits, np.zeros((4, 1), np.int64))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: expected targets of shape \(4,\) for input \(4, 10\), got \(3,\)"):
        loss_fn(logits, np.zeros(3, np.int64))


def test_prediction_and_argument_errors():
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: expected logits of shape \(N, C\) or \(N, C, d1, ...\),"
                                         r" got \(4,\)$"):
        nn.CrossEntropyLoss()(np.zeros(4), np.zeros(2, np.int64))
    with pytest.raises(TypeError, match=r"^CrossEntropyLoss: expected a floating-point array .*got dtype int64"):
        nn.CrossEntropyLoss()(np.zeros((2, 3), np.int64), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"^NLLLoss: expected log-probabilities of shape \(N, C\) or \(N, C, d1, ...\), got \(5,\)"):
        nn.NLLLoss()(np.zeros(5), np.zeros(5, np.int64))
    with pytest.raises(ValueError, match=r"^NLLLoss: target labels must be in \[0, 2\] \(or ignore_index=-100\), got 3"):
        nn.NLLLoss()(np.zeros((2, 3)), np.array([0, 3]))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"^CrossEntropyLoss: label_smoothing must be in \[0, 1\], got {bad}"):
            nn.CrossEntropyLoss(label_smoothing=bad)
    with pytest.raises(TypeError, match=r"^CrossEntropyLoss: label_smoothing must be a number, got '0.1'"):
        nn.CrossEntropyLoss(label_smoothing="0.1")
    with pytest.raises(ValueError, match=r"^MSELoss: expected target of the prediction's shape \(3, 2\), got \(2, 3\)"):
        nn.MSELoss()(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"^MSELoss: target must be a floating-point array, got int64"):
        nn.MSELoss()(np.zeros((3, 2)), np.zeros((3, 2), np.int64))


@pytest.mark.parametrize("cls", [nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss])
def test_backward_before_a_call_is_an_error(cls):
    with pytest.raises(RuntimeError, match=rf"^{cls.__name__}\.backward\(\) called before forward\(\)"):
        cls().backward()
