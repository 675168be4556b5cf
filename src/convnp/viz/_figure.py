"""matplotlib for convnp.viz: the pyplot import with its backend choice, and the axes helpers."""
import os
import sys

import numpy as np


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
