"""Running a model for convnp.viz: type check, image preparation, eval mode, layer-by-layer outputs."""
import numpy as np

from ..backend import array_module
from ..nn.module import evaluating


def _check_model(model, who):
    from ..nn.module import Layer

    if not isinstance(model, Layer):
        raise TypeError(f"{who}: expected a convnp model (a Layer), got {type(model).__name__}")


def _model_dtype(model):
    params = model.parameters()
    return params[0].data.dtype if params else np.dtype(np.float32)


def _prepare(model, x, who, one=False):
    """``x`` as a float batch (N, C, H, W) in the model's dtype; (C, H, W) and (H, W) get the missing axes.

    uint8 pixels are scaled to [0, 1]. With ``one``, exactly one image is required.
    """
    xp = array_module(x)
    x = xp.asarray(x)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{who}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if one and x.shape[0] != 1:
        raise ValueError(f"{who}: expected one image (C, H, W) or (1, C, H, W), got a batch of {x.shape[0]}")
    dtype = _model_dtype(model)
    if x.dtype == np.uint8:
        return x.astype(dtype) / dtype.type(255)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{who}: expected image pixels as numbers, got dtype {x.dtype}")
    return x.astype(dtype, copy=False)


def _run_layers(model, x):
    """Run ``x`` through ``model`` in eval mode: [(name, layer, output)] for each call its forward made.

    A Sequential gives its layers in order; any other model (``nn.Model``) its recorded calls,
    named by attribute path ("encoder.0", "head"), merge ops by their op ("add", "cat"); a
    call with several outputs shows its first. A plain layer is one step named "0".
    """
    from ..nn.model import trace
    from ..nn.recording import no_grad

    if not model._records_calls:
        with evaluating(model), no_grad():
            return [("0", model, model(x))]
    _, tape = trace(model, x)
    names = {id(m): name for name, m in model.named_modules() if name}
    return [(names.get(id(call.layer), type(call.layer).__name__.lower()), call.layer, outs[0])
            for call, outs in tape.kept]
