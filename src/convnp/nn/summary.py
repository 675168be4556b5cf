"""Keras-style summary table of a model: layer, output shape, parameter count, totals."""


def summary_table(model, input_shape):
    """The table as text, for one sample of ``input_shape`` (batch dimension shown as None)."""
    rows = [("Layer (type)", "Output Shape", "Param #")]
    shape = (None, *tuple(input_shape))
    layers = model.children() if model.children() else [("0", model)]
    for name, layer in layers:
        shape = layer.output_shape(shape)
        rows.append((f"{name} ({type(layer).__name__})", str(tuple(shape)), f"{layer.num_parameters():,}"))
    total = model.num_parameters()
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
    line = "=" * sum(widths)
    out = [line, _row(rows[0], widths), line]
    out += [_row(r, widths) for r in rows[1:]]
    out += [line, f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0", line]
    return "\n".join(out)


def _row(cells, widths):
    return "".join(c.ljust(w) for c, w in zip(cells[:2], widths[:2])) + cells[2].rjust(widths[2])
