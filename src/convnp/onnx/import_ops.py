"""ONNX operators as convnp layers: convolution, Gemm/MatMul, BatchNormalization.

Each importer reads one node (``builder.Node``) and returns a ``Step``; the layers it makes own
the node's weights (``set_tensor``), so they train and save like any convnp layer. ONNX
defaults are written in ``attrs``; where ONNX and convnp differ the importer translates
(BatchNormalization's momentum m is PyTorch's 1 - m; AveragePool counts padding only with
count_include_pad=1). The other topics: import_activations.py, import_norms.py, import_pool.py,
import_shape.py (shape and merge operators), import_spatial.py (ConvTranspose, Pad, Resize...).
"""
import numpy as np

from .. import nn
from .builder import imports, pads_attr, pair_attr, set_tensor
from . import import_activations, import_norms, import_pool, import_shape, import_spatial  # noqa: F401

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
