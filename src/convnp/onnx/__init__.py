"""ONNX in both directions: export a convnp model to an .onnx file, import an .onnx file as a convnp model.

    convnp.onnx.export(model, "lenet5.onnx", input_shape=(1, 28, 28))   # checked with onnx.checker
    model = convnp.onnx.load("resnet18.onnx")                           # an OnnxModel (an nn.Model)

The imported model runs the graph's nodes as convnp layer calls, so it trains, saves to .npz,
and works with summary(), convnp.viz and the command line. The ``onnx`` package (and
``onnxruntime`` for ``check``) is needed only by the functions that read or write ONNX files:
``pip install 'convnp[onnx]'``.

Modules: export.py and export_layers.py (convnp -> ONNX), reader.py and tensors.py (a file
read and checked), model.py and import_ops*.py (ONNX -> convnp), runtime.py (ONNX Runtime
comparison), command.py (the command line).
"""
from . import command  # noqa: F401  (the command line's export and .onnx models)
from .export import export
from .model import OnnxModel
from .reader import load
from .runtime import check

__all__ = ["export", "load", "check", "OnnxModel"]
