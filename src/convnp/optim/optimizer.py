"""Optimizer: parameter groups, per-parameter state and state_dict, as in PyTorch.

A subclass validates its hyper-parameters in ``_check_group`` and updates one parameter
in ``_update(p, state, group)``; the base class does the bookkeeping that every
optimizer shares (groups, state, ``zero_grad``, ``state_dict``).

``state_dict()`` holds NumPy arrays and plain values; ``convnp.save`` writes it into a
model file beside the weights.
"""
import numpy as np

from .. import backend
from .. import checks
from ..nn.module import Parameter


class Optimizer:
    """Base class of the optimizers: parameter groups and per-parameter state.

    Args:
        params: a list of Parameters, or a list of dicts (parameter groups), each with
            "params" (a list of Parameters) and any hyper-parameters that override
            ``defaults`` for that group, as in PyTorch:
            ``[{"params": body.parameters()}, {"params": head.parameters(), "lr": 1e-2}]``
        defaults: the hyper-parameters of groups that do not set their own.

    Attributes:
        param_groups: list of dicts, one per group: "params" and every hyper-parameter.
        state: dict Parameter -> dict of that parameter's state, e.g. {"step": 3,
            "exp_avg": array, ...}; filled on the first step. "step" is a Python int.

    Raises:
        TypeError: params is a single Parameter, a set, or holds something that is not a
            Parameter; a hyper-parameter has the wrong type.
        ValueError: an empty parameter list, a parameter listed twice, a bad hyper-parameter.
    """

    def __init__(self, params, defaults):
        self.defaults = self._check_group(dict(defaults), type(self).__name__)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Parameter):   # a group's "params" may be one Parameter, not these
            raise TypeError(f"{type(self).__name__}: params must be a list of Parameters or of"
                            " parameter groups (dicts), got one Parameter; wrap it in a list")
        groups = _as_list(params, type(self).__name__)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not all(isinstance(g, dict) for g in groups):
            if any(isinstance(g, dict) for g in groups):
                raise TypeError(f"{type(self).__name__}: params mixes Parameters and dicts; "
                                "pass a list of Parameters or a list of parameter groups")
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- groups ----------------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group: a dict with "params" and optional hyper-parameters (others default)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        who = f"{name} param group {len(self.param_groups)}"
        params = _as_list(param_group["params"], who)
        seen = {}
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{who}: params must be Parameters, got {type(p).__name__} at position {i}")
            if p in seen:
                raise ValueError(f"{who}: a parameter appears twice (positions {seen[p]} and {i})")
            seen[p] = i
        for g in self.param_groups:
            if any(p in seen for p in g["params"]):
                raise ValueError(f"{who}: some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group}
        group = self._check_group(group, who)
        group["params"] = params
        self.param_groups.append(group)

    def _check_group(self, group, who):
        """Validate and normalise a group's hyper-parameters in place (subclasses)."""
        return group

    # -- stepping --------------------------------------------------------------------------
    def zero_grad(self):
        """Set every gradient to zero in place (layers accumulate into them)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.zero_grad()

    def step(self, closure=None):
        """Update every parameter that takes a gradient; returns ``closure()`` if given.

        A frozen parameter (``requires_grad`` False) is left as it is, as PyTorch leaves one
        whose grad is None (no weight decay, no momentum).
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.requires_grad:
                    self._update(p, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, p, state, group):
        raise NotImplementedError(f"{type(self).__name__} does not implement _update()")

    # -- state -----------------------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state in PyTorch's layout, as copies in NumPy arrays.

        Returns ``{"state": {index: {name: value}}, "param_groups": [group, ...]}`` where
        parameters are numbered 0, 1, ... across the groups in order, each group holds
        its hyper-parameters and "params" as a list of those numbers, and ``value`` is a
        NumPy array (a copy) or a Python number (the "step" count).
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(p, len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, i in index.items():
            if self.state.get(p):
                state[i] = {k: _copy_out(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a ``state_dict()``: hyper-parameters per group and state per parameter.

        Parameters are matched by position, as in PyTorch: the saved groups must have
        the same sizes as this optimizer's. Arrays are copied in the parameter's dtype
        and array module. Nothing changes unless everything fits (ValueError otherwise).
        """
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or {"state", "param_groups"} - set(state_dict):
            raise ValueError(f"{who}: expected a dict with 'state' and 'param_groups'")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{who}: expected {len(self.param_groups)} parameter groups, got {len(saved)}")
        by_index = {}
        groups = []
        for i, (group, old) in enumerate(zip(self.param_groups, saved)):
            if len(old["params"]) != len(group["params"]):
                raise ValueError(f"{who}: parameter group {i} has {len(group['params'])} parameters,"
                                 f" the saved group has {len(old['params'])}")
            by_index.update(zip((int(k) for k in old["params"]), group["params"]))
            new = {**self.defaults, **{k: v for k, v in old.items() if k != "params"}}
            groups.append(self._check_group(new, f"{who}: parameter group {i}"))
        state = {}
        for key, entries in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"{who}: state for parameter {key}, which no saved group lists")
            p = by_index[int(key)]
            state[p] = {name: _copy_in(p, name, value, f"{who}: state {key} '{name}'")
                        for name, value in entries.items()}
        for group, new in zip(self.param_groups, groups):
            params = group["params"]
            group.clear()
            group.update(new, params=params)
        self.state = state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


# -- shared pieces of the update rules -----------------------------------------------------
def _direction(xp, p, g, weight_decay, maximize, writable=True):
    """The step direction d = (-g if maximize else g) + weight_decay * p.

    A new array, except that with ``writable=False`` (the caller only reads d) and
    nothing to add or negate, d is g itself.
    """
    if weight_decay != 0:
        d = xp.multiply(p, weight_decay)
        return xp.subtract(d, g, out=d) if maximize else xp.add(d, g, out=d)
    if maximize:
        return xp.negative(g)
    return g.copy() if writable else g


def _lerp_(xp, start, end, weight, tmp):
    """start <- start + weight * (end - start) in place, rounded as torch.lerp rounds it.

    ``tmp`` is scratch space of the same shape; ``end`` is left unchanged.
    """
    xp.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:   # near weight = 1 this form keeps the result close to ``end``
        tmp *= 1 - weight
        xp.subtract(end, tmp, out=start)


def _check_numbers(group, who, **bounds):
    """Check group[key] for each key=dict(low=..., ...) as a finite float within bounds."""
    for key, kw in bounds.items():
        group[key] = checks.real(group[key], key, who, **kw)


def _check_flags(group, who, *keys):
    for key in keys:
        value = group[key]
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{who}: {key} must be True or False, got {value!r}")
        group[key] = bool(value)


def _as_list(params, who):
    if isinstance(params, Parameter):
        return [params]
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{who}: params must be an ordered collection (a list), not a set:"
                        " the order of a set changes between runs")
    if isinstance(params, dict) or not hasattr(params, "__iter__") or hasattr(params, "shape"):
        raise TypeError(f"{who}: params must be a list of Parameters or of parameter groups (dicts),"
                        f" got {type(params).__name__}")
    return list(params)


def _copy_out(value):
    if hasattr(value, "shape"):
        return np.array(backend.to_numpy(value), copy=True)
    return value


def _copy_in(p, name, value, who):
    """A saved state entry for ``p``: arrays in p's dtype and array module, "step" an int."""
    if name == "step":
        return int(value.item() if hasattr(value, "item") else value)
    if hasattr(value, "shape") or isinstance(value, list):
        array = np.asarray(backend.to_numpy(value))
        if array.shape != p.data.shape:
            raise ValueError(f"{who}: expected shape {checks.shape_str(p.data.shape)}, got {checks.shape_str(array.shape)}")
        return backend.array_module(p.data).array(array, dtype=p.data.dtype)
    return value
