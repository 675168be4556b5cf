"""Keras-style summary table of a model: the calls its forward makes, output shapes, parameter counts.

The rows are the calls of the model's own forward, recorded on one sample of zeros in eval mode
(for a Sequential: its layers in order). A layer called more than once (shared weights) has its
parameters counted on its first row; later rows say "shared".
"""
import numpy as np

from . import recording
from .module import evaluating


def summary_table(model, input_shape):
    """The table as text, for one sample of ``input_shape`` (batch dimension shown as None)."""
    rows = [("Layer (type)", "Output Shape", "Param #")]
    rows += _rows(model, tuple(input_shape))
    params = model.parameters()
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
    line = "=" * sum(widths)
    out = [line, _row(rows[0], widths), line]
    out += [_row(r, widths) for r in rows[1:]]
    out += [line, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}", line]
    return "\n".join(out)


def _rows(model, input_shape):
    """(name (type), output shape, params) for each call of the model's forward on one sample."""
    if not model._records_calls:
        shape = model.output_shape((None, *input_shape))
        return [(f"0 ({type(model).__name__})", str(tuple(shape)), f"{model.num_parameters():,}")]
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    with evaluating(model):
        _, tape = recording.record(model, (np.zeros((1, *input_shape), dtype=dtype),))
    names = {id(m): name for name, m in model.named_modules() if name}
    seen, rows = set(), []
    for call in tape.calls:
        layer = call.layer
        name = names.get(id(layer), type(layer).__name__.lower())
        shapes = [(None, *s[1:]) for s in call.out_shapes if s is not None]
        shape = str(shapes[0]) if len(shapes) == 1 else ", ".join(str(s) for s in shapes)
        params = "shared" if id(layer) in seen else f"{layer.num_parameters():,}"
        seen.add(id(layer))
        rows.append((f"{name} ({type(layer).__name__})", shape, params))
    return rows


def _row(cells, widths):
    return "".join(c.ljust(w) for c, w in zip(cells[:2], widths[:2])) + cells[2].rjust(widths[2])
