"""Every model computation the server makes, in one place: probabilities, layer outputs, saliency.

- ``probabilities`` is ``train.predict``: eval mode under ``convnp.no_grad()``, no cache kept.
- ``layer_outputs`` is what ``convnp visualize`` draws (``viz._model._run_layers``): the
  model's recorded calls in eval mode (a Sequential's layers, an ``nn.Model``'s calls by
  attribute path), their caches on a tape that is dropped when it returns.
- ``saliency`` is ``viz.saliency_map``: a forward and a backward; between the two the model
  keeps that forward's tape as its cache.
Because a model keeps its last call's cache on itself, any call of another request on the same
model (even under no_grad, which clears it) would take away or replace the tape a saliency's
backward reads. So the caller holds the model's lock (``ModelEntry.call``) for every function
here, and each one drops whatever cache is left (``_forget``) before it returns: nothing of one
request (activations, the image itself) stays in memory for the next.

Inputs are uint8 pixels (C, H, W), scaled to [0, 1] in the model's dtype exactly as
``convnp predict`` and ``train.predict`` do.
"""
import numpy as np

from .. import train
from ..backend import to_numpy
from ..viz import saliency_map
from ..viz._model import _prepare, _run_layers


def probabilities(model, pixels):
    """Class probabilities (K,) for one image (C, H, W), as ``convnp predict`` computes them."""
    try:
        return train.predict(model, pixels[None])[0]
    finally:
        _forget(model)


def layer_outputs(model, pixels):
    """[(name, layer, output)] for each top-level step, outputs as NumPy arrays without the batch axis."""
    try:
        steps = _run_layers(model, _prepare(model, pixels, "convnp serve", one=True))
        return [(name, layer, to_numpy(out)[0]) for name, layer, out in steps]
    finally:
        _forget(model)


def saliency(model, pixels, target=None):
    """(map (H, W), target, probabilities (K,)): |d score[target] / d x| (viz.saliency_map),
    ``target`` the predicted class when None. Parameter gradients are left as they were.
    """
    probs = probabilities(model, pixels)
    if target is None:
        target = int(np.argmax(probs))
    try:
        return saliency_map(model, pixels, target), target, probs
    finally:
        _forget(model)


def conv_weights(conv):
    """A Conv2d's kernels (F, C/groups, KH, KW) as a NumPy array (read only, no lock needed)."""
    return to_numpy(conv.weight.data)


def _forget(model):
    """Drop every cache a forward left on the model's layers."""
    for m in model.modules():
        m._cache = None
