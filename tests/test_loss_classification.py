"""CrossEntropyLoss and NLLLoss: every reduction, class weights, ignore_index, per-pixel targets,
probability targets and label smoothing, against PyTorch and central differences."""
import itertools

import numpy as np
import pytest

from conftest import to_numpy
from convnp import functional as F
from convnp import nn
from loss_helpers import compare_with_torch, gradcheck_loss

REDUCTIONS = ("mean", "sum", "none")


def make_case(rng, shape, dtype, targets="index", ignore_index=-100, weighted=False, scale=3.0):
    """Logits of ``shape`` (N, C, *), targets of the requested kind, class weights or None."""
    n, c = shape[:2]
    logits = (rng.standard_normal(shape) * scale).astype(dtype)
    if targets == "index":
        target = rng.integers(0, c, (n,) + shape[2:])
        target[rng.random(target.shape) < 0.25] = ignore_index          # some ignored, never all
        target.reshape(-1)[0] = (ignore_index + 1) % c
    else:
        t = rng.random(shape) ** 3
        target = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
    weight = rng.uniform(0.2, 3.0, c).astype(dtype) if weighted else None
    return logits, target, weight


def torch_weight(torch, weight):
    return None if weight is None else torch.tensor(weight)


# -- PyTorch parity over every combination -----------------------------------------------------
CE_GRID = list(itertools.product(REDUCTIONS, [False, True], [0.0, 0.2], ["index", "probs"],
                                 [(5, 4), (2, 3, 4, 5)]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction, weighted, eps, targets, shape", CE_GRID)
def test_cross_entropy_matches_torch(torch, dtype, reduction, weighted, eps, targets, shape):
    rng = np.random.default_rng(CE_GRID.index((reduction, weighted, eps, targets, shape)))
    ignore_index = int(rng.choice([-100, -1, 2] if targets == "index" else [-100, -1]))  # 2 is a class, ignored
    logits, target, weight = make_case(rng, shape, dtype, targets, ignore_index, weighted)
    ours = nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=eps)
    theirs = torch.nn.CrossEntropyLoss(weight=torch_weight(torch, weight), ignore_index=ignore_index,
                                       reduction=reduction, label_smoothing=eps)
    compare_with_torch(torch, ours, theirs, logits, target, dtype, what=f"ce {reduction} {targets}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(12))
def test_cross_entropy_random_configurations_match_torch(torch, dtype, seed):
    rng = np.random.default_rng(100 + seed)
    ndim = int(rng.integers(2, 5))
    shape = tuple(int(s) for s in rng.integers(1, 5, ndim))
    shape = (shape[0], max(shape[1], 2)) + shape[2:]
    targets = str(rng.choice(["index", "probs"]))
    reduction = str(rng.choice(REDUCTIONS))
    eps = float(rng.choice([0.0, 0.05, 0.5, 1.0]))
    logits, target, weight = make_case(rng, shape, dtype, targets, -100, bool(rng.integers(2)),
                                       scale=float(rng.choice([0.1, 3.0, 30.0])))
    ours = nn.CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=eps)
    theirs = torch.nn.CrossEntropyLoss(weight=torch_weight(torch, weight), reduction=reduction, label_smoothing=eps)
    compare_with_torch(torch, ours, theirs, logits, target, dtype, seed, what=f"ce {shape} {targets}")


NLL_GRID = list(itertools.product(REDUCTIONS, [False, True], [(6, 3), (2, 4, 3, 3)]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction, weighted, shape", NLL_GRID)
def test_nll_matches_torch(torch, dtype, reduction, weighted, shape):
    rng = np.random.default_rng(NLL_GRID.index((reduction, weighted, shape)))
    logits, target, weight = make_case(rng, shape, dtype, "index", -100, weighted)
    log_probs = F.log_softmax_forward(logits)[0]
    ours = nn.NLLLoss(weight=weight, reduction=reduction)
    theirs = torch.nn.NLLLoss(weight=torch_weight(torch, weight), reduction=reduction)
    compare_with_torch(torch, ours, theirs, log_probs, target, dtype, what=f"nll {reduction}")


@pytest.mark.parametrize("cls", ["CrossEntropyLoss", "NLLLoss"])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_target_ignored_gives_nan_and_zero_gradient_as_torch(torch, cls, weighted):
    logits = np.random.default_rng(0).standard_normal((3, 4, 2))
    target = np.full((3, 2), -100)
    weight = np.array([0.5, 1.0, 2.0, 1.5]) if weighted else None
    ours = getattr(nn, cls)(weight=weight)
    value = ours(logits, target)
    grad = ours.backward()
    assert np.isnan(value)
    np.testing.assert_array_equal(grad, np.zeros_like(logits))
    tp = torch.tensor(logits, requires_grad=True)
    tv = getattr(torch.nn, cls)(weight=torch_weight(torch, weight))(tp, torch.tensor(target))
    tv.backward()
    assert np.isnan(to_numpy(tv)) and np.array_equal(to_numpy(tp.grad), grad)


def test_huge_logits_per_pixel_are_stable_and_match_torch(torch):
    logits = np.array([[[1e4, -1e4], [0.0, 800.0]], [[-5e3, 5e3], [799.0, -800.0]]]).reshape(1, 2, 2, 2)
    target = np.array([[[1, 0], [-100, 1]]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target)
    assert np.isfinite(value)
    for dtype in (np.float64, np.float32):
        compare_with_torch(torch, nn.CrossEntropyLoss(label_smoothing=0.1),
                           torch.nn.CrossEntropyLoss(label_smoothing=0.1), logits.astype(dtype), target, dtype)


# -- gradient checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("targets", ["index", "probs"])
def test_gradcheck_cross_entropy(reduction, targets):
    rng = np.random.default_rng(len(reduction) + len(targets))
    logits, target, weight = make_case(rng, (2, 3, 2, 2), np.float64, targets, -100, True, scale=1.0)
    gradcheck_loss(nn.CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=0.15), logits, target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_nll(reduction):
    rng = np.random.default_rng(len(reduction))
    logits, target, weight = make_case(rng, (3, 4, 2), np.float64, "index", 1, True, scale=1.0)
    gradcheck_loss(nn.NLLLoss(weight=weight, ignore_index=1, reduction=reduction), logits, target)


# -- behaviour --------------------------------------------------------------------------------------
def test_weighted_mean_divides_by_the_weights_of_the_targets_kept():
    logits = np.random.default_rng(1).standard_normal((4, 3))
    target = np.array([0, 2, -100, 2])
    w = np.array([1.0, 5.0, 0.5])
    log_p = F.log_softmax_forward(logits)[0]
    expected = -(w[0] * log_p[0, 0] + w[2] * log_p[1, 2] + w[2] * log_p[3, 2]) / (w[0] + 2 * w[2])
    assert nn.CrossEntropyLoss(weight=w)(logits, target) == pytest.approx(expected, rel=1e-14)
    per_sample = nn.CrossEntropyLoss(weight=w, reduction="none")(logits, target)
    assert per_sample[2] == 0 and per_sample.shape == (4,)
    assert nn.CrossEntropyLoss(weight=w, reduction="sum")(logits, target) == pytest.approx(per_sample.sum(), rel=1e-14)


def test_per_pixel_equals_the_flattened_loss():
    rng = np.random.default_rng(2)
    logits, target, weight = make_case(rng, (2, 5, 3, 4), np.float64, "index", -100, True)
    flat_logits = logits.transpose(0, 2, 3, 1).reshape(-1, 5)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.3)
    flat = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.3)
    assert loss_fn(logits, target) == pytest.approx(flat(flat_logits, target.reshape(-1)), rel=1e-13)
    np.testing.assert_allclose(loss_fn.backward().transpose(0, 2, 3, 1).reshape(-1, 5), flat.backward(),
                               rtol=1e-12, atol=1e-16)


def test_dloss_none_means_ones_and_float32_is_kept():
    rng = np.random.default_rng(3)
    logits, target, _ = make_case(rng, (4, 3), np.float32, "index")
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    loss_fn(logits, target)
    ones = loss_fn.backward()
    loss_fn(logits, target)
    assert ones.dtype == np.float32
    np.testing.assert_array_equal(ones, loss_fn.backward(np.ones(4, np.float32)))


def test_repr_config_buffers_and_output_shape():
    w = np.array([1.0, 2.0])
    loss_fn = nn.CrossEntropyLoss(weight=w, ignore_index=0, reduction="sum", label_smoothing=0.1)
    assert repr(loss_fn) == "CrossEntropyLoss(weight=(1.0, 2.0), ignore_index=0, reduction='sum', label_smoothing=0.1)"
    assert repr(type(loss_fn)(**loss_fn.config())) == repr(loss_fn)
    assert list(loss_fn.state_dict()) == ["weight"] and nn.CrossEntropyLoss().state_dict() == {}
    assert nn.NLLLoss(reduction="none").output_shape((8, 3, 5, 5)) == (8, 5, 5)
    assert nn.NLLLoss().output_shape((8, 3)) == ()


# -- errors -----------------------------------------------------------------------------------------
def test_errors_name_the_loss_and_what_was_expected():
    logits = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: expected targets of shape \(2, 4, 4\) for input"
                                         r" \(2, 3, 4, 4\), got \(2, 4\)$"):
        nn.CrossEntropyLoss()(logits, np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match=r"^NLLLoss: expected targets of shape \(2, 4, 4\) for input \(2, 3, 4, 4\),"
                                         r" got \(2, 16\)$"):
        nn.NLLLoss()(logits, np.zeros((2, 16), np.int64))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: expected weight of shape \(3,\), one per class of input"
                                         r" \(2, 3, 4, 4\), got \(4,\)$"):
        nn.CrossEntropyLoss(weight=[1.0, 1.0, 1.0, 1.0])(logits, np.zeros((2, 4, 4), np.int64))
    with pytest.raises(TypeError, match=r"^CrossEntropyLoss: weight must be an array or None, got 0.1 \(label"
                                        r" smoothing is the keyword argument label_smoothing=\)$"):
        nn.CrossEntropyLoss(0.1)
    with pytest.raises(ValueError, match=r"^NLLLoss: weight must be a 1-d array \(one value per class\), got shape \(2, 2\)$"):
        nn.NLLLoss(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'$"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"^cross_entropy: reduction must be 'mean', 'sum' or 'none', got None$"):
        F.cross_entropy_forward(logits, np.zeros((2, 4, 4), np.int64), reduction=None)
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: ignore_index is not supported with class-probability"
                                         r" \(float\) targets, got ignore_index=0$"):
        nn.CrossEntropyLoss(ignore_index=0)(np.zeros((2, 3)), np.full((2, 3), 1 / 3))
    with pytest.raises(TypeError, match=r"^NLLLoss: ignore_index must be an int, got 1.0$"):
        nn.NLLLoss(ignore_index=1.0)
    with pytest.raises(TypeError, match=r"^NLLLoss: targets must be an integer array of class indices, got float64$"):
        nn.NLLLoss()(logits, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss: target labels must be in \[0, 2\] \(or ignore_index=-1\),"
                                         r" got -100$"):
        nn.CrossEntropyLoss(ignore_index=-1)(np.zeros((2, 3)), np.array([-1, -100]))


def test_backward_checks_dloss():
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    loss_fn(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^CrossEntropyLoss.backward: expected dloss of the loss's shape \(2,\)"
                                         r" \(reduction='none'\), got an array of shape \(2, 3\)$"):
        loss_fn.backward(np.ones((2, 3)))
    loss_fn = nn.NLLLoss()
    loss_fn(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^NLLLoss.backward: expected a number as dloss for reduction='mean',"
                                         r" got an array of shape \(2,\)$"):
        loss_fn.backward(np.ones(2))
    loss_fn(np.zeros((2, 3)), np.array([0, 1]))
    assert loss_fn.backward(np.float32(2.0)).shape == (2, 3)                # a 0-d value is a number
    with pytest.raises(RuntimeError, match=r"^NLLLoss.backward\(\) called before forward\(\)"):
        loss_fn.backward()
