"""Layer classes by name, and models described as JSON and rebuilt from that description.

A description is a tree:
  {"class": "Conv2d", "config": {...}}          a layer: layer.config(), JSON-native values;
                                                a layer given to a constructor: {"__layer__": {...}}
  {"class": "Sequential", "layers": [...]}
  {"class": "Residual", "block": {...}, "shortcut": {...} or null}
Only registered classes are described or rebuilt: every layer in ``convnp.nn`` and those
added with ``register_layer``. A class is rebuilt as ``cls(**config)``; nothing else runs.
"""
import numpy as np

from .. import nn
from ..nn.container import Residual, Sequential
from ..nn.model import Model
from ..nn.module import Layer
from .codec import Encoder
from .errors import Malformed, short

_REGISTRY = {}
LAYER = "__layer__"


def register_layer(cls, name=None):
    """Let model files describe and rebuild layers of class ``cls`` (usable as a decorator).

    ``cls`` is rebuilt as ``cls(**layer.config())``, so its ``config()`` must return the
    constructor arguments. Register it before saving and before loading. Returns ``cls``.
    Raises TypeError if ``cls`` is not a Layer subclass or ``name`` is not a non-empty str;
    ValueError if ``name`` (default ``cls.__name__``) is taken by another class.
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
# convnp's own architectures (nn.Model classes) load without being passed to convnp.load
from .. import models as _models  # noqa: E402

for _cls in vars(_models).values():
    if isinstance(_cls, type) and issubclass(_cls, Model):
        register_layer(_cls)


# -- describing --------------------------------------------------------------------------------
def describe(layer, where=""):
    """The JSON description that rebuilds ``layer``; ``where`` is its path in the model ("4.block").

    Raises TypeError for an unregistered class or a config() that cannot be stored.
    """
    cls = type(layer)
    spec = {"class": _registered_name(cls, where)}
    if cls is Sequential:
        spec["layers"] = [describe(child, _join(where, i)) for i, child in enumerate(layer.layers)]
    elif cls is Residual:
        spec["block"] = describe(layer.block, _join(where, "block"))
        spec["shortcut"] = None if layer.shortcut is None else describe(layer.shortcut, _join(where, "shortcut"))
    else:
        config = layer.config()
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise TypeError(f"convnp.save: {cls.__name__}.config() {_at(where)} must return a dict with str keys")
        spec["config"] = {k: _encode_config(v, where, repr(k)) for k, v in config.items()}
    return spec


def check_rebuilds(model, architecture):
    """Refuse (ValueError) a description that does not rebuild ``model``'s weights and buffers.

    Run by save, so that no file is written that load could not read back.
    """
    classes = {type(m).__name__: type(m) for m in model.modules() if isinstance(m, Model)}
    try:
        rebuilt = build(architecture, classes=classes)
    except Malformed as e:
        raise ValueError(f"convnp.save: the model's description does not rebuild it: {e}") from e
    want, got = _shapes(model), _shapes(rebuilt)
    if want != got:
        diff = [k for k in want if want[k] != got.get(k)] + [k for k in got if k not in want]
        first = diff[0]
        raise ValueError(
            f"convnp.save: rebuilding the model from its layers' config() gives different weights:"
            f" {first!r} is {want.get(first)} in the model but {got.get(first)} when rebuilt"
            f" ({len(diff)} difference(s)); check the config() of the layer holding it")


def _registered_name(cls, where):
    """The name ``cls`` is registered under (the first, if several), or a Model's class name
    (rebuilt by ``convnp.load(path, classes=[cls])``); TypeError for another layer class."""
    for name, known in _REGISTRY.items():
        if known is cls:
            return name
    if issubclass(cls, Model):
        return cls.__name__
    raise TypeError(f"convnp.save: {cls.__qualname__} {_at(where)} is not a registered layer class;"
                    f" call convnp.io.register_layer({cls.__name__}) before saving (and before loading)")


def _shapes(model):
    """{state_dict key: shape} over the parameters and buffers of ``model``."""
    shapes = {name: tuple(p.data.shape) for name, p in model.named_parameters()}
    shapes.update((name, tuple(np.shape(b))) for name, b in model.named_buffers())
    return shapes


# -- rebuilding ----------------------------------------------------------------------------------
def build(spec, where="", classes=None):
    """The layer that ``spec`` describes, weights freshly initialised; ``where`` as in describe.

    ``classes`` maps names to the Model classes of your own that the description may name
    (``convnp.load(path, classes=[UNet])``); nothing else is looked up, nothing is imported.
    Raises Malformed for a description that is not well formed, an unknown class name,
    or a config that the class's constructor refuses (its message is included).
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
        raise Malformed(f"expected a layer description {{'class': ...}} {_at(where)}, got {short(spec)}")
    name = spec["class"]
    cls = (classes or {}).get(name) or _REGISTRY.get(name)
    if cls is None:
        raise Malformed(f"unknown layer class {name!r} {_at(where)}; known classes: {', '.join(sorted(_REGISTRY))};"
                        f" a Model of your own is rebuilt with convnp.load(path, classes=[{name}]), a layer of"
                        f" your own needs convnp.io.register_layer({name}) before loading")
    if cls is Sequential:
        _check_keys(spec, {"class", "layers"}, where)
        if not isinstance(spec["layers"], list):
            raise Malformed(f"Sequential {_at(where)}: 'layers' must be a list, got {short(spec['layers'])}")
        return Sequential(*[build(s, _join(where, i), classes) for i, s in enumerate(spec["layers"])])
    if cls is Residual:
        _check_keys(spec, {"class", "block", "shortcut"}, where)
        shortcut = spec["shortcut"]
        return Residual(build(spec["block"], _join(where, "block"), classes),
                        None if shortcut is None else build(shortcut, _join(where, "shortcut"), classes))
    _check_keys(spec, {"class", "config"}, where)
    if not isinstance(spec["config"], dict):
        raise Malformed(f"{name} {_at(where)}: 'config' must be an object, got {short(spec['config'])}")
    config = {k: _decode_config(v, where, repr(k), classes) for k, v in spec["config"].items()}
    try:
        return cls(**config)
    except Exception as e:  # the constructor's own message says what is wrong with the value
        raise Malformed(f"cannot rebuild {name} {_at(where)} from config {short(spec['config'])}: "
                        f"{type(e).__name__}: {e}") from e


def _check_keys(spec, expected, where):
    """Malformed unless the description ``spec`` has exactly the keys ``expected``."""
    if set(spec) != expected:
        raise Malformed(f"{spec['class']} {_at(where)}: expected the keys {sorted(expected)}, got {sorted(spec)}")


# -- a layer's config: JSON-native values, and layers given to a constructor ------------------------
def _encode_config(value, where, path):
    """A config value of the layer at ``where`` as JSON: a layer (a Model's constructor argument)
    becomes {"__layer__": its description}; the rest must be JSON-native (codec.Encoder's rules,
    arrays refused, no dict key starting with "__"). ``path`` names the value: "'sizes'[1]".
    Raises TypeError for what cannot be stored."""
    if isinstance(value, Layer):
        return {LAYER: describe(value, _join(where, path.replace("'", "")))}
    if isinstance(value, (list, tuple)):
        return [_encode_config(v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) and not k.startswith("__") for k in value):
        return {k: _encode_config(v, where, f"{path}[{k!r}]") for k, v in value.items()}
    return Encoder(None, None).encode(value, f"config value {path} of the layer {_at(where)}")


def _decode_config(value, where, key, classes):
    """The inverse of _encode_config: layers rebuilt (with ``classes`` as in build); any other
    key starting with "__" (no config dict has one) is refused as a tampered value."""
    if isinstance(value, list):
        return [_decode_config(v, where, f"{key}[{i}]", classes) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if any(k.startswith("__") for k in value):   # a config's dicts have no such keys: a tag
        if set(value) != {LAYER}:
            raise Malformed(f"config {key} of the layer {_at(where)}: unexpected tagged value {short(value)}")
        return build(value[LAYER], _join(where, key.replace("'", "")), classes)
    return {k: _decode_config(v, where, f"{key}[{k!r}]", classes) for k, v in value.items()}


def _at(where):
    """Where a layer is, for messages: "at layer '4.block'" or "at the top level"."""
    return f"at layer '{where}'" if where else "at the top level"


def _join(where, name):
    """The path of the child ``name`` of the layer at ``where`` ("4" + "block" -> "4.block")."""
    return f"{where}.{name}" if where else str(name)
