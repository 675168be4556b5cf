"""Saved values (optimizer state, rng_state, metadata, layer configs) as JSON plus .npz entries.

A saved value is made of what JSON holds: None, bool, int, float, str, lists and dicts with
str keys; tuples are written as lists and NumPy numbers as Python numbers. Arrays are the
one addition: each is stored as the .npz entry "<section>/<i>" and written in the JSON as
{"__array__": "<section>/<i>"}, so "__array__" is the one key a saved dict may not use.
Anything else (a set, a dtype, a layer, an int key) is refused when saving, with its place.

Format 1 (convnp 0.1.0 before this change) also tagged tuples, non-str keys, NumPy scalars
and dtypes; ``from_format_1`` turns such a header into today's form when it is read.
"""
import numbers

import numpy as np

from ..backend import to_numpy
from .errors import Malformed, short

ARRAY = "__array__"


class Encoder:
    """Turns a saved value into JSON; arrays go into ``arrays`` as "<section>/0", "<section>/1", ...

    Args:
        section: the prefix of the entries ("optimizer", "rng_state", "metadata"), or None
            where arrays are refused (a layer's config).
        arrays: the dict of .npz entries being written; entries are added to it.
    """

    def __init__(self, section, arrays):
        self.section, self.arrays = section, arrays
        self.count = 0

    def encode(self, value, where):
        """The JSON form of ``value``; ``where`` names it in messages ("metadata['lr']").

        Raises TypeError for a value that cannot be stored.
        """
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return value.item()
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        if hasattr(value, "shape") and hasattr(value, "dtype") and self.section is not None:
            return {ARRAY: self._store(value, where)}
        if isinstance(value, (list, tuple)):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            bad = next((k for k in value if not isinstance(k, str) or k == ARRAY), None)
            if bad is not None:
                raise TypeError(f"convnp.save: {where} has the key {bad!r}; keys must be str (and not {ARRAY!r})")
            return {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
        allowed = "None, bool, int, float, str, list, tuple, dict with str keys"
        if self.section is not None:
            allowed += ", NumPy arrays"
        raise TypeError(f"convnp.save: cannot store {where}, a {type(value).__name__}; allowed: {allowed}")

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

    Args: section (entries of other sections are refused), arrays: the file's entries by name.
    Attributes: used: the names of the entries read so far (load refuses entries nothing uses).
    Raises Malformed (from ``decode``) for a malformed reference or an entry not in the file.
    """

    def __init__(self, section, arrays):
        self.section, self.arrays = section, arrays
        self.used = set()

    def decode(self, value, where):
        """The value that ``value`` (JSON, as json.loads gives it) encodes; ``where`` names it."""
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if ARRAY not in value:
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in value.items()}
        name = value[ARRAY]
        if len(value) != 1 or not isinstance(name, str):
            raise Malformed(f"{where}: malformed array reference {short(value)}")
        if self.section is None or not name.startswith(f"{self.section}/") or name not in self.arrays:
            raise Malformed(f"{where}: refers to an entry {name!r} that the file does not hold")
        self.used.add(name)
        return self.arrays[name]


def from_format_1(value, where="the description"):
    """The JSON of a format-1 header in today's form: its tagged values as lists, dicts, arrays.

    {"__tuple__": [...]} -> a list; {"__dict__": [[k, v], ...]} -> a dict (keys as str);
    {"__scalar__": name} -> {"__array__": name} (a 0-d array); {"__dtype__": "float32"} ->
    "float32"; {"__layer__": description} (in a layer's config) stays.
    """
    if isinstance(value, list):
        return [from_format_1(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, body), = value.items()
        if tag == "__tuple__" and isinstance(body, list):
            return from_format_1(body, where)
        if tag == "__dict__" and isinstance(body, list) and all(isinstance(p, list) and len(p) == 2 for p in body):
            return {str(from_format_1(k, where)): from_format_1(v, where) for k, v in body}
        if tag == "__scalar__":
            return {ARRAY: body}
        if tag == "__dtype__" and isinstance(body, str):
            return body
        if tag == "__layer__":   # a layer given to a constructor: the same form today
            return {tag: from_format_1(body, where)}
    return {k: from_format_1(v, where) for k, v in value.items()}
