"""Receptive field, jump and start of every layer of a model, as a table.

For one spatial axis, a unit of a layer's output sees ``r`` input pixels (its receptive
field), neighbouring units sit ``j`` input pixels apart (the jump, or effective stride) and
the first unit's field is centred on input pixel ``start``. A layer with kernel K,
stride S, dilation D and padding P (before the first pixel: top or left) maps them as

    K_eff     = D*(K - 1) + 1                       (the dilated kernel's extent)
    j_out     = j_in * S
    r_out     = r_in + (K_eff - 1) * j_in
    start_out = start_in + ((K_eff - 1)/2 - P) * j_in

starting from the input itself: r = 1, j = 1, start = 0. Coordinates are input pixel
indices (pixel i has its centre at i), so the first output unit sees input rows
start - (r-1)/2 ... start + (r-1)/2; a negative row lies in the zero padding. ``r``
counts padded positions too, so it can exceed the image size.

What each layer does to (r, j, start):
- Conv2d, MaxPool2d, AvgPool2d: the recurrences above (stride defaults to kernel_size
  for pooling; ceil_mode changes the output size, not the geometry).
- Activations, BatchNorm, Dropout, Identity, and any other layer that keeps H and W:
  unchanged (a layer we do not know is noted as "assumed pointwise").
- AdaptiveAvgPool2d: global average pooling (output 1) sees every unit of its input: a
  window as large as the whole map (K = H_in, stride 1), so r grows by (H_in - 1) * j and
  the row says whether that covers the whole input. Another output size H_out that
  divides H_in is the window K = S = H_in / H_out; one that does not gives windows of
  unequal size, so the largest window and the mean stride H_in / H_out are used and the
  row says "approximate".
- Flatten, Linear (and anything after them): every output depends on every unit of the
  previous map, so the field becomes the union of all their fields -- the whole input
  (the row says so). ``jump`` no longer means anything there and is None.
- Sequential: its layers in turn; nested containers give dotted names ("4.block.0").
- Any other nn.Model: its recorded calls on one sample, in order; nn.add, nn.mul and nn.cat
  take the larger field of their inputs (as a Residual does), nn.split keeps it.
- Residual(block, shortcut): the block and the shortcut each run from the Residual's
  input (their layers are listed as "<name>.block.<i>" and "<name>.shortcut.<i>"), and
  the sum's field is the larger of the two fields on each axis (the block's path, as the
  identity shortcut only sees the centre). Jump and start are the block's; a shortcut
  whose jump differs is noted.
"""
import math

import numpy as np

from . import checks
from .functional.columns import resolve_padding
from .nn import activation as _act
from .nn import recording
from .nn.container import Residual, Sequential
from .nn.merge import Add, Cat, Mul, Split
from .nn.model import Model
from .nn.module import evaluating
from .nn.conv import Conv2d
from .nn.dropout import Dropout
from .nn.linear import Flatten, Identity, Linear
from .nn.module import Layer
from .nn.norm import BatchNorm1d, BatchNorm2d
from .nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["receptive_field", "ReceptiveFieldTable"]

# Layers that act on each position by itself (or mix channels only): the field passes through.
_POINTWISE = (Identity, Dropout, BatchNorm1d, BatchNorm2d, _act.ReLU, _act.LeakyReLU, _act.ELU,
              _act.GELU, _act.Sigmoid, _act.Tanh, _act.Softmax, _act.LogSoftmax)
_GLOBAL = (Flatten, Linear)


class ReceptiveFieldTable:
    """The result of ``receptive_field``: ``rows`` (a list of dicts) and a printable text table.

    Each row: ``name`` ("input", "0", "4.block.1"), ``type`` (the layer's class name),
    ``output_shape`` (N shown as None), ``receptive_field`` (r_h, r_w), ``jump`` (j_h, j_w)
    or None after a global layer, ``start`` (s_h, s_w) in input pixel coordinates, and
    ``note`` ("" or a remark such as "whole input").
    ``str(table)`` gives the aligned text; ``table[i]``, ``len(table)`` and iteration
    reach the rows.
    """

    COLUMNS = ("name", "type", "output_shape", "receptive_field", "jump", "start", "note")
    HEADERS = ("Layer", "Type", "Output Shape", "RF", "Jump", "Start", "Note")

    def __init__(self, rows):
        self.rows = list(rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def __iter__(self):
        return iter(self.rows)

    def __str__(self):
        cells = [self.HEADERS] + [
            (r["name"], r["type"], str(r["output_shape"]), _pair_str(r["receptive_field"]),
             _pair_str(r["jump"]), _pair_str(r["start"]), r["note"])
            for r in self.rows
        ]
        widths = [max(len(c[i]) for c in cells) for i in range(len(self.HEADERS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        rule = "-" * max(len(line) for line in lines)
        return "\n".join([lines[0], rule, *lines[1:]])

    def __repr__(self):
        return f"ReceptiveFieldTable({len(self.rows)} rows)\n{self}"


def _pair_str(pair):
    """"5" for (5, 5), "5, 3" for (5, 3), "-" for None; floats without a useless ".0"."""
    if pair is None:
        return "-"
    a, b = (f"{v:g}" for v in pair)
    return a if a == b else f"{a}, {b}"


class _Field:
    """(r, j, start) per axis (h, w); ``global_note`` is set once a global layer has been passed."""

    def __init__(self, r, j, start, global_note=None):
        self.r = tuple(r)
        self.j = None if j is None else tuple(_num(v) for v in j)
        self.start = tuple(start)
        self.global_note = global_note

    def window(self, kernel, stride, dilation, pad_before):
        """The field after a window op with these (h, w) pairs (the recurrences)."""
        r, j, s = [], [], []
        for r_in, j_in, s_in, k, st, d, p in zip(self.r, self.j, self.start, kernel, stride, dilation, pad_before):
            k_eff = d * (k - 1) + 1
            r.append(r_in + (k_eff - 1) * j_in)
            j.append(j_in * st)
            s.append(_num(s_in + ((k_eff - 1) / 2 - p) * j_in))
        return _Field(r, j, s)


def _num(v):
    """Whole floats as ints, so rows read 4 rather than 4.0 and compare with == either way."""
    return int(v) if float(v).is_integer() else float(v)


def receptive_field(model, input_shape):
    """Receptive field size, jump (effective stride) and start of every layer's output.

    Args:
      model: a Layer, usually a Sequential (nested Sequential and Residual are followed).
      input_shape: one sample's shape (C, H, W), or (N, C, H, W).
    Returns: a ReceptiveFieldTable; ``print(table)`` shows it, ``table.rows`` holds the numbers.
      The first row is the input (r = 1, j = 1, start = 0). The recurrences and what each
      layer type does are in this module's docstring.
    Raises:
      TypeError: model is not a Layer.
      ValueError: input_shape is not (C, H, W) or (N, C, H, W), or a layer we cannot follow
        changes the spatial size.
    Example:
      >>> print(receptive_field(convnp.models.lenet5(), (1, 28, 28)))   # doctest: +SKIP
    """
    if not isinstance(model, Layer):
        raise TypeError(f"receptive_field: expected a convnp Layer, got {type(model).__name__}")
    shape = _input_shape(input_shape)
    rows = [_row("input", "", shape, _Field((1, 1), (1, 1), (0, 0)), "")]
    _walk(model, "", shape, rows[0]["_field"], rows, image_hw=shape[2:])
    for row in rows:
        del row["_field"]
    return ReceptiveFieldTable(rows)


def _input_shape(input_shape):
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"receptive_field: input_shape must be a tuple (C, H, W), got {input_shape!r}") from None
    if len(shape) == 3:
        shape = (None, *shape)
    if len(shape) != 4 or not all(isinstance(v, int) and v > 0 for v in shape[1:]):
        raise ValueError(f"receptive_field: expected input_shape (C, H, W) or (N, C, H, W), got {tuple(input_shape)}")
    return shape


def _row(name, kind, shape, field, note):
    return {"name": name, "type": kind, "output_shape": tuple(shape), "receptive_field": field.r,
            "jump": field.j, "start": field.start, "note": note, "_field": field}


def _walk(layer, name, shape, field, rows, image_hw):
    """Append the rows of ``layer`` (and of its sub-layers); return (output shape, field)."""
    if isinstance(layer, Sequential):
        for child_name, child in layer.children():
            shape, field = _walk(child, _join(name, child_name), shape, field, rows, image_hw)
        return shape, field
    if isinstance(layer, Residual):
        return _residual(layer, name, shape, field, rows, image_hw)
    if isinstance(layer, Model):
        return _model(layer, name, shape, field, rows, image_hw)
    out_shape = layer.output_shape(shape)
    field, note = _leaf(layer, shape, out_shape, field, image_hw)
    rows.append(_row(name or "0", type(layer).__name__, out_shape, field, note))
    return out_shape, field


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def _model(model, name, shape, field, rows, image_hw):
    """A Model of your own: its recorded calls on one sample of zeros, each value's field in turn.

    Merge ops (add, mul, cat) take the larger field of their inputs on each axis, as a
    Residual does; split keeps its input's field; sub-models are followed call by call.
    """
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    with evaluating(model):
        _, tape = recording.record(model, (np.zeros((1, *shape[1:]), dtype=dtype),))
    out = _replay_fields(model, tape, name, {tape.inputs[0]: (shape, field)}, rows, image_hw)
    return out


def _replay_fields(model, tape, name, values, rows, image_hw):
    """Fields of the values of ``tape`` (value number -> (shape, field)), appending a row per call."""
    names = {id(m): n for n, m in model.named_modules() if n}
    for call in tape.calls:
        layer = call.layer
        ins = [values[n] for n in call.inputs if isinstance(n, int) and n in values]
        if not ins:
            continue
        child = _join(name, names.get(id(layer), type(layer).__name__.lower()))
        in_shape, field = ins[0]
        if isinstance(layer, (Add, Mul, Cat)):
            shape = (None, *call.out_shapes[0][1:])
            out = _merged([f for _, f in ins])
            rows.append(_row(child, type(layer).__name__, shape, out, "max of its inputs"))
        elif isinstance(layer, Split):
            shape, out = (None, *call.out_shapes[0][1:]), field
        elif isinstance(layer, Model) and not isinstance(layer, (Sequential, Residual)):
            inner = {n: values[o] for n, o in zip(call.cache.inputs, call.inputs) if o in values}
            shape, out = _replay_fields(layer, call.cache, child, inner, rows, image_hw)
        else:
            shape, out = _walk(layer, child, in_shape, field, rows, image_hw)
        for number in call.outputs:
            if number is not None:
                values[number] = (shape, out)
    return values[tape.outputs[0]]


def _merged(fields):
    """The field of a sum or concatenation: the largest on each axis (the first path's jump)."""
    glob = [f for f in fields if f.global_note is not None]
    if glob:
        return glob[0]
    return _Field([max(rs) for rs in zip(*(f.r for f in fields))], fields[0].j, fields[0].start)


def _residual(layer, name, shape, field, rows, image_hw):
    """The block's and the shortcut's rows, then the sum's: the larger field of the two."""
    out_shape, f_block = _walk(layer.block, _join(name, "block"), shape, field, rows, image_hw)
    f_short, note = field, ""
    if layer.shortcut is not None:
        _, f_short = _walk(layer.shortcut, _join(name, "shortcut"), shape, field, rows, image_hw)
    if f_block.global_note is not None or f_short.global_note is not None:
        merged = f_block if f_block.global_note is not None else f_short
    else:
        merged = _Field([max(a, b) for a, b in zip(f_block.r, f_short.r)], f_block.j, f_block.start)
        if f_short.j != f_block.j or f_short.start != f_block.start:
            note = f"shortcut jump {_pair_str(f_short.j)}, start {_pair_str(f_short.start)}"
    rows.append(_row(name or "0", "Residual", out_shape, merged, note or "max of block and shortcut"))
    return out_shape, merged


def _leaf(layer, in_shape, out_shape, field, image_hw):
    """(field after ``layer``, note) for one layer that is not a container."""
    if field.global_note is not None:
        return field, field.global_note
    if isinstance(layer, Conv2d):
        top, _, left, _ = resolve_padding(layer.padding, layer.kernel_size, layer.stride, layer.dilation, layer)
        return field.window(layer.kernel_size, layer.stride, layer.dilation, (top, left)), ""
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        kernel = checks.pair(layer.kernel_size, "kernel_size", layer)
        stride = kernel if layer.stride is None else checks.pair(layer.stride, "stride", layer)
        padding = checks.pair(layer.padding, "padding", layer, minimum=0)
        dilation = checks.pair(getattr(layer, "dilation", 1), "dilation", layer)
        return field.window(kernel, stride, dilation, padding), ""
    if isinstance(layer, AdaptiveAvgPool2d):
        return _adaptive(field, in_shape[2:], out_shape[2:], image_hw)
    if isinstance(layer, _GLOBAL):
        return _global(field, in_shape, image_hw)
    if isinstance(layer, _POINTWISE):
        return field, ""
    if len(in_shape) == 4 and len(out_shape) == 4 and tuple(in_shape[2:]) == tuple(out_shape[2:]):
        return field, "assumed pointwise"
    raise ValueError(
        f"receptive_field: cannot follow {layer!r}: it maps {tuple(in_shape)} to {tuple(out_shape)}"
        " and is not a layer whose geometry is known (Conv2d, pooling, Flatten, Linear, pointwise)"
    )


def _adaptive(field, in_hw, out_hw, image_hw):
    """AdaptiveAvgPool2d: a global window for output 1, else the equivalent (or largest) window."""
    if tuple(out_hw) == (1, 1):
        return _cover(field.window(in_hw, (1, 1), (1, 1), (0, 0)), image_hw, "global pooling")
    kernel, stride, note = [], [], ""
    for n_in, n_out in zip(in_hw, out_hw):
        if n_in % n_out == 0:
            kernel.append(n_in // n_out)
            stride.append(n_in // n_out)
        else:  # bins [floor(o*n_in/n_out), ceil((o+1)*n_in/n_out)) differ in size
            kernel.append(max(math.ceil((o + 1) * n_in / n_out) - (o * n_in) // n_out for o in range(n_out)))
            stride.append(n_in / n_out)
            note = "approximate: unequal windows"
    return field.window(kernel, stride, (1, 1), (0, 0)), note


def _global(field, in_shape, image_hw):
    """Flatten or Linear: every unit of the previous map feeds every output."""
    if len(in_shape) == 4:
        field = field.window(in_shape[2:], (1, 1), (1, 1), (0, 0))
    return _cover(field, image_hw, "")


def _cover(field, image_hw, what):
    """Mark ``field`` global (no jump) and say whether it spans the whole image."""
    whole = all(s - (r - 1) / 2 <= 0 and s + (r - 1) / 2 >= n - 1
                for r, s, n in zip(field.r, field.start, image_hw))
    note = "whole input" if whole else "all units of the previous map (not the whole input)"
    return _Field(field.r, None, field.start, global_note=note), f"{what}: {note}" if what else note
