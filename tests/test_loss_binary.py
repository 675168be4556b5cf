"""BCELoss, BCEWithLogitsLoss and KLDivLoss: reductions, weights, pos_weight, soft targets and their
gradient, the clamp at p = 0 and 1, against PyTorch and central differences."""
import itertools
import warnings

import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import nn
from loss_helpers import compare_with_torch, gradcheck_loss

REDUCTIONS = ("mean", "sum", "none")
SHAPES = [(6, 3), (2, 3, 2, 4)]


def element_weight(rng, kind, shape, dtype):
    """None, one weight per class (broadcast from the right as PyTorch broadcasts) or one per element."""
    if kind == "none":
        return None
    if kind == "class":
        return rng.uniform(0.2, 3.0, (shape[1],) + (1,) * (len(shape) - 2)).astype(dtype)
    return rng.uniform(0.2, 3.0, shape).astype(dtype)


def tensor(torch, a):
    return None if a is None else torch.tensor(a)


BCE_GRID = list(itertools.product(REDUCTIONS, ["none", "class", "full"], SHAPES))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target_grad", [False, True])
@pytest.mark.parametrize("reduction, weight_kind, shape", BCE_GRID)
def test_bce_matches_torch(torch, reduction, weight_kind, shape, target_grad, dtype):
    rng = np.random.default_rng(BCE_GRID.index((reduction, weight_kind, shape)))
    p = rng.uniform(0.01, 0.99, shape).astype(dtype)
    target = rng.random(shape).astype(dtype)                            # soft labels
    target[rng.random(shape) < 0.4] = 1.0
    weight = element_weight(rng, weight_kind, shape, dtype)
    compare_with_torch(torch, nn.BCELoss(weight=weight, reduction=reduction),
                       torch.nn.BCELoss(weight=tensor(torch, weight), reduction=reduction),
                       p, target, dtype, target_grad=target_grad, what=f"bce {reduction} {weight_kind}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_clamps_at_0_and_1_as_torch(torch, dtype):
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype=dtype)
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 0.2], dtype=dtype)
    ours = nn.BCELoss(reduction="none")
    value = compare_with_torch(torch, ours, torch.nn.BCELoss(reduction="none"), p, target, dtype)
    assert value[0] == value[1] == 100


BCE_LOGITS_GRID = list(itertools.product(REDUCTIONS, ["none", "full"], [False, True], SHAPES))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target_grad", [False, True])
@pytest.mark.parametrize("reduction, weight_kind, pos_weighted, shape", BCE_LOGITS_GRID)
def test_bce_with_logits_matches_torch(torch, reduction, weight_kind, pos_weighted, shape, target_grad, dtype):
    rng = np.random.default_rng(BCE_LOGITS_GRID.index((reduction, weight_kind, pos_weighted, shape)))
    x = (rng.standard_normal(shape) * float(rng.choice([1.0, 10.0, 100.0]))).astype(dtype)
    target = rng.random(shape).astype(dtype)
    target[rng.random(shape) < 0.3] = 0.0
    weight = element_weight(rng, weight_kind, shape, dtype)
    pos_weight = element_weight(rng, "class", shape, dtype) if pos_weighted else None
    ours = nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)
    theirs = torch.nn.BCEWithLogitsLoss(weight=tensor(torch, weight), reduction=reduction,
                                        pos_weight=tensor(torch, pos_weight))
    compare_with_torch(torch, ours, theirs, x, target, dtype, target_grad=target_grad, what=f"bce logits {reduction}")


def test_bce_with_logits_equals_sigmoid_then_bce_and_is_stable():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3)) * 3
    target = rng.random((4, 3))
    p = 1 / (1 + np.exp(-x))
    assert nn.BCEWithLogitsLoss()(x, target) == pytest.approx(nn.BCELoss()(p, target), rel=1e-12)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        value = loss_fn(np.array([-1e4, 1e4, -800.0, 800.0]), np.array([1.0, 0.0, 0.0, 1.0]))
        grad = loss_fn.backward()
    np.testing.assert_array_equal(value, [1e4, 1e4, 0.0, 0.0])
    np.testing.assert_array_equal(grad, [-1.0, 1.0, 0.0, 0.0])


KL_GRID = list(itertools.product(["mean", "batchmean", "sum", "none"], [False, True], SHAPES))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction, log_target, shape", KL_GRID)
def test_kl_div_matches_torch(torch, reduction, log_target, shape, dtype):
    rng = np.random.default_rng(KL_GRID.index((reduction, log_target, shape)))
    logits = rng.standard_normal(shape) * 2
    log_q = (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(dtype)
    t = rng.random(shape) ** 2
    t[rng.random(shape) < 0.2] = 0.0                                    # t log t = 0 at t = 0
    t = t / t.sum(axis=1, keepdims=True)
    target = (np.log(t + 1e-3) if log_target else t).astype(dtype)
    with warnings.catch_warnings():                                      # torch warns about 'mean'
        warnings.simplefilter("ignore")
        compare_with_torch(torch, nn.KLDivLoss(reduction=reduction, log_target=log_target),
                           torch.nn.KLDivLoss(reduction=reduction, log_target=log_target),
                           log_q, target, dtype, what=f"kl {reduction} {log_target}")


# -- gradient checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_bce_and_bce_with_logits(reduction):
    rng = np.random.default_rng(len(reduction))
    shape = (2, 3, 2)
    p, target = rng.uniform(0.05, 0.95, shape), rng.random(shape)
    weight = rng.uniform(0.5, 2.0, (3, 1))
    gradcheck_loss(nn.BCELoss(weight=weight, reduction=reduction), p, target, target_grad=True)
    x = rng.standard_normal(shape) * 2
    gradcheck_loss(nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=rng.uniform(0.5, 3.0, (3, 1))),
                   x, target, target_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_gradcheck_kl_div(reduction, log_target):
    rng = np.random.default_rng(len(reduction))
    log_q, target = rng.standard_normal((3, 4)) - 2, rng.random((3, 4))
    gradcheck_loss(nn.KLDivLoss(reduction=reduction, log_target=log_target), log_q,
                   np.log(target) if log_target else target)


# -- behaviour and errors --------------------------------------------------------------------------
def test_buffers_config_and_repr():
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0])
    assert list(loss_fn.state_dict()) == ["pos_weight"]
    assert loss_fn.config() == {"weight": None, "reduction": "mean", "pos_weight": [2.0, 1.0]}
    assert repr(nn.BCELoss(reduction="sum")) == "BCELoss(reduction='sum')"
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"
    rebuilt = nn.BCEWithLogitsLoss(**loss_fn.config())
    np.testing.assert_array_equal(rebuilt.pos_weight, loss_fn.pos_weight)


def test_kl_batchmean_is_the_mean_kl_per_sample():
    rng = np.random.default_rng(5)
    q, t = rng.dirichlet(np.ones(4), 3), rng.dirichlet(np.ones(4), 3)
    expected = np.mean([np.sum(t[i] * np.log(t[i] / q[i])) for i in range(3)])
    assert nn.KLDivLoss(reduction="batchmean")(np.log(q), t) == pytest.approx(expected, rel=1e-13)


def test_errors():
    with pytest.raises(ValueError, match=r"^BCELoss: expected probabilities in \[0, 1\] as input \(apply a sigmoid,"
                                         r" or use BCEWithLogitsLoss on logits\), got 1.5$"):
        nn.BCELoss()(np.array([0.5, 1.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"^BCELoss: expected probabilities in \[0, 1\] .*got nan$"):
        nn.BCELoss()(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"^BCELoss: expected target of the prediction's shape \(2, 3\), got \(2,\)$"):
        nn.BCELoss()(np.full((2, 3), 0.5), np.ones(2))
    with pytest.raises(ValueError, match=r"^BCEWithLogitsLoss: expected pos_weight that broadcasts to the input's"
                                         r" shape \(2, 3, 4, 4\), got \(3,\)$"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(3))(np.zeros((2, 3, 4, 4)), np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"^BCELoss: expected weight that broadcasts to the input's shape \(2, 3\),"
                                         r" got \(2, 3, 1\)$"):
        nn.BCELoss(weight=np.ones((2, 3, 1)))(np.full((2, 3), 0.5), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or 'none',"
                                         r" got 'avg'$"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"^BCELoss: reduction must be 'mean', 'sum' or 'none', got 'batchmean'$"):
        nn.BCELoss(reduction="batchmean")
    with pytest.raises(TypeError, match=r"^BCEWithLogitsLoss: pos_weight must be an array or None, got 2.0$"):
        nn.BCEWithLogitsLoss(pos_weight=2.0)
    with pytest.raises(TypeError, match=r"^KLDivLoss: log_target must be a bool, got 1$"):
        nn.KLDivLoss(log_target=1)


def test_target_gradient_matches_torch_at_the_edges(torch):
    """PyTorch's d target is -logit(p) (unclamped); with pos_weight its log-sigmoid form."""
    p = np.array([1e-8, 0.5, 1 - 1e-8])
    target = np.array([0.2, 0.9, 0.4])
    ours = nn.BCELoss(reduction="sum")
    ours(p, target)
    _, dtarget = ours.backward(target_grad=True)
    tp, tt = torch.tensor(p, requires_grad=True), torch.tensor(target, requires_grad=True)
    torch.nn.BCELoss(reduction="sum")(tp, tt).backward()
    assert_matches(dtarget, to_numpy(tt.grad), np.float64, "d target")
