"""Training utilities: gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_ do it.

    loss_fn(model(x), y); model.backward(loss_fn.backward())
    total = clip_grad_norm_(model.parameters(), max_norm=1.0)     # before opt.step()
    opt.step()

Frozen parameters (requires_grad False) are left out, as PyTorch leaves out those without a
gradient.
"""
import math
import numbers

import numpy as np


def _grads(parameters, who):
    """The gradient arrays of the trainable Parameters in ``parameters`` (one Parameter or an iterable)."""
    if hasattr(parameters, "grad") and hasattr(parameters, "data"):
        parameters = [parameters]
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"{who}: expected a Parameter or an iterable of Parameters, got {type(parameters).__name__}") from None
    for p in parameters:
        if not (hasattr(p, "grad") and hasattr(p, "requires_grad")):
            raise TypeError(f"{who}: expected Parameters (model.parameters()), got a {type(p).__name__}")
    return [p.grad for p in parameters if p.requires_grad]


def _norm_type(norm_type, who):
    if isinstance(norm_type, str) and norm_type == "inf":
        return math.inf
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool) or not norm_type > 0:
        raise ValueError(f"{who}: norm_type must be a number > 0 or inf, got {norm_type!r}")
    return float(norm_type)


def _vector_norm(a, p):
    """The p-norm of an array viewed as one vector (max |a| for p = inf)."""
    a = np.abs(np.asarray(a, dtype=np.float64).reshape(-1))
    if a.size == 0:
        return 0.0
    if p == math.inf:
        return float(a.max())
    if p == 2:
        return float(np.sqrt(np.dot(a, a)))
    return float(np.sum(a ** p) ** (1.0 / p))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale every gradient by min(1, max_norm / (total + 1e-6)), in place; return the total norm.

    total = the norm_type-norm of all gradients together (the norm of the per-parameter norms),
    measured before clipping. norm_type: a number > 0, or inf (the largest |gradient|).
    Returns: total as a float (0.0 without parameters).
    Raises: RuntimeError when total is NaN or infinite and error_if_nonfinite (the
    gradients are then left as they are); ValueError for a bad max_norm or norm_type.
    """
    who = "clip_grad_norm_"
    grads = _grads(parameters, who)
    p = _norm_type(norm_type, who)
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool) or not max_norm >= 0:
        raise ValueError(f"{who}: max_norm must be a number >= 0, got {max_norm!r}")
    if not grads:
        return 0.0
    total = _vector_norm([_vector_norm(g, p) for g in grads], p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{who}: the total norm of order {p} of the gradients is {total}, so it cannot be clipped;"
                           " pass error_if_nonfinite=False to scale the gradients by it anyway")
    coef = min(float(max_norm) / (total + 1e-6), 1.0)      # NaN stays NaN, as in PyTorch
    with np.errstate(invalid="ignore"):                      # inf * 0 where the total is infinite
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient to [-clip_value, clip_value], in place. Returns None."""
    who = "clip_grad_value_"
    grads = _grads(parameters, who)
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool) or not clip_value >= 0:
        raise ValueError(f"{who}: clip_value must be a number >= 0, got {clip_value!r}")
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
