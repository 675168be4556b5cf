"""Pictures of a network and its training. Each function returns a matplotlib Figure.

matplotlib is an optional dependency (``pip install 'convnp[plot]'``), imported inside the
functions so that ``import convnp`` never needs it. When no matplotlib backend has been
chosen (no ``MPLBACKEND``, no ``backend`` in a matplotlibrc, pyplot not yet imported), the
non-interactive Agg backend is selected, so the functions work on a machine without a
display; a backend you chose is left alone.

Every function takes ``path=None``: when given, the figure is also saved there (a PNG
unless the file name says otherwise), at the figure's own size and dpi. ``figsize``
(inches) overrides the size worked out from the content.

The model functions (``feature_maps``, ``saliency``, ``activation_histograms``,
``misclassified``) run the model in eval mode and restore each layer's mode afterwards;
``saliency`` also leaves the parameters' gradients as it found them. Images may be uint8
pixels (scaled to [0, 1], as the DataLoader does) or floats prepared as in training; they
are cast to the model's dtype.
"""
import os
import sys

import numpy as np

from .backend import array_module, to_numpy

__all__ = ["feature_maps", "filters", "training_curves", "confusion_matrix", "misclassified",
           "saliency", "saliency_map", "activation_histograms"]

_MAP_CMAP = "viridis"        # feature maps: perceptually uniform, readable in grey print
_SIGNED_CMAP = "RdBu_r"      # kernels: white at zero, red positive, blue negative


# -- matplotlib -------------------------------------------------------------------------
def _pyplot():
    """matplotlib.pyplot, choosing Agg first if no backend was chosen; a clear ImportError if absent."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("convnp.viz needs matplotlib: pip install 'convnp[plot]'") from e
    if "matplotlib.pyplot" not in sys.modules and not _backend_chosen(matplotlib):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _backend_chosen(matplotlib):
    """True if MPLBACKEND, a matplotlibrc or a call to matplotlib.use() named a backend."""
    if os.environ.get("MPLBACKEND"):
        return True
    get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)   # matplotlib >= 3.5
    if get is not None:
        return get() is not None
    from matplotlib import rcsetup

    return dict.__getitem__(matplotlib.rcParams, "backend") is not rcsetup._auto_backend_sentinel


def _finish(fig, path):
    """Save ``fig`` to ``path`` when given (at the figure's size and dpi); return it."""
    if path is not None:
        fig.savefig(os.fspath(path), dpi=fig.dpi)
    return fig


def _bare(ax):
    """An image cell: no ticks, no frame labels."""
    ax.set_xticks([])
    ax.set_yticks([])


def _grid_axes(fig, n, ncols, top_inches=0.5):
    """``n`` axes in rows of ``ncols``, below a band of ``top_inches`` left for the figure's title."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    height = fig.get_size_inches()[1]
    grid = fig.add_gridspec(nrows, ncols, left=0.03, right=0.97, bottom=0.03,
                            top=max(0.5, 1.0 - top_inches / height), hspace=0.45, wspace=0.15)
    return [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(n)]


def _show_image(ax, img, cmap="gray"):
    """Draw one image (C, H, W): grey for C = 1, colour for C = 3, else the first channel."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
    if img.shape[0] == 3:
        hwc = img.transpose(1, 2, 0)
        ax.imshow(hwc if hwc.dtype == np.uint8 else np.clip(hwc, 0, 1), interpolation="nearest")
    else:
        ax.imshow(img[0], cmap=cmap, interpolation="nearest")
    _bare(ax)


# -- running a model ------------------------------------------------------------------------
class _EvalMode:
    """Context: every layer of ``model`` in eval mode inside, its own mode restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        for m, training in self.modes:
            m.training = training


def _check_model(model, who):
    from .nn.module import Layer

    if not isinstance(model, Layer):
        raise TypeError(f"{who}: expected a convnp model (a Layer), got {type(model).__name__}")


def _model_dtype(model):
    params = model.parameters()
    return params[0].data.dtype if params else np.dtype(np.float32)


def _prepare(model, x, who, one=False):
    """``x`` as a float batch (N, C, H, W) in the model's dtype; (C, H, W) and (H, W) get the missing axes.

    uint8 pixels are scaled to [0, 1]. With ``one``, exactly one image is required.
    """
    xp = array_module(x)
    x = xp.asarray(x)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{who}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if one and x.shape[0] != 1:
        raise ValueError(f"{who}: expected one image (C, H, W) or (1, C, H, W), got a batch of {x.shape[0]}")
    dtype = _model_dtype(model)
    if x.dtype == np.uint8:
        return x.astype(dtype) / dtype.type(255)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{who}: expected image pixels as numbers, got dtype {x.dtype}")
    return x.astype(dtype, copy=False)


def _named_layers(model):
    """The top-level steps of ``model``: (name, layer) for each layer of a Sequential, else the model."""
    from .nn.container import Sequential

    if isinstance(model, Sequential):
        return [(str(i), layer) for i, layer in enumerate(model.layers)]
    return [("0", model)]


def _run_layers(model, x, upto=None):
    """Forward ``x`` layer by layer in eval mode: [(name, layer, output)] up to index ``upto``."""
    steps = _named_layers(model)
    if upto is not None:
        steps = steps[:upto + 1]
    outputs = []
    with _EvalMode(model):
        for name, layer in steps:
            x = layer(x)
            outputs.append((name, layer, x))
    return outputs


# -- feature maps ------------------------------------------------------------------------------
def feature_maps(model, x, layer=0, path=None, max_channels=64, ncols=8, figsize=None, cmap=_MAP_CMAP):
    """A grid of one layer's output channels for one image, or of every layer's in turn.

    Args:
      model: a Sequential (another Layer counts as a single layer).
      x: one image (C, H, W), (1, C, H, W) or (H, W); uint8 or float.
      layer: an index into the Sequential (negative counts from the end), or "all" for one
        block of cells per layer, top to bottom, in the order the forward pass runs them.
      max_channels: at most this many channels drawn per layer (the title says how many exist).
      ncols: cells per row. Each map is scaled to its own range (colour shows where a
        channel responds, not how strongly compared with the others).
    A layer whose output is a vector (after Flatten or Linear) is drawn as one strip.
    Returns: the Figure.
    """
    who = "feature_maps"
    _check_model(model, who)
    n_layers = len(_named_layers(model))
    if isinstance(layer, str):
        if layer != "all":
            raise ValueError(f"{who}: layer must be an index or 'all', got {layer!r}")
        chosen = None
    elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -n_layers <= layer < n_layers:
            raise ValueError(f"{who}: layer index {layer} is out of range for a model of {n_layers} layers")
        chosen = int(layer) % n_layers
    else:
        raise TypeError(f"{who}: layer must be an int or 'all', got {layer!r}")
    outputs = _run_layers(model, _prepare(model, x, who, one=True), upto=chosen)
    if chosen is not None:
        outputs = outputs[chosen:]
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
    from .nn.conv import Conv2d
    from .nn.module import Layer

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


# -- training ------------------------------------------------------------------------------
def training_curves(history, path=None, figsize=(10, 4)):
    """Loss and accuracy per epoch, training and validation, side by side.

    ``history``: a convnp.train.History, or a dict of per-epoch lists with the keys epoch,
    loss, accuracy, val_loss, val_accuracy (validation entries may be None).
    """
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=figsize)
    epochs = history["epoch"]
    for ax, key, title in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, history[key], "o-", label="train")
        val = history["val_" + key]
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _finish(fig, path)


def confusion_matrix(cm, class_names=None, path=None, normalize=False, figsize=None, cmap="Blues"):
    """A heatmap of a confusion matrix (rows: true class, columns: predicted), each cell annotated.

    Args:
      cm: (K, K) counts, as convnp.metrics.confusion_matrix returns.
      class_names: K labels for the axes (default "0" ... "K-1").
      normalize: show each row as fractions of that true class (recall on the diagonal).
    Cells are annotated with their value when K <= 30.
    Returns: the Figure.
    """
    who = "confusion_matrix"
    cm = np.asarray(to_numpy(cm))
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{who}: expected a square (K, K) matrix, got shape {cm.shape}")
    if cm.dtype.kind not in "iuf":
        raise TypeError(f"{who}: expected a numeric matrix, got dtype {cm.dtype}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"{who}: expected {k} class names for a {k} x {k} matrix, got {len(names)}")
    values = cm.astype(np.float64)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    plt = _pyplot()
    side = min(max(3.0, 0.5 * k + 1.5), 14.0)
    fig, ax = plt.subplots(figsize=figsize or (side + 1.0, side))
    im = ax.imshow(values, cmap=cmap, vmin=0, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 2 else 0, fontsize="small")
    ax.set_yticks(range(k), names, fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    if k <= 30:
        _annotate(ax, values, cm, normalize)
    fig.tight_layout()
    return _finish(fig, path)


def _annotate(ax, values, cm, normalize):
    top = values.max() if values.size else 0
    for i, j in np.ndindex(values.shape):   # K*K text labels, K <= 30: fine
        text = f"{values[i, j]:.2f}" if normalize else (f"{cm[i, j]:g}")
        color = "white" if top > 0 and values[i, j] > top / 2 else "black"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize="x-small")


# -- predictions --------------------------------------------------------------------------------
def misclassified(model, dataset, n=16, path=None, ncols=8, batch_size=256, figsize=None):
    """A grid of the first ``n`` images of ``dataset`` the model gets wrong, with true and predicted labels.

    Args: model, dataset (a convnp.data.Dataset: .images (N, C, H, W), .labels, .classes),
    n (positive int), ncols, batch_size (for the predictions).
    Returns: the Figure (with a note in place of the grid when every image is right).
    """
    who = "misclassified"
    _check_model(model, who)
    for attr in ("images", "labels", "classes"):
        if not hasattr(dataset, attr):
            raise TypeError(f"{who}: expected a Dataset with .images, .labels and .classes, got {type(dataset).__name__}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{who}: n must be a positive int, got {n!r}")
    images, labels = dataset.images, to_numpy(dataset.labels)
    pred = _predict_classes(model, images, batch_size, who)
    wrong = np.flatnonzero(pred != labels)
    shown = wrong[:n]
    plt = _pyplot()
    cols = max(1, min(ncols, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    fig = plt.figure(figsize=figsize or (1.4 * cols + 0.2, 1.6 * rows + 0.5))
    fig.suptitle(f"{len(wrong)} of {len(labels)} misclassified" +
                 (f" (first {len(shown)} shown)" if len(shown) < len(wrong) else ""), fontsize="small")
    if not len(shown):
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return _finish(fig, path)
    classes = list(dataset.classes)
    for i, ax in zip(shown, _grid_axes(fig, len(shown), cols)):
        _show_image(ax, to_numpy(images[i]))
        ax.set_title(f"true {classes[labels[i]]}\npred {classes[pred[i]]}", fontsize="x-small")
    return _finish(fig, path)


def _predict_classes(model, images, batch_size, who):
    """argmax of the model's outputs over ``images``, in batches, in eval mode."""
    out = []
    with _EvalMode(model):
        for i in range(0, len(images), batch_size):
            scores = model(_prepare(model, images[i:i + batch_size], who))
            out.append(to_numpy(scores).reshape(len(scores), -1).argmax(axis=1))
    return np.concatenate(out) if out else np.zeros((0,), dtype=np.int64)


def saliency_map(model, x, target=None):
    """|d score[target] / d x|, the largest over channels: where a change of the input moves the score most.

    Computed with the model's own backward pass in eval mode: forward one image, then
    backward an upstream gradient that is 1 at ``target`` and 0 elsewhere, which gives the
    gradient of that class score with respect to the input (Simonyan et al., 2014).
    Parameter gradients are restored afterwards, so this is safe in the middle of training.

    Args: model (outputs (1, K) scores), x (one image (C, H, W) or (1, C, H, W)),
    target (a class index; None: the predicted class).
    Shape: x (C, H, W) -> (H, W), in the model's dtype.
    Returns: the map as a NumPy array.
    """
    sal, _, _ = _saliency(model, x, target)
    return sal


def _saliency(model, x, target):
    """(saliency map (H, W), the image batch used, (target, its score))."""
    who = "saliency"
    _check_model(model, who)
    xb = _prepare(model, x, who, one=True)
    params = model.parameters()
    saved = [p.grad.copy() for p in params]
    try:
        with _EvalMode(model):
            scores = model(xb)
            if scores.ndim != 2:
                raise ValueError(f"{who}: expected the model to output scores (1, K), got shape {tuple(scores.shape)}")
            k = scores.shape[1]
            if target is None:
                target = int(to_numpy(scores)[0].argmax())
            elif not isinstance(target, (int, np.integer)) or isinstance(target, bool):
                raise TypeError(f"{who}: target must be a class index (int), got {target!r}")
            elif not 0 <= target < k:
                raise ValueError(f"{who}: target must be in [0, {k - 1}] for {k} classes, got {target}")
            dy = array_module(scores).zeros_like(scores)
            dy[0, target] = 1
            dx = model.backward(dy)
    finally:
        for p, g in zip(params, saved):
            p.grad[...] = g
    sal = np.abs(to_numpy(dx)[0]).max(axis=0)
    return sal, to_numpy(xb), (int(target), float(to_numpy(scores)[0, target]))


def saliency(model, x, target=None, path=None, figsize=(9, 3.2), cmap="hot"):
    """The image, its saliency map for class ``target`` (see saliency_map), and the two overlaid.

    Returns: the Figure.
    """
    sal, xb, (target, score) = _saliency(model, x, target)
    plt = _pyplot()
    fig, (ax_img, ax_sal, ax_both) = plt.subplots(1, 3, figsize=figsize)
    _show_image(ax_img, xb[0])
    ax_img.set_title("input", fontsize="small")
    im = ax_sal.imshow(sal, cmap=cmap, interpolation="nearest")
    _bare(ax_sal)
    ax_sal.set_title("saliency |d score / d x|", fontsize="small")
    fig.colorbar(im, ax=ax_sal, shrink=0.8)
    grey = xb[0].mean(axis=0)
    ax_both.imshow(grey, cmap="gray", interpolation="nearest")
    ax_both.imshow(sal, cmap=cmap, alpha=0.5, interpolation="nearest")
    _bare(ax_both)
    ax_both.set_title("overlay", fontsize="small")
    fig.suptitle(f"class {target} (score {score:.3g})", fontsize="small")
    return _finish(fig, path)


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
