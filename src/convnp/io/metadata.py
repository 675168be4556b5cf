"""The metadata keys that ``convnp train`` writes, checked against the model on save and load.

A model file's metadata is free-form, but the commands act on these keys, so when present
they must be what ``convnp train`` writes, bounded, and consistent with the model:

  "input_shape"  [C, H, W]: positive ints, H and W <= MAX_SIDE, C*H*W <= MAX_INPUT_VALUES
                 (``convnp predict`` allocates images of this size), and the model must
                 accept (N, C, H, W)
  "classes"      distinct names (str, or int), one per output of the model for that input shape
  "dataset", "model_name"   str (at most MAX_TEXT characters)
  "border_mean"  the training images' mean border brightness, a number in [0, 255]
  "plan"         {"epochs", "batch_size", "seed", "data_dir"}: how the run was started
  "history", "scheduler"    written by ``TrainState.save`` (train_state.py) for resuming

A value that breaks these rules makes ``load`` raise ModelFileError (``save`` a ValueError).
"""
import numbers

from .errors import Malformed, short

MAX_SIDE = 16384
MAX_INPUT_VALUES = 1 << 24   # 16,777,216 values: a 4096x4096 grey image, 2364x2364 in RGB
MAX_TEXT = 4096
MAX_CLASSES = 100_000


def check_metadata(model, metadata):
    """Raise Malformed unless the known keys of ``metadata`` are well formed and fit ``model``."""
    if not isinstance(metadata, dict):
        return
    for key, check in _CHECKS.items():
        if key in metadata:
            check(metadata[key], f"metadata {key!r}")
    shape = metadata.get("input_shape")
    if shape is None:
        return
    try:
        out = tuple(model.output_shape((None, *shape)))
    except Exception as e:   # a layer's own message says why the shape does not fit
        raise Malformed(f"metadata 'input_shape' {list(shape)} does not fit the model: {e}") from None
    classes = metadata.get("classes")
    if classes is not None and out != (None, len(classes)):
        raise Malformed(f"metadata 'classes' names {len(classes)} classes but the model's output for input"
                        f" {list(shape)} is {_shape(out)}, expected (N, {len(classes)})")


def _input_shape(value, where):
    if not (isinstance(value, (list, tuple)) and len(value) == 3 and all(_is_int(v) and v >= 1 for v in value)):
        raise Malformed(f"{where} must be [C, H, W] with positive ints, got {short(value)}")
    c, h, w = value
    if max(h, w) > MAX_SIDE or c * h * w > MAX_INPUT_VALUES:
        raise Malformed(f"{where} {list(value)} is too large: expected H, W <= {MAX_SIDE} and"
                        f" C*H*W <= {MAX_INPUT_VALUES:,}, got C*H*W = {c * h * w:,}")


def _classes(value, where):
    if not (isinstance(value, (list, tuple)) and 1 <= len(value) <= MAX_CLASSES
            and all((isinstance(v, str) and len(v) <= MAX_TEXT) or _is_int(v) for v in value)):
        raise Malformed(f"{where} must be a list of 1 to {MAX_CLASSES:,} class names (str or int),"
                        f" got {short(value)}")
    if len(set(value)) != len(value):
        raise Malformed(f"{where} must name each class once, got {short(value)}")


def _text(value, where):
    if not (isinstance(value, str) and len(value) <= MAX_TEXT):
        raise Malformed(f"{where} must be a str of at most {MAX_TEXT} characters, got {short(value)}")


def _border_mean(value, where):
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= 255):
        raise Malformed(f"{where} must be a number in [0, 255], got {short(value)}")


def _plan(value, where):
    bounds = {"epochs": 10**6, "batch_size": 10**7, "seed": 2**63}
    if not (isinstance(value, dict) and set(value) == {*bounds, "data_dir"}):
        raise Malformed(f"{where} must have the keys {sorted([*bounds, 'data_dir'])}, got {short(value)}")
    for key, high in bounds.items():
        if not (_is_int(value[key]) and (0 if key == "seed" else 1) <= value[key] <= high):
            raise Malformed(f"{where}: {key} must be an int in [{0 if key == 'seed' else 1}, {high}],"
                            f" got {short(value[key])}")
    if value["data_dir"] is not None:
        _text(value["data_dir"], f"{where}: data_dir")


def _history(value, where):
    epochs = value.get("epochs") if isinstance(value, dict) else None
    if not (isinstance(epochs, list) and all(isinstance(e, dict) and _is_int(e.get("epoch")) for e in epochs)
            and isinstance(value.get("stop_reason"), (str, type(None)))):
        raise Malformed(f"{where} must be {{'epochs': [{{'epoch': 1, ...}}, ...], 'stop_reason': ...}},"
                        f" got {short(value)}")


def _scheduler(value, where):
    if not (isinstance(value, dict) and set(value) == {"class", "state"} and isinstance(value["class"], str)
            and isinstance(value["state"], dict)):
        raise Malformed(f"{where} must be {{'class': name, 'state': {{...}}}}, got {short(value)}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _shape(shape):
    return "(" + ", ".join("N" if v is None else str(v) for v in shape) + ")"


_CHECKS = {"input_shape": _input_shape, "classes": _classes, "dataset": _text, "model_name": _text,
           "border_mean": _border_mean, "plan": _plan, "history": _history, "scheduler": _scheduler}
