"""Numerical gradient checks by central differences, for layers, losses and plain functions.

For a layer y = f(x; W) and a fixed random upstream gradient dy, the scalar
L = sum(f(x; W) * dy) has dL/dx = layer.backward(dy) and dL/dW = W.grad. Central
differences estimate each entry:

    dL/dx[i] ~ (L(x + eps*e_i) - L(x - eps*e_i)) / (2*eps)        error O(eps^2)

Run checks in float64: in float32 the rounding error of L (~1e-7 * |L|) divided by
2*eps swamps the estimate. The loop over entries is a Python loop on purpose: this
is a test tool, so keep the inputs small (a few hundred entries).
"""
import numpy as np

from .init import as_rng


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its numerical estimate."""


def numerical_gradient(f, x, dy=None, eps=1e-6):
    """Central-difference gradient of ``sum(f() * dy)`` with respect to ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place (and restored).
    With ``dy=None``, ``f()`` must return a scalar.
    """
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        plus = _scalar(f(), dy)
        x[idx] = old - eps
        minus = _scalar(f(), dy)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def _scalar(out, dy):
    return float(out) if dy is None else float(np.sum(out * dy))


def compare(name, analytic, numeric, rtol, atol):
    """Raise GradcheckError unless |analytic - numeric| <= atol + rtol * |numeric| everywhere."""
    analytic = np.asarray(analytic)
    if analytic.shape != numeric.shape:
        raise GradcheckError(f"{name}: gradient shape {analytic.shape} != expected {numeric.shape}")
    err = np.abs(analytic - numeric)
    if np.any(err > atol + rtol * np.abs(numeric)) or not np.all(np.isfinite(analytic)):
        i = tuple(int(k) for k in np.unravel_index(np.argmax(err - rtol * np.abs(numeric)), err.shape))
        raise GradcheckError(
            f"{name}: analytic gradient {float(analytic[i]):.6g} != numerical {float(numeric[i]):.6g}"
            f" at index {i} (max abs error {float(err.max()):.3g})"
        )
    return float(err.max())


def check_layer(layer, x, dy=None, rng=None, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Check ``layer.backward`` against central differences for the input and every parameter.

    Args: layer (float64 parameters), x (float64 input), dy (upstream gradient; random
    normal when None), rng (for dy), eps, rtol, atol.
    Returns: {"input": max abs error, "<param name>": max abs error, ...}.
    Raises: GradcheckError naming the first gradient that disagrees.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    y = layer.forward(x)
    if dy is None:
        dy = as_rng(rng).standard_normal(y.shape)
    layer.zero_grad()
    layer.forward(x)
    dx = layer.backward(dy)
    analytic = {name: p.grad.copy() for name, p in layer.named_parameters()}
    errors = {"input": compare("input", dx, numerical_gradient(lambda: layer.forward(x), x, dy, eps), rtol, atol)}
    for name, p in layer.named_parameters():
        num = numerical_gradient(lambda: layer.forward(x), p.data, dy, eps)
        errors[name] = compare(name, analytic[name], num, rtol, atol)
    return errors


def check_loss(loss_fn, logits, targets, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Check ``loss_fn.backward()`` (d loss / d logits) against central differences."""
    logits = np.array(logits, dtype=np.float64, copy=True)
    loss_fn(logits, targets)
    analytic = loss_fn.backward()
    num = numerical_gradient(lambda: loss_fn(logits, targets), logits, None, eps)
    return {"input": compare("input", analytic, num, rtol, atol)}


def check_function(forward, backward, inputs, dy=None, rng=None, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Check a functional pair ``forward(*inputs) -> (y, cache)``, ``backward(dy, cache) -> grads``.

    ``backward`` returns one gradient per input (a single array when there is one
    input; None for an input that gets no gradient, which is then skipped).
    """
    inputs = [np.array(a, dtype=np.float64, copy=True) for a in inputs]
    y, cache = forward(*inputs)
    if dy is None:
        dy = as_rng(rng).standard_normal(np.shape(y))
    grads = backward(dy, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    errors = {}
    for i, (a, g) in enumerate(zip(inputs, grads)):
        if g is None:
            continue
        num = numerical_gradient(lambda: forward(*inputs)[0], a, dy, eps)
        errors[f"input {i}"] = compare(f"input {i}", g, num, rtol, atol)
    return errors
