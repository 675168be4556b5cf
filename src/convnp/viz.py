"""Pictures of a network and its training. Each function returns a matplotlib Figure.

matplotlib is an optional dependency (``pip install convnp[plot]``), imported inside the
functions so that ``import convnp`` never needs it.
"""
import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("convnp.viz needs matplotlib: pip install 'convnp[plot]'") from e
    return plt


def training_curves(history):
    """Loss and accuracy per epoch, training and validation, side by side."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
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
    return fig
