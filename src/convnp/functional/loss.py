"""Losses with mean reduction: cross-entropy from logits, negative log-likelihood, mean squared error.

``*_forward(pred, target, ...) -> (loss, cache)`` gives the loss as a 0-d array in
the prediction's dtype; ``*_backward(dloss, cache)`` gives d(dloss * loss)/d(pred),
with ``dloss`` the upstream scalar (1.0 when the loss is what is minimised).
"""
from .. import backend
from .. import checks


def _check_scores(x, what, who):
    checks.floating(x, who)
    if x.ndim != 2:
        raise ValueError(f"{who}: expected {what} (N, C), got {tuple(x.shape)}")


def cross_entropy_forward(logits, targets, label_smoothing=0.0, who="cross_entropy"):
    """Mean cross-entropy between softmax(logits) and the (smoothed) one-hot targets.

    Args: logits (N, C) float; targets (N,) integer class indices in [0, C);
    label_smoothing eps in [0, 1] (PyTorch's formula).
    Shape: logits (N, C), targets (N,) -> loss ().
    forward:  log p = logits - m - log(sum_c exp(logits_c - m)),  m = max_c logits_c
              q = (1 - eps) * onehot(target) + eps / C           (the smoothed target)
              loss = -1/N * sum_n sum_c q[n, c] * log p[n, c]
    backward: dlogits = dloss * (softmax(logits) - q) / N
    """
    _check_scores(logits, "logits", who)
    n, c = logits.shape
    checks.labels(targets, c, n, who)
    label_smoothing = checks.real(label_smoothing, "label_smoothing", who, 0, 1)
    xp = backend.array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    rows = xp.arange(n)
    nll = -log_p[rows, targets].mean()
    if label_smoothing:
        smooth = -log_p.mean(axis=1).mean()       # -1/N sum_n 1/C sum_c log p[n, c]
        loss = (1 - label_smoothing) * nll + label_smoothing * smooth
    else:
        loss = nll
    return loss, (log_p, targets, label_smoothing)


def cross_entropy_backward(dloss, cache):
    log_p, targets, label_smoothing = cache
    xp = backend.array_module(log_p)
    n, c = log_p.shape
    grad = xp.exp(log_p)
    if label_smoothing:
        grad -= label_smoothing / c
    grad[xp.arange(n), targets] -= 1 - label_smoothing
    grad *= float(dloss) / n if n else 0.0
    return grad


def nll_forward(log_probs, targets, who="nll"):
    """Mean negative log-likelihood of the target classes, given log-probabilities.

    Args: log_probs (N, C) float (e.g. from log_softmax); targets (N,) integer in [0, C).
    Shape: log_probs (N, C), targets (N,) -> loss ().
    forward:  loss = -1/N * sum_n log_probs[n, target_n]
    backward: dlog_probs[n, c] = -dloss / N if c == target_n else 0
    """
    _check_scores(log_probs, "log-probabilities", who)
    n, c = log_probs.shape
    checks.labels(targets, c, n, who)
    xp = backend.array_module(log_probs)
    loss = -log_probs[xp.arange(n), targets].mean()
    return loss, (log_probs.shape, log_probs.dtype, targets)


def nll_backward(dloss, cache):
    shape, dtype, targets = cache
    xp = backend.array_module(targets)
    grad = xp.zeros(shape, dtype=dtype)
    n = shape[0]
    grad[xp.arange(n), targets] = -float(dloss) / n if n else 0.0
    return grad


def mse_forward(pred, target, who="mse"):
    """Mean squared error over all elements.

    Args: pred float array; target float array of the same shape (cast to pred's dtype).
    Shape: pred any, target same -> loss ().
    forward:  loss = 1/K * sum (pred - target)^2,   K = pred.size
    backward: dpred = dloss * 2 * (pred - target) / K
    """
    checks.floating(pred, who)
    if not hasattr(target, "dtype") or target.dtype.kind != "f":
        got = getattr(target, "dtype", type(target).__name__)
        raise TypeError(f"{who}: target must be a floating-point array, got {got}")
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(
            f"{who}: expected target of the prediction's shape {tuple(pred.shape)}, got {tuple(target.shape)}"
        )
    diff = pred - target.astype(pred.dtype, copy=False)
    return (diff * diff).mean(), diff


def mse_backward(dloss, diff):
    return diff * (2 * float(dloss) / diff.size if diff.size else 0.0)
