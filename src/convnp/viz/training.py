"""How training went: loss and accuracy curves, the confusion matrix, the misclassified images."""
import numpy as np

from ..backend import to_numpy
from ._figure import _finish, _grid_axes, _pyplot, _show_image
from ..nn.module import evaluating
from ._model import _check_model, _prepare


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
    with evaluating(model):
        for i in range(0, len(images), batch_size):
            scores = model(_prepare(model, images[i:i + batch_size], who))
            out.append(to_numpy(scores).reshape(len(scores), -1).argmax(axis=1))
    return np.concatenate(out) if out else np.zeros((0,), dtype=np.int64)
