"""clip_grad_norm_ and clip_grad_value_: the total norm and the clipped gradients, next to PyTorch."""
import math

import numpy as np
import pytest

from conftest import assert_matches, to_numpy
from convnp import nn, utils
from convnp.nn import Parameter


def params_with_grads(rng, dtype, scale=1.0, shapes=((3, 4), (4,), (2, 3, 2, 2))):
    params = []
    for shape in shapes:
        p = Parameter(rng.standard_normal(shape).astype(dtype))
        p.grad[...] = rng.standard_normal(shape) * scale
        params.append(p)
    return params


def torch_copies(torch, params):
    copies = []
    for p in params:
        t = torch.tensor(p.data, requires_grad=True)
        t.grad = torch.tensor(p.grad.copy())
        copies.append(t)
    return copies


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm, scale", [(1.0, 1.0), (100.0, 1.0), (0.5, 1e-3), (2.0, 50.0)])
def test_clip_grad_norm_matches_torch(torch, dtype, norm_type, max_norm, scale):
    rng = np.random.default_rng(int(max_norm * 10))
    params = params_with_grads(rng, dtype, scale)
    theirs = torch_copies(torch, params)
    total = utils.clip_grad_norm_(params, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, float)
    assert_matches(np.array(total), to_numpy(t_total), dtype, "total norm")
    for p, t in zip(params, theirs):
        assert p.grad.dtype == dtype
        assert_matches(p.grad, to_numpy(t.grad), dtype, "clipped gradient")


def test_clip_grad_norm_scales_only_above_max_norm():
    params = params_with_grads(np.random.default_rng(1), np.float64)
    before = [p.grad.copy() for p in params]
    total = utils.clip_grad_norm_(params, 1.0)
    assert total == pytest.approx(math.sqrt(sum(float((g * g).sum()) for g in before)), rel=1e-14)
    after = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in params))
    assert after == pytest.approx(1.0, rel=1e-5)
    small = utils.clip_grad_norm_(params, 10.0)                      # below max_norm: unchanged
    assert small == pytest.approx(after, rel=1e-14)


def test_frozen_parameters_and_models():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    for p in model.parameters():
        p.grad[...] = 10.0
    model[0].requires_grad_(False)
    total = utils.clip_grad_norm_(model.parameters(), 1.0)
    assert total == pytest.approx(10.0 * math.sqrt(4 * 2 + 2))      # only the second layer's 10 values
    assert np.all(model[0].weight.grad == 10.0)
    assert utils.clip_grad_norm_([], 1.0) == 0.0
    assert utils.clip_grad_norm_(model[2].bias, 1e6) == pytest.approx(math.sqrt(2) * 10 / total, rel=1e-6)


def test_non_finite_total():
    params = params_with_grads(np.random.default_rng(2), np.float64)
    params[1].grad[0] = np.inf
    with pytest.raises(RuntimeError, match=r"^clip_grad_norm_: the total norm of order 2.0 of the gradients is inf,"
                                           r" so it cannot be clipped"):
        utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert params[1].grad[0] == np.inf                               # left as it was
    assert utils.clip_grad_norm_(params, 1.0) == math.inf            # as torch: scaled by 0 (inf * 0 = NaN)
    assert np.all(params[0].grad == 0)


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 5.0])
def test_clip_grad_value_matches_torch(torch, clip_value):
    params = params_with_grads(np.random.default_rng(3), np.float32)
    theirs = torch_copies(torch, params)
    assert utils.clip_grad_value_(params, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, t in zip(params, theirs):
        np.testing.assert_array_equal(p.grad, to_numpy(t.grad))


def test_errors():
    params = params_with_grads(np.random.default_rng(4), np.float64)
    with pytest.raises(ValueError, match=r"^clip_grad_norm_: norm_type must be a number > 0 or inf, got 0$"):
        utils.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(ValueError, match=r"^clip_grad_norm_: max_norm must be a number >= 0, got -1$"):
        utils.clip_grad_norm_(params, -1)
    with pytest.raises(TypeError, match=r"^clip_grad_norm_: expected Parameters \(model.parameters\(\)\), got a ndarray$"):
        utils.clip_grad_norm_([np.ones(3)], 1.0)
    with pytest.raises(TypeError, match=r"^clip_grad_value_: expected a Parameter or an iterable of Parameters, got float$"):
        utils.clip_grad_value_(1.0, 1.0)
    with pytest.raises(ValueError, match=r"^clip_grad_value_: clip_value must be a number >= 0, got -0.5$"):
        utils.clip_grad_value_(params, -0.5)
