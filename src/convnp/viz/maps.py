"""What a network computes inside: feature maps, convolution kernels, activation histograms."""
import numpy as np

from ..backend import to_numpy
from ._figure import _bare, _finish, _grid_axes, _pyplot
from ._model import _check_model, _prepare, _run_layers

_MAP_CMAP = "viridis"        # feature maps: perceptually uniform, readable in grey print
_SIGNED_CMAP = "RdBu_r"      # kernels: white at zero, red positive, blue negative


# -- feature maps ------------------------------------------------------------------------------
def feature_maps(model, x, layer=0, path=None, max_channels=64, ncols=8, figsize=None, cmap=_MAP_CMAP):
    """A grid of one layer's output channels for one image, or of every layer's in turn.

    Args:
      model: a Sequential or any nn.Model (its recorded calls, in order; another Layer counts
        as a single layer).
      x: one image (C, H, W), (1, C, H, W) or (H, W); uint8 or float.
      layer: an index into the calls (for a Sequential: its layers; negative counts from the
        end), or "all" for one block of cells per call, top to bottom, in the order the
        forward pass runs them.
      max_channels: at most this many channels drawn per layer (the title says how many exist).
      ncols: cells per row. Each map is scaled to its own range (colour shows where a
        channel responds, not how strongly compared with the others).
    A layer whose output is a vector (after Flatten or Linear) is drawn as one strip.
    Returns: the Figure.
    """
    who = "feature_maps"
    _check_model(model, who)
    if isinstance(layer, str) and layer != "all":
        raise ValueError(f"{who}: layer must be an index or 'all', got {layer!r}")
    if not isinstance(layer, (str, int, np.integer)) or isinstance(layer, bool):
        raise TypeError(f"{who}: layer must be an int or 'all', got {layer!r}")
    outputs = _run_layers(model, _prepare(model, x, who, one=True))
    n_layers = len(outputs)
    if not isinstance(layer, str):
        if not -n_layers <= layer < n_layers:
            raise ValueError(f"{who}: layer index {layer} is out of range for a model of {n_layers} layers")
        outputs = outputs[int(layer) % n_layers:][:1]
    blocks = [(name, lyr, to_numpy(out)[0]) for name, lyr, out in outputs]
    return _finish(_maps_figure(blocks, max_channels, ncols, figsize, cmap), path)


def _maps_figure(blocks, max_channels, ncols, figsize, cmap):
    """One band per (name, layer, output) block, top to bottom: a title, then a grid of its channels.

    The bands are laid out by hand (a GridSpec each, heights in proportion to their rows):
    matplotlib's automatic layouts take seconds on a few hundred small axes.
    """
    plt = _pyplot()
    cells = [min(out.shape[0], max_channels) if out.ndim == 3 else 1 for _, _, out in blocks]
    cols = max(1, min(ncols, max(cells)))
    rows = [-(-c // cols) for c in cells]
    title_h, row_h, strip_h, margin = 0.6, 1.3, 0.5, 0.05        # inches at the default size
    heights = [title_h + (row_h * r if out.ndim == 3 else strip_h) for r, (_, _, out) in zip(rows, blocks)]
    if figsize is None:
        figsize = (1.2 * cols + 0.3, sum(heights) + 2 * margin)
    fig = plt.figure(figsize=figsize)
    scale = 1.0 / (sum(heights) + 2 * margin)      # inches of the default layout -> figure fraction
    top = 1.0 - margin * scale
    for (name, lyr, out), n, r, h in zip(blocks, cells, rows, heights):
        bottom = top - h * scale
        if out.ndim == 3:
            title = f"{name}: {lyr!r}  {out.shape[0]} x {out.shape[1]} x {out.shape[2]}"
            if n < out.shape[0]:
                title += f"  (first {n} channels)"
        else:
            title = f"{name}: {lyr!r}  ({out.size} values)"
        fig.text(0.5, top - 0.15 * scale, title, ha="center", va="top", fontsize="small")
        grid = fig.add_gridspec(r, cols, left=0.02, right=0.98, top=top - title_h * scale, bottom=bottom,
                                hspace=0.3, wspace=0.1)
        if out.ndim == 3:
            for c in range(n):
                ax = fig.add_subplot(grid[c // cols, c % cols])
                ax.imshow(out[c], cmap=cmap, interpolation="nearest")
                ax.set_title(f"ch {c}", fontsize="x-small", pad=2)
                _bare(ax)
        else:   # a vector: one strip across the band
            ax = fig.add_subplot(grid[:, :])
            ax.imshow(out.reshape(1, -1), cmap=cmap, aspect="auto", interpolation="nearest")
            _bare(ax)
        top = bottom
    return fig


# -- filters --------------------------------------------------------------------------------
def filters(layer, path=None, max_filters=32, max_channels=16, figsize=None):
    """A conv layer's kernels: one cell per (output, input) channel pair, or one RGB cell per filter.

    Args:
      layer: a Conv2d, or a model (its first Conv2d is drawn).
      max_filters, max_channels: at most this many output filters (rows) and input channels
        (columns) are drawn; the title says when some are left out.
    With 3 input channels (per group) each filter is one colour image, scaled to [0, 1] by
    its own minimum and maximum. Otherwise row f, column c shows weight[f, c] on a
    blue-white-red scale shared by the whole layer (white is zero), with a colour bar.
    Returns: the Figure.
    """
    conv = _first_conv(layer)
    w = to_numpy(conv.weight.data).astype(np.float64)
    n_out, n_in = w.shape[:2]
    shown = w[:max_filters, :max_channels]
    title = repr(conv)
    if n_out > shown.shape[0] or n_in > shown.shape[1]:
        title += f"  (showing {shown.shape[0]} of {n_out} filters, {shown.shape[1]} of {n_in} inputs)"
    fig = _rgb_filters(shown, title, figsize) if n_in == 3 else _channel_filters(shown, title, figsize)
    return _finish(fig, path)


def _first_conv(layer):
    from ..nn.conv import Conv2d
    from ..nn.module import Layer

    if isinstance(layer, Conv2d):
        return layer
    if isinstance(layer, Layer):
        for m in layer.modules():
            if isinstance(m, Conv2d):
                return m
        raise ValueError(f"filters: {type(layer).__name__} contains no Conv2d layer")
    raise TypeError(f"filters: expected a Conv2d layer or a model, got {type(layer).__name__}")


def _rgb_filters(w, title, figsize):
    plt = _pyplot()
    n = w.shape[0]
    cols = min(8, n)
    rows = -(-n // cols)
    fig = plt.figure(figsize=figsize or (1.1 * cols + 0.3, 1.1 * rows + 0.5))
    for f, ax in enumerate(_grid_axes(fig, n, cols)):
        k = w[f].transpose(1, 2, 0)
        span = k.max() - k.min()
        ax.imshow((k - k.min()) / span if span > 0 else np.full_like(k, 0.5), interpolation="nearest")
        ax.set_title(f"filter {f}", fontsize="x-small")
        _bare(ax)
    fig.suptitle(title, fontsize="small")
    return fig


def _channel_filters(w, title, figsize):
    """All kernels tiled into one image (one axes: fast even for hundreds of kernels).

    Row f, column c holds weight[f, c]; a one-pixel gap (drawn in grey) separates them.
    """
    plt = _pyplot()
    n_out, n_in, kh, kw = w.shape
    mosaic = np.full((n_out * (kh + 1) - 1, n_in * (kw + 1) - 1), np.nan)
    for f in range(n_out):          # n_out * n_in small copies: a drawing, not a hot path
        for c in range(n_in):
            mosaic[f * (kh + 1):f * (kh + 1) + kh, c * (kw + 1):c * (kw + 1) + kw] = w[f, c]
    vmax = float(np.abs(w).max()) or 1.0
    cell = min(0.6, 6.0 / max(n_out, n_in)) * max(1.0, max(kh, kw) / 5)
    fig, ax = plt.subplots(figsize=figsize or (cell * n_in + 1.8, cell * n_out + 1.0))
    import matplotlib

    cmap = matplotlib.colormaps[_SIGNED_CMAP].with_extremes(bad="0.6")   # grey gaps between kernels
    im = ax.imshow(mosaic, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_xticks([c * (kw + 1) + (kw - 1) / 2 for c in range(n_in)], [f"in {c}" for c in range(n_in)],
                  fontsize="x-small", rotation=90 if n_in > 8 else 0)
    ax.set_yticks([f * (kh + 1) + (kh - 1) / 2 for f in range(n_out)], [f"out {f}" for f in range(n_out)],
                  fontsize="x-small")
    ax.tick_params(length=0)        # the labels name the kernels; no tick marks on the pixels
    ax.xaxis.tick_top()
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize="small")
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
    fig.tight_layout()
    return fig


# -- activations -------------------------------------------------------------------------------
def activation_histograms(model, x, path=None, bins=50, ncols=4, figsize=None):
    """One histogram per layer of the values that layer outputs, for the images ``x``.

    Args: model (a Sequential, or any Layer as one step), x (a batch (N, C, H, W) or one
    image), bins, ncols. Each panel names the layer and gives the mean, the standard
    deviation and the fraction of exact zeros (dead ReLU units show up there).
    Returns: the Figure.
    """
    who = "activation_histograms"
    _check_model(model, who)
    outputs = _run_layers(model, _prepare(model, x, who))
    plt = _pyplot()
    cols = max(1, min(ncols, len(outputs)))
    rows = -(-len(outputs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=figsize or (3.0 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel()[len(outputs):]:
        ax.set_visible(False)
    for (name, layer, out), ax in zip(outputs, axes.ravel()):
        values = to_numpy(out).astype(np.float64).ravel()
        finite = values[np.isfinite(values)]
        ax.hist(finite, bins=bins, color="tab:blue")
        ax.set_title(f"{name}: {type(layer).__name__}", fontsize="small")
        stats = (f"mean {finite.mean():.3g}\nstd {finite.std():.3g}\nzeros {np.mean(values == 0):.0%}"
                 if finite.size else "no finite values")
        ax.text(0.97, 0.95, stats, transform=ax.transAxes, ha="right", va="top", fontsize="x-small")
        ax.tick_params(labelsize="x-small")
        ax.set_yticks([])
    fig.tight_layout()
    return _finish(fig, path)
