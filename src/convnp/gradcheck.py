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
    """Check ``layer.backward`` against central differences for the input(s) and every parameter.

    Args: layer (float64 parameters; a layer or a Model), x (float64 input, or a tuple of
    inputs for a model with several), dy (upstream gradient, a tuple for several outputs;
    random normal when None), rng (for dy), eps, rtol, atol.
    Returns: {"input": max abs error (or "input 0", "input 1", ...), "<param name>": ..., ...}.
    Raises: GradcheckError naming the first gradient that disagrees.
    """
    from .nn.recording import no_grad

    xs = tuple(np.array(a, dtype=np.float64, copy=True) for a in (x if isinstance(x, tuple) else (x,)))
    with no_grad():
        y = layer(*xs)
    ys = y if isinstance(y, tuple) else (y,)
    if dy is None:
        gen = as_rng(rng)
        dy = tuple(gen.standard_normal(o.shape) for o in ys)
    dys = dy if isinstance(dy, tuple) else (dy,)
    layer.zero_grad()
    layer(*xs)
    dx = layer.backward(*dys)
    dxs = dx if isinstance(dx, tuple) else (dx,)
    analytic = {name: p.grad.copy() for name, p in layer.named_parameters()}

    def value():
        with no_grad():
            out = layer(*xs)
        return sum(float(np.sum(o * d)) for o, d in zip(out if isinstance(out, tuple) else (out,), dys))

    errors = {}
    for i, (a, g) in enumerate(zip(xs, dxs)):
        key = "input" if len(xs) == 1 else f"input {i}"
        errors[key] = compare(key, g, numerical_gradient(value, a, None, eps), rtol, atol)
    for name, p in layer.named_parameters():
        errors[name] = compare(name, analytic[name], numerical_gradient(value, p.data, None, eps), rtol, atol)
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
