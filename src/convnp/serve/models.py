"""The models a server may run: files named on the command line or found under the runs folder.

Each model gets an id ("m1", "m2", ...) when the server first sees its file; requests name a
model by that id only, so no path from a request ever reaches the file system. A file is
loaded once (``convnp.load``), put in eval mode, and its metadata checked and bounded before
anything uses it: the input shape must be small and fit the architecture, the class names must
match the number of outputs.
"""
import glob
import os
import threading

import numpy as np

from .. import io

MAX_SIDE = 512            # largest input height or width a served model may declare
MAX_CLASSES = 10_000
MAX_RUN_MODELS = 200      # at most this many files are taken from the runs folder (newest first)
RUN_PATTERN = os.path.join("*", "model.npz")   # what `convnp train` writes: <runs>/<run>/model.npz


class ModelEntry:
    """One loadable model file: its id, the loaded model and what the page needs to know about it.

    ``error`` is None for a usable model, else the one-line reason it cannot be served (the
    page lists it greyed out). ``lock`` serialises every computation on the model: layers keep
    their forward cache on the layer object, so two requests must not run it at once.
    """

    def __init__(self, model_id, path, name):
        self.id, self.path, self.name = model_id, path, name
        self.lock = threading.Lock()
        self.model = None
        self.error = None
        self.input_shape = None    # (C, H, W)
        self.classes = []
        self.layers = []           # [{"index", "name", "type", "repr", "shape"}] per top-level step
        self.dark_background = False
        self.dataset = None

    def load(self):
        """Load and check the file; on failure keep the reason in ``error`` and return it."""
        try:
            model, meta = _read(self.path)
            self.input_shape = input_shape(meta.get("input_shape"))
            self.layers, n_out = layer_table(model, self.input_shape)
            self.classes = class_names(meta.get("classes"), n_out)
            self.dataset = meta.get("dataset") if isinstance(meta.get("dataset"), str) else None
            self.dark_background = self.input_shape[0] == 1 and expects_dark_background(self.dataset)
            self.model = model.eval()
            self.error = None
        except io.ModelFileError as e:          # its message names the file
            self.model, self.error = None, str(e)
        except ImportError as e:                # an .onnx file without the onnx package
            self.model, self.error = None, f"{self.path}: {e}"
        except (OSError, ValueError, TypeError) as e:
            self.model, self.error = None, f"{self.path}: {e}"
        return self.error

    def call(self, fn, *args):
        """fn(model, *args) under the model's lock."""
        with self.lock:
            return fn(self.model, *args)

    def describe(self):
        """The JSON the page gets for this model."""
        if self.error:
            return {"id": self.id, "name": self.name, "error": self.error}
        params = sum(int(p.size) for p in self.model.parameters())
        return {"id": self.id, "name": self.name, "input_shape": list(self.input_shape), "classes": self.classes,
                "dataset": self.dataset, "dark_background": self.dark_background, "parameters": params,
                "layers": self.layers, "has_filters": first_conv(self.model) is not None}


def _read(path):
    """(model, metadata) of a convnp model file, or of an .onnx file (its fixed input shape as metadata)."""
    if str(path).lower().endswith(".onnx"):
        from ..onnx.reader import load as load_onnx

        model = load_onnx(os.fspath(path))
        shape = model.input_shape()
        return model, ({"input_shape": list(shape)} if shape else {})
    ckpt = io.load(path, with_optimizer=True)
    return ckpt.model, ckpt.metadata if isinstance(ckpt.metadata, dict) else {}


def input_shape(value):
    """The recorded input shape (C, H, W), checked: C 1 or 3, 1 <= H, W <= MAX_SIDE."""
    if value is None:
        raise ValueError("the file does not record its input shape (files written by `convnp train` do)")
    ok = (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
    if not ok or value[0] not in (1, 3) or not all(1 <= v <= MAX_SIDE for v in value[1:]):
        raise ValueError(f"input_shape must be [C, H, W] with C 1 or 3 and 1 <= H, W <= {MAX_SIDE},"
                         f" got {str(value)[:80]}")
    return tuple(value)


def layer_table(model, shape):
    """([{index, name, type, repr, shape}] per step that /api/layers shows, number of outputs K).

    The steps and their shapes come from one forward pass on a black image of ``shape`` (the
    same ``inference.layer_outputs`` that answers requests), so an input shape that does not
    fit the architecture is refused here, before any request.
    """
    from .inference import layer_outputs

    try:
        steps = layer_outputs(model, np.zeros(shape, np.uint8))
        out = model.output_shape((None, *shape))
    except (ValueError, TypeError) as e:
        raise ValueError(f"input_shape {list(shape)} does not fit the model: {e}") from None
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], int) and 1 <= out[1] <= MAX_CLASSES):
        raise ValueError(f"expected the model to output class scores (N, K) with K <= {MAX_CLASSES}, got {out}")
    rows = [{"index": i, "name": name, "type": type(layer).__name__, "repr": _short_repr(layer),
             "shape": [int(v) for v in output.shape]} for i, (name, layer, output) in enumerate(steps)]
    return rows, int(out[1])


def _short_repr(layer, limit=120):
    text = repr(layer).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def class_names(value, n_out):
    """The recorded class names as strings if there is one per output, else "0" .. "K-1"."""
    if isinstance(value, (list, tuple)) and len(value) == n_out and all(isinstance(c, (str, int)) for c in value):
        return [str(c)[:40] for c in value]
    return [str(k) for k in range(n_out)]


def expects_dark_background(dataset):
    """True for the datasets whose images are light strokes on black (MNIST and Fashion-MNIST)."""
    return dataset in ("mnist", "mnist-sample", "fashion-mnist")


def first_conv(model):
    """The model's first Conv2d, or None."""
    from ..nn.conv import Conv2d

    return next((m for m in model.modules() if isinstance(m, Conv2d)), None)


class ModelStore:
    """The models this server may run: ``paths`` (checked at start) and, when ``runs`` is given,
    every ``<runs>/<run>/model.npz`` (looked for again by ``refresh``).

    Raises ValueError at construction when a file given in ``paths`` cannot be served.
    """

    def __init__(self, paths=(), runs=None):
        self.runs = None if runs is None else os.fspath(runs)
        self._entries = {}     # id -> ModelEntry, in the order they were found
        self._by_path = {}     # real path -> id
        self._lock = threading.Lock()
        errors = [self._add(os.fspath(p), _short_name(os.fspath(p))) for p in paths]
        errors = [e for e in errors if e]
        if errors:
            raise ValueError("; ".join(errors))
        self.refresh()

    def _add(self, path, name):
        """Load ``path`` under a new id unless it is known already; returns the load error or None."""
        real = os.path.realpath(path)
        if real in self._by_path:
            return None
        if not os.path.isfile(path):
            return f"no such model file: {path}"
        entry = ModelEntry(f"m{len(self._entries) + 1}", path, name)
        self._entries[entry.id] = entry
        self._by_path[real] = entry.id
        return entry.load()

    def refresh(self):
        """Look for new model files under the runs folder (nothing to do without one)."""
        if self.runs is None:
            return
        root = os.path.realpath(self.runs)
        found = glob.glob(os.path.join(glob.escape(self.runs), RUN_PATTERN))
        found.sort(key=_mtime, reverse=True)
        with self._lock:
            for path in found[:MAX_RUN_MODELS]:
                real = os.path.realpath(path)
                if real.startswith(root + os.sep):          # a link out of the folder is not "under" it
                    self._add(path, os.path.relpath(path, self.runs))

    def add_run(self, path):
        """Register a model file just written under the runs folder; returns its entry."""
        with self._lock:
            self._add(path, os.path.relpath(path, self.runs))
            return self._entries[self._by_path[os.path.realpath(path)]]

    def get(self, model_id):
        return self._entries.get(model_id)

    def entries(self):
        return list(self._entries.values())

    def default(self):
        """The first usable model, or None."""
        return next((e for e in self._entries.values() if e.error is None), None)


def _short_name(path):
    """What the page calls a file: its folder and name ("20240101-120000/model.npz")."""
    parts = os.path.normpath(path).split(os.sep)
    return os.path.join(*parts[-2:]) if len(parts) > 1 else path


def _mtime(path):
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0

