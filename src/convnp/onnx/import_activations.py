"""ONNX activation operators as convnp activation layers (see builder.py for the table).

Where an ONNX operator is more general than the convnp layer (HardSigmoid's alpha and beta,
Clip's bounds), the PyTorch case maps to the layer (Hardsigmoid, ReLU6) and the rest to a few
recorded calls of the same formula; attribute values no convnp layer computes are refused.
"""
import numpy as np

from .. import nn
from .builder import imports, set_tensor
from .layers import Erf

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _activation(op, make, **attrs):
    """Register ``op`` as one call of the layer ``make(node)``."""
    imports(op, attrs=attrs)(lambda n: n.layer_step(make(n)))


def _close(a, b):
    """Equal as float32 attributes are (ONNX stores 1/6 as 0.16666667)."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


_activation("Relu", lambda n: nn.ReLU())
_activation("Sigmoid", lambda n: nn.Sigmoid())
_activation("Tanh", lambda n: nn.Tanh())
_activation("LeakyRelu", lambda n: nn.LeakyReLU(n.attr("alpha")), alpha=0.01)
_activation("Elu", lambda n: nn.ELU(n.attr("alpha")), alpha=1.0)
_activation("Gelu", lambda n: nn.GELU(n.only("approximate", "none", "tanh")), approximate="none")
_activation("Celu", lambda n: nn.CELU(n.attr("alpha")), alpha=1.0)
_activation("HardSwish", lambda n: nn.Hardswish())
_activation("Mish", lambda n: nn.Mish())
_activation("Softplus", lambda n: nn.Softplus())
_activation("Softsign", lambda n: nn.Softsign())
_activation("Erf", lambda n: Erf())


@imports("Softmax", "LogSoftmax", attrs={"axis": None})
def softmax(n):
    """Opset 13 on: along ``axis`` (default -1). Before 13: over the input flattened to 2-D at
    ``axis`` (default 1), which is the same as along the last axis when ``axis`` is the last."""
    cls = nn.Softmax if n.op == "Softmax" else nn.LogSoftmax
    if n.opset >= 13:
        return n.layer_step(cls(-1 if n.attr("axis") is None else n.attr("axis")))
    axis = 1 if n.attr("axis") is None else n.attr("axis")
    layer = n.add_layer(cls(1))

    def coerced(x):
        a = axis % x.ndim
        rows = int(np.prod(x.shape[:a]))
        return nn.reshape(layer(nn.reshape(x, (rows, -1))), x.shape)
    return n.step(coerced, n.inputs[:1])


@imports("Clip", static=(1, 2))
def clip(n):
    """Clip(x, min, max): ReLU6 for (0, 6), ReLU for (0, none), else Hardtanh (an absent bound is
    the dtype's largest finite value)."""
    low, high = n.constant(1), n.constant(2)
    big = float(np.finfo(np.float32).max)
    low = -big if low is None else float(low)
    high = big if high is None else float(high)
    if (low, high) == (0.0, 6.0):
        return n.layer_step(nn.ReLU6())
    if (low, high) == (0.0, big):
        return n.layer_step(nn.ReLU())
    if low > high:
        n.fail(f"min {low:g} > max {high:g} is not supported (Hardtanh needs min_val < max_val)")
    return n.layer_step(nn.Hardtanh(low, high))


@imports("HardSigmoid", attrs={"alpha": 0.2, "beta": 0.5})
def hard_sigmoid(n):
    """max(0, min(1, alpha * x + beta)): Hardsigmoid for PyTorch's alpha 1/6, beta 1/2; otherwise
    Hardtanh(0, 1) of nn.mul(x, alpha) plus beta (a fixed operand)."""
    alpha, beta = n.attr("alpha"), n.attr("beta")
    if _close(alpha, 1 / 6) and _close(beta, 0.5):
        return n.layer_step(nn.Hardsigmoid())
    clamp = n.add_layer(nn.Hardtanh(0.0, 1.0))
    shift = n.fixed(np.float32(beta), "beta")
    return n.step(lambda x: clamp(nn.add(nn.mul(x, alpha), shift)), n.inputs[:1])


@imports("PRelu")
def prelu(n):
    """PReLU with one slope, or one per channel: the slope (C, 1, ..., 1) for rank-r inputs
    broadcasts along axis 1 (a (C,) slope does so only for (N, C) inputs)."""
    slope, rank = n.weight(1), n.rank()
    per_channel = slope.ndim >= 1 and slope.shape[1:] == (1,) * (slope.ndim - 1)
    if rank is not None and slope.size > 1 and (slope.ndim != rank - 1 or not per_channel):
        n.fail(f"a slope of shape {slope.shape} for inputs of rank {rank} is not one per channel")
    if rank is None and not per_channel and slope.size > 1:
        n.fail(f"a slope of shape {slope.shape} is not one per channel")
    layer = nn.PReLU(slope.size)
    set_tensor(n, layer, "weight", slope.reshape(-1), source=1, converted=slope.ndim != 1)
    return n.layer_step(layer)


@imports("Swish", attrs={"alpha": 1.0})
def swish(n):
    n.only("alpha", 1.0)
    return n.layer_step(nn.SiLU())


@imports("Selu", attrs={"alpha": SELU_ALPHA, "gamma": SELU_SCALE})
def selu(n):
    if not (_close(n.attr("alpha"), SELU_ALPHA) and _close(n.attr("gamma"), SELU_SCALE)):
        n.fail(f"attributes alpha={n.attr('alpha')}, gamma={n.attr('gamma')} are not supported (SELU's"
               f" fixed alpha {SELU_ALPHA:.7g} and gamma {SELU_SCALE:.7g} are)")
    return n.layer_step(nn.SELU())


@imports("Neg")
def neg(n):
    return n.step(lambda x: nn.mul(x, -1.0), n.inputs[:1])
