"""Adam and AdamW: moment estimates with bias correction."""
from .. import backend
from .. import checks
from .optimizer import Optimizer, _check_flags, _check_numbers, _direction, _lerp_


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient and of its square.

    Follows torch.optim.Adam exactly (same defaults, same update, eps added after the
    square root of the bias-corrected second moment). For a parameter p with gradient g,
    at step t = 1, 2, ...:

        g <- -g                                   if maximize
        g <- g + weight_decay * p                 if weight_decay != 0   (L2 penalty)
        m <- beta1 * m + (1 - beta1) * g          (m starts at 0)
        v <- beta2 * v + (1 - beta2) * g * g      (v starts at 0)
        v_max <- max(v_max, v)                    if amsgrad, and v_max replaces v below
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args: params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
        maximize=False. Each beta must be in [0, 1).
    State per parameter: "step" (t, an int), "exp_avg" (m), "exp_avg_sq" (v) and, with
        amsgrad, "max_exp_avg_sq" (v_max).
    """

    _decoupled = False     # AdamW: weight decay shrinks p directly instead of adding to g

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, maximize=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group, who):
        _check_numbers(group, who, lr=dict(low=0), eps=dict(low=0), weight_decay=dict(low=0))
        _check_flags(group, who, "amsgrad", "maximize")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{who}: betas must be a pair of numbers, got {betas!r}")
        group["betas"] = tuple(checks.real(b, f"betas[{i}]", who, low=0, high=1, high_open=True)
                               for i, b in enumerate(betas))
        return group

    def _update(self, p, state, group):
        xp = backend.array_module(p.data)
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        if self._decoupled and weight_decay != 0:
            p.data *= 1 - lr * weight_decay
            weight_decay = 0
        d = _direction(xp, p.data, p.grad, weight_decay, group["maximize"],
                       writable=False)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = xp.empty_like(p.data)
        _lerp_(xp, m, d, 1 - beta1, tmp)
        v *= beta2
        xp.multiply(d, d, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        step_size = lr / (1 - beta1 ** t)
        xp.sqrt(v, out=tmp)
        tmp /= (1 - beta2 ** t) ** 0.5
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        p.data -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: p shrinks by lr * weight_decay * p each step.

    Follows torch.optim.AdamW exactly: the update of Adam above with weight_decay left
    out of g, and before it

        p <- p * (1 - lr * weight_decay)

    Args: params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
        amsgrad=False, maximize=False. State as in Adam.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)

