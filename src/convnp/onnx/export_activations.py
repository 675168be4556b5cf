"""ONNX converters of the clipped, gated and smooth activations (ReLU6 ... Softsign); see export_layers.py.

Where ONNX has no operator of the same definition the activation is written as the few nodes
of its formula (SiLU = x * sigmoid(x), LogSigmoid = -softplus(-x)); where an operator arrived
in a later opset (HardSwish 14, Mish 18), older opsets get the formula.
"""
from .. import nn
from .export_layers import Unsupported, exports, intermediate as _op

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946   # PyTorch's


@exports(nn.ReLU6)
def relu6(ex, s):
    ex.node("Clip", [s.ins[0], ex.scalar(0.0), ex.scalar(6.0)], s.outs, s.name)


@exports(nn.Hardtanh)
def hardtanh(ex, s):
    ex.node("Clip", [s.ins[0], ex.scalar(s.layer.min_val), ex.scalar(s.layer.max_val)], s.outs, s.name)


@exports(nn.Hardsigmoid)
def hardsigmoid(ex, s):
    """min(max(x + 3, 0), 6) / 6 = max(0, min(1, x / 6 + 1/2)): HardSigmoid(alpha=1/6, beta=1/2)."""
    ex.node("HardSigmoid", s.ins, s.outs, s.name, alpha=1 / 6, beta=0.5)


@exports(nn.Hardswish)
def hardswish(ex, s):
    if ex.opset >= 14:
        ex.node("HardSwish", s.ins, s.outs, s.name)
        return
    gate = _op(ex, s, "HardSigmoid", [s.ins[0]], "hardsigmoid", alpha=1 / 6, beta=0.5)
    ex.node("Mul", [s.ins[0], gate], s.outs, s.name)


@exports(nn.PReLU)
def prelu(ex, s):
    """PRelu's slope broadcasts from the right: one per channel is (C, 1, 1) for (N, C, H, W)."""
    weight, rank = s.layer.weight, len(s.in_shapes[0])
    if weight.size == 1 or rank <= 2:
        slope = ex.param(weight)
    else:
        slope = ex.converted(weight, weight.data.reshape(weight.size, *[1] * (rank - 2)))
    ex.node("PRelu", [s.ins[0], slope], s.outs, s.name)


@exports(nn.SiLU)
def silu(ex, s):
    ex.node("Mul", [s.ins[0], _op(ex, s, "Sigmoid", [s.ins[0]], "sigmoid")], s.outs, s.name)


@exports(nn.Mish)
def mish(ex, s):
    if ex.opset >= 18:
        ex.node("Mish", s.ins, s.outs, s.name)
        return
    t = _op(ex, s, "Tanh", [_op(ex, s, "Softplus", [s.ins[0]], "softplus")], "tanh")
    ex.node("Mul", [s.ins[0], t], s.outs, s.name)


@exports(nn.SELU)
def selu(ex, s):
    ex.node("Selu", s.ins, s.outs, s.name, alpha=SELU_ALPHA, gamma=SELU_SCALE)


@exports(nn.CELU)
def celu(ex, s):
    ex.node("Celu", s.ins, s.outs, s.name, alpha=float(s.layer.alpha))


@exports(nn.Softplus)
def softplus(ex, s):
    """log(1 + exp(beta * x)) / beta. PyTorch returns x where beta * x > threshold; the formula
    differs from x there by under exp(-threshold), below float32's resolution for a threshold
    of 15 or more (the default is 20), so the threshold is left out and smaller ones refused."""
    beta, threshold = float(s.layer.beta), float(s.layer.threshold)
    if threshold < 15:
        raise Unsupported(f"threshold={threshold:g} < 15: ONNX Softplus has no threshold, and below 15 the"
                          " difference from x shows in float32")
    if beta == 1:
        ex.node("Softplus", s.ins, s.outs, s.name)
        return
    scaled = _op(ex, s, "Mul", [s.ins[0], ex.scalar(beta)], "beta_x")
    ex.node("Mul", [_op(ex, s, "Softplus", [scaled], "softplus"), ex.scalar(1 / beta)], s.outs, s.name)


@exports(nn.LogSigmoid)
def logsigmoid(ex, s):
    """log(sigmoid(x)) = -softplus(-x), stable where sigmoid(x) underflows."""
    negative = _op(ex, s, "Neg", [s.ins[0]], "neg")
    ex.node("Neg", [_op(ex, s, "Softplus", [negative], "softplus")], s.outs, s.name)


@exports(nn.Softsign)
def softsign(ex, s):
    ex.node("Softsign", s.ins, s.outs, s.name)
