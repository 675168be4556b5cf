"""Nested values (optimizer state, rng_state, metadata) as JSON plus .npz entries, and back.

JSON holds None, bool, int, float, str, lists and dicts with str keys. What else may be saved
is written as an object with a single key, its tag:
  {"__tuple__": [...]}                a tuple
  {"__dict__": [[key, value], ...]}   a dict with a key that is not a str, or starts with "__"
  {"__array__": "<section>/<i>"}      an array, stored as that .npz entry
  {"__scalar__": "<section>/<i>"}     a NumPy scalar, stored as a 0-d entry to keep its dtype
  {"__dtype__": "float32"}            a numeric dtype
  {"__layer__": {...}}                a layer given to a constructor (only in a layer's config;
                                      see architecture.ConfigEncoder)
Plain dicts never have a key starting with "__", so a tag is never mistaken for data, and the
decoded value equals the saved one with the same types (tuples, int keys, np.float32 ...).
"""
import numbers

import numpy as np

from ..backend import to_numpy
from ..nn.module import Layer
from .errors import Malformed, short


class Encoder:
    """Turns a saved value into JSON, tagging what JSON cannot hold exactly.

    Arrays and NumPy scalars are copied into ``arrays`` as the entries "<section>/0",
    "<section>/1", ... and the JSON refers to them by name. Layers are refused (a layer's
    config is encoded by architecture.ConfigEncoder, which overrides the hooks below).

    Args:
        section: the prefix of the entries: "optimizer", "rng_state" or "metadata".
        arrays: the dict of .npz entries being written; entries are added to it.
    """

    allowed = "None, bool, int, float, str, list, tuple, dict, NumPy arrays and scalars, dtypes"

    def __init__(self, section, arrays):
        self.section, self.arrays = section, arrays
        self.count = 0

    def encode(self, value, where):
        """The JSON form of ``value``; ``where`` names it in messages ("metadata['lr']").

        Raises TypeError for a value that cannot be stored (a set, an object array, ...).
        """
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.generic):   # before numbers: np.float64 is a numbers.Real too
            return self.numpy_scalar(value, where)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        dtype = as_dtype(value) if isinstance(value, (np.dtype, type)) else None
        if dtype is not None:
            return {"__dtype__": dtype.name}
        if isinstance(value, Layer):
            return self.layer(value, where)
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return self.array(value, where)
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {"__dict__": [[self.encode(k, f"{where} (a key)"), self.encode(v, f"{where}[{k!r}]")]
                                 for k, v in value.items()]}
        return self.refuse(value, where)

    def numpy_scalar(self, value, where):
        """A NumPy scalar, stored as a 0-d entry so that its dtype comes back."""
        return {"__scalar__": self._store(value, where)}

    def array(self, value, where):
        """An array (NumPy or CuPy), stored as an entry (a NumPy copy)."""
        return {"__array__": self._store(value, where)}

    def layer(self, value, where):
        """Layers are not saved values: refused."""
        return self.refuse(value, where)

    def refuse(self, value, where):
        """Raise the TypeError for a value of a type that cannot be stored."""
        raise TypeError(f"convnp.save: cannot store {where}, a {type(value).__name__}; allowed: {self.allowed}")

    def _store(self, value, where):
        """Copy ``value`` into ``arrays`` under the next free "<section>/<i>"; returns that name."""
        array = np.array(to_numpy(value), copy=True)
        if array.dtype.kind not in "biufcSU":
            raise TypeError(f"convnp.save: {where} is an array of dtype {array.dtype}; model files hold"
                            " no Python objects (no pickle)")
        name = f"{self.section}/{self.count}"
        self.count += 1
        self.arrays[name] = array
        return name


class Decoder:
    """The inverse of Encoder: a saved value back from its JSON and the file's entries.

    Args:
        section: the prefix of the entries this value may refer to; others are refused.
        arrays: the file's entries by name.
    Attributes:
        used: the names of the entries read so far (load refuses entries nothing refers to).
    Raises Malformed (from ``decode``) for a tag that does not fit or an entry not in the file.
    """

    def __init__(self, section, arrays):
        self.section, self.arrays = section, arrays
        self.used = set()
        self._tags = {"__tuple__": self._tuple, "__dict__": self._dict, "__array__": self._array,
                      "__scalar__": self._scalar, "__dtype__": self._dtype, "__layer__": self.layer}

    def decode(self, value, where):
        """The value that ``value`` (JSON, as json.loads gives it) encodes; ``where`` names it."""
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        tag = next(iter(value), None)
        if len(value) == 1 and tag in self._tags:
            return self._tags[tag](value[tag], where)
        if any(k.startswith("__") for k in value):
            raise Malformed(f"{where}: unexpected tagged value {short(value)}")
        return {k: self.decode(v, f"{where}[{k!r}]") for k, v in value.items()}

    def layer(self, body, where):
        """Layers are not saved values: a __layer__ tag here is refused."""
        raise Malformed(f"{where}: a layer may appear only inside a layer's config")

    def _tuple(self, body, where):
        """{"__tuple__": [...]}: a tuple."""
        return tuple(self.decode(_expect(body, list, where), where))

    def _dict(self, body, where):
        """{"__dict__": [[key, value], ...]}: a dict whose keys JSON cannot hold."""
        pairs = _expect(body, list, where)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise Malformed(f"{where}: a tagged dict must hold [key, value] pairs, got {short(body)}")
        return {_hashable(self.decode(k, where), where): self.decode(v, f"{where}[{k!r}]") for k, v in pairs}

    def _dtype(self, body, where):
        """{"__dtype__": "float32"}: a numeric np.dtype."""
        dtype = as_dtype(body) if isinstance(body, str) else None
        if dtype is None:
            raise Malformed(f"{where}: {short(body)} is not a numeric dtype")
        return dtype

    def _array(self, body, where):
        """{"__array__": name}: the entry ``name`` of this section (marked as used)."""
        name = _expect(body, str, where)
        if not name.startswith(f"{self.section}/") or name not in self.arrays:
            raise Malformed(f"{where}: refers to an entry {name!r} that the file does not hold")
        self.used.add(name)
        return self.arrays[name]

    def _scalar(self, body, where):
        """{"__scalar__": name}: the 0-d entry ``name`` as a NumPy scalar of its dtype."""
        array = self._array(body, where)
        if array.ndim != 0:
            raise Malformed(f"{where}: entry {body!r} should hold a scalar, got shape {array.shape}")
        return array[()]


def as_dtype(value):
    """``value`` as a numeric (bool, int, float, complex) np.dtype, or None if it is not one."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        return None
    return dtype if dtype.kind in "biufc" else None


def _expect(body, kind, where):
    """``body`` if it is a ``kind`` (list, str), else Malformed."""
    if not isinstance(body, kind):
        raise Malformed(f"{where}: malformed tagged value, expected a {kind.__name__}, got {short(body)}")
    return body


def _hashable(key, where):
    """``key`` if it can be a dict key, else Malformed."""
    try:
        hash(key)
    except TypeError:
        raise Malformed(f"{where}: a dict key must be hashable, got {short(key)}") from None
    return key
