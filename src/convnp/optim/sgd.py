"""Stochastic gradient descent with momentum, dampening and Nesterov momentum."""
from .. import backend
from .optimizer import Optimizer, _check_flags, _check_numbers, _direction


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Follows torch.optim.SGD exactly (same defaults, same update). For a parameter p with
    gradient g, each step:

        g <- -g                                   if maximize
        g <- g + weight_decay * p                 if weight_decay != 0
        if momentum != 0:
            b <- g                                at the first step (no dampening)
            b <- momentum * b + (1 - dampening) * g    at later steps
            g <- g + momentum * b                 if nesterov
            g <- b                                otherwise
        p <- p - lr * g

    Args: params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
        maximize=False. Nesterov needs momentum > 0 and dampening = 0.
    State per parameter: "momentum_buffer" (b), only when momentum != 0.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, who):
        _check_numbers(group, who, lr=dict(low=0), momentum=dict(low=0), dampening={},
                       weight_decay=dict(low=0))
        _check_flags(group, who, "nesterov", "maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"{who}: Nesterov momentum requires momentum > 0 and dampening = 0,"
                             f" got momentum={group['momentum']}, dampening={group['dampening']}")
        return group

    def _update(self, p, state, group):
        xp = backend.array_module(p.data)
        d = _direction(xp, p.data, p.grad, group["weight_decay"], group["maximize"])
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= momentum
                if group["dampening"] != 0:   # nesterov is off then, so d may be scaled in place
                    d *= 1 - group["dampening"]
                buf += d
            if group["nesterov"]:
                d += momentum * buf
            else:
                d[...] = buf
        d *= group["lr"]
        p.data -= d
