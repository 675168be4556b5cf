"""Model files: one .npz holding the weights and a JSON description that rebuilds the model.

    convnp.save("model.npz", model)                       # weights, buffers, architecture
    model = convnp.load("model.npz")                      # no code needed to rebuild it
    convnp.save("ckpt.npz", model, opt, epoch=3, rng_state=rng, metadata={"note": "..."})
    ckpt = convnp.load("ckpt.npz", with_optimizer=True)   # a Checkpoint
    opt = convnp.io.build_optimizer(ckpt)                 # the same optimizer, state restored

Layout of the file (an ordinary, uncompressed .npz; np.load(path) opens it, no pickle):
  "model/<key>"     each entry of model.state_dict() ("model/0.weight", "model/1.running_mean")
  "optimizer/<i>", "rng_state/<i>", "metadata/<i>"   arrays found inside those values
  "__convnp__"      UTF-8 JSON (a uint8 array): {"format": "convnp-model", "format_version": 2,
                    "convnp_version", "architecture", "training", "epoch", "rng_state",
                    "metadata", "optimizer"}
The architecture is a tree of {"class": name, "config": layer.config()} (architecture.py).
Saved values are JSON-native (tuples become lists, NumPy numbers Python numbers) plus arrays,
written as {"__array__": "<section>/<i>"} (codec.py). Any change to this layout raises
FORMAT_VERSION; format 1 files are still read.

Only classes in the registry are rebuilt: every layer in ``convnp.nn`` and those added with
``register_layer``. Bad files raise ModelFileError (a ValueError) naming the file and the
problem; the file is never executed or unpickled.

The metadata keys that ``convnp train`` writes and the commands act on ("input_shape",
"classes", ...) are checked against the model and bounded on save and load (metadata.py).

Modules: checkpoint.py (save, load, Checkpoint, build_optimizer), architecture.py (the layer
registry; models as JSON), codec.py (nested values as JSON plus arrays), metadata.py,
files.py (the .npz container and its header: atomic writes, safe reads), errors.py.
"""
from .architecture import register_layer
from .checkpoint import Checkpoint, build_optimizer, load, save
from .errors import ModelFileError
from .files import FORMAT_VERSION

__all__ = ["FORMAT_VERSION", "save", "load", "Checkpoint", "build_optimizer", "register_layer",
           "ModelFileError"]
