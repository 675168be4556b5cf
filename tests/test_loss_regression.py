"""MSELoss, L1Loss, SmoothL1Loss and HuberLoss: every reduction, the target's gradient, the kinks,
against PyTorch and central differences."""
import itertools

import numpy as np
import pytest

from convnp import functional as F
from convnp import nn
from loss_helpers import compare_with_torch, gradcheck_loss

REDUCTIONS = ("mean", "sum", "none")
# name -> (our loss, torch's), for a given threshold (beta / delta; unused by MSE and L1)
LOSSES = {
    "mse": (lambda r, t: nn.MSELoss(reduction=r), lambda torch, r, t: torch.nn.MSELoss(reduction=r)),
    "l1": (lambda r, t: nn.L1Loss(reduction=r), lambda torch, r, t: torch.nn.L1Loss(reduction=r)),
    "smooth_l1": (lambda r, t: nn.SmoothL1Loss(reduction=r, beta=t),
                  lambda torch, r, t: torch.nn.SmoothL1Loss(reduction=r, beta=t)),
    "huber": (lambda r, t: nn.HuberLoss(reduction=r, delta=t),
              lambda torch, r, t: torch.nn.HuberLoss(reduction=r, delta=t)),
}


def make_pair(rng, shape, dtype, threshold):
    """pred and target with exact ties (d = 0) and differences exactly at +-threshold: the kinks."""
    target = rng.standard_normal(shape) * 2
    pred = target + rng.standard_normal(shape) * 2
    flat_pred, flat_target = pred.reshape(-1), target.reshape(-1)
    k = flat_pred.size
    flat_pred[: k // 4] = flat_target[: k // 4]
    if threshold:
        flat_pred[k // 4: k // 2] = flat_target[k // 4: k // 2] + threshold * rng.choice([-1, 1], k // 2 - k // 4)
    return pred.astype(dtype), target.astype(dtype)


GRID = [(name, r, t) for name in LOSSES for r in REDUCTIONS
        for t in ([1.0] if name in ("mse", "l1") else [0.5, 1.0, 2.0] + ([0.0] if name == "smooth_l1" else []))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target_grad", [False, True])
@pytest.mark.parametrize("name, reduction, threshold", GRID)
def test_matches_torch(torch, name, reduction, threshold, target_grad, dtype):
    rng = np.random.default_rng(GRID.index((name, reduction, threshold)))
    shape = tuple(int(s) for s in rng.integers(1, 6, int(rng.integers(1, 5))))
    pred, target = make_pair(rng, shape, dtype, threshold)
    ours, theirs = LOSSES[name][0](reduction, threshold), LOSSES[name][1](torch, reduction, threshold)
    compare_with_torch(torch, ours, theirs, pred, target, dtype, target_grad=target_grad,
                       what=f"{name} {reduction} {threshold}")


@pytest.mark.parametrize("name, reduction", list(itertools.product(LOSSES, REDUCTIONS)))
def test_gradcheck_pred_and_target(name, reduction):
    rng = np.random.default_rng(len(name) * 3 + len(reduction))
    target = rng.standard_normal((3, 4))
    pred = target + rng.choice([-1, 1], (3, 4)) * rng.uniform(0.1, 2.5, (3, 4))   # no point at a kink
    pred[np.abs(np.abs(pred - target) - 1.0) < 0.05] += 0.2
    gradcheck_loss(LOSSES[name][0](reduction, 1.0), pred, target, target_grad=True)


def test_derivatives_at_the_kinks():
    pred = np.array([0.0, 1.0, -1.0, 0.5])
    target = np.zeros(4)
    for loss_fn, expected in [(nn.L1Loss(reduction="sum"), [0, 1, -1, 1]),
                              (nn.SmoothL1Loss(reduction="sum"), [0, 1, -1, 0.5]),
                              (nn.SmoothL1Loss(reduction="sum", beta=0.0), [0, 1, -1, 1]),
                              (nn.HuberLoss(reduction="sum", delta=0.5), [0, 0.5, -0.5, 0.5])]:
        loss_fn(pred, target)
        dpred, dtarget = loss_fn.backward(target_grad=True)
        np.testing.assert_array_equal(dpred, expected)
        np.testing.assert_array_equal(dtarget, -dpred)


def test_huber_is_delta_times_smooth_l1():
    rng = np.random.default_rng(4)
    pred, target = rng.standard_normal((5, 3)) * 3, rng.standard_normal((5, 3))
    for delta in (0.3, 1.0, 2.5):
        huber = nn.HuberLoss(delta=delta)(pred, target)
        assert huber == pytest.approx(delta * nn.SmoothL1Loss(beta=delta)(pred, target), rel=1e-13)


def test_values_types_and_functional_defaults():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    target = np.zeros((2, 2))                                # float64 target: cast to pred's dtype
    assert nn.MSELoss()(pred, target) == pytest.approx(7.5)
    assert nn.L1Loss(reduction="sum")(pred, target) == 10.0
    none = nn.L1Loss(reduction="none")
    assert none(pred, target).dtype == np.float32 and none.backward().dtype == np.float32
    loss, cache = F.mse_forward(pred, target)
    assert loss.shape == () and F.mse_backward(1.0, cache).dtype == np.float32


def test_repr_config_and_output_shape():
    assert repr(nn.MSELoss()) == "MSELoss()" and repr(nn.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"
    assert repr(nn.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(beta=0.5)"
    assert nn.HuberLoss(delta=2.0).config() == {"reduction": "mean", "delta": 2.0}
    assert nn.HuberLoss(reduction="none").output_shape((None, 3, 4)) == (None, 3, 4)
    assert nn.MSELoss().output_shape((None, 3)) == ()


def test_errors():
    with pytest.raises(ValueError, match=r"^L1Loss: reduction must be 'mean', 'sum' or 'none', got 'batchmean'$"):
        nn.L1Loss(reduction="batchmean")
    with pytest.raises(ValueError, match=r"^SmoothL1Loss: beta must be >= 0, got -1.0$"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match=r"^HuberLoss: delta must be > 0, got 0.0$"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match=r"^HuberLoss: expected target of the prediction's shape \(2, 3\), got \(3,\)$"):
        nn.HuberLoss()(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(TypeError, match=r"^L1Loss: target must be a floating-point array, got int64$"):
        nn.L1Loss()(np.zeros(3), np.zeros(3, np.int64))
    loss_fn = nn.MSELoss(reduction="none")
    loss_fn(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^MSELoss.backward: expected dloss of the loss's shape \(2, 3\)"
                                         r" \(reduction='none'\), got 2.0$"):
        loss_fn.backward(2.0)
    with pytest.raises(RuntimeError, match=r"^MSELoss.backward\(\) called before forward\(\)"):
        loss_fn.backward(np.ones((2, 3)))
