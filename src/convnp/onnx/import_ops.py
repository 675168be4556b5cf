"""ONNX operators as convnp layers: convolution, Gemm/MatMul, pooling, BatchNormalization.

Each importer reads one node (``builder.Node``) and returns a ``Step``; the layers it makes own
the node's weights (``set_tensor``), so they train and save like any convnp layer. ONNX
defaults are written in ``attrs``; where ONNX and convnp differ the importer translates
(BatchNormalization's momentum m is PyTorch's 1 - m; AveragePool counts padding only with
count_include_pad=1). The activations are in ``import_activations.py``, the other norms in
``import_norms.py``, shape and merge operators in ``import_shape.py``.
"""
import numpy as np

from .. import nn
from .builder import imports, set_tensor
from . import import_activations, import_norms, import_shape  # noqa: F401  (register their operators)

_WINDOW = {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None, "pads": None,
           "strides": None}


# -- convolution, Gemm, MatMul --------------------------------------------------------------------
@imports("Conv", attrs={"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None,
                        "pads": None, "strides": None})
def conv(n):
    w, b = n.weight(1), n.weight(2, required=False)
    if w.ndim != 4:
        n.fail(f"only 2-D convolutions are supported; the weight has shape {w.shape}")
    kernel = tuple(int(k) for k in w.shape[2:])
    if n.attr("kernel_shape") not in (None, list(kernel)):
        n.fail(f"attribute kernel_shape={n.attr('kernel_shape')} does not match the weight's {list(kernel)}")
    stride, dilation = pair_attr(n, "strides"), pair_attr(n, "dilations")
    top, left, bottom, right = pads_attr(n, kernel, stride, dilation)
    group = n.attr("group")
    layer = nn.Conv2d(w.shape[1] * group, w.shape[0], kernel, stride, (top, left) if (top, left) == (bottom, right)
                      else 0, dilation, group, bias=b is not None)
    set_tensor(n, layer, "weight", w, source=1)
    if b is not None:
        set_tensor(n, layer, "bias", b, source=2)
    return padded_step(n, layer, (top, left, bottom, right))


def pair_attr(n, key, default=1):
    """A 2-D attribute (strides, dilations, kernel_shape) as a pair; fail for another length."""
    value = n.attr(key)
    if value is None:
        return (default, default)
    if len(value) != 2:
        n.fail(f"attribute {key}={value} is not 2-D; convnp's layers are 2-D")
    return tuple(int(v) for v in value)


def pads_attr(n, kernel, stride, dilation):
    """(top, left, bottom, right) from pads or auto_pad (SAME_* resolved for stride 1)."""
    auto = n.only("auto_pad", "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto.startswith("SAME"):
        if stride != (1, 1):
            n.fail(f"attribute auto_pad={auto} with strides {list(stride)} is not supported (its padding"
                   " depends on the input size; export with explicit pads)")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        before = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        return (before[0], before[1], totals[0] - before[0], totals[1] - before[1])
    pads = n.attr("pads") or [0, 0, 0, 0]
    if len(pads) != 4:
        n.fail(f"attribute pads={pads} is not 2-D")
    return tuple(int(p) for p in pads)


def padded_step(n, layer, pads):
    """A step calling ``layer``; asymmetric pads become a ZeroPad2d call before it."""
    top, left, bottom, right = pads
    if (top, left) == (bottom, right):
        return n.layer_step(layer)
    if not hasattr(nn, "ZeroPad2d"):
        n.fail(f"asymmetric pads {list(pads)} are not supported")
    pad = n.add_layer(nn.ZeroPad2d((left, right, top, bottom)), "_pad")
    n.add_layer(layer)
    return n.step(lambda x: layer(pad(x)), n.inputs[:1])


@imports("Gemm", attrs={"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
def gemm(n):
    """Y = alpha * A @ B' + beta * C as Linear: weight = alpha * B' transposed, bias = beta * C."""
    n.only("transA", 0)
    b, c = n.weight(1), n.weight(2, required=False)
    if b.ndim != 2:
        n.fail(f"B must be a matrix, got shape {b.shape}")
    weight = (b if n.attr("transB") else b.T) * b.dtype.type(n.attr("alpha"))
    out_features = weight.shape[0]
    layer = nn.Linear(weight.shape[1], out_features, bias=c is not None)
    set_tensor(n, layer, "weight", weight, source=1, converted=not n.attr("transB") or n.attr("alpha") != 1)
    if c is not None:
        if c.size not in (1, out_features) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
            n.fail(f"C of shape {c.shape} is not a bias vector of {out_features} values")
        bias = np.broadcast_to(c.reshape(-1), (out_features,)) * c.dtype.type(n.attr("beta"))
        set_tensor(n, layer, "bias", bias, source=2, converted=c.shape != (out_features,) or n.attr("beta") != 1)
    return n.layer_step(layer)


@imports("MatMul")
def matmul(n):
    """X @ B with B an initializer of shape (in, out): Linear without bias, weight B transposed."""
    b = n.weight(1)
    if b.ndim != 2:
        n.fail(f"B must be a matrix (an initializer), got shape {b.shape}")
    layer = nn.Linear(b.shape[0], b.shape[1], bias=False)
    set_tensor(n, layer, "weight", b.T, source=1, converted=True)
    return n.layer_step(layer)


# -- pooling ----------------------------------------------------------------------------------------
def _pool_args(n):
    """(kernel, stride, padding) of MaxPool/AveragePool; fail for what convnp's pools do not take."""
    kernel = pair_attr(n, "kernel_shape")
    if n.attr("kernel_shape") is None:
        n.fail("attribute kernel_shape is missing")
    stride = pair_attr(n, "strides")
    if pair_attr(n, "dilations") != (1, 1):
        n.fail(f"attribute dilations={n.attr('dilations')} is not supported")
    top, left, bottom, right = pads_attr(n, kernel, stride, (1, 1))
    if (top, left) != (bottom, right):
        n.fail(f"asymmetric pads {[top, left, bottom, right]} are not supported for pooling")
    return kernel, stride, (top, left)


@imports("MaxPool", attrs={**_WINDOW, "storage_order": 0})
def max_pool(n):
    n.only("storage_order", 0)
    kernel, stride, padding = _pool_args(n)
    return n.layer_step(nn.MaxPool2d(kernel, stride, padding, ceil_mode=bool(n.attr("ceil_mode"))))


@imports("AveragePool", attrs={**_WINDOW, "count_include_pad": 0})
def average_pool(n):
    kernel, stride, padding = _pool_args(n)
    return n.layer_step(nn.AvgPool2d(kernel, stride, padding, ceil_mode=bool(n.attr("ceil_mode")),
                                     count_include_pad=bool(n.attr("count_include_pad"))))


@imports("GlobalAveragePool")
def global_average_pool(n):
    if n.rank() not in (None, 4):
        n.fail(f"only 2-D pooling (input rank 4) is supported, got rank {n.rank()}")
    return n.layer_step(nn.AdaptiveAvgPool2d(1))


# -- normalisation -----------------------------------------------------------------------------------
@imports("BatchNormalization", attrs={"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0})
def batch_norm(n):
    """Inference form; ONNX momentum m is PyTorch's 1 - m (the weight of the old running value)."""
    if n.attr("training_mode"):
        n.fail("attribute training_mode=1 is not supported (the node would output its running statistics;"
               " an imported model trains its BatchNorm layers in train mode instead)")
    (scale, bias), mean, var = n.affine(1, 2), n.weight(3), n.weight(4)
    rank = n.rank()
    if rank is not None and rank not in (2, 3, 4):
        n.fail(f"inputs of rank {rank} are not supported (2, 3 and 4 are)")
    cls = nn.BatchNorm1d if rank in (2, 3) else nn.BatchNorm2d
    affine = scale is not None or bias is not None
    layer = cls(mean.shape[0], eps=n.attr("epsilon"), momentum=1.0 - n.attr("momentum"), affine=affine)
    tensors = [("running_mean", mean, 3), ("running_var", var, 4)]
    if affine:
        tensors += [("weight", n.weight(1), 1), ("bias", n.weight(2), 2)]
    for attr, array, i in tensors:
        set_tensor(n, layer, attr, array, source=i)
    return n.layer_step(layer)
