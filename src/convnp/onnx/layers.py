"""Small layers that imported graphs need and convnp.nn does not have: a transpose, erf (GELU before
opset 20 is x * 0.5 * (1 + erf(x / sqrt(2)))), and the index conversions between ONNX's
MaxPool/MaxUnpool indices and PyTorch's (convnp's).

They are recorded like any layer call (an integer output of a graph must come from a recorded
call) and rebuilt from the graph description, so they are not registered for model files.
"""
import math

import numpy as np

from .. import checks
from ..functional.erf import erf
from ..nn.module import Layer


class Permute(Layer):
    """y = x.transpose(perm) (ONNX Transpose); backward: dy transposed back.

    Shape: (d_0, ..., d_k) -> (d_perm[0], ..., d_perm[k]).
    """

    def __init__(self, perm):
        super().__init__()
        self.perm = tuple(int(p) for p in perm)
        if sorted(self.perm) != list(range(len(self.perm))):
            raise ValueError(f"Permute: perm must order the axes 0..{len(self.perm) - 1}, got {list(self.perm)}")

    def config(self):
        return {"perm": list(self.perm)}

    def forward(self, x):
        if x.ndim != len(self.perm):
            raise ValueError(f"{self}: expected an input with {len(self.perm)} axes, got shape {tuple(x.shape)}")
        self._cache = True
        return np.ascontiguousarray(x.transpose(self.perm))

    def backward(self, dy, input_grad=True):
        self.take_cache()
        return np.ascontiguousarray(dy.transpose(np.argsort(self.perm)))


class Erf(Layer):
    """y = erf(x) (ONNX Erf); dx = dy * 2 / sqrt(pi) * exp(-x^2)."""

    def forward(self, x):
        checks.floating(x, self)
        self._cache = x
        return erf(x).astype(x.dtype, copy=False)

    def backward(self, dy, input_grad=True):
        x = self.take_cache()
        return dy * (2 / math.sqrt(math.pi)) * np.exp(-x * x)


class OnnxIndices(Layer):
    """MaxPool2d's indices (flat in each (H, W) plane) as ONNX's (flat over (N, C, H, W)).

    forward(indices, x): indices + (n*C + c) * H*W, H and W those of the pooled input x.
    No gradient: indices are integers.
    """

    def forward(self, indices, x):
        n, c = indices.shape[:2]
        offsets = np.arange(n * c, dtype=indices.dtype).reshape(n, c, *[1] * (indices.ndim - 2))
        self._cache = True
        return indices + offsets * (x.shape[2] * x.shape[3])

    def backward(self, dy, input_grad=True):
        self.take_cache()
        return None, None


class PlaneIndices(Layer):
    """ONNX's flat indices as positions in each (H, W) plane (ONNX Mod, the MaxUnpool2d input).

    forward(indices, frame, width=None): p = indices % (H*W) for frame (H, W); with ``width``,
    the position (p // W, p % W) written in a plane of that width: (p // W) * width + p % W
    (ONNX's MaxUnpool indices address the default-size output, which an output_shape pads).
    """

    def forward(self, indices, frame, width=None):
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{self}: expected integer indices, got dtype {indices.dtype}")
        h, w = (checks.positive_int(v, "frame", type(self).__name__) for v in frame)
        self._cache = True
        p = indices % (h * w)
        return p if width is None or width == w else (p // w) * width + p % w

    def backward(self, dy, input_grad=True):
        self.take_cache()
        return None, None
