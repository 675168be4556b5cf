"""Model files: one .npz holding the weights and a JSON description that rebuilds the model.

    convnp.save("model.npz", model)                       # weights, buffers, architecture
    model = convnp.load("model.npz")                      # no code needed to rebuild it
    convnp.save("ckpt.npz", model, opt, epoch=3, rng_state=rng, metadata={"note": "..."})
    ckpt = convnp.load("ckpt.npz", with_optimizer=True)   # a Checkpoint
    opt = convnp.io.build_optimizer(ckpt)                 # the same optimizer, state restored

Layout of the file (an ordinary, uncompressed .npz; np.load(path) opens it, no pickle):
  "model/<key>"     each entry of model.state_dict() ("model/0.weight", "model/1.running_mean")
  "optimizer/<i>", "rng_state/<i>", "metadata/<i>"   arrays found inside those values
  "__convnp__"      UTF-8 JSON (a uint8 array): {"format": "convnp-model", "format_version": 1,
                    "convnp_version", "architecture", "training", "epoch", "rng_state",
                    "metadata", "optimizer"}
The architecture is a tree of {"class": name, "config": layer.config()}, with Sequential as
{"class": "Sequential", "layers": [...]} and Residual as {"class": "Residual", "block": ...,
"shortcut": ... or null}. Values that JSON cannot hold exactly are tagged: {"__tuple__": [...]},
{"__dict__": [[key, value], ...]} (non-string keys), {"__array__": entry}, {"__scalar__":
entry} (a NumPy scalar kept with its dtype), {"__dtype__": "float32"}, {"__layer__": {...}}
(a layer passed to a constructor). Any change to this layout raises FORMAT_VERSION.

Only classes in the registry are rebuilt: every layer in ``convnp.nn`` and those added with
``register_layer``. Bad files raise ModelFileError (a ValueError) naming the file and the
problem; the file is never executed or unpickled.
"""
import dataclasses
import inspect
import json
import numbers
import os
import tempfile
import zipfile
import zlib

import numpy as np

from . import nn
from .backend import to_numpy
from .nn.container import Residual, Sequential
from .nn.module import Layer

__all__ = ["FORMAT_VERSION", "save", "load", "Checkpoint", "build_optimizer", "register_layer",
           "ModelFileError"]

FORMAT_VERSION = 1
_ENTRY = "__convnp__"
_MAGIC = "convnp-model"
_TAGS = ("__tuple__", "__dict__", "__array__", "__scalar__", "__dtype__", "__layer__")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class ModelFileError(ValueError):
    """A model file that cannot be read: damaged, tampered, from a newer convnp, or not ours."""


class _Bad(Exception):
    """A problem with the file's contents; ``load`` adds the path and raises ModelFileError."""


# -- the registry of layer classes --------------------------------------------------------
_REGISTRY = {}


def register_layer(cls, name=None):
    """Let model files describe and rebuild layers of class ``cls`` (usable as a decorator).

    ``cls`` is rebuilt as ``cls(**layer.config())``, so its ``config()`` must return the
    constructor arguments. Register it before saving and before loading. Returns ``cls``.
    Raises ValueError if ``name`` (default ``cls.__name__``) is taken by another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer: expected a Layer subclass, got {cls!r}")
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_layer: name must be a non-empty str, got {name!r}")
    other = _REGISTRY.get(name)
    if other is not None and other is not cls:
        raise ValueError(f"register_layer: the name {name!r} is taken by {other.__module__}.{other.__qualname__};"
                         f" register {cls.__qualname__} under another name")
    _REGISTRY[name] = cls
    return cls


for _cls in vars(nn).values():
    if isinstance(_cls, type) and issubclass(_cls, Layer) and _cls is not Layer:
        register_layer(_cls)


def _registered_name(cls, where):
    for name, known in _REGISTRY.items():
        if known is cls:
            return name
    raise TypeError(f"convnp.save: {cls.__qualname__} {_at(where)} is not a registered layer class;"
                    f" call convnp.io.register_layer({cls.__name__}) before saving (and before loading)")


def _at(where):
    return f"at layer '{where}'" if where else "at the top level"


def _join(where, name):
    return f"{where}.{name}" if where else str(name)


# -- describing and rebuilding architectures ----------------------------------------------
def _describe(layer, where=""):
    """The JSON tree that rebuilds ``layer`` (see the module docstring)."""
    cls = type(layer)
    spec = {"class": _registered_name(cls, where)}
    if cls is Sequential:
        spec["layers"] = [_describe(child, _join(where, i)) for i, child in enumerate(layer.layers)]
    elif cls is Residual:
        spec["block"] = _describe(layer.block, _join(where, "block"))
        spec["shortcut"] = None if layer.shortcut is None else _describe(layer.shortcut, _join(where, "shortcut"))
    else:
        config = layer.config()
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise TypeError(f"convnp.save: {cls.__name__}.config() {_at(where)} must return a dict with str keys")
        encoder = _Encoder(layer_where=where)
        spec["config"] = {k: encoder.encode(v, k) for k, v in config.items()}
    return spec


def _build(spec, where=""):
    """Rebuild a layer from its JSON description (weights freshly initialised)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
        raise _Bad(f"expected a layer description {{'class': ...}} {_at(where)}, got {_short(spec)}")
    name = spec["class"]
    cls = _REGISTRY.get(name)
    if cls is None:
        raise _Bad(f"unknown layer class {name!r} {_at(where)}; known classes: {', '.join(sorted(_REGISTRY))};"
                   f" a class of your own needs convnp.io.register_layer({name}) before loading")
    if cls is Sequential:
        _keys(spec, {"class", "layers"}, where)
        if not isinstance(spec["layers"], list):
            raise _Bad(f"Sequential {_at(where)}: 'layers' must be a list, got {_short(spec['layers'])}")
        return Sequential(*[_build(s, _join(where, i)) for i, s in enumerate(spec["layers"])])
    if cls is Residual:
        _keys(spec, {"class", "block", "shortcut"}, where)
        shortcut = spec["shortcut"]
        return Residual(_build(spec["block"], _join(where, "block")),
                        None if shortcut is None else _build(shortcut, _join(where, "shortcut")))
    _keys(spec, {"class", "config"}, where)
    if not isinstance(spec["config"], dict):
        raise _Bad(f"{name} {_at(where)}: 'config' must be an object, got {_short(spec['config'])}")
    decoder = _Decoder(layer_where=where)
    config = {k: decoder.decode(v, k) for k, v in spec["config"].items()}
    try:
        return cls(**config)
    except Exception as e:  # the constructor's own message says what is wrong with the value
        raise _Bad(f"cannot rebuild {name} {_at(where)} from config {_short(spec['config'])}: "
                   f"{type(e).__name__}: {e}") from e


def _keys(spec, expected, where):
    if set(spec) != expected:
        raise _Bad(f"{spec['class']} {_at(where)}: expected the keys {sorted(expected)}, got {sorted(spec)}")


def _short(value, limit=120):
    try:
        text = json.dumps(value, default=lambda o: f"<{type(o).__name__}>")
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- values that JSON does not hold exactly -------------------------------------------------
class _Encoder:
    """Turns nested values into JSON, tagging what JSON cannot hold exactly.

    With a ``section`` ("optimizer", "metadata", ...), arrays and NumPy scalars go to
    ``arrays`` as "<section>/<i>". Without one (a layer's config), arrays are refused,
    NumPy scalars become Python numbers and layers are described in place.
    """

    def __init__(self, section=None, arrays=None, layer_where=""):
        self.section, self.arrays, self.layer_where = section, arrays, layer_where
        self.count = 0

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.generic):
            if self.section is not None:
                return {"__scalar__": self._store(value, where)}
            if value.dtype.kind in "biuf":
                return value.item()
            return self._refuse(value, where)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, (np.dtype, type)) and _as_dtype(value) is not None:
            return {"__dtype__": _as_dtype(value).name}
        if hasattr(value, "shape") and hasattr(value, "dtype") and self.section is not None:
            return {"__array__": self._store(value, where)}
        if isinstance(value, Layer) and self.section is None:
            return {"__layer__": _describe(value, _join(self.layer_where, where))}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {"__dict__": [[self.encode(k, f"{where} (a key)"), self.encode(v, f"{where}[{k!r}]")]
                                 for k, v in value.items()]}
        return self._refuse(value, where)

    def _store(self, value, where):
        array = np.array(to_numpy(value), copy=True)
        if array.dtype.kind not in "biufcSU":
            raise TypeError(f"convnp.save: {where} is an array of dtype {array.dtype}; model files hold"
                            " no Python objects (no pickle)")
        name = f"{self.section}/{self.count}"
        self.count += 1
        self.arrays[name] = array
        return name

    def _refuse(self, value, where):
        if self.section is None:
            what = f"config value {where!r} of the layer {_at(self.layer_where)}"
            allowed = "None, bool, int, float, str, list, tuple, dict, dtypes, layers"
        else:
            what = where
            allowed = "None, bool, int, float, str, list, tuple, dict, NumPy arrays and scalars, dtypes"
        raise TypeError(f"convnp.save: cannot store {what}, a {type(value).__name__}; allowed: {allowed}")


def _as_dtype(value):
    try:
        dtype = np.dtype(value)
    except TypeError:
        return None
    return dtype if dtype.kind in "biufc" else None


class _Decoder:
    """The inverse of _Encoder; ``arrays`` holds the file's entries and ``used`` the names read."""

    def __init__(self, section=None, arrays=None, layer_where=""):
        self.section, self.arrays, self.layer_where = section, arrays, layer_where
        self.used = set()

    def decode(self, value, where):
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1 and next(iter(value)) in _TAGS:
            tag, body = next(iter(value.items()))
            return getattr(self, "_" + tag.strip("_"))(body, where)
        if any(k.startswith("__") for k in value):
            raise _Bad(f"{where}: unexpected tagged value {_short(value)}")
        return {k: self.decode(v, f"{where}[{k!r}]") for k, v in value.items()}

    def _tuple(self, body, where):
        return tuple(self.decode(_expect(body, list, where), where))

    def _dict(self, body, where):
        pairs = _expect(body, list, where)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise _Bad(f"{where}: a tagged dict must hold [key, value] pairs, got {_short(body)}")
        return {_hashable(self.decode(k, where), where): self.decode(v, f"{where}[{k!r}]") for k, v in pairs}

    def _dtype(self, body, where):
        dtype = _as_dtype(body) if isinstance(body, str) else None
        if dtype is None:
            raise _Bad(f"{where}: {_short(body)} is not a numeric dtype")
        return dtype

    def _layer(self, body, where):
        if self.section is not None:
            raise _Bad(f"{where}: a layer may appear only inside a layer's config")
        return _build(body, _join(self.layer_where, where))

    def _array(self, body, where):
        name = _expect(body, str, where)
        if self.section is None or not name.startswith(self.section + "/") or name not in self.arrays:
            raise _Bad(f"{where}: refers to an entry {name!r} that the file does not hold")
        self.used.add(name)
        return self.arrays[name]

    def _scalar(self, body, where):
        array = self._array(body, where)
        if array.ndim != 0:
            raise _Bad(f"{where}: entry {body!r} should hold a scalar, got shape {array.shape}")
        return array[()]


def _expect(body, kind, where):
    if not isinstance(body, kind):
        raise _Bad(f"{where}: malformed tagged value, expected a {kind.__name__}, got {_short(body)}")
    return body


def _hashable(key, where):
    try:
        hash(key)
    except TypeError:
        raise _Bad(f"{where}: a dict key must be hashable, got {_short(key)}") from None
    return key


# -- saving --------------------------------------------------------------------------------
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
        metadata: anything built of dicts, lists, tuples, numbers, strings and arrays.
    The write is atomic: a temporary file in the same folder, flushed to disk, then moved
    over ``path``; if anything fails, the temporary file is removed and a file already at
    ``path`` is left as it was.
    Raises: TypeError for values that cannot be stored; ValueError for a model whose layers'
        config() would not rebuild it; FileNotFoundError if the folder does not exist.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"convnp.save: expected a Layer as the model, got {type(model).__name__}")
    if epoch is not None and (not isinstance(epoch, numbers.Integral) or isinstance(epoch, bool)):
        raise TypeError(f"convnp.save: epoch must be an int or None, got {epoch!r}")
    arrays = {f"model/{k}": np.asarray(to_numpy(v)) for k, v in model.state_dict().items()}
    for key, value in arrays.items():
        if value.dtype.kind not in "biufc":
            raise TypeError(f"convnp.save: {key[6:]!r} has dtype {value.dtype}; expected numbers")
    header = {
        "format": _MAGIC,
        "format_version": FORMAT_VERSION,
        "convnp_version": _version(),
        "architecture": _describe(model),
        "training": [m.training for m in model.modules()],
        "epoch": None if epoch is None else int(epoch),
        "optimizer": None if optimizer is None else _describe_optimizer(optimizer, model, arrays),
        "rng_state": _Encoder("rng_state", arrays).encode(_rng_state(rng_state), "rng_state"),
        "metadata": _Encoder("metadata", arrays).encode(metadata, "metadata"),
    }
    _check_rebuilds(model, header["architecture"])
    text = json.dumps(header, separators=(",", ":"))
    arrays[_ENTRY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _write_atomic(os.fspath(path), arrays)


def _version():
    from . import __version__

    return __version__


def _rng_state(rng_state):
    if isinstance(rng_state, np.random.Generator):
        return rng_state.bit_generator.state
    if isinstance(rng_state, np.random.BitGenerator):
        return rng_state.state
    return rng_state


def _describe_optimizer(optimizer, model, arrays):
    """Class name, the model's parameter names per group, and the state_dict."""
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
    return {"class": type(optimizer).__name__, "param_names": names,
            "state": _Encoder("optimizer", arrays).encode(optimizer.state_dict(), "optimizer.state_dict()")}


def _check_rebuilds(model, architecture):
    """Refuse to write a file that load could not read back: rebuild and compare the keys."""
    try:
        rebuilt = _build(architecture)
    except _Bad as e:
        raise ValueError(f"convnp.save: the model's description does not rebuild it: {e}") from e
    want, got = _shapes(model), _shapes(rebuilt)
    if want != got:
        diff = [k for k in want if want[k] != got.get(k)] + [k for k in got if k not in want]
        first = diff[0]
        raise ValueError(
            f"convnp.save: rebuilding the model from its layers' config() gives different weights:"
            f" {first!r} is {want.get(first)} in the model but {got.get(first)} when rebuilt"
            f" ({len(diff)} difference(s)); check the config() of the layer holding it")


def _shapes(model):
    shapes = {name: tuple(p.data.shape) for name, p in model.named_parameters()}
    shapes.update((name, tuple(np.shape(b))) for name, b in model.named_buffers())
    return shapes


def _write_atomic(path, arrays):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"convnp.save: cannot write {path}: the folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sync_folder(folder)


def _file_mode(path):
    """The mode of the file being replaced, else what a new file would get (mkstemp gives 0600)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder):
    """Make the rename itself durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- loading -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """What ``load(path, with_optimizer=True)`` returns: a model and the training state saved with it.

    Attributes:
        model: the rebuilt model, weights and buffers loaded, train/eval modes as saved.
        optimizer_state: the optimizer's state_dict() as saved (None if none was saved);
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
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        raise ValueError(f"Checkpoint.rng: rng_state is not a NumPy bit generator's state"
                         f" (one of {', '.join(_BIT_GENERATORS)}), got {_short(state)}")
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def load(path, with_optimizer=False):
    """Rebuild the model saved in ``path``; with ``with_optimizer``, return a Checkpoint.

    The architecture is rebuilt from the file's description with registered layer classes
    only, the weights are loaded into it (in the dtype they were saved in) and each layer's
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
        arrays = _read_npz(path)
        header = _header(arrays)
        return _restore(header, arrays, with_optimizer)
    except _Bad as e:
        raise ModelFileError(f"{path}: {e}") from e.__cause__


def _read_npz(path):
    with open(path, "rb") as f:
        head = f.read(4)
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):
            what = "the file is empty" if not head else f"it starts with {head!r}"
            raise _Bad(f"not a convnp model file: expected an .npz archive, {what}")
        f.seek(0)
        name = None
        try:
            with np.load(f, allow_pickle=False) as npz:
                arrays = {}
                for name in npz.files:
                    arrays[name] = npz[name]
                    if not isinstance(arrays[name], np.ndarray):   # np.load gives other members as bytes
                        raise _Bad(f"entry {name!r} is not a NumPy array: not a file written by convnp.save")
        except ValueError as e:
            if "pickle" in str(e):
                raise _Bad(f"refused: entry {name!r} holds pickled Python objects; convnp model files"
                           " never do (possibly a malicious file)") from e
            raise _Bad(f"the file is damaged: {e}") from e
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as e:
            raise _Bad(f"the file is truncated or damaged (not a readable .npz archive: {e})") from e
    return arrays


def _header(arrays):
    if _ENTRY not in arrays:
        raise _Bad(f"no architecture entry ({_ENTRY}): not a model file written by convnp.save")
    raw = arrays.pop(_ENTRY)
    try:
        if raw.dtype == np.uint8 and raw.ndim == 1:
            text = raw.tobytes().decode("utf-8")
        elif raw.dtype.kind == "U" and raw.ndim == 0:
            text = str(raw[()])
        else:
            raise _Bad(f"the {_ENTRY} entry should be UTF-8 bytes, got dtype {raw.dtype} shape {raw.shape}")
        header = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise _Bad(f"the description ({_ENTRY}) is not valid JSON; the file was damaged or tampered with ({e})") from e
    if not isinstance(header, dict) or header.get("format") != _MAGIC:
        raise _Bad(f"the {_ENTRY} entry is not a convnp model description")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Bad(f"the description has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _Bad(f"written by a newer convnp (format {version}); this version reads format {FORMAT_VERSION}:"
                   f" upgrade convnp to load it (the file comes from convnp {header.get('convnp_version')})")
    expected = {"format", "format_version", "convnp_version", "architecture", "training", "epoch",
                "optimizer", "rng_state", "metadata"}
    if set(header) != expected:
        raise _Bad(f"the description should have the keys {sorted(expected)}, got {sorted(header)}")
    return header


def _restore(header, arrays, with_optimizer):
    model = _build(header["architecture"])
    state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    floats = {v.dtype for v in state.values() if v.dtype.kind == "f"}
    if len(floats) == 1 and {p.dtype for p in model.parameters()} != floats:
        model.to(floats.pop())
    try:
        model.load_state_dict(state)
    except ValueError as e:
        raise _Bad(f"the weights do not fit the described layers: {e}") from e
    _set_modes(model, header["training"])
    epoch = header["epoch"]
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool)):
        raise _Bad(f"epoch must be an int or null, got {_short(epoch)}")
    decoders = {name: _Decoder(name, arrays) for name in ("optimizer", "rng_state", "metadata")}
    rng_state = decoders["rng_state"].decode(header["rng_state"], "rng_state")
    metadata = decoders["metadata"].decode(header["metadata"], "metadata")
    optimizer = _optimizer_entry(header["optimizer"], decoders["optimizer"])
    used = set().union(*(d.used for d in decoders.values()))
    unexpected = sorted(k for k in arrays if not k.startswith("model/") and k not in used)
    if unexpected:
        raise _Bad(f"entries {unexpected} are not described by the file's description (tampered?)")
    if isinstance(rng_state, dict) and "bit_generator" in rng_state:
        try:
            _generator(rng_state)
        except Exception as e:
            raise _Bad(f"rng_state is not a valid bit generator state: {e}") from e
    if not with_optimizer:
        return model
    return Checkpoint(model, optimizer["state"], optimizer["class"], optimizer["param_names"], epoch,
                      rng_state, metadata)


def _set_modes(model, modes):
    modules = list(model.modules())
    if not isinstance(modes, list) or len(modes) != len(modules) or not all(isinstance(m, bool) for m in modes):
        raise _Bad(f"'training' should list {len(modules)} true/false modes, one per layer, got {_short(modes)}")
    for module, mode in zip(modules, modes):
        module.training = mode


def _optimizer_entry(entry, decoder):
    if entry is None:
        return {"class": None, "param_names": None, "state": None}
    if not isinstance(entry, dict) or set(entry) != {"class", "param_names", "state"}:
        raise _Bad(f"the optimizer entry should have 'class', 'param_names' and 'state', got {_short(entry)}")
    names = entry["param_names"]
    if names is not None and not (isinstance(names, list) and all(
            isinstance(g, list) and all(isinstance(n, str) for n in g) for g in names)):
        raise _Bad(f"the optimizer's param_names should be lists of names, got {_short(names)}")
    if not isinstance(entry["class"], str):
        raise _Bad(f"the optimizer's class should be a name, got {_short(entry['class'])}")
    return {"class": entry["class"], "param_names": names, "state": decoder.decode(entry["state"], "optimizer")}


# -- rebuilding the optimizer -----------------------------------------------------------------
def build_optimizer(checkpoint, model=None):
    """The optimizer saved in ``checkpoint``, rebuilt over ``model`` (default checkpoint.model).

    Builds the saved convnp.optim class with the saved parameter groups (the same model
    parameters, by name, with each group's hyper-parameters) and loads its state, so the
    next ``step()`` continues exactly where the saved run stopped.
    Raises ValueError when the checkpoint holds no optimizer, an optimizer that is not in
    convnp.optim, or parameter names the model does not have.
    """
    from . import optim

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
    groups = []
    for names, saved in zip(checkpoint.optimizer_param_names, checkpoint.optimizer_state["param_groups"]):
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(f"build_optimizer: the model has no parameters named {missing}")
        groups.append({**{k: v for k, v in saved.items() if k != "params"}, "params": [params[n] for n in names]})
    accepted = inspect.signature(cls).parameters
    first = {k: v for k, v in checkpoint.optimizer_state["param_groups"][0].items() if k in accepted and k != "params"}
    optimizer = cls(groups, **first)
    optimizer.load_state_dict(checkpoint.optimizer_state)
    return optimizer
