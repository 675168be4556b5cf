"""check: run an ONNX file in ONNX Runtime and compare it with the convnp model it came from."""
import os

import numpy as np

from ..nn.module import evaluating
from ..nn.recording import no_grad
from ._require import onnxruntime_package


def run(path, *inputs):
    """The outputs (a list of arrays) of the ONNX file ``path`` run by ONNX Runtime on ``inputs``."""
    ort = onnxruntime_package("convnp.onnx.check")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def check(model, path, input_shape, batch_size=5, seed=0):
    """The largest |ONNX Runtime - convnp| over the outputs, on a random batch (eval mode).

    ``input_shape`` is one sample's shape (or a list of them); the batch is standard normal
    in the model's dtype. Returns a float.
    """
    shapes = input_shape if input_shape and isinstance(input_shape[0], (list, tuple)) else [input_shape]
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch_size, *s)).astype(dtype) for s in shapes]
    with no_grad(), evaluating(model):
        ours = model(*xs)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = run(path, *xs)
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - b))) if a.size else 0.0
               for a, b in zip(ours, theirs))
