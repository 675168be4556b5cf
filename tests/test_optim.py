"""Optimizers and lr schedules: hand-computed steps, PyTorch parity, state_dict, errors."""
import json
import math

import numpy as np
import pytest
from conftest import assert_matches

from convnp import optim
from convnp.nn import Parameter

SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]
CLASSES = {"SGD": optim.SGD, "Adam": optim.Adam, "AdamW": optim.AdamW,
           "RMSprop": optim.RMSprop, "Adagrad": optim.Adagrad}


def make_arrays(dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def grad_sequence(steps, dtype, seed):
    """Random gradients whose scale changes from step to step (so amsgrad's max matters)."""
    rng = np.random.default_rng(seed + 1000)
    return [[(rng.standard_normal(s) * rng.uniform(0.1, 3.0)).astype(dtype) for s in SHAPES]
            for _ in range(steps)]


def grouped(params, groups):
    """``groups``: None (one plain list) or [(start, stop, overrides), ...]."""
    if groups is None:
        return list(params)
    return [{"params": params[a:b], **extra} for a, b, extra in groups]


def run_ours(name, kwargs, arrays, grads, groups=None):
    params = [Parameter(a.copy()) for a in arrays]
    opt = CLASSES[name](grouped(params, groups), **kwargs)
    history = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad[...] = g
        opt.step()
        history.append([p.data.copy() for p in params])
    return params, opt, history


def run_torch(torch, name, kwargs, arrays, grads, groups=None):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt = getattr(torch.optim, name)(grouped(params, groups), foreach=False, **kwargs)
    history = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g.copy())
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return opt, history


# -- hand-computed steps (no torch needed) ----------------------------------------------------
def test_sgd_momentum_dampening_by_hand():
    p = Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad[...] = [0.5, -1.0]
    opt.step()                          # b = g (no dampening at the first step)
    np.testing.assert_allclose(p.data, [0.95, 2.1], rtol=0, atol=1e-15)
    p.grad[...] = [1.0, 1.0]
    opt.step()                          # b = 0.9 * [0.5, -1] + 0.5 * [1, 1] = [0.95, -0.4]
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [0.95, -0.4], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p.data, [0.855, 2.14], rtol=0, atol=1e-15)


def test_sgd_nesterov_weight_decay_by_hand():
    p = Parameter(np.array([1.0, -2.0]))
    opt = optim.SGD([p], lr=0.5, momentum=0.5, weight_decay=0.1, nesterov=True)
    p.grad[...] = [0.2, 0.4]
    opt.step()                          # g = [0.3, 0.2], b = g, step = g + 0.5 * b = [0.45, 0.3]
    np.testing.assert_allclose(p.data, [1.0 - 0.225, -2.0 - 0.15], rtol=0, atol=1e-15)


def test_adam_first_step_by_hand():
    # after one step m_hat = g and v_hat = g * g, so p moves by lr * g / (|g| + eps)
    g = np.array([0.5, -2.0, 0.0, 1e-3])
    p = Parameter(np.array([1.0, 1.0, 1.0, 1.0]))
    opt = optim.Adam([p], lr=0.1)
    p.grad[...] = g
    opt.step()
    np.testing.assert_allclose(p.data, 1.0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-14)
    assert opt.state[p]["step"] == 1
    np.testing.assert_allclose(opt.state[p]["exp_avg"], 0.1 * g, rtol=1e-14)
    np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], 0.001 * g * g, rtol=1e-12)


def test_adamw_first_step_by_hand():
    g = np.array([0.5, -2.0])
    p = Parameter(np.array([3.0, -1.0]))
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad[...] = g
    opt.step()                          # decay first: p * (1 - 0.05), then the Adam step
    expected = np.array([3.0, -1.0]) * 0.95 - 0.1 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-14)


def test_rmsprop_and_adagrad_first_step_by_hand():
    g = np.array([0.5, -2.0])
    p = Parameter(np.array([1.0, 1.0]))
    opt = optim.RMSprop([p], lr=0.1, alpha=0.9)
    p.grad[...] = g
    opt.step()
    np.testing.assert_allclose(p.data, 1.0 - 0.1 * g / (np.sqrt(0.1 * g * g) + 1e-8), rtol=1e-14)
    q = Parameter(np.array([1.0, 1.0]))
    opt = optim.Adagrad([q], lr=0.1, initial_accumulator_value=0.25, lr_decay=0.5)
    for step in (1, 2):
        q.grad[...] = g
        before = q.data.copy()
        opt.step()
        clr = 0.1 / (1 + (step - 1) * 0.5)
        s = 0.25 + step * g * g
        np.testing.assert_allclose(q.data, before - clr * g / (np.sqrt(s) + 1e-10), rtol=1e-14)


FULL_OPTIONS = {
    "SGD": dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True, maximize=True),
    "Adam": dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
    "AdamW": dict(lr=0.01, amsgrad=True, maximize=True),
    "RMSprop": dict(momentum=0.9, centered=True, weight_decay=0.1, maximize=True),
    "Adagrad": dict(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1, maximize=True),
}


@pytest.mark.parametrize("name", sorted(FULL_OPTIONS))
def test_float32_stays_float32_and_updates_in_place(name):
    arrays = make_arrays(np.float32, 0)
    params = [Parameter(a.copy()) for a in arrays]
    datas = [p.data for p in params]
    opt = CLASSES[name](params, **FULL_OPTIONS[name])
    for gs in grad_sequence(3, np.float32, 0):
        for p, g in zip(params, gs):
            p.grad[...] = g
        opt.step()
    for p, data, a in zip(params, datas, arrays):
        assert p.data is data and p.data.dtype == np.float32
        assert not np.array_equal(p.data, a)
        for key, value in opt.state[p].items():
            assert (key == "step" and isinstance(value, int)) or value.dtype == np.float32, key


def test_parameter_without_grad_is_skipped_and_zero_grad_zeroes():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad[...] = 1.0
    b.grad = None
    opt.step()
    assert np.all(a.data < 1) and np.array_equal(b.data, np.ones(2)) and b not in opt.state
    grad = a.grad
    opt.zero_grad()
    assert a.grad is grad and not a.grad.any()


def test_param_groups_defaults_add_param_group_and_repr():
    a, b, c = (Parameter(np.zeros(2)) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["momentum"] == 0.9
    opt.add_param_group({"params": c, "weight_decay": 0.01})
    assert opt.param_groups[2]["params"] == [c] and opt.param_groups[2]["lr"] == 0.1
    assert repr(opt).splitlines()[:3] == ["SGD (", "Parameter Group 0", "    dampening: 0.0"]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_state_dict_layout_and_copies():
    params = [Parameter(a) for a in make_arrays(np.float64, 1)]
    opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}])
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"]) == [0, 1, 2]
    assert sorted(sd["state"][2]) == ["exp_avg", "exp_avg_sq", "step"]
    saved = sd["state"][0]["exp_avg"].copy()
    opt.step()
    assert np.array_equal(sd["state"][0]["exp_avg"], saved)     # a copy, not the live buffer
    assert optim.SGD(params).state_dict()["state"] == {}


ROUND_TRIP = {
    "SGD": dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": dict(lr=0.01, betas=(0.8, 0.9), amsgrad=True),
    "RMSprop": dict(momentum=0.5, centered=True),
    "Adagrad": dict(lr_decay=0.05, initial_accumulator_value=0.2),
}
TWO_GROUPS = [(0, 1, {"lr": 0.003}), (1, 3, {})]


def resume_from(name, state_dict, params):
    """A fresh optimizer (default hyper-parameters) on copies of ``params``, then load."""
    fresh = [Parameter(p.data.copy()) for p in params]
    opt = CLASSES[name]([{"params": fresh[a:b]} for a, b, _ in TWO_GROUPS])
    opt.load_state_dict(state_dict)
    return fresh, opt


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_state_dict_round_trip_continues_identically(name):
    arrays, grads = make_arrays(np.float64, 3), grad_sequence(10, np.float64, 3)
    _, _, full = run_ours(name, ROUND_TRIP[name], arrays, grads, TWO_GROUPS)
    params, opt, _ = run_ours(name, ROUND_TRIP[name], arrays, grads[:5], TWO_GROUPS)
    # (tests/test_io.py takes the same state through a model file)
    params, opt = resume_from(name, opt.state_dict(), params)
    assert opt.param_groups[0]["lr"] == 0.003
    for step, gs in enumerate(grads[5:], 5):
        for p, g in zip(params, gs):
            p.grad[...] = g
        opt.step()
        for p, want in zip(params, full[step]):
            assert np.array_equal(p.data, want), f"step {step}"


def test_load_state_dict_errors_leave_optimizer_unchanged():
    params = [Parameter(a) for a in make_arrays(np.float64, 4)]
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    sd = opt.state_dict()
    other = optim.Adam([{"params": params[:1]}, {"params": params[1:]}])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: expected 2 parameter groups, got 1"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match=r"parameter group 0 has 2 parameters, the saved group has 3"):
        optim.Adam(params[:2]).load_state_dict(sd)
    bad = {"state": {**sd["state"], 1: {**sd["state"][1], "exp_avg": np.zeros(4)}},
           "param_groups": sd["param_groups"]}
    fresh = optim.Adam(params, lr=0.7)
    with pytest.raises(ValueError, match=r"state 1 'exp_avg': expected shape \(5\), got \(4\)"):
        fresh.load_state_dict(bad)
    assert fresh.state == {} and fresh.param_groups[0]["lr"] == 0.7
    bad_lr = {"state": {}, "param_groups": [{**sd["param_groups"][0], "lr": -1}]}
    with pytest.raises(ValueError, match=r"parameter group 0: lr must be >= 0, got -1.0"):
        fresh.load_state_dict(bad_lr)


# -- next to PyTorch --------------------------------------------------------------------------
VARIANTS = [
    ("SGD", {}), ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True)),
    ("Adam", {}), ("Adam", dict(lr=0.01, weight_decay=0.1)), ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.02, maximize=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.5), eps=1e-3)),        # lerp weight >= 0.5
    ("AdamW", {}), ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True, betas=(0.0, 0.9))),
    ("RMSprop", {}), ("RMSprop", dict(centered=True)), ("RMSprop", dict(momentum=0.9)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(alpha=0.5, maximize=True, eps=1e-4)),
    ("Adagrad", {}), ("Adagrad", dict(lr_decay=0.1)), ("Adagrad", dict(initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)), ("Adagrad", dict(eps=1e-3)),
]


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=[f"{n}-{k}" for n, k in VARIANTS])
def test_step_leaves_gradients_unchanged(name, kwargs):
    arrays, grads = make_arrays(np.float64, 8), grad_sequence(3, np.float64, 8)
    params = [Parameter(a.copy()) for a in arrays]
    opt = CLASSES[name](params, **kwargs)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad[...] = g
        opt.step()
        assert all(np.array_equal(p.grad, g) for p, g in zip(params, gs))


def compare_with_torch(torch, name, kwargs, dtype, seed, groups=None):
    arrays, grads = make_arrays(dtype, seed), grad_sequence(10, dtype, seed)
    _, ours, history = run_ours(name, kwargs, arrays, grads, groups)
    theirs, torch_history = run_torch(torch, name, kwargs, arrays, grads, groups)
    for step, (mine, ref) in enumerate(zip(history, torch_history)):
        for i, (a, b, start) in enumerate(zip(mine, ref, arrays)):
            assert a.dtype == dtype
            assert_matches(a, b, dtype, f"step {step} param {i}")
            # the change alone too, so that small steps are checked as well as the values
            assert_matches(a - start, b - start, dtype, f"step {step} param {i} change")
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert [g["params"] for g in mine["param_groups"]] == [g["params"] for g in ref["param_groups"]]
    for g, h in zip(mine["param_groups"], ref["param_groups"]):
        assert {k: v for k, v in g.items() if k != "params"} == {k: h[k] for k in g if k != "params"}
    assert mine["state"].keys() == ref["state"].keys()
    for i in mine["state"]:
        assert mine["state"][i].keys() == ref["state"][i].keys()
        for key, value in mine["state"][i].items():
            want = ref["state"][i][key]
            if key == "step":
                assert value == int(want.item())
            else:
                assert_matches(value, want.numpy(), dtype, f"state {i} {key}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=[f"{n}-{k}" for n, k in VARIANTS])
def test_matches_torch(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    compare_with_torch(torch, name, kwargs, dtype, seed=len(str(kwargs)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_param_groups_match_torch(name, dtype):
    torch = pytest.importorskip("torch")
    groups = [(0, 1, {"lr": 0.03}), (1, 3, {"lr": 0.002, "weight_decay": 0.2})]
    compare_with_torch(torch, name, {"lr": 0.01}, dtype, seed=7, groups=groups)


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_resumed_training_matches_torch(name):
    torch = pytest.importorskip("torch")
    arrays, grads = make_arrays(np.float64, 5), grad_sequence(10, np.float64, 5)
    params, opt, _ = run_ours(name, ROUND_TRIP[name], arrays, grads[:5], TWO_GROUPS)
    params, opt = resume_from(name, opt.state_dict(), params)
    for gs in grads[5:]:
        for p, g in zip(params, gs):
            p.grad[...] = g
        opt.step()
    _, torch_history = run_torch(torch, name, ROUND_TRIP[name], arrays, grads, TWO_GROUPS)
    for i, (p, want) in enumerate(zip(params, torch_history[-1])):
        assert_matches(p.data, want, np.float64, f"param {i}")


# -- schedulers -------------------------------------------------------------------------------
SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5), 20),
    ("StepLR", dict(step_size=1), 6),
    ("ExponentialLR", dict(gamma=0.9), 20),
    ("CosineAnnealingLR", dict(T_max=5), 23),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01), 30),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.002), 7),
]


def ours_schedule(name, kwargs):
    opt = optim.SGD([{"params": [Parameter(np.zeros(1))]},
                     {"params": [Parameter(np.zeros(1))], "lr": 0.03}], lr=0.1)
    return opt, getattr(optim, name)(opt, **kwargs)


@pytest.mark.parametrize("name,kwargs,epochs", SCHEDULES)
def test_schedule_matches_torch(name, kwargs, epochs):
    torch = pytest.importorskip("torch")
    t_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                             {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.03}], lr=0.1)
    t_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    opt, sched = ours_schedule(name, kwargs)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.03]
    assert sched.get_last_lr() == t_sched.get_last_lr() == [0.1, 0.03]
    for epoch in range(1, epochs + 1):
        t_opt.step()
        t_sched.step()
        opt.step()
        sched.step()
        assert sched.last_epoch == t_sched.last_epoch == epoch
        assert sched.get_last_lr() == t_sched.get_last_lr(), f"epoch {epoch}"   # to the last bit
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def test_schedules_follow_closed_forms():
    _, step = ours_schedule("StepLR", dict(step_size=2, gamma=0.5))
    _, expo = ours_schedule("ExponentialLR", dict(gamma=0.9))
    _, cos = ours_schedule("CosineAnnealingLR", dict(T_max=6, eta_min=0.01))
    for epoch in range(13):
        assert step.get_last_lr()[0] == pytest.approx(0.1 * 0.5 ** (epoch // 2), rel=1e-14)
        assert expo.get_last_lr()[0] == pytest.approx(0.1 * 0.9 ** epoch, rel=1e-13)
        want = 0.01 + (0.03 - 0.01) * (1 + math.cos(math.pi * epoch / 6)) / 2
        assert cos.get_last_lr()[1] == pytest.approx(want, rel=1e-12)
        for s in (step, expo, cos):
            s.step()
    assert cos.get_last_lr()[0] == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi * 13 / 6)) / 2)


@pytest.mark.parametrize("name,kwargs,epochs", SCHEDULES)
def test_schedule_state_dict_round_trip(name, kwargs, epochs):
    opt, sched = ours_schedule(name, kwargs)
    full = []
    for _ in range(epochs):
        sched.step()
        full.append(sched.get_last_lr())
    opt, sched = ours_schedule(name, kwargs)
    for _ in range(epochs // 2):
        sched.step()
    opt_state, saved = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    opt2, sched2 = ours_schedule(name, kwargs)     # scheduler first, then the optimizer's lrs
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(saved)
    assert sched2.get_last_lr() == full[epochs // 2 - 1]
    for epoch in range(epochs // 2, epochs):
        sched2.step()
        assert sched2.get_last_lr() == full[epoch]
    with pytest.raises(ValueError, match=r"missing keys \['last_epoch'\]"):
        sched2.load_state_dict({k: v for k, v in saved.items() if k != "last_epoch"})


# -- errors -----------------------------------------------------------------------------------
def one_param():
    return [Parameter(np.zeros(3))]


ERRORS = [
    (lambda: optim.SGD(one_param(), lr=-0.1), ValueError, r"^SGD: lr must be >= 0, got -0.1$"),
    (lambda: optim.SGD(one_param(), lr=float("nan")), ValueError, r"SGD: lr must be >= 0, got nan"),
    (lambda: optim.Adam(one_param(), lr="0.1"), TypeError, r"Adam: lr must be a number, got '0.1'"),
    (lambda: optim.SGD(one_param(), momentum=-0.5), ValueError, r"SGD: momentum must be >= 0"),
    (lambda: optim.SGD(one_param(), weight_decay=-1), ValueError, r"SGD: weight_decay must be >= 0"),
    (lambda: optim.SGD(one_param(), nesterov=True), ValueError,
     r"SGD: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum=0.0"),
    (lambda: optim.SGD(one_param(), momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     r"requires momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.1"),
    (lambda: optim.SGD(one_param(), nesterov=1), TypeError, r"SGD: nesterov must be True or False, got 1"),
    (lambda: optim.Adam(one_param(), betas=(1.0, 0.999)), ValueError,
     r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
    (lambda: optim.AdamW(one_param(), betas=(0.9, -0.1)), ValueError,
     r"AdamW: betas\[1\] must be in \[0, 1\), got -0.1"),
    (lambda: optim.Adam(one_param(), betas=0.9), TypeError, r"Adam: betas must be a pair of numbers"),
    (lambda: optim.Adam(one_param(), eps=-1e-8), ValueError, r"Adam: eps must be >= 0, got -1e-08"),
    (lambda: optim.RMSprop(one_param(), alpha=-0.1), ValueError, r"RMSprop: alpha must be >= 0"),
    (lambda: optim.RMSprop(one_param(), eps=-1.0), ValueError, r"RMSprop: eps must be >= 0"),
    (lambda: optim.Adagrad(one_param(), lr_decay=-0.1), ValueError, r"Adagrad: lr_decay must be >= 0"),
    (lambda: optim.Adagrad(one_param(), initial_accumulator_value=-1), ValueError,
     r"Adagrad: initial_accumulator_value must be >= 0, got -1.0"),
    (lambda: optim.SGD([]), ValueError, r"SGD: got an empty parameter list"),
    (lambda: optim.Adam(one_param() * 2), ValueError,
     r"Adam param group 0: a parameter appears twice \(positions 0 and 1\)"),
    (lambda: optim.SGD([np.zeros(3)]), TypeError,
     r"SGD param group 0: params must be Parameters, got ndarray at position 0"),
    (lambda: optim.SGD(one_param()[0]), TypeError, r"SGD: params must be a list of Parameters"),
    (lambda: optim.SGD(np.zeros(3)), TypeError, r"got ndarray"),
    (lambda: optim.SGD(set(one_param())), TypeError, r"not a set"),
    (lambda: optim.SGD([{"params": one_param()}, one_param()[0]]), TypeError, r"mixes Parameters and dicts"),
    (lambda: optim.SGD([{"params": one_param()}, {"params": one_param(), "lr": -2}]), ValueError,
     r"SGD param group 1: lr must be >= 0, got -2.0"),
    (lambda: optim.SGD([{"lr": 0.1}]), ValueError, r"SGD: a parameter group needs a 'params' entry"),
    (lambda: optim.StepLR("opt", 3), TypeError, r"StepLR: expected a convnp.optim Optimizer, got str"),
    (lambda: optim.StepLR(optim.SGD(one_param()), 0), ValueError, r"StepLR: step_size must be > 0, got 0"),
    (lambda: optim.StepLR(optim.SGD(one_param()), 2.5), TypeError, r"StepLR: step_size must be an int"),
    (lambda: optim.ExponentialLR(optim.SGD(one_param()), float("inf")), ValueError,
     r"ExponentialLR: gamma must be finite, got inf"),
    (lambda: optim.CosineAnnealingLR(optim.SGD(one_param()), T_max=0), ValueError,
     r"CosineAnnealingLR: T_max must be > 0, got 0"),
]


@pytest.mark.parametrize("make,error,match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_scheduler_notices_added_group():
    opt = optim.SGD(one_param(), lr=0.1)
    sched = optim.StepLR(opt, 2)
    opt.add_param_group({"params": one_param()})
    with pytest.raises(ValueError, match=r"StepLR: the optimizer has 2 parameter groups, the"
                                         r" scheduler was made for 1"):
        sched.step()
