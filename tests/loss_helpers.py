"""Shared by the loss tests: one comparison with PyTorch and one numerical gradient check."""
import numpy as np

from conftest import assert_matches, to_numpy
from convnp import gradcheck


def random_dloss(rng, value, dtype):
    """A random upstream gradient: a number for a reduced loss, an array of its shape for 'none'."""
    if isinstance(value, float):
        return float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))
    return rng.standard_normal(value.shape).astype(dtype)


def compare_with_torch(torch, ours, theirs, pred, target, dtype, seed=0, target_grad=False, what=""):
    """Run our loss and torch's on the same inputs and upstream gradient; compare value and gradients.

    ``theirs`` is a torch loss module (or function of two tensors). The target gets a torch
    gradient when ``target_grad``. Returns our value.
    """
    rng = np.random.default_rng(seed + 7)
    value = ours(pred, target)
    dloss = random_dloss(rng, value, dtype)
    grads = ours.backward(dloss, target_grad=True) if target_grad else ours.backward(dloss)
    tp = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(target, requires_grad=target_grad)
    tv = theirs(tp, tt)
    tv.backward(torch.tensor(dloss, dtype=tv.dtype))
    if ours.reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dtype, what
    else:
        assert isinstance(value, float), what
    assert_matches(np.asarray(value), to_numpy(tv), dtype, f"{what} value")
    dpred = grads[0] if target_grad else grads
    assert dpred.dtype == dtype, what
    assert_matches(dpred, to_numpy(tp.grad), dtype, f"{what} d pred")
    if target_grad:
        assert grads[1].dtype == dtype, what
        assert_matches(grads[1], to_numpy(tt.grad), dtype, f"{what} d target")
    return value


def gradcheck_loss(loss_fn, pred, target, seed=0, target_grad=False):
    """Central differences of sum(dloss * loss) against backward(dloss), for pred (and target)."""
    rng = np.random.default_rng(seed)
    pred = np.array(pred, dtype=np.float64)
    value = loss_fn(pred, target)
    dloss = random_dloss(rng, value, np.float64)
    grads = loss_fn.backward(dloss, target_grad=True) if target_grad else loss_fn.backward(dloss)
    dpred = grads[0] if target_grad else grads
    dy = None if isinstance(value, float) else dloss
    scale = dloss if dy is None else 1.0
    num = gradcheck.numerical_gradient(lambda: scale * np.asarray(loss_fn(pred, target)), pred, dy)
    gradcheck.compare("pred", dpred, num, rtol=1e-5, atol=1e-7)
    if target_grad:
        target = np.array(target, dtype=np.float64)
        num = gradcheck.numerical_gradient(lambda: scale * np.asarray(loss_fn(pred, target)), target, dy)
        gradcheck.compare("target", grads[1], num, rtol=1e-5, atol=1e-7)
