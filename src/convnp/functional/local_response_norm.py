"""Local response normalisation across channels (AlexNet), as torch.nn.LocalResponseNorm."""
from collections import namedtuple

from .. import backend
from .. import checks

LRNCache = namedtuple("LRNCache", "x b size alpha beta")


def _window_sum(a, lo, hi):
    """s[:, c] = sum of a[:, c'] for c - lo <= c' <= c + hi (zero beyond the channel ends)."""
    xp = backend.array_module(a)
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (lo, hi)
    padded = xp.pad(a, pad)
    s = xp.zeros_like(a)
    for j in range(lo + hi + 1):          # size is small (5 in AlexNet): one pass per offset
        s += padded[:, j:j + c]
    return s


def local_response_norm_forward(x, size, alpha=1e-4, beta=0.75, k=1.0, who="local_response_norm"):
    """Divide each value by a power of the sum of squares over ``size`` neighbouring channels.

    Args: x float (N, C, *) with at least 3 dimensions; size (channels in the window); alpha,
    beta, k.
    Shape: x (N, C, *) -> y same.
    forward:  window(c) = channels c - size//2 ... c + (size-1)//2 (zeros beyond the ends)
              b[c] = k + alpha / size * sum over c' in window(c) of x[c']^2
              y[c] = x[c] / b[c]^beta
    backward: g[c] = dy[c] * x[c] * b[c]^(-beta - 1)
              dx[c] = dy[c] / b[c]^beta - 2 * alpha * beta / size * x[c]
                      * sum over the c' whose window holds c (c - (size-1)//2 ... c + size//2) of g[c']
    Cache: LRNCache(x, b, size, alpha, beta).
    """
    checks.floating(x, who)
    if x.ndim < 3:
        raise ValueError(f"{who}: expected input (N, C, *) with at least 3 dimensions, got {tuple(x.shape)}")
    size = checks.positive_int(size, "size", who)
    alpha = checks.real(alpha, "alpha", who)
    beta = checks.real(beta, "beta", who)
    k = checks.real(k, "k", who)
    b = _window_sum(x * x, size // 2, (size - 1) // 2) / size * alpha + k
    return x / b ** beta, LRNCache(x, b, size, alpha, beta)


def local_response_norm_backward(dy, cache):
    x, b, size, alpha, beta = cache
    g = dy * x * b ** (-beta - 1)
    # the adjoint of the window sum: the same window, mirrored
    return dy / b ** beta - (2 * alpha * beta / size) * x * _window_sum(g, (size - 1) // 2, size // 2)


__all__ = ["local_response_norm_forward", "local_response_norm_backward"]
