"""Adagrad: steps divided by the root of the summed squared gradients."""
from .. import backend
from .optimizer import Optimizer, _check_flags, _check_numbers, _direction


class Adagrad(Optimizer):
    """Adagrad: per-entry step sizes that shrink as squared gradients accumulate.

    Follows torch.optim.Adagrad exactly (same defaults; eps added after the square root).
    For a parameter p with gradient g, at step t = 1, 2, ...:

        g <- -g                                   if maximize
        g <- g + weight_decay * p                 if weight_decay != 0
        clr = lr / (1 + (t - 1) * lr_decay)
        s <- s + g * g                            (s starts at initial_accumulator_value)
        p <- p - clr * g / (sqrt(s) + eps)

    Args: params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
        eps=1e-10, maximize=False.
    State per parameter: "step" and "sum" (s), created with the parameter's group (as in
        PyTorch, so state_dict() shows them before the first step).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, who):
        _check_numbers(group, who, lr=dict(low=0), lr_decay=dict(low=0), weight_decay=dict(low=0),
                       initial_accumulator_value=dict(low=0), eps=dict(low=0))
        _check_flags(group, who, "maximize")
        return group

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            xp = backend.array_module(p.data)
            self.state[p] = {"step": 0,
                             "sum": xp.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, state, group):
        xp = backend.array_module(p.data)
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        d = _direction(xp, p.data, p.grad, group["weight_decay"], group["maximize"],
                       writable=False)
        s = state["sum"]
        tmp = xp.multiply(d, d)
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += group["eps"]
        xp.divide(d, tmp, out=tmp)
        tmp *= clr
        p.data -= tmp
