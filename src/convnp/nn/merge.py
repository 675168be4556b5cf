"""Merge and shape ops for a Model's forward: nn.add, nn.mul, nn.cat, nn.split, nn.reshape.

NumPy's ``+``, ``*``, ``np.concatenate`` and slicing between layer calls are not recorded, so no
gradient could flow back through them; these functions are recorded like layer calls:

    y = nn.add(self.block(x), self.shortcut(x))               # a residual connection
    y = nn.cat([x1, self.up(x2)], dim=1)                      # a U-Net skip
    y = nn.mul(x, self.gate(x))                               # squeeze-and-excitation

Each call makes a small parameter-free layer (``Add``, ``Mul``, ...) that keeps its own cache.
Outside a model they simply compute. ``nn.mul`` also takes a ``Parameter`` (a learned scale):
its gradient is added to ``.grad``.
"""
from ..functional import merge as M
from .module import Layer


class Add(Layer):
    """y = x_1 + ... + x_k (broadcasting); see convnp.functional.add_forward."""

    def forward(self, *xs):
        y, self._cache = M.add_forward(*xs, who="nn.add")
        return y

    def backward(self, dy, input_grad=True):
        return M.add_backward(dy, self.take_cache())


class Mul(Layer):
    """y = a * b (broadcasting; one may be a number); see convnp.functional.mul_forward."""

    def forward(self, a, b):
        y, self._cache = M.mul_forward(a, b, who="nn.mul")
        return y

    def backward(self, dy, input_grad=True):
        return M.mul_backward(dy, self.take_cache())


class Cat(Layer):
    """Concatenation along ``dim``; see convnp.functional.cat_forward."""

    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def config(self):
        return {"dim": self.dim}

    def forward(self, *xs):
        y, self._cache = M.cat_forward(xs, self.dim, who="nn.cat")
        return y

    def backward(self, dy, input_grad=True):
        return M.cat_backward(dy, self.take_cache())


class Split(Layer):
    """Pieces of x along ``dim`` (torch.split); see convnp.functional.split_forward."""

    def __init__(self, split_size_or_sections, dim=1):
        super().__init__()
        self.split_size_or_sections = split_size_or_sections
        self.dim = dim

    def config(self):
        sections = self.split_size_or_sections
        return {"split_size_or_sections": sections if isinstance(sections, int) else list(sections), "dim": self.dim}

    def forward(self, x):
        pieces, self._cache = M.split_forward(x, self.split_size_or_sections, self.dim, who="nn.split")
        return pieces

    def backward(self, *dys, input_grad=True):
        return M.split_backward(dys, self.take_cache())


class Reshape(Layer):
    """x.reshape(shape); see convnp.functional.reshape_forward."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def config(self):
        return {"shape": list(self.shape)}

    def forward(self, x):
        y, self._cache = M.reshape_forward(x, self.shape, who="nn.reshape")
        return y

    def backward(self, dy, input_grad=True):
        return M.reshape_backward(dy, self.take_cache())


def add(*arrays):
    """Elementwise sum of two or more arrays, recorded (residual connections)."""
    return Add()(*arrays)


def mul(a, b):
    """Elementwise product (arrays, an array and a number, or a Parameter), recorded (gates, scales)."""
    return Mul()(a, b)


def cat(arrays, dim=1):
    """Concatenate a list of arrays along ``dim`` (torch.cat), recorded (U-Net skips, Inception)."""
    return Cat(dim)(*arrays)


def split(x, split_size_or_sections, dim=1):
    """Split along ``dim`` into pieces of the given size(s) (torch.split), recorded; returns a tuple."""
    return Split(split_size_or_sections, dim)(x)


def reshape(x, shape):
    """x.reshape(shape), recorded."""
    return Reshape(shape)(x)
