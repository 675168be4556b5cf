"""The container of a model file: an ordinary .npz archive whose entry "__convnp__" is a header.

The header is UTF-8 JSON in a uint8 array: {"format": "convnp-model", "format_version",
"convnp_version", ...the contents}. ``write_model_file`` writes the archive atomically
(convnp.atomic); ``read_model_file`` reads it without ever unpickling and checks the header's
format and version.
"""
import json
import zipfile
import zlib

import numpy as np

from ..atomic import atomic_write
from .codec import from_format_1
from .errors import Malformed

FORMAT_VERSION = 2   # 2: saved values are JSON-native plus arrays (codec.py); 1 is still read
ENTRY = "__convnp__"
_MAGIC = "convnp-model"
_STAMP = ("format", "format_version", "convnp_version")


# -- writing -----------------------------------------------------------------------------------
def write_model_file(path, arrays, contents):
    """Write the entries ``arrays`` and a header made of the stamp and ``contents`` to ``path``.

    The write is atomic (convnp.atomic): if anything fails, a file already at ``path`` is left
    as it was. Raises FileNotFoundError if the folder does not exist, OSError naming ``path``
    if the disk refuses.
    """
    header = {"format": _MAGIC, "format_version": FORMAT_VERSION, "convnp_version": _version(), **contents}
    text = json.dumps(header, separators=(",", ":"))
    entries = {**arrays, ENTRY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    with atomic_write(path) as f:
        np.savez(f, **entries)


def _version():
    """convnp.__version__ (imported here: the package imports io before it sets it)."""
    from .. import __version__

    return __version__


# -- reading -----------------------------------------------------------------------------------
def read_model_file(path, contents):
    """The header (a dict) and the other entries ({name: array}) of the model file ``path``.

    ``contents`` lists the header keys expected besides the stamp; the header must have
    exactly those. Raises FileNotFoundError if there is no file; Malformed if it is not an
    .npz archive, is damaged, holds pickled objects, has no valid header, or comes from a
    newer format.
    """
    arrays = _read_npz(path)
    return _header(arrays.pop(ENTRY, None), set(_STAMP) | set(contents)), arrays


def _read_npz(path):
    """Every entry of the .npz archive ``path`` as a NumPy array, with allow_pickle=False."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):
            what = "the file is empty" if not head else f"it starts with {head!r}"
            raise Malformed(f"not a convnp model file: expected an .npz archive, {what}")
        f.seek(0)
        name = None
        try:
            with np.load(f, allow_pickle=False) as npz:
                arrays = {}
                for name in npz.files:
                    arrays[name] = npz[name]
                    if not isinstance(arrays[name], np.ndarray):   # np.load gives other members as bytes
                        raise Malformed(f"entry {name!r} is not a NumPy array: not a file written by convnp.save")
        except ValueError as e:
            if "pickle" in str(e):
                raise Malformed(f"refused: entry {name!r} holds pickled Python objects; convnp model files"
                                " never do (possibly a malicious file)") from e
            raise Malformed(f"the file is damaged: {e}") from e
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as e:
            raise Malformed(f"the file is truncated or damaged (not a readable .npz archive: {e})") from e
    return arrays


def _header(raw, expected):
    """The header decoded from the entry ``raw`` (None if missing), checked against ``expected`` keys."""
    if raw is None:
        raise Malformed(f"no architecture entry ({ENTRY}): not a model file written by convnp.save")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise Malformed(f"the {ENTRY} entry should be UTF-8 bytes, got dtype {raw.dtype} shape {raw.shape}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise Malformed(f"the description ({ENTRY}) is not valid JSON; the file was damaged or tampered with"
                        f" ({e})") from e
    if not isinstance(header, dict) or header.get("format") != _MAGIC:
        raise Malformed(f"the {ENTRY} entry is not a convnp model description")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Malformed(f"the description has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise Malformed(f"written by a newer convnp (format {version}); this version reads format {FORMAT_VERSION}:"
                        f" upgrade convnp to load it (the file comes from convnp {header.get('convnp_version')})")
    if set(header) != expected:
        raise Malformed(f"the description should have the keys {sorted(expected)}, got {sorted(header)}")
    return from_format_1(header) if version == 1 else header
