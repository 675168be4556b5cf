"""Saliency: the gradient of a class score with respect to the input image."""
import numpy as np

from ..backend import array_module, to_numpy
from ._figure import _bare, _finish, _pyplot, _show_image
from ..nn.module import evaluating
from ._model import _check_model, _prepare


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
        with evaluating(model):
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
