"""Local response normalisation across channels (AlexNet)."""
from .. import functional as F
from .. import checks
from .module import Layer


class LocalResponseNorm(Layer):
    """Divide each value by (k + alpha/size * sum of squares over size neighbouring channels)^beta.

    Args: size (channels in the window), alpha=1e-4, beta=0.75, k=1.0 (torch.nn.LocalResponseNorm).
    Shape: input (N, C, *) with at least 3 dimensions -> output same.
    forward: y[c] = x[c] / (k + alpha / size * sum of x[c']^2 for c' in c - size//2 ... c + (size-1)//2)^beta;
    see convnp.functional.local_response_norm_forward for the backward.
    """

    _repr_positional = 1

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = checks.positive_int(size, "size", "LocalResponseNorm")
        self.alpha = checks.real(alpha, "alpha", "LocalResponseNorm")
        self.beta = checks.real(beta, "beta", "LocalResponseNorm")
        self.k = checks.real(k, "k", "LocalResponseNorm")

    def config(self):
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"     # as PyTorch shows it

    def forward(self, x):
        y, self._cache = F.local_response_norm_forward(x, self.size, self.alpha, self.beta, self.k, who=self)
        return y

    def backward(self, dy, input_grad=True):
        return F.local_response_norm_backward(dy, self.take_cache())
