"""save and load: a model, and optionally the state of its training, in one model file.

The entries of the file: "model/<key>" for each entry of model.state_dict(), and
"optimizer/<i>", "rng_state/<i>", "metadata/<i>" for the arrays inside those values (see
codec.py). The header's contents: "architecture" (see architecture.py), "training" (each
layer's mode, in model.modules() order), "epoch", "optimizer" ({"class", "param_names",
"state"} or null), "rng_state" and "metadata".
"""
import dataclasses
import inspect
import numbers
import os

import numpy as np

from .. import optim
from ..backend import to_numpy
from ..nn.module import Layer
from .. import init
from .architecture import build, check_rebuilds, describe
from .codec import Decoder, Encoder
from .errors import Malformed, ModelFileError, short
from .files import read_model_file, write_model_file
from .metadata import check_metadata

_CONTENTS = ("architecture", "training", "epoch", "optimizer", "rng_state", "metadata")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


# -- saving --------------------------------------------------------------------------------------
def save(path, model, optimizer=None, *, epoch=None, rng_state=None, metadata=None):
    """Write ``model`` (and optionally a training checkpoint) to the .npz file ``path``.

    Args:
        path: the file written, exactly as given (no ".npz" is appended).
        model: a Layer whose classes are registered (all of ``convnp.nn`` are).
        optimizer: a convnp.optim optimizer over the model's parameters; its state_dict,
            class name and parameter groups (by parameter name) are stored.
        epoch: an int (the number of finished epochs), or None.
        rng_state: a np.random.Generator or BitGenerator (its ``bit_generator.state`` is
            stored), or any value built of dicts, lists, numbers, strings and arrays (for
            example several generators' states by name).
        metadata: anything built of dicts (str keys), lists, tuples, numbers, strings and
            arrays; the keys that ``convnp train`` writes ("input_shape", "classes", ...)
            must fit the model (metadata.py).
    The write is atomic: a temporary file in the same folder, flushed to disk, then moved
    over ``path``; if anything fails, the temporary file is removed and a file already at
    ``path`` is left as it was. Tuples come back as lists, NumPy numbers as Python numbers.
    Raises: TypeError for values that cannot be stored; ValueError for a model whose layers'
        config() would not rebuild it; FileNotFoundError if the folder does not exist.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"convnp.save: expected a Layer as the model, got {type(model).__name__}")
    if epoch is not None and (not isinstance(epoch, numbers.Integral) or isinstance(epoch, bool)):
        raise TypeError(f"convnp.save: epoch must be an int or None, got {epoch!r}")
    arrays = {}
    for key, value in model.state_dict().items():
        array = np.asarray(to_numpy(value))
        if array.dtype.kind not in "biufc":
            raise TypeError(f"convnp.save: {key!r} has dtype {array.dtype}; expected numbers")
        arrays[f"model/{key}"] = array
    contents = {
        "architecture": describe(model),
        "training": [m.training for m in model.modules()],
        "epoch": None if epoch is None else int(epoch),
        "optimizer": None if optimizer is None else _describe_optimizer(optimizer, model, arrays),
        "rng_state": Encoder("rng_state", arrays).encode(_rng_state(rng_state), "rng_state"),
        "metadata": Encoder("metadata", arrays).encode(metadata, "metadata"),
    }
    check_rebuilds(model, contents["architecture"])
    try:
        check_metadata(model, metadata)
    except Malformed as e:
        raise ValueError(f"convnp.save: {e}") from None
    write_model_file(os.fspath(path), arrays, contents)


def _rng_state(rng_state):
    """The state dict of a Generator or BitGenerator; any other value unchanged."""
    if isinstance(rng_state, np.random.Generator):
        return rng_state.bit_generator.state
    if isinstance(rng_state, np.random.BitGenerator):
        return rng_state.state
    return rng_state


def _describe_optimizer(optimizer, model, arrays):
    """The optimizer's header entry: class name, the model's parameter names per group, state_dict.

    The state's arrays are added to ``arrays``. Raises TypeError for an object without
    state_dict(); ValueError for a group holding parameters that are not the model's.
    """
    if not callable(getattr(optimizer, "state_dict", None)):
        raise TypeError(f"convnp.save: the optimizer must have a state_dict() method, got {type(optimizer).__name__}")
    names = None
    groups = getattr(optimizer, "param_groups", None)
    if isinstance(groups, list) and all(isinstance(g, dict) and "params" in g for g in groups):
        by_id = {id(p): name for name, p in model.named_parameters()}
        names = []
        for i, group in enumerate(groups):
            missing = [j for j, p in enumerate(group["params"]) if id(p) not in by_id]
            if missing:
                raise ValueError(f"convnp.save: the optimizer's parameter group {i} holds parameters that are not"
                                 f" the model's (positions {missing}); give the optimizer model.parameters()")
            names.append([by_id[id(p)] for p in group["params"]])
    state = optimizer.state_dict()
    if isinstance(state, dict) and isinstance(state.get("state"), dict):   # parameter indices as JSON keys
        state = {**state, "state": {str(k): v for k, v in state["state"].items()}}
    return {"class": type(optimizer).__name__, "param_names": names,
            "state": Encoder("optimizer", arrays).encode(state, "optimizer.state_dict()")}


# -- loading -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What ``load(path, with_optimizer=True)`` returns: a model and the training state saved with it.

    Attributes:
        model: the rebuilt model, weights and buffers loaded, train/eval modes as saved.
        optimizer_state: the optimizer's state_dict() as saved, tuples as lists (None if
            none was saved);
            ``opt.load_state_dict(ckpt.optimizer_state)`` restores it into an optimizer
            built over ``ckpt.model.parameters()``, or ``build_optimizer(ckpt)`` does both.
        optimizer_class: the saved optimizer's class name ("Adam"), or None.
        optimizer_param_names: per parameter group, the model's parameter names, or None.
        epoch: the saved epoch (an int) or None.
        rng_state: as saved (a bit_generator.state dict when a Generator was given).
        metadata: as saved.
    """

    model: Layer
    optimizer_state: object = None
    optimizer_class: object = None
    optimizer_param_names: object = None
    epoch: object = None
    rng_state: object = None
    metadata: object = None

    def rng(self):
        """A new np.random.Generator in the saved state (rng_state must be one generator's state)."""
        return _generator(self.rng_state)


def _generator(state):
    """A np.random.Generator whose bit generator is in ``state``; ValueError if it is not one's state."""
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        raise ValueError(f"Checkpoint.rng: rng_state is not a NumPy bit generator's state"
                         f" (one of {', '.join(_BIT_GENERATORS)}), got {short(state)}")
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def load(path, with_optimizer=False, classes=()):
    """Rebuild the model saved in ``path``; with ``with_optimizer``, return a Checkpoint.

    The architecture is rebuilt from the file's description with registered layer classes
    only, and the ``nn.Model`` classes of your own given in ``classes`` (a file naming a Model
    class not given there is refused: nothing named in a file is imported), the weights are loaded into it (in the dtype they were saved in) and each layer's
    train/eval mode is restored. The file is read with np.load(allow_pickle=False).
    Raises:
        FileNotFoundError: no file at ``path``.
        ModelFileError (a ValueError) naming the file and the problem: not an .npz file,
            truncated or damaged, no convnp description, written by a newer convnp
            (newer format), an unknown layer class, weights that do not fit the layers,
            a tampered description.
    """
    path = os.fspath(path)
    try:
        classes = _model_classes(classes)
        header, arrays = read_model_file(path, _CONTENTS)
        return _restore(header, arrays, with_optimizer, classes)
    except Malformed as e:
        raise ModelFileError(f"{path}: {e}") from e.__cause__


def _model_classes(classes):
    """{class name: class} for load's ``classes`` (nn.Model subclasses); TypeError otherwise."""
    from ..nn.model import Model

    if isinstance(classes, type):
        classes = [classes]
    table = {}
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise TypeError(f"convnp.load: classes must be nn.Model subclasses, got {cls!r}")
        table[cls.__name__] = cls
    return table


def _restore(header, arrays, with_optimizer, classes=None):
    """The model (or Checkpoint) that a checked header and the file's other entries describe.

    Every entry must be used: model weights, or arrays that the saved values refer to.
    """
    weights = sum(v.size for k, v in arrays.items() if k.startswith("model/"))
    try:
        with init.allocation_budget(weights, "convnp.load"):   # the weights bound what the description may allocate
            model = build(header["architecture"], classes=classes)
    except ValueError as e:
        raise Malformed(str(e)) from e
    _load_weights(model, {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")})
    _set_modes(model, header["training"])
    epoch = header["epoch"]
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool)):
        raise Malformed(f"epoch must be an int or null, got {short(epoch)}")
    decoders = {name: Decoder(name, arrays) for name in ("optimizer", "rng_state", "metadata")}
    rng_state = decoders["rng_state"].decode(header["rng_state"], "rng_state")
    metadata = decoders["metadata"].decode(header["metadata"], "metadata")
    optimizer = _optimizer_entry(header["optimizer"], decoders["optimizer"])
    used = set().union(*(d.used for d in decoders.values()))
    unexpected = sorted(k for k in arrays if not k.startswith("model/") and k not in used)
    if unexpected:
        raise Malformed(f"entries {unexpected} are not described by the file's description (tampered?)")
    if isinstance(rng_state, dict) and "bit_generator" in rng_state:
        try:
            _generator(rng_state)
        except Exception as e:
            raise Malformed(f"rng_state is not a valid bit generator state: {e}") from e
    check_metadata(model, metadata)
    if not with_optimizer:
        return model
    return Checkpoint(model, optimizer["state"], optimizer["class"], optimizer["param_names"], epoch,
                      rng_state, metadata)


def _load_weights(model, state):
    """Load ``state`` into ``model``, first moving the model to the saved float dtype."""
    floats = {v.dtype for v in state.values() if v.dtype.kind == "f"}
    if len(floats) == 1 and {p.dtype for p in model.parameters()} != floats:
        model.to(floats.pop())
    try:
        model.load_state_dict(state)
    except ValueError as e:
        raise Malformed(f"the weights do not fit the described layers: {e}") from e


def _set_modes(model, modes):
    """Set each layer's ``training`` flag from the saved list (one bool per model.modules())."""
    modules = list(model.modules())
    if not isinstance(modes, list) or len(modes) != len(modules) or not all(isinstance(m, bool) for m in modes):
        raise Malformed(f"'training' should list {len(modules)} true/false modes, one per layer, got {short(modes)}")
    for module, mode in zip(modules, modes):
        module.training = mode


def _optimizer_entry(entry, decoder):
    """The optimizer header entry checked, its state decoded: {"class", "param_names", "state"}."""
    if entry is None:
        return {"class": None, "param_names": None, "state": None}
    if not isinstance(entry, dict) or set(entry) != {"class", "param_names", "state"}:
        raise Malformed(f"the optimizer entry should have 'class', 'param_names' and 'state', got {short(entry)}")
    names = entry["param_names"]
    if names is not None and not (isinstance(names, list) and all(
            isinstance(g, list) and all(isinstance(n, str) for n in g) for g in names)):
        raise Malformed(f"the optimizer's param_names should be lists of names, got {short(names)}")
    if not isinstance(entry["class"], str):
        raise Malformed(f"the optimizer's class should be a name, got {short(entry['class'])}")
    state = decoder.decode(entry["state"], "optimizer")
    if isinstance(state, dict) and isinstance(state.get("state"), dict):
        bad = [k for k in state["state"] if not k.isdigit()]
        if bad:
            raise Malformed(f"the optimizer's state should be keyed by parameter numbers, got {short(bad)}")
        state["state"] = {int(k): v for k, v in state["state"].items()}
    return {"class": entry["class"], "param_names": names, "state": state}


# -- rebuilding the optimizer ----------------------------------------------------------------------
def build_optimizer(checkpoint, model=None):
    """The optimizer saved in ``checkpoint``, rebuilt over ``model`` (default checkpoint.model).

    Builds the saved convnp.optim class with the saved parameter groups (the same model
    parameters, by name, with each group's hyper-parameters) and loads its state, so the
    next ``step()`` continues exactly where the saved run stopped.
    Raises ValueError when the checkpoint holds no optimizer, an optimizer that is not in
    convnp.optim, or parameter names the model does not have.
    """
    model = checkpoint.model if model is None else model
    name = checkpoint.optimizer_class
    if name is None:
        raise ValueError("build_optimizer: the checkpoint holds no optimizer state")
    cls = getattr(optim, name, None)
    if not (isinstance(cls, type) and issubclass(cls, optim.Optimizer)):
        raise ValueError(f"build_optimizer: {name!r} is not a convnp.optim optimizer; build it yourself over"
                         " model.parameters() and call its load_state_dict(checkpoint.optimizer_state)")
    if checkpoint.optimizer_param_names is None:
        raise ValueError("build_optimizer: the checkpoint does not say which parameters each group holds")
    params = dict(model.named_parameters())
    saved_groups = checkpoint.optimizer_state["param_groups"]
    groups = []
    for names, saved in zip(checkpoint.optimizer_param_names, saved_groups):
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(f"build_optimizer: the model has no parameters named {missing}")
        groups.append({**{k: v for k, v in saved.items() if k != "params"}, "params": [params[n] for n in names]})
    # the constructor's required hyper-parameters (SGD's lr) come from the first group
    accepted = inspect.signature(cls).parameters
    first = {k: v for k, v in saved_groups[0].items() if k in accepted and k != "params"}
    optimizer = cls(groups, **first)
    optimizer.load_state_dict(checkpoint.optimizer_state)
    return optimizer
