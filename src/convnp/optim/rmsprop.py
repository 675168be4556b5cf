"""RMSprop: steps divided by a running root mean square of the gradient."""
from .. import backend
from .optimizer import Optimizer, _check_flags, _check_numbers, _direction, _lerp_


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    Follows torch.optim.RMSprop exactly (same defaults; eps added after the square root).
    For a parameter p with gradient g, each step:

        g <- -g                                   if maximize
        g <- g + weight_decay * p                 if weight_decay != 0
        v <- alpha * v + (1 - alpha) * g * g      (v starts at 0)
        if centered:
            a <- alpha * a + (1 - alpha) * g      (a starts at 0)
            s <- sqrt(v - a * a) + eps
        else:
            s <- sqrt(v) + eps
        if momentum > 0:
            b <- momentum * b + g / s             (b starts at 0)
            p <- p - lr * b
        else:
            p <- p - lr * g / s

    Args: params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
        centered=False, maximize=False.
    State per parameter: "step", "square_avg" (v), "momentum_buffer" (b, when
        momentum > 0), "grad_avg" (a, when centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, who):
        _check_numbers(group, who, lr=dict(low=0), alpha=dict(low=0), eps=dict(low=0),
                       weight_decay=dict(low=0), momentum=dict(low=0))
        _check_flags(group, who, "centered", "maximize")
        return group

    def _update(self, p, state, group):
        xp = backend.array_module(p.data)
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(p.data))
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)
        state["step"] += 1
        d = _direction(xp, p.data, p.grad, group["weight_decay"], group["maximize"],
                       writable=False)
        v = state["square_avg"]
        tmp = xp.empty_like(p.data)
        v *= alpha
        xp.multiply(d, d, out=tmp)
        tmp *= 1 - alpha
        v += tmp
        if group["centered"]:
            a = state["grad_avg"]
            _lerp_(xp, a, d, 1 - alpha, tmp)
            xp.multiply(a, a, out=tmp)
            xp.subtract(v, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(v, out=tmp)
        tmp += group["eps"]
        xp.divide(d, tmp, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += tmp
            xp.multiply(buf, group["lr"], out=tmp)
        else:
            tmp *= group["lr"]
        p.data -= tmp
