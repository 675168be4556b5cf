"""ONNX activation and loss nodes mapped onto convnp's layer API (see onnx_node_layers.py)."""
import numpy as np

from convnp import nn
from onnx_node_layers import LAYERS, maps, need, put

SELU = (1.6732632423543772, 1.0507009873554805)


def activation(op, make):
    LAYERS[op] = lambda node, inputs: make(node)(inputs[0])


def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


activation("Relu", lambda n: nn.ReLU())
activation("Sigmoid", lambda n: nn.Sigmoid())
activation("Tanh", lambda n: nn.Tanh())
activation("LeakyRelu", lambda n: nn.LeakyReLU(n.attrs.get("alpha", 0.01)))
activation("Elu", lambda n: nn.ELU(n.attrs.get("alpha", 1.0)))
activation("Gelu", lambda n: nn.GELU(n.attrs.get("approximate", "none")))
activation("Softmax", lambda n: nn.Softmax(n.attrs.get("axis", -1)))
activation("LogSoftmax", lambda n: nn.LogSoftmax(n.attrs.get("axis", -1)))
activation("Celu", lambda n: nn.CELU(n.attrs.get("alpha", 1.0)))
activation("HardSwish", lambda n: nn.Hardswish())
activation("Mish", lambda n: nn.Mish())
activation("Softplus", lambda n: nn.Softplus())
activation("Softsign", lambda n: nn.Softsign())


@maps("Swish")
def swish(node, inputs):
    need(node.attrs.get("alpha", 1.0) == 1.0, f"alpha={node.attrs.get('alpha')} (SiLU is x * sigmoid(x))")
    return nn.SiLU()(inputs[0])


@maps("Selu")
def selu(node, inputs):
    alpha, gamma = node.attrs.get("alpha", SELU[0]), node.attrs.get("gamma", SELU[1])
    need(close(alpha, SELU[0]) and close(gamma, SELU[1]), f"alpha={alpha}, gamma={gamma}: SELU's are fixed")
    return nn.SELU()(inputs[0])


@maps("HardSigmoid")
def hard_sigmoid(node, inputs):
    """max(0, min(1, alpha * x + beta)): Hardsigmoid for PyTorch's 1/6 and 1/2, else Hardtanh(0, 1) of it."""
    x, alpha, beta = inputs[0], node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    if close(alpha, 1 / 6) and close(beta, 0.5):
        return nn.Hardsigmoid()(x)
    return nn.Hardtanh(0.0, 1.0)(nn.add(nn.mul(x, alpha), np.full_like(x, beta)))


@maps("Clip")
def clip(node, inputs):
    """Hardtanh (ReLU6 for (0, 6)); an absent bound is float32's largest finite value."""
    x, big = inputs[0], float(np.finfo(np.float32).max)
    low = float(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else -big
    high = float(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else big
    need(low < high, f"min {low:g} >= max {high:g}: Hardtanh needs min_val < max_val")
    return (nn.ReLU6() if (low, high) == (0.0, 6.0) else nn.Hardtanh(low, high))(x)


@maps("PRelu")
def prelu(node, inputs):
    x, slope = inputs
    per_channel = slope.size == 1 or (slope.ndim == x.ndim - 1 and slope.shape[1:] == (1,) * (slope.ndim - 1))
    need(per_channel, f"a slope of shape {slope.shape} for x of shape {x.shape}: PReLU has one per channel")
    return put(nn.PReLU(slope.size), weight=slope.reshape(-1))(x)


# -- losses --------------------------------------------------------------------------------------------
def _loss(cls, node, inputs):
    scores, labels = inputs[0], inputs[1]
    weight = inputs[2] if len(inputs) > 2 else None
    loss = cls(weight=weight, ignore_index=node.attrs.get("ignore_index", -100),
               reduction=node.attrs.get("reduction", "mean"))(scores, labels)
    return np.asarray(loss, dtype=scores.dtype)


@maps("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy(node, inputs):
    loss = _loss(nn.CrossEntropyLoss, node, inputs)
    return (loss, nn.LogSoftmax(1)(inputs[0])) if node.n_outputs == 2 else loss


@maps("NegativeLogLikelihoodLoss")
def nll(node, inputs):
    return _loss(nn.NLLLoss, node, inputs)
